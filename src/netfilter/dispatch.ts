/**
 * The compiled engine's index for one chain: runs of rules that can be decided without
 * walking them one object at a time.
 *
 * **Keyed runs.** A rule is *keyed* when it can only match packets of one protocol (TCP,
 * UDP or SCTP) to one destination port, and optionally one destination address:
 * `-d VIP/32 -p tcp -m tcp --dport 80 …`, the shape of every KUBE-SERVICES and
 * KUBE-NODEPORTS rule. A run of keyed rules becomes two hash maps, by (protocol, port,
 * address) and by (protocol, port); for a packet they give the only rules of the run that
 * can match, in order, and each of those is then tested in full. Keys are 32-bit hashes
 * (small integers for the VM): a collision only adds a candidate that the full test
 * rejects. Skipping is exact only if a skipped rule could have had no side effect: the
 * kernel stops at a rule's first failing condition, so a keyed rule must not have a
 * side-effect match (statistic, recent, nfacct) before the match that holds its port.
 *
 * **Flat predicates.** Any other rule whose conditions are only addresses, protocol, ports
 * and a mark (KUBE-SVC's masquerade rule, KUBE-SEP's two) is copied into one typed array,
 * so testing it reads a few adjacent numbers instead of a tree of objects — at tens of
 * thousands of chains the cache misses, not the comparisons, are the cost.
 *
 * **Split runs.** A run of rules with no conditions but a comment and at most one
 * `statistic --mode random` — kube-proxy's KUBE-SVC endpoint rules — becomes arrays of
 * thresholds: the walk draws exactly as the kernel does (one draw per rule evaluated) but
 * touches only the arrays until a rule matches.
 */
import type { NetfilterEnv } from "./env.js";
import type { LinkedChain } from "./linked.js";
import { ruleMatches, statisticThreshold } from "./match.js";
import type { Rule } from "./model.js";
import type { PacketContext } from "./packet-context.js";

interface RuleKey {
  proto: number;
  port: number;
  /** Exact destination, or −1 when the rule has none or a wider one (checked by the full match). */
  dst: number;
}

interface KeyedSegment {
  kind: "keyed";
  start: number;
  end: number;
  byAddr: Map<number, number[]>;
  byPort: Map<number, number[]>;
}

interface SplitSegment {
  kind: "split";
  start: number;
  end: number;
  /** Per rule: the statistic threshold (0x80000000·p), or −1 for a rule that always matches. */
  threshold: Float64Array;
  /** Per rule: the probability as written, for a chooser (trace enumeration). */
  probability: Float64Array;
  invert: Uint8Array;
}

type Segment = KeyedSegment | SplitSegment;

/** The IP protocol a port match module reads (tcp 6, udp 17, sctp 132). */
function l4ProtoOf(module: "tcp" | "udp" | "sctp"): number {
  return module === "tcp" ? 6 : module === "udp" ? 17 : 132;
}

/** Protocol + port into one small number: proto is 6, 17 or 132 here. */
function portKey(proto: number, port: number): number {
  return proto * 65536 + port;
}

/** A 32-bit hash of (protocol, port, address); collisions are resolved by the full match. */
function addrKey(proto: number, port: number, dst: number): number {
  return (Math.imul(dst | 0, 0x9e3779b1) ^ portKey(proto, port)) | 0;
}

/** The dispatch key of a rule, or null when it is not keyed. */
export function ruleKey(rule: Rule): RuleKey | null {
  const p = rule.proto;
  if (p === undefined || p.invert || (p.proto !== 6 && p.proto !== 17 && p.proto !== 132)) return null;
  let port = -1;
  for (const m of rule.matches) {
    if (m.module === "statistic" || m.module === "recent" || m.module === "nfacct") return null;
    if ((m.module === "tcp" || m.module === "udp" || m.module === "sctp") && m.dport && !m.dport.invert && m.dport.min === m.dport.max) {
      if (l4ProtoOf(m.module) !== p.proto) return null;
      port = m.dport.min;
      break;
    }
  }
  if (port < 0) return null;
  const d = rule.dst;
  const dst = d !== undefined && !d.invert && d.prefixLen === 32 ? d.net : -1;
  return { proto: p.proto, port, dst };
}

/** Whether a rule is a pure (possibly random) split: nothing to test but a statistic draw. */
function isSplitRule(rule: Rule): boolean {
  if (rule.src || rule.dst || rule.inIface || rule.outIface || rule.proto || rule.fragment) return false;
  let stats = 0;
  for (const m of rule.matches) {
    if (m.module === "comment") continue;
    if (m.module === "statistic" && m.mode === "random") {
      stats++;
      continue;
    }
    return false;
  }
  return stats <= 1;
}

