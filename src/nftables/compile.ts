/**
 * A ruleset compiled for evaluation. Tables of family ip and inet take part (an IPv4
 * packet traverses both); ip6 tables are kept in the model and ignored here, as are
 * dormant tables. Base chains are grouped per hook and sorted by priority — filter (and
 * route) chains run at their own priority, nat chains are consulted by the NAT core (see
 * the glue).
 *
 * Rules are compiled to code: int32 words in one buffer (`NftProgram.code`), a chain's
 * rules contiguous, each statement an opcode, its kernel-expression cost, and operands
 * (loads, constants, a set's or a constant's index in the chain's slice of
 * `NftProgram.consts`); small anonymous sets and verdict maps sit in the code itself, and
 * a NAT statement's addresses and ports too. A jump, a goto and verdict-map data name a
 * chain by its entry (the offset of its code), which stays the chain's as long as the chain
 * exists, so one chain can be recompiled without touching the chains and maps that name it.
 * The layout keeps a packet's work in a few cache lines whatever the size of the ruleset:
 * closures and small objects per rule scatter it over the heap, and with 10,000 Services
 * that cost about ten cache misses per first packet; this costs the three a hash lookup and
 * two chains need (the Service's map slot, its chain, its endpoint's chain).
 *
 * `compileRuleset` with the NftChanges of the transaction that led from the previous
 * ruleset recompiles only the chains it changed and patches the sets' elements in place.
 */
import type { NatRange } from "../conntrack/index.js";
import type { NftChanges } from "./changes.js";
import { LOAD_CONST, type LoadSink, type NumgenInc, encodeLoad, exprCost } from "./compile-expr.js";
import type { Atom, Expr, Hook, KeyPart, NftChain, NftRule, NftRuleset, NftSet, NftTable, RelOp, SetElement, SetRef, Stmt, Verdict } from "./model.js";
import { elementStore } from "./model.js";
import { prefixMask } from "./ipv4.js";
import { type ElementVerdict, NO_DATA, RuntimeSet, intern } from "./sets-runtime.js";

// Statement results: go on with the next statement, end the rule (NFT_BREAK), or a verdict.
export const NFT_CONTINUE = 0;
export const NFT_BREAK = 1;
export const NFT_ACCEPT = 2;
export const NFT_DROP = 3;
export const NFT_RETURN = 4;
export const NFT_JUMP = 5;
export const NFT_GOTO = 6;

// Opcodes. Every statement is [op, cost, operands…]; L is a load's three words (compile-expr.ts).
/** L, c: the value == c (!=, <, >, <=, >= alike; unsigned). */
export const OP_EQ = 0;
export const OP_NE = 1;
export const OP_LT = 2;
export const OP_GT = 3;
export const OP_LE = 4;
export const OP_GE = 5;
/** L, bits: an implicit match of a bitmask type (any of these bits). */
export const OP_BITS = 6;
/** L, lo, hi, neq: in [lo, hi] (unsigned; lo > hi matches nothing), != neq. */
export const OP_RANGE = 7;
/** neq, n, n × [L, kind (0 word, 1 range, 2 never), a, b]: a concatenation against one concatenated value. */
export const OP_CONCAT = 8;
/** negate, set, n, n × L: a named or large anonymous set. */
export const OP_LOOKUP = 9;
/** set, n, n × L. */
export const OP_VMAP = 10;
/** negate, L, n, n × value: a small anonymous set of single values. */
export const OP_ANON_LOOKUP = 11;
/** L, n, n × [value, code, chain]: a small anonymous verdict map. */
export const OP_ANON_VMAP = 12;
/** L, n, n × [code, chain]: an anonymous verdict map on the values 0…n-1 (holes: NO_DATA), indexed directly. */
export const OP_DENSE_VMAP = 13;
/** code, chain. */
export const OP_VERDICT = 14;
/** const (the model's counter statement). */
export const OP_COUNTER = 15;
/** L. */
export const OP_SET_MARK = 16;
export const OP_SET_CTMARK = 17;
/** kind (0 DNAT, 1 SNAT, 2 MASQUERADE), flags (NAT_*), minIp, maxIp, minPort, maxPort: inline, so a NAT verdict reads no object. */
export const OP_NAT = 18;
/** const (an NftReject). */
export const OP_REJECT = 19;
export const OP_LOG = 20;
export const OP_NOTRACK = 21;
/** set, update (0 add, 1 update), timeout const (-1 none), n, n × L. */
export const OP_DYNSET = 22;

export const NAT_RANDOM = 1;
export const NAT_FULLY_RANDOM = 2;
export const NAT_PERSISTENT = 4;
/** The statement has an address or port range (masquerade has none). */
export const NAT_RANGE = 8;
const NAT_KINDS: readonly NftNat["kind"][] = ["DNAT", "SNAT", "MASQUERADE"];

/** Anonymous sets up to this size are scanned inline in the rule's code. */
const INLINE_MAX = 16;

/** A NAT request from a `dnat`/`snat`/`masquerade` statement, decoded at compile time. */
export interface NftNat {
  kind: "DNAT" | "SNAT" | "MASQUERADE";
  range: NatRange | null;
  random: boolean;
  randomFully: boolean;
  persistent: boolean;
}

export interface NftReject {
  tcpReset: boolean;
  /** ICMP destination-unreachable code. */
  code: number;
}

export interface NftHit {
  chain: CompiledChain;
  /** -1 for the base chain's policy. */
  ruleIndex: number;
}

/** What one base-chain traversal decided. One object per evaluator, reset per traversal. */
export class NftResult {
  verdict: "accept" | "drop" = "accept";
  reject: NftReject | null = null;
  /**
   * The NAT statement that ended the traversal. The object is this result's own and is
   * rewritten by the next traversal that binds: read it (or copy it) before running again.
   */
  nat: NftNat | null = null;
  private readonly natRange: NatRange = { minIp: 0, maxIp: 0, minPort: 0, maxPort: 0 };
  private readonly natOut: NftNat = { kind: "DNAT", range: null, random: false, randomFully: false, persistent: false };
  notrack = false;
  ctMarkSet = false;
  /** Rules and expressions the kernel evaluated in this traversal. */
  rules = 0;
  exprs = 0;
  /** Rules whose statements all ran, in order (only when tracing). */
  hits: NftHit[] | null = null;

