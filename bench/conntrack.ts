/**
 * Conntrack fast path: `inspect` + `manipPacket` (DNAT with incremental checksum updates)
 * on pre-built packets of 10,000 established TCP flows to a Service VIP, in a table of
 * 100,000 entries (90,000 more UDP flows). Each packet is first copied from its pristine
 * template (the rewrite is in place) into a work slot of the same pool buffer, and that copy
 * is part of the measured time.
 * Prints the median packets/s of 5 runs (wall time, and per second of the process's CPU
 * time, steadier on a shared machine) and writes bench/results/conntrack.json.
 *
 *   node --import=tsx bench/conntrack.ts [--repeats 5]
 */
import { VirtualClock, hostNowMs } from "../src/base/clock.js";
import { Rng } from "../src/base/rng.js";
import { ipv4 } from "../src/base/ipv4-int.js";
import { buildTcpFrame, buildUdpFrame } from "../src/wire/builder.js";
import { ConntrackTable } from "../src/conntrack/index.js";
import type { Conn } from "../src/conntrack/index.js";
import { GcTime } from "./gc-time.js";
import { machineInfo, median, writeResult } from "./util.js";

export interface ConntrackBenchResult {
  flows: number;
  tableEntries: number;
  packetsPerRun: number;
  repeats: number;
  medianMs: number;
  packetsPerSec: number;
  nsPerPacket: number;
  /** Packets per second of CPU time (user + system), median of the runs. */
  packetsPerCpuSec: number;
  /** Share of the timed wall time spent in GC (median of the runs). */
  gcShare: number;
  invalidDuringRuns: number;
}

const SYN = 0x02;
const ACK = 0x10;
const PSH = 0x08;
const MACS = { srcMac: 0x0a580af40102, dstMac: 0x0a580af40101 };

function tcpPacket(src: number, dst: number, sport: number, dport: number, seq: number, ack: number, flags: number, payloadLen: number): Uint8Array {
  const b = { buf: new Uint8Array(256), head: 0, tail: 0 };
  const n = buildTcpFrame(b, { ...MACS, srcIp: src, dstIp: dst }, { srcPort: sport, dstPort: dport, seq, ack, flags, window: 64240, payload: new Uint8Array(payloadLen) });
  return b.buf.slice(14, n);
}

function udpPacket(src: number, dst: number, sport: number, dport: number): Uint8Array {
  const b = { buf: new Uint8Array(256), head: 0, tail: 0 };
  const n = buildUdpFrame(b, { ...MACS, srcIp: src, dstIp: dst }, { srcPort: sport, dstPort: dport, payload: new Uint8Array(32) });
  return b.buf.slice(14, n);
}

export function runConntrackBench(opts: { flows?: number; entries?: number; rounds?: number; repeats?: number } = {}): ConntrackBenchResult {
  const flows = opts.flows ?? 10_000;
  const entries = opts.entries ?? 100_000;
  const rounds = opts.rounds ?? 100;
  const repeats = opts.repeats ?? 5;
  const clock = new VirtualClock(0);
  const ct = new ConntrackTable({ clock, rng: new Rng(1) });
  const vip = ipv4("10.96.0.1");
  const endpoints = Array.from({ length: 50 }, (_, i) => ipv4("10.244.2.0") + 2 + i);

  // Filler: other UDP flows.
  for (let i = 0; i < entries - flows; i++) {
    const p = udpPacket(ipv4("10.245.0.0") + (i >>> 8), ipv4("10.244.3.3"), 1024 + (i & 0xff), 53);
    const v = ct.inspect(p, 0, p.length);
    ct.confirm(v.conn!);
  }

  // Established DNATed TCP flows: handshake through PREROUTING/POSTROUTING as netfilter would.
  const templates: Uint8Array[] = [];
  for (let i = 0; i < flows; i++) {
    const client = ipv4("10.244.1.0") + 2 + (i >>> 10);
    const sport = 20000 + (i & 1023);
    const ep = endpoints[i % endpoints.length]!;
    const syn = tcpPacket(client, vip, sport, 443, 1000, 0, SYN, 0);
    const v = ct.inspect(syn, 0, syn.length);
    const conn: Conn = v.conn!;
    ct.setupNat(conn, "dst", { minIp: ep, maxIp: ep, minPort: 8443, maxPort: 8443 });
    ct.manipPacket(conn, 0, "dst", syn, 0, syn.length);
    ct.setupNat(conn, "src", null);
    if (!ct.confirm(conn)) throw new Error("confirm failed");
    const sa = tcpPacket(ep, client, 8443, sport, 9000, 1001, SYN | ACK, 0);
    ct.inspect(sa, 0, sa.length);
    const ack = tcpPacket(client, vip, sport, 443, 1001, 9001, ACK, 0);
    ct.inspect(ack, 0, ack.length);
    templates.push(tcpPacket(client, vip, sport, 443, 1001, 9001, ACK | PSH, 100));
  }
  if (ct.count !== entries) throw new Error(`table holds ${ct.count}, expected ${entries}`);

  // All templates back to back in one buffer, followed by the work area (a packet pool).
  const len = templates[0]!.length;
  const pool = new Uint8Array((flows + 1) * len);
  templates.forEach((tpl, i) => pool.set(tpl, i * len));
  const work = flows * len;
  const runOnce = (): number => {
    let bad = 0;
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < flows; i++) {
        pool.copyWithin(work, i * len, i * len + len);
        const v = ct.inspect(pool, work, len);
        const conn = v.conn;
        if (conn === null) {
          bad++;
          continue;
        }
        ct.manipPacket(conn, v.dir, "dst", pool, work, len);
      }
    }
    return bad;
  };
  runOnce(); // warm-up
  const times: number[] = [];
  const cpu: number[] = [];
  const gcShares: number[] = [];
  const gc = new GcTime();
  let bad = 0;
  for (let k = 0; k < repeats; k++) {
    gc.start();
    const c0 = process.cpuUsage();
    const t0 = hostNowMs();
    bad += runOnce();
    const ms = hostNowMs() - t0;
    const c = process.cpuUsage(c0);
    gcShares.push(gc.stop().ms / ms);
    times.push(ms);
    cpu.push((c.user + c.system) / 1000);
  }
  const ms = median(times);
  const packets = rounds * flows;
  return {
    flows,
    tableEntries: ct.count,
    packetsPerRun: packets,
    repeats,
    medianMs: ms,
    packetsPerSec: packets / (ms / 1000),
    nsPerPacket: (ms * 1e6) / packets,
    packetsPerCpuSec: packets / (median(cpu) / 1000),
    gcShare: median(gcShares),
    invalidDuringRuns: bad,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf("--repeats");
  const r = runConntrackBench(i >= 0 ? { repeats: Number(process.argv[i + 1]) } : {});
  console.log(`conntrack fast path (inspect + DNAT manipPacket), ${r.flows} established TCP flows in a table of ${r.tableEntries}, ${r.packetsPerRun} packets × ${r.repeats}, median:`);
  console.log(`  ${(r.packetsPerSec / 1e6).toFixed(2)} M packets/s (${r.nsPerPacket.toFixed(0)} ns/packet); ${(r.packetsPerCpuSec / 1e6).toFixed(2)} M per CPU-second, GC ${(r.gcShare * 100).toFixed(1)}%`);
  writeResult("conntrack", { machine: machineInfo(), result: r });
}
