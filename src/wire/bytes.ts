/**
 * Big-endian reads and writes straight on bytes, so views allocate nothing per packet.
 * Callers have already bounds-checked (see each view's `checkLen`).
 */
import { WireError } from "../base/errors.js";

export function get16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

export function set16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

export function get32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

export function set32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/** A 48-bit MAC address as a number (exact in a double). */
export function getMac(b: Uint8Array, o: number): number {
  return get16(b, o) * 0x1_0000_0000 + get32(b, o + 2);
}

export function setMac(b: Uint8Array, o: number, mac: number): void {
  set16(b, o, Math.floor(mac / 0x1_0000_0000) & 0xffff);
  set32(b, o + 2, mac % 0x1_0000_0000);
}

export function unsupported(protocol: string, detail: string): WireError {
  return new WireError("unsupported", protocol, detail);
}

/** Throws a RangeError unless `v` is an integer in [0, max]; for values a caller asks us to emit. */
export function checkField(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${name} out of range: ${v}`);
}

/** Copies `src` to `buf[off..]` unless it already is those very bytes (zero-copy emit). */
export function placeBytes(buf: Uint8Array, off: number, src: Uint8Array): void {
  if (src.buffer === buf.buffer && src.byteOffset === buf.byteOffset + off) return;
  buf.set(src, off);
}

/** Throws a RangeError unless `buf[off, off+n)` lies inside `buf`: typed arrays drop out-of-range writes silently. */
export function checkRoom(buf: Uint8Array, off: number, n: number, what: string): void {
  if (!(off >= 0 && off + n <= buf.length)) throw new RangeError(`${what}: ${n} bytes at offset ${off} do not fit in ${buf.length}`);
}
