/**
 * The benchmark's charts and report: SVG charts (objects generated, sync times, modelled
 * cost per packet, podwire's speed beside the JS limit, the ratios to the limit, memory,
 * and the real kernel beside the model as two panels), each series in its mode's colour
 * family, timed figures as medians with min–max bands, published figures as hollow markers;
 * and report.html, full width, a caption under every chart. Written with
 * `writeReport(dir, results)`.
 */
import { join } from "node:path";
import { prepareOutputDir, writeFileAtomic } from "../base/index.js";
import { PUBLISHED_SERIES, type PublishedSeries } from "./published.js";
import type { BenchResults, BenchRun, RepeatedField } from "./results.js";
import { REPEATED_FIELDS, formatTable, toCsv } from "./results.js";
import { type ChartPanel, type ChartPoint, type ChartSeries, type ChartSpec, escapeXml, renderChart } from "./svg-chart.js";

const isRepeated = (f: string): f is RepeatedField => (REPEATED_FIELDS as readonly string[]).includes(f);

/** A figure of a run by its results.json path: a field (`syncMs`) or an object count (`objects.rules`). */
export function figureAt(r: BenchRun, path: string): number | null {
  const v = path.startsWith("objects.") ? r.objects?.[path.slice(8) as keyof NonNullable<BenchRun["objects"]>] : r[path as keyof BenchRun];
  return typeof v === "number" ? v : null;
}

/** A mode's series of the figure at `field`, with the min–max of repeated figures. */
function series(results: BenchResults, mode: string, label: string, field: string, extra: Partial<ChartSeries> = {}): ChartSeries {
  const rs = results.runs.filter((r) => r.mode === mode).sort((a, b) => a.services - b.services);
  const points = rs.map((r): ChartPoint => {
    const y = r.available ? figureAt(r, field) : null;
    const s = isRepeated(field) ? r.spread[field] : undefined;
    return s && y !== null && s.n > 1 ? { x: r.services, y, min: s.min, max: s.max } : { x: r.services, y };
  });
  return { name: `${mode}: ${label}`, family: mode, field, points, ...extra };
}

/** Series for the run's modes among `modes` (all of them by default). */
function perMode(results: BenchResults, label: string, field: string, extra: Partial<ChartSeries> = {}, modes?: readonly string[]): ChartSeries[] {
  return results.options.modes.filter((m) => !modes || modes.includes(m)).map((m) => series(results, m, label, field, extra));
}

/** The JS limit as a rate per second, per size: the median over the rows of that size (each row measured it in its own process). */
function limitSeries(results: BenchResults, label: string, ns: (r: BenchRun) => { median: number; min: number; max: number } | null): ChartSeries {
  const sizes = [...new Set(results.runs.map((r) => r.services))].sort((a, b) => a - b);
  const points = sizes.map((x): ChartPoint => {
    const vs = results.runs.filter((r) => r.services === x && r.available).map(ns).filter((v): v is { median: number; min: number; max: number } => v !== null);
    if (vs.length === 0) return { x, y: null };
    const med = vs.map((v) => v.median).sort((a, b) => a - b)[vs.length >> 1]!;
    return { x, y: Math.round(1e9 / med), min: Math.round(1e9 / Math.max(...vs.map((v) => v.max))), max: Math.round(1e9 / Math.min(...vs.map((v) => v.min))) };
  });
  return { name: `JS limit: ${label}`, family: "limit", dashed: true, points };
}

const limitOf = (r: BenchRun, field: "limitFirstPacketNs" | "limitConntrackNs") =>
  r[field] === null ? null : { median: r[field]!, min: r.spread[field]?.min ?? r[field]!, max: r.spread[field]?.max ?? r[field]! };

function publishedSeries(chart: PublishedSeries["chart"]): ChartSeries[] {
  return PUBLISHED_SERIES.filter((p) => p.chart === chart).map((p) => ({ name: `${p.label} (published)`, family: p.mode, points: p.points, published: { source: p.source, shape: p.shape } }));
}

