/**
 * `podwire bench`: for every mode and Service count, in one run —
 *   control plane: objects generated, full sync, one endpoint change, one new Service, memory;
 *   data plane, modelled: first-packet and later-packet cost, per-request cost with and
 *     without keepalive (the Tigera experiment);
 *   data plane, measured: podwire's new connections/s and established packets/s end to end,
 *     and the fast core alone (compiled and reference);
 *   the real kernel where the machine allows: iptables-restore (or `nft -f`) load time and
 *     first-packet cost.
 * A mode that is not built yet (E_MODE_UNAVAILABLE) gives a row of nulls, not a failure.
 */
import { release, cpus, loadavg, totalmem } from "node:os";
import v8 from "node:v8";
import vm from "node:vm";
import { PodwireError, hostNowMs } from "../base/index.js";
import { measureDataplane } from "./dataplane.js";
import { servicePicks, IptablesModeBench } from "./iptables-mode.js";
import { IpvsModeBench } from "./ipvs-mode.js";
import { kernelLoaderUnavailable, kernelUnavailable, measureKernel } from "./kernel.js";
import { NftablesModeBench } from "./nftables-mode.js";
import type { ProxyModeBench, ProxyModeName } from "./modes.js";
import { publishedComparison } from "./published.js";
import { type BenchResults, type BenchRun, type MachineInfo, emptyRun, roundRun } from "./results.js";
import { makeWorkload } from "./workload.js";

export interface BenchOptions {
  services: number[];
  endpoints: number;
  modes: ProxyModeName[];
  /** New connections timed end to end per size. */
  connections: number;
  /** Requests per connection for the keepalive figure. */
  keepalive: number;
  quick: boolean;
  seed: number;
  /** Measure the real kernel where possible. */
  kernel: boolean;
  /** Largest Service count loaded into the real kernel. */
  kernelMaxServices: number;
  /** Called before each step, with a label; `total` steps in all. */
  onStep?: (label: string, done: number, total: number) => void;
  /** Called with each finished row. */
  onRun?: (run: BenchRun) => void;
  /** Builds a mode's adapter (tests may inject one). */
  modeFactory?: (mode: ProxyModeName) => ProxyModeBench;
}

export const VERSION = "0.1.0";
const STEPS_PER_RUN = 4;

export function defaultMode(mode: ProxyModeName): ProxyModeBench {
  switch (mode) {
    case "iptables":
      return new IptablesModeBench();
    case "ipvs":
      return new IpvsModeBench();
    case "nftables":
      return new NftablesModeBench();
  }
}

/** What loads a mode's ruleset into the real kernel (null: the mode has no kernel experiment). */
const KERNEL_LOADER: Record<ProxyModeName, "iptables-restore" | "nft" | null> = { iptables: "iptables-restore", ipvs: null, nftables: "nft" };

let gcFn: (() => void) | null | undefined;
/** A full GC where the runtime allows it (for steadier memory figures). */
export function collectGarbage(): void {
  if (gcFn === undefined) {
    try {
      v8.setFlagsFromString("--expose-gc");
      gcFn = vm.runInNewContext("gc") as () => void;
    } catch {
      gcFn = null;
    }
  }
  gcFn?.();
}

