/**
 * Address parts of ipset entries: a plain address, an address span (`A`, `A/n`, `A-B`) for
 * ip dimensions that expand into one element per address, and networks for net dimensions
 * (`A` = /32, `A/n` with host bits cleared, `A-B` split into the fewest CIDRs).
 */
import { parseIpv4, prefixMask } from "../../base/ipv4-int.js";
import { ipsetError } from "./errors.js";

/** The kernel's IPSET_MAX_RANGE here: most elements one add/del may expand into. */
export const MAX_EXPANSION = 1 << 20;

export interface AddrSpan {
  first: number;
  last: number;
}

export interface Net {
  net: number;
  cidr: number;
}

export function parsePlainAddr(text: string, what: string): number {
  const ip = parseIpv4(text);
  if (ip < 0) {
    const plain = text.includes("/") || text.includes("-");
    throw ipsetError(
      "E_IPSET_ENTRY",
      plain ? `${what} must be a plain IPv4 address, not ${JSON.stringify(text)}` : `${JSON.stringify(text)} is not an IPv4 address`,
      plain ? "this dimension of the set holds single addresses" : "write a dotted quad such as 10.96.0.1",
      "entry",
    );
  }
  return ip;
}

function parsePrefixLen(text: string, whole: string): number {
  if (!/^[0-9]{1,2}$/.test(text) || Number(text) < 1 || Number(text) > 32) {
    throw ipsetError("E_IPSET_ENTRY", `invalid prefix length in ${JSON.stringify(whole)}`, "use a prefix length from 1 to 32", "entry");
  }
  return Number(text);
}

/** `A`, `A/n` or `A-B` as an inclusive address span (a reversed range is swapped). */
export function parseAddrSpan(text: string): AddrSpan {
  const slash = text.indexOf("/");
  if (slash >= 0) {
    const ip = parsePlainAddr(text.slice(0, slash), "the address");
    const mask = prefixMask(parsePrefixLen(text.slice(slash + 1), text));
    const first = (ip & mask) >>> 0;
    return { first, last: (first | ~mask) >>> 0 };
  }
  const dash = text.indexOf("-");
  if (dash >= 0) {
    const a = parsePlainAddr(text.slice(0, dash), "the address");
    const b = parsePlainAddr(text.slice(dash + 1), "the address");
    return a <= b ? { first: a, last: b } : { first: b, last: a };
  }
  const ip = parsePlainAddr(text, "the address");
  return { first: ip, last: ip };
}

/** The fewest CIDRs covering first..last, in address order. */
export function spanToNets(first: number, last: number): Net[] {
  const nets: Net[] = [];
  let at = first;
  while (at <= last) {
    let cidr = 32;
    // Widen while the block stays aligned at `at` and inside the span.
    while (cidr > 0) {
      const size = 2 ** (33 - cidr);
      if (at % size !== 0 || at + size - 1 > last) break;
      cidr--;
    }
    nets.push({ net: at, cidr });
    at += 2 ** (32 - cidr);
  }
  return nets;
}

/** A net dimension: `A`, `A/n` (1..32; host bits cleared) or `A-B`. */
export function parseNets(text: string): Net[] {
  const slash = text.indexOf("/");
  if (slash >= 0) {
    const ip = parsePlainAddr(text.slice(0, slash), "the network");
    const cidr = parsePrefixLen(text.slice(slash + 1), text);
    return [{ net: (ip & prefixMask(cidr)) >>> 0, cidr }];
  }
  const span = parseAddrSpan(text);
  if (span.first === span.last) return [{ net: span.first, cidr: 32 }];
  const nets = spanToNets(span.first, span.last);
  if (nets.some((n) => n.cidr === 0)) {
    throw ipsetError("E_IPSET_ENTRY", `${JSON.stringify(text)} covers every address`, "a net entry needs a prefix length from 1 to 32", "entry");
  }
  return nets;
}
