/**
 * NAT binding setup: choosing the translated tuple for a new connection, as
 * net/netfilter/nf_nat_core.c does in nf_nat_setup_info → get_unique_tuple →
 * find_appropriate_src / find_best_ips_proto / nf_nat_l4proto_unique_tuple.
 *
 * A binding is decided once per manip type, while the conn is still unconfirmed, and is
 * stored as the conn's new reply tuple: the reply a NATed packet will provoke. The packet
 * rewriting itself is in manip.ts.
 *
 * The search works in scratch tuples and ranges of this module (setup never re-enters
 * itself) and asks the table about tuples with numbers, so a binding allocates nothing but
 * the conn's new reply tuple when the binding changes it.
 */
import type { Rng } from "../base/rng.js";
import type { NatRange } from "./nat-range.js";
import type { Conn } from "./conn.js";
import { IPS_DST_NAT, IPS_DST_NAT_DONE, IPS_SRC_NAT, IPS_SRC_NAT_DONE } from "./conn.js";
import { jhash3, jhash4, rawBe32, reciprocalScale } from "./jhash.js";
import type { Tuple } from "./tuple.js";
import { IPPROTO_ICMP, hasPorts, icmpInverseType } from "./tuple.js";

export type NatManip = "src" | "dst";

export interface NatFlags {
  /** `--random`: the port search starts at a per-flow hashed offset, even when the original port is free. */
  random?: boolean;
  /** `--random-fully`: the port search starts at an offset drawn from the Rng (prandom). */
  randomFully?: boolean;
  /** `--persistent`: the address choice in a range ignores the destination. */
  persistent?: boolean;
}

/** NatFlags as bits (NF_NAT_RANGE_PROTO_RANDOM, _PROTO_RANDOM_FULLY, _PERSISTENT). */
export const NAT_F_RANDOM = 1;
export const NAT_F_RANDOM_FULLY = 2;
export const NAT_F_PERSISTENT = 4;

export function natFlagBits(f: NatFlags): number {
  return (f.random === true ? NAT_F_RANDOM : 0) | (f.randomFully === true ? NAT_F_RANDOM_FULLY : 0) | (f.persistent === true ? NAT_F_PERSISTENT : 0);
}

/** What the NAT core needs from the table. */
export interface NatEnv {
  /** nf_conntrack_tuple_taken: is this tuple (addresses as int32) already a tuple (either direction) of a confirmed conn other than `ignore`? */
  tupleTaken(src: number, dst: number, proto: number, sport: number, dport: number, ignore: Conn): boolean;
  /**
   * The nat_bysource hash: the first confirmed, source-mapped conn with this original
   * (protocol, source, source port), as a slot for `connAt`, or -1; `sourceNext` the one after.
   */
  sourceFirst(proto: number, src: number, sport: number): number;
  sourceNext(slot: number, proto: number, src: number, sport: number): number;
  connAt(slot: number): Conn;
  rng: Rng;
  /** Per-table secret for the hashed port offset (the kernel keys its hashes with a boot-time secret). */
  secret: number;
  /**
   * Kernels before 4.19 (kernel.ts): the per-protocol port rover every CPU shares, by
   * protocol number; null on later kernels.
   */
  rover: Map<number, number> | null;
}

/** nf_nat_range2 as flags and bounds (NF_NAT_RANGE_MAP_IPS, NF_NAT_RANGE_PROTO_SPECIFIED). */
interface Range {
  mapIps: boolean;
  minIp: number;
  maxIp: number;
  protoSpecified: boolean;
  minPort: number;
  maxPort: number;
}

const MAX_ATTEMPTS = 128;

// Scratch state of the one setup in progress.
const range: Range = { mapIps: false, minIp: 0, maxIp: 0, protoSpecified: false, minPort: 0, maxPort: 0 };
/** The original-direction tuple as it is now (the inverse of the conn's reply). */
const curr: Tuple = { src: 0, dst: 0, proto: 0, sport: 0, dport: 0 };
/** The candidate being built. */
const cand: Tuple = { src: 0, dst: 0, proto: 0, sport: 0, dport: 0 };

