/**
 * Unsigned numbers as ipset reads them: like C's `strtoul(text, NULL, 0)`, so `0x10` is hex
 * and a leading `0` means octal (`tcp:010` is port 8 on a real system), and nothing may
 * follow the digits.
 */

/** The value of `text`, or -1 when it is not a number or is above `max`. */
export function parseUint(text: string, max: number): number {
  let value: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(text)) value = parseInt(text.slice(2), 16);
  else if (/^0[0-7]+$/.test(text)) value = parseInt(text.slice(1), 8);
  else if (/^(0|[1-9][0-9]*)$/.test(text)) value = Number(text);
  else return -1;
  return Number.isSafeInteger(value) && value <= max ? value : -1;
}

export const U32_MAX = 0xffffffff;
/** The kernel's largest timeout in seconds: (UINT_MAX >> 1) / MSEC_PER_SEC. */
export const MAX_TIMEOUT = 2147483;
