/**
 * kube-proxy iptables compiler benchmark (issue 4, item 8): for 100, 1,000, 10,000 and 50,000
 * ClusterIP Services × 10 endpoints (and a NodePort variant where the node-port range has
 * room) —
 *   - rule lines generated (filter, nat) next to kube-proxy's published count formula
 *     (number_generated_rules_test.go: nat = 5 + Σ(2 + 3·endpoints));
 *   - building the model from Service/EndpointSlice documents, and the full compile with
 *     `syncIptablesRules` (medians of several runs, timed separately);
 *   - a one-endpoint change (one endpoint of one Service replaced) with
 *     `partialSyncIptablesRules`: its text size and compile time, and the same partial sync
 *     given the current nat chains (`existingNatChains`), which skips recompiling the
 *     previous state to find stale chains;
 *   - memory: rss and heapUsed growth while the model and the sync result are alive;
 *   - where the kernel is here (root, `ip netns`, iptables-restore): the time real
 *     `iptables-restore` takes to load the full text into a fresh namespace (flush mode), the
 *     partial-sync text on top of it with `--noflush --counters` as kube-proxy loads it, and
 *     (up to 1,000 Services) the full text with `--noflush --counters` after
 *     `jumpRulesText()`, which is kube-proxy's own way but grows much faster than linearly
 *     with iptables-nft 1.8.9. Above 10,000 Services the kernel load is skipped unless
 *     --kernel-all (50,000 Services is 1.6 M rule lines; kube-proxy issue #96018 measured
 *     12.8 s for 696 k lines).
 *
 * Run: node --import=tsx bench/kube-iptables.ts [--quick] [--sizes 100,1000] [--kernel-all] [--no-kernel]
 *   --quick: 100 and 1,000 Services only. Add --expose-gc to node for steadier memory figures.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatIpv4, hostNowMs } from "../src/base/index.js";
import {
  buildKubeModel,
  jumpRulesText,
  partialSyncIptablesRules,
  syncIptablesRules,
  type IptablesProxierOptions,
  type IptablesSyncResult,
  type KubeDocument,
  type KubeModel,
} from "../src/kube/index.js";
import { machineInfo, median, writeResult } from "./util.js";

export interface KubeIptablesBenchOptions {
  sizes?: number[];
  endpoints?: number;
  quick?: boolean;
  /** Measure real iptables-restore (default: when available). */
  kernel?: boolean;
  /** Also load sizes above 10,000 Services into the kernel. */
  kernelAll?: boolean;
  /** Largest size that also gets a NodePort variant (default 2,000: the node-port range holds 2,768 ports). */
  nodePortMax?: number;
  log?: (line: string) => void;
}

export interface KubeIptablesRow {
  variant: "ClusterIP" | "NodePort";
  services: number;
  endpointsPerService: number;
  largeClusterMode: boolean;
  filterRuleLines: number;
  natRuleLines: number;
  /** kube-proxy's formula for ClusterIP Services (5 + Σ(2 + 3·endpoints)); null for the NodePort variant. */
  natRulesFormula: number | null;
  textMB: number;
  modelBuildMs: number;
  fullCompileMs: number;
  fullCompileRuns: number;
  partial: {
    textKB: number;
    ruleLines: number;
    writtenServices: number;
    compileMs: number;
    /** With existingNatChains given (no recompile of the previous state). */
    compileKnownChainsMs: number;
  };
  memory: { rssMB: number; heapUsedMB: number };
  kernel: KernelFigures | { skipped: string };
}

const ENDPOINT_PORT = 8080;
/** Largest size whose full text is also loaded with --noflush (see the note it prints). */
const NOFLUSH_FULL_MAX = 1000;

/** 10.96.0.0/12 from .100 on: one cluster IP per Service. */
function clusterIP(i: number): string {
  return formatIpv4((0x0a600000 + 100 + i) >>> 0);
}

/** Pod addresses in 10.128.0.0/9, consecutive per Service. */
function podIP(i: number, j: number, per: number): string {
  return formatIpv4((0x0a800000 + 2 + i * per + j) >>> 0);
}