// Flat predicate layout: STRIDE int32 slots per rule.
const STRIDE = 12;
const F_SRC = 1;
const F_SRC_INV = 2;
const F_DST = 4;
const F_DST_INV = 8;
const F_PROTO = 16;
const F_PROTO_INV = 32;
const F_L4 = 64;
const F_SPORT = 128;
const F_SPORT_INV = 256;
const F_DPORT = 512;
const F_DPORT_INV = 1024;
const F_MARK = 2048;
const F_MARK_INV = 4096;

/** Writes a rule's conditions into `flat[at..at+STRIDE)`; false when the rule has other conditions. */
function flatten(rule: Rule, flat: Int32Array, at: number): boolean {
  if (rule.inIface || rule.outIface || rule.fragment) return false;
  let f = 0;
  if (rule.src) {
    f |= F_SRC | (rule.src.invert ? F_SRC_INV : 0);
    flat[at + 1] = rule.src.net | 0;
    flat[at + 2] = rule.src.mask | 0;
  }
  if (rule.dst) {
    f |= F_DST | (rule.dst.invert ? F_DST_INV : 0);
    flat[at + 3] = rule.dst.net | 0;
    flat[at + 4] = rule.dst.mask | 0;
  }
  if (rule.proto && rule.proto.proto !== 0) {
    f |= F_PROTO | (rule.proto.invert ? F_PROTO_INV : 0);
    flat[at + 5] = rule.proto.proto;
  }
  let l4 = 0;
  for (const m of rule.matches) {
    if (m.module === "comment") continue;
    if ((m.module === "sctp" || ((m.module === "tcp" || m.module === "udp") && !m.tcpFlags)) && l4 === 0) {
      l4 = l4ProtoOf(m.module);
      f |= F_L4;
      flat[at + 6] = l4;
      if (m.sport) {
        f |= F_SPORT | (m.sport.invert ? F_SPORT_INV : 0);
        flat[at + 7] = (m.sport.min << 16) | m.sport.max;
      }
      if (m.dport) {
        f |= F_DPORT | (m.dport.invert ? F_DPORT_INV : 0);
        flat[at + 8] = (m.dport.min << 16) | m.dport.max;
      }
      continue;
    }
    if (m.module === "mark" && (f & F_MARK) === 0) {
      f |= F_MARK | (m.invert ? F_MARK_INV : 0);
      flat[at + 9] = m.value | 0;
      flat[at + 10] = m.mask | 0;
      continue;
    }
    return false;
  }
  flat[at] = f;
  return true;
}

export class DispatchIndex {
  readonly version: number;
  /** Segment id per rule index, −1 for rules outside any segment. */
  private readonly segOf: Int32Array;
  private readonly segments: Segment[] = [];
  /** Flat predicates (see `flatten`) of rules outside split runs; `hasFlat[j]` says which. */
  private readonly flat: Int32Array;
  private readonly hasFlat: Uint8Array;

  constructor(
    private readonly chain: LinkedChain,
    readonly minRun: number,
  ) {
    this.version = chain.version;
    const rules = chain.rules;
    this.segOf = new Int32Array(rules.length).fill(-1);
    this.flat = new Int32Array(rules.length * STRIDE);
    this.hasFlat = new Uint8Array(rules.length);
    const keys = rules.map((lr) => ruleKey(lr.rule));
    const split = rules.map((lr) => isSplitRule(lr.rule));
    let i = 0;
    while (i < rules.length) {
      if (keys[i] !== null) {
        let end = i;
        while (end < rules.length && keys[end] !== null) end++;
        if (end - i >= minRun) this.addKeyed(i, end, keys);
        i = end;
      } else if (split[i]) {
        let end = i;
        while (end < rules.length && split[end]) end++;
        if (end - i >= 2) this.addSplit(i, end);
        i = end;
      } else {
        i++;
      }
    }
    for (let r = 0; r < rules.length; r++) {
      // Split-run rules never reach a full test; every other rule may.
      const seg = this.segOf[r]!;
      if ((seg === -1 || this.segments[seg]!.kind === "keyed") && flatten(rules[r]!.rule, this.flat, r * STRIDE)) this.hasFlat[r] = 1;
    }
  }

  /** Whether rule `j` has a flat predicate. */
  isFlat(j: number): boolean {
    return this.hasFlat[j] === 1;
  }

