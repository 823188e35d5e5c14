/**
 * SipHash (Aumasson & Bernstein) over 64-bit lanes held as 32-bit halves, with the number
 * of compression and finalization rounds as parameters. The kernel's hsiphash() on 64-bit
 * builds is SipHash-1-3 returning the low 32 bits (lib/siphash.c: "on 64-bit, we make
 * HalfSipHash1-3 actually be SipHash1-3"); ip_vs_mh.c hashes a 4-byte value with it.
 */

// State: v0..v3 as (hi, lo) pairs in a scratch array so a hash allocates nothing.
const v = new Uint32Array(8);

function add(a: number, b: number): void {
  // v[a] += v[b] (64-bit)
  const lo = (v[a + 1]! + v[b + 1]!) >>> 0;
  const carry = lo < v[a + 1]! ? 1 : 0;
  v[a] = (v[a]! + v[b]! + carry) >>> 0;
  v[a + 1] = lo;
}

function rotl(a: number, k: number): void {
  const hi = v[a]!;
  const lo = v[a + 1]!;
  if (k === 32) {
    v[a] = lo;
    v[a + 1] = hi;
  } else if (k < 32) {
    v[a] = ((hi << k) | (lo >>> (32 - k))) >>> 0;
    v[a + 1] = ((lo << k) | (hi >>> (32 - k))) >>> 0;
  } else {
    const j = k - 32;
    v[a] = ((lo << j) | (hi >>> (32 - j))) >>> 0;
    v[a + 1] = ((hi << j) | (lo >>> (32 - j))) >>> 0;
  }
}

function xor(a: number, b: number): void {
  v[a] = (v[a]! ^ v[b]!) >>> 0;
  v[a + 1] = (v[a + 1]! ^ v[b + 1]!) >>> 0;
}

const V0 = 0;
const V1 = 2;
const V2 = 4;
const V3 = 6;

function sipRound(): void {
  add(V0, V1); rotl(V1, 13); xor(V1, V0); rotl(V0, 32);
  add(V2, V3); rotl(V3, 16); xor(V3, V2);
  add(V0, V3); rotl(V3, 21); xor(V3, V0);
  add(V2, V1); rotl(V1, 17); xor(V1, V2); rotl(V2, 32);
}

function xorWord(a: number, hi: number, lo: number): void {
  v[a] = (v[a]! ^ hi) >>> 0;
  v[a + 1] = (v[a + 1]! ^ lo) >>> 0;
}

/** A 128-bit key as four 32-bit words: k0 = (k0hi, k0lo), k1 = (k1hi, k1lo), each given [lo, hi]. */
export type SipKey = readonly [k0lo: number, k0hi: number, k1lo: number, k1hi: number];

/**
 * SipHash-c-d of `data[off, off+len)` (little-endian message words). Returns the 64-bit
 * result as [hi, lo] written into `out`.
 */
export function sipHash(c: number, d: number, key: SipKey, data: Uint8Array, off: number, len: number, out: Uint32Array): void {
  // "somepseudorandomlygeneratedbytes"
  v[0] = 0x736f6d65; v[1] = 0x70736575;
  v[2] = 0x646f7261; v[3] = 0x6e646f6d;
  v[4] = 0x6c796765; v[5] = 0x6e657261;
  v[6] = 0x74656462; v[7] = 0x79746573;
  const [k0lo, k0hi, k1lo, k1hi] = key;
  xorWord(V3, k1hi, k1lo);
  xorWord(V2, k0hi, k0lo);
  xorWord(V1, k1hi, k1lo);
  xorWord(V0, k0hi, k0lo);
  const end = off + len - (len % 8);
  let i = off;
  for (; i < end; i += 8) {
    const lo = (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)) >>> 0;
    const hi = (data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24)) >>> 0;
    xorWord(V3, hi, lo);
    for (let r = 0; r < c; r++) sipRound();
    xorWord(V0, hi, lo);
  }
  // Last block: remaining bytes, length in the top byte.
  let bLo = 0;
  let bHi = (len & 0xff) << 24;
  for (let j = 0; i + j < off + len; j++) {
    const byte = data[i + j]!;
    if (j < 4) bLo |= byte << (8 * j);
    else bHi |= byte << (8 * (j - 4));
  }
  bLo >>>= 0;
  bHi >>>= 0;
  xorWord(V3, bHi, bLo);
  for (let r = 0; r < c; r++) sipRound();
  xorWord(V0, bHi, bLo);
  xorWord(V2, 0, 0xff);
  for (let r = 0; r < d; r++) sipRound();
  out[0] = (v[0]! ^ v[2]! ^ v[4]! ^ v[6]!) >>> 0;
  out[1] = (v[1]! ^ v[3]! ^ v[5]! ^ v[7]!) >>> 0;
}

const word = new Uint8Array(4);
const result = new Uint32Array(2);

/** hsiphash(&value, 4, key) on a 64-bit little-endian kernel: SipHash-1-3, low 32 bits. */
export function hsiphashU32(value: number, key: SipKey): number {
  word[0] = value;
  word[1] = value >>> 8;
  word[2] = value >>> 16;
  word[3] = value >>> 24;
  sipHash(1, 3, key, word, 0, 4, result);
  return result[1]!;
}
