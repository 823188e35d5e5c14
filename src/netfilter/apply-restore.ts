/**
 * Applies a parsed restore document to a ruleset with iptables-restore semantics.
 *
 * Without `noflush`, each `*table` section starts from an empty table (built-in chains reset
 * to ACCEPT, user chains gone). With `noflush` (kube-proxy's `--noflush`), the table is kept;
 * a `:CHAIN` line flushes an existing user chain or creates a new one, and only sets the
 * policy of a built-in chain. Then the section's lines run in order: a chain must be declared
 * before a rule jumps to it, as iptables-restore requires.
 *
 * Everything is validated on copies first; the ruleset changes only if the whole document
 * applies cleanly (iptables-restore is atomic per table; podwire is atomic per document).
 */
import { MAX_JUMP_DEPTH, checkLinks } from "./validate-links.js";
import { isBuiltinChain, newTable, TABLE_NAMES, type Chain, type Counters, type Rule, type Ruleset, type Table, type TableName } from "./model.js";
import { RULES_ERROR, rulesError, type RulesErrorCode } from "./extensions/errors.js";
import { isTargetName, supportedTargetNames } from "./extensions/registry.js";
import type { ChainDecl, RestoreCommand, RestoreDocument, RestoreTable } from "./restore-parse.js";
import { chainsInSaveOrder, printRuleSpec } from "./save-print.js";

export interface ApplyOptions {
  /** Keep existing tables and chains (`iptables-restore --noflush`). */
  noflush?: boolean;
  /** File name for error locations. */
  file?: string;
  /**
   * Take packet/byte counters from `[p:b]` and `-c` (`iptables-restore --counters`, which
   * kube-proxy passes). Default true; false zeroes them as plain iptables-restore does.
   */
  counters?: boolean;
}

/** XT_EXTENSION_MAXNAMELEN is 29 bytes including the NUL. */
const CHAIN_NAME_MAX = 28;

type Fail = (code: RulesErrorCode, detail: string, line: number, column: number | undefined, hint?: string) => never;

/** Applies `doc` to `rs` (in place) and returns `rs`; on error `rs` is unchanged. */
export function applyRestore(rs: Ruleset, doc: RestoreDocument, opts: ApplyOptions = {}): Ruleset {
  const file = opts.file ?? "<rules>";
  const fail: Fail = (code, detail, line, column, hint) => {
    throw rulesError(code, detail, { file, line, column }, hint);
  };
  const staged = new Map<TableName, Table>();
  for (const section of doc.tables) {
    const base = staged.get(section.name) ?? rs.tables.get(section.name);
    const table = opts.noflush && base ? cloneTable(base) : newTable(section.name);
    applySection(table, section, opts.counters ?? true, fail);
    const problem = checkLinks(table);
    if (problem !== null) {
      fail(problem.kind === "depth" ? RULES_ERROR.LOOP : RULES_ERROR.BAD_HOOK, `rule in chain ${problem.chain}: ${problem.detail}`, problem.line, undefined,
        problem.kind === "depth" ? `keep chains within ${MAX_JUMP_DEPTH} levels below a built-in chain, and no loops` : "move the rule to a chain that only allowed hooks reach");
    }
    staged.set(section.name, ordered(table));
  }
  if (staged.size === 0) return rs;
  const merged = new Map(rs.tables);
  for (const [name, t] of staged) merged.set(name, t);
  rs.tables.clear();
  for (const name of TABLE_NAMES) if (merged.has(name)) rs.tables.set(name, merged.get(name)!);
  return rs;
}

function cloneTable(t: Table): Table {
  const chains = new Map<string, Chain>();
  for (const [name, c] of t.chains) chains.set(name, { ...c, counters: { ...c.counters }, rules: [...c.rules] });
  return { name: t.name, chains };
}

/** The same table with its chains in iptables-save order. */
function ordered(t: Table): Table {
  return { name: t.name, chains: new Map(chainsInSaveOrder(t).map((c) => [c.name, c])) };
}

type Step = { decl: ChainDecl } | { cmd: RestoreCommand };

function stepLine(s: Step): number {
  return "decl" in s ? s.decl.line : s.cmd.line;
}

function applySection(table: Table, section: RestoreTable, keepCounters: boolean, fail: Fail): void {
  const steps: Step[] = [...section.chainDecls.map((decl) => ({ decl })), ...section.commands.map((cmd) => ({ cmd }))];
  steps.sort((a, b) => stepLine(a) - stepLine(b));
  const zero = (): Counters => ({ packets: 0, bytes: 0 });
  for (const step of steps) {
    if ("decl" in step) applyDecl(table, step.decl, keepCounters, fail);
    else applyCommand(table, step.cmd, keepCounters ? (c) => ({ ...c }) : zero, fail);
  }
}

