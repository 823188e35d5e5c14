/**
 * The order `nft list` prints elements in, and the interval forms it prints.
 *
 * nft sorts elements before printing (src/mergesort.c): single values by number, ranges and
 * prefixes by their low end; a concatenation by the bytes of all its parts (each in its
 * own byte order: addresses and ports big-endian, marks host-endian) read as ONE
 * host-endian (little-endian) integer — so the last byte weighs most (`udp . 1` before
 * `tcp . 22` before `udp . 53`). Found with nft 1.0.6 on x86_64.
 */
import { type DataTypeName, dataType, ipv6Groups } from "./datatypes.js";
import { prefixMask } from "./ipv4.js";
import type { Atom, KeyPart, SetElement } from "./model.js";

function atomBigint(type: DataTypeName, v: Atom): bigint {
  if (typeof v === "number") return BigInt(v >>> 0);
  if (type === "ipv6_addr") return (ipv6Groups(v) ?? []).reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
  // strings (interface names): the bytes as a host-endian number, padded to 16 bytes
  let n = 0n;
  for (let i = Math.min(v.length, 16) - 1; i >= 0; i--) n = (n << 8n) | BigInt(v.charCodeAt(i) & 255);
  return n;
}

function low(p: KeyPart): Atom {
  return p.kind === "range" ? p.lo : p.v;
}

function bytesOf(type: DataTypeName, v: Atom): number[] {
  const t = dataType(type);
  const n = atomBigint(type, v);
  const out: number[] = [];
  for (let i = 0; i < t.bytes; i++) out.push(Number((n >> BigInt(8 * (t.bytes - 1 - i))) & 255n));
  return t.order === "big" || typeof v === "string" ? out : out.reverse();
}

/** The number nft sorts a key by. */
export function sortValue(types: readonly DataTypeName[], key: readonly KeyPart[]): bigint {
  if (key.length === 1) return atomBigint(types[0]!, low(key[0]!));
  const bytes = key.flatMap((p, i) => bytesOf(types[i]!, low(p)));
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

export function sortElements(types: readonly DataTypeName[], els: SetElement[]): void {
  const keyed = els.map((e) => ({ e, k: sortValue(types, e.key) }));
  keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  keyed.forEach((x, i) => (els[i] = x.e));
}

/** How an interval set stores a part: a range that is a whole prefix prints as `a/len`, one of a single value as the value. */
export function normaliseInterval(type: DataTypeName, p: KeyPart): KeyPart {
  if (p.kind !== "range" || typeof p.lo !== "number" || typeof p.hi !== "number") return p;
  if (p.lo === p.hi) return { kind: "value", v: p.lo };
  if (type !== "ipv4_addr") return p;
  const size = p.hi - p.lo + 1;
  const len = 32 - Math.log2(size);
  if (Number.isInteger(len) && ((p.lo & prefixMask(len)) >>> 0) === p.lo) return { kind: "prefix", v: p.lo, len };
  return p;
}
