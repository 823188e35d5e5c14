/** A Prometheus histogram's state, and the bucket layouts client_golang builds. */
import type { HistogramValue } from "./exposition.js";

export class Histogram implements HistogramValue {
  readonly counts: number[];
  sum = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  /** Counts `v` in the first bucket whose upper bound is ≥ v (le is inclusive), else in +Inf. */
  observe(v: number): void {
    let i = 0;
    while (i < this.bounds.length && v > this.bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
  }

  get count(): number {
    let n = 0;
    for (const c of this.counts) n += c;
    return n;
  }
}

/** client_golang ExponentialBuckets(start, factor, count): start, start·factor, … (count bounds). */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  const out: number[] = [];
  let v = start;
  for (let i = 0; i < count; i++) {
    out.push(roundBound(v));
    v *= factor;
  }
  return out;
}

/** client_golang LinearBuckets(start, width, count): start, start+width, … (count bounds). */
export function linearBuckets(start: number, width: number, count: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(roundBound(start + i * width));
  return out;
}

/** Drops the binary noise of repeated float products (0.001·2^k), so bounds print as Go prints them. */
function roundBound(v: number): number {
  return Number(v.toPrecision(12));
}