  reset(tracing: boolean): this {
    this.verdict = "accept";
    this.reject = null;
    this.nat = null;
    this.notrack = false;
    this.ctMarkSet = false;
    this.rules = 0;
    this.exprs = 0;
    this.hits = tracing ? [] : null;
    return this;
  }

  /** Sets `nat` from an OP_NAT statement's words at `at`. */
  setNat(code: Int32Array, at: number): void {
    const n = this.natOut;
    const flags = code[at + 1]!;
    n.kind = NAT_KINDS[code[at]!]!;
    n.random = (flags & NAT_RANDOM) !== 0;
    n.randomFully = (flags & NAT_FULLY_RANDOM) !== 0;
    n.persistent = (flags & NAT_PERSISTENT) !== 0;
    if ((flags & NAT_RANGE) !== 0) {
      const r = this.natRange;
      r.minIp = code[at + 2]! >>> 0;
      r.maxIp = code[at + 3]! >>> 0;
      r.minPort = code[at + 4]!;
      r.maxPort = code[at + 5]!;
      n.range = r;
    } else n.range = null;
    this.nat = n;
  }
}

/** How many chains compiled just before chainId looks through first. */
const RECENT = 16;

/** One table's compiled state: its chains' ids and its sets. */
class TableState {
  readonly ids = new Map<string, number>();
  /** In a full compile: the table's chains in order, their ids, and the one being compiled. */
  recent: NftChain[] | null = null;
  recentIds: Int32Array = new Int32Array(0);
  cursor = 0;
  /** The last name chainId resolved (a chain deleted since is never named again). */
  lastName = "";
  lastId = -1;
  readonly sets = new Map<string, RuntimeSet>();
  constructor(
    public table: NftTable,
    readonly key: string,
    public index: number,
  ) {}
}

/** A rule as traces see it (`chain.rules[hit.ruleIndex].src`). */
export interface CompiledRule {
  src: NftRule;
}

/**
 * A compiled chain as traces and the hook lists see it: made on demand (base chains, and
 * chains a trace names), as the evaluator runs the code. Base chains: where and when they run.
 */
export class CompiledChain {
  readonly hook: Hook | undefined;
  readonly type: "filter" | "nat" | "route" | undefined;
  readonly priority: number;
  readonly policy: number;

  constructor(
    /** The program the chain's code is in, and its id there (for the evaluator). */
    readonly prog: NftProgram,
    readonly id: number,
    readonly src: NftChain,
    private readonly ts: TableState,
  ) {
    const b = src.base;
    this.hook = b?.hook;
    this.type = b?.type;
    this.priority = b?.priority ?? 0;
    this.policy = b?.policy === "drop" ? NFT_DROP : NFT_ACCEPT;
    this.rules = src.rules.map((r) => ({ src: r }));
  }

  /** The chain's rules as compiled: a hit's ruleIndex indexes them. */
  readonly rules: readonly CompiledRule[];

  get table(): NftTable {
    return this.ts.table;
  }

  get name(): string {
    return this.src.name;
  }
}

export interface CompiledNft {
  /** Filter/route base chains per hook, by priority (ties: table, then chain creation order). */
  filter: Record<Hook, CompiledChain[]>;
  /** nat base chains per hook, by priority. */
  nat: Record<Hook, CompiledChain[]>;
  /** Named sets per table (`family name`) then set name, kept to carry dynamic elements over a reload. */
  sets: Map<string, Map<string, RuntimeSet>>;
  /** Does any rule need connection tracking (nat chains, ct expressions)? */
  needsConntrack: boolean;
  /** Total rules in the evaluated tables. */
  ruleCount: number;
  /** The code (an incremental compile takes it over: a CompiledNft passed as `previous` with changes is spent). */
  program: NftProgram;
  /** Which compile of `program` this is. */
  generation: number;
}

const VERDICT_CODE: Record<string, number> = { accept: NFT_ACCEPT, drop: NFT_DROP, return: NFT_RETURN, continue: NFT_CONTINUE, jump: NFT_JUMP, goto: NFT_GOTO };

const emptyHooks = (): Record<Hook, CompiledChain[]> => ({ prerouting: [], input: [], forward: [], output: [], postrouting: [] });

/** ICMP codes of `reject with icmp|icmpx …` (nft_reject_inet: icmpx maps onto ICMP codes). */
const REJECT_ICMP: Record<string, number> = {
  "net-unreachable": 0,
  "host-unreachable": 1,
  "prot-unreachable": 2,
  "port-unreachable": 3,
  "net-prohibited": 9,
  "host-prohibited": 10,
  "admin-prohibited": 13,
  "no-route": 0,
};

/**
 * The compiled code of a ruleset. A chain is named in code and in verdict-map data by its
 * entry: the offset of its code, [rules, constant base, chain id, then per rule: [words,
 * statements…]].
 * A recompiled chain is written over its old code when it fits; otherwise its entry becomes
 * a forward, [-1, offset of the new code], so nothing that names it changes. Garbage (code
 * of deleted chains, and of chains since rewritten elsewhere) is compacted away once it
 * outweighs the live code, rewriting the entries named in code and in sets.
 */
export class NftProgram {
  /** Garbage words below which code is never compacted (tests lower it). */
  static compactMin = 4096;

  code: Int32Array = new Int32Array(1024);
  codeLen = 0;
  /** Words of code the live chains own (their entry regions and forwarded code). */
  private liveWords = 0;
  /** Constants of the chains' code; a chain's are [constStart, constStart + constCount). */
  consts: unknown[] = [];
  private constGarbage = 0;

