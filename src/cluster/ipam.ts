/**
 * Address bookkeeping for cluster configuration: strict CIDR parsing, overlap and containment
 * checks (through ip-num, as configuration validation should be), and a sequential pool that
 * hands out the lowest free number in a range the way host-local IPAM hands out Pod IPs.
 * None of this runs per packet.
 */
import { IPv4CidrRange, Validator } from "ip-num";
import { formatCidr, parseCidr, parseIpv4, prefixMask, type Ipv4Cidr } from "../base/index.js";

export type CidrParseResult =
  | { ok: true; cidr: Ipv4Cidr }
  | { ok: false; reason: "syntax" }
  | { ok: false; reason: "host-bits"; network: Ipv4Cidr };

/**
 * Parses `a.b.c.d/n`. Both ip-num and the base parser must accept the text, so odd spellings
 * one of them tolerates (leading zeros, spaces) are rejected. Host bits set is its own result
 * so the caller can suggest the network address.
 */
export function parseCidrText(text: string): CidrParseResult {
  const loose = parseCidr(text, false);
  if (!loose || !ipNumAccepts(() => Validator.isValidIPv4CidrNotation(text))) {
    return { ok: false, reason: "syntax" };
  }
  if (!ipNumAccepts(() => Validator.isValidIPv4CidrRange(text))) {
    return { ok: false, reason: "host-bits", network: loose };
  }
  return { ok: true, cidr: loose };
}

/** Parses a dotted-quad address; -1 when it is not one. */
export function parseIpText(text: string): number {
  const ip = parseIpv4(text);
  if (ip < 0 || !ipNumAccepts(() => Validator.isValidIPv4String(text))) return -1;
  return ip;
}

function ipNumAccepts(check: () => [boolean, string[]]): boolean {
  try {
    return check()[0];
  } catch {
    return false;
  }
}

function toRange(cidr: Ipv4Cidr): IPv4CidrRange {
  return IPv4CidrRange.fromCidr(formatCidr(cidr));
}

export function cidrsOverlap(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return toRange(a).isOverlapping(toRange(b));
}

/** True when every address of `inner` is inside `outer`. */
export function cidrWithin(inner: Ipv4Cidr, outer: Ipv4Cidr): boolean {
  return toRange(outer).contains(toRange(inner));
}

/** Number of addresses in a CIDR (2^32 for /0, so a plain number, not an int32). */
export function cidrSize(cidr: Ipv4Cidr): number {
  return 2 ** (32 - cidr.prefixLen);
}

export function broadcastOf(cidr: Ipv4Cidr): number {
  return cidr.net + cidrSize(cidr) - 1;
}

/** The `index`-th subnet of size `/prefixLen` inside `outer` (no range check). */
export function nthSubnet(outer: Ipv4Cidr, prefixLen: number, index: number): Ipv4Cidr {
  const net = outer.net + index * 2 ** (32 - prefixLen);
  return { net, prefixLen, mask: prefixMask(prefixLen) };
}

/** Which `/prefixLen` subnet of `outer` holds `inner` (caller checked containment). */
export function subnetIndex(outer: Ipv4Cidr, prefixLen: number, inner: Ipv4Cidr): number {
  return Math.floor((inner.net - outer.net) / 2 ** (32 - prefixLen));
}

/**
 * Hands out integers from `first..last` lowest first, skipping ones reserved up front.
 * Reserving outside the range is allowed (it just never matters to `next`).
 */
export class SequentialPool {
  private readonly taken = new Set<number>();
  private cursor: number;

  constructor(
    readonly first: number,
    readonly last: number,
  ) {
    this.cursor = first;
  }

  isTaken(n: number): boolean {
    return this.taken.has(n);
  }

  reserve(n: number): void {
    this.taken.add(n);
  }

  /** The lowest free number, now taken; undefined when the range is used up. */
  next(): number | undefined {
    while (this.cursor <= this.last && this.taken.has(this.cursor)) this.cursor++;
    if (this.cursor > this.last) return undefined;
    const n = this.cursor++;
    this.taken.add(n);
    return n;
  }
}
