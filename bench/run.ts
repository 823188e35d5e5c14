/**
 * `npm run bench`: every benchmark of the foundation in one run, figures printed and
 * written as JSON under bench/results/ (pcap-write.json, e2e-udp.json, summary.json).
 *   --quick   smaller sizes, for a smoke test
 */
import { printE2e, runE2eUdpBench } from "./e2e-udp.js";
import { runPcapBench } from "./pcap-write.js";
import { machineInfo, writeResult } from "./util.js";

const quick = process.argv.includes("--quick");

console.log(`podwire benchmarks${quick ? " (quick)" : ""} on ${machineInfo().cpus} × ${machineInfo().cpuModel}, node ${process.version}`);
console.log("");
console.log("capture writing (pcap-write.json):");
const pcap = runPcapBench({ megabytes: quick ? 20 : 200, repeats: quick ? 2 : 5 });
console.log("");
console.log("end-to-end cross-node Pod-to-Pod UDP echo (e2e-udp.json):");
const e2e = runE2eUdpBench({ roundTrips: quick ? 20_000 : 200_000, repeats: quick ? 2 : 5 });
const bare = runE2eUdpBench({ roundTrips: quick ? 20_000 : 200_000, repeats: quick ? 2 : 5, netfilter: false });
printE2e(e2e);
printE2e(bare);
writeResult("e2e-udp", { machine: machineInfo(), results: [e2e, bare] });
const summary = {
  machine: machineInfo(),
  quick,
  pcapWriteMBps: Object.fromEntries(Object.entries(pcap.medians).map(([k, v]) => [k, Math.round(v.mbPerSec)])),
  e2eUdpPacketsPerSec: Math.round(e2e.packetsPerSec),
  e2eUdpRoundTripsPerSec: Math.round(e2e.roundTripsPerSec),
  e2eUdpBarePacketsPerSec: Math.round(bare.packetsPerSec),
};
const path = writeResult("summary", summary);
console.log("");
console.log(`written: ${path}`);
