/**
 * Memory of the process running a benchmark row, read from /proc/self/status (Linux):
 * VmRSS, the resident set now, and VmHWM, its peak since the process started. Each row runs
 * in a fresh process (src/bench/row-worker.ts), so its peak is its own and no figure is a
 * difference between two moments (which can come out negative when the heap shrinks).
 * Elsewhere, process.memoryUsage().rss and resourceUsage().maxRSS stand in.
 */
import { readFileSync } from "node:fs";
import v8 from "node:v8";
import vm from "node:vm";

export interface MemoryReading {
  rssMB: number;
  peakRssMB: number;
  /** Where the figures came from. */
  source: "/proc/self/status" | "process.resourceUsage";
}

function statusField(status: string, name: string): number | null {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status);
  return m ? Number(m[1]) / 1024 : null;
}

export function readMemory(): MemoryReading {
  try {
    const status = readFileSync("/proc/self/status", "utf8");
    const rss = statusField(status, "VmRSS");
    const hwm = statusField(status, "VmHWM");
    if (rss !== null && hwm !== null) return { rssMB: rss, peakRssMB: hwm, source: "/proc/self/status" };
  } catch {
    // not Linux: below
  }
  return { rssMB: process.memoryUsage().rss / 2 ** 20, peakRssMB: process.resourceUsage().maxRSS / 1024, source: "process.resourceUsage" };
}

let gcFn: (() => void) | null | undefined;
/** A full GC where the runtime allows it (for steadier memory figures). */
export function collectGarbage(): void {
  if (gcFn === undefined) {
    try {
      v8.setFlagsFromString("--expose-gc");
      gcFn = vm.runInNewContext("gc") as () => void;
    } catch {
      gcFn = null;
    }
  }
  gcFn?.();
}