/** Caption lines: what the chart shows, then n and the bands, then the sources of its hollow markers. */
function caption(results: BenchResults, what: string, panels: ChartPanel[], extra: string[] = []): string[] {
  const all = panels.flatMap((p) => p.series);
  const lines = [what, ...extra];
  const n = results.options.repeats;
  if (all.some((s) => s.points.some((p) => p.min !== undefined))) {
    lines.push(`Timed figures: the median of n = ${n} interleaved runs per point; the shaded band (a bar where a series has one point) spans their min–max.`);
  } else if (all.some((s) => s.family === "limit" || (s.field !== undefined && isRepeated(s.field)))) {
    lines.push(n === 1 ? "Timed figures: one run per point (n = 1), so no band." : `Timed figures: the median of n = ${n} interleaved runs per point.`);
  }
  const sources = [...new Set(all.filter((s) => s.published).map((s) => s.published!.source))];
  if (sources.length > 0) lines.push(`Hollow markers: published figures, not measured here — ${sources.join("; ")}.`);
  return lines;
}

function chart(results: BenchResults, id: string, title: string, what: string, panels: ChartPanel[], extra: string[] = []): ChartSpec {
  const e = results.options.endpoints;
  return { id, title, xLabel: `Services (${e} endpoints each)`, xLog: true, panels, caption: caption(results, what, panels, extra) };
}

