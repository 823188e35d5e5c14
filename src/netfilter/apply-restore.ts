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
import { parseRestoreInto, type ChainDecl, type RestoreCommand, type RestoreDocument, type RestoreTable } from "./restore-parse.js";
import { printRuleSpec } from "./save-print.js";
import { copyCounters } from "./counter-cell.js";
import { internLine } from "./intern.js";

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

/**
 * A user chain has no policy, so nothing ever counts into its counters (iptables-save prints
 * `[0:0]` for it): one frozen object serves them all.
 */
const USER_CHAIN_COUNTERS: Counters = Object.freeze({ packets: 0, bytes: 0 }) as Counters;

/** XT_EXTENSION_MAXNAMELEN is 29 bytes including the NUL. */
const CHAIN_NAME_MAX = 28;

type Fail = (code: RulesErrorCode, detail: string, line: number, column: number | undefined, hint?: string) => never;

/** Applies `doc` to `rs` (in place) and returns `rs`; on error `rs` is unchanged. */
export function applyRestore(rs: Ruleset, doc: RestoreDocument, opts: ApplyOptions = {}): Ruleset {
  const run = new Restore(rs, opts);
  for (const section of doc.tables) {
    run.table(section.name);
    applySection(run.staging!, section, opts.counters ?? true, run.fail, false);
    run.commit();
  }
  return run.finish();
}

/**
 * Parses and applies restore text in one pass (what `loadRestore` does for every sync):
 * each command is applied as it is parsed, so a 1.6-million-line restore never holds a
 * parsed document beside the ruleset, and rules are not copied. Same result and same
 * atomicity as `applyRestore(rs, parseRestore(text))`; the first failing line, parse or
 * apply, is the one reported.
 */
export function restoreText(rs: Ruleset, text: string, opts: ApplyOptions = {}, touched?: Map<TableName, Set<string>>): Ruleset {
  const run = new Restore(rs, opts);
  const keep = opts.counters ?? true;
  let at: ChainCache | null = null;
  const counters = keep ? KEEP : zeroed;
  let names: Set<string> | null = null;
  let whole = false;
  parseRestoreInto(text, opts.file ?? "<rules>", {
    table: (name) => {
      run.table(name);
      at = new ChainCache(run.staging!, run.fail);
      if (touched !== undefined) {
        names = touched.get(name) ?? new Set();
        touched.set(name, names);
        whole = false;
      }
    },
    decl: (d) => {
      names?.add(d.name);
      applyDecl(run.staging!, d, keep, run.fail);
    },
    command: (c) => {
      if (names !== null) {
        if (c.chain !== null) names.add(c.chain);
        else if (!whole) {
          // -F, -Z or -X of every chain: every chain before and after counts as touched.
          whole = true;
          for (const n of run.staging!.chains.keys()) names.add(n);
        }
      }
      applyCommand(run.staging!, c, counters, run.fail, at!, true);
    },
    commit: () => {
      if (whole && names !== null) for (const n of run.staging!.chains.keys()) names.add(n);
      run.commit();
    },
  });
  return run.finish();
}

/** One restore: tables staged one after another, installed together at the end. */
class Restore {
  readonly fail: Fail;
  private readonly staged = new Map<TableName, Table>();
  staging: Staged | null = null;

  constructor(
    private readonly rs: Ruleset,
    private readonly opts: ApplyOptions,
  ) {
    const file = opts.file ?? "<rules>";
    this.fail = (code, detail, line, column, hint) => {
      throw rulesError(code, detail, { file, line, column }, hint);
    };
  }

  table(name: TableName): void {
    const base = this.staged.get(name) ?? this.rs.tables.get(name);
    this.staging = this.opts.noflush && base ? stageTable(base) : stageTable(newTable(name));
  }

  commit(): void {
    const table = this.staging!;
    // Rule arrays grown by push keep spare room (17 slots for a 2-rule chain): trim them (before the check, which keeps a summary per array).
    for (const c of table.owned) if (c.rules.length > 0) c.rules = c.rules.slice();
    const problem = checkLinks(table);
    if (problem !== null) {
      this.fail(problem.kind === "depth" ? RULES_ERROR.LOOP : RULES_ERROR.BAD_HOOK, `rule in chain ${problem.chain}: ${problem.detail}`, problem.line, undefined,
        problem.kind === "depth" ? `keep chains within ${MAX_JUMP_DEPTH} levels below a built-in chain, and no loops` : "move the rule to a chain that only allowed hooks reach");
    }
    this.staged.set(table.name, ordered(table));
    this.staging = null;
  }

  finish(): Ruleset {
    const rs = this.rs;
    if (this.staged.size === 0) return rs;
    const merged = new Map(rs.tables);
    for (const [name, t] of this.staged) merged.set(name, t);
    rs.tables.clear();
    for (const name of TABLE_NAMES) if (merged.has(name)) rs.tables.set(name, merged.get(name)!);
    return rs;
  }
}

