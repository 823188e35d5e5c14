/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * Sums are kept unfolded while accumulating (a plain JS number, exact far beyond any packet
 * size) and folded to 16 bits once at the end. Pieces can be summed separately and added
 * together as long as every piece but the last starts at an even offset within the message
 * and has an even length.
 *
 * UDP (RFC 768): a computed checksum of 0 is transmitted as 0xffff, because a received 0
 * means "no checksum was computed" and the receiver must skip verification.
 */

/** Adds the big-endian 16-bit words of `buf[off, off+len)` to `initial`; an odd last byte is padded with zero. */
export function sumBytes(buf: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = initial;
  const end = off + len;
  let i = off;
  for (; i + 1 < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) sum += buf[i]! << 8;
  return sum;
}

/** Folds the carries of an unfolded sum back into 16 bits (end-around carry). */
export function foldSum(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum field value for an unfolded sum: the one's complement of the folded sum. */
export function finishChecksum(sum: number): number {
  return ~foldSum(sum) & 0xffff;
}

/** Unfolded sum of the IPv4 pseudo header used by UDP and TCP (RFC 768, RFC 793 §3.1). */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}

/** RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for one 16-bit word changing from `oldWord` to `newWord`. */
export function updateChecksum16(csum: number, oldWord: number, newWord: number): number {
  let s = (~csum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  // Three 16-bit words sum below 2^18: two end-around folds always reach 16 bits.
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** RFC 1624 eqn. 3 applied to both halves of a 32-bit value (an IPv4 address or a TCP sequence number). */
export function updateChecksum32(csum: number, oldValue: number, newValue: number): number {
  let s = (~csum & 0xffff) + (~(oldValue >>> 16) & 0xffff) + (~oldValue & 0xffff) + (newValue >>> 16) + (newValue & 0xffff);
  // Five 16-bit words sum below 2^19: two end-around folds always reach 16 bits.
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
