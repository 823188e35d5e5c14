/**
 * Runs a packet through one table's chain at one hook, as ipt_do_table does: rules in
 * order; a matching rule's counters count; its target either decides (ACCEPT, DROP,
 * REJECT, the NAT targets), continues (MARK, LOG, TRACE, CT), jumps (pushing a return
 * point), goes to (without one) or returns; falling off a user chain returns, falling off
 * a built-in chain applies its policy.
 *
 * Two engines share this walk. The reference engine interprets the model: it tests every
 * rule object in turn. The compiled engine runs each table from a FlatTable (flat-table.ts,
 * flat-run.ts): records in typed arrays, counters in a Float64Array, long runs of rules
 * keyed on (protocol, destination, destination port) replaced by hash lookups built at
 * load. Both count the rules the kernel would have evaluated, so the modelled cost is the
 * same.
 */
import { FlatTable, hookIndex } from "./flat-table.js";
import { MAX_JUMP_DEPTH, newJumpStack, runFlat } from "./flat-run.js";
import type { NetfilterEnv } from "./env.js";
import { type LinkedChain, type LinkedTable, builtinChain, linkTable, relinkChain } from "./linked.js";
import { logLine } from "./log-line.js";
import { ruleMatches } from "./match.js";
import { type BuiltinChain, type RejectWith, type Rule, type Ruleset, type TableName, type TargetSpec, TABLE_NAMES, isBuiltinChain } from "./model.js";
import type { PacketContext } from "./packet-context.js";
export type EngineKind = "reference" | "compiled";

export type FinalVerdict = "ACCEPT" | "DROP" | "REJECT";

/** One matched rule (or an applied policy, with `ruleIndex` −1), for traces. */
export interface RuleHit {
  table: TableName;
  chain: string;
  ruleIndex: number;
  rule: Rule | null;
}

/** The outcome of one table at one hook. Reused between packets: read it before the next run. */
export class Traversal {
  verdict: FinalVerdict = "ACCEPT";
  rejectWith: RejectWith = "icmp-port-unreachable";
  /** The DNAT/SNAT/MASQUERADE target that decided, if any. */
  nat: Extract<TargetSpec, { kind: "DNAT" | "SNAT" | "MASQUERADE" }> | null = null;
  /** NOTRACK / CT --notrack ran. */
  untrack = false;
  /** TRACE ran (raw table). */
  traced = false;
  /** Rules the kernel would have evaluated for this packet in this table. */
  rulesEvaluated = 0;
  /** Matched rules in order, when recording; null otherwise. */
  hits: RuleHit[] | null = null;

  reset(record: boolean): this {
    this.verdict = "ACCEPT";
    this.rejectWith = "icmp-port-unreachable";
    this.nat = null;
    this.untrack = false;
    this.traced = false;
    this.rulesEvaluated = 0;
    this.hits = record ? [] : null;
    return this;
  }
}

export class RuleEngine {
  /** Reference engine: the model with jumps resolved. */
  private readonly tables = new Map<TableName, LinkedTable>();
  private readonly stackChains: LinkedChain[] = new Array(MAX_JUMP_DEPTH);
  private readonly stackIndex = new Int32Array(MAX_JUMP_DEPTH);
  /** Compiled engine: one FlatTable per table (TABLE_NAMES order). */
  private readonly flat: (FlatTable | undefined)[] = [undefined, undefined, undefined, undefined];
  private readonly jumpStack = newJumpStack();

  constructor(
    readonly kind: EngineKind,
    private ruleset: Ruleset,
    readonly env: NetfilterEnv,
    /** Shortest run of keyed rules worth a hash lookup (compiled engine). */
    private readonly minRun = 4,
  ) {
    this.reload(ruleset);
  }