  // Per chain id (the program's own index of a chain, never seen in code).
  /** Offset of the chain's entry (-1: not placed yet). */
  entry: Int32Array = new Int32Array(64);
  /** Words at the entry the chain may use (what was first written there). */
  private cap: Int32Array = new Int32Array(64);
  /** Where the chain's code is when its entry forwards (-1: at the entry), and its length. */
  private fwd: Int32Array = new Int32Array(64);
  /** Words of the chain's current code. */
  private len: Int32Array = new Int32Array(64);
  private constStart: Int32Array = new Int32Array(64);
  private constCount: Int32Array = new Int32Array(64);
  /** Rules that need conntrack (plus 1 for a nat base chain), per chain. */
  private ctUses: Int32Array = new Int32Array(64);
  private srcs: (NftChain | null)[] = [];
  /** The table of each chain (index in `tables`). */
  private tableOf: Int32Array = new Int32Array(64);
  /** CompiledChains made so far (base chains, chains traces named). */
  private readonly objs = new Map<number, CompiledChain>();
  private readonly free: number[] = [];
  private chainCount = 0;
  /** Base chains' ids, and a flag per id. */
  private readonly baseIds = new Set<number>();
  private isBase: Uint8Array = new Uint8Array(64);

  private readonly encoder = new ChainEncoder(this);

  // One compile pass: chain operands written before the chain they name was placed, and
  // recompiled chains waiting to be moved over their old code.
  private fixups: number[] = [];
  private moves: number[] = [];

  readonly tables: TableState[] = [];
  ruleCount = 0;
  private ctTotal = 0;
  generation = 0;

  constructor(
    /** `numgen inc` counters per model expression: an unchanged rule keeps counting over a reload, as the kernel's does. */
    readonly numgen: WeakMap<Expr, NumgenInc>,
  ) {}

  // ---------------------------------------------------------------- chains

  private newId(src: NftChain, ts: TableState): number {
    let id = this.free.pop();
    if (id === undefined) {
      id = this.chainCount++;
      this.growChains(id + 1);
    }
    this.srcs[id] = src;
    this.tableOf[id] = ts.index;
    if (this.objs.size > 0) this.objs.delete(id);
    ts.lastName = "";
    this.entry[id] = -1;
    this.cap[id] = 0;
    this.fwd[id] = -1;
    this.len[id] = 0;
    this.constCount[id] = 0;
    this.ctUses[id] = 0;
    ts.ids.set(src.name, id);
    return id;
  }

  private growChains(min: number): void {
    if (min <= this.entry.length) return;
    let n = this.entry.length;
    while (n < min) n *= 2;
    const grow = (a: Int32Array): Int32Array => {
      const b = new Int32Array(n);
      b.set(a);
      return b;
    };
    this.entry = grow(this.entry);
    this.cap = grow(this.cap);
    this.fwd = grow(this.fwd);
    this.len = grow(this.len);
    this.constStart = grow(this.constStart);
    this.constCount = grow(this.constCount);
    this.ctUses = grow(this.ctUses);
    this.tableOf = grow(this.tableOf);
    const isBase = new Uint8Array(n);
    isBase.set(this.isBase);
    this.isBase = isBase;
    const srcs: (NftChain | null)[] = new Array<NftChain | null>(n).fill(null);
    for (let i = 0; i < this.chainCount; i++) srcs[i] = this.srcs[i] ?? null;
    this.srcs = srcs;
  }

  /** The CompiledChain of an id (made when first asked for: traces and base chains). */
  chain(id: number): CompiledChain {
    let c = this.objs.get(id);
    if (c === undefined) {
      c = new CompiledChain(this, id, this.srcs[id]!, this.tables[this.tableOf[id]!]!);
      this.objs.set(id, c);
    }
    return c;
  }

  /** The CompiledChain whose entry is `entry` (traces). */
  chainAt(entry: number): CompiledChain {
    const at = this.code[entry]! < 0 ? this.code[entry + 1]! : entry;
    return this.chain(this.code[at + 2]!);
  }

  /** Forgets a chain's compiled rules (it is being recompiled or deleted); its entry stays. */
  private retire(id: number): void {
    if (this.entry[id]! >= 0) this.ruleCount -= this.srcs[id] === null ? 0 : this.ruleCountOf(id);
    const cs = this.constStart[id]!;
    const cn = this.constCount[id]!;
    for (let i = cs; i < cs + cn; i++) this.consts[i] = undefined;
    this.constGarbage += cn;
    this.ctTotal -= this.ctUses[id]!;
    this.constCount[id] = 0;
    this.ctUses[id] = 0;
    if (this.objs.size > 0) this.objs.delete(id);
  }

  /** Rules of chain `id` as compiled (its code's header). */
  private ruleCountOf(id: number): number {
    const f = this.fwd[id]!;
    return this.code[f >= 0 ? f : this.entry[id]!]!;
  }

  private deleteChain(ts: TableState, name: string): void {
    const id = ts.ids.get(name)!;
    this.retire(id);
    ts.ids.delete(name);
    ts.lastName = "";
    this.liveWords -= this.cap[id]! + (this.fwd[id]! >= 0 ? this.len[id]! : 0);
    this.entry[id] = -1;
    this.srcs[id] = null;
    if (this.isBase[id]) this.baseIds.delete(id);
    this.isBase[id] = 0;
    this.free.push(id);
  }

  // ---------------------------------------------------------------- code

  private ensure(words: number): void {
    if (this.codeLen + words <= this.code.length) return;
    let n = this.code.length * 2;
    while (n < this.codeLen + words) n *= 2;
    const c = new Int32Array(n);
    c.set(this.code.subarray(0, this.codeLen));
    this.code = c;
  }

  /** Appends one word of code. */
  emit(x: number): void {
    if (this.codeLen === this.code.length) this.ensure(1);
    this.code[this.codeLen++] = x;
  }

  /** Appends a reference to chain `id` (its entry; fixed up at the end of the pass when not placed yet). */
  emitChain(id: number): void {
    const e = this.entry[id]!;
    if (e < 0) this.fixups.push(this.codeLen, id);
    this.emit(e);
  }

