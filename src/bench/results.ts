/**
 * The benchmark's results: one row per (mode, Service count), and the writers —
 * results.json, results.csv and the terminal tables (each within 120 columns; every
 * figure, with its min, max and n, is in the JSON and the CSV).
 */
import type { ObjectCounts, ProxyModeName } from "./modes.js";
import type { PublishedRow } from "./published.js";
import type { Sample } from "./stats.js";

/** The range of a figure that is the median of repetitions. */
export interface Spread {
  min: number;
  max: number;
  n: number;
}

/** Figures that are medians of repetitions (their spread is in `BenchRun.spread`). */
export const REPEATED_FIELDS = [
  "updateMs", "addServiceMs", "updateComputeMs", "updateApplyMs", "addServiceComputeMs", "addServiceApplyMs",
  "newConnPerSec", "newConnPerSecReference", "establishedPps", "coreNewConnPerSec", "coreNewConnPerSecReference",
  "limitFirstPacketNs", "limitConntrackNs", "coreRatioToLimit", "newConnRatioToLimit", "establishedRatioToLimit",
] as const;
export type RepeatedField = (typeof REPEATED_FIELDS)[number];

export interface BenchRun {
  mode: ProxyModeName;
  services: number;
  endpoints: number;
  /** False when the mode could not run ("ipvs: not available yet"); every figure is then null. */
  available: boolean;
  note: string | null;
  costUnit: string;
  objects: ObjectCounts | null;
  /** Control plane (the client's node). */
  modelBuildMs: number | null;
  syncMs: number | null;
  applyMs: number | null;
  updateMs: number | null;
  addServiceMs: number | null;
  /** The two halves of updateMs / addServiceMs: kube-proxy computing the change, and loading it into podwire. */
  updateComputeMs: number | null;
  updateApplyMs: number | null;
  addServiceComputeMs: number | null;
  addServiceApplyMs: number | null;
  /**
   * Memory of the fresh process that measured this row (never a difference, so never
   * negative): its resident set before anything was built, with the cluster and its rules
   * after setup (and the heap in use then), and its peak over the whole row.
   */
  baseRssMB: number | null;
  rssMB: number | null;
  heapMB: number | null;
  peakRssMB: number | null;
  /** Where the memory figures come from ("/proc/self/status" VmRSS/VmHWM), or why there are none. */
  memorySource: string | null;
  /** Modelled data plane. */
  firstPacketCost: number | null;
  laterPacketCost: number | null;
  firstPacketCostPath: number | null;
  laterPacketCostPath: number | null;
  /**
   * The classifier alone for a new connection (what the kernel experiment measures: no
   * overlay): iptables' nat PREROUTING walk; in nftables mode the prerouting nft base chains
   * (filter-prerouting-pre-dnat and nat-prerouting); in IPVS mode its two hash lookups.
   */
  firstPacketNatCost: number | null;
  /** nftables mode: kernel expressions (nft_do_chain's per-expression work) for the first packet on the client's node, and in the classifier alone. */
  firstPacketExprs: number | null;
  firstPacketNatExprs: number | null;
  packetsPerRequest: number | null;
  keepalive: number;
  perRequestCostNoKeepalive: number | null;
  perRequestCostKeepalive: number | null;
  /** Measured: podwire itself. */
  newConnPerSec: number | null;
  newConnPerSecReference: number | null;
  establishedPps: number | null;
  coreNewConnPerSec: number | null;
  coreNewConnPerSecReference: number | null;
  /** The standalone JS limit (limit.ts) at this size: ns per first packet, and per established packet (conntrack-style lookup). */
  limitFirstPacketNs: number | null;
  limitConntrackNs: number | null;
  /** Ratios to the limit, medians of per-round ratios: core first packet; a new connection end to end (÷ first packet + conntrack limit); an established packet end to end (÷ conntrack limit). */
  coreRatioToLimit: number | null;
  newConnRatioToLimit: number | null;
  establishedRatioToLimit: number | null;
  /** Interleaved repetitions of each timed figure (--repeat). */
  repeats: number;
  /** min, max and n of every figure that is a median of repetitions. */
  spread: Partial<Record<RepeatedField, Spread>>;
  /** Measured: the real kernel. */
  kernelRestoreMs: number | null;
  kernelRuleLines: number | null;
  kernelFirstPacketUs: number | null;
  kernelNewFlowUs: number | null;
  kernelEstablishedFlowUs: number | null;
  kernelFlows: number | null;
  /** Host time this row took, ms. */
  wallMs: number;
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memGB: number;
  node: string;
  platform: string;
  kernel: string;
  loadAvgStart: number[];
  loadAvgEnd: number[];
}

