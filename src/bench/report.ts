/**
 * The benchmark's charts and report: five SVG line charts (rules vs Services, sync time,
 * modelled first-packet cost, podwire throughput, kernel vs model), each with a series per
 * mode of the run (iptables, IPVS, nftables), and report.html, which puts them beside the
 * published scaling numbers. Written with `writeReport(dir, results)`.
 */
import { prepareOutputDir, writeFileAtomic } from "../base/index.js";
import { join } from "node:path";
import type { BenchResults, BenchRun } from "./results.js";
import { formatTable, toCsv } from "./results.js";
import { type ChartSeries, type ChartSpec, escapeXml, renderLineChart } from "./svg-chart.js";

type Pick = (r: BenchRun) => number | null | undefined;

function series(runs: readonly BenchRun[], mode: string, name: string, pick: Pick, extra: Partial<ChartSeries> = {}): ChartSeries {
  const rs = runs.filter((r) => r.mode === mode).sort((a, b) => a.services - b.services);
  return { name, points: rs.map((r) => ({ x: r.services, y: r.available ? (pick(r) ?? null) : null })), ...extra };
}

/** Series for every mode in the run, named "<mode>: <label>". */
function perMode(results: BenchResults, label: string, pick: Pick, extra: Partial<ChartSeries> = {}): ChartSeries[] {
  return results.options.modes.map((m) => series(results.runs, m, `${m}: ${label}`, pick, extra));
}

/** Series for the modes in `modes` that this run measured. */
function forModes(results: BenchResults, modes: readonly string[], label: string, pick: Pick, extra: Partial<ChartSeries> = {}): ChartSeries[] {
  return results.options.modes.filter((m) => modes.includes(m)).map((m) => series(results.runs, m, `${m}: ${label}`, pick, extra));
}

export function chartSpecs(results: BenchResults): ChartSpec[] {
  const e = results.options.endpoints;
  const k = results.options.keepalive;
  const xLabel = `Services (${e} endpoints each)`;
  return [
    {
      id: "rules",
      title: "Objects generated vs Services",
      subtitle: "one node's kube-proxy output (nftables: its ip kube-proxy table as loaded)",
      xLabel,
      yLabel: "count",
      xLog: true,
      yLog: true,
      series: [
        ...forModes(results, ["iptables", "ipvs"], "iptables rules", (r) => r.objects?.rules),
        ...forModes(results, ["ipvs"], "IPVS virtual servers", (r) => r.objects?.virtualServers),
        ...forModes(results, ["ipvs"], "ipset entries", (r) => r.objects?.ipsetEntries),
        ...forModes(results, ["nftables"], "nft rules", (r) => r.objects?.rules),
        ...forModes(results, ["nftables"], "nft chains", (r) => r.objects?.chains),
        ...forModes(results, ["nftables"], "nft set/map elements", (r) => r.objects?.setElements),
      ],
    },
    {
      id: "sync",
      title: "Control plane: sync time vs Services",
      subtitle: "podwire on the client's node; kernel: iptables-restore / nft -f of the same text",
      xLabel,
      yLabel: "ms",
      xLog: true,
      yLog: true,
      series: [
        ...perMode(results, "full sync (generate)", (r) => r.syncMs),
        ...perMode(results, "load into podwire", (r) => r.applyMs),
        ...perMode(results, "one endpoint change", (r) => r.updateMs),
        ...perMode(results, "add one Service", (r) => r.addServiceMs),
        ...forModes(results, ["iptables"], "kernel iptables-restore", (r) => r.kernelRestoreMs, { dashed: true }),
        ...forModes(results, ["nftables"], "kernel nft -f", (r) => r.kernelRestoreMs, { dashed: true }),
      ],
    },
    {
      id: "first-packet",
      title: "Modelled data-plane cost per packet vs Services",
      subtitle: "rules evaluated (iptables; nftables: nft rules + flannel's iptables rules) / hash lookups + rules (IPVS), client's node",
      xLabel,
      yLabel: "rules evaluated (or lookups)",
      xLog: true,
      yLog: true,
      series: [
        ...perMode(results, "first packet of a new connection", (r) => r.firstPacketCost),
        ...perMode(results, "first packet, whole path", (r) => r.firstPacketCostPath, { dashed: true }),
        ...perMode(results, "later packet", (r) => r.laterPacketCost),
        ...perMode(results, "per request, no keepalive", (r) => r.perRequestCostNoKeepalive),
        ...perMode(results, `per request, keepalive ${k}`, (r) => r.perRequestCostKeepalive),
      ],
    },
    {
      id: "throughput",
      title: "podwire's own throughput vs Services",
      subtitle: "end to end: Pod → ClusterIP on another node and back; core: the classifier alone",
      xLabel,
      yLabel: "per second",
      xLog: true,
      yLog: true,
      series: [
        ...perMode(results, "new connections/s (compiled)", (r) => r.newConnPerSec),
        ...perMode(results, "new connections/s (reference)", (r) => r.newConnPerSecReference, { dashed: true }),
        ...perMode(results, "established packets/s", (r) => r.establishedPps),
        ...perMode(results, "core: first packets/s (compiled)", (r) => r.coreNewConnPerSec),
        ...perMode(results, "core: first packets/s (reference)", (r) => r.coreNewConnPerSecReference, { dashed: true }),
      ],
    },
    {
      id: "kernel-vs-model",
      title: "Real kernel vs model: the first packet of a new connection",
      subtitle: "kernel: median new-flow minus established round trip through a router namespace (no kernel IPVS here)",
      xLabel,
      yLabel: "kernel µs",
      y2Label: "modelled rules evaluated (IPVS: lookups + rules)",
      xLog: true,
      yLog: false,
      y2Log: false,
      series: [
        ...forModes(results, ["iptables", "nftables"], "kernel: extra µs of a new flow", (r) => r.kernelFirstPacketUs),
        ...perMode(results, "model: rules evaluated, first packet (client node)", (r) => r.firstPacketCost, { axis: "right", dashed: true }),
        ...perMode(results, "model: classifier alone (nat PREROUTING / nft prerouting chains)", (r) => r.firstPacketNatCost, { axis: "right", dashed: true }),
      ],
    },
  ];
}