  /** The entry of chain `id`, for set data (placed chains only). */
  entryOf(id: number): number {
    return this.entry[id]!;
  }

  /** Compiles chain `id` (from its model chain) at the end of the code. */
  private compileChain(id: number, src: NftChain): void {
    const ts = this.tables[this.tableOf[id]!]!;
    this.retire(id);
    this.srcs[id] = src;
    const base = src.base ? 1 : 0;
    if (base !== this.isBase[id]) {
      this.isBase[id] = base;
      if (base) this.baseIds.add(id);
      else this.baseIds.delete(id);
    }
    const start = this.codeLen;
    const enc = this.encoder;
    enc.begin(ts, this.consts.length);
    enc.chain(src, id);
    const n = this.codeLen - start;
    this.constStart[id] = enc.constBase;
    this.constCount[id] = this.consts.length - enc.constBase;
    const ct = enc.ctUses + (src.base?.type === "nat" ? 1 : 0);
    this.ctUses[id] = ct;
    this.ctTotal += ct;
    this.ruleCount += src.rules.length;
    if (this.entry[id]! < 0) {
      this.entry[id] = start;
      this.cap[id] = n;
      this.len[id] = n;
      this.fwd[id] = -1;
      this.liveWords += n;
    } else this.moves.push(id, start, n);
  }

  /** Ends a compile pass: chain operands get their entries, recompiled chains go over their old code. */
  private finishPass(): void {
    const f = this.fixups;
    for (let i = 0; i < f.length; i += 2) this.code[f[i]!] = this.entry[f[i + 1]!]!;
    this.fixups = [];
    const m = this.moves;
    for (let i = 0; i < m.length; i += 3) {
      const id = m[i]!;
      const start = m[i + 1]!;
      const n = m[i + 2]!;
      const e = this.entry[id]!;
      if (this.fwd[id]! >= 0) this.liveWords -= this.len[id]!;
      this.len[id] = n;
      if (n <= this.cap[id]!) {
        this.code.copyWithin(e, start, start + n);
        this.fwd[id] = -1;
      } else {
        this.code[e] = -1;
        this.code[e + 1] = start;
        this.fwd[id] = start;
        this.liveWords += n;
      }
    }
    this.moves = [];
  }

  /** Moves the live chains' code and constants together once garbage outweighs them, renaming entries in code and sets. */
  private compact(): void {
    const garbage = this.codeLen - this.liveWords;
    const constLive = this.consts.length - this.constGarbage;
    const min = NftProgram.compactMin;
    if ((garbage < min || garbage < this.liveWords) && (this.constGarbage < min / 4 || this.constGarbage < constLive)) return;
    let words = 0;
    for (let id = 0; id < this.chainCount; id++) if (this.srcs[id]) words += this.len[id]!;
    const code = new Int32Array(Math.max(1024, words + (words >> 1)));
    const consts: unknown[] = [];
    const rename = new Map<number, number>();
    let at = 0;
    for (let id = 0; id < this.chainCount; id++) {
      if (!this.srcs[id]) continue;
      const from = this.fwd[id]! >= 0 ? this.fwd[id]! : this.entry[id]!;
      const n = this.len[id]!;
      code.set(this.code.subarray(from, from + n), at);
      rename.set(this.entry[id]!, at);
      this.entry[id] = at;
      this.cap[id] = n;
      this.fwd[id] = -1;
      const cs = this.constStart[id]!;
      const cn = this.constCount[id]!;
      this.constStart[id] = consts.length;
      code[at + 1] = consts.length;
      for (let i = cs; i < cs + cn; i++) consts.push(this.consts[i]);
      at += n;
    }
    const renamed = (e: number): number => rename.get(e)!;
    const sets = new Set<RuntimeSet>();
    for (let id = 0; id < this.chainCount; id++) if (this.srcs[id]) forEachChainRef(code, this.entry[id]!, (pos) => (code[pos] = renamed(code[pos]!)));
    for (const c of consts) if (c instanceof RuntimeSet) sets.add(c);
    for (const ts of this.tables) for (const s of ts.sets.values()) sets.add(s);
    for (const s of sets) s.renameChains(renamed);
    this.code = code;
    this.codeLen = at;
    this.liveWords = at;
    this.consts = consts;
    this.constGarbage = 0;
  }

  // ---------------------------------------------------------------- whole rulesets

  /** Compiles every table of `rs` (a fresh program). */
  compileAll(rs: NftRuleset, previous: CompiledNft | null, nowNs: number): void {
    const fills: [RuntimeSet, NftSet, RuntimeSet | undefined][] = [];
    for (const t of compiledTables(rs)) {
      const ts = new TableState(t, tableKey(t), this.tables.length);
      this.tables.push(ts);
      // (Indexed loops over arrays throughout: a compile runs once, much of it before the
      // optimizing compiler steps in, and iterators then allocate per step.)
      const chains = [...t.chains.values()];
      this.growChains(this.chainCount + chains.length);
      const ids = new Int32Array(chains.length);
      let rules = 0;
      for (let i = 0; i < chains.length; i++) {
        const c = chains[i]!;
        ids[i] = this.newId(c, ts);
        rules += c.rules.length;
      }
      this.ensure(3 * chains.length + 16 * rules);
      // The sets exist before the rules that name them; their elements (verdict maps name
      // chains by entry) go in once every chain is placed.
      const prevSets = previous?.sets.get(ts.key);
      for (const s of t.sets.values()) {
        const rset = new RuntimeSet(s.name, s.keyType.length, [], (e, out) => this.elementVerdict(ts, e, out), s.timeout);
        ts.sets.set(s.name, rset);
        fills.push([rset, s, prevSets?.get(s.name)]);
      }
      ts.recent = chains;
      ts.recentIds = ids;
      for (let i = 0; i < ids.length; i++) {
        ts.cursor = i;
        this.compileChain(ids[i]!, chains[i]!);
      }
      ts.recent = null;
    }
    this.finishPass();
    for (const [rset, s, prev] of fills) {
      rset.rebuild([...elementStore(s).values()], nowNs, () => s.elements);
      if (prev) rset.adoptDynamic(prev, nowNs);
    }
    for (const [set, elements] of this.anonFills) set.rebuild(elements, nowNs);
    this.anonFills = [];
  }