  /** Rebuilds everything from a (new) ruleset. */
  reload(ruleset: Ruleset): void {
    this.ruleset = ruleset;
    if (this.kind === "compiled") {
      for (let i = 0; i < TABLE_NAMES.length; i++) {
        const t = ruleset.tables.get(TABLE_NAMES[i]!);
        const ft = this.flat[i];
        if (t === undefined) {
          ft?.detachAll();
          this.flat[i] = undefined;
        } else if (ft === undefined) this.flat[i] = new FlatTable(t.name, this.minRun, t);
        else ft.build(t);
      }
      return;
    }
    this.tables.clear();
    for (const t of ruleset.tables.values()) this.tables.set(t.name, linkTable(t));
    this.indexEntries();
  }

  /** Built-in chains by (table, hook) slot, so a hook finds its chain without map lookups (reference engine). */
  private entries: (LinkedChain | undefined)[] = new Array(20);

  private indexEntries(): void {
    this.entries = new Array(20);
    for (const [name, lt] of this.tables) {
      for (const hook of ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"] as const) {
        const c = builtinChain(lt, hook);
        if (c) this.entries[entrySlot(name, hook)] = c;
      }
    }
  }

  /**
   * Picks up changes to the rules of some chains (after the model was edited in place, e.g.
   * by applying a `--noflush` restore that replaced them). Same as `applyChanges`.
   */
  chainsChanged(table: TableName, chains: Iterable<string>): void {
    this.applyChanges(table, chains);
  }

  /** The ruleset this engine runs (its counters are updated in place). */
  get rules(): Ruleset {
    return this.ruleset;
  }

  /**
   * Picks up an `iptables-restore --noflush` that touched `names` in `table`: new chains are
   * added, deleted ones dropped, touched ones rebuilt (so jumps into them from untouched
   * chains stay valid). Nothing else is rebuilt.
   */
  applyChanges(table: TableName, names: Iterable<string>): void {
    const t = this.ruleset.tables.get(table);
    if (this.kind === "compiled") {
      const i = tableIndex(table);
      const ft = this.flat[i];
      if (t === undefined) {
        ft?.detachAll();
        this.flat[i] = undefined;
      } else if (ft === undefined) this.flat[i] = new FlatTable(table, this.minRun, t);
      else ft.update(t, names);
      return;
    }
    const lt = this.tables.get(table);
    if (!t || !lt) {
      if (t) this.tables.set(table, linkTable(t));
      else this.tables.delete(table);
      this.indexEntries();
      return;
    }
    for (const name of [...lt.chains.keys()]) if (!t.chains.has(name)) lt.chains.delete(name);
    const touched: LinkedChain[] = [];
    for (const name of names) {
      const c = t.chains.get(name);
      if (!c) continue;
      let lc = lt.chains.get(name);
      if (lc === undefined) {
        lc = { name, table, builtin: isBuiltinChain(table, name), chain: c, rules: [] };
        lt.chains.set(name, lc);
      } else {
        lc.chain = c;
      }
      touched.push(lc);
    }
    for (const lc of touched) relinkChain(lt, lc);
    // Built-in chains may be new objects (a restore copies the chains it stages).
    for (const lc of lt.chains.values()) if (lc.builtin) lc.chain = t.chains.get(lc.name) ?? lc.chain;
    this.indexEntries();
  }

  hasTable(table: TableName): boolean {
    return this.kind === "compiled" ? this.flat[tableIndex(table)] !== undefined : this.tables.has(table);
  }

  /** True when `table` has a chain at `hook` (cheap: the hot path asks before building a context). */
  hasChain(table: TableName, hook: BuiltinChain): boolean {
    if (this.kind === "compiled") {
      const ft = this.flat[tableIndex(table)];
      return ft !== undefined && ft.entries[hookIndex(hook)]! >= 0;
    }
    return this.entries[entrySlot(table, hook)] !== undefined;
  }

  /** Runs `ctx` through `table`'s built-in chain `hook`. A missing table accepts. */
  run(table: TableName, hook: BuiltinChain, ctx: PacketContext, out: Traversal): Traversal {
    if (this.kind === "compiled") {
      const ft = this.flat[tableIndex(table)];
      return ft === undefined ? out : runFlat(ft, hookIndex(hook), ctx, out, this.env, this.jumpStack);
    }
    return this.runReference(table, hook, ctx, out);
  }

