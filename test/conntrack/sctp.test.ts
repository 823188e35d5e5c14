/**
 * SCTP conntrack as nf_conntrack_proto_sctp.c tracks it: the association's states from the
 * chunks seen, verification tags, NEW only on chunks that may start one, the kernel's
 * timeouts, and NAT rewriting ports with the CRC32c recomputed.
 */
import test from "ava";
import { ipv4 } from "../../src/base/ipv4-int.js";
import type { Conn, ConntrackTable } from "../../src/conntrack/index.js";
import { IPS_ASSURED, IPS_DST_NAT, fullChecksumsValid } from "../../src/conntrack/index.js";
import { prependIpv4 } from "../../src/wire/builder.js";
import { SctpPacket, SctpRepr, type SctpChunk } from "../../src/wire/sctp.js";
import { fields, icmpError, makeTable, SEC } from "./helpers.js";
import type { Pkt } from "./helpers.js";

const C = "10.244.1.2";
const VIP = "10.96.0.20";
const EP = "10.244.2.2";
const CTAG = 0x11111111;
const STAG = 0x22222222;

function sctp(src: string, dst: string, sport: number, dport: number, vtag: number, ...chunks: SctpChunk[]): Pkt {
  const repr = { srcPort: sport, dstPort: dport, verificationTag: vtag, chunks };
  const n = SctpRepr.bufferLen(repr);
  const buf = new Uint8Array(64 + n);
  SctpRepr.emit(repr, buf, 64);
  const b = { buf, head: 64, tail: 64 + n };
  prependIpv4(b, { src: ipv4(src), dst: ipv4(dst), protocol: 132, ttl: 64, ident: 1, dontFrag: true });
  return { buf, ipOff: b.head, len: b.tail - b.head };
}

const init = (tag = CTAG): SctpChunk => ({ type: "INIT", initiateTag: tag, aRwnd: 106496, outStreams: 10, inStreams: 10, initialTsn: 1 });
const initAck = (tag = STAG): SctpChunk => ({ type: "INIT_ACK", initiateTag: tag, aRwnd: 106496, outStreams: 10, inStreams: 10, initialTsn: 100, cookie: new Uint8Array(8).fill(7) });
const data = (tsn: number): SctpChunk => ({ type: "DATA", tsn, streamId: 0, streamSeq: 0, ppid: 0, data: new Uint8Array([1, 2, 3]) });

function see(ct: ConntrackTable, p: Pkt) {
  const v = ct.inspect(p.buf, p.ipOff, p.len);
  return { ctinfo: v.ctinfo, conn: v.conn, dir: v.dir };
}