function serviceDoc(i: number, nodePort: boolean): KubeDocument {
  const port: Record<string, unknown> = { name: "http", port: 80, protocol: "TCP", targetPort: ENDPOINT_PORT };
  if (nodePort) port["nodePort"] = 30000 + i;
  const body = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: `svc-${i}`, namespace: "bench" },
    spec: { type: nodePort ? "NodePort" : "ClusterIP", clusterIP: clusterIP(i), ports: [port], selector: { app: `svc-${i}` } },
  };
  return { apiVersion: "v1", kind: "Service", body, location: { file: "bench.yaml", document: 2 * i + 1 } };
}

function sliceDoc(i: number, per: number, replaced: number | null): KubeDocument {
  const endpoints = Array.from({ length: per }, (_, j) => ({
    addresses: [j === replaced ? formatIpv4((0x0a800000 + 2 + i * per + j + 0x400000) >>> 0) : podIP(i, j, per)],
    conditions: { ready: true },
    nodeName: `node-${j % 4}`,
  }));
  const body = {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    addressType: "IPv4",
    metadata: { name: `svc-${i}-abcde`, namespace: "bench", labels: { "kubernetes.io/service-name": `svc-${i}` } },
    ports: [{ name: "http", port: ENDPOINT_PORT, protocol: "TCP" }],
    endpoints,
  };
  return { apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", body, location: { file: "bench.yaml", document: 2 * i + 2 } };
}

export function documents(n: number, per: number, nodePort: boolean, change: { service: number; endpoint: number } | null = null): KubeDocument[] {
  const docs: KubeDocument[] = [];
  for (let i = 0; i < n; i++) {
    docs.push(serviceDoc(i, nodePort));
    docs.push(sliceDoc(i, per, change && change.service === i ? change.endpoint : null));
  }
  return docs;
}

export const PROXIER: IptablesProxierOptions = {
  hostname: "node-0",
  nodeIP: "192.168.56.10",
  clusterCIDR: "10.128.0.0/9",
  nfacct: false,
  randomFully: true,
};

function kernelAvailable(): string | null {
  if (process.platform !== "linux") return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return "not root";
  if (spawnSync("ip", ["netns", "list"], { stdio: "ignore" }).status !== 0) return "no ip netns";
  if (spawnSync("iptables-restore", ["--version"], { stdio: "ignore" }).status !== 0) return "no iptables-restore";
  return null;
}

export interface KernelFigures {
  /** Plain `iptables-restore` (flush mode) of the full text into a fresh namespace. */
  fullFlushMs: number;
  /** `iptables-restore --noflush --counters` of the full text after `jumpRulesText()` (kube-proxy's way), or null when skipped. */
  fullNoflushMs: number | null;
  /** `iptables-restore --noflush --counters` of the one-endpoint partial sync on top of the full ruleset. */
  partialNoflushMs: number;
}

/**
 * Fresh namespace A: the full text (flush mode, timed), the jump rules (--noflush), then the
 * partial text (--noflush --counters, timed). With `noflushFull`, fresh namespace B: the jump
 * rules, then the full text with --noflush --counters (timed).
 */
function kernelLoad(full: string, partial: string, noflushFull: boolean): KernelFigures {
  const dir = mkdtempSync(join(tmpdir(), "podwire-kube-bench-"));
  const files = { jumps: join(dir, "jumps"), full: join(dir, "full"), partial: join(dir, "partial") };
  writeFileSync(files.jumps, jumpRulesText());
  writeFileSync(files.full, full);
  writeFileSync(files.partial, partial);
  const withNamespace = <T>(tag: string, f: (ns: string) => T): T => {
    const ns = `pw-kbench-${process.pid}-${tag}`;
    execFileSync("ip", ["netns", "add", ns]);
    try {
      return f(ns);
    } finally {
      spawnSync("ip", ["netns", "del", ns]);
    }
  };
  const restore = (ns: string, file: string, args: string[]): number => {
    const t0 = hostNowMs();
    execFileSync("ip", ["netns", "exec", ns, "iptables-restore", ...args, file], { stdio: ["ignore", "ignore", "pipe"], timeout: 3_600_000 });
    return hostNowMs() - t0;
  };
  try {
    const a = withNamespace("a", (ns) => {
      const fullFlushMs = restore(ns, files.full, []);
      restore(ns, files.jumps, ["--noflush"]);
      const partialNoflushMs = restore(ns, files.partial, ["--noflush", "--counters"]);
      return { fullFlushMs, partialNoflushMs };
    });
    const fullNoflushMs = noflushFull
      ? withNamespace("b", (ns) => {
          restore(ns, files.jumps, ["--noflush"]);
          return restore(ns, files.full, ["--noflush", "--counters"]);
        })
      : null;
    return { ...a, fullNoflushMs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function mb(bytes: number): number {
  return Math.round((bytes / 2 ** 20) * 10) / 10;
}

function runsFor(n: number): number {
  return n <= 1000 ? 7 : n <= 10_000 ? 5 : 3;
}

function timeMedian<T>(runs: number, f: () => T): { ms: number; last: T } {
  const times: number[] = [];
  let last!: T;
  for (let r = 0; r < runs; r++) {
    const t0 = hostNowMs();
    last = f();
    times.push(hostNowMs() - t0);
  }
  return { ms: median(times), last };
}

function benchOne(n: number, per: number, variant: "ClusterIP" | "NodePort", kernel: string | null, noflushFull: boolean, log: (l: string) => void): KubeIptablesRow {
  const nodePort = variant === "NodePort";
  const runs = runsFor(n);
  const docs = documents(n, per, nodePort);
  gc();
  const before = process.memoryUsage();
  const built = timeMedian(Math.min(runs, 3), () => buildKubeModel(docs, [], { serviceCIDR: "10.96.0.0/12" }));
  const model: KubeModel = built.last;
  const full = timeMedian(runs, () => syncIptablesRules(model, PROXIER));
  const result: IptablesSyncResult = full.last;
  gc();
  const after = process.memoryUsage();

  // One endpoint of one Service (the middle one) replaced by a new address.
  const change = { service: n >> 1, endpoint: 3 % per };
  const nextModel = buildKubeModel(documents(n, per, nodePort, change), [], { serviceCIDR: "10.96.0.0/12" });
  const partial = timeMedian(runs, () => partialSyncIptablesRules(model, nextModel, PROXIER));
  const known = timeMedian(runs, () => syncIptablesRules(nextModel, PROXIER, { previous: model, existingNatChains: result.activeNatChains }));
  if (known.last.text !== partial.last.text) throw new Error("partial sync with existingNatChains wrote a different text");

  let kernelFigures: KubeIptablesRow["kernel"];
  if (kernel !== null) kernelFigures = { skipped: kernel };
  else {
    log(`  loading ${n} ${variant} Services into the kernel …`);
    kernelFigures = kernelLoad(result.text, partial.last.text, noflushFull);
  }
  const partialLines = partial.last.filterRuleLines + partial.last.natRuleLines;
  return {
    variant,
    services: n,
    endpointsPerService: per,
    largeClusterMode: result.largeClusterMode,
    filterRuleLines: result.filterRuleLines,
    natRuleLines: result.natRuleLines,
    natRulesFormula: nodePort ? null : 5 + n * (2 + 3 * per),
    textMB: mb(result.text.length),
    modelBuildMs: built.ms,
    fullCompileMs: full.ms,
    fullCompileRuns: runs,
    partial: {
      textKB: Math.round(partial.last.text.length / 102.4) / 10,
      ruleLines: partialLines,
      writtenServices: partial.last.writtenServices.length,
      compileMs: partial.ms,
      compileKnownChainsMs: known.ms,
    },
    // Growth while the model and the sync result are alive; never below zero (the process may hand memory back).
    memory: { rssMB: Math.max(0, mb(after.rss - before.rss)), heapUsedMB: Math.max(0, mb(after.heapUsed - before.heapUsed)) },
    kernel: kernelFigures,
  };
}

export function runKubeIptablesBench(opts: KubeIptablesBenchOptions = {}): { rows: KubeIptablesRow[]; kernelSkipped: string | null; notes: string[] } {
  const log = opts.log ?? ((l: string) => console.log(l));
  const sizes = opts.sizes ?? (opts.quick ? [100, 1000] : [100, 1000, 10_000, 50_000]);
  const per = opts.endpoints ?? 10;
  const nodePortMax = opts.nodePortMax ?? 2000;
  const kernelSkipped = opts.kernel === false ? "disabled (--no-kernel)" : kernelAvailable();
  const notes: string[] = [];
  if (kernelSkipped) notes.push(`kernel iptables-restore not measured: ${kernelSkipped}`);
  if (!kernelSkipped && !opts.kernelAll && sizes.some((n) => n > 10_000)) notes.push("kernel load skipped above 10,000 Services (pass --kernel-all to include them)");
  if (!kernelSkipped && !opts.kernelAll && sizes.some((n) => n > NOFLUSH_FULL_MAX)) {
    notes.push(
      `full-text load with --noflush measured only up to ${NOFLUSH_FULL_MAX} Services: iptables-nft's --noflush restore grows much faster than linearly ` +
        "(here 43 k lines: 3.3 s vs 0.39 s in flush mode; 129 k lines: 124 s vs 1.5 s); --kernel-all lifts the cap",
    );
  }
  notes.push(`NodePort variant only up to ${nodePortMax} Services (one node port each; the default range 30000-32767 holds 2,768)`);
  const rows: KubeIptablesRow[] = [];
  for (const n of sizes) {
    for (const variant of ["ClusterIP", "NodePort"] as const) {
      if (variant === "NodePort" && n > nodePortMax) continue;
      const kernel = kernelSkipped ?? (n > 10_000 && !opts.kernelAll ? "above 10,000 Services (--kernel-all to include)" : null);
      const row = benchOne(n, per, variant, kernel, n <= NOFLUSH_FULL_MAX || opts.kernelAll === true, log);
      rows.push(row);
      log(formatRow(row));
    }
  }
  return { rows, kernelSkipped, notes };
}

export const HEADER =
  "variant    services  filter     nat  formula  text MB  model ms  full ms  partial: KB  lines      ms  ms(known)  rss MB  heap MB | kernel ms: full  full --noflush  partial --noflush";

export function formatRow(r: KubeIptablesRow): string {
  const k = "skipped" in r.kernel ? ["-", "-", "-"] : [r.kernel.fullFlushMs.toFixed(0), r.kernel.fullNoflushMs === null ? "-" : r.kernel.fullNoflushMs.toFixed(0), r.kernel.partialNoflushMs.toFixed(0)];
  return [
    r.variant.padEnd(9),
    String(r.services).padStart(9),
    String(r.filterRuleLines).padStart(7),
    String(r.natRuleLines).padStart(8),
    String(r.natRulesFormula ?? "-").padStart(8),
    r.textMB.toFixed(1).padStart(8),
    r.modelBuildMs.toFixed(1).padStart(9),
    r.fullCompileMs.toFixed(1).padStart(8),
    r.partial.textKB.toFixed(1).padStart(12),
    String(r.partial.ruleLines).padStart(6),
    r.partial.compileMs.toFixed(1).padStart(7),
    r.partial.compileKnownChainsMs.toFixed(1).padStart(10),
    r.memory.rssMB.toFixed(1).padStart(7),
    r.memory.heapUsedMB.toFixed(1).padStart(8),
    "|",
    k[0]!.padStart(15),
    k[1]!.padStart(14),
    k[2]!.padStart(18),
  ].join(" ");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv;
  const sizesArg = argv.indexOf("--sizes");
  const sizes = sizesArg > 0 ? argv[sizesArg + 1]!.split(",").map(Number) : undefined;
  const quick = argv.includes("--quick");
  console.log(`kube-proxy iptables compiler${quick ? " (quick)" : ""} on ${machineInfo().cpus} × ${machineInfo().cpuModel}, node ${process.version}`);
  console.log(HEADER);
  const t0 = hostNowMs();
  const result = runKubeIptablesBench({ ...(sizes ? { sizes } : {}), quick, kernelAll: argv.includes("--kernel-all"), ...(argv.includes("--no-kernel") ? { kernel: false } : {}) });
  for (const n of result.notes) console.log(`note: ${n}`);
  console.log(`total ${((hostNowMs() - t0) / 1000).toFixed(1)} s`);
  console.log(`written: ${writeResult("kube-iptables", { machine: machineInfo(), quick, ...result })}`);
}