function checkChainName(name: string, line: number, column: number, fail: Fail): void {
  if (name.length > CHAIN_NAME_MAX) fail(RULES_ERROR.CHAIN_EXISTS, `chain name "${name}" is longer than ${CHAIN_NAME_MAX} characters`, line, column);
  if (name.startsWith("-") || name.startsWith("!") || /\s/.test(name)) fail(RULES_ERROR.CHAIN_EXISTS, `invalid chain name "${name}"`, line, column);
  if (isTargetName(name)) fail(RULES_ERROR.CHAIN_EXISTS, `chain name "${name}" clashes with a target name`, line, column, "choose another name");
}

function applyDecl(table: Table, decl: ChainDecl, keepCounters: boolean, fail: Fail): void {
  const existing = table.chains.get(decl.name);
  if (isBuiltinChain(table.name, decl.name)) {
    const c = existing!;
    if (decl.policy !== null) c.policy = decl.policy;
    c.counters = keepCounters ? { ...decl.counters } : { packets: 0, bytes: 0 };
    return;
  }
  if (decl.policy !== null) {
    fail(RULES_ERROR.BAD_POLICY, `"${decl.name}" is not a built-in chain of the ${table.name} table, so it cannot have policy ${decl.policy}`, decl.line, decl.policyColumn, "user-defined chains take - as their policy");
  }
  checkChainName(decl.name, decl.line, 2, fail);
  if (existing) existing.rules = [];
  else table.chains.set(decl.name, { name: decl.name, policy: null, counters: { packets: 0, bytes: 0 }, rules: [], source: { line: decl.line } });
}

function chainOf(table: Table, name: string, line: number, column: number, fail: Fail): Chain {
  const c = table.chains.get(name);
  if (!c) return fail(RULES_ERROR.UNKNOWN_CHAIN, `chain "${name}" does not exist in the ${table.name} table`, line, column, `declare it first with :${name} - [0:0] or -N ${name}`);
  return c;
}

/** Every rule that jumps or goes to `name`. */
function references(table: Table, name: string): number {
  let n = 0;
  for (const c of table.chains.values()) {
    for (const r of c.rules) if ((r.target.kind === "jump" || r.target.kind === "goto") && r.target.chain === name) n++;
  }
  return n;
}

const NO_OUT_IFACE = new Set(["INPUT", "PREROUTING"]);
const NO_IN_IFACE = new Set(["OUTPUT", "POSTROUTING"]);

function checkRule(table: Table, chain: Chain, rule: Rule, cmd: RestoreCommand & { targetColumn?: number }, fail: Fail): void {
  const t = rule.target;
  if (t.kind === "jump" || t.kind === "goto") {
    const col = cmd.targetColumn;
    if (isBuiltinChain(table.name, t.chain)) fail(RULES_ERROR.BAD_VALUE, `cannot jump to the built-in chain "${t.chain}"`, cmd.line, col);
    if (!table.chains.has(t.chain)) {
      fail(RULES_ERROR.UNKNOWN_CHAIN, `couldn't load target "${t.chain}": no such chain in the ${table.name} table`, cmd.line, col,
        `declare the chain before this line with :${t.chain} - [0:0], or use a target podwire supports (${supportedTargetNames()})`);
    }
  }
  if (isBuiltinChain(table.name, chain.name)) {
    if (rule.outIface && NO_OUT_IFACE.has(chain.name)) fail(RULES_ERROR.BAD_VALUE, `can't use -o with ${chain.name}`, cmd.line, cmd.chainColumn);
    if (rule.inIface && NO_IN_IFACE.has(chain.name)) fail(RULES_ERROR.BAD_VALUE, `can't use -i with ${chain.name}`, cmd.line, cmd.chainColumn);
  }
}

function ruleIndex(chain: Chain, index: number, max: number, cmd: RestoreCommand, what: string, fail: Fail): number {
  if (index < 1 || index > max) {
    fail(RULES_ERROR.NO_SUCH_RULE, `${what} ${index} is out of range: chain "${chain.name}" has ${chain.rules.length} rules`, cmd.line, cmd.chainColumn);
  }
  return index - 1;
}

