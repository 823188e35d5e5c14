/**
 * The compiled engine's index for one chain. A rule is *keyed* when it can only match
 * packets of one protocol (TCP or UDP) to one destination port, and, optionally, one
 * destination address — `-d VIP/32 -p tcp -m tcp --dport 80 …`, the shape of every
 * KUBE-SERVICES and KUBE-NODEPORTS rule. A run of consecutive keyed rules becomes a
 * segment with two hash maps: (protocol, port, address) and (protocol, port) for rules
 * without an exact address. For a packet, the maps give the only rules of the segment
 * that can match, in order; the rest are skipped.
 *
 * Skipping is exact only if a skipped rule could have had no side effect: the kernel
 * stops at a rule's first failing condition, so a keyed rule must not have a side-effect
 * match (statistic, recent, nfacct) before the match that holds its port.
 */
import type { NetfilterEnv } from "./env.js";
import type { LinkedChain } from "./linked.js";
import { ruleMatches } from "./match.js";
import type { Rule } from "./model.js";
import type { PacketContext } from "./packet-context.js";

interface RuleKey {
  proto: number;
  port: number;
  /** Exact destination, or −1 when the rule has none or a wider one (checked by the full match). */
  dst: number;
}

interface Segment {
  start: number;
  end: number;
  byAddr: Map<number, number[]>;
  byPort: Map<number, number[]>;
}

/** Protocol + port into one number: proto is 6 or 17 here. */
function portKey(proto: number, port: number): number {
  return proto * 65536 + port;
}

function addrKey(proto: number, port: number, dst: number): number {
  // dst < 2^32, (proto,port) < 2^23: the product stays below 2^53.
  return dst * 8388608 + portKey(proto, port);
}

/** The dispatch key of a rule, or null when it is not keyed. */
export function ruleKey(rule: Rule): RuleKey | null {
  const p = rule.proto;
  if (p === undefined || p.invert || (p.proto !== 6 && p.proto !== 17)) return null;
  let port = -1;
  for (const m of rule.matches) {
    if (m.module === "statistic" || m.module === "recent" || m.module === "nfacct") return null;
    if ((m.module === "tcp" || m.module === "udp") && m.dport && !m.dport.invert && m.dport.min === m.dport.max) {
      if ((m.module === "tcp") !== (p.proto === 6)) return null;
      port = m.dport.min;
      break;
    }
  }
  if (port < 0) return null;
  const d = rule.dst;
  const dst = d !== undefined && !d.invert && d.prefixLen === 32 ? d.net : -1;
  return { proto: p.proto, port, dst };
}

export class DispatchIndex {
  readonly version: number;
  /** Segment id per rule index, −1 for rules outside any segment. */
  private readonly segOf: Int32Array;
  private readonly segments: Segment[] = [];

  constructor(
    private readonly chain: LinkedChain,
    minRun: number,
  ) {
    this.version = chain.version;
    const rules = chain.rules;
    this.segOf = new Int32Array(rules.length).fill(-1);
    const keys = rules.map((lr) => ruleKey(lr.rule));
    let i = 0;
    while (i < rules.length) {
      if (keys[i] === null) {
        i++;
        continue;
      }
      let end = i;
      while (end < rules.length && keys[end] !== null) end++;
      if (end - i >= minRun) this.addSegment(i, end, keys);
      i = end;
    }
  }

  private addSegment(start: number, end: number, keys: (RuleKey | null)[]): void {
    const seg: Segment = { start, end, byAddr: new Map(), byPort: new Map() };
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

  segmentOf(ruleIndex: number): number {
    return this.segOf[ruleIndex]!;
  }

  segmentEnd(seg: number): number {
    return this.segments[seg]!.end;
  }

  /**
   * The first rule at or after `from` in the segment that matches, or −1. Candidates from
   * the two maps are merged in rule order and each is tested in full.
   */
  firstMatchInSegment(seg: number, from: number, ctx: PacketContext, env: NetfilterEnv): number {
    if (!ctx.hasPorts || ctx.fragment || (ctx.proto !== 6 && ctx.proto !== 17)) return -1;
    const s = this.segments[seg]!;
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
      if (ruleMatches(rules[r]!.rule, ctx, env)) return r;
    }
    return -1;
  }
}
