/**
 * A ruleset compiled for evaluation. Tables of family ip and inet take part (an IPv4
 * packet traverses both); ip6 tables are kept in the model and ignored here, as are
 * dormant tables. Base chains are grouped per hook and sorted by priority — filter (and
 * route) chains run at their own priority, nat chains are consulted by the NAT core (see
 * the glue) — and every rule is a flat array of statement closures.
 */
import type { NatRange } from "../conntrack/index.js";
import { type ExprFn, RT, compileExpr, compileKey, exprCost } from "./compile-expr.js";
import { prefixMask } from "./ipv4.js";
import type { Atom, Hook, KeyPart, NftChain, NftRule, NftRuleset, NftTable, RelOp, SetElement, SetRef, Stmt, Verdict } from "./model.js";
import { HOOKS } from "./model.js";
import { NFT_CT_UNTRACKED } from "./packet.js";
import { RuntimeSet, partMatches } from "./sets-runtime.js";

// Statement results: go on with the next statement, end the rule (NFT_BREAK), or a verdict.
export const NFT_CONTINUE = 0;
export const NFT_BREAK = 1;
export const NFT_ACCEPT = 2;
export const NFT_DROP = 3;
export const NFT_RETURN = 4;
export const NFT_JUMP = 5;
export const NFT_GOTO = 6;

export interface CompiledVerdict {
  code: number;
  chain: CompiledChain | null;
}

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
  nat: NftNat | null = null;
  notrack = false;
  ctMarkSet = false;
  /** Rules and expressions the kernel evaluated in this traversal. */
  rules = 0;
  exprs = 0;
  /** Scratch: the chain of a jump/goto verdict. */
  target: CompiledChain | null = null;
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
    this.target = null;
    this.hits = tracing ? [] : null;
    return this;
  }
}

export type StmtFn = (r: NftResult) => number;

export interface CompiledRule {
  stmts: StmtFn[];
  /** Kernel expressions per statement (counted as each runs). */
  costs: number[];
  src: NftRule;
}

export interface CompiledChain {
  table: NftTable;
  name: string;
  src: NftChain;
  rules: CompiledRule[];
  /** Base chains: where and when they run. */
  hook?: Hook;
  type?: "filter" | "nat" | "route";
  priority: number;
  policy: number;
}

export interface CompiledNft {
  /** Filter/route base chains per hook, by priority (ties: table, then chain creation order). */
  filter: Record<Hook, CompiledChain[]>;
  /** nat base chains per hook, by priority. */
  nat: Record<Hook, CompiledChain[]>;
  /** Named sets per table (`family name`) then set name, kept to carry dynamic elements over a reload. */
  sets: Map<string, Map<string, RuntimeSet<CompiledVerdict>>>;
  /** Does any rule need connection tracking (nat chains, ct expressions)? */
  needsConntrack: boolean;
  /** Total rules in the evaluated tables. */
  ruleCount: number;
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

export function compileRuleset(rs: NftRuleset, previous: CompiledNft | null = null, nowNs = 0): CompiledNft {
  const out: CompiledNft = { filter: emptyHooks(), nat: emptyHooks(), sets: new Map(), needsConntrack: false, ruleCount: 0 };
  for (const t of rs.tables) {
    if (t.family === "ip6" || t.flags.includes("dormant")) continue;
    new TableCompiler(t, out, previous?.sets.get(`${t.family} ${t.name}`) ?? null, nowNs).run();
  }
  for (const h of HOOKS) {
    // Array.prototype.sort is stable: equal priorities keep creation order (the kernel
    // places a hook registered later after earlier ones of the same priority).
    out.filter[h].sort((a, b) => a.priority - b.priority);
    out.nat[h].sort((a, b) => a.priority - b.priority);
  }
  return out;
}

class TableCompiler {
  private readonly chains = new Map<string, CompiledChain>();
  private readonly sets = new Map<string, RuntimeSet<CompiledVerdict>>();

  constructor(
    private readonly t: NftTable,
    private readonly out: CompiledNft,
    private readonly previousSets: Map<string, RuntimeSet<CompiledVerdict>> | null,
    private readonly nowNs: number,
  ) {}

  run(): void {
    const t = this.t;
    for (const c of t.chains.values()) {
      const cc: CompiledChain = { table: t, name: c.name, src: c, rules: [], priority: c.base?.priority ?? 0, policy: c.base?.policy === "drop" ? NFT_DROP : NFT_ACCEPT };
      if (c.base) {
        cc.hook = c.base.hook;
        cc.type = c.base.type;
        if (c.base.type === "nat") {
          this.out.nat[c.base.hook].push(cc);
          this.out.needsConntrack = true;
        } else this.out.filter[c.base.hook].push(cc);
      }
      this.chains.set(c.name, cc);
    }
    // Sets after chains: verdict maps name chains.
    for (const s of t.sets.values()) {
      const rs = RuntimeSet.fromModel(s, (e) => this.elementVerdict(e));
      const prev = this.previousSets?.get(s.name);
      if (prev) rs.adoptDynamic(prev, this.nowNs);
      this.sets.set(s.name, rs);
    }
    this.out.sets.set(`${t.family} ${t.name}`, this.sets);
    for (const cc of this.chains.values()) {
      cc.rules = cc.src.rules.map((r) => this.rule(r));
      this.out.ruleCount += cc.rules.length;
    }
  }

