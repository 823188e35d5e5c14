/**
 * `npm run bench`'s summary (bench/summary.ts): every figure issue 12 lists is a row — the
 * classifier at each size with its ratio to the limit and the slowdown, the conntrack fast
 * path, end-to-end UDP, new connections with the kernel beside them, peak RSS, the compile,
 * start-up beside bare node, the run's own time — and the table fits 120 columns.
 */
import test from "ava";
import { type BenchResults, REPEATED_FIELDS, TABLE_WIDTH, emptyRun } from "../../src/bench/results.js";
import type { CoreFigures } from "../../bench/core-figures.js";
import type { StartupFigures } from "../../bench/startup.js";
import { formatSummary, summaryRows } from "../../bench/summary.js";

const s = (median: number) => ({ median, min: median * 0.8, max: median * 1.3, n: 5 });

function results(): BenchResults {
  const runs = [100, 10_000, 50_000].flatMap((n) =>
    (["iptables", "nftables"] as const).map((mode) => {
      const r = emptyRun(mode, n, 10, 100, "rules evaluated");
      Object.assign(r, {
        available: true, repeats: 5, syncMs: 6_900 * (n / 50_000), applyMs: 24_000 * (n / 50_000), rssMB: 900 * (n / 50_000) + 80, peakRssMB: 2_700 * (n / 50_000) + 90,
        coreNewConnPerSec: 2_600_000 / (1 + n / 1000), limitFirstPacketNs: 43 * (1 + n / 60_000), limitConntrackNs: 70, coreRatioToLimit: 111.25, newConnPerSec: 17_700, newConnRatioToLimit: 1234.5,
        kernelFirstPacketUs: n <= 10_000 ? 78.2 : null, kernelRestoreMs: n <= 10_000 ? 9_346 : null,
        spread: Object.fromEntries(REPEATED_FIELDS.map((f) => [f, { min: 1, max: 2, n: 5 }])),
      });
      return r;
    }),
  );
  return { options: { quick: true, repeats: 5 }, durationMs: 48_123, runs } as unknown as BenchResults;
}

const core: CoreFigures = { repeats: 5, conntrackNs: s(526), e2eNetfilterNs: s(3000), e2eBareNs: s(1600), limitConntrackNs: s(70), conntrackRatio: s(7.5), e2eNetfilterRatio: s(43), netfilterCost: s(1.9) };
const fig = (median: number) => ({ command: "x", wallMs: s(median), cpuMs: s(median / 2), ratioToNode: s(median / 400) });
const startup: StartupFigures = { repeats: 5, ran: "dist (the compiled build)", node: fig(400), help: fig(617), trace: fig(1377) };

test("the summary has a row for every figure of issue 12, within 120 columns", (t) => {
  const rows = summaryRows(results(), core, startup);
  const figures = rows.map((r) => r.figure).join("\n");
  for (const want of [
    "classifier, iptables, 100 Svc", "classifier, iptables, 10k Svc", "classifier, iptables, 50k Svc", "slowdown 100 → 50k Svc",
    "classifier, nftables, 50k Svc", "conntrack fast path", "end-to-end UDP, netfilter on", "new conn e2e, iptables, 50k Svc",
    "peak RSS, iptables cluster, 50k × 10", "iptables compile, 50k × 10", "podwire --help", "podwire trace", "podwire bench --quick",
  ]) t.true(figures.includes(want), want);
  const ipt10k = rows.find((r) => r.figure === "new conn e2e, iptables, 10k Svc")!;
  t.regex(ipt10k.beside, /kernel 1st pkt 78 µs/);
  t.is(rows.find((r) => r.figure === "podwire --help")!.aim, "≤ 300 ms");
  t.regex(rows.find((r) => r.figure === "podwire --help")!.beside, /node: 400 ms \(1\.5×\)/);
  t.is(rows.find((r) => r.figure === "classifier, iptables, 50k Svc")!.aim, "≥ 1 M/s; ≤ 10×");
  for (const line of formatSummary(rows)) t.true(line.length <= TABLE_WIDTH, `${line.length}: ${line}`);
});

test("the summary of a run without the core figures or start-up leaves them out", (t) => {
  const rows = summaryRows(results(), null, null);
  t.false(rows.some((r) => r.figure.startsWith("conntrack") || r.figure.startsWith("podwire --help")));
  t.true(rows.length > 5);
});