export interface WrittenReport {
  dir: string;
  files: string[];
}

export function renderCharts(results: BenchResults): { id: string; file: string; svg: string }[] {
  return chartSpecs(results).map((spec) => ({ id: spec.id, file: `chart-${spec.id}.svg`, svg: renderLineChart(spec) }));
}

export function renderHtml(results: BenchResults, charts: { id: string; svg: string }[]): string {
  const m = results.machine;
  const rows = formatTable(results.runs);
  const pub = results.published
    .map((p) => `<tr><td>${escapeXml(p.source)}</td><td>${escapeXml(p.finding)}</td><td>${escapeXml(p.podwire)}</td></tr>`)
    .join("\n");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>podwire bench: kube-proxy modes at scale</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1400px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
.charts figure { margin: 0; border: 1px solid #ddd; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; text-align: left; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 12px; }
.side { display: grid; grid-template-columns: minmax(660px, 2fr) 1fr; gap: 24px; align-items: start; }
</style>
</head>
<body>
<h1>podwire bench: kube-proxy modes at scale</h1>
<p>${escapeXml(`${m.cpus} × ${m.cpuModel}, ${m.memGB} GB, ${m.platform}, kernel ${m.kernel}, node ${m.node}; load average ${m.loadAvgStart.map((x) => x.toFixed(2)).join(" ")} at the start, ${m.loadAvgEnd.map((x) => x.toFixed(2)).join(" ")} at the end. Seed ${results.seed}; modes ${results.options.modes.join(", ")}; ${results.options.endpoints} endpoints per Service; keepalive ${results.options.keepalive}; ${(results.durationMs / 1000).toFixed(1)} s.`)}</p>
<div class="side">
<div>
<h2>Charts</h2>
<div class="charts">
${charts.map((c) => `<figure id="fig-${escapeXml(c.id)}">\n${c.svg}</figure>`).join("\n")}
</div>
</div>
<div>
<h2>Published numbers beside this run</h2>
<table>
<tr><th>Source</th><th>Published</th><th>podwire, this run</th></tr>
${pub}
</table>
<h2>Notes</h2>
<ul>
${results.notes.map((n) => `<li>${escapeXml(n)}</li>`).join("\n")}
</ul>
</div>
</div>
<h2>Figures</h2>
<pre>${escapeXml(rows.join("\n"))}</pre>
<p>Every figure is in results.json and results.csv; <code>null</code> (or an empty cell) means not measured.</p>
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
