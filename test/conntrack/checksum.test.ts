import { testProp, fc } from "@fast-check/ava";
import { fullChecksumsValid } from "../../src/conntrack/index.js";
import { Ipv4Packet } from "../../src/wire/ipv4.js";
import { TcpPacket } from "../../src/wire/tcp.js";
import { UdpPacket } from "../../src/wire/udp.js";
import { IcmpPacket } from "../../src/wire/icmp.js";
import { Rng } from "../../src/base/rng.js";
import { echo, makeTable, tcp, udp, ACK, PSH } from "./helpers.js";
import type { Pkt } from "./helpers.js";

/** Recomputes every checksum from scratch in a copy (a zero UDP checksum stays zero). */
function recomputed(p: Pkt): Uint8Array {
  const buf = p.buf.slice(0, p.ipOff + p.len);
  const ip = new Ipv4Packet(buf, p.ipOff);
  ip.fillChecksum();
  const l4 = p.ipOff + ip.headerLen();
  const l4len = ip.totalLen() - ip.headerLen();
  const proto = ip.protocol();
  if (proto === 6) new TcpPacket(buf, l4, l4len).fillChecksum(ip.srcAddr(), ip.dstAddr());
  else if (proto === 17) {
    const u = new UdpPacket(buf, l4);
    if (u.checksum() !== 0) u.fillChecksum(ip.srcAddr(), ip.dstAddr());
  } else if (proto === 1) new IcmpPacket(buf, l4, l4len).fillChecksum();
  return buf;
}

const u32 = fc.integer({ min: 1, max: 0xfffffffe });
const port = fc.integer({ min: 1, max: 0xffff });

const packet = fc.oneof(
  fc.record({ kind: fc.constant("udp" as const), src: u32, dst: u32, sport: port, dport: port, payload: fc.integer({ min: 0, max: 64 }), csum: fc.boolean() }),
  fc.record({ kind: fc.constant("tcp" as const), src: u32, dst: u32, sport: port, dport: port, payload: fc.integer({ min: 0, max: 64 }), seq: fc.integer({ min: 0, max: 0xffffffff }) }),
  fc.record({ kind: fc.constant("icmp" as const), src: u32, dst: u32, sport: port, dport: port, payload: fc.constant(0) }),
);

testProp(
  "after every NAT rewrite the incremental checksums equal a full recompute",
  [packet, u32, port, u32, port, fc.integer({ min: 0, max: 1000 })],
  (t, spec, dnatIp, dnatPort, snatIp, snatPort, seed) => {
    const { ct } = makeTable({ rng: new Rng(seed) });
    let p: Pkt;
    if (spec.kind === "udp") p = udp(spec.src, spec.dst, spec.sport, spec.dport, spec.payload, spec.csum);
    else if (spec.kind === "tcp") p = tcp(spec.src, spec.dst, spec.sport, spec.dport, spec.seq, 0, ACK | PSH, { payloadLen: spec.payload });
    else p = echo(spec.src, spec.dst, "echo-request", spec.sport);
    const v = ct.inspect(p.buf, p.ipOff, p.len);
    const conn = v.conn!;
    t.truthy(conn);
    ct.setupNat(conn, "dst", { minIp: dnatIp, maxIp: dnatIp, minPort: dnatPort, maxPort: dnatPort });
    t.true(ct.manipPacket(conn, 0, "dst", p.buf, p.ipOff, p.len));
    t.deepEqual(p.buf.subarray(0, p.ipOff + p.len), recomputed(p));
    ct.setupNat(conn, "src", { minIp: snatIp, maxIp: snatIp, minPort: snatPort, maxPort: snatPort });
    t.true(ct.manipPacket(conn, 0, "src", p.buf, p.ipOff, p.len));
    t.deepEqual(p.buf.subarray(0, p.ipOff + p.len), recomputed(p));
    t.true(fullChecksumsValid(p.buf, p.ipOff, p.len));
    t.true(ct.confirm(conn));
    // And the reply direction, rewritten back at both hooks.
    const r = conn.reply;
    let q: Pkt;
    if (spec.kind === "udp") q = udp(r.src, r.dst, r.sport, r.dport, spec.payload, spec.csum);
    else if (spec.kind === "tcp") q = tcp(r.src, r.dst, r.sport, r.dport, 7, 0, ACK, { payloadLen: spec.payload });
    else q = echo(r.src, r.dst, "echo-reply", r.sport);
    const w = ct.inspect(q.buf, q.ipOff, q.len);
    if (spec.kind === "tcp" && w.ctinfo === "INVALID") return; // an arbitrary reply may fall outside the window
    t.is(w.conn, conn);
    t.is(w.dir, 1);
    ct.manipPacket(conn, 1, "dst", q.buf, q.ipOff, q.len);
    ct.manipPacket(conn, 1, "src", q.buf, q.ipOff, q.len);
    t.deepEqual(q.buf.subarray(0, q.ipOff + q.len), recomputed(q));
    const o = conn.original;
    const b = q.buf;
    const g32 = (i: number) => ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
    t.is(g32(q.ipOff + 12), o.dst);
    t.is(g32(q.ipOff + 16), o.src);
  },
  { numRuns: 300 },
);