export function chartSpecs(results: BenchResults): ChartSpec[] {
  const k = results.options.keepalive;
  const rules: ChartPanel = {
    title: "one node's kube-proxy output",
    yLabel: "count",
    yLog: true,
    series: [
      ...perMode(results, "iptables rules", "objects.rules", {}, ["iptables", "ipvs"]),
      ...perMode(results, "IPVS virtual servers", "objects.virtualServers", {}, ["ipvs"]),
      ...perMode(results, "ipset entries", "objects.ipsetEntries", { dashed: true }, ["ipvs"]),
      ...perMode(results, "nft rules", "objects.rules", {}, ["nftables"]),
      ...perMode(results, "nft chains", "objects.chains", {}, ["nftables"]),
      ...perMode(results, "nft set/map elements", "objects.setElements", { dashed: true }, ["nftables"]),
      ...publishedSeries("rules"),
    ],
  };
  const sync: ChartPanel = {
    title: "podwire on the client's node; kernel: the same text loaded",
    yLabel: "ms",
    yLog: true,
    series: [
      ...perMode(results, "full sync (generate)", "syncMs"),
      ...perMode(results, "load into podwire", "applyMs"),
      ...perMode(results, "one endpoint change", "updateMs"),
      ...perMode(results, "add one Service", "addServiceMs"),
      ...perMode(results, "kernel iptables-restore", "kernelRestoreMs", { dashed: true }, ["iptables"]),
      ...perMode(results, "kernel nft -f", "kernelRestoreMs", { dashed: true }, ["nftables"]),
      ...publishedSeries("sync"),
    ],
  };
  const cost: ChartPanel = {
    title: "client's node (whole path dashed)",
    yLabel: "rules evaluated (IPVS: lookups + rules)",
    yLog: true,
    series: [
      ...perMode(results, "first packet of a new connection", "firstPacketCost"),
      ...perMode(results, "first packet, whole path", "firstPacketCostPath", { dashed: true }),
      ...perMode(results, "later packet", "laterPacketCost"),
      ...perMode(results, "per request, no keepalive", "perRequestCostNoKeepalive"),
      ...perMode(results, `per request, keepalive ${k}`, "perRequestCostKeepalive"),
      ...publishedSeries("first-packet"),
    ],
  };
  const core: ChartPanel = {
    title: "the classifier alone",
    yLabel: "first packets per second",
    yLog: true,
    series: [
      ...perMode(results, "core: first packets/s (compiled)", "coreNewConnPerSec"),
      ...perMode(results, "core: first packets/s (reference)", "coreNewConnPerSecReference", { dashed: true }),
      limitSeries(results, "first packet (hash → pick → DNAT)", (r) => limitOf(r, "limitFirstPacketNs")),
    ],
  };
  const e2e: ChartPanel = {
    title: "end to end: Pod → ClusterIP on another node and back",
    yLabel: "per second",
    yLog: true,
    series: [
      ...perMode(results, "new connections/s (compiled)", "newConnPerSec"),
      ...perMode(results, "new connections/s (reference)", "newConnPerSecReference", { dashed: true }),
      ...perMode(results, "established packets/s", "establishedPps"),
      limitSeries(results, "established packet (conntrack lookup + DNAT)", (r) => limitOf(r, "limitConntrackNs")),
      limitSeries(results, "new connection (first packet + conntrack)", (r) => {
        const a = limitOf(r, "limitFirstPacketNs");
        const b = limitOf(r, "limitConntrackNs");
        return a && b ? { median: a.median + b.median, min: a.min + b.min, max: a.max + b.max } : null;
      }),
    ],
  };
  const sizes = results.options.services;
  const ratio: ChartPanel = {
    title: "podwire's time ÷ the JS limit's, same run",
    yLabel: "× the JS limit",
    yLog: true,
    series: [
      ...perMode(results, "core first packet", "coreRatioToLimit"),
      ...perMode(results, "new connection end to end", "newConnRatioToLimit"),
      ...perMode(results, "established packet end to end", "establishedRatioToLimit"),
      { name: "aim: 10× the limit (issue 12)", family: "limit", dashed: true, points: sizes.map((x) => ({ x, y: 10 })) },
    ],
  };
  const memory: ChartPanel = {
    title: "each row's own process",
    yLabel: "MB",
    yLog: true,
    series: [
      ...perMode(results, "RSS with the cluster and its rules", "rssMB"),
      ...perMode(results, "peak RSS over the row", "peakRssMB", { dashed: true }),
      ...perMode(results, "before setup (node + podwire loaded)", "baseRssMB"),
    ],
  };
  const kernel: ChartPanel = {
    title: "real kernel: extra µs of a new flow",
    yLabel: "µs",
    yLog: true,
    series: [...perMode(results, "kernel: extra µs of a new flow", "kernelFirstPacketUs", {}, ["iptables", "nftables"]), ...publishedSeries("kernel")],
  };
  const model: ChartPanel = {
    title: "podwire's model: rules evaluated",
    yLabel: "rules evaluated (IPVS: lookups + rules)",
    yLog: true,
    series: [
      ...perMode(results, "model: first packet (client node)", "firstPacketCost"),
      ...perMode(results, "model: classifier alone (nat PREROUTING / nft prerouting chains)", "firstPacketNatCost", { dashed: true }),
      ...publishedSeries("first-packet"),
    ],
  };
  return [
    chart(results, "rules", "Objects generated vs Services", "One node's kube-proxy output: iptables rule lines (IPVS mode: its remaining iptables rules, virtual servers, ipset entries); nftables mode: kube-proxy's ip kube-proxy table as loaded (rules, chains, set and map elements).", [rules]),
    chart(results, "sync", "Control plane: sync time vs Services", "kube-proxy's full sync (generate, then load into podwire) on the client's node, one endpoint change and one new Service (partial syncs), and the real kernel loading the full text (iptables-restore / nft -f).", [sync], [
      "The full sync and its load are the first sync of a fresh node, timed once (n = 1); the kernel load is one run.",
    ]),
    chart(results, "first-packet", "Modelled data-plane cost per packet vs Services", "Rules the kernel would evaluate (iptables; nftables: nft rules + flannel's iptables rules; IPVS: hash lookups + rules) on the client's node; exact counts from the emulated rulesets, averaged over sampled Services.", [cost]),
    chart(results, "throughput", "podwire's speed beside the JS limit vs Services", "Left: the classifier alone (iptables nat PREROUTING, nft prerouting chains, IPVS lookup + scheduler), compiled and reference. Right: podwire end to end. Grey dashed: the standalone JS limit measured in the same runs (src/bench/limit.ts).", [core, e2e]),
    chart(results, "limit-ratio", "How far from the JS limit: podwire ÷ limit vs Services", "Per run, podwire's time per packet (per connection) divided by the JS limit's in the same run; the median of those ratios. Core and established packets against their own limits, a new connection against both together.", [ratio]),
    chart(results, "memory", "Memory per row vs Services", "Resident memory of each row's own fresh process (/proc/self/status): before setup, with the 3-node cluster and its rules after setup (VmRSS), and the peak over the whole row (VmHWM). Issue 12 aims at ≤ 1 GB peak at 50,000 Services.", [memory]),
    chart(results, "kernel-vs-model", "Real kernel vs model: the first packet of a new connection", "Left: the real kernel, median new-flow minus established round trip through a router namespace holding the ruleset (no overlay; this kernel has no IPVS). Right: podwire's modelled rules for the same packet. Two panels, each with its own axis.", [kernel, model]),
  ];
}