test("an association: CLOSED → COOKIE_WAIT → COOKIE_ECHOED → ESTABLISHED, with the kernel's timeouts", (t) => {
  const { ct, clock } = makeTable();
  const a = see(ct, sctp(C, EP, 40000, 3868, 0, init()));
  t.is(a.ctinfo, "NEW");
  const conn = a.conn!;
  t.is(conn.sctpStateName, "CLOSED");
  t.deepEqual(conn.sctp!.vtag, [0, CTAG], "the INIT announces the tag the reply direction must carry");
  t.is(conn.timeoutAt, 10 * SEC);
  t.true(ct.confirm(conn));

  clock.advanceBy(SEC);
  const b = see(ct, sctp(EP, C, 3868, 40000, CTAG, initAck()));
  t.is(b.ctinfo, "ESTABLISHED");
  t.is(b.dir, 1);
  t.is(conn.sctpStateName, "COOKIE_WAIT");
  t.deepEqual(conn.sctp!.vtag, [STAG, CTAG]);
  t.is(conn.timeoutAt, clock.now() + 3 * SEC);

  t.is(see(ct, sctp(C, EP, 40000, 3868, STAG, { type: "COOKIE_ECHO", cookie: new Uint8Array(8).fill(7) })).ctinfo, "ESTABLISHED");
  t.is(conn.sctpStateName, "COOKIE_ECHOED");
  t.falsy(conn.status & IPS_ASSURED);

  see(ct, sctp(EP, C, 3868, 40000, CTAG, { type: "COOKIE_ACK" }));
  t.is(conn.sctpStateName, "ESTABLISHED");
  t.truthy(conn.status & IPS_ASSURED);
  t.is(conn.timeoutAt, clock.now() + 210 * SEC);

  // DATA and SACK keep the state and must carry the direction's tag.
  t.is(see(ct, sctp(C, EP, 40000, 3868, STAG, data(1))).ctinfo, "ESTABLISHED");
  t.is(see(ct, sctp(EP, C, 3868, 40000, CTAG, { type: "SACK", cumTsnAck: 1, aRwnd: 106496 })).ctinfo, "ESTABLISHED");
  t.is(see(ct, sctp(C, EP, 40000, 3868, 0xbad, data(2))).ctinfo, "INVALID", "wrong verification tag (§8.5)");
  t.is(conn.sctpStateName, "ESTABLISHED");
  t.regex(ct.list()[0]!, /^sctp {5}132 210 ESTABLISHED src=10\.244\.1\.2 dst=10\.244\.2\.2 sport=40000 dport=3868 src=10\.244\.2\.2 dst=10\.244\.1\.2 sport=3868 dport=40000 \[ASSURED\] mark=0 use=1$/);

  // SHUTDOWN, SHUTDOWN ACK, SHUTDOWN COMPLETE.
  see(ct, sctp(C, EP, 40000, 3868, STAG, { type: "SHUTDOWN", cumTsnAck: 100 }));
  t.is(conn.sctpStateName, "SHUTDOWN_SENT");
  see(ct, sctp(EP, C, 3868, 40000, CTAG, { type: "SHUTDOWN_ACK" }));
  t.is(conn.sctpStateName, "SHUTDOWN_ACK_SENT");
  see(ct, sctp(C, EP, 40000, 3868, STAG, { type: "SHUTDOWN_COMPLETE", tBit: false }));
  t.is(conn.sctpStateName, "CLOSED");
  t.is(conn.timeoutAt, clock.now() + 10 * SEC);
});

test("ABORT closes; its tag is the sender's own, or the peer's with the T bit", (t) => {
  const { ct } = makeTable();
  const conn = see(ct, sctp(C, EP, 40000, 3868, 0, init())).conn!;
  ct.confirm(conn);
  see(ct, sctp(EP, C, 3868, 40000, CTAG, initAck()));
  t.is(see(ct, sctp(EP, C, 3868, 40000, STAG, { type: "ABORT", tBit: false })).ctinfo, "INVALID", "not the tag the reply direction carries");
  t.is(conn.sctpStateName, "COOKIE_WAIT");
  t.is(see(ct, sctp(EP, C, 3868, 40000, STAG, { type: "ABORT", tBit: true })).ctinfo, "ESTABLISHED", "T bit: the peer's tag");
  t.is(conn.sctpStateName, "CLOSED");
});

test("NEW only from chunks that may start an association: DATA, ABORT, COOKIE ACK and a tagged INIT are INVALID", (t) => {
  const { ct } = makeTable();
  for (const [name, p] of [
    ["DATA", sctp(C, EP, 1, 2, 0, data(1))],
    ["SACK", sctp(C, EP, 1, 2, 0, { type: "SACK", cumTsnAck: 1, aRwnd: 1 })],
    ["ABORT", sctp(C, EP, 1, 2, 0, { type: "ABORT", tBit: false })],
    ["COOKIE ACK", sctp(C, EP, 1, 2, 0, { type: "COOKIE_ACK" })],
    ["SHUTDOWN COMPLETE", sctp(C, EP, 1, 2, 0, { type: "SHUTDOWN_COMPLETE", tBit: false })],
    ["INIT with a verification tag", sctp(C, EP, 1, 2, 5, init())],
    ["INIT bundled with DATA", sctp(C, EP, 1, 2, 0, init(), data(1))],
    ["no chunk", sctp(C, EP, 1, 2, 0)],
  ] as const) {
    t.is(see(ct, p).ctinfo, "INVALID", name);
  }
  t.is(ct.count, 0);
  const short = sctp(C, EP, 1, 2, 0, init());
  t.is(ct.inspect(short.buf, short.ipOff, 20 + 8).ctinfo, "INVALID", "shorter than the common header");
});

