/**
 * A table ready for the reference engine: every jump and goto resolved to its chain object,
 * as the kernel's translate_table resolves them to offsets in one flat blob. Chains keep their identity
 * when their rules are replaced, so a change to one chain relinks only that chain.
 */
import { PodwireError } from "../base/index.js";
import type { BuiltinChain, Chain, Rule, Table, TableName } from "./model.js";
import { isBuiltinChain } from "./model.js";

export interface LinkedRule {
  rule: Rule;
  /** The chain a jump or goto enters; null for other targets. */
  target: LinkedChain | null;
}

export interface LinkedChain {
  name: string;
  table: TableName;
  builtin: boolean;
  /** The model chain (its policy and counters are read and updated in place). */
  chain: Chain;
  rules: LinkedRule[];
}

export interface LinkedTable {
  name: TableName;
  chains: Map<string, LinkedChain>;
}

export function linkTable(table: Table): LinkedTable {
  const linked: LinkedTable = { name: table.name, chains: new Map() };
  for (const c of table.chains.values()) {
    linked.chains.set(c.name, { name: c.name, table: table.name, builtin: isBuiltinChain(table.name, c.name), chain: c, rules: [] });
  }
  for (const lc of linked.chains.values()) relinkChain(linked, lc);
  return linked;
}

/** Re-resolves one chain's rules after its model changed. */
export function relinkChain(linked: LinkedTable, lc: LinkedChain): void {
  lc.rules = lc.chain.rules.map((rule) => ({ rule, target: resolveTarget(linked, lc, rule) }));
}

function resolveTarget(linked: LinkedTable, from: LinkedChain, rule: Rule): LinkedChain | null {
  const t = rule.target;
  if (t.kind !== "jump" && t.kind !== "goto") return null;
  const target = linked.chains.get(t.chain);
  if (target === undefined || target.builtin) {
    throw new PodwireError(
      "E_RULES_NO_CHAIN",
      `${t.kind === "goto" ? "-g" : "-j"} ${t.chain} in chain ${from.name} of table ${linked.name}: no such user chain`,
      rule.source ? { line: rule.source.line } : undefined,
      `declare it with ":${t.chain} - [0:0]" in the *${linked.name} section`,
    );
  }
  return target;
}

export function builtinChain(linked: LinkedTable, hook: BuiltinChain): LinkedChain | undefined {
  const c = linked.chains.get(hook);
  return c?.builtin ? c : undefined;
}
