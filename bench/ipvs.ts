/**
 * IPVS at scale: 50,000 virtual services x 10 real servers.
 * (a) One-endpoint updates as kube-proxy's IPVS proxier makes them: edit a real server's
 *     weight (graceful termination sets 0), add a real server, delete a real server —
 *     median µs per update.
 * (b) Packets through `inbound`: new connections (SYN: service lookup, rr scheduling,
 *     connection creation, DNAT with incremental checksums) and established packets
 *     (connection lookup, state machine, DNAT). Each packet is copied from its pristine
 *     template into a work buffer first; the copy is part of the measured time.
 * Prints the figures and writes bench/results/ipvs.json.
 *
 *   node --import=tsx bench/ipvs.ts
 */
import { VirtualClock, hostNowMs } from "../src/base/clock.js";
import { Rng } from "../src/base/rng.js";
import { ipv4 } from "../src/base/ipv4-int.js";
import { buildTcpFrame } from "../src/wire/builder.js";
import { IpvsTable } from "../src/ipvs/index.js";
import { machineInfo, median, writeResult } from "./util.js";

export interface IpvsBenchResult {
  services: number;
  destsPerService: number;
  buildMs: number;
  updateMedianUs: { editWeight: number; addDest: number; deleteDest: number };
  updatesPerKind: number;
  newConnsPerSec: number;
  newConnPackets: number;
  establishedPacketsPerSec: number;
  establishedPackets: number;
  repeats: number;
}

const SYN = 0x02;
const ACK = 0x10;
const MACS = { srcMac: 0x0a580af40102, dstMac: 0x0a580af40101 };

function tcpPacket(src: number, dst: number, sport: number, dport: number, flags: number): Uint8Array {
  const b = { buf: new Uint8Array(128), head: 0, tail: 0 };
  const n = buildTcpFrame(b, { ...MACS, srcIp: src, dstIp: dst }, { srcPort: sport, dstPort: dport, seq: 1, ack: 0, flags, window: 64240, payload: new Uint8Array(0) });
  return b.buf.slice(14, n);
}

const VIP_BASE = ipv4("10.96.0.0");
const EP_BASE = ipv4("10.128.0.0");

export function runIpvsBench(opts: { services?: number; dests?: number; updates?: number; flows?: number; repeats?: number } = {}): IpvsBenchResult {
  const services = opts.services ?? 50_000;
  const dests = opts.dests ?? 10;
  const updates = opts.updates ?? 2_000;
  const flows = opts.flows ?? 100_000;
  const repeats = opts.repeats ?? 5;
  const rng = new Rng(7);
  const clock = new VirtualClock(0);
  const t = new IpvsTable({ clock, sysctl: { conntrack: 1, expireNodestConn: 1, expireQuiescentTemplate: 1 } });
  const key = (i: number) => ({ protocol: "tcp" as const, addr: VIP_BASE + i, port: 443 });
  const ep = (i: number, j: number) => EP_BASE + i * 16 + j;

  const t0 = hostNowMs();
  for (let i = 0; i < services; i++) {
    t.addService(key(i), { scheduler: "rr" });
    for (let j = 0; j < dests; j++) t.addDest(key(i), { addr: ep(i, j), port: 8443 });
  }
  const buildMs = hostNowMs() - t0;

  // (a) one-endpoint updates, each timed on its own.
  const edit: number[] = [];
  const add: number[] = [];
  const del: number[] = [];
  for (let k = 0; k < updates; k++) {
    const i = rng.intBetween(0, services - 1);
    let s = hostNowMs();
    t.editDest(key(i), { addr: ep(i, k % dests), port: 8443, weight: k & 1 ? 1 : 0 });
    edit.push(hostNowMs() - s);
    s = hostNowMs();
    t.addDest(key(i), { addr: ep(i, 15), port: 8443 });
    add.push(hostNowMs() - s);
    s = hostNowMs();
    t.deleteDest(key(i), ep(i, 15), 8443);
    del.push(hostNowMs() - s);
    t.editDest(key(i), { addr: ep(i, k % dests), port: 8443, weight: 1 });
  }

  // (b) new connections, then established packets of those connections.
  const syns: Uint8Array[] = [];
  const acks: Uint8Array[] = [];
  for (let f = 0; f < flows; f++) {
    const i = rng.intBetween(0, services - 1);
    const client = ipv4("10.244.0.0") + (f >>> 12);
    const sport = 20000 + (f & 4095);
    syns.push(tcpPacket(client, VIP_BASE + i, sport, 443, SYN));
    acks.push(tcpPacket(client, VIP_BASE + i, sport, 443, ACK));
  }
  const work = new Uint8Array(128);
  const newRuns: number[] = [];
  const estRuns: number[] = [];
  const rounds = 5;
  for (let r = 0; r < repeats; r++) {
    t.conns.clear();
    let s = hostNowMs();
    for (let f = 0; f < flows; f++) {
      const p = syns[f]!;
      work.set(p);
      const res = t.inbound(work, 0, p.length);
      if (res.verdict !== "forwarded") throw new Error(`SYN not forwarded: ${res.verdict} ${res.reason}`);
    }
    newRuns.push(hostNowMs() - s);
    s = hostNowMs();
    for (let k = 0; k < rounds; k++) {
      for (let f = 0; f < flows; f++) {
        const p = acks[f]!;
        work.set(p);
        t.inbound(work, 0, p.length);
      }
    }
    estRuns.push(hostNowMs() - s);
  }
  const newMs = median(newRuns);
  const estMs = median(estRuns);
  return {
    services,
    destsPerService: dests,
    buildMs,
    updateMedianUs: { editWeight: median(edit) * 1000, addDest: median(add) * 1000, deleteDest: median(del) * 1000 },
    updatesPerKind: updates,
    newConnsPerSec: flows / (newMs / 1000),
    newConnPackets: flows,
    establishedPacketsPerSec: (flows * rounds) / (estMs / 1000),
    establishedPackets: flows * rounds,
    repeats,
  };
}

export function printIpvs(r: IpvsBenchResult): void {
  console.log(`  table: ${r.services} services x ${r.destsPerService} real servers, built in ${r.buildMs.toFixed(0)} ms`);
  const u = r.updateMedianUs;
  console.log(`  one-endpoint update (median): edit weight ${u.editWeight.toFixed(2)} µs, add ${u.addDest.toFixed(2)} µs, delete ${u.deleteDest.toFixed(2)} µs`);
  console.log(`  new connections (SYN -> schedule + DNAT): ${(r.newConnsPerSec / 1e6).toFixed(2)} M/s`);
  console.log(`  established packets (lookup + state + DNAT): ${(r.establishedPacketsPerSec / 1e6).toFixed(2)} M/s`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = runIpvsBench();
  console.log("IPVS (ipvs.json):");
  printIpvs(r);
  console.log(`written: ${writeResult("ipvs", { machine: machineInfo(), result: r })}`);
}
