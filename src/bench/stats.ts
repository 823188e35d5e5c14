/**
 * Repetitions and their summary. A figure is the median of n repetitions with the smallest
 * and largest beside it; repetitions of figures measured side by side are interleaved
 * (round 1 of each, then round 2 of each, …, the order rotating each round) so that a
 * change in the machine's load falls on all of them alike.
 */

/** The median of n repetitions and their range. */
export interface Sample {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error("median of nothing");
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median, min and max of the finite values (null when there are none). */
export function summarize(xs: readonly number[]): Sample | null {
  const ok = xs.filter((x) => Number.isFinite(x));
  if (ok.length === 0) return null;
  return { median: median(ok), min: Math.min(...ok), max: Math.max(...ok), n: ok.length };
}

/**
 * Runs `rounds` rounds of every job, in an order rotated by one each round, and returns each
 * job's values in round order. A job returns its figure for that round (or null: not
 * measured this round).
 */
export function interleave<K extends string>(rounds: number, jobs: Record<K, () => number | null>): Record<K, number[]> {
  const keys = Object.keys(jobs) as K[];
  const out = Object.fromEntries(keys.map((k) => [k, [] as number[]])) as Record<K, number[]>;
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < keys.length; j++) {
      const k = keys[(j + r) % keys.length]!;
      const v = jobs[k]();
      if (v !== null) out[k].push(v);
    }
  }
  return out;
}

/** Per-round ratios a[i] / b[i] (pairs measured in the same round), summarized. */
export function pairedRatio(a: readonly number[], b: readonly number[]): Sample | null {
  const n = Math.min(a.length, b.length);
  const r: number[] = [];
  for (let i = 0; i < n; i++) if (b[i]! > 0) r.push(a[i]! / b[i]!);
  return summarize(r);
}

/** Nanoseconds per item from a rate per second. */
export const nsPer = (perSec: number): number => 1e9 / perSec;
