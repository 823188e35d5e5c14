/** Argument checks shared by the writers; all throw RangeError (a caller bug, not bad input). */

const U32_MAX = 0xffff_ffff;

export function assertU32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > U32_MAX) {
    throw new RangeError(`${name} must be a 32-bit unsigned integer, got ${v}`);
  }
}

export function assertU16(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) {
    throw new RangeError(`${name} must be a 16-bit unsigned integer, got ${v}`);
  }
}

/** Virtual time is a non-negative integer of ns, exact below 2^53. */
export function assertVirtualNs(tsNs: number): void {
  if (!Number.isSafeInteger(tsNs) || tsNs < 0) {
    throw new RangeError(`capture timestamp must be a non-negative integer of ns, got ${tsNs}`);
  }
}

export function assertEpochSeconds(epochSeconds: number): void {
  if (!Number.isSafeInteger(epochSeconds) || epochSeconds < 0) {
    throw new RangeError(`epochSeconds must be a non-negative integer, got ${epochSeconds}`);
  }
}
