/**
 * The benchmark's results: one row per (mode, Service count), and the writers —
 * results.json, results.csv and the terminal table.
 */
import type { ObjectCounts, ProxyModeName } from "./modes.js";
import type { PublishedRow } from "./published.js";

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
  /** Memory held by the running cluster with its rules (rss and heap growth over setup), and the process's peak rss so far. */
  rssMB: number | null;
  heapMB: number | null;
  peakRssMB: number | null;
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
  options: { services: number[]; endpoints: number; modes: ProxyModeName[]; connections: number; keepalive: number; quick: boolean; kernel: boolean; kernelMaxServices: number };
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
  return out as unknown as BenchRun;
}

export function emptyRun(mode: ProxyModeName, services: number, endpoints: number, keepalive: number, costUnit: string): BenchRun {
  return {
    mode, services, endpoints, available: false, note: null, costUnit, objects: null,
    modelBuildMs: null, syncMs: null, applyMs: null, updateMs: null, addServiceMs: null,
    updateComputeMs: null, updateApplyMs: null, addServiceComputeMs: null, addServiceApplyMs: null,
    rssMB: null, heapMB: null, peakRssMB: null,
    firstPacketCost: null, laterPacketCost: null, firstPacketCostPath: null, laterPacketCostPath: null, firstPacketNatCost: null, firstPacketExprs: null, firstPacketNatExprs: null, packetsPerRequest: null,
    keepalive, perRequestCostNoKeepalive: null, perRequestCostKeepalive: null,
    newConnPerSec: null, newConnPerSecReference: null, establishedPps: null, coreNewConnPerSec: null, coreNewConnPerSecReference: null,
    kernelRestoreMs: null, kernelRuleLines: null, kernelFirstPacketUs: null, kernelNewFlowUs: null, kernelEstablishedFlowUs: null, kernelFlows: null,
    wallMs: 0,
  };
}

// ---------------------------------------------------------------------------------------------
// CSV

const CSV_COLUMNS: (keyof BenchRun | `objects.${keyof ObjectCounts}`)[] = [
  "mode", "services", "endpoints", "available", "costUnit",
  "objects.rules", "objects.filterRules", "objects.natRules", "objects.virtualServers", "objects.realServers", "objects.ipsetEntries", "objects.chains", "objects.setElements",
  "modelBuildMs", "syncMs", "applyMs", "updateMs", "addServiceMs", "updateComputeMs", "updateApplyMs", "addServiceComputeMs", "addServiceApplyMs", "rssMB", "heapMB", "peakRssMB",
  "firstPacketCost", "laterPacketCost", "firstPacketCostPath", "laterPacketCostPath", "firstPacketNatCost", "firstPacketExprs", "firstPacketNatExprs", "packetsPerRequest", "keepalive", "perRequestCostNoKeepalive", "perRequestCostKeepalive",
  "newConnPerSec", "newConnPerSecReference", "establishedPps", "coreNewConnPerSec", "coreNewConnPerSecReference",
  "kernelRestoreMs", "kernelRuleLines", "kernelFirstPacketUs", "kernelNewFlowUs", "kernelEstablishedFlowUs", "kernelFlows",
  "wallMs", "note",
];

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return "";
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(runs: readonly BenchRun[]): string {
  const lines = [CSV_COLUMNS.join(",")];
  for (const r of runs) {
    lines.push(
      CSV_COLUMNS.map((c) => {
        if (c.startsWith("objects.")) return csvCell(r.objects ? r.objects[c.slice(8) as keyof ObjectCounts] : null);
        return csvCell(r[c as keyof BenchRun]);
      }).join(","),
    );
  }
  return lines.join("\n") + "\n";
}

// ---------------------------------------------------------------------------------------------
// Terminal table

function num(v: number | null | undefined, d = 0): string {
  if (v === null || v === undefined) return "-";
  return v.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
}

function kilo(v: number | null): string {
  if (v === null) return "-";
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return v.toFixed(0);
}

export function formatTable(runs: readonly BenchRun[]): string[] {
  const head = ["mode", "services", "rules", "VS", "ipset", "chains", "set elems", "sync ms", "apply ms", "update ms", "add svc ms", "rss MB", "1st pkt", "nft exprs", "later", "req K=1", "req K=n", "new conn/s", "ref conn/s", "est pkt/s", "core conn/s", "core ref/s", "kernel load ms", "kernel 1st µs"];
  const rows: string[][] = [];
  for (const r of runs) {
    if (!r.available) {
      rows.push([r.mode, num(r.services), `${r.mode}: ${r.note ?? "not available"}`]);
      continue;
    }
    rows.push([
      r.mode, num(r.services), num(r.objects?.rules), num(r.objects?.virtualServers), num(r.objects?.ipsetEntries), num(r.objects?.chains), num(r.objects?.setElements),
      num(r.syncMs, 1), num(r.applyMs, 1), num(r.updateMs, 2), num(r.addServiceMs, 2), num(r.rssMB, 0),
      num(r.firstPacketCost, 0), num(r.firstPacketExprs, 0), num(r.laterPacketCost, 1), num(r.perRequestCostNoKeepalive, 0), num(r.perRequestCostKeepalive, 1),
      kilo(r.newConnPerSec), kilo(r.newConnPerSecReference), kilo(r.establishedPps), kilo(r.coreNewConnPerSec), kilo(r.coreNewConnPerSecReference),
      num(r.kernelRestoreMs, 0), num(r.kernelFirstPacketUs, 1),
    ]);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.filter((r) => r.length === head.length).map((r) => r[i]!.length)));
  const line = (cells: string[]): string => (cells.length === head.length ? cells.map((c, i) => (i < 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ") : `${cells[0]!.padEnd(widths[0]!)}  ${cells[1]!.padStart(widths[1]!)}  ${cells[2]}`);
  return [line(head), ...rows.map(line)];
}
