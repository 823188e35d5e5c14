/**
 * `podwire bench` renders a tiny report: every SVG chart is well-formed XML (checked by a
 * small strict parser below), the numbers on its markers (and their min–max) equal the
 * figures in results.json for all three modes, the CSV has one line per run, and an
 * unavailable mode is a row of nulls rather than a failure. The charts' structure: one y axis
 * per panel (the kernel-vs-model chart is two panels), a caption on every chart with n and
 * the sources of its hollow published markers, one colour family per mode, every mode
 * present; report.html has a caption under every chart; the terminal tables fit 120
 * columns. A row run in its own process reports its own memory, never negative.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { figureAt, renderCharts, writeReport } from "../../src/bench/report.js";
import { PUBLISHED_SERIES } from "../../src/bench/published.js";
import { type BenchResults, type BenchRun, REPEATED_FIELDS, TABLE_WIDTH, emptyRun, formatTable } from "../../src/bench/results.js";
import { runBench } from "../../src/bench/runner.js";
import { FAMILIES, escapeXml, renderChart } from "../../src/bench/svg-chart.js";
import { BENCH_LEGEND, wrapLine } from "../../src/cli/bench-command.js";

// ---------------------------------------------------------------------------------------------
// A strict XML well-formedness checker (enough of XML 1.0 for SVG: declaration, comments,
// elements, attributes, character and entity references; no DTDs, no CDATA).

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const NAME = /^[A-Za-z_:][-A-Za-z0-9_:.]*/;