function machine(): MachineInfo {
  const c = cpus();
  return { cpus: c.length, cpuModel: c[0]?.model ?? "unknown", memGB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform}-${process.arch}`, kernel: release(), loadAvgStart: loadavg(), loadAvgEnd: [] };
}

export function runBench(opts: BenchOptions): BenchResults {
  const started = hostNowMs();
  const info = machine();
  const notes: string[] = [];
  const kernelWhyNot = opts.kernel ? kernelUnavailable() : "disabled (--no-kernel)";
  if (kernelWhyNot) notes.push(`real kernel not measured: ${kernelWhyNot}`);
  else if (opts.services.some((n) => n > opts.kernelMaxServices)) notes.push(`real kernel measured up to ${opts.kernelMaxServices.toLocaleString("en-US")} Services (--kernel-max)`);
  // Per mode: the tool that loads its ruleset (iptables-restore, or the system's nft).
  const modeKernelWhyNot = new Map<ProxyModeName, string | null>();
  for (const m of opts.modes) {
    const loader = KERNEL_LOADER[m];
    const why = kernelWhyNot ?? (loader === null ? null : kernelLoaderUnavailable(loader));
    modeKernelWhyNot.set(m, why);
    if (why !== null && kernelWhyNot === null) notes.push(`real kernel not measured for ${m} mode: ${why}`);
  }
  const total = opts.modes.length * opts.services.length * STEPS_PER_RUN;
  let done = 0;
  const step = (label: string): void => {
    opts.onStep?.(label, done, total);
    done++;
  };
  const runs: BenchRun[] = [];
  const factory = opts.modeFactory ?? defaultMode;
  for (const modeName of opts.modes) {
    for (const n of opts.services) {
      const t0 = hostNowMs();
      const mode = factory(modeName);
      const run = emptyRun(modeName, n, opts.endpoints, opts.keepalive, mode.costUnit);
      const base = done;
      try {
        runOne(mode, run, opts, n, step, modeKernelWhyNot.get(modeName) ?? null);
      } catch (err) {
        if (err instanceof PodwireError && err.code === "E_MODE_UNAVAILABLE") {
          const fresh = emptyRun(modeName, n, opts.endpoints, opts.keepalive, mode.costUnit);
          fresh.note = err.detail.replace(/^ipvs: /, "");
          Object.assign(run, fresh);
        } else throw err;
      } finally {
        mode.dispose();
        collectGarbage();
      }
      done = base + STEPS_PER_RUN;
      run.wallMs = hostNowMs() - t0;
      const rounded = roundRun(run);
      runs.push(rounded);
      opts.onRun?.(rounded);
    }
  }
  opts.onStep?.("done", total, total);
  if (runs.some((r) => !r.available)) notes.push(...new Set(runs.filter((r) => !r.available).map((r) => `${r.mode}: ${r.note}`)));
  notes.push(
    "Modelled costs are NamespaceNetfilter.rulesEvaluated deltas: every rule the kernel would test, in every table the packet crosses on the node " +
      "(nftables mode: nft rules evaluated, nftRulesEvaluated, plus the iptables rules of flannel the same packets cross; its nft expressions, nftExprsEvaluated, are given apart; IPVS mode: hash lookups plus rules). " +
      "First packet = (new flow round trip) − (established round trip)/2; later packet = (established round trip)/2. " +
      "Per request with keepalive K = (first + (2K − 1) × later) / K, two packets per request through the client's node.",
  );
  notes.push("Every Service has its own ClusterIP and its own EndpointSlice, and all of them point at the same endpoint Pods (worker-2 and worker-3); the client Pod is on worker-1, so every connection crosses nodes.");
  notes.push("Timings are host wall-clock (hostNowMs) on a shared machine; see the load averages.");
  info.loadAvgEnd = loadavg();
  return {
    tool: "podwire bench",
    version: VERSION,
    machine: info,
    seed: opts.seed,
    options: { services: opts.services, endpoints: opts.endpoints, modes: opts.modes, connections: opts.connections, keepalive: opts.keepalive, quick: opts.quick, kernel: opts.kernel, kernelMaxServices: opts.kernelMaxServices },
    durationMs: Math.round(hostNowMs() - started),
    runs,
    published: publishedComparison(runs),
    notes,
  };
}

function runOne(mode: ProxyModeBench, run: BenchRun, opts: BenchOptions, n: number, step: (label: string) => void, kernelWhyNot: string | null): void {
  const tag = `${mode.mode} ${n.toLocaleString("en-US")} Services`;
  step(`${tag}: setup and full sync`);
  const w = makeWorkload(n, opts.endpoints, opts.seed);
  collectGarbage();
  const before = process.memoryUsage();
  const setup = mode.setup(w);
  collectGarbage();
  const after = process.memoryUsage();
  run.available = true;
  run.objects = mode.objects();
  run.modelBuildMs = setup.modelBuildMs;
  run.syncMs = setup.syncMs;
  run.applyMs = setup.applyMs;
  run.rssMB = (after.rss - before.rss) / 2 ** 20;
  run.heapMB = (after.heapUsed - before.heapUsed) / 2 ** 20;

  step(`${tag}: data plane`);
  const dp = measureDataplane(mode, w, {
    connections: opts.connections,
    keepalive: opts.keepalive,
    roundTrips: opts.quick ? 20_000 : 100_000,
    costSamples: opts.quick ? 64 : 256,
    corePackets: opts.quick ? 200_000 : 1_000_000,
    referenceBudgetMs: opts.quick ? 400 : 1500,
    seed: opts.seed,
  });
  Object.assign(run, {
    firstPacketCost: dp.firstPacketCost,
    laterPacketCost: dp.laterPacketCost,
    firstPacketCostPath: dp.firstPacketCostPath,
    laterPacketCostPath: dp.laterPacketCostPath,
    firstPacketNatCost: dp.coreMeanCost,
    firstPacketExprs: dp.firstPacketExprs,
    firstPacketNatExprs: dp.coreMeanExprs,
    packetsPerRequest: dp.packetsPerRequest,
    perRequestCostNoKeepalive: dp.perRequestCostNoKeepalive,
    perRequestCostKeepalive: dp.perRequestCostKeepalive,
    newConnPerSec: dp.newConnPerSec,
    newConnPerSecReference: dp.newConnPerSecReference,
    establishedPps: dp.establishedPps,
    coreNewConnPerSec: dp.coreNewConnPerSec,
    coreNewConnPerSecReference: dp.coreNewConnPerSecReference,
  });

  step(`${tag}: endpoint change and new Service`);
  const upd = mode.updateEndpoint();
  run.updateMs = upd.ms;
  run.updateComputeMs = upd.computeMs;
  run.updateApplyMs = upd.applyMs;
  const add = mode.addService();
  run.addServiceMs = add.ms;
  run.addServiceComputeMs = add.computeMs;
  run.addServiceApplyMs = add.applyMs;
  run.peakRssMB = process.resourceUsage().maxRSS / 1024;

  step(`${tag}: real kernel`);
  if (kernelWhyNot === null && n <= opts.kernelMaxServices) {
    const rules = mode.kernelRules();
    if ("unavailable" in rules) run.note = `kernel: ${rules.unavailable}`;
    else {
      const picks = servicePicks(n, 4096, opts.seed + 1);
      const targets = Array.from(picks, (i) => w.clusterIP(i));
      const k = measureKernel(rules, targets, w.endpointIPs, { flows: opts.quick ? 300 : 1500, timeoutMs: Math.max(60_000, n * 12), tag: `${mode.mode}${n}` });
      run.kernelRestoreMs = k.restoreMs;
      run.kernelRuleLines = rules.ruleLines;
      run.kernelFirstPacketUs = k.firstPacketUs;
      run.kernelNewFlowUs = k.newFlowUs;
      run.kernelEstablishedFlowUs = k.establishedFlowUs;
      run.kernelFlows = k.flows;
      if (k.note) run.note = k.note;
    }
  }
}