export interface WrittenReport {
  dir: string;
  files: string[];
}

export function renderCharts(results: BenchResults): { id: string; file: string; svg: string; caption: string[]; title: string }[] {
  return chartSpecs(results).map((spec) => ({ id: spec.id, file: `chart-${spec.id}.svg`, svg: renderChart(spec), caption: spec.caption, title: spec.title }));
}

export function renderHtml(results: BenchResults, charts: { id: string; svg: string; caption: string[]; title: string }[]): string {
  const m = results.machine;
  const rows = formatTable(results.runs);
  const pub = results.published.map((p) => `<tr><td>${escapeXml(p.source)}</td><td>${escapeXml(p.finding)}</td><td>${escapeXml(p.podwire)}</td></tr>`).join("\n");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>podwire bench: kube-proxy modes at scale</title>
<style>
body { font-family: sans-serif; margin: 1.5em; color: #222; }
figure { margin: 0 0 2em 0; width: 100%; }
figure svg { width: 100%; height: auto; display: block; border: 1px solid #ddd; }
figcaption { margin-top: 0.4em; font-size: 14px; color: #333; }
table { border-collapse: collapse; margin: 1em 0; width: 100%; }
td, th { border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; text-align: left; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 12px; }
</style>
</head>
<body>
<h1>podwire bench: kube-proxy modes at scale</h1>
<p>${escapeXml(`${m.cpus} × ${m.cpuModel}, ${m.memGB} GB, ${m.platform}, kernel ${m.kernel}, node ${m.node}; load average ${m.loadAvgStart.map((x) => x.toFixed(2)).join(" ")} at the start, ${m.loadAvgEnd.map((x) => x.toFixed(2)).join(" ")} at the end. Seed ${results.seed}; modes ${results.options.modes.join(", ")}; ${results.options.endpoints} endpoints per Service; keepalive ${results.options.keepalive}; ${results.options.repeats} interleaved repetitions per timed figure; ${(results.durationMs / 1000).toFixed(1)} s.`)}</p>
<h2>Charts</h2>
${charts.map((c, i) => `<figure id="fig-${escapeXml(c.id)}">\n${c.svg}<figcaption><b>Figure ${i + 1}. ${escapeXml(c.title)}.</b> ${escapeXml(c.caption.join(" "))}</figcaption>\n</figure>`).join("\n")}
<h2>Published numbers beside this run</h2>
<table>
<tr><th>Source</th><th>Published</th><th>podwire, this run</th></tr>
${pub}
</table>
<h2>Notes</h2>
<ul>
${results.notes.map((n) => `<li>${escapeXml(n)}</li>`).join("\n")}
</ul>
<h2>Figures</h2>
<pre>${escapeXml(rows.join("\n"))}</pre>
<p>Every figure is in results.json and results.csv (with the min, max and n of each repeated figure); <code>null</code> (or an empty cell) means not measured.</p>
</body>
</html>
`;
}

/** Writes results.json, results.csv, chart-*.svg and report.html into `dir`. */
export function writeReport(dir: string, results: BenchResults): WrittenReport {
  prepareOutputDir(dir, "--out");
  const files: string[] = [];
  // Each file through a temporary file and a rename: a failed run leaves the old report.
  const put = (name: string, text: string): void => {
    writeFileAtomic(join(dir, name), text);
    files.push(join(dir, name));
  };
  put("results.json", JSON.stringify(results, null, 2) + "\n");
  put("results.csv", toCsv(results.runs));
  const charts = renderCharts(results);
  for (const c of charts) put(c.file, c.svg);
  put("report.html", renderHtml(results, charts));
  return { dir, files };
}
