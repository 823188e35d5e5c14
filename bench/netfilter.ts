/**
 * Netfilter benchmark: for kube-proxy-shaped rulesets of 100 … 50,000 Services with 10
 * endpoints each —
 *   - parse + apply + compile time of the restore text, and (where the kernel is here)
 *     the time real `iptables-restore` takes to load the same text in a fresh namespace;
 *   - first-packet classification (nat PREROUTING for a NEW connection to a random
 *     Service) with the reference and the compiled engine: packets/s and the modelled
 *     number of rules the kernel would evaluate.
 * Run: node --import=tsx bench/netfilter.ts [--sizes 100,1000] [--quick] [--no-kernel] [--name FILE]
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Rng, VirtualClock, hostNowMs } from "../src/base/index.js";
import { applyRestore } from "../src/netfilter/apply-restore.js";
import { RuleEngine, Traversal } from "../src/netfilter/engine.js";
import { createEnv } from "../src/netfilter/env.js";
import { ADDRTYPE_UNICAST, CT_STATE_NEW, newRuleset } from "../src/netfilter/model.js";
import { PacketContext } from "../src/netfilter/packet-context.js";
import { parseRestore } from "../src/netfilter/restore-parse.js";
import { kubeShapedRules } from "./kube-shaped-rules.js";
import { machineInfo, median, writeResult } from "./util.js";

export interface NetfilterBenchRow {
  services: number;
  endpoints: number;
  rules: number;
  textMB: number;
  parseCompileMs: number;
  kernelRestoreMs: number | null;
  compiled: { packetsPerSec: number; meanRulesEvaluated: number };
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

function classify(engine: RuleEngine, services: { vip: number; port: number }[], packets: number, seed: number): { pps: number; meanRules: number } {
  const rng = new Rng(seed);
  const bytes = new Uint8Array(40);
  bytes[0] = 0x45;
  bytes[3] = 40;
  bytes[8] = 64;
  bytes[9] = 6;
  bytes[33] = 0x02;
  const ctx = new PacketContext();
  const out = new Traversal();
  // Pre-pick destinations so the loop measures classification only.
  const picks = new Uint32Array(Math.min(packets, 65536));
  for (let i = 0; i < picks.length; i++) picks[i] = rng.intBetween(0, services.length - 1);
  let rules = 0;
  const t0 = hostNowMs();
  for (let i = 0; i < packets; i++) {
    const s = services[picks[i % picks.length]!]!;
    bytes[12] = 10;
    bytes[13] = 244;
    bytes[14] = 1;
    bytes[15] = 2 + (i & 127);
    bytes[16] = s.vip >>> 24;
    bytes[17] = (s.vip >>> 16) & 255;
    bytes[18] = (s.vip >>> 8) & 255;
    bytes[19] = s.vip & 255;
    bytes[20] = 0x9c;
    bytes[21] = i & 255;
    bytes[22] = s.port >>> 8;
    bytes[23] = s.port & 255;
    ctx.load(bytes, 0, 40).at("PREROUTING", "cni0", "", 0, CT_STATE_NEW, 0);
    engine.run("nat", "PREROUTING", ctx, out.reset(false));
    if (out.nat === null) throw new Error("no DNAT for a Service packet");
    rules += out.rulesEvaluated;
  }
  const ms = hostNowMs() - t0;
  return { pps: packets / (ms / 1000), meanRules: rules / packets };
}

export function runNetfilterBench(opts: { sizes?: number[]; endpoints?: number; quick?: boolean; kernel?: boolean } = {}): { rows: NetfilterBenchRow[]; kernelSkipped: string | null } {
  const sizes = opts.sizes ?? (opts.quick ? [100, 1000] : [100, 1000, 10000, 50000]);
  const endpoints = opts.endpoints ?? 10;
  const kernelSkipped = opts.kernel === false ? "disabled" : kernelAvailable();
  const rows: NetfilterBenchRow[] = [];
  for (const n of sizes) {
    const gen = kubeShapedRules({ services: n, endpoints });
    const compileTimes: number[] = [];
    let engine: RuleEngine | null = null;
    let refEngine: RuleEngine | null = null;
    for (let r = 0; r < (n >= 10000 ? 3 : 5); r++) {
      const t0 = hostNowMs();
      const rs = newRuleset();
      applyRestore(rs, parseRestore(gen.text, `kube-shaped-${n}`));
      const env = createEnv({ addrType: () => ADDRTYPE_UNICAST, rng: new Rng(1), clock: new VirtualClock() });
      const e = new RuleEngine("compiled", rs, env);
      // Compile the dispatch index now, not lazily inside the first packet.
      const ctx = new PacketContext();
      const warm = new Uint8Array(40);
      warm[0] = 0x45;
      warm[9] = 6;
      e.run("nat", "PREROUTING", ctx.load(warm, 0, 40).at("PREROUTING", "", "", 0, CT_STATE_NEW, 0), new Traversal().reset(false));
      compileTimes.push(hostNowMs() - t0);
      engine = e;
      if (refEngine === null) refEngine = new RuleEngine("reference", rs, createEnv({ addrType: () => ADDRTYPE_UNICAST, rng: new Rng(1), clock: new VirtualClock() }));
    }
    const compiledPackets = opts.quick ? 200_000 : 1_000_000;
    classify(engine!, gen.services, 50_000, 2); // warm-up
    const compiled = classify(engine!, gen.services, compiledPackets, 3);
    // The reference engine walks O(n) rules per packet: give it a comparable time budget.
    const refPackets = Math.max(200, Math.min(200_000, Math.round(2_000_000 / Math.max(1, n / 10))));
    const reference = classify(refEngine!, gen.services, refPackets, 3);
    const kernel = kernelSkipped === null ? kernelRestoreMs(gen.text, n >= 10000 ? 1 : 3) : null;
    rows.push({
      services: n,
      endpoints,
      rules: gen.ruleCount,
      textMB: gen.text.length / 1e6,
      parseCompileMs: median(compileTimes),
      kernelRestoreMs: kernel,
      compiled: { packetsPerSec: compiled.pps, meanRulesEvaluated: compiled.meanRules },
      reference: { packetsPerSec: reference.pps, meanRulesEvaluated: reference.meanRules, packets: refPackets },
    });
    const row = rows[rows.length - 1]!;
    console.log(
      `${String(n).padStart(6)} svc ${String(row.rules).padStart(7)} rules  parse+compile ${row.parseCompileMs.toFixed(0).padStart(6)} ms  kernel restore ${row.kernelRestoreMs === null ? "   n/a" : row.kernelRestoreMs.toFixed(0).padStart(6)} ms  ` +
        `compiled ${(row.compiled.packetsPerSec / 1e6).toFixed(2)} M pkt/s  reference ${(row.reference.packetsPerSec / 1e3).toFixed(1)} k pkt/s  rules/first packet ${row.compiled.meanRulesEvaluated.toFixed(1)}`,
    );
  }
  return { rows, kernelSkipped };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sizesArg = process.argv.indexOf("--sizes");
  const sizes = sizesArg > 0 ? process.argv[sizesArg + 1]!.split(",").map(Number) : undefined;
  const noKernel = process.argv.includes("--no-kernel");
  const nameArg = process.argv.indexOf("--name");
  const result = runNetfilterBench({ ...(sizes ? { sizes } : {}), quick: process.argv.includes("--quick"), ...(noKernel ? { kernel: false } : {}) });
  if (result.kernelSkipped) console.log(`kernel iptables-restore not measured: ${result.kernelSkipped}`);
  console.log(`written: ${writeResult(nameArg > 0 ? process.argv[nameArg + 1]! : "netfilter", { machine: machineInfo(), ...result })}`);
}
