/**
 * One row of `podwire bench`: one mode at one Service count. Runs in a fresh process of its
 * own (row-worker.ts, started by runner.ts) so that its memory figures are its own; tests
 * may run it in-process (`isolated: false`), where memory is not reported.
 *   control plane: objects generated, the first full sync (one event, n = 1), one endpoint
 *     change and one new Service (each `repeats` times where the mode can undo them);
 *   data plane: dataplane.ts (modelled costs, podwire's rates and the JS limit, interleaved);
 *   the real kernel where the machine allows: load time and first-packet cost.
 */
import { PodwireError, hostNowMs } from "../base/index.js";
import { measureDataplane } from "./dataplane.js";
import { servicePicks } from "./iptables-mode.js";
import { measureKernel } from "./kernel.js";
import { collectGarbage, readMemory } from "./memory.js";
import type { ProxyModeBench, ProxyModeName, ResyncTimes } from "./modes.js";
import { type BenchRun, emptyRun, roundRun, setSample } from "./results.js";
import { interleave, summarize } from "./stats.js";
import { makeWorkload } from "./workload.js";

/** What a row needs from the run's options (plain data: it crosses to the row's process). */
export interface RowOptions {
  endpoints: number;
  keepalive: number;
  /** New connections timed end to end per repetition. */
  connections: number;
  quick: boolean;
  seed: number;
  repeats: number;
  /** Measure the real kernel at this size (null), or why not. */
  kernelWhyNot: string | null;
  /** Scales the packets and time budgets of the timed loops (1; tests use less). */
  effort?: number;
}

export const STEPS_PER_ROW = 4;
/** Host time a row may spend repeating the endpoint change and the new Service (ms). */
export const CHANGE_BUDGET_MS = { quick: 2000, full: 60_000 };

/** Runs one row; `isolated`: this process is the row's own (its memory figures are the row's). */
export function runRow(mode: ProxyModeBench, n: number, opts: RowOptions, step: (label: string) => void, isolated: boolean): BenchRun {
  const t0 = hostNowMs();
  const run = emptyRun(mode.mode, n, opts.endpoints, opts.keepalive, mode.costUnit);
  try {
    measureRow(mode, run, n, opts, step, isolated);
  } catch (err) {
    if (!(err instanceof PodwireError && err.code === "E_MODE_UNAVAILABLE")) throw err;
    const fresh = emptyRun(mode.mode, n, opts.endpoints, opts.keepalive, mode.costUnit);
    fresh.note = err.detail.replace(/^ipvs: /, "");
    Object.assign(run, fresh);
  } finally {
    mode.dispose();
  }
  run.wallMs = hostNowMs() - t0;
  return roundRun(run);
}

function measureRow(mode: ProxyModeBench, run: BenchRun, n: number, opts: RowOptions, step: (label: string) => void, isolated: boolean): void {
  const tag = `${mode.mode} ${n.toLocaleString("en-US")} Services`;
  const base = readMemory();
  step(`${tag}: setup and full sync`);
  const w = makeWorkload(n, opts.endpoints, opts.seed);
  const setup = mode.setup(w);
  run.available = true;
  run.repeats = opts.repeats;
  run.objects = mode.objects();
  run.modelBuildMs = setup.modelBuildMs;
  run.syncMs = setup.syncMs;
  run.applyMs = setup.applyMs;
  collectGarbage();
  const afterSetup = readMemory();
  run.heapMB = process.memoryUsage().heapUsed / 2 ** 20;
  if (isolated) {
    run.baseRssMB = base.rssMB;
    run.rssMB = afterSetup.rssMB;
    run.memorySource = base.source;
  } else {
    run.memorySource = "not measured: the row ran inside a shared process";
  }

  step(`${tag}: data plane`);
  const perRep = (total: number): number => Math.max(1, Math.ceil(total / opts.repeats));
  const effort = (n: number): number => Math.max(1, Math.round(n * (opts.effort ?? 1)));
  const dp = measureDataplane(mode, w, {
    connections: perRep(opts.connections),
    keepalive: opts.keepalive,
    roundTrips: effort(opts.quick ? 4000 : 20_000),
    costSamples: opts.quick ? 64 : 256,
    corePackets: effort(opts.quick ? 100_000 : 400_000),
    coreBudgetMs: effort(opts.quick ? 250 : 1000),
    referenceBudgetMs: effort(opts.quick ? 100 : 300),
    repeats: opts.repeats,
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
  });
  setSample(run, "newConnPerSec", dp.newConnPerSec);
  setSample(run, "newConnPerSecReference", dp.newConnPerSecReference);
  setSample(run, "establishedPps", dp.establishedPps);
  setSample(run, "coreNewConnPerSec", dp.coreNewConnPerSec);
  setSample(run, "coreNewConnPerSecReference", dp.coreNewConnPerSecReference);
  setSample(run, "limitFirstPacketNs", dp.limitFirstPacketNs);
  setSample(run, "limitConntrackNs", dp.limitConntrackNs);
  setSample(run, "coreRatioToLimit", dp.coreRatioToLimit);
  setSample(run, "newConnRatioToLimit", dp.newConnRatioToLimit);
  setSample(run, "establishedRatioToLimit", dp.establishedRatioToLimit);

  step(`${tag}: endpoint change and new Service`);
  // Each change is undone before the next, where the mode can undo it. Undoing an endpoint
  // change is itself one endpoint change (the endpoint back), so it is timed too; undoing a
  // new Service removes one, which is not the figure, so that undo is untimed. Repetitions
  // stop at --repeat or when the row has spent CHANGE_BUDGET_MS on them (the first of each
  // is always taken): at 5,000 Services and more one change can take seconds. n is in the spread.
  const canUndo = mode.restore !== undefined;
  const budgetMs = opts.quick ? CHANGE_BUDGET_MS.quick : CHANGE_BUDGET_MS.full;
  const started = hostNowMs();
  const times: { update: ResyncTimes[]; add: ResyncTimes[] } = { update: [], add: [] };
  const more = (k: "update" | "add"): boolean => times[k].length === 0 || (canUndo && times[k].length < opts.repeats && hostNowMs() - started < budgetMs);
  interleave(opts.repeats, {
    update: () => {
      if (!more("update")) return null;
      times.update.push(mode.updateEndpoint());
      if (canUndo) times.update.push(mode.restore!());
      return 0;
    },
    add: () => {
      if (!more("add")) return null;
      times.add.push(mode.addService());
      mode.restore?.();
      return 0;
    },
  });
  times.update.length = Math.min(times.update.length, opts.repeats);
  const pick = (xs: ResyncTimes[], f: (t: ResyncTimes) => number | null) => summarize(xs.map(f).filter((v): v is number => v !== null));
  setSample(run, "updateMs", pick(times.update, (t) => t.ms));
  setSample(run, "updateComputeMs", pick(times.update, (t) => t.computeMs));
  setSample(run, "updateApplyMs", pick(times.update, (t) => t.applyMs));
  setSample(run, "addServiceMs", pick(times.add, (t) => t.ms));
  setSample(run, "addServiceComputeMs", pick(times.add, (t) => t.computeMs));
  setSample(run, "addServiceApplyMs", pick(times.add, (t) => t.applyMs));

  step(`${tag}: real kernel`);
  if (opts.kernelWhyNot === null) {
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
  if (isolated) run.peakRssMB = readMemory().peakRssMB;
}

export type { ProxyModeName };
