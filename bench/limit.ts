/**
 * The standalone JS limit by itself (src/bench/limit.ts): ns per first packet (hash lookup →
 * statistic pick → DNAT rewrite with incremental checksums) at each Service count, and ns
 * per established packet (conntrack-style lookup in 100,000 entries + the same rewrite),
 * each the median of interleaved runs with min–max. `npm run bench` measures the same limit
 * inside every row, interleaved with podwire's figures; this prints it alone.
 *   node dist/bench/limit.js [--sizes 100,1000,10000,50000] [--repeat 5] [--packets 1000000]
 */
import { ConntrackLimit, FirstPacketLimit } from "../src/bench/limit.js";
import { servicePicks } from "../src/bench/iptables-mode.js";
import { interleave, summarize } from "../src/bench/stats.js";
import { makeWorkload } from "../src/bench/workload.js";
import { machineInfo, writeResult } from "./util.js";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const sizes = arg("--sizes", "100,1000,10000,50000").split(",").map(Number);
const repeats = Number(arg("--repeat", "5"));
const packets = Number(arg("--packets", "1000000"));
const ct = new ConntrackLimit();
const limits = sizes.map((n) => {
  const w = makeWorkload(n, 10, 1);
  const client = w.spec.pods.find((p) => p.name === "client")!.podIP;
  const picks = servicePicks(n, 65536, 1);
  const limit = new FirstPacketLimit({ services: n, clusterIP: w.clusterIP, endpointIPs: w.endpointIPs, client, picks, seed: 1 });
  limit.run(picks.length); // warm-up over every pick
  return limit;
});
ct.run(packets);
const jobs: Record<string, () => number> = { conntrack: () => ct.run(packets) };
limits.forEach((l, i) => (jobs[`first-${sizes[i]}`] = () => l.run(packets)));
const rounds = interleave(repeats, jobs);
const rows = sizes.map((n) => ({ services: n, firstPacketNs: summarize(rounds[`first-${n}`]!)! }));
const conntrackNs = summarize(rounds.conntrack!)!;
const f = (s: { median: number; min: number; max: number }): string => `${s.median.toFixed(1)} ns (${s.min.toFixed(1)}–${s.max.toFixed(1)})`;
console.log(`the JS limit, median of ${repeats} interleaved runs of ${packets.toLocaleString("en-US")} packets:`);
for (const r of rows) console.log(`  first packet, ${r.services.toLocaleString("en-US").padStart(7)} Services × 10 endpoints: ${f(r.firstPacketNs)}`);
console.log(`  slowdown ${sizes[0]} → ${sizes[sizes.length - 1]} Services: ${(rows[rows.length - 1]!.firstPacketNs.median / rows[0]!.firstPacketNs.median).toFixed(2)}×`);
console.log(`  established packet, conntrack-style lookup in ${ct.entries.toLocaleString("en-US")} entries: ${f(conntrackNs)}`);
console.log(`written: ${writeResult("limit", { machine: machineInfo(), repeats, packets, firstPacket: rows, conntrackNs })}`);