  /** Anonymous sets of rules compiled in this pass, filled at its end (their data name chains). */
  anonFills: [RuntimeSet, SetElement[]][] = [];

  /** An element's verdict, with the chain as its entry (placed chains only). */
  elementVerdict(ts: TableState, e: SetElement, out: ElementVerdict): void {
    if (!e.data || e.data.kind !== "verdict") return;
    const v = e.data.verdict;
    out.code = VERDICT_CODE[v.kind]!;
    if (v.kind === "jump" || v.kind === "goto") out.chain = this.entry[chainId(ts, v.chain)]!;
  }

  /**
   * Applies one transaction's changes; false (and nothing changed) when they are not all
   * of a kind this path follows, and a full compile must be done instead.
   */
  applyChanges(rs: NftRuleset, changes: NftChanges, nowNs: number): boolean {
    const tables = compiledTables(rs);
    if (tables.length !== this.tables.length) return false;
    for (let i = 0; i < tables.length; i++) if (tableKey(tables[i]!) !== this.tables[i]!.key) return false;
    const byKey = new Map(this.tables.map((ts) => [ts.key, ts]));
    // Check everything first: a refusal must leave the program as it was.
    for (const [key, names] of changes.chains) {
      const ts = byKey.get(key);
      if (ts === undefined) continue; // an ip6 or dormant table
      const t = tables[ts.index]!;
      for (const name of names) {
        const c = t.chains.get(name);
        const id = ts.ids.get(name);
        if (c === undefined || id === undefined) continue;
        // A chain that became a base chain or stopped being one, or a changed hook: the hook lists and their order change.
        const was = this.srcs[id]!.base;
        const now = c.base;
        if ((was === undefined) !== (now === undefined)) return false;
        if (was && now && (was.hook !== now.hook || was.type !== now.type || was.priority !== now.priority || was.policy !== now.policy)) return false;
      }
    }
    for (const [key, deltas] of changes.sets) {
      const ts = byKey.get(key);
      if (ts === undefined) continue;
      const t = tables[ts.index]!;
      for (const name of deltas.keys()) {
        const s = t.sets.get(name);
        const rset = ts.sets.get(name);
        if (s === undefined || rset === undefined || rset.dims !== s.keyType.length) return false;
      }
    }
    for (const ts of this.tables) ts.table = tables[ts.index]!;
    // New chains get their ids before any chain is compiled: a changed chain may name one.
    const recompile: [number, NftChain][] = [];
    for (const [key, names] of changes.chains) {
      const ts = byKey.get(key);
      if (ts === undefined) continue;
      for (const name of names) {
        const c = ts.table.chains.get(name);
        if (c === undefined) continue;
        recompile.push([ts.ids.get(name) ?? this.newId(c, ts), c]);
      }
    }
    for (const [id, c] of recompile) this.compileChain(id, c);
    this.finishPass();
    for (const [set, elements] of this.anonFills) set.rebuild(elements, nowNs);
    this.anonFills = [];
    // Sets: element deltas (they may name the new chains).
    for (const [key, deltas] of changes.sets) {
      const ts = byKey.get(key);
      if (ts === undefined) continue;
      for (const [name, d] of deltas) {
        const rset = ts.sets.get(name)!;
        if (rset.exact && d.added.every((e) => rset.canPatch(e))) {
          if (d.flushed) rset.clearStatic();
          for (const e of d.deleted) if (rset.canPatch(e)) rset.deleteStatic(e);
          for (const e of d.added) rset.addStatic(e);
        } else {
          const model = ts.table.sets.get(name)!;
          rset.rebuild([...elementStore(model).values()], nowNs, () => model.elements);
        }
      }
    }
    // Deleted chains last: nothing names them any more.
    for (const [key, names] of changes.chains) {
      const ts = byKey.get(key);
      if (ts === undefined) continue;
      for (const name of names) if (!ts.table.chains.has(name) && ts.ids.has(name)) this.deleteChain(ts, name);
    }
    // Dynamic elements expired by now go, as a full compile would not carry them over.
    for (const ts of this.tables) for (const s of ts.sets.values()) s.sweep(nowNs);
    this.compact();
    return true;
  }

  /** The compiled form as the glue and traces see it. */
  result(): CompiledNft {
    this.generation++;
    const out: CompiledNft = { filter: emptyHooks(), nat: emptyHooks(), sets: new Map(), needsConntrack: this.ctTotal > 0, ruleCount: this.ruleCount, program: this, generation: this.generation };
    for (const ts of this.tables) out.sets.set(ts.key, ts.sets);
    // By priority; ties run the chain registered last first (later table, then the later
    // chain: handles grow with creation), as nf_hook_entries_grow (net/netfilter/core.c)
    // inserts a new hook before the existing ones of the same priority.
    const base = [...this.baseIds].map((id) => this.chain(id));
    base.sort((a, b) => a.priority - b.priority || this.tableOf[b.id]! - this.tableOf[a.id]! || b.src.handle - a.src.handle);
    for (const c of base) (c.type === "nat" ? out.nat : out.filter)[c.hook!].push(c);
    return out;
  }
}