export interface BenchResults {
  tool: "podwire bench";
  version: string;
  machine: MachineInfo;
  seed: number;
  options: { services: number[]; endpoints: number; modes: ProxyModeName[]; connections: number; keepalive: number; quick: boolean; repeats: number; kernel: boolean; kernelMaxServices: number };
  durationMs: number;
  runs: BenchRun[];
  published: PublishedRow[];
  notes: string[];
}

/** Fixed decimals per figure, so the JSON, CSV, table and charts print the same numbers. */
const DECIMALS: Partial<Record<keyof BenchRun, number>> = {
  modelBuildMs: 2,
  syncMs: 2,
  applyMs: 2,
  updateMs: 3,
  addServiceMs: 3,
  updateComputeMs: 3,
  updateApplyMs: 3,
  addServiceComputeMs: 3,
  addServiceApplyMs: 3,
  baseRssMB: 1,
  rssMB: 1,
  heapMB: 1,
  peakRssMB: 1,
  firstPacketCost: 1,
  laterPacketCost: 2,
  firstPacketCostPath: 1,
  laterPacketCostPath: 2,
  firstPacketNatCost: 1,
  firstPacketExprs: 1,
  firstPacketNatExprs: 1,
  perRequestCostNoKeepalive: 1,
  perRequestCostKeepalive: 2,
  newConnPerSec: 0,
  newConnPerSecReference: 0,
  establishedPps: 0,
  coreNewConnPerSec: 0,
  coreNewConnPerSecReference: 0,
  limitFirstPacketNs: 2,
  limitConntrackNs: 2,
  coreRatioToLimit: 2,
  newConnRatioToLimit: 1,
  establishedRatioToLimit: 1,
  kernelRestoreMs: 1,
  kernelFirstPacketUs: 2,
  kernelNewFlowUs: 2,
  kernelEstablishedFlowUs: 2,
  wallMs: 0,
};

export function roundRun(r: BenchRun): BenchRun {
  const out = { ...r } as Record<string, unknown>;
  for (const [k, d] of Object.entries(DECIMALS)) {
    const v = out[k];
    if (typeof v === "number") out[k] = Number(v.toFixed(d!));
  }
  const spread: Partial<Record<RepeatedField, Spread>> = {};
  for (const [k, s] of Object.entries(r.spread) as [RepeatedField, Spread][]) {
    const d = DECIMALS[k] ?? 3;
    spread[k] = { min: Number(s.min.toFixed(d)), max: Number(s.max.toFixed(d)), n: s.n };
  }
  out.spread = spread;
  return out as unknown as BenchRun;
}

/** Sets a repeated figure: its median on the run, its range in `spread`. */
export function setSample(run: BenchRun, field: RepeatedField, s: Sample | null): void {
  (run as unknown as Record<string, number | null>)[field] = s === null ? null : s.median;
  if (s === null) delete run.spread[field];
  else run.spread[field] = { min: s.min, max: s.max, n: s.n };
}

export function emptyRun(mode: ProxyModeName, services: number, endpoints: number, keepalive: number, costUnit: string): BenchRun {
  return {
    mode, services, endpoints, available: false, note: null, costUnit, objects: null,
    modelBuildMs: null, syncMs: null, applyMs: null, updateMs: null, addServiceMs: null,
    updateComputeMs: null, updateApplyMs: null, addServiceComputeMs: null, addServiceApplyMs: null,
    baseRssMB: null, rssMB: null, heapMB: null, peakRssMB: null, memorySource: null,
    firstPacketCost: null, laterPacketCost: null, firstPacketCostPath: null, laterPacketCostPath: null, firstPacketNatCost: null, firstPacketExprs: null, firstPacketNatExprs: null, packetsPerRequest: null,
    keepalive, perRequestCostNoKeepalive: null, perRequestCostKeepalive: null,
    newConnPerSec: null, newConnPerSecReference: null, establishedPps: null, coreNewConnPerSec: null, coreNewConnPerSecReference: null,
    limitFirstPacketNs: null, limitConntrackNs: null, coreRatioToLimit: null, newConnRatioToLimit: null, establishedRatioToLimit: null,
    repeats: 0, spread: {},
    kernelRestoreMs: null, kernelRuleLines: null, kernelFirstPacketUs: null, kernelNewFlowUs: null, kernelEstablishedFlowUs: null, kernelFlows: null,
    wallMs: 0,
  };
}

// ---------------------------------------------------------------------------------------------
// CSV

