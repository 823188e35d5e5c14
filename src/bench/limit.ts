/**
 * The standalone JS limit (issue 12 §6): the least work a JavaScript dataplane could do for
 * the figures the benchmark reports, written straight over typed arrays with nothing of the
 * emulator around it. It is measured in the same run as podwire's figures, interleaved
 * with them, and every core figure is reported as a ratio to it (docs/benchmark.md).
 *
 *  - First packet of a new connection (`FirstPacketLimit`): a hash lookup of (ClusterIP,
 *    port, protocol) in an open-addressing table → the Service's endpoint picked as
 *    iptables' statistic chain picks it (one 31-bit draw per rule against its threshold,
 *    `--probability 1/(E−j)`, xt_statistic.c) → DNAT rewrite of destination address and
 *    port with incremental checksum updates (RFC 1624) of the IPv4 header and UDP checksums.
 *    The packet is written first, as podwire's core benchmark writes it.
 *  - An established packet (`ConntrackLimit`): the packet copied from its template into a
 *    work slot (as bench/conntrack.ts does), its 5-tuple hashed and looked up in an
 *    open-addressing table of 100,000 entries, the entry's timeout and counters refreshed,
 *    and the same DNAT rewrite (TCP checksum).
 * Tables are sized to the workload (Services × endpoints, or table entries), so the limit
 * slows with size for the same reason podwire does: memory, not instructions.
 *
 * Header offsets are written out here on purpose (IPv4 destination at +16, ports at the L4
 * header, checksums at +10 and L4+6/+16): the limit is the hand-written minimum, with no
 * accessor layer between it and the bytes, so it stays a fixed yardstick while src/wire and
 * the engines change.
 */
import { Rng, hostNowMs } from "../base/index.js";
import { updateChecksum16, updateChecksum32 } from "../wire/checksum.js";
import { buildTcpFrame, buildUdpFrame } from "../wire/builder.js";
import { ENDPOINT_PORT, SERVICE_PORT, writeNewFlowPacket } from "./workload.js";

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
/** Keeps results observable, so the JIT cannot drop the work. */
export let limitSink = 0;

const read32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

/**
 * DNAT in place: the IPv4 destination at `ip`+16 becomes `addr`, the L4 destination port at
 * `l4`+2 becomes `port`; the IPv4 header checksum and the L4 checksum at `l4`+`csumAt` are
 * updated incrementally (the pseudo header holds the address). A UDP checksum of 0 means
 * none was computed and stays 0 (RFC 768; nf_nat_proto.c udp_manip_pkt).
 */
export function dnatRewrite(b: Uint8Array, ip: number, l4: number, csumAt: number, addr: number, port: number): void {
  const oldAddr = read32(b, ip + 16);
  const oldPort = (b[l4 + 2]! << 8) | b[l4 + 3]!;
  const ipc = updateChecksum32((b[ip + 10]! << 8) | b[ip + 11]!, oldAddr, addr);
  b[ip + 10] = ipc >>> 8;
  b[ip + 11] = ipc & 255;
  const c = l4 + csumAt;
  const l4c = (b[c]! << 8) | b[c + 1]!;
  if (l4c !== 0 || csumAt !== 6) {
    let s = updateChecksum32(l4c, oldAddr, addr);
    s = updateChecksum16(s, oldPort, port);
    if (csumAt === 6 && s === 0) s = 0xffff;
    b[c] = s >>> 8;
    b[c + 1] = s & 255;
  }
  b[ip + 16] = addr >>> 24;
  b[ip + 17] = (addr >>> 16) & 255;
  b[ip + 18] = (addr >>> 8) & 255;
  b[ip + 19] = addr & 255;
  b[l4 + 2] = port >>> 8;
  b[l4 + 3] = port & 255;
}

function tableSize(entries: number): number {
  let cap = 16;
  while (cap < entries * 2) cap *= 2;
  return cap;
}

function hash3(a: number, b: number, c: number): number {
  let h = Math.imul(a ^ Math.imul(b, 0x9e3779b1), 0x85ebca6b) ^ Math.imul(c, 0xc2b2ae35);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return (h ^ (h >>> 13)) >>> 0;
}

export interface FirstPacketLimitSpec {
  services: number;
  /** ClusterIP of Service i. */
  clusterIP(i: number): number;
  /** Endpoint addresses (every Service has these, as in the benchmark's workload). */
  endpointIPs: readonly number[];
  /** Source address of the packets. */
  client: number;
  /** Service index of packet i is picks[i % picks.length] (the core benchmark's picks). */
  picks: Uint32Array;
  seed: number;
}

export class FirstPacketLimit {
  readonly services: number;
  private readonly mask: number;
  private readonly keyAddr: Uint32Array;
  private readonly keyPortProto: Uint32Array;
  /** Service index + 1 per slot; 0 = empty. */
  private readonly slotService: Int32Array;
  private readonly epStart: Uint32Array;
  private readonly epCount: Uint16Array;
  /** Per rule: the 31-bit statistic threshold (the last rule of a Service takes whatever is left). */
  private readonly threshold: Uint32Array;
  private readonly epAddr: Uint32Array;
  private readonly epPort: Uint16Array;
  private rand: number;
  private readonly bytes = new Uint8Array(28);

