/**
 * Value syntax shared by the rule options: numbers as `strtoul(…, 0)` reads them, ports and
 * port ranges, `value[/mask]` marks, and the two text forms iptables-save prints that need
 * care: quoted strings (`xtables_save_string`) and `%.11f` probabilities.
 */

/** Parses an unsigned integer the way C's strtoul with base 0 does: `0x` hex, leading-0 octal, decimal. */
export function parseUint(text: string, max = 0xffffffff): number | null {
  let v: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(text)) v = parseInt(text.slice(2), 16);
  else if (/^0[0-7]+$/.test(text)) v = parseInt(text.slice(1), 8);
  else if (/^(0|[1-9][0-9]*)$/.test(text)) v = Number(text);
  else return null;
  return Number.isSafeInteger(v) && v <= max ? v : null;
}

/** A port is decimal 0..65535 (iptables would also look up service names; podwire does not). */
export function parsePort(text: string): number | null {
  if (!/^[0-9]{1,5}$/.test(text)) return null;
  const v = Number(text);
  return v <= 65535 ? v : null;
}

/** `N`, `N:M`, `:M` (0:M) or `N:` (N:65535), as the tcp/udp matches read `--dport`. */
export function parsePortRange(text: string): { min: number; max: number } | null {
  const colon = text.indexOf(":");
  if (colon < 0) {
    const p = parsePort(text);
    return p === null ? null : { min: p, max: p };
  }
  const lo = colon === 0 ? 0 : parsePort(text.slice(0, colon));
  const hiText = text.slice(colon + 1);
  const hi = hiText === "" ? 65535 : parsePort(hiText);
  if (lo === null || hi === null || lo > hi) return null;
  return { min: lo, max: hi };
}

/** `value[/mask]`; the mask defaults to 0xffffffff. */
export function parseValueMask(text: string): { value: number; mask: number } | null {
  const slash = text.indexOf("/");
  const value = parseUint(slash < 0 ? text : text.slice(0, slash));
  const mask = slash < 0 ? 0xffffffff : parseUint(text.slice(slash + 1));
  if (value === null || mask === null) return null;
  return { value, mask };
}

export function hex(v: number): string {
  return `0x${(v >>> 0).toString(16)}`;
}

/** Characters xtables_save_string leaves unquoted. */
const PLAIN = /^[A-Za-z0-9_-]+$/;

/**
 * The text iptables-save prints for a free-form string (comments, log prefixes): as is when
 * it is non-empty and only letters, digits, `_` and `-`; otherwise in double quotes with
 * `"`, `\` and `'` escaped by a backslash.
 */
export function saveString(value: string): string {
  if (PLAIN.test(value)) return value;
  return `"${value.replace(/["\\']/g, (c) => `\\${c}`)}"`;
}

/** The kernel keeps a probability as a 31-bit fraction: round(p * 2^31). */
export const PROBABILITY_SCALE = 0x80000000;

export function quantizeProbability(p: number): number {
  return Math.round(p * PROBABILITY_SCALE) / PROBABILITY_SCALE;
}

/**
 * `printf("%.11f", k / 2^31)` exactly (round half to even on the exact binary value), which
 * `Number.prototype.toFixed` does not always match.
 */
export function formatProbability(p: number): string {
  const k = BigInt(Math.round(p * PROBABILITY_SCALE));
  const scaled = k * 10n ** 11n;
  let q = scaled >> 31n;
  const r = scaled - (q << 31n);
  const half = 1n << 30n;
  if (r > half || (r === half && (q & 1n) === 1n)) q += 1n;
  const digits = q.toString().padStart(12, "0");
  return `${digits.slice(0, -11)}.${digits.slice(-11)}`;
}

/** Splits a comma list, rejecting empty items. */
export function splitList(text: string): string[] | null {
  const items = text.split(",");
  return items.some((s) => s === "") ? null : items;
}