  private runReference(table: TableName, hook: BuiltinChain, ctx: PacketContext, out: Traversal): Traversal {
    const start = this.entries[entrySlot(table, hook)];
    if (start === undefined) return out;
    let chain: LinkedChain = start;
    let i = 0;
    let depth = 0;
    for (;;) {
      const j = this.nextMatchLinear(chain, i, ctx, out);
      if (j < 0) {
        // Fell off the end of the chain.
        if (depth === 0 || chain.builtin) {
          this.applyPolicy(start, ctx, out);
          return out;
        }
        depth--;
        chain = this.stackChains[depth]!;
        i = this.stackIndex[depth]!;
        continue;
      }
      const lr = chain.rules[j]!;
      const rule = lr.rule;
      rule.counters.packets++;
      rule.counters.bytes += ctx.len;
      if (out.hits !== null) out.hits.push({ table, chain: chain.name, ruleIndex: j, rule });
      const t = rule.target;
      switch (t.kind) {
        case "ACCEPT":
          out.verdict = "ACCEPT";
          return out;
        case "DROP":
          out.verdict = "DROP";
          return out;
        case "REJECT":
          out.verdict = "REJECT";
          out.rejectWith = t.with;
          return out;
        case "DNAT":
        case "SNAT":
        case "MASQUERADE":
          out.verdict = "ACCEPT";
          out.nat = t;
          return out;
        case "RETURN":
          if (depth === 0) {
            this.applyPolicy(start, ctx, out);
            return out;
          }
          depth--;
          chain = this.stackChains[depth]!;
          i = this.stackIndex[depth]!;
          continue;
        case "jump":
          if (depth === MAX_JUMP_DEPTH) {
            out.verdict = "DROP"; // the kernel refuses such loops at load time; never reached with valid input
            return out;
          }
          this.stackChains[depth] = chain;
          this.stackIndex[depth] = j + 1;
          depth++;
          chain = lr.target!;
          i = 0;
          continue;
        case "goto":
          chain = lr.target!;
          i = 0;
          continue;
        case "MARK":
          ctx.mark = ((ctx.mark & ~t.mask) ^ t.value) >>> 0;
          break;
        case "LOG":
          this.env.log?.(logLine(t.prefix, ctx));
          break;
        case "TRACE":
          out.traced = true;
          break;
        case "NOTRACK":
          out.untrack = true;
          break;
        case "CT":
          if (t.notrack) out.untrack = true;
          break;
        case "NONE":
          break;
      }
      i = j + 1;
    }
  }

  private applyPolicy(start: LinkedChain, ctx: PacketContext, out: Traversal): void {
    const c = start.chain;
    c.counters.packets++;
    c.counters.bytes += ctx.len;
    out.verdict = c.policy === "DROP" ? "DROP" : "ACCEPT";
    if (out.hits !== null) out.hits.push({ table: start.table, chain: start.name, ruleIndex: -1, rule: null });
  }

  /** Reference engine: test every rule from `i` on. Returns the first match, or −1. */
  private nextMatchLinear(chain: LinkedChain, i: number, ctx: PacketContext, out: Traversal): number {
    const rules = chain.rules;
    for (let j = i; j < rules.length; j++) {
      out.rulesEvaluated++;
      if (ruleMatches(rules[j]!.rule, ctx, this.env)) return j;
    }
    return -1;
  }
}

function tableIndex(table: TableName): number {
  switch (table) {
    case "raw":
      return 0;
    case "mangle":
      return 1;
    case "nat":
      return 2;
    default:
      return 3;
  }
}

/** (table, hook) → 0..19; switches on interned strings compile to pointer compares. */
function entrySlot(table: TableName, hook: BuiltinChain): number {
  let t: number;
  switch (table) {
    case "raw":
      t = 0;
      break;
    case "mangle":
      t = 5;
      break;
    case "nat":
      t = 10;
      break;
    default:
      t = 15;
  }
  switch (hook) {
    case "PREROUTING":
      return t;
    case "INPUT":
      return t + 1;
    case "FORWARD":
      return t + 2;
    case "OUTPUT":
      return t + 3;
    default:
      return t + 4;
  }
}