function setTuple(t: Tuple, src: number, dst: number, proto: number, sport: number, dport: number): void {
  t.src = src;
  t.dst = dst;
  t.proto = proto;
  t.sport = sport;
  t.dport = dport;
}

/** Loads `out` with the inverse of `t` (tuple.ts invertTuple, without a new object; same RangeError for an ICMP type without an answer). */
function invertInto(out: Tuple, t: Tuple): void {
  if (t.proto === IPPROTO_ICMP) {
    const inv = icmpInverseType(t.dport);
    if (inv < 0) throw new RangeError(`icmp type ${t.dport} has no inverse`);
    setTuple(out, t.dst, t.src, t.proto, t.sport, inv);
    return;
  }
  setTuple(out, t.dst, t.src, t.proto, t.dport, t.sport);
}

/** nf_nat_used_tuple: would the reply to `t` collide with a tracked connection? */
function used(env: NatEnv, t: Tuple, ct: Conn): boolean {
  if (t.proto === IPPROTO_ICMP) {
    const inv = icmpInverseType(t.dport);
    if (inv < 0) throw new RangeError(`icmp type ${t.dport} has no inverse`);
    return env.tupleTaken(t.dst | 0, t.src | 0, t.proto, t.sport, inv, ct);
  }
  return env.tupleTaken(t.dst | 0, t.src | 0, t.proto, t.dport, t.sport, ct);
}

/** l4proto_in_range: the per-protocol part of `t` (source or destination side) within the range. */
function l4InRange(t: Tuple, src: boolean, r: Range): boolean {
  let v: number;
  if (t.proto === IPPROTO_ICMP) v = t.sport;
  else if (hasPorts(t.proto)) v = src ? t.sport : t.dport;
  else return true;
  const lo = Math.min(r.minPort, r.maxPort);
  const hi = Math.max(r.minPort, r.maxPort);
  return v >= lo && v <= hi;
}

/** in_range: would source-mapping to `t` satisfy the range? */
function inRange(t: Tuple, r: Range): boolean {
  if (r.mapIps && !(t.src >= r.minIp && t.src <= r.maxIp)) return false;
  if (!r.protoSpecified) return true;
  return l4InRange(t, true, r);
}

/**
 * find_appropriate_src: reuse the mapping an earlier conn from the same source got. Leaves it
 * in `out` and returns true, or returns false.
 */
function findAppropriateSrc(env: NatEnv, orig: Tuple, r: Range, out: Tuple): boolean {
  const src32 = orig.src | 0;
  for (let s = env.sourceFirst(orig.proto, src32, orig.sport); s >= 0; s = env.sourceNext(s, orig.proto, src32, orig.sport)) {
    const ct = env.connAt(s);
    const o = ct.original;
    if (o.proto !== orig.proto || o.src !== orig.src || o.sport !== orig.sport) continue;
    invertInto(out, ct.reply);
    out.dst = orig.dst;
    out.dport = orig.dport;
    if (inRange(out, r)) return true;
  }
  return false;
}

/** find_best_ips_proto: pick the address in the range by hashing source (and destination unless persistent). */
function findBestIps(t: Tuple, r: Range, src: boolean, persistent: boolean): void {
  if (!r.mapIps) return;
  let ip: number;
  if (r.minIp === r.maxIp) {
    ip = r.minIp;
  } else {
    // The kernel hashes the 16-byte address union (IPv4 in the first word) as raw words.
    const j = jhash4(rawBe32(t.src), 0, 0, 0, persistent ? 0 : rawBe32(t.dst));
    const dist = (r.maxIp - r.minIp + 1) >>> 0;
    ip = (r.minIp + reciprocalScale(j, dist)) >>> 0;
  }
  if (src) t.src = ip;
  else t.dst = ip;
}

