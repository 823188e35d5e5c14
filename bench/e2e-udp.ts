/**
 * End-to-end cross-node Pod-to-Pod UDP through the whole emulated path, trace and capture
 * off: client Pod → veth → cni0 → worker-1 routing → flannel.1 VXLAN encap → eth0 → node
 * network switch → worker-2 eth0 → decap → routing → cni0 → veth → web-1's UDP echo, and
 * the reply all the way back. Reports one-way packets/s (each round trip is two packets).
 */
import { hostNowMs } from "../src/base/index.js";
import { UdpEcho } from "../src/cluster/apps.js";
import { Cluster } from "../src/cluster/build.js";
import { defaultCluster } from "../src/cluster/load.js";
import { machineInfo, median, writeResult } from "./util.js";

export interface E2eResult {
  payloadBytes: number;
  roundTrips: number;
  repeats: number;
  medianMs: number;
  packetsPerSec: number;
  roundTripsPerSec: number;
  framesPerSec: number;
  eventsPerRoundTrip: number;
  poolBuffers: number;
}

export function runE2eUdpBench(opts: { roundTrips?: number; repeats?: number; payloadBytes?: number } = {}): E2eResult {
  const roundTrips = opts.roundTrips ?? 200_000;
  const repeats = opts.repeats ?? 5;
  const payload = new Uint8Array(opts.payloadBytes ?? 64);
  const cluster = new Cluster(defaultCluster());
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
  for (let r = 0; r < repeats; r++) {
    replies = 0;
    const t0 = hostNowMs();
    for (let i = 0; i < roundTrips; i++) {
      client.ns.sendUdp(40000, dst, 7, payload);
      cluster.sim.run();
    }
    times.push(hostNowMs() - t0);
    if (replies !== roundTrips) throw new Error(`lost replies: ${roundTrips - replies}`);
  }
  const eventsPerRoundTrip = (cluster.sim.eventsProcessed - eventsBefore) / (roundTrips * repeats);
  const ms = median(times);
  return {
    payloadBytes: payload.length,
    roundTrips,
    repeats,
    medianMs: ms,
    roundTripsPerSec: roundTrips / (ms / 1000),
    packetsPerSec: (2 * roundTrips) / (ms / 1000),
    framesPerSec: (eventsPerRoundTrip * roundTrips) / (ms / 1000),
    eventsPerRoundTrip,
    poolBuffers: cluster.sim.pool.allocated,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = runE2eUdpBench();
  console.log(`cross-node Pod-to-Pod UDP (${r.payloadBytes}-byte payload), ${r.roundTrips} round trips × ${r.repeats}, median:`);
  console.log(`  ${(r.packetsPerSec / 1e6).toFixed(3)} M packets/s one-way end to end (${(r.roundTripsPerSec / 1e3).toFixed(0)} k round trips/s)`);
  console.log(`  ${r.eventsPerRoundTrip} link crossings per round trip → ${(r.framesPerSec / 1e6).toFixed(2)} M frame deliveries/s; ${r.poolBuffers} packet buffers allocated in all`);
  writeResult("e2e-udp", { machine: machineInfo(), result: r });
}
