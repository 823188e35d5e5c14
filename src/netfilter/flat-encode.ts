/**
 * One rule of a compiled table as a short record of int32 words in the table's Int32Array,
 * so the packet path reads a rule's test, conditions and target from adjacent numbers
 * instead of a tree of objects, and counts into the same cache lines. Records start at even
 * words and have even lengths. A rule's record is
 *
 *   OP                  test (T_*, bits 0–1), how a keyed-run member is tested (bits 2–3),
 *                       target (K_*, bits 4–7), predicate flags (F_*, bits 8–22), record
 *                       length in words (bits 24–28), offset of the predicate (bits 29–31)
 *   NEXT_SLOT NEXT_OFF  only in keyed-run members (test T_KEYED): the next rule of the same
 *                       key, by slot and word offset (−1 at the end)
 *   target arguments    jump/goto: the chain id, and its first slot and word offset when the
 *                       record was written (a chain written again later leaves a forward at
 *                       its old place); MARK: value, mask; NAT, REJECT, LOG: the index of the
 *                       target object in the table's `targets` (so a first packet's DNAT
 *                       is one read away, not two)
 *   predicate words     in flag order: src net, mask; dst net, mask; protocol (bits 0–7) with
 *                       the port match's protocol (bits 8–15); sport and dport ranges
 *                       (min << 16 | max); mark value, mask; statistic threshold
 *   (a padding word to an even length)
 *   counters            packets and bytes as two Float64 values (four words), the last words
 *                       of the record: Float64 index (o + length) / 2 − 2
 *
 * In a chain's body, a keyed run is one two-word *stub* record (test T_KEYED, then the run's
 * id): the walk looks the packet up there. The members' own records are reached only through
 * the run's hash tables, so they are stored next to the chain they jump to. A chain ends in
 * a tail record: its policy with the policy counters (built-in chains), or the return to the
 * caller (user chains, two words, no counters).
 *
 * A rule whose conditions are only addresses, protocol, ports, a mark and a trailing
 * `statistic --mode random` is *flat*: its record alone decides it, in the kernel's order (the
 * draw comes last, so it happens exactly when the kernel's would). Any other rule is tested in
 * full with `ruleMatches` on its model object.
 */
import type { Rule, TargetSpec } from "./model.js";

/** The longest record: OP, two keyed words, three target words, ten predicate words, a pad, counters (20 words). */
export const MAX_RECORD = 20;
/** Words of a record's counters. */
export const COUNTER_WORDS = 4;

/** Float64 index of the packets counter of the record at `o` with OP word `op`. */
export function counterIndex(o: number, op: number): number {
  return ((o + ((op >>> 24) & 31)) >>> 1) - 2;
}

// How a record is tested (OP bits 0–1; bits 2–3 say how a keyed-run member is tested).
export const T_FLAT = 0;
export const T_FULL = 1;
/** A keyed-run stub in a chain's body, or (in a member's record) a member of a keyed run. */
export const T_KEYED = 2;
/** The slot after a chain's last rule: falling off the chain. */
export const T_TAIL = 3;

// Targets (OP bits 4–7).
export const K_NONE = 0;
export const K_ACCEPT = 1;
export const K_DROP = 2;
export const K_REJECT = 3;
export const K_NAT = 4;
export const K_RETURN = 5;
export const K_JUMP = 6;
export const K_GOTO = 7;
export const K_MARK = 8;
export const K_LOG = 9;
export const K_TRACE = 10;
export const K_NOTRACK = 11;
/** Tail of a built-in chain: its policy. */
export const K_POLICY = 12;
/** Tail of a user chain: back to the caller. */
export const K_FALLOFF = 13;
/** At the old place of a chain written again: go on at the chain's current place (its id in OP bits 8–31). */
export const K_FORWARD = 14;

// Predicate flags (OP bits 8–22, read as (op >>> 8) & F_ALL).
export const F_SRC = 1;
export const F_SRC_INV = 2;
export const F_DST = 4;
export const F_DST_INV = 8;
export const F_PROTO = 16;
export const F_PROTO_INV = 32;
export const F_L4 = 64;
export const F_SPORT = 128;
export const F_SPORT_INV = 256;
export const F_DPORT = 512;
export const F_DPORT_INV = 1024;
export const F_MARK = 2048;
export const F_MARK_INV = 4096;
export const F_STAT = 8192;
export const F_STAT_INV = 16384;
export const F_ALL = 0x7fff;

