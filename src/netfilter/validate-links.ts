/**
 * What the kernel checks when iptables-nft loads a table, over the chains a built-in chain
 * can reach:
 *
 * - nesting: a jump may not take a chain more than 15 levels below its built-in chain
 *   (nf_tables' jump stack, NFT_JUMP_STACK_SIZE; measured with iptables 1.8.9 here: the
 *   16th level is refused with "Too many links"). A loop a built-in chain reaches is
 *   endlessly deep and refused the same way; loops among unreachable chains are accepted.
 * - targets in hooks they do not support (xt_target .table/.hooks): DNAT only in nat
 *   PREROUTING/OUTPUT, SNAT in nat POSTROUTING/INPUT, MASQUERADE in nat POSTROUTING,
 *   REJECT in filter INPUT/FORWARD/OUTPUT, CT/NOTRACK in raw — also when the rule sits
 *   in a user chain that such a hook reaches ("Invalid argument").
 *
 * The kernel checks as each rule is appended, so the refused line is the one that completes
 * the offending path: the latest line along it, and of those paths the earliest. Everything
 * here is iterative and bounded (16 levels × jumps), so no file can exhaust the stack.
 */
import type { BuiltinChain, Chain, Rule, Table, TableName } from "./model.js";
import { BUILTIN_CHAINS } from "./model.js";

/** Levels of user chains below a built-in chain the kernel accepts. */
export const MAX_JUMP_DEPTH = 15;

export interface LinkProblem {
  kind: "depth" | "hook";
  line: number;
  /** The chain whose rule is refused. */
  chain: string;
  detail: string;
}

interface TargetRule {
  tables: readonly TableName[];
  hooks: readonly BuiltinChain[];
}

/** x_tables' `.table` and `.hooks` of the targets podwire models that have them. */
const TARGET_HOOKS: Partial<Record<string, TargetRule>> = {
  DNAT: { tables: ["nat"], hooks: ["PREROUTING", "OUTPUT"] },
  SNAT: { tables: ["nat"], hooks: ["POSTROUTING", "INPUT"] },
  MASQUERADE: { tables: ["nat"], hooks: ["POSTROUTING"] },
  REJECT: { tables: ["filter"], hooks: ["INPUT", "FORWARD", "OUTPUT"] },
  CT: { tables: ["raw"], hooks: ["PREROUTING", "OUTPUT"] },
  NOTRACK: { tables: ["raw"], hooks: ["PREROUTING", "OUTPUT"] },
};

const lineOf = (r: Rule): number => r.source?.line ?? 0;

/** What the checks read of one chain's rules. */
interface ChainSummary {
  /** The chains its rules jump or go to, in the order they are first named, and the earliest line naming each. */
  targets: string[];
  lines: number[];
  /** Its rules whose target only some tables and hooks allow, in order. */
  restricted: Rule[];
}

/**
 * Summaries by rules array. A chain's rules array is never changed once the chain is in a
 * ruleset (a restore copies the chain, apply-restore.ts `own`), so an untouched chain's
 * summary carries over from one restore to the next: a partial sync pays for its own chains.
 */
const summaries = new WeakMap<readonly Rule[], ChainSummary>();

function summaryOf(rules: readonly Rule[]): ChainSummary {
  let s = summaries.get(rules);
  if (s !== undefined) return s;
  s = { targets: [], lines: [], restricted: [] };
  let at: Map<string, number> | null = null;
  for (const r of rules) {
    const t = r.target;
    if (t.kind === "jump" || t.kind === "goto") {
      const line = lineOf(r);
      // Most chains name a target once; a map only once a chain names several.
      let i = -1;
      if (at !== null) i = at.get(t.chain) ?? -1;
      else for (let k = 0; k < s.targets.length; k++) if (s.targets[k] === t.chain) i = k;
      if (i < 0) {
        if (at === null && s.targets.length >= 8) at = new Map(s.targets.map((name, k) => [name, k]));
        at?.set(t.chain, s.targets.length);
        s.targets.push(t.chain);
        s.lines.push(line);
      } else if (line < s.lines[i]!) s.lines[i] = line;
    } else if (TARGET_HOOKS[t.kind] !== undefined) s.restricted.push(r);
  }
  summaries.set(rules, s);
  return s;
}

