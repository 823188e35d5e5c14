import test from "ava";
import { IPS_DST_NAT, IPS_DST_NAT_DONE, IPS_SRC_NAT, IPS_SRC_NAT_DONE, fullChecksumsValid } from "../../src/conntrack/index.js";
import type { ConntrackTable, Conn } from "../../src/conntrack/index.js";
import { Rng } from "../../src/base/rng.js";
import { ipv4 } from "../../src/base/ipv4-int.js";
import { ACK, SYN, echo, fields, icmpError, makeTable, tcp, udp } from "./helpers.js";
import type { Pkt } from "./helpers.js";

const CLIENT = "10.244.1.2";
const CLIENT2 = "10.244.1.3";
const VIP = "10.96.0.10";
const EP = "10.244.2.3";
const NODE = "192.168.56.11";
const REMOTE = "1.1.1.1";
const range1 = (ip: string, port = 0) => ({ minIp: ipv4(ip), maxIp: ipv4(ip), minPort: port, maxPort: port });

/** PREROUTING (conntrack, then nat for NEW) as the kernel orders it. */
function prerouting(ct: ConntrackTable, p: Pkt, dnat?: { ip: string; port: number }) {
  const v = ct.inspect(p.buf, p.ipOff, p.len);
  const conn = v.conn!;
  const dir = v.dir;
  if (v.ctinfo === "NEW" && !ct.isNatDone(conn, "dst")) ct.setupNat(conn, "dst", dnat ? range1(dnat.ip, dnat.port) : null);
  ct.manipPacket(conn, dir, "dst", p.buf, p.ipOff, p.len);
  return { conn, dir, ctinfo: v.ctinfo };
}

/** POSTROUTING: nat for NEW (masquerade or null binding), rewrite, confirm. */
function postrouting(ct: ConntrackTable, conn: Conn, dir: 0 | 1, p: Pkt, snat?: { ip: string; randomFully?: boolean }) {
  if (!conn.confirmed && !ct.isNatDone(conn, "src")) ct.setupNat(conn, "src", snat ? range1(snat.ip) : null, { randomFully: snat?.randomFully ?? false });
  const ok = ct.manipPacket(conn, dir, "src", p.buf, p.ipOff, p.len);
  return ok && ct.confirm(conn);
}

test("DNAT to a Service endpoint, and the reply un-DNATed back to the VIP", (t) => {
  const { ct } = makeTable();
  const q = udp(CLIENT, VIP, 40000, 53);
  const a = prerouting(ct, q, { ip: EP, port: 5353 });
  t.is(a.ctinfo, "NEW");
  t.deepEqual(fields(q), { src: ipv4(CLIENT), dst: ipv4(EP), sport: 40000, dport: 5353 });
  t.true(fullChecksumsValid(q.buf, q.ipOff, q.len));
  t.true(postrouting(ct, a.conn, 0, q));
  t.is(a.conn.status & (IPS_DST_NAT | IPS_DST_NAT_DONE | IPS_SRC_NAT | IPS_SRC_NAT_DONE), IPS_DST_NAT | IPS_DST_NAT_DONE | IPS_SRC_NAT_DONE);
  t.deepEqual(fields(q), { src: ipv4(CLIENT), dst: ipv4(EP), sport: 40000, dport: 5353 });

  const r = udp(EP, CLIENT, 5353, 40000);
  const b = prerouting(ct, r);
  t.is(b.ctinfo, "ESTABLISHED");
  t.is(b.dir, 1);
  t.is(b.conn, a.conn);
  t.deepEqual(fields(r), { src: ipv4(EP), dst: ipv4(CLIENT), sport: 5353, dport: 40000 }); // not yet
  t.true(postrouting(ct, b.conn, 1, r));
  t.deepEqual(fields(r), { src: ipv4(VIP), dst: ipv4(CLIENT), sport: 53, dport: 40000 });
  t.true(fullChecksumsValid(r.buf, r.ipOff, r.len));
  t.deepEqual(ct.list(), [
    "udp      17 30 src=10.244.1.2 dst=10.96.0.10 sport=40000 dport=53 src=10.244.2.3 dst=10.244.1.2 sport=5353 dport=40000 mark=0 use=1",
  ]);
  // kube-proxy's cleanup of a stale endpoint.
  t.is(ct.delete({ proto: 17, replySrc: ipv4("10.244.9.9") }), 0);
  t.is(ct.delete({ proto: 17, replySrc: ipv4(EP) }), 1);
  t.is(ct.count, 0);
});

