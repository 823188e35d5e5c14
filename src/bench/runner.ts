/**
 * `podwire bench`: for every mode and Service count, in one run, one row each (row.ts) —
 *   control plane: objects generated, full sync, one endpoint change, one new Service;
 *   memory of the row's own process (VmRSS after setup, VmHWM over the row);
 *   data plane, modelled: first-packet and later-packet cost, per-request cost with and
 *     without keepalive (the Tigera experiment);
 *   data plane, measured: podwire's new connections/s and established packets/s end to end,
 *     and the fast core alone (compiled and reference), each the median of `repeats`
 *     interleaved runs with the standalone JS limit (limit.ts) and its ratio to it;
 *   the real kernel where the machine allows: iptables-restore (or `nft -f`) load time and
 *     first-packet cost.
 * Each row runs in a fresh process (row-worker.ts), one after another. A mode that is not
 * built yet (E_MODE_UNAVAILABLE) gives a row of nulls; a row whose process fails (out of
 * memory, say) gives a row of nulls with the reason, and the run goes on.
 */
import { fork } from "node:child_process";
import { cpus, loadavg, release, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { hostNowMs } from "../base/index.js";
import { kernelLoaderUnavailable, kernelUnavailable } from "./kernel.js";
import { defaultMode } from "./mode-factory.js";
import type { ProxyModeBench, ProxyModeName } from "./modes.js";
import { publishedComparison } from "./published.js";
import { type BenchResults, type BenchRun, type MachineInfo, emptyRun, roundRun } from "./results.js";
import { type RowOptions, STEPS_PER_ROW, runRow } from "./row.js";
import type { RowMessage, RowRequest } from "./row-worker.js";

export { defaultMode } from "./mode-factory.js";
export { collectGarbage } from "./memory.js";

export interface BenchOptions {
  services: number[];
  endpoints: number;
  modes: ProxyModeName[];
  /** New connections timed end to end per size (over all repetitions). */
  connections: number;
  /** Requests per connection for the keepalive figure. */
  keepalive: number;
  quick: boolean;
  seed: number;
  /** Interleaved repetitions of every timed figure. */
  repeats: number;
  /** Measure the real kernel where possible. */
  kernel: boolean;
  /** Largest Service count loaded into the real kernel. */
  kernelMaxServices: number;
  /** Run each row in a fresh process of its own (default true; memory is measured only then). */
  isolate?: boolean;
  /** Scales the packets and time budgets of the timed loops (default 1; tests use less). */
  effort?: number;
  /** Called before each step, with a label; `total` steps in all. */
  onStep?: (label: string, done: number, total: number) => void;
  /** Called with each finished row. */
  onRun?: (run: BenchRun) => void;
  /** Builds a mode's adapter in this process (tests may inject one; implies isolate: false). */
  modeFactory?: (mode: ProxyModeName) => ProxyModeBench;
}

export const VERSION = "0.1.0";

/** What loads a mode's ruleset into the real kernel (null: the mode has no kernel experiment). */
const KERNEL_LOADER: Record<ProxyModeName, "iptables-restore" | "nft" | null> = { iptables: "iptables-restore", ipvs: null, nftables: "nft" };

function machine(): MachineInfo {
  const c = cpus();
  return { cpus: c.length, cpuModel: c[0]?.model ?? "unknown", memGB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform}-${process.arch}`, kernel: release(), loadAvgStart: loadavg(), loadAvgEnd: [] };
}

export async function runBench(opts: BenchOptions): Promise<BenchResults> {
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
  const isolate = opts.modeFactory === undefined && (opts.isolate ?? true);
  const total = opts.modes.length * opts.services.length * STEPS_PER_ROW;
  let done = 0;
  const runs: BenchRun[] = [];
  for (const modeName of opts.modes) {
    for (const n of opts.services) {
      const base = done;
      const step = (label: string): void => {
        opts.onStep?.(label, done, total);
        done = Math.min(base + STEPS_PER_ROW, done + 1);
      };
      const why = modeKernelWhyNot.get(modeName) ?? null;
      const rowOpts: RowOptions = {
        endpoints: opts.endpoints,
        keepalive: opts.keepalive,
        connections: opts.connections,
        quick: opts.quick,
        seed: opts.seed,
        repeats: opts.repeats,
        kernelWhyNot: why ?? (n > opts.kernelMaxServices ? `above --kernel-max ${opts.kernelMaxServices}` : null),
        effort: opts.effort ?? 1,
      };
      const run = isolate ? await runInChild(modeName, n, rowOpts, step) : runRow((opts.modeFactory ?? defaultMode)(modeName), n, rowOpts, step, false);
      done = base + STEPS_PER_ROW;
      runs.push(run);
      opts.onRun?.(run);
    }
  }
  opts.onStep?.("done", total, total);
  if (runs.some((r) => !r.available)) notes.push(...new Set(runs.filter((r) => !r.available).map((r) => `${r.mode} ${r.services}: ${r.note}`)));
  notes.push(
    "Modelled costs are NamespaceNetfilter.rulesEvaluated deltas: every rule the kernel would test, in every table the packet crosses on the node " +
      "(nftables mode: nft rules evaluated, nftRulesEvaluated, plus the iptables rules of flannel the same packets cross; its nft expressions, nftExprsEvaluated, are given apart; IPVS mode: hash lookups plus rules). " +
      "First packet = (new flow round trip) − (established round trip)/2; later packet = (established round trip)/2. " +
      "Per request with keepalive K = (first + (2K − 1) × later) / K, two packets per request through the client's node.",
  );
  notes.push("Every Service has its own ClusterIP and its own EndpointSlice, and all of them point at the same endpoint Pods (worker-2 and worker-3); the client Pod is on worker-1, so every connection crosses nodes.");
  notes.push(
    `Timed figures are the median of ${opts.repeats} interleaved runs (min–max in results.json's spread and the CSV), measured beside the standalone JS limit (src/bench/limit.ts) at the same size; ×limit is the median of the per-run ratios. ` +
      "Limits: first packet = hash lookup → statistic pick → DNAT rewrite with incremental checksums over typed arrays; established packet = conntrack-style 5-tuple lookup in 100,000 entries + the same rewrite; a new connection end to end is set against the two together.",
  );
  notes.push(isolate ? "Each row ran in a fresh process: RSS after setup and peak RSS (VmHWM) are that process's own." : "Rows ran inside this process: memory is not reported.");
  notes.push("Timings are host wall-clock (hostNowMs) on a shared machine; see the load averages.");
  info.loadAvgEnd = loadavg();
  return {
    tool: "podwire bench",
    version: VERSION,
    machine: info,
    seed: opts.seed,
    options: { services: opts.services, endpoints: opts.endpoints, modes: opts.modes, connections: opts.connections, keepalive: opts.keepalive, quick: opts.quick, repeats: opts.repeats, kernel: opts.kernel, kernelMaxServices: opts.kernelMaxServices },
    durationMs: Math.round(hostNowMs() - started),
    runs,
    published: publishedComparison(runs),
    notes,
  };
}

/** The worker's file beside this one (.ts under tsx, .js compiled or bundled). */
function workerPath(): string {
  const self = import.meta.url;
  return fileURLToPath(new URL(`./row-worker${self.endsWith(".ts") ? ".ts" : ".js"}`, self));
}

/** Node flags for the row's process: this process's, a TypeScript loader when running the sources, a large heap, and gc(). */
function workerArgv(file: string): string[] {
  const argv = [...process.execArgv];
  if (file.endsWith(".ts") && !argv.some((a) => a.includes("tsx"))) argv.push("--import", import.meta.resolve("tsx"));
  if (!argv.some((a) => a.startsWith("--max-old-space-size"))) argv.push(`--max-old-space-size=${Math.min(12_288, Math.floor((totalmem() / 2 ** 20) * 0.75))}`);
  if (!argv.includes("--expose-gc")) argv.push("--expose-gc");
  return argv;
}

function runInChild(mode: ProxyModeName, services: number, options: RowOptions, step: (label: string) => void): Promise<BenchRun> {
  const file = workerPath();
  const t0 = hostNowMs();
  return new Promise((resolve, reject) => {
    const child = fork(file, [], { execArgv: workerArgv(file), stdio: ["ignore", "pipe", "pipe", "ipc"] });
    let tail = "";
    const keep = (chunk: Buffer): void => {
      tail = (tail + chunk.toString("utf8")).slice(-4000);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    let result: BenchRun | null = null;
    let failure: string | null = null;
    child.on("message", (m: RowMessage) => {
      if (m.type === "step") step(m.label);
      else if (m.type === "row") result = m.run;
      else failure = m.message;
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (result !== null) return resolve(result);
      if (failure !== null) return reject(new Error(`the ${mode} ${services}-Service row failed: ${failure}`));
      // The process died (out of memory, killed): a row of nulls that says so.
      const run = emptyRun(mode, services, options.endpoints, options.keepalive, defaultMode(mode).costUnit);
      const last = tail.trim().split("\n").filter((l) => l.trim() !== "").slice(-2).join(" / ");
      run.note = `the row's process ended with ${signal ?? `exit code ${code}`}${last ? `: ${last.slice(0, 300)}` : ""}`;
      run.wallMs = hostNowMs() - t0;
      resolve(roundRun(run));
    });
    const req: RowRequest = { mode, services, options };
    child.send(req);
  });
}