/**
 * For one built-in chain: for every chain it reaches, the smallest "latest line" over the
 * paths to it, level by level (a chain at level k is k jumps below). Returns the per-chain
 * best over all levels and the first level past MAX_JUMP_DEPTH that is reached, if any.
 */
function reach(table: Table, from: BuiltinChain): { best: Map<string, number>; tooDeep: { chain: string; line: number; ruleChain: string } | null } {
  const best = new Map<string, number>([[from, 0]]);
  // Per chain at this level: the smallest "latest line" of a path to it, and the chain of
  // the rule with that latest line (the rule the kernel would refuse).
  let level = new Map<string, { line: number; ruleChain: string }>([[from, { line: 0, ruleChain: from }]]);
  let tooDeep: { chain: string; line: number; ruleChain: string } | null = null;
  for (let depth = 1; depth <= MAX_JUMP_DEPTH + 1 && level.size > 0; depth++) {
    const next = new Map<string, { line: number; ruleChain: string }>();
    for (const [name, soFar] of level) {
      const chain = table.chains.get(name);
      if (chain === undefined) continue;
      // Per target only its earliest line counts: a later jump to it can only make a path's latest line later.
      const s = summaryOf(chain.rules);
      for (let i = 0; i < s.targets.length; i++) {
        const here = s.lines[i]!;
        const step = here >= soFar.line ? { line: here, ruleChain: name } : soFar;
        const known = next.get(s.targets[i]!);
        if (known === undefined || step.line < known.line) next.set(s.targets[i]!, step);
      }
    }
    if (depth > MAX_JUMP_DEPTH) {
      for (const [chain, at] of next) if (tooDeep === null || at.line < tooDeep.line) tooDeep = { chain, line: at.line, ruleChain: at.ruleChain };
      break;
    }
    for (const [chain, at] of next) if (!best.has(chain) || at.line < best.get(chain)!) best.set(chain, at.line);
    level = next;
  }
  return { best, tooDeep };
}

/** The first problem the kernel would refuse the table for, or null. */
export function checkLinks(table: Table): LinkProblem | null {
  let first: LinkProblem | null = null;
  const consider = (p: LinkProblem): void => {
    if (first === null || p.line < first.line) first = p;
  };
  // The table is checked as each rule is made (xt_check_target), reachable or not.
  for (const [name, chain] of table.chains) {
    for (const r of summaryOf(chain.rules).restricted) {
      const rule = TARGET_HOOKS[r.target.kind];
      if (rule !== undefined && !rule.tables.includes(table.name)) {
        consider({ kind: "hook", line: lineOf(r), chain: name, detail: `${r.target.kind} in the ${table.name} table: it works only in the ${rule.tables.join("/")} table; the kernel refuses it (Invalid argument)` });
      }
    }
  }
  for (const hook of BUILTIN_CHAINS[table.name]) {
    const { best, tooDeep } = reach(table, hook);
    if (tooDeep !== null) {
      consider({
        kind: "depth",
        line: tooDeep.line,
        chain: tooDeep.ruleChain,
        detail: `this jump takes chains more than ${MAX_JUMP_DEPTH} levels below ${hook} (down to "${tooDeep.chain}"), or closes a loop ${hook} reaches; the kernel refuses it (Too many links)`,
      });
    }
    for (const [name, pathLine] of best) {
      const chain: Chain | undefined = table.chains.get(name);
      if (chain === undefined) continue;
      for (const r of summaryOf(chain.rules).restricted) {
        const rule = TARGET_HOOKS[r.target.kind];
        if (rule === undefined || !rule.tables.includes(table.name) || rule.hooks.includes(hook)) continue;
        const where = name === hook ? `${hook}` : `chain "${name}", which ${hook} reaches`;
        consider({
          kind: "hook",
          line: Math.max(pathLine, lineOf(r)),
          chain: name,
          detail: `${r.target.kind} in ${where}: ${r.target.kind} works only from ${rule.hooks.join(", ")}; the kernel refuses it (Invalid argument)`,
        });
      }
    }
  }
  return first;
}
