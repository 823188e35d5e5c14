/**
 * `npm run bench:foundation`: every benchmark of the foundation in one run, figures printed and
 * written as JSON under bench/results/ (pcap-write.json, e2e-udp.json, summary.json).
 *   --quick   smaller sizes, for a smoke test
 */
import { runConntrackBench } from "./conntrack.js";
import { printE2e, runE2eUdpBench } from "./e2e-udp.js";
import { runNetfilterBench } from "./netfilter.js";
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
console.log("");
console.log("conntrack fast path: established flow lookup + DNAT rewrite (conntrack.json):");
const ct = runConntrackBench(quick ? { rounds: 20, repeats: 2 } : {});
console.log(`  ${(ct.packetsPerSec / 1e6).toFixed(2)} M packets/s`);
writeResult("conntrack", { machine: machineInfo(), result: ct });
console.log("");
console.log("netfilter: first packets of new connections through kube-proxy-shaped rulesets (netfilter.json):");
const nf = runNetfilterBench({ quick });
if (nf.kernelSkipped) console.log(`  kernel iptables-restore not measured: ${nf.kernelSkipped}`);
writeResult("netfilter", { machine: machineInfo(), ...nf });
const summary = {
  machine: machineInfo(),
  quick,
  pcapWriteMBps: Object.fromEntries(Object.entries(pcap.medians).map(([k, v]) => [k, Math.round(v.mbPerSec)])),
  e2eUdpPacketsPerSec: Math.round(e2e.packetsPerSec),
  e2eUdpRoundTripsPerSec: Math.round(e2e.roundTripsPerSec),
  e2eUdpBarePacketsPerSec: Math.round(bare.packetsPerSec),
  conntrackFastPathPacketsPerSec: Math.round(ct.packetsPerSec),
  netfilter: nf.rows.map((r) => ({ services: r.services, rules: r.rules, parseCompileMs: Math.round(r.parseCompileMs), kernelRestoreMs: r.kernelRestoreMs === null ? null : Math.round(r.kernelRestoreMs), compiledPps: Math.round(r.compiled.packetsPerSec), referencePps: Math.round(r.reference.packetsPerSec), rulesPerFirstPacket: Math.round(r.compiled.meanRulesEvaluated) })),
};
const path = writeResult("summary", summary);
console.log("");
console.log(`written: ${path}`);