/** How a command's counters become the rule's: kept (`--counters`) or zeroed. */
type CounterPolicy = (c: Counters) => Counters;
const KEEP: CounterPolicy = (c) => c;
const zeroed: CounterPolicy = (c) => {
  c.packets = 0;
  c.bytes = 0;
  return c;
};

/**
 * A table being staged: a copy of `base`'s chain map whose chain objects are copied only
 * when a command changes them (`own`), so a partial restore of a few chains costs little
 * more than the map. Rules are never changed in place, only replaced, so copies share them.
 */
interface Staged extends Table {
  /** Chains copied for this staging (safe to change). */
  owned: Set<Chain>;
  /** Jump/goto references per chain name, counted on the first -X and kept up to date after. */
  refs: Map<string, number> | null;
}

function stageTable(base: Table): Staged {
  return { name: base.name, chains: new Map(base.chains), owned: new Set(), refs: null };
}

/** The chain `c` of `t`, copied first unless this staging made it. Counters stay shared: a staged chain only ever replaces its counters object, never writes into it. */
function own(t: Staged, c: Chain): Chain {
  if (t.owned.has(c)) return c;
  const copy: Chain = { ...c, rules: [...c.rules] };
  t.chains.set(c.name, copy);
  t.owned.add(copy);
  return copy;
}

/** The staged table as a plain table (built-in chains first, then user chains as created; iptables-save sorts them when printing). */
function ordered(t: Staged): Table {
  return { name: t.name, chains: t.chains };
}

function applySection(table: Staged, section: RestoreTable, keepCounters: boolean, fail: Fail, fresh: boolean): void {
  const zero = (): Counters => ({ packets: 0, bytes: 0 });
  const counters = keepCounters ? copyCounters : zero;
  // Declarations and commands, each already in line order, merged by line.
  const decls = section.chainDecls;
  const cmds = section.commands;
  let d = 0;
  let c = 0;
  const at = new ChainCache(table, fail);
  while (d < decls.length || c < cmds.length) {
    if (c >= cmds.length || (d < decls.length && decls[d]!.line < cmds[c]!.line)) applyDecl(table, decls[d++]!, keepCounters, fail);
    else applyCommand(table, cmds[c++]!, counters, fail, at, fresh);
  }
}

/** The chain a command names, remembering the last one (commands come in runs on one chain). */
class ChainCache {
  private name: string | null = null;
  private chain: Chain | null = null;

  constructor(
    private readonly table: Staged,
    private readonly fail: Fail,
  ) {}

  /** The chain, owned by the staging (safe to change). */
  get(name: string, line: number, column: number): Chain {
    if (name === this.name) return this.chain!;
    const c = own(this.table, chainOf(this.table, name, line, column, this.fail));
    this.name = name;
    this.chain = c;
    return c;
  }

  /** Chains were created or deleted: the remembered one may be gone. */
  forget(): void {
    this.name = null;
    this.chain = null;
  }
}

function checkChainName(name: string, line: number, column: number, fail: Fail): void {
  if (name.length > CHAIN_NAME_MAX) fail(RULES_ERROR.CHAIN_EXISTS, `chain name "${name}" is longer than ${CHAIN_NAME_MAX} characters`, line, column);
  if (name.startsWith("-") || name.startsWith("!") || /\s/.test(name)) fail(RULES_ERROR.CHAIN_EXISTS, `invalid chain name "${name}"`, line, column);
  if (isTargetName(name)) fail(RULES_ERROR.CHAIN_EXISTS, `chain name "${name}" clashes with a target name`, line, column, "choose another name");
}

function applyDecl(table: Staged, decl: ChainDecl, keepCounters: boolean, fail: Fail): void {
  const found = table.chains.get(decl.name);
  const existing = found === undefined ? undefined : own(table, found);
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
  if (existing) setRules(table, existing, []);
  else addChain(table, { name: decl.name, policy: null, counters: USER_CHAIN_COUNTERS, rules: [], source: internLine(decl.line) });
}

function addChain(table: Staged, c: Chain): void {
  table.chains.set(c.name, c);
  table.owned.add(c);
}

/** Replaces an owned chain's rules, keeping the reference counts (if counted) right. */
function setRules(table: Staged, c: Chain, rules: Rule[]): void {
  if (table.refs !== null) {
    for (const r of c.rules) countRef(table.refs, r, -1);
    for (const r of rules) countRef(table.refs, r, 1);
  }
  c.rules = rules;
}

function countRef(refs: Map<string, number>, r: Rule, by: number): void {
  const t = r.target;
  if (t.kind === "jump" || t.kind === "goto") refs.set(t.chain, (refs.get(t.chain) ?? 0) + by);
}

function chainOf(table: Table, name: string, line: number, column: number, fail: Fail): Chain {
  const c = table.chains.get(name);
  if (!c) return fail(RULES_ERROR.UNKNOWN_CHAIN, `chain "${name}" does not exist in the ${table.name} table`, line, column, `declare it first with :${name} - [0:0] or -N ${name}`);
  return c;
}