function decodeEntities(s: string, where: string): string {
  return s.replace(/&([^;]*);?/g, (m, body: string) => {
    if (!m.endsWith(";")) throw new Error(`bare & in ${where}`);
    if (body === "amp") return "&";
    if (body === "lt") return "<";
    if (body === "gt") return ">";
    if (body === "quot") return '"';
    if (body === "apos") return "'";
    if (/^#[0-9]+$/.test(body)) return String.fromCodePoint(Number(body.slice(1)));
    if (/^#x[0-9A-Fa-f]+$/.test(body)) return String.fromCodePoint(parseInt(body.slice(2), 16));
    throw new Error(`unknown entity &${body}; in ${where}`);
  });
}

function parseXml(src: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  const fail = (msg: string): never => {
    throw new Error(`${msg} at offset ${i}: ${JSON.stringify(src.slice(i, i + 40))}`);
  };
  if (src.startsWith("<?xml")) {
    const end = src.indexOf("?>");
    if (end < 0) fail("unterminated declaration");
    i = end + 2;
  }
  while (i < src.length) {
    if (src.startsWith("<!--", i)) {
      const end = src.indexOf("-->", i + 4);
      if (end < 0) fail("unterminated comment");
      if (src.slice(i + 4, end).includes("--")) fail("-- inside a comment");
      i = end + 3;
      continue;
    }
    if (src.startsWith("</", i)) {
      const m = NAME.exec(src.slice(i + 2));
      if (!m) fail("bad end tag");
      const name = m![0];
      i += 2 + name.length;
      while (/\s/.test(src[i] ?? "")) i++;
      if (src[i] !== ">") fail("bad end tag");
      i++;
      const open = stack.pop();
      if (!open || open.name !== name) fail(`end tag </${name}> does not match <${open?.name ?? "nothing"}>`);
      continue;
    }
    if (src[i] === "<") {
      if (root !== null && stack.length === 0) fail("second root element");
      const m = NAME.exec(src.slice(i + 1));
      if (!m) fail("bad start tag");
      const el: XmlElement = { name: m![0], attrs: {}, children: [], text: "" };
      i += 1 + el.name.length;
      for (;;) {
        const ws = /^\s*/.exec(src.slice(i))![0].length;
        i += ws;
        if (src.startsWith("/>", i)) {
          i += 2;
          if (stack.length) stack[stack.length - 1]!.children.push(el);
          else root = el;
          break;
        }
        if (src[i] === ">") {
          i++;
          if (stack.length) stack[stack.length - 1]!.children.push(el);
          else root = el;
          stack.push(el);
          break;
        }
        if (ws === 0) fail("attributes must be separated by white space");
        const an = NAME.exec(src.slice(i));
        if (!an) fail("bad attribute name");
        i += an![0].length;
        if (src[i] !== "=") fail("attribute without =");
        i++;
        const q = src[i];
        if (q !== '"' && q !== "'") fail("unquoted attribute value");
        const end = src.indexOf(q!, i + 1);
        if (end < 0) fail("unterminated attribute value");
        const raw = src.slice(i + 1, end);
        if (raw.includes("<")) fail("< in an attribute value");
        if (an![0] in el.attrs) fail(`duplicate attribute ${an![0]}`);
        el.attrs[an![0]] = decodeEntities(raw, `attribute ${an![0]}`);
        i = end + 1;
      }
      continue;
    }
    const next = src.indexOf("<", i);
    const text = src.slice(i, next < 0 ? src.length : next);
    if (stack.length === 0) {
      if (text.trim() !== "") fail("text outside the root element");
    } else {
      if (text.includes(">") && text.includes("]]>")) fail("]]> in text");
      stack[stack.length - 1]!.text += decodeEntities(text, "text");
    }
    i = next < 0 ? src.length : next;
  }
  if (stack.length) throw new Error(`unclosed element <${stack[stack.length - 1]!.name}>`);
  if (!root) throw new Error("no root element");
  return root;
}

function walk(el: XmlElement, f: (e: XmlElement) => void): void {
  f(el);
  for (const c of el.children) walk(c, f);
}

test("the XML checker rejects what is not well-formed", (t) => {
  t.notThrows(() => parseXml('<svg a="1"><g><title>x &amp; y</title></g><circle r="2"/></svg>'));
  for (const bad of ['<svg><g></svg>', '<svg a=1></svg>', '<svg a="1" a="2"/>', "<svg>a & b</svg>", "<svg/><svg/>", '<svg a="<"/>', "<svg>&nbsp;</svg>", "<svg>"]) {
    t.throws(() => parseXml(bad), undefined, bad);
  }
});

test("a chart's markers carry the exact numbers and ranges, published points are hollow, and odd names are escaped", (t) => {
  const svg = renderChart({
    id: "t",
    title: 'a <"chart"> & more',
    xLabel: "x",
    xLog: true,
    caption: ["what & why"],
    panels: [
      {
        title: "left",
        yLabel: "y",
        yLog: true,
        series: [
          { name: "s & <t>", family: "iptables", points: [{ x: 10, y: 1.5, min: 1, max: 2 }, { x: 100, y: null }, { x: 1000, y: 2750.25, min: 2000, max: 3000 }] },
          { name: "paper", family: "iptables", points: [{ x: 100, y: 7 }], published: { source: "A <paper>", shape: "diamond" } },
        ],
      },
      { title: "right", yLabel: "z", series: [{ name: "other", family: "nftables", points: [{ x: 10, y: 0 }] }] },
    ],
  });
  const root = parseXml(svg);
  const marks: string[][] = [];
  walk(root, (e) => {
    if (e.attrs.class?.startsWith("marker")) marks.push([e.name, e.attrs["data-series"]!, e.attrs["data-x"]!, e.attrs["data-y"]!, e.attrs["data-min"] ?? "", e.attrs["data-max"] ?? "", e.attrs.fill!]);
  });
  t.deepEqual(marks.map((m) => m.slice(1, 6)), [["s & <t>", "10", "1.5", "1", "2"], ["s & <t>", "1000", "2750.25", "2000", "3000"], ["paper", "100", "7", "", ""], ["other", "10", "0", "", ""]]);
  t.is(marks[2]![0], "polygon", "a diamond");
  t.is(marks[2]![6], "none", "published markers are hollow");
  t.true(marks.filter((m) => m[1] !== "paper").every((m) => m[6] !== "none"), "measured markers are filled");
  t.is(count(root, (e) => e.attrs.class === "band"), 1, "one band: the series with two ranged points");
  t.regex(textOf(root, "caption"), /what & why/);
});

// ---------------------------------------------------------------------------------------------
// Helpers over the parsed SVG.

function count(root: XmlElement, f: (e: XmlElement) => boolean): number {
  let n = 0;
  walk(root, (e) => {
    if (f(e)) n++;
  });
  return n;
}

/** The text of every <text> under the first element of class `cls`. */
function textOf(root: XmlElement, cls: string): string {
  let found: XmlElement | null = null;
  walk(root, (e) => {
    if (!found && e.attrs.class === cls) found = e;
  });
  const parts: string[] = [];
  if (found) walk(found, (e) => {
    if (e.name === "text") parts.push(e.text);
  });
  return parts.join(" ");
}

function childrenOfClass(root: XmlElement, cls: string): XmlElement[] {
  const out: XmlElement[] = [];
  walk(root, (e) => {
    if (e.attrs.class === cls) out.push(e);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// A tiny real run, in this process (memory is then not reported).

const CHARTS = ["rules", "sync", "first-packet", "throughput", "limit-ratio", "memory", "kernel-vs-model"];

test("a tiny bench run: well-formed SVG whose numbers equal results.json, for iptables, IPVS and nftables mode", async (t) => {
  const results: BenchResults = await runBench({
    services: [5, 40],
    endpoints: 3,
    modes: ["iptables", "ipvs", "nftables"],
    connections: 300,
    keepalive: 10,
    quick: true,
    seed: 7,
    repeats: 3,
    kernel: false,
    kernelMaxServices: 0,
    isolate: false,
    effort: 0.2,
  });
  const dir = mkdtempSync(join(tmpdir(), "podwire-bench-test-"));
  try {
    writeReport(dir, results);
    const json = JSON.parse(readFileSync(join(dir, "results.json"), "utf8")) as BenchResults;
    t.is(json.runs.length, 6);
    for (const key of ["machine", "seed", "runs"] as const) t.true(key in json);
    const ipt = json.runs.filter((r) => r.mode === "iptables");
    const ipvs = json.runs.filter((r) => r.mode === "ipvs");
    const nft = json.runs.filter((r) => r.mode === "nftables");
    t.true(ipt.every((r) => r.available && r.objects !== null && r.syncMs !== null && r.firstPacketCost !== null && r.newConnPerSec !== null && r.kernelRestoreMs === null));
    t.true(ipvs.every((r) => r.available && r.objects!.virtualServers !== null && r.syncMs !== null && r.firstPacketCost !== null && r.newConnPerSec !== null && r.kernelRestoreMs === null));
    // IPVS: one virtual server per Service (plus kubernetes' and kube-dns' three), lookups not rules.
    for (const r of ipvs) t.is(r.objects!.virtualServers, r.services + 4);
    t.is(ipvs[0]!.firstPacketCost, ipvs[1]!.firstPacketCost, "IPVS's first-packet cost does not grow with the number of Services");
    // kube-proxy's nat rule count: 5 + Σ(2 + 3·endpoints), plus the kubernetes Service (1 endpoint).
    for (const r of ipt) t.is(r.objects!.natRules, 5 + r.services * (2 + 3 * 3) + 5);
    // The first packet of a new connection costs more than a later one, and more with more Services.
    t.true(ipt[1]!.firstPacketCost! > ipt[0]!.firstPacketCost! && ipt[0]!.firstPacketCost! > ipt[0]!.laterPacketCost!);

    // nftables: objects counted from kube-proxy's nft table, every figure but the reference engine's and the kernel's.
    t.is(nft.length, 2);
    for (const r of nft) {
      t.true(r.available && r.costUnit === "rules evaluated", JSON.stringify(r));
      for (const k of ["syncMs", "applyMs", "updateMs", "addServiceMs", "updateComputeMs", "updateApplyMs", "firstPacketCost", "firstPacketExprs", "firstPacketNatCost", "firstPacketNatExprs", "laterPacketCost", "newConnPerSec", "establishedPps", "coreNewConnPerSec"] as const) {
        t.is(typeof r[k], "number", `nftables ${r.services}: ${k}`);
      }
      t.is(r.newConnPerSecReference, null);
      t.is(r.coreNewConnPerSecReference, null);
      t.is(r.kernelRestoreMs, null);
      t.is(r.objects!.virtualServers, null);
    }
    // Per Service with E endpoints: a service chain (masquerade check + numgen vmap) and E endpoint
    // chains (hairpin + dnat); a cluster-ips element and a service-ips element.
    const d = nft[1]!.services - nft[0]!.services;
    t.is(nft[1]!.objects!.rules! - nft[0]!.objects!.rules!, d * (2 + 2 * 3));
    t.is(nft[1]!.objects!.chains! - nft[0]!.objects!.chains!, d * (1 + 3));
    t.is(nft[1]!.objects!.setElements! - nft[0]!.objects!.setElements!, d * 2);
    // Verdict maps: the first packet costs the same at 5 and at 40 Services, and the classifier alone too.
    t.is(nft[0]!.firstPacketCost, nft[1]!.firstPacketCost, "nftables' first-packet cost does not grow with the number of Services");
    t.is(nft[0]!.firstPacketNatCost, nft[1]!.firstPacketNatCost);
    t.true(nft[0]!.firstPacketCost! > nft[0]!.laterPacketCost! && nft[0]!.firstPacketExprs! > nft[0]!.firstPacketCost!);

    // Repetitions: each timed figure is the median of 3, within its range; the limit and the ratios are there.
    for (const r of json.runs) {
      t.is(r.repeats, 3);
      for (const f of ["newConnPerSec", "establishedPps", "coreNewConnPerSec", "limitFirstPacketNs", "limitConntrackNs", "coreRatioToLimit", "newConnRatioToLimit", "establishedRatioToLimit"] as const) {
        const s = r.spread[f];
        t.truthy(s, `${r.mode} ${r.services}: ${f} has a spread`);
        t.is(s!.n, 3, `${r.mode} ${r.services}: ${f}`);
        t.true(s!.min <= r[f]! && r[f]! <= s!.max, `${r.mode} ${r.services}: ${f} ${r[f]} within ${s!.min}–${s!.max}`);
        t.true(r[f]! > 0);
      }
      // The ratio is podwire's time over the limit's, per repetition: its median lies between the
      // extreme pairings of the two spreads (a bound noise cannot break, a wrong formula would);
      // 1% of slack for the rounding of the published figures.
      const core = r.spread.coreNewConnPerSec!;
      const limit = r.spread.limitFirstPacketNs!;
      const lo = 1e9 / core.max / limit.max;
      const hi = 1e9 / core.min / limit.min;
      t.true(lo * 0.99 <= r.coreRatioToLimit! && r.coreRatioToLimit! <= hi * 1.01, `${r.mode} ${r.services}: core ratio ${r.coreRatioToLimit} within ${lo}–${hi}`);
      // iptables and IPVS can undo a change, so it is timed 3 times; nftables' adapter cannot (yet): once.
      t.is(r.spread.updateMs?.n, r.mode === "nftables" ? 1 : 3, `${r.mode}: update repetitions`);
      t.is(r.rssMB, null, "in-process rows report no memory");
      t.regex(r.memorySource!, /not measured/);
    }

    const csv = readFileSync(join(dir, "results.csv"), "utf8").trim().split("\n");
    t.is(csv.length, 1 + 6);
    for (const col of ["objects.chains", "firstPacketExprs", "limitFirstPacketNs", "coreRatioToLimit", "newConnPerSec.min", "newConnPerSec.max", "newConnPerSec.n", "peakRssMB"]) t.true(csv[0]!.split(",").includes(col), col);
    t.is(csv.filter((l) => l.startsWith("nftables,")).length, 2);
    t.true(csv[0]!.startsWith("mode,services,endpoints"));

    let checked = 0;
    const seenModes = new Set<string>();
    for (const id of CHARTS) {
      const svg = readFileSync(join(dir, `chart-${id}.svg`), "utf8");
      const root = parseXml(svg);
      t.is(root.name, "svg");
      // No dual axes: every panel has one y axis and one y label; the kernel chart is two panels.
      const panels = childrenOfClass(root, "panel");
      t.is(panels.length, id === "kernel-vs-model" || id === "throughput" ? 2 : 1, `${id}: panels`);
      for (const p of panels) {
        t.is(count(p, (e) => e.attrs.class === "y-axis"), 1, `${id}: one y axis per panel`);
        t.is(count(p, (e) => e.attrs.class === "y-label"), 1, `${id}: one y label per panel`);
      }
      t.false(svg.includes("right axis"), `${id}: no second y axis`);
      // A caption, naming every published source shown.
      const cap = textOf(root, "caption");
      t.true(cap.length > 40, `${id}: a caption`);
      walk(root, (e) => {
        if (e.attrs.class !== "marker published") return;
        t.is(e.attrs.fill, "none", `${id}: published markers are hollow`);
        t.true(cap.replace(/\s+/g, " ").includes(e.attrs["data-source"]!.split(" ").slice(0, 2).join(" ")), `${id}: the caption names ${e.attrs["data-source"]}`);
      });
      if (svg.includes('data-min="')) t.regex(cap, /n = 3/, `${id}: n in the caption`);
      // One colour family per mode.
      for (const g of childrenOfClass(root, "series").concat(childrenOfClass(root, "series published"))) {
        const family = g.attrs["data-family"]!;
        walk(g, (e) => {
          if (!e.attrs.class?.startsWith("marker")) return;
          const colour = e.attrs.class === "marker" ? e.attrs.fill! : e.attrs.stroke!;
          t.true((FAMILIES[family] ?? []).includes(colour), `${id}: ${g.attrs["data-name"]} is drawn in the ${family} family (${colour})`);
        });
        // Every measured marker is the figure in results.json, with its range.
        const field = g.attrs["data-field"];
        if (!field || g.attrs.class !== "series") continue;
        walk(g, (e) => {
          if (e.attrs.class !== "marker") return;
          const mode = family;
          const services = Number(e.attrs["data-x"]);
          const run = json.runs.find((r) => r.services === services && r.mode === mode)!;
          t.truthy(run, `${id}: ${e.attrs["data-series"]} at ${services}`);
          t.is(e.attrs["data-y"], String(figureAt(run, field)), `${id}: ${e.attrs["data-series"]} at ${services}`);
          if ("data-min" in e.attrs) {
            const s = run.spread[field as (typeof REPEATED_FIELDS)[number]]!;
            t.deepEqual([e.attrs["data-min"], e.attrs["data-max"]], [String(s.min), String(s.max)], `${id}: ${field} range`);
          }
          seenModes.add(`${id} ${mode}`);
          checked++;
        });
      }
    }
    t.true(checked >= 40, `checked ${checked} markers`);
    // Every chart shows every mode (memory is not measured in-process; the kernel panel has no IPVS).
    for (const id of CHARTS.filter((c) => c !== "memory")) for (const m of ["iptables", "ipvs", "nftables"]) t.true(seenModes.has(`${id} ${m}`), `${id} has no ${m} marker`);
    // Every published series is on some chart.
    const all = CHARTS.map((id) => readFileSync(join(dir, `chart-${id}.svg`), "utf8")).join("");
    for (const p of PUBLISHED_SERIES) t.true(all.includes(`data-source="${escapeXml(p.source)}"`), p.label);

    const html = readFileSync(join(dir, "report.html"), "utf8");
    t.true(html.includes("Tigera") && html.includes("<svg") && html.includes("#96018"));
    t.true(html.includes("NFTables mode for kube-proxy") && html.includes("nftables"));
    // Full width, a caption under every chart.
    t.is((html.match(/<figure /g) ?? []).length, CHARTS.length);
    t.is((html.match(/<figcaption>/g) ?? []).length, CHARTS.length);
    t.false(/max-width/.test(html), "report.html is full width");
    t.regex(html, /figure svg \{ width: 100%/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a row in its own process reports that process's memory, never negative", async (t) => {
  const results = await runBench({ services: [5], endpoints: 2, modes: ["iptables"], connections: 100, keepalive: 10, quick: true, seed: 3, repeats: 1, kernel: false, kernelMaxServices: 0, effort: 0.1 });
  const r = results.runs[0]!;
  t.true(r.available, r.note ?? "");
  t.true(r.baseRssMB! > 0 && r.rssMB! > 0 && r.peakRssMB! > 0, JSON.stringify({ base: r.baseRssMB, rss: r.rssMB, peak: r.peakRssMB }));
  t.true(r.peakRssMB! >= r.rssMB! && r.peakRssMB! >= r.baseRssMB!, "the peak is at least every reading");
  t.true(r.heapMB! > 0);
  if (process.platform === "linux") t.is(r.memorySource, "/proc/self/status");
});

// ---------------------------------------------------------------------------------------------
// Terminal tables.

function bigRun(mode: "iptables" | "ipvs" | "nftables", services: number): BenchRun {
  const r = emptyRun(mode, services, 10, 100, "rules evaluated");
  Object.assign(r, {
    available: true, repeats: 5,
    objects: { rules: 1_600_017, filterRules: 17, natRules: 1_600_000, virtualServers: 50_004, realServers: 500_040, ipsetEntries: 100_006, chains: 550_018, setElements: 100_006 },
    syncMs: 36_512.3, applyMs: 123_456.7, updateMs: 38_512.1, addServiceMs: 41_234.5, rssMB: 12_345.6, peakRssMB: 23_456.7, kernelRestoreMs: 437_812.3,
    firstPacketCost: 74_812, firstPacketExprs: 88, laterPacketCost: 11.5, firstPacketCostPath: 175_123, perRequestCostNoKeepalive: 74_823, perRequestCostKeepalive: 759.6, firstPacketNatCost: 25_066, kernelFirstPacketUs: 272.25,
    coreNewConnPerSec: 1_234_567, newConnPerSec: 123_456, establishedPps: 567_890, coreNewConnPerSecReference: 1_234, newConnPerSecReference: 55,
    coreRatioToLimit: 1234.5, newConnRatioToLimit: 345.6, establishedRatioToLimit: 45.6, limitFirstPacketNs: 1234.56, limitConntrackNs: 987.65,
    spread: Object.fromEntries(REPEATED_FIELDS.map((f) => [f, { min: 1_000_001, max: 9_999_999, n: 5 }])),
  });
  return r;
}

test("the terminal tables and the legend fit 120 columns, even at 50,000 Services with wide numbers", (t) => {
  const runs = (["iptables", "ipvs", "nftables"] as const).flatMap((m) => [bigRun(m, 50_000), bigRun(m, 100)]);
  runs.push({ ...emptyRun("ipvs", 1_000_000, 10, 100, "hash lookups"), note: "the row's process ended with SIGKILL: FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory".repeat(3) });
  const lines = [...formatTable(runs), ...BENCH_LEGEND, ...wrapLine(`note: ${"a long note ".repeat(30)}`)];
  for (const l of lines) t.true(l.length <= TABLE_WIDTH, `${l.length} columns: ${l}`);
  t.true(lines.some((l) => l.includes("1.23M (1.00–10.00)")), "a rate with its range");
  t.true(lines.some((l) => l.includes("1235×")), "a ratio to the limit");
});

test("the charts render for a run of nothing but unavailable rows", (t) => {
  const results = { options: { services: [10], endpoints: 10, modes: ["ipvs"], keepalive: 100, repeats: 5 }, runs: [emptyRun("ipvs", 10, 10, 100, "hash lookups")] } as unknown as BenchResults;
  for (const c of renderCharts(results)) {
    const root = parseXml(c.svg);
    t.is(root.name, "svg", c.id);
  }
});