test("MASQUERADE keeps the source port when free and picks another on a clash", (t) => {
  const { ct } = makeTable();
  const p1 = tcp(CLIENT, REMOTE, 40000, 443, 1, 0, SYN);
  const a = prerouting(ct, p1);
  t.true(postrouting(ct, a.conn, 0, p1, { ip: NODE }));
  t.deepEqual(fields(p1), { src: ipv4(NODE), dst: ipv4(REMOTE), sport: 40000, dport: 443 });
  t.true(fullChecksumsValid(p1.buf, p1.ipOff, p1.len));

  const p2 = tcp(CLIENT2, REMOTE, 40000, 443, 1, 0, SYN);
  const b = prerouting(ct, p2);
  t.true(postrouting(ct, b.conn, 0, p2, { ip: NODE }));
  const f2 = fields(p2);
  t.is(f2.src, ipv4(NODE));
  t.not(f2.sport, 40000);
  t.true(f2.sport >= 1024 && f2.sport <= 65535);
  t.true(fullChecksumsValid(p2.buf, p2.ipOff, p2.len));

  // The answer to the remapped port is un-SNATed at PREROUTING back to the second client.
  const r2 = tcp(REMOTE, NODE, 443, f2.sport, 9, 2, SYN | ACK);
  const c = prerouting(ct, r2);
  t.is(c.conn, b.conn);
  t.deepEqual(fields(r2), { src: ipv4(REMOTE), dst: ipv4(CLIENT2), sport: 443, dport: 40000 });
  t.true(fullChecksumsValid(r2.buf, r2.ipOff, r2.len));

  // The same client source gets the same mapping again (find_appropriate_src).
  const p3 = tcp(CLIENT2, "8.8.8.8", 40000, 443, 1, 0, SYN);
  const d = prerouting(ct, p3);
  t.true(postrouting(ct, d.conn, 0, p3, { ip: NODE }));
  t.is(fields(p3).sport, f2.sport);
});

test("the null binding remaps a local source port that clashes with a masqueraded flow", (t) => {
  const { ct } = makeTable();
  const p1 = udp(CLIENT, REMOTE, 40000, 53);
  const a = prerouting(ct, p1);
  postrouting(ct, a.conn, 0, p1, { ip: NODE });
  // The node itself now sends from the same address and port.
  const p2 = udp(NODE, REMOTE, 40000, 53);
  const b = prerouting(ct, p2);
  t.true(postrouting(ct, b.conn, 0, p2));
  t.not(fields(p2).sport, 40000);
  t.truthy(b.conn.status & IPS_SRC_NAT);
});

test("randomFully draws ports from the Rng: same seed, same ports", (t) => {
  const run = (seed: number) => {
    const { ct } = makeTable({ rng: new Rng(seed) });
    const ports: number[] = [];
    for (let i = 0; i < 5; i++) {
      const p = udp(`10.244.1.${10 + i}`, REMOTE, 40000, 53);
      const a = prerouting(ct, p);
      postrouting(ct, a.conn, 0, p, { ip: NODE, randomFully: true });
      ports.push(fields(p).sport);
    }
    return ports;
  };
  const a = run(7);
  t.deepEqual(run(7), a);
  t.notDeepEqual(run(8), a);
  t.true(a.every((p) => p >= 1024 && p <= 65535));
  t.true(a.some((p) => p !== 40000));
});

test("SNAT with a port range stays in the range", (t) => {
  const { ct } = makeTable();
  for (let i = 0; i < 20; i++) {
    const p = tcp(`10.244.1.${i + 2}`, REMOTE, 40000, 443, 1, 0, SYN);
    const a = prerouting(ct, p);
    ct.setupNat(a.conn, "src", { minIp: ipv4(NODE), maxIp: ipv4(NODE), minPort: 30000, maxPort: 30009 });
    ct.manipPacket(a.conn, 0, "src", p.buf, p.ipOff, p.len);
    const ok = ct.confirm(a.conn);
    const port = fields(p).sport;
    t.true(port >= 30000 && port <= 30009);
    // Ten ports: the eleventh flow finds none free and loses at confirm.
    t.is(ok, i < 10);
  }
  t.is(ct.stats.insert_failed, 10);
});

test("an address range spreads clients by hash, deterministically", (t) => {
  const pick = () => {
    const { ct } = makeTable();
    const out: number[] = [];
    for (let i = 0; i < 16; i++) {
      const p = udp(`10.244.1.${i + 2}`, REMOTE, 40000, 53);
      const a = prerouting(ct, p);
      ct.setupNat(a.conn, "src", { minIp: ipv4("192.168.56.100"), maxIp: ipv4("192.168.56.103"), minPort: 0, maxPort: 0 });
      ct.manipPacket(a.conn, 0, "src", p.buf, p.ipOff, p.len);
      ct.confirm(a.conn);
      out.push(fields(p).src);
    }
    return out;
  };
  const a = pick();
  t.deepEqual(pick(), a);
  t.true(a.every((ip) => ip >= ipv4("192.168.56.100") && ip <= ipv4("192.168.56.103")));
  t.true(new Set(a).size > 1);
});

