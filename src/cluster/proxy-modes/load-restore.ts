/** `iptables-restore --noflush` into a node's netfilter, relinking only the chains it touched. */
import { applyRestore } from "../../netfilter/apply-restore.js";
import type { TableName } from "../../netfilter/model.js";
import { type RestoreDocument, parseRestore } from "../../netfilter/restore-parse.js";
import type { NodeRuntime } from "../build.js";

export function loadRestore(node: NodeRuntime, text: string, label: string): void {
  const doc = parseRestore(text, label);
  applyRestore(node.netfilter.ruleset, doc, { noflush: true, file: label });
  node.netfilter.rulesChanged(changedChains(doc));
}

/** The chains a restore document touches, per table (for an incremental relink). */
function changedChains(doc: RestoreDocument): Map<TableName, Set<string>> {
  const out = new Map<TableName, Set<string>>();
  for (const t of doc.tables) {
    const set = out.get(t.name) ?? new Set<string>();
    for (const d of t.chainDecls) set.add(d.name);
    for (const c of t.commands) if ("chain" in c && c.chain) set.add(c.chain);
    out.set(t.name, set);
  }
  return out;
}
