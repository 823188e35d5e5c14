import test from "ava";
import { testProp, fc } from "@fast-check/ava";
import { fullChecksumsValid } from "../../src/conntrack/index.js";
import { Ipv4Packet } from "../../src/wire/ipv4.js";
import { TcpPacket } from "../../src/wire/tcp.js";
import { UdpPacket } from "../../src/wire/udp.js";
import { IcmpPacket } from "../../src/wire/icmp.js";
import { ACK, PSH, SYN, addr, fields, icmpError, makeTable, tcp, udp } from "./helpers.js";
import type { Pkt } from "./helpers.js";

/** A copy with every checksum recomputed from scratch (a zero UDP checksum stays zero). */
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

const u32 = fc.integer({ min: 0x01000000, max: 0xdfffffff });
const port = fc.integer({ min: 1, max: 0xffff });

testProp(
  "inbound DNAT and outbound reverse NAT: right addresses, checksums equal a full recompute",
  [fc.constantFrom("tcp", "udp"), u32, fc.integer({ min: 1024, max: 0xffff }), u32, port, u32, port, fc.integer({ min: 0, max: 300 }), fc.boolean(), fc.integer({ min: 2, max: 255 })],
  (t, proto, client, cport, vip, vport, rs, rport, payload, udpCsum, ttl) => {
    fc.pre(client !== vip && client !== rs && vip !== rs);
    const { t: table } = makeTable();
    const key = { protocol: proto, addr: vip, port: vport };
    table.addService(key, { scheduler: "rr" });
    table.addDest(key, { addr: rs, port: rport });
    const req = proto === "tcp" ? tcp(client, cport, vip, vport, SYN, { payloadLen: payload, ttl }) : udp(client, cport, vip, vport, payload, udpCsum);
    if (proto === "udp") {
      req.buf[req.ipOff + 8] = ttl;
      new Ipv4Packet(req.buf, req.ipOff).fillChecksum();
    }
    const r = table.inbound(req.buf, req.ipOff, req.len);
    t.is(r.verdict, "forwarded");
    const f = fields(req);
    t.deepEqual([addr(f.src), f.sport, addr(f.dst), f.dport, f.ttl], [client, cport, rs, rport, ttl - 1]);
    t.deepEqual(req.buf.subarray(0, req.ipOff + req.len), recomputed(req));
    t.true(fullChecksumsValid(req.buf, req.ipOff, req.len));

    const rep = proto === "tcp" ? tcp(rs, rport, client, cport, SYN | ACK, { payloadLen: payload }) : udp(rs, rport, client, cport, payload, udpCsum);
    const o = table.outbound(rep.buf, rep.ipOff, rep.len);
    t.is(o.verdict, "forwarded");
    const g = fields(rep);
    t.deepEqual([addr(g.src), g.sport, addr(g.dst), g.dport], [vip, vport, client, cport]);
    t.deepEqual(rep.buf.subarray(0, rep.ipOff + rep.len), recomputed(rep));
    // Byte-for-byte what the virtual service itself would have sent.
    const direct = proto === "tcp" ? tcp(vip, vport, client, cport, SYN | ACK, { payloadLen: payload }) : udp(vip, vport, client, cport, payload, udpCsum);
    t.deepEqual(rep.buf.subarray(rep.ipOff, rep.ipOff + rep.len), direct.buf.subarray(direct.ipOff, direct.ipOff + direct.len));
  },
  { numRuns: 300 },
);

test("TTL 1 is not forwarded: dropped with ICMP time exceeded (decrement_ttl)", (t) => {
  const { t: table } = makeTable();
  const key = { protocol: "tcp" as const, addr: addr("10.96.0.1"), port: 443 };
  table.addService(key, { scheduler: "rr" });
  table.addDest(key, { addr: addr("10.244.1.3"), port: 6443 });
  const r = table.inbound(...args(tcp("10.244.2.2", 5000, "10.96.0.1", 443, SYN, { ttl: 1 })));
  t.is(r.verdict, "dropped");
  t.is(r.icmp, "time-exceeded");
});

function args(p: Pkt): [Uint8Array, number, number] {
  return [p.buf, p.ipOff, p.len];
}

test("ICMP errors about a connection are translated both ways (ip_vs_nat_icmp)", (t) => {
  const { t: table } = makeTable({ decrementTtl: false });
  const vip = addr("10.96.0.1");
  const key = { protocol: "udp" as const, addr: vip, port: 53 };
  table.addService(key, { scheduler: "rr" });
  table.addDest(key, { addr: addr("10.244.1.3"), port: 5353 });
  const q = udp("10.244.2.2", 4000, vip, 53);
  const conn = table.inbound(...args(q)).conn!;
  // The real server reports the (DNATed) query unreachable: the client must see it about the VIP.
  const err = icmpError("10.244.1.3", "10.244.2.2", q);
  const o = table.outbound(...args(err));
  t.is(o.verdict, "forwarded");
  t.is(o.conn, conn);
  t.is(fields(err).src, "10.96.0.1");
  const inner = err.ipOff + 20 + 8;
  t.deepEqual([...err.buf.subarray(inner + 16, inner + 20)], [10, 96, 0, 1]);
  t.is((err.buf[inner + 22]! << 8) | err.buf[inner + 23]!, 53);
  t.true(fullChecksumsValid(err.buf, err.ipOff, err.len));
  // The client reports a reply (VIP -> client) unreachable: it goes to the real server.
  const reply = udp(vip, 53, "10.244.2.2", 4000);
  const err2 = icmpError("10.244.2.2", vip, reply);
  const i = table.inbound(...args(err2));
  t.is(i.verdict, "forwarded");
  t.is(fields(err2).dst, "10.244.1.3");
  t.deepEqual([...err2.buf.subarray(inner + 12, inner + 16)], [10, 244, 1, 3]);
  t.is((err2.buf[inner + 20]! << 8) | err2.buf[inner + 21]!, 5353);
  t.true(fullChecksumsValid(err2.buf, err2.ipOff, err2.len));
  // Unrelated errors are not IPVS's.
  t.is(table.inbound(...args(icmpError("10.244.2.9", vip, udp(vip, 53, "10.244.2.9", 1)))).verdict, "not-virtual");
});

test("established packets allocate no new connections and keep PSH data intact", (t) => {
  const { t: table } = makeTable();
  const key = { protocol: "tcp" as const, addr: addr("10.96.0.1"), port: 80 };
  table.addService(key, { scheduler: "rr" });
  table.addDest(key, { addr: addr("10.244.1.3"), port: 8080 });
  table.inbound(...args(tcp("10.244.2.2", 5000, "10.96.0.1", 80, SYN)));
  for (let i = 0; i < 10; i++) {
    const p = tcp("10.244.2.2", 5000, "10.96.0.1", 80, ACK | PSH, { payloadLen: 100 });
    t.false(table.inbound(...args(p)).newConn);
    t.is(p.buf[p.ipOff + 40 + 50], 0x62);
  }
  t.is(table.conns.size, 1);
});