test("RELATED ICMP error of a DNATed flow: inner and outer headers translated", (t) => {
  const { ct } = makeTable();
  const q = udp(CLIENT, VIP, 40000, 53);
  const a = prerouting(ct, q, { ip: EP, port: 5353 });
  postrouting(ct, a.conn, 0, q);
  // The endpoint answers port unreachable, quoting what it received (CLIENT → EP:5353).
  const err = icmpError(EP, CLIENT, "dst-unreachable", 3, q, 28);
  const v = ct.inspect(err.buf, err.ipOff, err.len);
  t.is(v.ctinfo, "RELATED");
  t.is(v.dir, 1);
  const conn = v.conn!;
  t.true(ct.manipPacket(conn, 1, "dst", err.buf, err.ipOff, err.len));
  t.true(ct.manipPacket(conn, 1, "src", err.buf, err.ipOff, err.len));
  t.is(fields(err).src, ipv4(VIP));
  t.is(fields(err).dst, ipv4(CLIENT));
  const inner: Pkt = { buf: err.buf, ipOff: err.ipOff + 20 + 8, len: 28 };
  t.deepEqual(fields(inner), { src: ipv4(CLIENT), dst: ipv4(VIP), sport: 40000, dport: 53 });
  t.true(fullChecksumsValid(err.buf, err.ipOff, err.len));
  // The quoted UDP checksum was updated as well: it matches the client's original datagram.
  const orig = udp(CLIENT, VIP, 40000, 53);
  t.deepEqual(err.buf.subarray(inner.ipOff + 20, inner.ipOff + 28), orig.buf.subarray(orig.ipOff + 20, orig.ipOff + 28));
});

test("RELATED ICMP error of a masqueraded TCP flow reaches the Pod with its own addresses", (t) => {
  const { ct } = makeTable();
  const syn = tcp(CLIENT, REMOTE, 40000, 443, 1, 0, SYN);
  const a = prerouting(ct, syn);
  postrouting(ct, a.conn, 0, syn, { ip: NODE });
  const err = icmpError(REMOTE, NODE, "dst-unreachable", 13, syn, 40);
  const v = ct.inspect(err.buf, err.ipOff, err.len);
  t.is(v.ctinfo, "RELATED");
  t.true(ct.manipPacket(v.conn!, v.dir, "dst", err.buf, err.ipOff, err.len));
  t.is(fields(err).dst, ipv4(CLIENT));
  const inner: Pkt = { buf: err.buf, ipOff: err.ipOff + 28, len: 40 };
  t.deepEqual(fields(inner), { src: ipv4(CLIENT), dst: ipv4(REMOTE), sport: 40000, dport: 443 });
  t.true(fullChecksumsValid(err.buf, err.ipOff, err.len));
  const orig = tcp(CLIENT, REMOTE, 40000, 443, 1, 0, SYN);
  t.deepEqual(err.buf.subarray(inner.ipOff, inner.ipOff + 40), orig.buf.subarray(orig.ipOff, orig.ipOff + 40));
});

test("ping through MASQUERADE: the identifier is kept when free and restored on the reply", (t) => {
  const { ct } = makeTable();
  const req = echo(CLIENT, REMOTE, "echo-request", 4242);
  const a = prerouting(ct, req);
  postrouting(ct, a.conn, 0, req, { ip: NODE });
  t.is(fields(req).src, ipv4(NODE));
  t.true(fullChecksumsValid(req.buf, req.ipOff, req.len));
  const req2 = echo(CLIENT2, REMOTE, "echo-request", 4242);
  const b = prerouting(ct, req2);
  postrouting(ct, b.conn, 0, req2, { ip: NODE });
  const id2 = (req2.buf[req2.ipOff + 24]! << 8) | req2.buf[req2.ipOff + 25]!;
  t.not(id2, 4242);
  t.true(fullChecksumsValid(req2.buf, req2.ipOff, req2.len));
  const rep = echo(REMOTE, NODE, "echo-reply", id2);
  const c = prerouting(ct, rep);
  t.is(c.conn, b.conn);
  t.is(fields(rep).dst, ipv4(CLIENT2));
  t.is((rep.buf[rep.ipOff + 24]! << 8) | rep.buf[rep.ipOff + 25]!, 4242);
  t.true(fullChecksumsValid(rep.buf, rep.ipOff, rep.len));
});

test("setupNat does nothing on a confirmed conn or a manip already decided", (t) => {
  const { ct } = makeTable();
  const q = udp(CLIENT, VIP, 40000, 53);
  const a = prerouting(ct, q, { ip: EP, port: 5353 });
  const reply = a.conn.reply;
  ct.setupNat(a.conn, "dst", range1("10.244.3.3", 53));
  t.is(a.conn.reply, reply);
  postrouting(ct, a.conn, 0, q);
  ct.setupNat(a.conn, "src", range1(NODE));
  t.is(a.conn.reply, reply);
  void ACK;
});