test("an INIT retransmitted into CLOSED is accepted without keeping the entry alive", (t) => {
  const { ct, clock } = makeTable();
  const p = sctp(C, EP, 40000, 3868, 0, init());
  const conn = see(ct, p).conn!;
  ct.confirm(conn);
  clock.advanceBy(5 * SEC);
  t.is(see(ct, p).ctinfo, "NEW");
  t.is(conn.timeoutAt, 10 * SEC, "not refreshed");
  clock.advanceBy(6 * SEC);
  t.is(ct.entries().length, 0, "expired at 10 s");
});

/** nat table at PREROUTING for a NEW conn, then the rewrite (as netns's hooks do). */
function dnat(ct: ConntrackTable, p: Pkt, to?: [string, number]): { conn: Conn; dir: 0 | 1 } {
  const v = ct.inspect(p.buf, p.ipOff, p.len);
  const conn = v.conn!;
  const dir = v.dir;
  if (v.ctinfo === "NEW" && !ct.isNatDone(conn, "dst")) {
    ct.setupNat(conn, "dst", to ? { minIp: ipv4(to[0]), maxIp: ipv4(to[0]), minPort: to[1], maxPort: to[1] } : null);
  }
  t_manip(ct, conn, dir, "dst", p);
  return { conn, dir };
}
function t_manip(ct: ConntrackTable, conn: Conn, dir: 0 | 1, manip: "src" | "dst", p: Pkt): void {
  if (!ct.manipPacket(conn, dir, manip, p.buf, p.ipOff, p.len)) throw new Error("manip failed");
}

test("DNAT to a Service endpoint rewrites the port and recomputes the CRC32c; the INIT ACK is un-NATed", (t) => {
  const { ct } = makeTable();
  const q = sctp(C, VIP, 40000, 80, 0, init());
  const a = dnat(ct, q, [EP, 3868]);
  t.truthy(a.conn.status & IPS_DST_NAT);
  t.deepEqual(fields(q), { src: ipv4(C), dst: ipv4(EP), sport: 40000, dport: 3868 });
  t.true(fullChecksumsValid(q.buf, q.ipOff, q.len), "IPv4 header checksum and CRC32c");
  const l4 = q.ipOff + 20;
  t.true(new SctpPacket(q.buf, l4, q.len - 20).verifyChecksum());
  // POSTROUTING: null SNAT binding, confirm.
  ct.setupNat(a.conn, "src", null);
  t_manip(ct, a.conn, 0, "src", q);
  t.true(ct.confirm(a.conn));

  // The endpoint answers from 10.244.2.2:3868 with the client's tag.
  const r = sctp(EP, C, 3868, 40000, CTAG, initAck());
  const b = dnat(ct, r);
  t.is(b.conn, a.conn);
  t.is(b.dir, 1);
  t_manip(ct, b.conn, 1, "src", r); // POSTROUTING/INPUT: the reply's source becomes the VIP again
  t.deepEqual(fields(r), { src: ipv4(VIP), dst: ipv4(C), sport: 80, dport: 40000 });
  t.true(fullChecksumsValid(r.buf, r.ipOff, r.len));
  t.is(a.conn.sctpStateName, "COOKIE_WAIT");
  t.is(SctpRepr.parse(r.buf, r.ipOff + 20, r.len - 20, true).verificationTag, CTAG, "tags are not translated");
});

test("an ICMP error about a DNATed SCTP packet is RELATED and translated inside", (t) => {
  const { ct } = makeTable();
  const q = sctp(C, VIP, 40000, 80, 0, init());
  const a = dnat(ct, q, [EP, 3868]);
  ct.setupNat(a.conn, "src", null);
  ct.confirm(a.conn);
  const err = icmpError(EP, C, "dst-unreachable", 2, q, 20 + 12 + 20);
  const v = ct.inspect(err.buf, err.ipOff, err.len);
  t.is(v.ctinfo, "RELATED");
  t.is(v.conn, a.conn);
  t.true(ct.manipPacket(a.conn, v.dir, "src", err.buf, err.ipOff, err.len));
  const inner = err.ipOff + 20 + 8;
  t.deepEqual(fields({ buf: err.buf, ipOff: inner, len: err.len - 28 }), { src: ipv4(C), dst: ipv4(VIP), sport: 40000, dport: 80 });
  t.true(fullChecksumsValid(err.buf, err.ipOff, err.len));
});
