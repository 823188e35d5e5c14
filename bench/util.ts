/** Shared helpers for the benchmark scripts: medians, machine facts, JSON results. */
import { mkdirSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeFileAtomic } from "../src/base/index.js";

/** The bench/ directory of the source tree, also when this runs compiled from dist/bench/ (`npm run bench`). */
export const BENCH_DIR = fileURLToPath(new URL(new URL(".", import.meta.url).pathname.endsWith("/dist/bench/") ? "../../bench/" : "./", import.meta.url));

export { median } from "../src/bench/stats.js";

export function machineInfo(): { cpus: number; cpuModel: string; memGB: number; node: string; platform: string } {
  const c = cpus();
  return { cpus: c.length, cpuModel: c[0]?.model ?? "unknown", memGB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform}-${process.arch}` };
}

/** Writes `bench/results/NAME.json`. */
export function writeResult(name: string, data: unknown): string {
  const dir = join(BENCH_DIR, "results");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.json`);
  writeFileAtomic(path, JSON.stringify(data, null, 2) + "\n");
  return path;
}