/** Keyed-run member words after OP. */
export const KEYED_WORDS = 2;

/** The IP protocol a port match module reads (tcp 6, udp 17, sctp 132). */
export function l4ProtoOf(module: "tcp" | "udp" | "sctp"): number {
  return module === "tcp" ? 6 : module === "udp" ? 17 : 132;
}

/** A rule's keyed-run key: one protocol, one destination port, optionally one destination address. */
export interface RuleKey {
  proto: number;
  port: number;
  /** Exact destination, or −1 when the rule has none or a wider one (checked by the full test). */
  dst: number;
}

/**
 * The key of a rule that can only match packets of one protocol (TCP, UDP, SCTP) to one
 * destination port — `-d VIP/32 -p tcp -m tcp --dport 80 …`, every KUBE-SERVICES and
 * KUBE-NODEPORTS rule — or null. Skipping such rules by key is exact only if a skipped rule
 * could have had no side effect: the kernel stops at a rule's first failing condition, so
 * no statistic, recent or nfacct match may come before the match that holds the port.
 */
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

function targetKind(rule: Rule): number {
  const t = rule.target;
  switch (t.kind) {
    case "ACCEPT":
      return K_ACCEPT;
    case "DROP":
      return K_DROP;
    case "REJECT":
      return K_REJECT;
    case "DNAT":
    case "SNAT":
    case "MASQUERADE":
      return K_NAT;
    case "RETURN":
      return K_RETURN;
    case "jump":
      return K_JUMP;
    case "goto":
      return K_GOTO;
    case "MARK":
      return K_MARK;
    case "LOG":
      return K_LOG;
    case "TRACE":
      return K_TRACE;
    case "NOTRACK":
      return K_NOTRACK;
    case "CT":
      return t.notrack ? K_NOTRACK : K_NONE;
    case "NONE":
      return K_NONE;
  }
}

/**
 * Writes `rule`'s record at `rec[o…]` and returns its length in words. `keyed`: the rule is a
 * keyed-run member (its NEXT words are filled by the run). `rec` must have MAX_RECORD words
 * free at `o`.
 */
export function encodeRule(rule: Rule, rec: Int32Array, o: number, keyed: boolean, to: EncodeTargets): number {
  let p = o + 1;
  if (keyed) {
    rec[p] = -1;
    rec[p + 1] = -1;
    p += KEYED_WORDS;
  }
  const kind = targetKind(rule);
  const t = rule.target;
  if (t.kind === "jump" || t.kind === "goto") {
    to.jumps.push(p);
    rec[p++] = to.chainId(t.chain);
    rec[p++] = -1;
    rec[p++] = -1;
  } else if (t.kind === "MARK") {
    rec[p++] = t.value | 0;
    rec[p++] = t.mask | 0;
  } else if (kind === K_NAT || kind === K_REJECT || kind === K_LOG) {
    rec[p++] = to.targetId(t);
  }
  const predOff = p - o;
  const flags = encodePredicate(rule, rec, p);
  const flat = flags >= 0;
  let len = flat ? predOff + predicateWords(flags) : predOff;
  if (len & 1) rec[o + len++] = 0;
  rec[o + len] = rec[o + len + 1] = rec[o + len + 2] = rec[o + len + 3] = 0;
  len += COUNTER_WORDS;
  const test = flat ? T_FLAT : T_FULL;
  rec[o] = (keyed ? T_KEYED : test) | (test << 2) | (kind << 4) | ((flat ? flags : 0) << 8) | (len << 24) | (predOff << 29);
  return len;
}

/** How a record refers to things outside the words: chains, target objects. */
export interface EncodeTargets {
  /** The id of a user chain (throws for a missing one). */
  chainId(name: string): number;
  /** Offsets of jump/goto arguments: their slot and offset words are filled once every chain has its place. */
  jumps: number[];
  /** The index of a target object in the table's `targets`. */
  targetId(t: TargetSpec): number;
}

/** A keyed run's stub in its chain's body (two words: OP, run id). */
export function encodeStub(rec: Int32Array, o: number, segId: number): number {
  rec[o] = T_KEYED | (2 << 24);
  rec[o + 1] = segId;
  return 2;
}

