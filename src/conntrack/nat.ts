/**
 * NAT binding setup: choosing the translated tuple for a new connection, as
 * net/netfilter/nf_nat_core.c does in nf_nat_setup_info → get_unique_tuple →
 * find_appropriate_src / find_best_ips_proto / nf_nat_l4proto_unique_tuple.
 *
 * A binding is decided once per manip type, while the conn is still unconfirmed, and is
 * stored as the conn's new reply tuple: the reply a NATed packet will provoke. The packet
 * rewriting itself is in manip.ts.
 */
import type { Rng } from "../base/rng.js";
import type { NatRange } from "./nat-range.js";
import type { Conn } from "./conn.js";
import { IPS_DST_NAT, IPS_DST_NAT_DONE, IPS_SRC_NAT, IPS_SRC_NAT_DONE } from "./conn.js";
import { jhash2, rawBe32, reciprocalScale } from "./jhash.js";
import type { Tuple } from "./tuple.js";
import { IPPROTO_ICMP, copyTuple, hasPorts, invertTuple, tupleEquals } from "./tuple.js";

export type NatManip = "src" | "dst";

export interface NatFlags {
  /** `--random`: the port search starts at a per-flow hashed offset, even when the original port is free. */
  random?: boolean;
  /** `--random-fully`: the port search starts at an offset drawn from the Rng (prandom). */
  randomFully?: boolean;
  /** `--persistent`: the address choice in a range ignores the destination. */
  persistent?: boolean;
}

