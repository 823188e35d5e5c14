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

/**
 * `sortValue` as a plain number when it fits in 48 bits (one numeric part, or a
 * concatenation of at most six bytes), else as a bigint: the same order, compared without
 * BigInt arithmetic in the common cases. Keys of one set are all one form (the set's type decides).
 */
export function sortKey(types: readonly DataTypeName[], key: readonly KeyPart[]): number | bigint {
  if (key.length === 1) {
    const v = low(key[0]!);
    return typeof v === "number" ? v >>> 0 : atomBigint(types[0]!, v);
  }
  let width = 0;
  for (const t of types) width += dataType(t).bytes;
  if (key.some((p) => typeof low(p) !== "number")) return sortValue(types, key);
  if (width > 6) return wideKey(types, key);
  // Little-endian over the concatenated bytes: the first byte weighs least.
  let n = 0;
  let weight = 1;
  for (let i = 0; i < key.length; i++) {
    const t = dataType(types[i]!);
    const v = (low(key[i]!) as number) >>> 0;
    for (let b = 0; b < t.bytes; b++) {
      // Big-endian types lay out their most significant byte first.
      const shift = t.order === "big" ? 8 * (t.bytes - 1 - b) : 8 * b;
      n += Math.floor(v / 2 ** shift) % 256 * weight;
      weight *= 256;
    }
  }
  return n;
}

/** A numeric concatenation wider than six bytes: the same number as `sortValue`, built from 48-bit pieces. */
function wideKey(types: readonly DataTypeName[], key: readonly KeyPart[]): bigint {
  const bytes: number[] = [];
  for (let i = 0; i < key.length; i++) {
    const t = dataType(types[i]!);
    const v = (low(key[i]!) as number) >>> 0;
    for (let b = 0; b < t.bytes; b++) bytes.push(Math.floor(v / 2 ** (t.order === "big" ? 8 * (t.bytes - 1 - b) : 8 * b)) % 256);
  }
  let n = 0n;
  for (let hi = bytes.length; hi > 0; hi -= 6) {
    let piece = 0;
    for (let j = hi - 1; j >= Math.max(0, hi - 6); j--) piece = piece * 256 + bytes[j]!;
    n = (n << BigInt(8 * Math.min(6, hi))) | BigInt(piece);
  }
  return n;
}

export function sortElements(types: readonly DataTypeName[], els: SetElement[]): void {
  const keyed = els.map((e) => ({ e, k: sortKey(types, e.key) }));
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
