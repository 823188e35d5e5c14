/**
 * End-to-end cross-node Pod-to-Pod UDP through the whole emulated path, trace and capture
 * off: client Pod → veth → cni0 → worker-1 routing → flannel.1 VXLAN encap → eth0 → node
 * network switch → worker-2 eth0 → decap → routing → cni0 → veth → web-1's UDP echo, and
 * the reply all the way back. Reports one-way packets/s (each round trip is two packets),
 * per wall second and per second of the process's CPU time (steadier on a shared machine),
 * and the share of the timed wall time spent in garbage collection.
 *
 *   node --import=tsx bench/e2e-udp.ts [--repeats 5] [--round-trips 200000]
 */
import { hostNowMs } from "../src/base/index.js";
import { UdpEcho } from "../src/cluster/apps.js";
import { Cluster } from "../src/cluster/build.js";
import { defaultCluster } from "../src/cluster/load.js";
import { GcTime } from "./gc-time.js";
import { machineInfo, median, writeResult } from "./util.js";

export interface E2eResult {
  netfilter: boolean;
  payloadBytes: number;
  roundTrips: number;
  repeats: number;
  medianMs: number;
  packetsPerSec: number;
  roundTripsPerSec: number;
  framesPerSec: number;
  eventsPerRoundTrip: number;
  poolBuffers: number;
  /** One-way packets per second of CPU time (user + system), median of the repetitions. */
  packetsPerCpuSec: number;
  /** Share of the timed wall time spent in GC (median), and collections per 100,000 packets. */
  gcShare: number;
  gcPer100kPackets: number;
}

export function runE2eUdpBench(opts: { roundTrips?: number; repeats?: number; payloadBytes?: number; netfilter?: boolean } = {}): E2eResult {
  const roundTrips = opts.roundTrips ?? 200_000;
  const repeats = opts.repeats ?? 5;
  const payload = new Uint8Array(opts.payloadBytes ?? 64);
  const cluster = new Cluster(defaultCluster());
  if (opts.netfilter === false) {
    // The bare dataplane: no conntrack, no iptables, no bridge-nf (as a node without kube-proxy or flannel's rules).
    for (const n of cluster.nodes.values()) {
      n.ns.nf = null;
      n.cni0.nfHooks = null;
    }
  }
  const client = cluster.pod("default", "client")!;
  const web1 = cluster.pod("default", "web-1")!;
  web1.ns.bindUdp(7, new UdpEcho());
  let replies = 0;
  client.ns.bindUdp(40000, {
    onDatagram: (ns, pkt) => {
      replies++;
      ns.sim.pool.release(pkt);
    },
  });
  const dst = web1.spec.podIP;
  // Warm up: resolve ARP everywhere and let the JIT settle.
  for (let i = 0; i < 20_000; i++) {
    client.ns.sendUdp(40000, dst, 7, payload);
    cluster.sim.run();
  }
  const eventsBefore = cluster.sim.eventsProcessed;
  const times: number[] = [];
  const cpu: number[] = [];
  const gcShares: number[] = [];
  const gcCounts: number[] = [];
  const gc = new GcTime();
  for (let r = 0; r < repeats; r++) {
    replies = 0;
    gc.start();
    const c0 = process.cpuUsage();
    const t0 = hostNowMs();
    for (let i = 0; i < roundTrips; i++) {
      client.ns.sendUdp(40000, dst, 7, payload);
      cluster.sim.run();
    }
    const ms = hostNowMs() - t0;
    const c = process.cpuUsage(c0);
    const g = gc.stop();
    times.push(ms);
    cpu.push((c.user + c.system) / 1000);
    gcShares.push(g.ms / ms);
    gcCounts.push(g.count);
    if (replies !== roundTrips) throw new Error(`lost replies: ${roundTrips - replies}`);
  }
  const eventsPerRoundTrip = (cluster.sim.eventsProcessed - eventsBefore) / (roundTrips * repeats);
  const ms = median(times);
  return {
    netfilter: opts.netfilter !== false,
    payloadBytes: payload.length,
    roundTrips,
    repeats,
    medianMs: ms,
    roundTripsPerSec: roundTrips / (ms / 1000),
    packetsPerSec: (2 * roundTrips) / (ms / 1000),
    framesPerSec: (eventsPerRoundTrip * roundTrips) / (ms / 1000),
    eventsPerRoundTrip,
    poolBuffers: cluster.sim.pool.allocated,
    packetsPerCpuSec: (2 * roundTrips) / (median(cpu) / 1000),
    gcShare: median(gcShares),
    gcPer100kPackets: (median(gcCounts) * 100_000) / (2 * roundTrips),
  };
}

export function printE2e(r: E2eResult): void {
  console.log(
    `  ${r.netfilter ? "with netfilter (conntrack, flannel rules, bridge-nf)" : "bare dataplane (netfilter off)       "}: ` +
      `${(r.packetsPerSec / 1e6).toFixed(3)} M packets/s one-way (${(r.roundTripsPerSec / 1e3).toFixed(0)} k round trips/s, ${r.eventsPerRoundTrip} link crossings each); ` +
      `${(r.packetsPerCpuSec / 1e6).toFixed(3)} M per CPU-second, GC ${(r.gcShare * 100).toFixed(1)}% (${r.gcPer100kPackets.toFixed(1)} per 100k packets)`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string): number | undefined => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const opts = { ...(arg("--repeats") !== undefined ? { repeats: arg("--repeats")! } : {}), ...(arg("--round-trips") !== undefined ? { roundTrips: arg("--round-trips")! } : {}) };
  const withNf = runE2eUdpBench(opts);
  const bare = runE2eUdpBench({ ...opts, netfilter: false });
  console.log(`cross-node Pod-to-Pod UDP echo (${withNf.payloadBytes}-byte payload), ${withNf.roundTrips} round trips × ${withNf.repeats}, median:`);
  printE2e(withNf);
  printE2e(bare);
  writeResult("e2e-udp", { machine: machineInfo(), results: [withNf, bare] });
}