/** Words of the statement at `pc`. */
export function stmtWords(code: Int32Array, pc: number): number {
  switch (code[pc]) {
    case OP_EQ:
    case OP_NE:
    case OP_LT:
    case OP_GT:
    case OP_LE:
    case OP_GE:
    case OP_BITS:
      return 6;
    case OP_RANGE:
      return 8;
    case OP_CONCAT:
      return 4 + 6 * code[pc + 3]!;
    case OP_LOOKUP:
      return 5 + 3 * code[pc + 4]!;
    case OP_VMAP:
      return 4 + 3 * code[pc + 3]!;
    case OP_ANON_LOOKUP:
      return 7 + code[pc + 6]!;
    case OP_ANON_VMAP:
      return 6 + 3 * code[pc + 5]!;
    case OP_DENSE_VMAP:
      return 6 + 2 * code[pc + 5]!;
    case OP_VERDICT:
      return 4;
    case OP_COUNTER:
    case OP_REJECT:
      return 3;
    case OP_SET_MARK:
    case OP_SET_CTMARK:
      return 5;
    case OP_NAT:
      return 8;
    case OP_LOG:
    case OP_NOTRACK:
      return 2;
    case OP_DYNSET:
      return 6 + 3 * code[pc + 5]!;
    default:
      throw new Error(`nft: bad opcode ${code[pc]}`);
  }
}

/** Calls `f` with the position of every chain entry the chain at `start` names (jumps, gotos, inline verdict maps). */
function forEachChainRef(code: Int32Array, start: number, f: (pos: number) => void): void {
  const isChain = (verdict: number): boolean => verdict === NFT_JUMP || verdict === NFT_GOTO;
  let pc = start + 3;
  for (let r = code[start]!; r > 0; r--) {
    const end = pc + 1 + code[pc]!;
    pc++;
    while (pc < end) {
      const op = code[pc]!;
      if (op === OP_VERDICT && isChain(code[pc + 2]!)) f(pc + 3);
      else if (op === OP_ANON_VMAP) {
        for (let i = 0, q = pc + 6; i < code[pc + 5]!; i++, q += 3) if (isChain(code[q + 1]!)) f(q + 2);
      } else if (op === OP_DENSE_VMAP) {
        for (let i = 0, q = pc + 6; i < code[pc + 5]!; i++, q += 2) if (isChain(code[q]!)) f(q + 1);
      }
      pc += stmtWords(code, pc);
    }
  }
}

function tableKey(t: NftTable): string {
  return `${t.family} ${t.name}`;
}

function compiledTables(rs: NftRuleset): NftTable[] {
  return rs.tables.filter((t) => t.family !== "ip6" && !t.flags.includes("dormant"));
}

/** The id of chain `name` of the table. */
function chainId(ts: TableState, name: string): number {
  // Consecutive rules often name one chain, and rulesets are often written with a chain's
  // targets just before it (in a full compile, the chains compiled last): a few string
  // compares with names in cache are cheaper than hashing the name into a large map.
  if (name === ts.lastName) return ts.lastId;
  const recent = ts.recent;
  if (recent !== null) {
    for (let i = ts.cursor - 1, end = Math.max(0, ts.cursor - RECENT); i >= end; i--) {
      if (recent[i]!.name === name) return ts.recentIds[i]!;
    }
  }
  const id = ts.ids.get(name);
  if (id === undefined) throw new Error(`chain ${name} does not exist`);
  ts.lastName = name;
  ts.lastId = id;
  return id;
}

/**
 * Compiles `rs`. With `previous` (the compiled form of the ruleset before), the packet
 * path's set elements and `numgen inc` counters carry over; with `changes` too (what the
 * transaction from that ruleset to `rs` changed, see changes.ts), only the changed chains
 * are recompiled and the changed sets patched, reusing — and so spending — `previous`.
 */
export function compileRuleset(rs: NftRuleset, previous: CompiledNft | null = null, nowNs = 0, changes?: NftChanges): CompiledNft {
  if (changes !== undefined && !changes.full && previous !== null && previous.generation === previous.program.generation) {
    if (previous.program.applyChanges(rs, changes, nowNs)) return previous.program.result();
  }
  const prog = new NftProgram(previous?.program.numgen ?? new WeakMap());
  prog.compileAll(rs, previous, nowNs);
  return prog.result();
}

// ---------------------------------------------------------------- one chain

/** Scratch of ChainEncoder.inline: element index by value. */
let denseSlots = new Int32Array(64);

class ChainEncoder implements LoadSink {
  ctUses = 0;
  private ts!: TableState;
  constBase = 0;
  // An anonymous set or map being read: keys, verdict codes, chain ids.
  private keys = new Int32Array(64);
  private codes = new Int32Array(64);
  private chains = new Int32Array(64);

  constructor(private readonly prog: NftProgram) {}

  begin(ts: TableState, constBase: number): void {
    this.ts = ts;
    this.constBase = constBase;
    this.ctUses = 0;
  }

  load(kind: number, a: number, b: number): void {
    const p = this.prog;
    p.emit(kind);
    p.emit(a);
    p.emit(b);
  }

  constant(v: unknown): number {
    this.prog.consts.push(v);
    return this.prog.consts.length - 1 - this.constBase;
  }

  numgenInc(e: Expr & { kind: "numgen" }): NumgenInc {
    let st = this.prog.numgen.get(e);
    if (st === undefined) {
      st = { n: 0, mod: e.mod, offset: e.offset };
      this.prog.numgen.set(e, st);
    }
    return st;
  }

  /** Appends a chain operand: the entry of chain `id`, or -1 for none. */
  private chainRef(id: number): void {
    if (id < 0) this.prog.emit(-1);
    else this.prog.emitChain(id);
  }

  /** Appends a verdict's code and chain operand. */
  private verdict(v: Verdict): void {
    this.prog.emit(VERDICT_CODE[v.kind]!);
    this.chainRef(v.kind === "jump" || v.kind === "goto" ? chainId(this.ts, v.chain) : -1);
  }

  /** Appends up to six words. */
  private w(a: number, b?: number, c?: number, d?: number, e?: number, f?: number): void {
    const p = this.prog;
    p.emit(a);
    if (b === undefined) return;
    p.emit(b);
    if (c === undefined) return;
    p.emit(c);
    if (d === undefined) return;
    p.emit(d);
    if (e === undefined) return;
    p.emit(e);
    if (f !== undefined) p.emit(f);
  }

