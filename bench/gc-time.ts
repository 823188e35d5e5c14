/**
 * V8's garbage collection inside a stretch of synchronous code, for the benchmarks' GC share:
 * v8.GCProfiler reports every collection between start() and stop() with its cost, at once
 * (PerformanceObserver "gc" entries only arrive after the event loop turns).
 */
import v8 from "node:v8";

export interface GcTotals {
  /** Collections (scavenges and mark-compacts). */
  count: number;
  /** Their summed cost, ms. */
  ms: number;
}

export class GcTime {
  private profiler: v8.GCProfiler | null = null;
  /** Totals of every start()…stop() window so far. */
  readonly total: GcTotals = { count: 0, ms: 0 };

  start(): void {
    this.profiler = new v8.GCProfiler();
    this.profiler.start();
  }

  /** Ends the window; returns its totals (also added to `total`). */
  stop(): GcTotals {
    const r = this.profiler!.stop();
    this.profiler = null;
    let ms = 0;
    for (const s of r.statistics) ms += s.cost / 1000; // µs
    const w = { count: r.statistics.length, ms };
    this.total.count += w.count;
    this.total.ms += w.ms;
    return w;
  }

  reset(): void {
    this.total.count = 0;
    this.total.ms = 0;
  }
}
