/**
 * The confirm-time race (__nf_conntrack_confirm → nf_ct_resolve_clash) on each kernel
 * generation podwire models (conntrack/kernel.ts), the NAT port rover of kernels before
 * 4.19, and the zero UDP checksum rewrite of kernels before ea64d8d6c675.
 */
import test from "ava";
import { IPS_NAT_CLASH, parseKernelVersion, type ConntrackTable, type Conn } from "../../src/conntrack/index.js";
import { ipv4 } from "../../src/base/ipv4-int.js";
import { SEC, SYN, fields, makeTable, tcp, udp } from "./helpers.js";
import type { Pkt } from "./helpers.js";

const CLIENT = "10.244.1.2";
const VIP = "10.96.0.10";
const EP_A = "10.244.1.5";
const EP_B = "10.244.2.5";
const NODE = "192.168.56.11";
const REMOTE = "93.184.216.34";
const range1 = (ip: string, port = 0) => ({ minIp: ipv4(ip), maxIp: ipv4(ip), minPort: port, maxPort: port });
const kernel = (v: string) => parseKernelVersion(v)!;

/** nf_conntrack_in + the DNAT of PREROUTING, for a packet of a flow nobody has confirmed yet. */
function dnat(ct: ConntrackTable, p: Pkt, ep: string): Conn {
  const v = ct.inspect(p.buf, p.ipOff, p.len);
  ct.setupNat(v.conn!, "dst", range1(ep, 53));
  ct.manipPacket(v.conn!, 0, "dst", p.buf, p.ipOff, p.len);
  return v.conn!;
}

/** POSTROUTING's null source binding (what every new conn gets without a SNAT rule). */
function nullSnat(ct: ConntrackTable, conn: Conn): Conn {
  ct.setupNat(conn, "src", null);
  return conn;
}

/** The A and AAAA queries of one socket, both between nf_conntrack_in and confirm. */
function race(ct: ConntrackTable, epFirst: string, epSecond: string) {
  const a = nullSnat(ct, dnat(ct, udp(CLIENT, VIP, 40000, 53), epFirst));
  const b = nullSnat(ct, dnat(ct, udp(CLIENT, VIP, 40000, 53), epSecond));
  return { a, b, winner: ct.confirmPacket(a), loser: ct.confirmPacket(b) };
}

test("the first packet's conn is not in the table until it is confirmed, so the second packet makes its own", (t) => {
  const { ct } = makeTable();
  const p = udp(CLIENT, VIP, 40000, 53);
  const a = ct.inspect(p.buf, p.ipOff, p.len).conn!;
  t.is(ct.lookup(a.original), null);
  const b = ct.inspect(p.buf, p.ipOff, p.len).conn!;
  t.not(a, b);
  t.is(ct.stats.new, 2);
});

for (const v of ["4.14.0", "5.4.0", "6.6.0"]) {
  test(`kernel ${v}: both queries DNATed to the same endpoint — the clash is merged into the winner`, (t) => {
    const { ct } = makeTable({ kernel: kernel(v) });
    const r = race(ct, EP_A, EP_A);
    t.is(r.winner, r.a);
    if (v === "4.14.0") {
      // Before 5.0 a NATed loser is never merged.
      t.is(r.loser, null);
      t.is(ct.stats.drop, 1);
      t.is(ct.stats.insert_failed, 1);
      return;
    }
    t.is(r.loser, r.a, "the loser's packet goes on with the winner's entry");
    t.is(ct.stats.drop, 0);
    // 5.4 counts every clash in insert_failed; 5.7+ counts resolved ones in clash_resolve.
    t.is(ct.stats.insert_failed, v === "5.4.0" ? 1 : 0);
    t.is(ct.stats.clash_resolve, v === "5.4.0" ? 0 : 1);
    t.is(ct.count, 1);
    t.is(r.a.packets[0], 2, "the loser's packet is counted on the winner");
  });
}

for (const v of ["4.14.0", "5.4.0"]) {
  test(`kernel ${v}: the queries DNATed to different endpoints — the second is dropped (insert_failed)`, (t) => {
    const { ct } = makeTable({ kernel: kernel(v) });
    const r = race(ct, EP_A, EP_B);
    t.is(r.winner, r.a);
    t.is(r.loser, null);
    t.is(ct.stats.insert_failed, 1);
    t.is(ct.stats.drop, 1);
    t.is(ct.count, 1);
    // The second endpoint never hears of it: its reply would match nothing.
    t.is(ct.lookup({ src: ipv4(EP_B), dst: ipv4(CLIENT), proto: 17, sport: 53, dport: 40000 }), null);
  });
}

test("kernel 6.6: different endpoints — the loser goes in reply-only (nf_ct_resolve_clash_harder), 1 s, not listed", (t) => {
  const { ct, clock } = makeTable({ kernel: kernel("6.6.0") });
  const r = race(ct, EP_A, EP_B);
  t.is(r.loser, r.b);
  t.is(ct.stats.insert_failed, 0);
  t.is(ct.stats.drop, 0);
  t.is(ct.stats.clash_resolve, 1);
  t.truthy(r.b.status & IPS_NAT_CLASH);
  // The original direction still finds the winner; endpoint B's reply finds the loser.
  t.is(ct.lookup(r.a.original)!.conn, r.a);
  const reply = ct.lookup({ src: ipv4(EP_B), dst: ipv4(CLIENT), proto: 17, sport: 53, dport: 40000 })!;
  t.is(reply.conn, r.b);
  t.is(reply.dir, 1);
  t.is(ct.list().length, 1, "conntrack -L does not show it");
  // B answers: the reply is un-DNATed from the loser's entry.
  const answer = udp(EP_B, CLIENT, 53, 40000);
  const v = ct.inspect(answer.buf, answer.ipOff, answer.len);
  t.is(v.conn, r.b);
  ct.manipPacket(v.conn!, v.dir, "src", answer.buf, answer.ipOff, answer.len);
  t.is(fields(answer).src, ipv4(VIP));
  // The fixed 1 s timeout: traffic does not extend it.
  clock.advanceBy(SEC + 1);
  t.is(ct.lookup({ src: ipv4(EP_B), dst: ipv4(CLIENT), proto: 17, sport: 53, dport: 40000 }), null);
  t.is(ct.lookup(r.a.original)!.conn, r.a);
});