/** The port (or ICMP id) a search changes: the ICMP id, the source port, or the destination port. */
function setKey(t: Tuple, icmpOrSrc: boolean, v: number): void {
  if (icmpOrSrc) t.sport = v;
  else t.dport = v;
}

/** nf_nat_l4proto_unique_tuple: search the port (or ICMP id) range for a free reply tuple. */
function l4UniqueTuple(env: NatEnv, t: Tuple, r: Range, src: boolean, ct: Conn, flags: number): void {
  let min: number;
  let size: number;
  const icmp = t.proto === IPPROTO_ICMP;
  if (icmp) {
    if (!r.protoSpecified) {
      min = 0;
      size = 65536;
    } else {
      min = r.minPort;
      size = r.maxPort - r.minPort + 1;
    }
  } else if (hasPorts(t.proto)) {
    if (!r.protoSpecified) {
      if (!src) return; // a destination port is never changed without a port range
      const port = t.sport;
      if (port < 1024) {
        // Loose convention: below 512 is credential passing.
        if (port < 512) {
          min = 1;
          size = 511;
        } else {
          min = 600;
          size = 1023 - 600 + 1;
        }
      } else {
        min = 1024;
        size = 65535 - 1024 + 1;
      }
    } else {
      min = Math.min(r.minPort, r.maxPort);
      size = Math.max(r.minPort, r.maxPort) - min + 1;
    }
  } else {
    return;
  }
  const keySrc = icmp || src;
  // Starting offset (u16), as nf_nat_l4proto_unique_tuple picks it: a destination without
  // --random starts at the range's beginning (Linux ≥ 6.9); every other search starts at
  // get_random_u16() (since 6ed5943f8735 removed the rover in 4.19). Older kernels (above)
  // start at the shared rover, or with --random at secure_port's keyed hash of the flow.
  const randomFully = (flags & NAT_F_RANDOM_FULLY) !== 0;
  const randomAll = (flags & (NAT_F_RANDOM | NAT_F_RANDOM_FULLY)) !== 0;
  if (env.rover !== null && !randomAll) {
    // Before 6ed5943f8735: start at the rover, walk the whole range, and leave the rover at
    // the port taken. The rover moves when the search ends, but the conn only becomes
    // visible to nf_nat_used_tuple when it is confirmed: two CPUs searching at once start
    // at the same port and pick the same one, and one of them loses at confirm.
    let roverOff = env.rover.get(t.proto) ?? 0;
    for (let i = 1; ; i++, roverOff = (roverOff + 1) & 0xffff) {
      setKey(t, keySrc, min + (roverOff % size));
      if (i !== size && used(env, t, ct)) continue;
      env.rover.set(t.proto, roverOff);
      return;
    }
  }
  let off: number;
  if (randomFully) off = env.rng.nextU32() & 0xffff;
  else if (!src && !randomAll) off = 0;
  else if (env.rover !== null) off = jhash3(rawBe32(t.src), rawBe32(t.dst), src ? t.dport : t.sport, env.secret) & 0xffff; // --random before 4.19: secure_port
  else off = env.rng.nextU32() & 0xffff; // 4.19+: get_random_u16() for every source search

  let attempts = Math.min(size, MAX_ATTEMPTS);
  for (;;) {
    for (let i = 0; i < attempts; i++, off = (off + 1) & 0xffff) {
      setKey(t, keySrc, min + (off % size));
      if (!used(env, t, ct)) return;
    }
    if (attempts >= size || attempts < 16) return;
    attempts >>= 1;
    off = env.rng.nextU32() & 0xffff;
  }
}

/**
 * get_unique_tuple: the original-direction tuple as it will look after this manip, for the
 * current one `orig`. Returns `orig` itself when it stays, else `cand` (both scratch).
 */
