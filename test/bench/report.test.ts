/**
 * `podwire bench` renders a tiny report: every SVG chart is well-formed XML (checked by a
 * small strict parser below), the numbers on its markers equal the figures in
 * results.json for all three modes (iptables, IPVS, nftables), the CSV has one line per run,
 * and an unavailable mode (reported with nulls, as ipvs was until it landed) is a row of
 * nulls rather than a failure.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { renderLineChart } from "../../src/bench/svg-chart.js";
import { writeReport } from "../../src/bench/report.js";
import type { BenchResults, BenchRun } from "../../src/bench/results.js";
import { runBench } from "../../src/bench/runner.js";

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

test("a chart's markers carry the exact numbers, and odd names are escaped", (t) => {
  const svg = renderLineChart({
    id: "t",
    title: 'a <"chart"> & more',
    xLabel: "x",
    yLabel: "y",
    xLog: true,
    yLog: true,
    series: [{ name: "s & <t>", points: [{ x: 10, y: 1.5 }, { x: 100, y: null }, { x: 1000, y: 2750.25 }] }, { name: "right", axis: "right", points: [{ x: 10, y: 0 }] }],
  });
  const root = parseXml(svg);
  const marks: [string, string, string][] = [];
  walk(root, (e) => {
    if (e.name === "circle") marks.push([e.attrs["data-series"]!, e.attrs["data-x"]!, e.attrs["data-y"]!]);
  });
  t.deepEqual(marks, [["s & <t>", "10", "1.5"], ["s & <t>", "1000", "2750.25"], ["right", "10", "0"]]);
});

// ---------------------------------------------------------------------------------------------
// A tiny real run.

/** Which results.json field each chart series shows. */
const SERIES_FIELDS: Record<string, (r: BenchRun) => number | null | undefined> = {
  "iptables rules": (r) => r.objects?.rules,
  "IPVS virtual servers": (r) => r.objects?.virtualServers,
  "ipset entries": (r) => r.objects?.ipsetEntries,
  "nft rules": (r) => r.objects?.rules,
  "nft chains": (r) => r.objects?.chains,
  "nft set/map elements": (r) => r.objects?.setElements,
  "kernel nft -f": (r) => r.kernelRestoreMs,
  "full sync (generate)": (r) => r.syncMs,
  "load into podwire": (r) => r.applyMs,
  "one endpoint change": (r) => r.updateMs,
  "add one Service": (r) => r.addServiceMs,
  "kernel iptables-restore": (r) => r.kernelRestoreMs,
  "first packet of a new connection": (r) => r.firstPacketCost,
  "first packet, whole path": (r) => r.firstPacketCostPath,
  "later packet": (r) => r.laterPacketCost,
  "per request, no keepalive": (r) => r.perRequestCostNoKeepalive,
  "new connections/s (compiled)": (r) => r.newConnPerSec,
  "new connections/s (reference)": (r) => r.newConnPerSecReference,
  "established packets/s": (r) => r.establishedPps,
  "core: first packets/s (compiled)": (r) => r.coreNewConnPerSec,
  "core: first packets/s (reference)": (r) => r.coreNewConnPerSecReference,
  "kernel: extra µs of a new flow": (r) => r.kernelFirstPacketUs,
  "model: rules evaluated, first packet (client node)": (r) => r.firstPacketCost,
  "model: classifier alone (nat PREROUTING / nft prerouting chains)": (r) => r.firstPacketNatCost,
};

function fieldFor(series: string): { mode: string; pick: (r: BenchRun) => number | null | undefined } {
  const m = /^(iptables|ipvs|nftables): (.*)$/.exec(series);
  if (!m) throw new Error(`series ${series} does not name its mode`);
  const label = m[2]!;
  if (/^per request, keepalive \d+$/.test(label)) return { mode: m[1]!, pick: (r) => r.perRequestCostKeepalive };
  const pick = SERIES_FIELDS[label];
  if (!pick) throw new Error(`no field known for series ${series}`);
  return { mode: m[1]!, pick };
}

test("a tiny bench run: well-formed SVG whose numbers equal results.json, for iptables, IPVS and nftables mode", (t) => {
  const results: BenchResults = runBench({
    services: [5, 40],
    endpoints: 3,
    modes: ["iptables", "ipvs", "nftables"],
    connections: 300,
    keepalive: 10,
    quick: true,
    seed: 7,
    kernel: false,
    kernelMaxServices: 0,
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

    const csv = readFileSync(join(dir, "results.csv"), "utf8").trim().split("\n");
    t.is(csv.length, 1 + 6);
    t.true(csv[0]!.includes("objects.chains") && csv[0]!.includes("firstPacketExprs"));
    t.is(csv.filter((l) => l.startsWith("nftables,")).length, 2);
    t.true(csv[0]!.startsWith("mode,services,endpoints"));

    const charts = ["rules", "sync", "first-packet", "throughput", "kernel-vs-model"];
    let checked = 0;
    const seenModes = new Set<string>();
    for (const id of charts) {
      const svg = readFileSync(join(dir, `chart-${id}.svg`), "utf8");
      const root = parseXml(svg);
      t.is(root.name, "svg");
      walk(root, (e) => {
        if (e.name !== "circle" || !("data-series" in e.attrs)) return;
        const { mode, pick } = fieldFor(e.attrs["data-series"]!);
        const services = Number(e.attrs["data-x"]);
        const run = json.runs.find((r) => r.services === services && r.mode === mode);
        seenModes.add(`${id} ${mode}`);
        t.truthy(run, `${id}: ${e.attrs["data-series"]} at ${services}`);
        t.is(e.attrs["data-y"], String(pick(run!)), `${id}: ${e.attrs["data-series"]} at ${services}`);
        checked++;
      });
    }
    t.true(checked >= 20, `checked ${checked} markers`);
    // Every chart shows all three modes.
    for (const id of charts) for (const m of ["iptables", "ipvs", "nftables"]) t.true(seenModes.has(`${id} ${m}`), `${id} has no ${m} marker`);
    const html = readFileSync(join(dir, "report.html"), "utf8");
    t.true(html.includes("Tigera") && html.includes("<svg") && html.includes("#96018"));
    t.true(html.includes("NFTables mode for kube-proxy") && html.includes("nftables"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