function applyCommand(table: Table, cmd: RestoreCommand, counters: (c: Counters) => Counters, fail: Fail): void {
  const copy = (r: Rule): Rule => ({ ...r, counters: counters(r.counters) });
  switch (cmd.op) {
    case "append":
    case "insert":
    case "replace": {
      const chain = chainOf(table, cmd.chain, cmd.line, cmd.chainColumn, fail);
      checkRule(table, chain, cmd.rule, cmd, fail);
      if (cmd.op === "append") chain.rules.push(copy(cmd.rule));
      else if (cmd.op === "insert") chain.rules.splice(ruleIndex(chain, cmd.index, chain.rules.length + 1, cmd, "insert position", fail), 0, copy(cmd.rule));
      else chain.rules[ruleIndex(chain, cmd.index, chain.rules.length, cmd, "rule number", fail)] = copy(cmd.rule);
      return;
    }
    case "delete": {
      const chain = chainOf(table, cmd.chain, cmd.line, cmd.chainColumn, fail);
      const want = printRuleSpec(cmd.rule);
      const at = chain.rules.findIndex((r) => printRuleSpec(r) === want);
      if (at < 0) fail(RULES_ERROR.NO_SUCH_RULE, `no rule in chain "${chain.name}" matches this one`, cmd.line, cmd.chainColumn, "the rule must match an existing rule exactly (compare with the iptables-save form)");
      chain.rules.splice(at, 1);
      return;
    }
    case "deleteNum": {
      const chain = chainOf(table, cmd.chain, cmd.line, cmd.chainColumn, fail);
      chain.rules.splice(ruleIndex(chain, cmd.index, chain.rules.length, cmd, "rule number", fail), 1);
      return;
    }
    case "newChain":
      if (table.chains.has(cmd.chain)) fail(RULES_ERROR.CHAIN_EXISTS, `chain "${cmd.chain}" already exists`, cmd.line, cmd.chainColumn);
      checkChainName(cmd.chain, cmd.line, cmd.chainColumn, fail);
      table.chains.set(cmd.chain, { name: cmd.chain, policy: null, counters: { packets: 0, bytes: 0 }, rules: [], source: { line: cmd.line } });
      return;
    case "deleteChain":
      deleteChains(table, cmd, fail);
      return;
    case "flush":
      for (const c of selectChains(table, cmd.chain, cmd, fail)) c.rules = [];
      return;
    case "zero":
      for (const c of selectChains(table, cmd.chain, cmd, fail)) {
        c.counters = { packets: 0, bytes: 0 };
        c.rules = c.rules.map((r) => ({ ...r, counters: { packets: 0, bytes: 0 } }));
      }
      return;
    case "policy": {
      const chain = chainOf(table, cmd.chain, cmd.line, cmd.chainColumn, fail);
      if (!isBuiltinChain(table.name, chain.name)) fail(RULES_ERROR.BAD_POLICY, `"${chain.name}" is not a built-in chain; only built-in chains have a policy`, cmd.line, cmd.chainColumn);
      if (cmd.policy !== "ACCEPT" && cmd.policy !== "DROP") fail(RULES_ERROR.BAD_POLICY, `invalid policy "${cmd.policy}"`, cmd.line, cmd.policyColumn, "use ACCEPT or DROP");
      chain.policy = cmd.policy as "ACCEPT" | "DROP";
      return;
    }
  }
}

function selectChains(table: Table, name: string | null, cmd: RestoreCommand, fail: Fail): Chain[] {
  return name === null ? [...table.chains.values()] : [chainOf(table, name, cmd.line, cmd.chainColumn, fail)];
}

function deleteChains(table: Table, cmd: Extract<RestoreCommand, { op: "deleteChain" }>, fail: Fail): void {
  const targets = cmd.chain === null ? [...table.chains.values()].filter((c) => !isBuiltinChain(table.name, c.name)) : [chainOf(table, cmd.chain, cmd.line, cmd.chainColumn, fail)];
  for (const c of targets) {
    if (isBuiltinChain(table.name, c.name)) fail(RULES_ERROR.CHAIN_IN_USE, `cannot delete the built-in chain "${c.name}"`, cmd.line, cmd.chainColumn);
    if (c.rules.length > 0) fail(RULES_ERROR.CHAIN_IN_USE, `cannot delete chain "${c.name}": it still has ${c.rules.length} rules`, cmd.line, cmd.chainColumn, `flush it first with -F ${c.name}`);
  }
  for (const c of targets) {
    const refs = references(table, c.name);
    if (refs > 0) fail(RULES_ERROR.CHAIN_IN_USE, `cannot delete chain "${c.name}": ${refs} rules still jump to it`, cmd.line, cmd.chainColumn, "remove the rules that refer to it first");
  }
  for (const c of targets) table.chains.delete(c.name);
}