/** Rules that jump or go to `name` (counted over the whole table once, then kept up to date). */
function references(table: Staged, name: string): number {
  if (table.refs === null) {
    const refs = new Map<string, number>();
    for (const c of table.chains.values()) for (const r of c.rules) countRef(refs, r, 1);
    table.refs = refs;
  }
  return table.refs.get(name) ?? 0;
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

/**
 * Applies one command. `fresh`: its rule was parsed for this restore alone and goes into the
 * table as it is (with `counters` applied); otherwise the table gets a copy, so a document
 * can be applied more than once.
 */
function applyCommand(table: Staged, cmd: RestoreCommand, counters: (c: Counters) => Counters, fail: Fail, at: ChainCache, fresh: boolean): void {
  const copy = (r: Rule): Rule => {
    if (!fresh) return { ...r, counters: counters(r.counters) };
    r.counters = counters(r.counters);
    return r;
  };
  switch (cmd.op) {
    case "append":
    case "insert":
    case "replace": {
      const chain = at.get(cmd.chain, cmd.line, cmd.chainColumn);
      checkRule(table, chain, cmd.rule, cmd, fail);
      const rule = copy(cmd.rule);
      if (table.refs !== null) countRef(table.refs, rule, 1);
      if (cmd.op === "append") chain.rules.push(rule);
      else if (cmd.op === "insert") chain.rules.splice(ruleIndex(chain, cmd.index, chain.rules.length + 1, cmd, "insert position", fail), 0, rule);
      else {
        const i = ruleIndex(chain, cmd.index, chain.rules.length, cmd, "rule number", fail);
        if (table.refs !== null) countRef(table.refs, chain.rules[i]!, -1);
        chain.rules[i] = rule;
      }
      return;
    }
    case "delete": {
      const chain = at.get(cmd.chain, cmd.line, cmd.chainColumn);
      const want = printRuleSpec(cmd.rule);
      const i = chain.rules.findIndex((r) => printRuleSpec(r) === want);
      if (i < 0) fail(RULES_ERROR.NO_SUCH_RULE, `no rule in chain "${chain.name}" matches this one`, cmd.line, cmd.chainColumn, "the rule must match an existing rule exactly (compare with the iptables-save form)");
      if (table.refs !== null) countRef(table.refs, chain.rules[i]!, -1);
      chain.rules.splice(i, 1);
      return;
    }
    case "deleteNum": {
      const chain = at.get(cmd.chain, cmd.line, cmd.chainColumn);
      const i = ruleIndex(chain, cmd.index, chain.rules.length, cmd, "rule number", fail);
      if (table.refs !== null) countRef(table.refs, chain.rules[i]!, -1);
      chain.rules.splice(i, 1);
      return;
    }
    case "newChain":
      at.forget();
      if (table.chains.has(cmd.chain)) fail(RULES_ERROR.CHAIN_EXISTS, `chain "${cmd.chain}" already exists`, cmd.line, cmd.chainColumn);
      checkChainName(cmd.chain, cmd.line, cmd.chainColumn, fail);
      addChain(table, { name: cmd.chain, policy: null, counters: USER_CHAIN_COUNTERS, rules: [], source: internLine(cmd.line) });
      return;
    case "deleteChain":
      at.forget();
      deleteChains(table, cmd, fail);
      return;
    case "flush":
      for (const c of selectChains(table, cmd.chain, cmd, fail)) setRules(table, c, []);
      return;
    case "zero":
      for (const c of selectChains(table, cmd.chain, cmd, fail)) {
        c.counters = { packets: 0, bytes: 0 };
        c.rules = c.rules.map((r) => ({ ...r, counters: { packets: 0, bytes: 0 } }));
      }
      return;
    case "policy": {
      const chain = at.get(cmd.chain, cmd.line, cmd.chainColumn);
      if (!isBuiltinChain(table.name, chain.name)) fail(RULES_ERROR.BAD_POLICY, `"${chain.name}" is not a built-in chain; only built-in chains have a policy`, cmd.line, cmd.chainColumn);
      if (cmd.policy !== "ACCEPT" && cmd.policy !== "DROP") fail(RULES_ERROR.BAD_POLICY, `invalid policy "${cmd.policy}"`, cmd.line, cmd.policyColumn, "use ACCEPT or DROP");
      chain.policy = cmd.policy as "ACCEPT" | "DROP";
      return;
    }
  }
}

/** The chains a -F/-Z names (all of them without a name), owned by the staging. */
function selectChains(table: Staged, name: string | null, cmd: RestoreCommand, fail: Fail): Chain[] {
  const found = name === null ? [...table.chains.values()] : [chainOf(table, name, cmd.line, cmd.chainColumn, fail)];
  return found.map((c) => own(table, c));
}

function deleteChains(table: Staged, cmd: Extract<RestoreCommand, { op: "deleteChain" }>, fail: Fail): void {
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

