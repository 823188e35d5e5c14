/**
 * Re-renders a `podwire bench` report from its results.json with the current charts and
 * tables (results.csv, chart-*.svg, report.html), without measuring anything:
 *   node dist/bench/render.js bench/standard
 * Results written before repetitions existed have no `spread` or `repeats`: they are read
 * as single runs (n = 1), which the captions then say.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeReport } from "../src/bench/report.js";
import type { BenchResults, BenchRun } from "../src/bench/results.js";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node dist/bench/render.js DIR   (DIR holds a results.json)");
  process.exit(2);
}
const results = JSON.parse(readFileSync(join(dir, "results.json"), "utf8")) as BenchResults;
results.options.repeats ??= 1;
results.runs = results.runs.map((r: BenchRun) => ({ ...r, spread: r.spread ?? {}, repeats: r.repeats ?? 1 }));
const written = writeReport(dir, results);
console.log(`written: ${written.files.join(", ")}`);