  chain(c: NftChain, id: number): void {
    const p = this.prog;
    const rules = c.rules;
    p.emit(rules.length);
    p.emit(this.constBase);
    p.emit(id);
    for (let i = 0; i < rules.length; i++) {
      const stmts = rules[i]!.stmts;
      const at = p.codeLen;
      p.emit(0);
      let ct = false;
      for (let j = 0; j < stmts.length; j++) if (this.stmt(stmts[j]!)) ct = true;
      if (ct) this.ctUses++;
      p.code[at] = p.codeLen - at - 1;
    }
  }

  /** Appends the loads of a (possibly concatenated) key; returns how many. */
  private loads(e: Expr): number {
    if (e.kind !== "concat") {
      encodeLoad(e, this);
      return 1;
    }
    const parts = e.parts;
    for (let i = 0; i < parts.length; i++) encodeLoad(parts[i]!, this);
    return e.parts.length;
  }

  private set(ref: SetRef & { kind: "named" }): RuntimeSet {
    const s = this.ts.sets.get(ref.name);
    if (!s) throw new Error(`set ${ref.name} does not exist in table ${this.ts.table.name}`);
    return s;
  }

  /** Appends statement `s`; returns whether it needs conntrack. Its cost: its loads plus the cmp/lookup/verdict/action itself. */
  private stmt(s: Stmt): boolean {
    switch (s.kind) {
      case "match": {
        const left = s.left;
        this.match(left, s.op, s.right, exprCost(left) + 1);
        return exprUsesCt(left);
      }
      case "lookup":
      case "vmap": {
        const left = s.left;
        const cost = exprCost(left) + 1;
        const ref = s.kind === "lookup" ? s.set : s.map;
        const dims = left.kind === "concat" ? left.parts.length : 1;
        if (ref.kind === "anon" && dims === 1 && this.inline(s.kind === "vmap", s.kind === "lookup" && s.negate, left, ref.elements, cost)) return exprUsesCt(left);
        let set: RuntimeSet;
        if (ref.kind === "named") set = this.set(ref);
        else {
          const ts = this.ts;
          set = new RuntimeSet("<anonymous>", dims, [], (e, out) => this.prog.elementVerdict(ts, e, out));
          this.prog.anonFills.push([set, ref.elements]);
        }
        if (s.kind === "lookup") this.w(OP_LOOKUP, cost, s.negate ? 1 : 0, this.constant(set), dims);
        else this.w(OP_VMAP, cost, this.constant(set), dims);
        this.loads(left);
        return exprUsesCt(left);
      }
      case "verdict":
        this.w(OP_VERDICT, 1);
        this.verdict(s.verdict);
        return false;
      case "counter":
        // The counter lives in the model, so `nft list ruleset` shows it.
        this.w(OP_COUNTER, 1, this.constant(s));
        return false;
      case "set": {
        const v = s.value;
        const constant = "v" in v && v.kind === "const";
        this.w(s.target.kind === "meta" ? OP_SET_MARK : OP_SET_CTMARK, constant ? 1 : 1 + exprCost(v as Expr));
        if (constant) this.load(LOAD_CONST, (v as { v: number }).v | 0, 0);
        else encodeLoad(v as Expr, this);
        return s.target.kind === "ct";
      }
      case "nat":
      case "masquerade": {
        // nft_nat_eval binds at once and returns NF_ACCEPT: the rule's verdict ends the chain.
        let flags = 0;
        const fl = s.flags;
        for (let i = 0; i < fl.length; i++) flags |= fl[i] === "random" ? NAT_RANDOM : fl[i] === "fully-random" ? NAT_FULLY_RANDOM : fl[i] === "persistent" ? NAT_PERSISTENT : 0;
        if (s.kind === "masquerade") {
          this.w(OP_NAT, 1, 2, flags, 0, 0);
          this.w(0, 0);
          return true;
        }
        this.w(OP_NAT, 1, s.type === "dnat" ? 0 : 1, flags | NAT_RANGE);
        const a = s.addr;
        if (a === undefined) this.w(0, 0);
        else this.w(lowBound(a), highBound(a));
        const q = s.port;
        if (q === undefined) this.w(0, 0);
        else this.w(lowBound(q), highBound(q));
        return true;
      }
      case "reject": {
        const x = s.with;
        const rej: NftReject = !x ? { tcpReset: false, code: 3 } : x.type === "tcp reset" ? { tcpReset: true, code: 3 } : { tcpReset: false, code: REJECT_ICMP[x.code] ?? 3 };
        // nft_reject_ipv4_eval sends the error and sets NF_DROP.
        this.w(OP_REJECT, 1, this.constant(rej));
        return false;
      }
      case "log":
        this.w(OP_LOG, 1); // nft_log: the line goes to the kernel log; traces show the rule
        return false;
      case "notrack":
        this.w(OP_NOTRACK, 1);
        return false;
      case "dynset": {
        const set = this.ts.sets.get(s.set);
        if (!set) throw new Error(`set ${s.set} does not exist`);
        const key = s.key;
        this.w(OP_DYNSET, exprCost(key) + 1, this.constant(set), s.op === "update" ? 1 : 0, s.timeout === undefined ? -1 : this.constant(s.timeout), key.kind === "concat" ? key.parts.length : 1);
        this.loads(key);
        return exprUsesCt(key);
      }
    }
  }

