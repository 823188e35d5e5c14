/**
 * Netfilter benchmark: for kube-proxy-shaped rulesets of 100 … 50,000 Services with 10
 * endpoints each —
 *   - loading the restore text as a node does (restoreText: parse and apply in one pass,
 *     then the compiled engine's tables with their hash tables, all built here, never on
 *     the packet path), and (where the kernel is here) the time real `iptables-restore`
 *     takes to load the same text in a fresh namespace;
 *   - first-packet classification (nat PREROUTING for a NEW connection to a random
 *     Service) with the compiled engine: the median of `--repeats` runs (5), with min and
 *     max, in ns a packet and packets/s, for packets spread over every Service and over the
 *     first 100 only (same table: what the spread costs in memory, not in work); and the
 *     reference interpreter (one time-boxed run), with the modelled number of rules the
 *     kernel would evaluate.
 * Run: node --import=tsx bench/netfilter.ts [--sizes 100,1000] [--quick] [--repeats 5] [--no-kernel] [--name FILE]
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Rng, VirtualClock, hostNowMs } from "../src/base/index.js";
import { restoreText } from "../src/netfilter/apply-restore.js";
import { RuleEngine, Traversal } from "../src/netfilter/engine.js";
import { createEnv } from "../src/netfilter/env.js";
import { ADDRTYPE_UNICAST, CT_STATE_NEW, newRuleset } from "../src/netfilter/model.js";
import { PacketContext } from "../src/netfilter/packet-context.js";
import { kubeShapedRules } from "./kube-shaped-rules.js";
import { machineInfo, median, writeResult } from "./util.js";

/** One classification figure: median of the repetitions, with their range. */
export interface ClassifyFigure {
  packetsPerSec: number;
  nsPerPacket: number;
  minNs: number;
  maxNs: number;
  repeats: number;
  meanRulesEvaluated: number;
}

export interface NetfilterBenchRow {
  services: number;
  endpoints: number;
  rules: number;
  textMB: number;
  /** restoreText + the compiled engine's tables (median). */
  parseCompileMs: number;
  /** Of which: the compiled engine's tables (median). */
  compileMs: number;
  kernelRestoreMs: number | null;
  /** Packets to every Service (the figure); `hot100`: to the first 100 Services of the same table. */
  compiled: ClassifyFigure;
  hot100: ClassifyFigure;
  reference: { packetsPerSec: number; meanRulesEvaluated: number; packets: number };
}

function kernelAvailable(): string | null {
  if (process.getuid?.() !== 0) return "not root";
  if (spawnSync("ip", ["netns", "list"], { stdio: "ignore" }).status !== 0) return "no ip netns";
  if (spawnSync("iptables-restore", ["--version"], { stdio: "ignore" }).status !== 0) return "no iptables-restore";
  return null;
}