for (const v of ["4.14.0", "5.4.0", "6.6.0"]) {
  test(`kernel ${v}: TCP has no allow_clash — a clash always drops`, (t) => {
    const { ct } = makeTable({ kernel: kernel(v) });
    const p = tcp(CLIENT, REMOTE, 40000, 80, 1, 0, SYN);
    const a = ct.inspect(p.buf, p.ipOff, p.len).conn!;
    const b = ct.inspect(p.buf, p.ipOff, p.len).conn!;
    t.is(ct.confirmPacket(a), a);
    t.is(ct.confirmPacket(b), null);
    t.is(ct.stats.insert_failed, 1);
    t.is(ct.stats.drop, 1);
  });
}

/**
 * Masquerade of two Pods' SYNs whose own source port is taken on the node's address by an
 * earlier connection: both need nf_nat_l4proto_unique_tuple's search.
 */
function snatPair(v: string, randomFully: boolean) {
  const { ct } = makeTable({ kernel: kernel(v) });
  const masq = (src: string, sport: number, pending: boolean): Conn => {
    const p = tcp(src, REMOTE, sport, 80, 1, 0, SYN);
    const conn = ct.inspect(p.buf, p.ipOff, p.len).conn!;
    ct.setupNat(conn, "src", range1(NODE), { randomFully });
    ct.manipPacket(conn, 0, "src", p.buf, p.ipOff, p.len);
    if (!pending) ct.confirm(conn);
    return conn;
  };
  masq("10.244.1.9", 40000, false); // holds 192.168.56.11:40000 → REMOTE:80
  const a = masq("10.244.1.2", 40000, true);
  const b = masq("10.244.1.3", 40000, true);
  return { ct, a, b, portA: a.reply.dport, portB: b.reply.dport };
}

test("kernel 4.14: two searches at once start at the shared rover and pick the same port; one loses at confirm", (t) => {
  const r = snatPair("4.14.0", false);
  t.not(r.portA, 40000);
  t.is(r.portA, r.portB);
  t.true(r.ct.confirm(r.a));
  t.false(r.ct.confirm(r.b));
  t.is(r.ct.stats.insert_failed, 1);
});

test("kernel 4.14: searches one after the other move past the rover", (t) => {
  const { ct } = makeTable({ kernel: kernel("4.14.0") });
  const ports: number[] = [];
  for (const src of ["10.244.1.9", "10.244.1.2", "10.244.1.3", "10.244.1.4"]) {
    const p = tcp(src, REMOTE, 40000, 80, 1, 0, SYN);
    const conn = ct.inspect(p.buf, p.ipOff, p.len).conn!;
    ct.setupNat(conn, "src", range1(NODE));
    t.true(ct.confirm(conn));
    ports.push(conn.reply.dport);
  }
  t.is(new Set(ports).size, 4);
  t.is(ct.stats.insert_failed, 0);
});

for (const [v, randomFully] of [["4.14.0", true], ["6.6.0", false], ["6.6.0", true]] as const) {
  test(`kernel ${v}${randomFully ? " with --random-fully" : ""}: the two searches start at random offsets`, (t) => {
    const r = snatPair(v, randomFully);
    t.not(r.portA, r.portB);
    t.true(r.ct.confirm(r.a));
    t.true(r.ct.confirm(r.b));
  });
}

/** An outer VXLAN datagram (UDP checksum 0) masqueraded with --random-fully: a new source port. */
function masqueradeZeroChecksum(v: string, csumPartial: boolean): number {
  const { ct } = makeTable({ kernel: kernel(v) });
  const p = udp(NODE, "192.168.56.12", 51234, 8472, 58, false);
  const conn = ct.inspect(p.buf, p.ipOff, p.len).conn!;
  ct.setupNat(conn, "src", range1(NODE), { randomFully: true });
  ct.manipPacket(conn, 0, "src", p.buf, p.ipOff, p.len, csumPartial);
  t_port = fields(p).sport;
  const l4 = p.ipOff + 20;
  return (p.buf[l4 + 6]! << 8) | p.buf[l4 + 7]!;
}
let t_port = 0;

test("a zero UDP checksum stays zero when NAT changes the port (fixed kernels, or not CHECKSUM_PARTIAL)", (t) => {
  t.is(masqueradeZeroChecksum("6.6.0", true), 0);
  t.not(t_port, 51234);
  t.is(masqueradeZeroChecksum("5.4.41", true), 0);
  t.is(masqueradeZeroChecksum("5.4.40", false), 0);
});

test("kernel 5.4.40, CHECKSUM_PARTIAL: udp_manip_pkt writes CSUM_MANGLED_0 into the zero checksum", (t) => {
  t.is(masqueradeZeroChecksum("5.4.40", true), 0xffff);
  t.is(masqueradeZeroChecksum("4.19.122", true), 0xffff);
  t.is(masqueradeZeroChecksum("4.19.123", true), 0);
});