  constructor(private readonly spec: FirstPacketLimitSpec) {
    const n = spec.services;
    const e = spec.endpointIPs.length;
    this.services = n;
    const cap = tableSize(n);
    this.mask = cap - 1;
    this.keyAddr = new Uint32Array(cap);
    this.keyPortProto = new Uint32Array(cap);
    this.slotService = new Int32Array(cap);
    this.epStart = new Uint32Array(n);
    this.epCount = new Uint16Array(n);
    this.threshold = new Uint32Array(n * e);
    this.epAddr = new Uint32Array(n * e);
    this.epPort = new Uint16Array(n * e);
    const portProto = (SERVICE_PORT << 8) | IPPROTO_UDP;
    for (let s = 0; s < n; s++) {
      const vip = spec.clusterIP(s) >>> 0;
      let slot = hash3(vip, portProto, 0) & this.mask;
      while (this.slotService[slot] !== 0) slot = (slot + 1) & this.mask;
      this.keyAddr[slot] = vip;
      this.keyPortProto[slot] = portProto;
      this.slotService[slot] = s + 1;
      this.epStart[s] = s * e;
      this.epCount[s] = e;
      for (let j = 0; j < e; j++) {
        // kube-proxy: rule j of E has --probability 1/(E−j); the last has none.
        this.threshold[s * e + j] = j === e - 1 ? 0x80000000 : Math.floor(0x80000000 / (e - j));
        this.epAddr[s * e + j] = spec.endpointIPs[j]! >>> 0;
        this.epPort[s * e + j] = ENDPOINT_PORT;
      }
    }
    this.rand = (spec.seed * 2654435761) >>> 0 || 1;
  }

  /** Classifies and rewrites `packets` first packets; returns ns per packet. `onPick` (tests) sees each new destination. */
  run(packets: number, onPick?: (addr: number, port: number) => void): number {
    const { picks, client, clusterIP } = this.spec;
    const b = this.bytes;
    const { mask, keyAddr, keyPortProto, slotService, epStart, epCount, threshold, epAddr, epPort } = this;
    let x = this.rand;
    let sink = 0;
    const t0 = hostNowMs();
    for (let i = 0; i < packets; i++) {
      writeNewFlowPacket(b, client, clusterIP(picks[i % picks.length]!), i);
      b[10] = 0x5a; // a checksum to update (the workload's packets carry none)
      b[26] = 0xa5;
      const dst = read32(b, 16);
      const portProto = (((b[22]! << 8) | b[23]!) << 8) | b[9]!;
      let slot = hash3(dst, portProto, 0) & mask;
      let svc = 0;
      for (;;) {
        const s = slotService[slot]!;
        if (s === 0) break;
        if (keyAddr[slot] === dst && keyPortProto[slot] === portProto) {
          svc = s;
          break;
        }
        slot = (slot + 1) & mask;
      }
      if (svc === 0) continue;
      const start = epStart[svc - 1]!;
      const end = start + epCount[svc - 1]!;
      let pick = end - 1;
      for (let r = start; r < end - 1; r++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        if ((x & 0x7fffffff) >>> 0 < threshold[r]!) {
          pick = r;
          break;
        }
      }
      dnatRewrite(b, 0, 20, 6, epAddr[pick]!, epPort[pick]!);
      sink += b[11]!;
      if (onPick !== undefined) onPick(epAddr[pick]!, epPort[pick]!);
    }
    const ms = hostNowMs() - t0;
    this.rand = x >>> 0 || 1;
    limitSink += sink;
    return (ms * 1e6) / packets;
  }
}

export interface ConntrackLimitSpec {
  /** Established flows the packets belong to (default 10,000). */
  flows?: number;
  /** Entries in the table (default 100,000: the flows plus others). */
  entries?: number;
}

/** A TCP packet of `payload` bytes (IPv4 + TCP, valid checksums), from the wire builder. */
function tcpTemplate(src: number, dst: number, sport: number, dport: number, payload: number): Uint8Array {
  const b = { buf: new Uint8Array(256), head: 0, tail: 0 };
  const n = buildTcpFrame(b, { srcMac: 0x0a580af40102, dstMac: 0x0a580af40101, srcIp: src, dstIp: dst }, { srcPort: sport, dstPort: dport, seq: 1001, ack: 9001, flags: 0x18, window: 64240, payload: new Uint8Array(payload) });
  return b.buf.slice(14, n);
}

export class ConntrackLimit {
  readonly flows: number;
  readonly entries: number;
  private readonly mask: number;
  private readonly kSrc: Uint32Array;
  private readonly kDst: Uint32Array;
  private readonly kPorts: Uint32Array;
  private readonly kProto: Uint8Array;
  /** Entry index + 1 per slot; 0 = empty. */
  private readonly slotEntry: Int32Array;
  private readonly natAddr: Uint32Array;
  private readonly natPort: Uint16Array;
  private readonly expires: Float64Array;
  private readonly packets: Float64Array;
  private readonly octets: Float64Array;
  private readonly pool: Uint8Array;
  private readonly len: number;
  private now = 0;

