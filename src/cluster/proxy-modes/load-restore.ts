/** `iptables-restore --noflush` into a node's netfilter, rebuilding only the chains it touched. */
import { applyRestore } from "../../netfilter/apply-restore.js";
import type { Ruleset, TableName } from "../../netfilter/model.js";
import { type RestoreDocument, parseRestore } from "../../netfilter/restore-parse.js";
import type { NodeRuntime } from "../build.js";

export function loadRestore(node: NodeRuntime, text: string, label: string): void {
  const doc = parseRestore(text, label);
  const before = chainsOfWholeTables(doc, node.netfilter.ruleset);
  applyRestore(node.netfilter.ruleset, doc, { noflush: true, file: label });
  node.netfilter.rulesChanged(changedChains(doc, before, node.netfilter.ruleset));
}

/**
 * For tables where the document flushes, zeroes or deletes every chain at once (`-F`, `-Z`
 * or `-X` without a name): their chain names before the restore.
 */
function chainsOfWholeTables(doc: RestoreDocument, rs: Ruleset): Map<TableName, string[]> {
  const out = new Map<TableName, string[]>();
  for (const t of doc.tables) {
    if (!t.commands.some((c) => "chain" in c && c.chain === null)) continue;
    out.set(t.name, [...(rs.tables.get(t.name)?.chains.keys() ?? [])]);
  }
  return out;
}

/** The chains a restore document touches, per table (for an incremental rebuild). */
function changedChains(doc: RestoreDocument, whole: Map<TableName, string[]>, after: Ruleset): Map<TableName, Set<string>> {
  const out = new Map<TableName, Set<string>>();
  for (const t of doc.tables) {
    const set = out.get(t.name) ?? new Set<string>();
    for (const d of t.chainDecls) set.add(d.name);
    for (const c of t.commands) if ("chain" in c && c.chain) set.add(c.chain);
    const all = whole.get(t.name);
    if (all !== undefined) {
      for (const name of all) set.add(name);
      for (const name of after.tables.get(t.name)?.chains.keys() ?? []) set.add(name);
    }
    out.set(t.name, set);
  }
  return out;
}
