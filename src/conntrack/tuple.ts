/**
 * Connection tuples: the five numbers that name one direction of a flow, as the kernel's
 * `struct nf_conntrack_tuple` does for IPv4 (net/netfilter/nf_conntrack_core.c
 * nf_ct_get_tuple / nf_ct_invert_tuple).
 *
 * For TCP, UDP and SCTP `sport`/`dport` are the ports. For ICMP the kernel keeps the echo
 * identifier in the source half and the message type in the destination half
 * (nf_conntrack_proto_icmp.c icmp_pkt_to_tuple): `sport` = identifier, `dport` = type. The
 * inverse of an ICMP query tuple keeps the identifier and swaps the type for its answer
 * (echo request 8 ↔ echo reply 0, timestamp, info and address requests likewise;
 * icmp_invert_tuple). Other protocols have no ports (both 0, the kernel's generic tracker).
 */
import { formatIpv4 } from "../base/ipv4-int.js";

// The protocol numbers live in wire; re-exported for conntrack's own modules and users.
import { IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from "../wire/ipv4.js";
import {
  ICMP_ADDRESS,
  ICMP_ADDRESS_REPLY,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_INFO_REPLY,
  ICMP_INFO_REQUEST,
  ICMP_TIMESTAMP,
  ICMP_TIMESTAMP_REPLY,
} from "../wire/icmp.js";
export { IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP };

export interface Tuple {
  /** Source address (unsigned 32-bit). */
  src: number;
  /** Destination address (unsigned 32-bit). */
  dst: number;
  /** IP protocol number. */
  proto: number;
  /** Source port; for ICMP the query identifier. */
  sport: number;
  /** Destination port; for ICMP the message type. */
  dport: number;
}

/**
 * ICMP query types and their answers, stored as answer + 1 so 0 means "no inverse"
 * (the kernel's `invmap` in nf_conntrack_proto_icmp.c).
 */
const ICMP_INVMAP = new Uint8Array(19);
ICMP_INVMAP[ICMP_ECHO_REQUEST] = ICMP_ECHO_REPLY + 1;
ICMP_INVMAP[ICMP_ECHO_REPLY] = ICMP_ECHO_REQUEST + 1;
ICMP_INVMAP[ICMP_TIMESTAMP] = ICMP_TIMESTAMP_REPLY + 1;
ICMP_INVMAP[ICMP_TIMESTAMP_REPLY] = ICMP_TIMESTAMP + 1;
ICMP_INVMAP[ICMP_INFO_REQUEST] = ICMP_INFO_REPLY + 1;
ICMP_INVMAP[ICMP_INFO_REPLY] = ICMP_INFO_REQUEST + 1;
ICMP_INVMAP[ICMP_ADDRESS] = ICMP_ADDRESS_REPLY + 1; // address mask request → reply
ICMP_INVMAP[ICMP_ADDRESS_REPLY] = ICMP_ADDRESS + 1;

/** The answer type of an ICMP query type, or -1 when the type has none (errors, unknown types). */
export function icmpInverseType(type: number): number {
  return type < ICMP_INVMAP.length ? ICMP_INVMAP[type]! - 1 : -1;
}

/** ICMP types that may start a connection (nf_conntrack_proto_icmp.c `valid_new`). */
export function icmpValidNew(type: number): boolean {
  return type === ICMP_ECHO_REQUEST || type === ICMP_TIMESTAMP || type === ICMP_INFO_REQUEST || type === ICMP_ADDRESS;
}

/** True when `invertTuple` can invert `t` (always, except ICMP types with no answer). */
export function isInvertible(t: Tuple): boolean {
  return t.proto !== IPPROTO_ICMP || icmpInverseType(t.dport) >= 0;
}

/**
 * The tuple of the other direction. For ICMP the identifier stays and the type becomes its
 * answer; throws a RangeError for an ICMP type without one (check `isInvertible` first).
 */
export function invertTuple(t: Tuple): Tuple {
  if (t.proto === IPPROTO_ICMP) {
    const inv = icmpInverseType(t.dport);
    if (inv < 0) throw new RangeError(`icmp type ${t.dport} has no inverse`);
    return { src: t.dst, dst: t.src, proto: t.proto, sport: t.sport, dport: inv };
  }
  return { src: t.dst, dst: t.src, proto: t.proto, sport: t.dport, dport: t.sport };
}

/** Same as `invertTuple`: the reply direction's tuple for an original-direction tuple (and back). */
export const reply = invertTuple;

export function tupleEquals(a: Tuple, b: Tuple): boolean {
  return a.src === b.src && a.dst === b.dst && a.proto === b.proto && a.sport === b.sport && a.dport === b.dport;
}

export function copyTuple(t: Tuple): Tuple {
  return { src: t.src, dst: t.dst, proto: t.proto, sport: t.sport, dport: t.dport };
}

/**
 * A 32-bit hash of the five fields (murmur3's 32-bit mixing steps, seed `seed`). Equal
 * tuples hash equal; callers compare the fields on a hash hit, since different tuples may
 * collide. Takes numbers so the hot path can hash straight from packet bytes.
 */
export function hash5(src: number, dst: number, proto: number, sport: number, dport: number, seed = 0): number {
  let h = seed | 0;
  h = mix(h, src | 0);
  h = mix(h, dst | 0);
  h = mix(h, ((sport & 0xffff) << 16) | (dport & 0xffff));
  h = mix(h, proto & 0xff);
  h ^= 16;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The low 30 bits of `hash5`: the same bucket in any table of up to 2^30 buckets, and always
 * a small integer, which V8 passes and stores without a heap number (a u32 above 2^30 needs
 * one wherever it leaves optimised code). The conntrack table hashes with this.
 */
export function hash5Small(src: number, dst: number, proto: number, sport: number, dport: number, seed: number): number {
  let h = seed | 0;
  h = mix(h, src | 0);
  h = mix(h, dst | 0);
  h = mix(h, ((sport & 0xffff) << 16) | (dport & 0xffff));
  h = mix(h, proto & 0xff);
  return fmix32(h ^ 16) & 0x3fffffff;
}

/** murmur3's finaliser: every input bit reaches every output bit. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * The conntrack table's bucket hash (the kernel's hash_conntrack_raw is a seeded siphash;
 * any well-spread seeded hash gives the same behaviour): the five fields folded into one
 * word by multiply-xor steps, then murmur3's finaliser. A third of `hash5Small`'s
 * multiplies, for the one hash every packet pays; the low 30 bits, as `hash5Small`.
 */
export function connHash(src: number, dst: number, proto: number, sport: number, dport: number, seed: number): number {
  let h = Math.imul(seed ^ src, 0xcc9e2d51) ^ dst;
  h = Math.imul(h, 0x1b873593) ^ ((sport << 16) | (dport & 0xffff));
  h = Math.imul(h, 0x9e3779b1) ^ (proto & 0xff);
  return fmix32(h) & 0x3fffffff;
}

function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** The numeric hash key of a tuple (see `hash5`). */
export function tupleKey(t: Tuple, seed = 0): number {
  return hash5(t.src, t.dst, t.proto, t.sport, t.dport, seed);
}

/** Protocol names as conntrack(8) prints them. */
export function protoName(proto: number): string {
  switch (proto) {
    case IPPROTO_TCP:
      return "tcp";
    case IPPROTO_UDP:
      return "udp";
    case IPPROTO_ICMP:
      return "icmp";
    case 47:
      return "gre";
    case 132:
      return "sctp";
    case 33:
      return "dccp";
    case 136:
      return "udplite";
    default:
      return "unknown";
  }
}

/**
 * One direction as conntrack(8) prints it: `src=A dst=B sport=P dport=Q` (TCP/UDP),
 * `src=A dst=B type=T code=0 id=I` (ICMP; the code is not tracked and printed as 0),
 * or just the addresses for other protocols.
 */
export function formatTuple(t: Tuple): string {
  const addrs = `src=${formatIpv4(t.src)} dst=${formatIpv4(t.dst)}`;
  if (t.proto === IPPROTO_ICMP) return `${addrs} type=${t.dport} code=0 id=${t.sport}`;
  if (hasPorts(t.proto)) return `${addrs} sport=${t.sport} dport=${t.dport}`;
  return addrs;
}

/** Protocols whose tuples carry ports here (TCP, UDP and SCTP; everything else is tracked generically). */
export function hasPorts(proto: number): boolean {
  return proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP;
}
