/**
 * In-place builders for the headers a namespace originates (ICMP messages, TCP segments),
 * written inside-out into a packet's headroom like the wire layer's prepend builders.
 */
import { finishChecksum, pseudoHeaderSum, sumBytes } from "../wire/index.js";
import type { PacketBuffer } from "../netdev/index.js";

/** Copies `data` into a fresh packet so that headers can be prepended in front of it. */
export function placePayload(pkt: PacketBuffer, data: Uint8Array | null): void {
  if (data !== null && data.length > 0) pkt.buf.set(data, pkt.head);
  pkt.tail = pkt.head + (data === null ? 0 : data.length);
}

/** Prepends an ICMP header (type, code, 4 bytes of `rest`) and fills the checksum over it all. */
export function prependIcmp(pkt: PacketBuffer, type: number, code: number, rest: number): void {
  const h = (pkt.head -= 8);
  const b = pkt.buf;
  b[h] = type;
  b[h + 1] = code;
  b[h + 2] = 0;
  b[h + 3] = 0;
  b[h + 4] = (rest >>> 24) & 255;
  b[h + 5] = (rest >>> 16) & 255;
  b[h + 6] = (rest >>> 8) & 255;
  b[h + 7] = rest & 255;
  const c = finishChecksum(sumBytes(b, h, pkt.tail - h));
  b[h + 2] = c >>> 8;
  b[h + 3] = c & 255;
}

export interface TcpSegmentFields {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  /** Raw option bytes, already padded to a multiple of 4. */
  options: Uint8Array | null;
}

/** Prepends a TCP header before the payload at `pkt.head` and fills its checksum. */
export function prependTcp(pkt: PacketBuffer, f: TcpSegmentFields, srcIp: number, dstIp: number): void {
  const optLen = f.options === null ? 0 : f.options.length;
  const hl = 20 + optLen;
  const h = (pkt.head -= hl);
  const b = pkt.buf;
  b[h] = f.srcPort >>> 8;
  b[h + 1] = f.srcPort & 255;
  b[h + 2] = f.dstPort >>> 8;
  b[h + 3] = f.dstPort & 255;
  writeU32(b, h + 4, f.seq);
  writeU32(b, h + 8, f.ack);
  b[h + 12] = (hl / 4) << 4;
  b[h + 13] = f.flags & 0xff;
  b[h + 14] = (f.window >>> 8) & 255;
  b[h + 15] = f.window & 255;
  b[h + 16] = 0;
  b[h + 17] = 0;
  b[h + 18] = 0;
  b[h + 19] = 0;
  if (f.options !== null) b.set(f.options, h + 20);
  const len = pkt.tail - h;
  const c = finishChecksum(sumBytes(b, h, len, pseudoHeaderSum(srcIp, dstIp, 6, len)));
  b[h + 16] = c >>> 8;
  b[h + 17] = c & 255;
}

export function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 24) & 255;
  b[off + 1] = (v >>> 16) & 255;
  b[off + 2] = (v >>> 8) & 255;
  b[off + 3] = v & 255;
}

export function readU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

export function readU16(b: Uint8Array, off: number): number {
  return (b[off]! << 8) | b[off + 1]!;
}