/** What the NAT core needs from the table. */
export interface NatEnv {
  /** nf_conntrack_tuple_taken: is `t` already a tuple (either direction) of a confirmed conn other than `ignore`? */
  tupleTaken(t: Tuple, ignore: Conn): boolean;
  /** Confirmed conns whose source was mapped, with this original (proto, src, sport) (the nat_bysource hash). */
  sameSource(t: Tuple): readonly Conn[] | undefined;
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

function toRange(r: NatRange): Range {
  const minIp = r.minIp >>> 0;
  const maxIp = (r.maxIp || r.minIp) >>> 0;
  const minPort = r.minPort;
  const maxPort = r.maxPort || r.minPort;
  return { mapIps: minIp !== 0, minIp, maxIp, protoSpecified: minPort !== 0, minPort, maxPort };
}

const MAX_ATTEMPTS = 128;

/** nf_nat_used_tuple: would the reply to `t` collide with a tracked connection? */
function used(env: NatEnv, t: Tuple, ct: Conn): boolean {
  return env.tupleTaken(invertTuple(t), ct);
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

/** find_appropriate_src: reuse the mapping an earlier conn from the same source got. */
function findAppropriateSrc(env: NatEnv, orig: Tuple, r: Range): Tuple | null {
  const list = env.sameSource(orig);
  if (!list) return null;
  for (const ct of list) {
    const o = ct.original;
    if (o.proto !== orig.proto || o.src !== orig.src || o.sport !== orig.sport) continue;
    const result = invertTuple(ct.reply);
    result.dst = orig.dst;
    result.dport = orig.dport;
    if (inRange(result, r)) return result;
  }
  return null;
}

/** find_best_ips_proto: pick the address in the range by hashing source (and destination unless persistent). */
function findBestIps(t: Tuple, r: Range, src: boolean, persistent: boolean): void {
  if (!r.mapIps) return;
  let ip: number;
  if (r.minIp === r.maxIp) {
    ip = r.minIp;
  } else {
    // The kernel hashes the 16-byte address union (IPv4 in the first word) as raw words.
    const j = jhash2([rawBe32(t.src), 0, 0, 0], persistent ? 0 : rawBe32(t.dst));
    const dist = (r.maxIp - r.minIp + 1) >>> 0;
    ip = (r.minIp + reciprocalScale(j, dist)) >>> 0;
  }
  if (src) t.src = ip;
  else t.dst = ip;
}

/** nf_nat_l4proto_unique_tuple: search the port (or ICMP id) range for a free reply tuple. */
function l4UniqueTuple(env: NatEnv, t: Tuple, r: Range, src: boolean, ct: Conn, flags: NatFlags): void {
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
  const setKey = (v: number): void => {
    if (icmp || src) t.sport = v;
    else t.dport = v;
  };
  // Starting offset (u16), as nf_nat_l4proto_unique_tuple picks it: a destination without
  // --random starts at the range's beginning (Linux ≥ 6.9); every other search starts at
  // get_random_u16() (since 6ed5943f8735 removed the rover in 4.19). Older kernels (above)
  // start at the shared rover, or with --random at secure_port's keyed hash of the flow.
  const randomAll = flags.random === true || flags.randomFully === true;
  if (env.rover !== null && !randomAll) {
    // Before 6ed5943f8735: start at the rover, walk the whole range, and leave the rover at
    // the port taken. The rover moves when the search ends, but the conn only becomes
    // visible to nf_nat_used_tuple when it is confirmed: two CPUs searching at once start
    // at the same port and pick the same one, and one of them loses at confirm.
    let roverOff = env.rover.get(t.proto) ?? 0;
    for (let i = 1; ; i++, roverOff = (roverOff + 1) & 0xffff) {
      setKey(min + (roverOff % size));
      if (i !== size && used(env, t, ct)) continue;
      env.rover.set(t.proto, roverOff);
      return;
    }
  }
  let off: number;
  if (flags.randomFully) off = env.rng.nextU32() & 0xffff;
  else if (!src && !randomAll) off = 0;
  else if (env.rover !== null) off = jhash2([rawBe32(t.src), rawBe32(t.dst), src ? t.dport : t.sport], env.secret) & 0xffff; // --random before 4.19: secure_port
  else off = env.rng.nextU32() & 0xffff; // 4.19+: get_random_u16() for every source search

  let attempts = Math.min(size, MAX_ATTEMPTS);
  for (;;) {
    for (let i = 0; i < attempts; i++, off = (off + 1) & 0xffff) {
      setKey(min + (off % size));
      if (!used(env, t, ct)) return;
    }
    if (attempts >= size || attempts < 16) return;
    attempts >>= 1;
    off = env.rng.nextU32() & 0xffff;
  }
}

/** get_unique_tuple: the original-direction tuple as it will look after this manip. */
function getUniqueTuple(env: NatEnv, orig: Tuple, r: Range, ct: Conn, src: boolean, flags: NatFlags): Tuple {
  const randomAll = flags.random === true || flags.randomFully === true;
  // 1) Source NAT: keep the tuple if it already fits, or reuse this source's existing mapping.
  if (src && !randomAll) {
    if (inRange(orig, r)) {
      if (!used(env, orig, ct)) return copyTuple(orig);
    } else {
      const found = findAppropriateSrc(env, orig, r);
      if (found && !used(env, found, ct)) return found;
    }
  }
  // 2) The address.
  const t = copyTuple(orig);
  findBestIps(t, r, src, flags.persistent === true);
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
 * confirmed conn or on a manip type already set up.
 */
export function setupNat(env: NatEnv, conn: Conn, manip: NatManip, range: NatRange | null, flags: NatFlags = {}): void {
  if (conn.confirmed) return;
  const src = manip === "src";
  const doneBit = src ? IPS_SRC_NAT_DONE : IPS_DST_NAT_DONE;
  if (conn.status & doneBit) return;
  let r: Range;
  let f = flags;
  if (range === null) {
    // Null binding: map to the address the conn already has, ports left to the protocol.
    const ip = src ? conn.reply.dst : conn.reply.src;
    r = { mapIps: true, minIp: ip, maxIp: ip, protoSpecified: false, minPort: 0, maxPort: 0 };
    f = {};
  } else {
    r = toRange(range);
  }
  const curr = invertTuple(conn.reply);
  const next = getUniqueTuple(env, curr, r, conn, src, f);
  if (!tupleEquals(next, curr)) {
    conn.reply = invertTuple(next);
    conn.status |= src ? IPS_SRC_NAT : IPS_DST_NAT;
  }
  conn.status |= doneBit;
}

/** nf_nat_initialized: has this manip type been decided for the conn? */
export function isNatDone(conn: Conn, manip: NatManip): boolean {
  return (conn.status & (manip === "src" ? IPS_SRC_NAT_DONE : IPS_DST_NAT_DONE)) !== 0;
}
