/**
 * New connections end to end at a large Service count (issue 12 §3), iptables mode: the
 * benchmark cluster (src/bench/workload.ts: three workers, the client Pod on worker-1, ten
 * echo Pods on worker-2/3) with N ClusterIP Services synced by kube-proxy on every node. Each
 * new connection is one UDP datagram from a fresh client port to a random Service: conntrack
 * NEW on worker-1, the nat table walk and DNAT, VXLAN to the endpoint's node, the echo, and
 * the reply un-NATed back to the client. Conntrack tables are flushed between batches of
 * 8,192 ports, outside the timed part.
 *
 * Per repetition it reports connections/s (per wall second and per second of the process's
 * CPU time) and the share of the timed wall time V8 spent in garbage collection (v8.GCProfiler
 * over the timed windows, bench/gc-time.ts), with the GC count. With `--kernel` it also measures the real kernel's first-packet cost on
 * the same ruleset (src/bench/kernel.ts; needs root, ip netns, iptables-restore, python3).
 *
 *   node --max-old-space-size=8192 --import=tsx bench/new-conns.ts [--services 10000,50000]
 *        [--connections 50000] [--repeats 5] [--kernel] [--flows 1500]
 *
 * Prints one line per size and writes bench/results/new-conns.json.
 */
import { performance } from "node:perf_hooks";
import { IptablesModeBench, servicePicks } from "../src/bench/iptables-mode.js";
import { kernelLoaderUnavailable, kernelUnavailable, measureKernel } from "../src/bench/kernel.js";
import { SERVICE_PORT, ENDPOINT_PORT, makeWorkload } from "../src/bench/workload.js";
import type { PacketBuffer } from "../src/netdev/index.js";
import type { NetworkNamespace } from "../src/netns/index.js";
import { GcTime } from "./gc-time.js";
import { machineInfo, median, writeResult } from "./util.js";

const PORT_BASE = 20000;
const PORTS = 8192;

export interface NewConnsRow {
  services: number;
  endpoints: number;
  connectionsPerRep: number;
  repeats: number;
  /** Connections/s of each repetition (wall time), and their median. */
  perSec: number[];
  medianPerSec: number;
  /**
   * The same per second of this process's CPU time (user + system, all threads, GC helpers
   * included): steadier than wall time on a shared machine, where the process waits for a core.
   */
  perCpuSec: number[];
  medianPerCpuSec: number;
  /** Share of timed wall time in GC per repetition (0..1), and the median. */
  gcShare: number[];
  medianGcShare: number;
  /** GC events inside the timed windows per 1,000 connections (median over repetitions). */
  gcPer1000: number;
  setupMs: number;
  kernel: { firstPacketUs: number | null; newFlowUs: number | null; establishedFlowUs: number | null; flows: number | null; perSecFromFirstPacket: number | null; note: string | null } | null;
}