/** A chain's tail record: its policy with the policy counters (built-in), or the return to the caller. */
export function encodeTail(rec: Int32Array, o: number, builtin: boolean): number {
  const len = builtin ? 2 + COUNTER_WORDS : 2;
  for (let k = 1; k < len; k++) rec[o + k] = 0;
  rec[o] = T_TAIL | ((builtin ? K_POLICY : K_FALLOFF) << 4) | (len << 24);
  return len;
}

/** Overwrites the first word of a dead chain body with a forward to chain `id`'s current place. */
export function encodeForward(rec: Int32Array, o: number, id: number): void {
  rec[o] = T_TAIL | (K_FORWARD << 4) | (id << 8);
}

/** Words the predicate of `flags` takes. */
export function predicateWords(flags: number): number {
  let n = 0;
  if (flags & F_SRC) n += 2;
  if (flags & F_DST) n += 2;
  if (flags & (F_PROTO | F_L4)) n++;
  if (flags & F_SPORT) n++;
  if (flags & F_DPORT) n++;
  if (flags & F_MARK) n += 2;
  if (flags & F_STAT) n++;
  return n;
}

/**
 * Writes a rule's conditions at `rec[p…]` in flag order and returns the flags, or −1 when
 * the rule has conditions a record cannot hold (interfaces, fragments, other matches, a
 * statistic that is not the last condition).
 */
function encodePredicate(rule: Rule, rec: Int32Array, p: number): number {
  if (rule.inIface || rule.outIface || rule.fragment) return -1;
  let f = 0;
  let proto = 0;
  if (rule.proto && rule.proto.proto !== 0) {
    f |= F_PROTO | (rule.proto.invert ? F_PROTO_INV : 0);
    proto = rule.proto.proto;
  }
  let l4 = 0;
  let sport = 0;
  let dport = 0;
  let markValue = 0;
  let markMask = 0;
  let threshold = 0;
  const ms = rule.matches;
  for (let k = 0; k < ms.length; k++) {
    const m = ms[k]!;
    if (m.module === "comment") continue;
    if (f & F_STAT) return -1; // only a trailing statistic keeps the kernel's order of draws
    if ((m.module === "sctp" || ((m.module === "tcp" || m.module === "udp") && !m.tcpFlags)) && l4 === 0) {
      l4 = l4ProtoOf(m.module);
      f |= F_L4;
      if (m.sport) {
        f |= F_SPORT | (m.sport.invert ? F_SPORT_INV : 0);
        sport = (m.sport.min << 16) | m.sport.max;
      }
      if (m.dport) {
        f |= F_DPORT | (m.dport.invert ? F_DPORT_INV : 0);
        dport = (m.dport.min << 16) | m.dport.max;
      }
      continue;
    }
    if (m.module === "mark" && (f & F_MARK) === 0) {
      f |= F_MARK | (m.invert ? F_MARK_INV : 0);
      markValue = m.value | 0;
      markMask = m.mask | 0;
      continue;
    }
    if (m.module === "statistic" && m.mode === "random") {
      f |= F_STAT | (m.invert ? F_STAT_INV : 0);
      threshold = Math.round(0x80000000 * m.probability) | 0; // xt_statistic's lround(0x80000000 * p)
      continue;
    }
    return -1;
  }
  if (rule.src) {
    f |= F_SRC | (rule.src.invert ? F_SRC_INV : 0);
    rec[p++] = rule.src.net | 0;
    rec[p++] = rule.src.mask | 0;
  }
  if (rule.dst) {
    f |= F_DST | (rule.dst.invert ? F_DST_INV : 0);
    rec[p++] = rule.dst.net | 0;
    rec[p++] = rule.dst.mask | 0;
  }
  if (f & (F_PROTO | F_L4)) rec[p++] = proto | (l4 << 8);
  if (f & F_SPORT) rec[p++] = sport;
  if (f & F_DPORT) rec[p++] = dport;
  if (f & F_MARK) {
    rec[p++] = markValue;
    rec[p++] = markMask;
  }
  if (f & F_STAT) rec[p++] = threshold;
  return f;
}

/** The probability of a flat rule's trailing statistic match (for a chooser). */
export function statisticProbability(rule: Rule): number {
  for (const m of rule.matches) if (m.module === "statistic" && m.mode === "random") return m.probability;
  return 1;
}
