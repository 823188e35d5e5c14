/**
 * Bob Jenkins' lookup3 hash over 32-bit words, as the kernel's jhash2 (include/linux/jhash.h).
 * NAT uses it to spread clients over an address range (nf_nat_core.c find_best_ips_proto)
 * and, here, to pick the first port to try.
 */

const JHASH_INITVAL = 0xdeadbeef;

function rol(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** jhash2(k, k.length, initval). */
export function jhash2(k: ArrayLike<number>, initval: number): number {
  let length = k.length;
  let a = (JHASH_INITVAL + (length << 2) + initval) | 0;
  let b = a;
  let c = a;
  let i = 0;
  while (length > 3) {
    a = (a + k[i]!) | 0;
    b = (b + k[i + 1]!) | 0;
    c = (c + k[i + 2]!) | 0;
    // __jhash_mix
    a = (a - c) | 0; a ^= rol(c, 4); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rol(a, 6); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rol(b, 8); b = (b + a) | 0;
    a = (a - c) | 0; a ^= rol(c, 16); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rol(a, 19); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rol(b, 4); b = (b + a) | 0;
    length -= 3;
    i += 3;
  }
  if (length === 0) return c >>> 0;
  if (length === 3) c = (c + k[i + 2]!) | 0;
  if (length >= 2) b = (b + k[i + 1]!) | 0;
  a = (a + k[i]!) | 0;
  return jhashFinal(a, b, c);
}

/** jhash2 of the three words (a, b, c), without an array: the same value as jhash2([a, b, c], initval). */
export function jhash3(a0: number, b0: number, c0: number, initval: number): number {
  let a = (JHASH_INITVAL + (3 << 2) + initval) | 0;
  let b = a;
  let c = a;
  c = (c + c0) | 0;
  b = (b + b0) | 0;
  a = (a + a0) | 0;
  return jhashFinal(a, b, c);
}

/** jhash2 of the four words (a, b, c, d), without an array: the same value as jhash2([a, b, c, d], initval). */
export function jhash4(a0: number, b0: number, c0: number, d0: number, initval: number): number {
  let a = (JHASH_INITVAL + (4 << 2) + initval) | 0;
  let b = a;
  let c = a;
  a = (a + a0) | 0;
  b = (b + b0) | 0;
  c = (c + c0) | 0;
  // __jhash_mix
  a = (a - c) | 0; a ^= rol(c, 4); c = (c + b) | 0;
  b = (b - a) | 0; b ^= rol(a, 6); a = (a + c) | 0;
  c = (c - b) | 0; c ^= rol(b, 8); b = (b + a) | 0;
  a = (a - c) | 0; a ^= rol(c, 16); c = (c + b) | 0;
  b = (b - a) | 0; b ^= rol(a, 19); a = (a + c) | 0;
  c = (c - b) | 0; c ^= rol(b, 4); b = (b + a) | 0;
  a = (a + d0) | 0;
  return jhashFinal(a, b, c);
}

/** __jhash_final(a, b, c), returning c. */
function jhashFinal(a: number, b: number, c: number): number {
  c ^= b; c = (c - rol(b, 14)) | 0;
  a ^= c; a = (a - rol(c, 11)) | 0;
  b ^= a; b = (b - rol(a, 25)) | 0;
  c ^= b; c = (c - rol(b, 16)) | 0;
  a ^= c; a = (a - rol(c, 4)) | 0;
  b ^= a; b = (b - rol(a, 14)) | 0;
  c ^= b; c = (c - rol(b, 24)) | 0;
  return c >>> 0;
}

/** A big-endian (network order) IPv4 address as a little-endian host would load it: what the kernel hashes. */
export function rawBe32(addr: number): number {
  return (((addr & 0xff) << 24) | ((addr & 0xff00) << 8) | ((addr >>> 8) & 0xff00) | (addr >>> 24)) >>> 0;
}

/**
 * reciprocal_scale(val, range): maps a 32-bit value onto [0, range) as (val × range) >> 32.
 * The 64-bit product is taken in 16-bit halves so every step is exact in a double (no BigInt).
 */
export function reciprocalScale(val: number, range: number): number {
  const v = val >>> 0;
  const r = range >>> 0;
  const hi = (v >>> 16) * r; // < 2^48
  const lo = (v & 0xffff) * r; // < 2^48
  const hiQ = Math.floor(hi / 65536);
  const hiR = hi - hiQ * 65536;
  // val × range / 2^32 = hiQ + (hiR × 2^16 + lo) / 2^32, the second term's numerator < 2^49.
  return hiQ + Math.floor((hiR * 65536 + lo) / 4294967296);
}