  /** `left op right`: nft_cmp (==, !=, <, …), nft_range, or a bitmask test for implicit ct state/status matches. */
  private match(left: Expr, op: RelOp, right: KeyPart[], cost: number): void {
    if (op === "implicit") {
      // nft turns `ct state established,related` into `ct state & (established|related) != 0`.
      let bits = 0;
      for (let i = 0; i < right.length; i++) {
        const k = right[i]!;
        if (k.kind === "value") bits |= k.v as number;
      }
      this.w(OP_BITS, cost);
      encodeLoad(left.kind === "concat" ? left.parts[0]! : left, this);
      this.w(bits | 0);
      return;
    }
    if (left.kind !== "concat") {
      const k = right[0]!;
      if (k.kind === "value") {
        this.w(op === "==" ? OP_EQ : op === "!=" ? OP_NE : op === "<" ? OP_LT : op === ">" ? OP_GT : op === "<=" ? OP_LE : OP_GE, cost);
        encodeLoad(left, this);
        this.w(valueWord(k));
        return;
      }
      this.w(OP_RANGE, cost);
      encodeLoad(left, this);
      if (numericBounds(k)) this.w(lowBound(k), highBound(k), op === "!=" ? 1 : 0);
      else this.w(1, 0, op === "!=" ? 1 : 0); // string bounds: an empty range, as nothing matches them
      return;
    }
    // A concatenation compared with one concatenated value.
    const parts = left.parts;
    this.w(OP_CONCAT, cost, op === "!=" ? 1 : 0, parts.length);
    for (let i = 0; i < parts.length; i++) {
      encodeLoad(parts[i]!, this);
      const k = right[i]!;
      if (k.kind === "value") this.w(0, valueWord(k), 0);
      else if (numericBounds(k)) this.w(1, lowBound(k), highBound(k));
      else this.w(2, 0, 0);
    }
  }

  /** A small or dense anonymous set of single exact values, inline in the code; false when it is not one. */
  private inline(isMap: boolean, negate: boolean, left: Expr, elements: SetElement[], cost: number): boolean {
    if (elements.length > this.keys.length) this.growScratch(elements.length);
    const keys = this.keys;
    const codes = this.codes;
    const chains = this.chains;
    let n = 0;
    let max = -1;
    let dense = true;
    for (let ei = 0; ei < elements.length; ei++) {
      const e = elements[ei]!;
      if (e.key.length !== 1) return false;
      const k = e.key[0]!;
      if (k.kind !== "value") return false;
      const word = valueWord(k);
      let code = NO_DATA;
      let chain = -1;
      const d = e.data;
      if (isMap && d !== undefined && d.kind === "verdict") {
        const v = d.verdict;
        code = VERDICT_CODE[v.kind]!;
        if (v.kind === "jump" || v.kind === "goto") chain = chainId(this.ts, v.chain);
      }
      if (word < 0) dense = false;
      else if (word > max) max = word;
      // As a hash of the elements would hold them: a repeated key keeps its last data.
      let at = -1;
      if (n <= INLINE_MAX) {
        for (let i = 0; i < n; i++) {
          if (keys[i] === word) {
            at = i;
            break;
          }
        }
      } else if (!isMap || !dense) return false; // many: a hash, unless a dense map (repeats checked below)
      if (at < 0) at = n++;
      keys[at] = word;
      codes[at] = code;
      chains[at] = chain;
    }
    if (isMap) {
      if (dense && n > 0 && max < 2 * n + 8) {
        if (denseSlots.length < max + 1) denseSlots = new Int32Array(Math.max(max + 1, denseSlots.length * 2));
        const slot = denseSlots;
        slot.fill(-1, 0, max + 1);
        for (let i = 0; i < n; i++) {
          if (slot[keys[i]!]! >= 0) return false; // a repeat among many: leave it to the hash
          slot[keys[i]!] = i;
        }
        this.w(OP_DENSE_VMAP, cost);
        encodeLoad(left, this);
        this.w(max + 1);
        for (let v = 0; v <= max; v++) {
          const i = slot[v]!;
          this.w(i < 0 ? NO_DATA : codes[i]!);
          this.chainRef(i < 0 ? -1 : chains[i]!);
        }
        return true;
      }
      if (n > INLINE_MAX) return false;
      this.w(OP_ANON_VMAP, cost);
      encodeLoad(left, this);
      this.w(n);
      for (let i = 0; i < n; i++) {
        this.w(keys[i]!, codes[i]!);
        this.chainRef(chains[i]!);
      }
      return true;
    }
    if (n > INLINE_MAX) return false;
    this.w(OP_ANON_LOOKUP, cost, negate ? 1 : 0);
    encodeLoad(left, this);
    this.w(n);
    for (let i = 0; i < n; i++) this.w(keys[i]!);
    return true;
  }

  private growScratch(n: number): void {
    this.keys = new Int32Array(n);
    this.codes = new Int32Array(n);
    this.chains = new Int32Array(n);
  }
}

/** The word of a value part (read once and truncated where it is read: see lowBound). */
function valueWord(k: KeyPart): number {
  const v = (k as { v: Atom }).v;
  return typeof v === "number" ? v | 0 : intern(v);
}

/** Whether a range or prefix has number bounds (a value of strings matches nothing as a range). */
function numericBounds(p: KeyPart): boolean {
  return p.kind === "prefix" || (p.kind === "range" ? typeof p.lo === "number" && typeof p.hi === "number" : typeof p.v === "number");
}

/**
 * The inclusive bounds of a part with number bounds, as int32 words. (Words, not uint32
 * numbers: a model value may sit in a double field, and a double that leaves a function
 * costs a heap number, once per rule.)
 */
function lowBound(p: KeyPart): number {
  if (p.kind === "value") return (p.v as number) | 0;
  if (p.kind === "range") return (p.lo as number) | 0;
  return p.v & prefixMask(p.len);
}

function highBound(p: KeyPart): number {
  if (p.kind === "value") return (p.v as number) | 0;
  if (p.kind === "range") return (p.hi as number) | 0;
  const mask = prefixMask(p.len);
  return (p.v & mask) | ~mask;
}

/** Does loading `x` need conntrack (ct expressions)? */
function exprUsesCt(x: Expr): boolean {
  if (x.kind === "concat") {
    for (let i = 0; i < x.parts.length; i++) if (exprUsesCt(x.parts[i]!)) return true;
    return false;
  }
  return x.kind === "ct" || x.kind === "ctTuple" || (x.kind === "binop" && exprUsesCt(x.left));
}