const CSV_COLUMNS: (keyof BenchRun | `objects.${keyof ObjectCounts}`)[] = [
  "mode", "services", "endpoints", "available", "costUnit",
  "objects.rules", "objects.filterRules", "objects.natRules", "objects.virtualServers", "objects.realServers", "objects.ipsetEntries", "objects.chains", "objects.setElements",
  "modelBuildMs", "syncMs", "applyMs", "updateMs", "addServiceMs", "updateComputeMs", "updateApplyMs", "addServiceComputeMs", "addServiceApplyMs", "baseRssMB", "rssMB", "heapMB", "peakRssMB", "memorySource",
  "firstPacketCost", "laterPacketCost", "firstPacketCostPath", "laterPacketCostPath", "firstPacketNatCost", "firstPacketExprs", "firstPacketNatExprs", "packetsPerRequest", "keepalive", "perRequestCostNoKeepalive", "perRequestCostKeepalive",
  "newConnPerSec", "newConnPerSecReference", "establishedPps", "coreNewConnPerSec", "coreNewConnPerSecReference",
  "limitFirstPacketNs", "limitConntrackNs", "coreRatioToLimit", "newConnRatioToLimit", "establishedRatioToLimit", "repeats",
  "kernelRestoreMs", "kernelRuleLines", "kernelFirstPacketUs", "kernelNewFlowUs", "kernelEstablishedFlowUs", "kernelFlows",
  "wallMs", "note",
];

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return "";
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One line per run; every repeated figure is followed by its min, max and n (`updateMs.min`, …). */
export function toCsv(runs: readonly BenchRun[]): string {
  const spreadColumns = REPEATED_FIELDS.flatMap((f) => [`${f}.min`, `${f}.max`, `${f}.n`]);
  const lines = [[...CSV_COLUMNS, ...spreadColumns].join(",")];
  for (const r of runs) {
    const cells = CSV_COLUMNS.map((c) => {
      if (c.startsWith("objects.")) return csvCell(r.objects ? r.objects[c.slice(8) as keyof ObjectCounts] : null);
      return csvCell(r[c as keyof BenchRun]);
    });
    for (const f of REPEATED_FIELDS) {
      const s = r.spread[f];
      cells.push(csvCell(s?.min), csvCell(s?.max), csvCell(s?.n));
    }
    lines.push(cells.join(","));
  }
  return lines.join("\n") + "\n";
}

// ---------------------------------------------------------------------------------------------
// Terminal tables

/** Every terminal line fits this many columns (details are in the CSV and JSON). */
export const TABLE_WIDTH = 120;

function num(v: number | null | undefined, d = 0): string {
  if (v === null || v === undefined) return "-";
  return v.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
}

/** A duration in ms with about three significant digits. */
function ms(v: number | null | undefined): string {
  if (v === null || v === undefined) return "-";
  return num(v, v >= 100 ? 0 : v >= 10 ? 1 : 2);
}

function unitOf(v: number): { div: number; suffix: string } {
  return v >= 1e6 ? { div: 1e6, suffix: "M" } : v >= 1e3 ? { div: 1e3, suffix: "k" } : { div: 1, suffix: "" };
}