  constructor(spec: ConntrackLimitSpec = {}) {
    const flows = spec.flows ?? 10_000;
    const entries = Math.max(flows, spec.entries ?? 100_000);
    this.flows = flows;
    this.entries = entries;
    const cap = tableSize(entries);
    this.mask = cap - 1;
    this.kSrc = new Uint32Array(cap);
    this.kDst = new Uint32Array(cap);
    this.kPorts = new Uint32Array(cap);
    this.kProto = new Uint8Array(cap);
    this.slotEntry = new Int32Array(cap);
    this.natAddr = new Uint32Array(entries);
    this.natPort = new Uint16Array(entries);
    this.expires = new Float64Array(entries);
    this.packets = new Float64Array(entries);
    this.octets = new Float64Array(entries);
    const vip = 0x0a600001; // 10.96.0.1
    const insert = (e: number, src: number, dst: number, sport: number, dport: number, proto: number, nat: number, natPort: number): void => {
      const ports = ((sport << 16) | dport) >>> 0;
      let slot = hash3(src, dst, ports ^ proto) & this.mask;
      while (this.slotEntry[slot] !== 0) slot = (slot + 1) & this.mask;
      this.kSrc[slot] = src;
      this.kDst[slot] = dst;
      this.kPorts[slot] = ports;
      this.kProto[slot] = proto;
      this.slotEntry[slot] = e + 1;
      this.natAddr[e] = nat;
      this.natPort[e] = natPort;
    };
    const templates: Uint8Array[] = [];
    for (let i = 0; i < flows; i++) {
      const client = (0x0af40100 + 2 + (i >>> 10)) >>> 0; // 10.244.1.x, as bench/conntrack.ts
      const sport = 20000 + (i & 1023);
      insert(i, client, vip, sport, 443, IPPROTO_TCP, (0x0af40202 + (i % 50)) >>> 0, 8443);
      templates.push(tcpTemplate(client, vip, sport, 443, 100));
    }
    const rng = new Rng(7);
    for (let e = flows; e < entries; e++) {
      const src = (0x0af50000 + ((e - flows) >>> 8)) >>> 0;
      insert(e, src, 0x0af40303, 1024 + rng.intBetween(0, 60000), 53, IPPROTO_UDP, 0x0af40303, 53);
    }
    this.len = templates[0]!.length;
    this.pool = new Uint8Array((flows + 1) * this.len);
    templates.forEach((t, i) => this.pool.set(t, i * this.len));
  }

  /** Looks up and rewrites `packets` established packets (round robin over the flows); returns ns per packet. */
  run(packets: number): number {
    const { pool, len, flows, mask, kSrc, kDst, kPorts, kProto, slotEntry, natAddr, natPort, expires, octets } = this;
    const counts = this.packets;
    const work = flows * len;
    const timeout = 432_000e9; // nf_conntrack_tcp_timeout_established, ns
    let misses = 0;
    let sink = 0;
    const t0 = hostNowMs();
    for (let i = 0, f = 0; i < packets; i++) {
      pool.copyWithin(work, f * len, f * len + len);
      if (++f === flows) f = 0;
      const ihl = (pool[work]! & 15) << 2;
      const l4 = work + ihl;
      const proto = pool[work + 9]!;
      const src = read32(pool, work + 12);
      const dst = read32(pool, work + 16);
      const ports = read32(pool, l4);
      let slot = hash3(src, dst, ports ^ proto) & mask;
      let e = 0;
      for (;;) {
        const s = slotEntry[slot]!;
        if (s === 0) break;
        if (kSrc[slot] === src && kDst[slot] === dst && kPorts[slot] === ports && kProto[slot] === proto) {
          e = s;
          break;
        }
        slot = (slot + 1) & mask;
      }
      if (e === 0) {
        misses++;
        continue;
      }
      e--;
      expires[e] = this.now + timeout;
      counts[e]!++;
      octets[e]! += len;
      dnatRewrite(pool, work, l4, 16, natAddr[e]!, natPort[e]!);
      sink += pool[work + 11]!;
    }
    const ms = hostNowMs() - t0;
    this.now += 1000;
    if (misses !== 0) throw new Error(`conntrack limit: ${misses} packets missed the table`);
    limitSink += sink;
    return (ms * 1e6) / packets;
  }
}

/** A UDP datagram with a valid checksum (for tests of dnatRewrite): IPv4 + UDP + payload. */
export function udpTemplate(src: number, dst: number, sport: number, dport: number, payload: number): Uint8Array {
  const b = { buf: new Uint8Array(256), head: 0, tail: 0 };
  const n = buildUdpFrame(b, { srcMac: 0x0a580af40102, dstMac: 0x0a580af40101, srcIp: src, dstIp: dst }, { srcPort: sport, dstPort: dport, payload: new Uint8Array(payload).fill(7) });
  return b.buf.slice(14, n);
}

export { tcpTemplate };
