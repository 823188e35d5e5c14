/**
 * The figures issue 12 lists, from one `npm run bench`: each with podwire's median, the JS
 * limit measured in the same runs and the ratio to it, what stands beside it (the real
 * kernel, bare node) and the aim. Printed within 120 columns and kept in bench.json.
 */
import { kilo, layoutTable, times } from "../src/bench/results.js";
import type { BenchResults, BenchRun } from "../src/bench/results.js";
import type { Sample } from "../src/bench/stats.js";
import type { CoreFigures } from "./core-figures.js";
import type { StartupFigures } from "./startup.js";

export interface SummaryRow {
  figure: string;
  podwire: string;
  limit: string;
  ratio: string;
  beside: string;
  aim: string;
}

const ns = (v: number | null | undefined): string => (v === null || v === undefined ? "-" : v >= 1e6 ? `${(v / 1e6).toFixed(1)} ms` : v >= 1e3 ? `${(v / 1e3).toFixed(v >= 1e4 ? 0 : 1)} µs` : `${v.toFixed(0)} ns`);
const range = (s: Sample, f: (v: number) => string): string => (s.n > 1 ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : f(s.median));
const svc = (n: number): string => (n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : n.toLocaleString("en-US"));
const msText = (v: number): string => (v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v.toFixed(0)} ms`);

export function summaryRows(results: BenchResults | null, core: CoreFigures | null, startup: StartupFigures | null): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const runs = results?.runs.filter((r) => r.available) ?? [];
  const modes = [...new Set(runs.map((r) => r.mode))];
  for (const mode of modes) {
    const rs = runs.filter((r) => r.mode === mode && r.coreNewConnPerSec !== null).sort((a, b) => a.services - b.services);
    for (const r of rs) {
      rows.push({
        figure: `classifier, ${mode}, ${svc(r.services)} Svc`,
        podwire: `${kilo(r.coreNewConnPerSec)}/s, ${ns(1e9 / r.coreNewConnPerSec!)}`,
        limit: ns(r.limitFirstPacketNs),
        ratio: times(r.coreRatioToLimit),
        beside: "",
        aim: r.services >= 50_000 ? "≥ 1 M/s; ≤ 10×" : "≤ 10×",
      });
    }
    if (rs.length > 1) {
      const a = rs[0]!;
      const b = rs[rs.length - 1]!;
      rows.push({
        figure: `  slowdown ${svc(a.services)} → ${svc(b.services)} Svc`,
        podwire: times(a.coreNewConnPerSec! / b.coreNewConnPerSec!),
        limit: a.limitFirstPacketNs && b.limitFirstPacketNs ? times(b.limitFirstPacketNs / a.limitFirstPacketNs) : "-",
        ratio: "",
        beside: "",
        aim: "≤ 2× (100 → 50k)",
      });
    }
  }
  if (core) {
    rows.push({ figure: "conntrack fast path", podwire: `${kilo(1e9 / core.conntrackNs.median)}/s, ${ns(core.conntrackNs.median)}`, limit: ns(core.limitConntrackNs.median), ratio: times(core.conntrackRatio.median), beside: "", aim: "≤ 3×, ≥ 5 M/s" });
    rows.push({ figure: "end-to-end UDP, netfilter on", podwire: `${kilo(1e9 / core.e2eNetfilterNs.median)} pkt/s`, limit: ns(core.limitConntrackNs.median), ratio: times(core.e2eNetfilterRatio.median), beside: `off: ${kilo(1e9 / core.e2eBareNs.median)}/s (${times(core.netfilterCost.median)})`, aim: "≥ 500k pkt/s" });
  }
  for (const mode of modes) {
    for (const r of runs.filter((x) => x.mode === mode && x.newConnPerSec !== null).sort((a, b) => a.services - b.services)) {
      rows.push({
        figure: `new conn e2e, ${mode}, ${svc(r.services)} Svc`,
        podwire: `${kilo(r.newConnPerSec)}/s`,
        limit: r.limitFirstPacketNs !== null && r.limitConntrackNs !== null ? ns(r.limitFirstPacketNs + r.limitConntrackNs) : "-",
        ratio: times(r.newConnRatioToLimit),
        beside: r.kernelFirstPacketUs !== null ? `kernel 1st pkt ${r.kernelFirstPacketUs.toFixed(0)} µs` : "",
        aim: r.services >= 50_000 ? "≥ 100k/s at 50k" : "",
      });
    }
  }
  for (const mode of modes) {
    const largest = runs.filter((r) => r.mode === mode).sort((a, b) => b.services - a.services)[0];
    if (largest?.peakRssMB != null) rows.push({ figure: `peak RSS, ${mode} cluster, ${svc(largest.services)} × ${largest.endpoints}`, podwire: `${(largest.peakRssMB / 1024).toFixed(2)} GB`, limit: "", ratio: "", beside: `after setup ${(largest.rssMB! / 1024).toFixed(2)} GB`, aim: "≤ 1 GB at 50k" });
  }
  const ipt = runs.filter((r) => r.mode === "iptables" && r.syncMs !== null).sort((a, b) => b.services - a.services)[0];
  if (ipt) rows.push({ figure: `iptables compile, ${svc(ipt.services)} × ${ipt.endpoints}`, podwire: msText(ipt.syncMs! + ipt.applyMs!), limit: "", ratio: "", beside: ipt.kernelRestoreMs !== null ? `kernel load ${msText(ipt.kernelRestoreMs)}` : "", aim: "≤ 5 s at 50k × 10" });
  if (startup) {
    const ms = (v: number): string => `${v.toFixed(0)} ms`;
    rows.push({ figure: "podwire --help", podwire: range(startup.help.wallMs, (v) => v.toFixed(0)) + " ms", limit: "", ratio: "", beside: `node: ${ms(startup.node.wallMs.median)} (${times(startup.help.ratioToNode?.median)})`, aim: "≤ 300 ms" });
    rows.push({ figure: "podwire trace (embedded cluster)", podwire: range(startup.trace.wallMs, (v) => v.toFixed(0)) + " ms", limit: "", ratio: "", beside: `node: ${ms(startup.node.wallMs.median)} (${times(startup.trace.ratioToNode?.median)})`, aim: "≤ 1 s" });
  }
  if (results) rows.push({ figure: `podwire bench${results.options.quick ? " --quick" : ""} (this run)`, podwire: msText(results.durationMs), limit: "", ratio: "", beside: "", aim: results.options.quick ? "≤ 60 s" : "" });
  return rows;
}

export function formatSummary(rows: readonly SummaryRow[]): string[] {
  return layoutTable(["figure", "podwire (median)", "JS limit", "×limit", "beside it", "aim"], rows.map((r) => [r.figure, r.podwire, r.limit, r.ratio, r.beside, r.aim]), [0, 4, 5]);
}

export type { BenchRun };