export async function runNewConns(services: number, opts: { endpoints?: number; connections?: number; repeats?: number; kernel?: boolean; flows?: number; seed?: number } = {}): Promise<NewConnsRow> {
  const endpoints = opts.endpoints ?? 10;
  const connections = opts.connections ?? 50_000;
  const repeats = opts.repeats ?? 5;
  const seed = opts.seed ?? 1;
  const w = makeWorkload(services, endpoints, seed);
  const mode = new IptablesModeBench();
  const t0 = performance.now();
  mode.setup(w);
  const setupMs = performance.now() - t0;
  const cluster = mode.cluster;
  const sim = cluster.sim;
  const nodes = [...cluster.nodes.values()];
  const ns: NetworkNamespace = cluster.pod(w.clientPod.namespace, w.clientPod.name)!.ns;
  let replies = 0;
  const handler = {
    onDatagram: (n: NetworkNamespace, pkt: PacketBuffer): void => {
      replies++;
      n.sim.pool.release(pkt);
    },
  };
  for (let p = PORT_BASE; p < PORT_BASE + PORTS; p++) ns.bindUdp(p, handler);
  const payload = new Uint8Array(32);
  const picks = servicePicks(services, 65536, seed);
  const flush = (): void => {
    for (const n of nodes) n.netfilter.conntrack.flush();
  };
  // Warm-up: ARP to every endpoint, then a batch of new connections for the JIT.
  for (const ip of w.endpointIPs) {
    ns.sendUdp(PORT_BASE, ip, ENDPOINT_PORT, payload);
    sim.run();
  }
  const gc = new GcTime();
  /** One repetition: `connections` new flows in batches of PORTS; returns the timed wall and CPU ms. */
  const rep = (count: number, offset: number): { ms: number; cpuMs: number } => {
    let done = 0;
    let ms = 0;
    let cpuMs = 0;
    replies = 0;
    while (done < count) {
      const batch = Math.min(PORTS, count - done);
      gc.start();
      const c0 = process.cpuUsage();
      const a = performance.now();
      for (let k = 0; k < batch; k++) {
        ns.sendUdp(PORT_BASE + k, w.clusterIP(picks[(offset + done + k) & 65535]!), SERVICE_PORT, payload);
        sim.run();
      }
      const b = performance.now();
      const c = process.cpuUsage(c0);
      gc.stop();
      ms += b - a;
      cpuMs += (c.user + c.system) / 1000;
      done += batch;
      flush();
    }
    if (replies !== count) throw new Error(`lost replies: ${count - replies} of ${count}`);
    return { ms, cpuMs };
  };
  flush();
  rep(Math.min(connections, 2 * PORTS), 0);
  const perSec: number[] = [];
  const perCpuSec: number[] = [];
  const gcShare: number[] = [];
  const gcPer1000: number[] = [];
  for (let r = 0; r < repeats; r++) {
    gc.reset();
    const { ms, cpuMs } = rep(connections, 7919 * (r + 1));
    perSec.push(connections / (ms / 1000));
    perCpuSec.push(connections / (cpuMs / 1000));
    gcShare.push(gc.total.ms / ms);
    gcPer1000.push((gc.total.count * 1000) / connections);
  }
  for (let p = PORT_BASE; p < PORT_BASE + PORTS; p++) ns.unbindUdp(p);

  let kernel: NewConnsRow["kernel"] = null;
  if (opts.kernel) {
    const why = kernelUnavailable() ?? kernelLoaderUnavailable("iptables-restore");
    if (why !== null) {
      kernel = { firstPacketUs: null, newFlowUs: null, establishedFlowUs: null, flows: null, perSecFromFirstPacket: null, note: `kernel not measured: ${why}` };
    } else {
      const rules = mode.kernelRules();
      const targets = Array.from(picks.subarray(0, opts.flows ?? 1500), (i) => w.clusterIP(i));
      const k = measureKernel(rules, targets, w.endpointIPs, { flows: opts.flows ?? 1500, timeoutMs: Math.max(60_000, services * 12), tag: `nc${services}` });
      kernel = {
        firstPacketUs: k.firstPacketUs,
        newFlowUs: k.newFlowUs,
        establishedFlowUs: k.establishedFlowUs,
        flows: k.flows,
        // One core spending the first packet's extra cost on nothing but new flows.
        perSecFromFirstPacket: k.firstPacketUs !== null && k.firstPacketUs > 0 ? 1e6 / k.firstPacketUs : null,
        note: k.note,
      };
    }
  }
  mode.dispose();
  return {
    services,
    endpoints,
    connectionsPerRep: connections,
    repeats,
    perSec,
    medianPerSec: median(perSec),
    perCpuSec,
    medianPerCpuSec: median(perCpuSec),
    gcShare,
    medianGcShare: median(gcShare),
    gcPer1000: median(gcPer1000),
    setupMs,
    kernel,
  };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sizes = (arg("--services") ?? "10000,50000").split(",").map(Number);
  const connections = Number(arg("--connections") ?? 50_000);
  const repeats = Number(arg("--repeats") ?? 5);
  const flows = Number(arg("--flows") ?? 1500);
  const kernel = process.argv.includes("--kernel");
  const rows: NewConnsRow[] = [];
  for (const n of sizes) {
    const r = await runNewConns(n, { connections, repeats, kernel, flows });
    rows.push(r);
    const k = r.kernel;
    const kText = k === null ? "" : k.firstPacketUs !== null ? `; kernel first packet ${k.firstPacketUs.toFixed(1)} µs ≈ ${((k.perSecFromFirstPacket ?? 0) / 1e3).toFixed(1)} k/s per core (${k.flows} flows)` : `; ${k.note}`;
    console.log(
      `${n} Services × ${r.endpoints}: ${(r.medianPerSec / 1e3).toFixed(1)} k new connections/s (min ${(Math.min(...r.perSec) / 1e3).toFixed(1)}, max ${(Math.max(...r.perSec) / 1e3).toFixed(1)}, n=${repeats} × ${connections}), ` +
        `${(r.medianPerCpuSec / 1e3).toFixed(1)} k per CPU-second, ` +
        `GC ${(r.medianGcShare * 100).toFixed(1)}% of time, ${r.gcPer1000.toFixed(2)} GCs per 1,000 connections, setup ${(r.setupMs / 1000).toFixed(1)} s${kText}`,
    );
  }
  writeResult("new-conns", { machine: machineInfo(), rows });
}