function getUniqueTuple(env: NatEnv, orig: Tuple, r: Range, ct: Conn, src: boolean, flags: number): Tuple {
  const randomAll = (flags & (NAT_F_RANDOM | NAT_F_RANDOM_FULLY)) !== 0;
  // 1) Source NAT: keep the tuple if it already fits, or reuse this source's existing mapping.
  if (src && !randomAll) {
    if (inRange(orig, r)) {
      if (!used(env, orig, ct)) return orig;
    } else if (findAppropriateSrc(env, orig, r, cand) && !used(env, cand, ct)) {
      return cand;
    }
  }
  // 2) The address.
  const t = cand;
  setTuple(t, orig.src, orig.dst, orig.proto, orig.sport, orig.dport);
  findBestIps(t, r, src, (flags & NAT_F_PERSISTENT) !== 0);
  // 3) Keep the port when it is in range and unique (or the range is a single port).
  if (!randomAll) {
    if (r.protoSpecified) {
      if (l4InRange(t, src, r) && (r.minPort === r.maxPort || !used(env, t, ct))) return t;
    } else if (!used(env, t, ct)) {
      return t;
    }
  }
  l4UniqueTuple(env, t, r, src, ct, flags);
  return t;
}

/**
 * nf_nat_setup_info (with nf_nat_alloc_null_binding for a null range). No effect on a
 * confirmed conn or on a manip type already set up. `flags`: NAT_F_* bits.
 */
export function setupNat(env: NatEnv, conn: Conn, manip: NatManip, r: NatRange | null, flags = 0): void {
  if (r === null) setupNullBinding(env, conn, manip === "src");
  else setupNatRange(env, conn, manip === "src", r.minIp, r.maxIp, r.minPort, r.maxPort, flags);
}

/** setupNat with the range as numbers (0 = not given, as in NatRange). */
export function setupNatRange(env: NatEnv, conn: Conn, src: boolean, minIp: number, maxIp: number, minPort: number, maxPort: number, flags: number): void {
  if (conn.confirmed || conn.status & (src ? IPS_SRC_NAT_DONE : IPS_DST_NAT_DONE)) return;
  range.minIp = minIp >>> 0;
  range.maxIp = (maxIp || minIp) >>> 0;
  range.mapIps = range.minIp !== 0;
  range.minPort = minPort;
  range.maxPort = maxPort || minPort;
  range.protoSpecified = minPort !== 0;
  bind(env, conn, src, flags);
}

/** nf_nat_alloc_null_binding: map to the address the conn already has, ports left to the protocol. */
function setupNullBinding(env: NatEnv, conn: Conn, src: boolean): void {
  if (conn.confirmed || conn.status & (src ? IPS_SRC_NAT_DONE : IPS_DST_NAT_DONE)) return;
  const ip = src ? conn.reply.dst : conn.reply.src;
  range.mapIps = true;
  range.minIp = ip;
  range.maxIp = ip;
  range.protoSpecified = false;
  range.minPort = 0;
  range.maxPort = 0;
  bind(env, conn, src, 0);
}

/**
 * The binding for `range`: a changed tuple becomes the conn's reply tuple — written into the
 * one it has when only the packet path knows the conn, a new object when a caller may hold
 * the old one (Conn.escaped).
 */
function bind(env: NatEnv, conn: Conn, src: boolean, flags: number): void {
  invertInto(curr, conn.reply);
  const next = getUniqueTuple(env, curr, range, conn, src, flags);
  if (next !== curr && !(next.src === curr.src && next.dst === curr.dst && next.proto === curr.proto && next.sport === curr.sport && next.dport === curr.dport)) {
    if (conn.escaped) conn.reply = { src: 0, dst: 0, proto: 0, sport: 0, dport: 0 };
    invertInto(conn.reply, next);
    conn.status |= src ? IPS_SRC_NAT : IPS_DST_NAT;
  }
  conn.status |= src ? IPS_SRC_NAT_DONE : IPS_DST_NAT_DONE;
}

/** nf_nat_initialized: has this manip type been decided for the conn? */
export function isNatDone(conn: Conn, manip: NatManip): boolean {
  return (conn.status & (manip === "src" ? IPS_SRC_NAT_DONE : IPS_DST_NAT_DONE)) !== 0;
}
