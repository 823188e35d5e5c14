/**
 * Capture timestamps: virtual nanoseconds since the run started plus a wall-clock epoch.
 * epochSeconds * 1e9 + tsNs passes 2^53, so seconds and nanoseconds stay apart until the
 * 64-bit value is written as two 32-bit words.
 */
import { NS_PER_SEC } from "../base/clock.js";

const TWO_16 = 0x1_0000;
const TWO_32 = 0x1_0000_0000;
const MAX_SEC = 2 ** 34;

/**
 * Writes sec * 1e9 + frac (frac < 1e9) as a 64-bit count of ns split in a high and a low
 * 32-bit word, each with the given byte order. Exact for sec < 2^34 (year 2514).
 */
export function writeNs64(
  view: DataView,
  hiOffset: number,
  loOffset: number,
  sec: number,
  frac: number,
  littleEndian: boolean,
): void {
  if (sec >= MAX_SEC) throw new RangeError(`timestamp ${sec}s is beyond 64-bit nanoseconds`);
  // sec*1e9 = (sh*2^16 + sl)*1e9; every partial product below stays under 2^53.
  const sl = sec % TWO_16;
  const sh = (sec - sl) / TWO_16;
  const low = sl * NS_PER_SEC + frac;
  const high = sh * NS_PER_SEC; // weight 2^16
  const hB = high % TWO_16;
  const hA = (high - hB) / TWO_16; // weight 2^32
  const r = hB * TWO_16 + low;
  const rLo = r % TWO_32;
  const hi = hA + (r - rLo) / TWO_32;
  view.setUint32(hiOffset, hi, littleEndian);
  view.setUint32(loOffset, rLo, littleEndian);
}