  /** Evaluates rule `j`'s flat predicate: the same answer `ruleMatches` gives for it. */
  matchFlat(j: number, ctx: PacketContext): boolean {
    const a = this.flat;
    const o = j * STRIDE;
    const f = a[o]!;
    if (f & F_SRC && (((ctx.src & a[o + 2]!) | 0) === a[o + 1]) === ((f & F_SRC_INV) !== 0)) return false;
    if (f & F_DST && (((ctx.dst & a[o + 4]!) | 0) === a[o + 3]) === ((f & F_DST_INV) !== 0)) return false;
    if (f & F_PROTO && (ctx.proto === a[o + 5]) === ((f & F_PROTO_INV) !== 0)) return false;
    if (f & F_L4) {
      if (ctx.fragment || !ctx.hasPorts || ctx.proto !== a[o + 6]) return false;
      if (f & F_SPORT) {
        const r = a[o + 7]!;
        if ((ctx.sport >= r >>> 16 && ctx.sport <= (r & 0xffff)) === ((f & F_SPORT_INV) !== 0)) return false;
      }
      if (f & F_DPORT) {
        const r = a[o + 8]!;
        if ((ctx.dport >= r >>> 16 && ctx.dport <= (r & 0xffff)) === ((f & F_DPORT_INV) !== 0)) return false;
      }
    }
    if (f & F_MARK && (((ctx.mark & a[o + 10]!) | 0) === a[o + 9]) === ((f & F_MARK_INV) !== 0)) return false;
    return true;
  }

  private addKeyed(start: number, end: number, keys: (RuleKey | null)[]): void {
    const seg: KeyedSegment = { kind: "keyed", start, end, byAddr: new Map(), byPort: new Map() };
    const id = this.segments.length;
    for (let r = start; r < end; r++) {
      const k = keys[r]!;
      const map = k.dst >= 0 ? seg.byAddr : seg.byPort;
      const key = k.dst >= 0 ? addrKey(k.proto, k.port, k.dst) : portKey(k.proto, k.port);
      const list = map.get(key);
      if (list) list.push(r);
      else map.set(key, [r]);
      this.segOf[r] = id;
    }
    this.segments.push(seg);
  }

  private addSplit(start: number, end: number): void {
    const n = end - start;
    const seg: SplitSegment = { kind: "split", start, end, threshold: new Float64Array(n), probability: new Float64Array(n), invert: new Uint8Array(n) };
    const id = this.segments.length;
    for (let r = start; r < end; r++) {
      const stat = this.chain.rules[r]!.rule.matches.find((m) => m.module === "statistic");
      const k = r - start;
      if (stat && stat.module === "statistic" && stat.mode === "random") {
        seg.threshold[k] = statisticThreshold(stat.probability);
        seg.probability[k] = stat.probability;
        seg.invert[k] = stat.invert ? 1 : 0;
      } else {
        seg.threshold[k] = -1;
      }
      this.segOf[r] = id;
    }
    this.segments.push(seg);
  }

  segmentOf(ruleIndex: number): number {
    return this.segOf[ruleIndex]!;
  }

  segmentEnd(seg: number): number {
    return this.segments[seg]!.end;
  }

  /** The first rule at or after `from` in the segment that matches, or −1. */
  firstMatchInSegment(seg: number, from: number, ctx: PacketContext, env: NetfilterEnv): number {
    const s = this.segments[seg]!;
    return s.kind === "keyed" ? this.firstKeyed(s, from, ctx, env) : firstSplit(s, from, env);
  }

  private firstKeyed(s: KeyedSegment, from: number, ctx: PacketContext, env: NetfilterEnv): number {
    if (!ctx.hasPorts || ctx.fragment || (ctx.proto !== 6 && ctx.proto !== 17 && ctx.proto !== 132)) return -1;
    const a = s.byAddr.get(addrKey(ctx.proto, ctx.dport, ctx.dst));
    const b = s.byPort.get(portKey(ctx.proto, ctx.dport));
    let ia = 0;
    let ib = 0;
    const la = a === undefined ? 0 : a.length;
    const lb = b === undefined ? 0 : b.length;
    const rules = this.chain.rules;
    while (ia < la || ib < lb) {
      let r: number;
      if (ib >= lb || (ia < la && a![ia]! < b![ib]!)) r = a![ia++]!;
      else r = b![ib++]!;
      if (r < from) continue;
      if (this.hasFlat[r] === 1 ? this.matchFlat(r, ctx) : ruleMatches(rules[r]!.rule, ctx, env)) return r;
    }
    return -1;
  }
}

/** Walks a split run drawing as xt_statistic would, one draw per rule with a statistic. */
function firstSplit(s: SplitSegment, from: number, env: NetfilterEnv): number {
  for (let r = from; r < s.end; r++) {
    const k = r - s.start;
    const th = s.threshold[k]!;
    if (th < 0) return r;
    let hit: boolean;
    if (env.chooser !== null) hit = env.chooser(s.probability[k]!);
    else hit = env.rng.nextU31() < th;
    if (hit !== (s.invert[k] === 1)) return r;
  }
  return -1;
}