function short(v: number, div: number): string {
  const x = v / div;
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

export function kilo(v: number | null | undefined): string {
  if (v === null || v === undefined) return "-";
  const u = unitOf(v);
  return `${short(v, u.div)}${u.suffix}`;
}

/** A rate with its range in the median's unit: `1.57M (1.20–1.71)`. */
export function kiloRange(v: number | null | undefined, s: Spread | undefined): string {
  if (v === null || v === undefined) return "-";
  const u = unitOf(v);
  const main = `${short(v, u.div)}${u.suffix}`;
  return s && s.n > 1 ? `${main} (${short(s.min, u.div)}–${short(s.max, u.div)})` : main;
}

/** A ratio to the limit: `8.3×`, `14×`, `111×`. */
export function times(v: number | null | undefined): string {
  if (v === null || v === undefined) return "-";
  return `${v >= 10 ? v.toFixed(0) : v.toFixed(1)}×`;
}

/** Lays out a table two spaces apart: the first column left-aligned, the others right-aligned unless `left` says. */
export function layoutTable(head: string[], rows: string[][], left: readonly number[] = [0]): string[] {
  const full = rows.filter((r) => r.length === head.length);
  const widths = head.map((h, i) => Math.max(h.length, ...full.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells.length === head.length
      ? cells.map((c, i) => (left.includes(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd()
      : clip(`${cells[0]!.padEnd(widths[0]!)}  ${cells.slice(1).join("  ")}`);
  return [line(head), ...rows.map(line)];
}

/** A line cut to TABLE_WIDTH (the whole text is in the JSON's note). */
const clip = (s: string): string => (s.length > TABLE_WIDTH ? `${s.slice(0, TABLE_WIDTH - 1)}…` : s);

function unavailable(r: BenchRun): string[] {
  return [r.mode, num(r.services), `not measured: ${r.note ?? "not available"}`];
}

/** What kube-proxy generated on one node. */
export function objectsTable(runs: readonly BenchRun[]): string[] {
  const head = ["mode", "Services", "rules", "filter", "nat", "VS/chains", "real servers", "set elems"];
  const rows = runs.map((r) =>
    !r.available
      ? unavailable(r)
      : [
          r.mode, num(r.services), num(r.objects?.rules), num(r.objects?.filterRules), num(r.objects?.natRules), num(r.objects?.virtualServers ?? r.objects?.chains),
          num(r.objects?.realServers), num(r.objects?.ipsetEntries ?? r.objects?.setElements),
        ],
  );
  return layoutTable(head, rows);
}

/** Control plane (ms) and memory (MB). */
export function controlPlaneTable(runs: readonly BenchRun[]): string[] {
  const head = ["mode", "Services", "model", "sync", "apply", "update", "add svc", "kernel load", "RSS before", "RSS", "peak RSS"];
  const rows = runs.map((r) =>
    !r.available
      ? unavailable(r)
      : [
          r.mode, num(r.services), ms(r.modelBuildMs), ms(r.syncMs), ms(r.applyMs), ms(r.updateMs), ms(r.addServiceMs), ms(r.kernelRestoreMs),
          num(r.baseRssMB, 0), num(r.rssMB, 0), num(r.peakRssMB, 0),
        ],
  );
  return layoutTable(head, rows);
}

/** The modelled data plane (exact counts) beside the real kernel's first-packet cost. */
export function modelTable(runs: readonly BenchRun[]): string[] {
  const k = runs.find((r) => r.available)?.keepalive ?? 100;
  const head = ["mode", "Services", "1st pkt", "nft exprs", "later", "1st pkt, path", "req K=1", `req K=${k}`, "classifier", "kernel 1st µs"];
  const rows = runs.map((r) =>
    !r.available
      ? unavailable(r)
      : [
          r.mode, num(r.services), num(r.firstPacketCost, 0), num(r.firstPacketExprs, 0), num(r.laterPacketCost, 1), num(r.firstPacketCostPath, 0),
          num(r.perRequestCostNoKeepalive, 0), num(r.perRequestCostKeepalive, 1), num(r.firstPacketNatCost, 0), num(r.kernelFirstPacketUs, 1),
        ],
  );
  return layoutTable(head, rows);
}

/** podwire's measured speed: medians with their range, and each ratio to the JS limit of the same size. */
export function speedTable(runs: readonly BenchRun[]): string[] {
  const head = ["mode", "Services", "core 1st pkt/s", "×limit", "new conn/s", "×limit", "est pkt/s", "×limit", "limit ns 1st/ct"];
  const rows = runs.map((r) =>
    !r.available
      ? unavailable(r)
      : [
          r.mode, num(r.services),
          kiloRange(r.coreNewConnPerSec, r.spread.coreNewConnPerSec), times(r.coreRatioToLimit),
          kiloRange(r.newConnPerSec, r.spread.newConnPerSec), times(r.newConnRatioToLimit),
          kiloRange(r.establishedPps, r.spread.establishedPps), times(r.establishedRatioToLimit),
          r.limitFirstPacketNs === null ? "-" : `${num(r.limitFirstPacketNs, 0)}/${num(r.limitConntrackNs, 0)}`,
        ],
  );
  return layoutTable(head, rows);
}

/** The reference interpreter beside the compiled engine (modes that have one). */
export function referenceTable(runs: readonly BenchRun[]): string[] {
  const withRef = runs.filter((r) => r.available && (r.coreNewConnPerSecReference !== null || r.newConnPerSecReference !== null));
  if (withRef.length === 0) return [];
  const head = ["mode", "Services", "core 1st pkt/s, reference", "new conn/s, reference"];
  return layoutTable(head, withRef.map((r) => [r.mode, num(r.services), kiloRange(r.coreNewConnPerSecReference, r.spread.coreNewConnPerSecReference), kiloRange(r.newConnPerSecReference, r.spread.newConnPerSecReference)]));
}

/** Every table, each under its title. */
export function formatTable(runs: readonly BenchRun[]): string[] {
  const n = Math.max(0, ...runs.map((r) => r.repeats));
  const out = [
    "objects kube-proxy generated on one node (IPVS: virtual and real servers, ipset entries; nftables: chains, set elements)",
    ...objectsTable(runs),
    "",
    `control plane on one node (ms; update, add svc: median of up to ${n} runs, time-boxed) and the row's own memory (MB)`,
    ...controlPlaneTable(runs),
    "",
    "modelled cost per packet (rules evaluated; IPVS: lookups + rules) on the client's node; kernel: real first packet",
    ...modelTable(runs),
    "",
    `podwire's speed: median of ${n} interleaved runs (min–max); ×limit = ratio to the JS limit in the same runs`,
    ...speedTable(runs),
  ];
  const ref = referenceTable(runs);
  if (ref.length > 0) out.push("", "the reference interpreter (time-boxed)", ...ref);
  return out;
}