/** Loads `text` with real iptables-restore in a fresh namespace; median of `repeats` ms. */
function kernelRestoreMs(text: string, repeats: number): number {
  const dir = mkdtempSync(join(tmpdir(), "podwire-nf-bench-"));
  const file = join(dir, "rules");
  writeFileSync(file, text);
  const times: number[] = [];
  try {
    for (let r = 0; r < repeats; r++) {
      const ns = `pw-bench-${process.pid}-${r}`;
      execFileSync("ip", ["netns", "add", ns]);
      try {
        const t0 = hostNowMs();
        execFileSync("ip", ["netns", "exec", ns, "iptables-restore", file], { stdio: ["ignore", "ignore", "pipe"], timeout: 600_000 });
        times.push(hostNowMs() - t0);
      } finally {
        spawnSync("ip", ["netns", "del", ns]);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return median(times);
}

/** Destinations picked before timing (typed arrays: the loop measures classification only). */
function picks(services: { vip: number; port: number }[], hot: number, seed: number): { vip: Uint32Array; port: Uint16Array } {
  const rng = new Rng(seed);
  const n = 65536;
  const vip = new Uint32Array(n);
  const port = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const s = services[rng.intBetween(0, Math.min(hot, services.length) - 1)]!;
    vip[i] = s.vip;
    port[i] = s.port;
  }
  return { vip, port };
}

function classify(engine: RuleEngine, p: { vip: Uint32Array; port: Uint16Array }, packets: number): { nsPerPacket: number; meanRules: number } {
  const bytes = new Uint8Array(40);
  bytes[0] = 0x45;
  bytes[3] = 40;
  bytes[8] = 64;
  bytes[9] = 6;
  bytes[33] = 0x02;
  const ctx = new PacketContext();
  const out = new Traversal();
  let rules = 0;
  const t0 = hostNowMs();
  for (let i = 0; i < packets; i++) {
    const k = i & 65535;
    const vip = p.vip[k]!;
    const port = p.port[k]!;
    bytes[12] = 10;
    bytes[13] = 244;
    bytes[14] = 1;
    bytes[15] = 2 + (i & 127);
    bytes[16] = vip >>> 24;
    bytes[17] = (vip >>> 16) & 255;
    bytes[18] = (vip >>> 8) & 255;
    bytes[19] = vip & 255;
    bytes[20] = 0x9c;
    bytes[21] = i & 255;
    bytes[22] = port >>> 8;
    bytes[23] = port & 255;
    ctx.load(bytes, 0, 40).at("PREROUTING", "cni0", "", 0, CT_STATE_NEW, 0);
    engine.run("nat", "PREROUTING", ctx, out.reset(false));
    if (out.nat === null) throw new Error("no DNAT for a Service packet");
    rules += out.rulesEvaluated;
  }
  const ms = hostNowMs() - t0;
  return { nsPerPacket: (ms * 1e6) / packets, meanRules: rules / packets };
}

/** The median of `repeats` runs of `packets` each (after one warm-up run). */
function classifyFigure(engine: RuleEngine, p: { vip: Uint32Array; port: Uint16Array }, packets: number, repeats: number): ClassifyFigure {
  classify(engine, p, Math.min(packets, 50_000));
  const runs = Array.from({ length: repeats }, () => classify(engine, p, packets));
  const ns = median(runs.map((r) => r.nsPerPacket));
  return {
    packetsPerSec: 1e9 / ns,
    nsPerPacket: ns,
    minNs: Math.min(...runs.map((r) => r.nsPerPacket)),
    maxNs: Math.max(...runs.map((r) => r.nsPerPacket)),
    repeats,
    meanRulesEvaluated: runs[0]!.meanRules,
  };
}

export function runNetfilterBench(opts: { sizes?: number[]; endpoints?: number; quick?: boolean; kernel?: boolean; repeats?: number } = {}): { rows: NetfilterBenchRow[]; kernelSkipped: string | null } {
  const sizes = opts.sizes ?? (opts.quick ? [100, 1000] : [100, 1000, 10000, 50000]);
  const endpoints = opts.endpoints ?? 10;
  const kernelSkipped = opts.kernel === false ? "disabled" : kernelAvailable();
  const rows: NetfilterBenchRow[] = [];
  for (const n of sizes) {
    const gen = kubeShapedRules({ services: n, endpoints });
    const loadTimes: number[] = [];
    const compileTimes: number[] = [];
    let engine: RuleEngine | null = null;
    let refEngine: RuleEngine | null = null;
    for (let r = 0; r < (n >= 10000 ? 3 : 5); r++) {
      engine = null;
      const t0 = hostNowMs();
      const rs = restoreText(newRuleset(), gen.text, { file: `kube-shaped-${n}` });
      const t1 = hostNowMs();
      const env = createEnv({ addrType: () => ADDRTYPE_UNICAST, rng: new Rng(1), clock: new VirtualClock() });
      engine = new RuleEngine("compiled", rs, env);
      const t2 = hostNowMs();
      loadTimes.push(t2 - t0);
      compileTimes.push(t2 - t1);
      if (refEngine === null) refEngine = new RuleEngine("reference", rs, createEnv({ addrType: () => ADDRTYPE_UNICAST, rng: new Rng(1), clock: new VirtualClock() }));
    }
    const repeats = opts.repeats ?? 5;
    const compiledPackets = opts.quick ? 100_000 : 300_000;
    const compiled = classifyFigure(engine!, picks(gen.services, n, 3), compiledPackets, repeats);
    const hot100 = classifyFigure(engine!, picks(gen.services, 100, 3), compiledPackets, repeats);
    // The reference engine walks O(n) rules per packet: give it a comparable time budget.
    const refPackets = Math.max(200, Math.min(200_000, Math.round(2_000_000 / Math.max(1, n / 10))));
    const reference = classify(refEngine!, picks(gen.services, n, 3), refPackets);
    const kernel = kernelSkipped === null ? kernelRestoreMs(gen.text, n >= 10000 ? 1 : 3) : null;
    rows.push({
      services: n,
      endpoints,
      rules: gen.ruleCount,
      textMB: gen.text.length / 1e6,
      parseCompileMs: median(loadTimes),
      compileMs: median(compileTimes),
      kernelRestoreMs: kernel,
      compiled,
      hot100,
      reference: { packetsPerSec: 1e9 / reference.nsPerPacket, meanRulesEvaluated: reference.meanRules, packets: refPackets },
    });
    const row = rows[rows.length - 1]!;
    const fig = (f: ClassifyFigure): string => `${f.nsPerPacket.toFixed(0)} ns (${f.minNs.toFixed(0)}–${f.maxNs.toFixed(0)}, n=${f.repeats}) ${(f.packetsPerSec / 1e6).toFixed(2)} M/s`;
    console.log(
      `${String(n).padStart(6)} svc ${String(row.rules).padStart(7)} rules  load ${row.parseCompileMs.toFixed(0).padStart(6)} ms (tables ${row.compileMs.toFixed(0)})  kernel restore ${row.kernelRestoreMs === null ? "n/a" : `${row.kernelRestoreMs.toFixed(0)} ms`}\n` +
        `         first packet, all Services ${fig(row.compiled)}; first 100 Services ${fig(row.hot100)}; reference ${(row.reference.packetsPerSec / 1e3).toFixed(1)} k/s; rules/first packet ${row.compiled.meanRulesEvaluated.toFixed(1)}`,
    );
  }
  return { rows, kernelSkipped };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sizesArg = process.argv.indexOf("--sizes");
  const sizes = sizesArg > 0 ? process.argv[sizesArg + 1]!.split(",").map(Number) : undefined;
  const noKernel = process.argv.includes("--no-kernel");
  const nameArg = process.argv.indexOf("--name");
  const repeatsArg = process.argv.indexOf("--repeats");
  const repeats = repeatsArg > 0 ? Number(process.argv[repeatsArg + 1]) : undefined;
  const result = runNetfilterBench({ ...(sizes ? { sizes } : {}), quick: process.argv.includes("--quick"), ...(noKernel ? { kernel: false } : {}), ...(repeats ? { repeats } : {}) });
  if (result.kernelSkipped) console.log(`kernel iptables-restore not measured: ${result.kernelSkipped}`);
  console.log(`written: ${writeResult(nameArg > 0 ? process.argv[nameArg + 1]! : "netfilter", { machine: machineInfo(), ...result })}`);
}