  private elementVerdict(e: SetElement): CompiledVerdict | null {
    if (!e.data || e.data.kind !== "verdict") return null;
    return this.verdict(e.data.verdict);
  }

  private verdict(v: Verdict): CompiledVerdict {
    const chain = v.kind === "jump" || v.kind === "goto" ? (this.chains.get(v.chain) ?? null) : null;
    return { code: VERDICT_CODE[v.kind]!, chain };
  }

  private set(ref: SetRef, dims: number): RuntimeSet<CompiledVerdict> {
    if (ref.kind === "named") {
      const s = this.sets.get(ref.name);
      if (!s) throw new Error(`set ${ref.name} does not exist in table ${this.t.name}`);
      return s;
    }
    return new RuntimeSet<CompiledVerdict>("<anonymous>", dims, ref.elements, (e) => this.elementVerdict(e));
  }

  private rule(r: NftRule): CompiledRule {
    const stmts: StmtFn[] = [];
    const costs: number[] = [];
    for (const s of r.stmts) {
      stmts.push(this.stmt(s));
      costs.push(stmtCost(s));
      if (usesConntrack(s)) this.out.needsConntrack = true;
    }
    return { stmts, costs, src: r };
  }

  private stmt(s: Stmt): StmtFn {
    switch (s.kind) {
      case "match":
        return compileMatch(s.left.kind === "concat" ? compileKey(s.left) : [compileExpr(s.left)], s.op, s.right);
      case "lookup": {
        const parts = compileKey(s.left);
        const set = this.set(s.set, parts.length);
        const read = (i: number): Atom | undefined => parts[i]!();
        const negate = s.negate;
        return () => ((set.lookup(read, RT.env!.clock.now()) !== undefined) !== negate ? NFT_CONTINUE : NFT_BREAK);
      }
      case "vmap": {
        const parts = compileKey(s.left);
        const set = this.set(s.map, parts.length);
        const read = (i: number): Atom | undefined => parts[i]!();
        return (r) => {
          const el = set.lookup(read, RT.env!.clock.now());
          if (el === undefined || el.data === null) return NFT_BREAK;
          r.target = el.data.chain;
          return el.data.code;
        };
      }
      case "verdict": {
        const v = this.verdict(s.verdict);
        if ((v.code === NFT_JUMP || v.code === NFT_GOTO) && v.chain === null) throw new Error(`chain ${(s.verdict as { chain: string }).chain} does not exist`);
        return (r) => {
          r.target = v.chain;
          return v.code;
        };
      }
      case "counter": {
        // The counter lives in the model, so `nft list ruleset` shows it.
        const c = s;
        return () => {
          c.packets++;
          c.bytes += RT.p.len;
          return NFT_CONTINUE;
        };
      }
      case "set": {
        const value: ExprFn = "v" in s.value && s.value.kind === "const" ? ((v: number) => () => v)(s.value.v) : compileExpr(s.value as never);
        if (s.target.kind === "meta") {
          return () => {
            const v = value();
            if (v === undefined) return NFT_BREAK;
            RT.p.mark = (v as number) >>> 0;
            return NFT_CONTINUE;
          };
        }
        return (r) => {
          const v = value();
          if (v === undefined || !RT.p.hasCt) return NFT_BREAK;
          RT.p.ctMark = (v as number) >>> 0;
          r.ctMarkSet = true;
          return NFT_CONTINUE;
        };
      }
      case "nat": {
        const nat = natOf(s);
        // nft_nat_eval binds at once and returns NF_ACCEPT: the rule's verdict ends the chain.
        return (r) => {
          r.nat = nat;
          return NFT_ACCEPT;
        };
      }
      case "masquerade": {
        const nat: NftNat = { kind: "MASQUERADE", range: null, random: s.flags.includes("random"), randomFully: s.flags.includes("fully-random"), persistent: s.flags.includes("persistent") };
        return (r) => {
          r.nat = nat;
          return NFT_ACCEPT;
        };
      }
      case "reject": {
        const w = s.with;
        const rej: NftReject = !w ? { tcpReset: false, code: 3 } : w.type === "tcp reset" ? { tcpReset: true, code: 3 } : { tcpReset: false, code: REJECT_ICMP[w.code] ?? 3 };
        // nft_reject_ipv4_eval sends the error and sets NF_DROP.
        return (r) => {
          r.reject = rej;
          return NFT_DROP;
        };
      }
      case "log":
        return () => NFT_CONTINUE; // nft_log: the line goes to the kernel log; traces show the rule
      case "notrack":
        return (r) => {
          r.notrack = true;
          RT.p.ctState = NFT_CT_UNTRACKED;
          return NFT_CONTINUE;
        };
      case "dynset": {
        const set = this.sets.get(s.set);
        if (!set) throw new Error(`set ${s.set} does not exist`);
        const parts = compileKey(s.key);
        const read = (i: number): Atom | undefined => parts[i]!();
        const { op, timeout } = s;
        return () => {
          set.dynset(op, read, RT.env!.clock.now(), timeout);
          return NFT_CONTINUE;
        };
      }
    }
  }
}

function natOf(s: Extract<Stmt, { kind: "nat" }>): NftNat {
  const range: NatRange = { minIp: 0, maxIp: 0, minPort: 0, maxPort: 0 };
  if (s.addr) {
    const [lo, hi] = keyBounds(s.addr);
    range.minIp = lo;
    range.maxIp = hi;
  }
  if (s.port) {
    const [lo, hi] = keyBounds(s.port);
    range.minPort = lo;
    range.maxPort = hi;
  }
  return { kind: s.type === "dnat" ? "DNAT" : "SNAT", range, random: s.flags.includes("random"), randomFully: s.flags.includes("fully-random"), persistent: s.flags.includes("persistent") };
}

function keyBounds(p: KeyPart): [number, number] {
  if (p.kind === "value") return [p.v as number, p.v as number];
  if (p.kind === "range") return [p.lo as number, p.hi as number];
  const mask = prefixMask(p.len);
  return [(p.v & mask) >>> 0, ((p.v & mask) | ~mask) >>> 0];
}

/** `left op right`: nft_cmp (==, !=, <, …), nft_range, or a bitmask test for implicit ct state/status matches. */
function compileMatch(parts: ExprFn[], op: RelOp, right: KeyPart[]): StmtFn {
  if (op === "implicit") {
    // nft turns `ct state established,related` into `ct state & (established|related) != 0`.
    const f = parts[0]!;
    const bits = right.reduce((m, k) => m | (k.kind === "value" ? (k.v as number) : 0), 0);
    return () => {
      const v = f();
      return v !== undefined && ((v as number) & bits) !== 0 ? NFT_CONTINUE : NFT_BREAK;
    };
  }
  if (parts.length === 1) {
    const f = parts[0]!;
    const k = right[0]!;
    if (k.kind === "value") {
      const c = k.v;
      switch (op) {
        case "==":
          return () => (f() === c ? NFT_CONTINUE : NFT_BREAK);
        case "!=":
          return () => {
            const v = f();
            return v !== undefined && v !== c ? NFT_CONTINUE : NFT_BREAK;
          };
        default: {
          const cmp = CMP[op]!;
          return () => {
            const v = f();
            return v !== undefined && cmp(v as number, c as number) ? NFT_CONTINUE : NFT_BREAK;
          };
        }
      }
    }
    const neq = op === "!=";
    return () => {
      const v = f();
      return v !== undefined && partMatches(k, v) !== neq ? NFT_CONTINUE : NFT_BREAK;
    };
  }
  // A concatenation compared with one concatenated value.
  const neq = op === "!=";
  return () => {
    let all = true;
    for (let i = 0; i < parts.length; i++) {
      const v = parts[i]!();
      if (v === undefined) return NFT_BREAK;
      if (!partMatches(right[i]!, v)) all = false;
    }
    return all !== neq ? NFT_CONTINUE : NFT_BREAK;
  };
}

const CMP: Partial<Record<RelOp, (a: number, b: number) => boolean>> = {
  "<": (a, b) => a < b,
  ">": (a, b) => a > b,
  "<=": (a, b) => a <= b,
  ">=": (a, b) => a >= b,
};

function exprOf(s: Stmt) {
  return s.kind === "match" || s.kind === "lookup" || s.kind === "vmap" ? s.left : s.kind === "dynset" ? s.key : null;
}

/** Kernel expressions a statement takes: its loads plus the cmp/lookup/verdict/action itself. */
function stmtCost(s: Stmt): number {
  const e = exprOf(s);
  let n = e ? exprCost(e) + 1 : 1;
  if (s.kind === "set" && !("v" in s.value && s.value.kind === "const")) n += exprCost(s.value as never);
  return n;
}

function usesConntrack(s: Stmt): boolean {
  const e = exprOf(s);
  const ct = (x: typeof e): boolean => x !== null && (x.kind === "ct" || x.kind === "ctTuple" || (x.kind === "concat" && x.parts.some(ct)) || (x.kind === "binop" && ct(x.left)));
  return ct(e) || s.kind === "nat" || s.kind === "masquerade" || (s.kind === "set" && s.target.kind === "ct");
}
