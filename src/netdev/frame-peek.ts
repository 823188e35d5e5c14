/** Allocation-free reads of the Ethernet header fields that forwarding decisions need. */

/** The 48-bit MAC at `buf[off..off+6)`. */
export function macAt(buf: Uint8Array, off: number): number {
  return (
    (buf[off]! * 0x10000 + ((buf[off + 1]! << 8) | buf[off + 2]!)) * 0x1000000 +
    ((buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!)
  );
}

export function writeMacAt(buf: Uint8Array, off: number, mac: number): void {
  const hi = Math.floor(mac / 0x1000000);
  const lo = mac % 0x1000000;
  buf[off] = (hi >>> 16) & 255;
  buf[off + 1] = (hi >>> 8) & 255;
  buf[off + 2] = hi & 255;
  buf[off + 3] = (lo >>> 16) & 255;
  buf[off + 4] = (lo >>> 8) & 255;
  buf[off + 5] = lo & 255;
}

/** True when the destination MAC of the frame at `off` is a group (multicast/broadcast) address. */
export function isGroupDst(buf: Uint8Array, off: number): boolean {
  return (buf[off]! & 1) === 1;
}

export function etherTypeAt(buf: Uint8Array, off: number): number {
  return (buf[off + 12]! << 8) | buf[off + 13]!;
}
