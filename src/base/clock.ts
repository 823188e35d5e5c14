/**
 * The virtual clock. Simulated time is a number of nanoseconds since the start of the run
 * (exact up to 2^53 ns, about 104 days); captures add a fixed wall-clock epoch to it.
 */

export const NS_PER_US = 1_000;
export const NS_PER_MS = 1_000_000;
export const NS_PER_SEC = 1_000_000_000;

/** The wall-clock instant that virtual time 0 maps to in captures: 2024-01-01T00:00:00Z. */
export const DEFAULT_EPOCH_SECONDS = 1_704_067_200;

export interface Clock {
  /** Virtual nanoseconds since the start of the run. */
  now(): number;
}

export class VirtualClock implements Clock {
  private t = 0;
  constructor(start = 0) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  /** Moves time forward; time never goes back. */
  advanceTo(t: number): void {
    if (t > this.t) this.t = t;
  }
  advanceBy(dt: number): void {
    if (dt > 0) this.t += dt;
  }
}

/**
 * Real elapsed time, for benchmarks only. This module (with rng.ts) is the only place that
 * may read the host's clocks, so everything else stays reproducible.
 */
export function hostNowMs(): number {
  return performance.now();
}
