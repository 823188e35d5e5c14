/**
 * The few DER encodings (ITU-T X.690 §8, §10) an X.509 certificate needs: definite lengths,
 * minimal INTEGERs, OBJECT IDENTIFIERs, strings, times, BIT/OCTET STRINGs and tagged wrappers.
 * Each returns the complete TLV as bytes; `concat` joins them.
 */

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A TLV with `tag` (one byte: class, constructed bit and number ≤ 30) around `content`. */
export function tlv(tag: number, content: Uint8Array): Uint8Array {
  const n = content.length;
  let head: number[];
  if (n < 0x80) head = [tag, n];
  else {
    // Long form (§8.1.3.5): 0x80 | number of length bytes, then the length big-endian.
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    head = [tag, 0x80 | bytes.length, ...bytes];
  }
  return concat([Uint8Array.from(head), content]);
}

export const sequence = (...items: Uint8Array[]): Uint8Array => tlv(0x30, concat(items));
export const set = (...items: Uint8Array[]): Uint8Array => tlv(0x31, concat(items));
/** `[n] EXPLICIT`: a constructed context-specific tag around a whole TLV. */
export const explicit = (n: number, inner: Uint8Array): Uint8Array => tlv(0xa0 | n, inner);
/** `[n] IMPLICIT` of a primitive type: the context-specific tag replaces the type's own. */
export const implicitPrimitive = (n: number, content: Uint8Array): Uint8Array => tlv(0x80 | n, content);

export function boolean(v: boolean): Uint8Array {
  return tlv(0x01, Uint8Array.of(v ? 0xff : 0x00));
}

/** An INTEGER from unsigned big-endian bytes: leading zeros dropped, a 0x00 added when the top bit is set (§8.3.2). */
export function unsignedInteger(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const body = bytes.length === 0 ? Uint8Array.of(0) : bytes.subarray(i);
  return tlv(0x02, body[0]! & 0x80 ? concat([Uint8Array.of(0), body]) : body);
}

export function smallInteger(v: number): Uint8Array {
  if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new RangeError(`smallInteger: ${v}`);
  const bytes: number[] = [];
  for (let x = v; x > 0; x = Math.floor(x / 256)) bytes.unshift(x & 0xff);
  return unsignedInteger(Uint8Array.from(bytes.length === 0 ? [0] : bytes));
}

/** OBJECT IDENTIFIER from dotted text (§8.19): first two arcs folded into one, base-128 arcs. */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map((a) => {
    if (!/^\d+$/.test(a)) throw new RangeError(`oid: bad arc in ${dotted}`);
    return Number(a);
  });
  if (arcs.length < 2) throw new RangeError(`oid: ${dotted} needs two arcs`);
  const out: number[] = [];
  const values = [arcs[0]! * 40 + arcs[1]!, ...arcs.slice(2)];
  for (const v of values) {
    const groups: number[] = [v & 0x7f];
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) groups.unshift((x & 0x7f) | 0x80);
    out.push(...groups);
  }
  return tlv(0x06, Uint8Array.from(out));
}

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0x7f);

export const utf8String = (s: string): Uint8Array => tlv(0x0c, new TextEncoder().encode(s));
export const ia5String = (s: string): Uint8Array => tlv(0x16, ascii(s));
export const octetString = (b: Uint8Array): Uint8Array => tlv(0x04, b);
/** BIT STRING of whole bytes: no unused bits. */
export const bitString = (b: Uint8Array, unusedBits = 0): Uint8Array => tlv(0x03, concat([Uint8Array.of(unusedBits), b]));

/**
 * A certificate Time (RFC 5280 §4.1.2.5): UTCTime (YYMMDDHHMMSSZ) through 2049,
 * GeneralizedTime (YYYYMMDDHHMMSSZ) from 2050 on.
 */
export function x509Time(d: Date): Uint8Array {
  const p2 = (n: number): string => String(n).padStart(2, "0");
  const rest = `${p2(d.getUTCMonth() + 1)}${p2(d.getUTCDate())}${p2(d.getUTCHours())}${p2(d.getUTCMinutes())}${p2(d.getUTCSeconds())}Z`;
  const y = d.getUTCFullYear();
  if (y >= 1950 && y < 2050) return tlv(0x17, ascii(`${p2(y % 100)}${rest}`));
  return tlv(0x18, ascii(`${String(y).padStart(4, "0")}${rest}`));
}
