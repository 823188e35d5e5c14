/**
 * SCTP in IPVS (net/netfilter/ipvs/ip_vs_proto_sctp.c): virtual services with protocol
 * SCTP, connections scheduled by an INIT only (sctp_conn_schedule), the SCTP state table
 * with the kernel's timeouts (sctp_states, sctp_timeouts, set_sctp_state), DNAT/SNAT with
 * the CRC32c recomputed (sctp_dnat_handler / sctp_snat_handler, sctp_nat_csum), port reuse
 * on a CLOSED connection (is_new_conn / is_new_conn_expected), ICMP errors quoting SCTP
 * (ip_vs_nat_icmp), and the ipvsadm formats (`--sctp-service`, `SCTP`, the state names).
 */
import test from "ava";
import { fc, testProp } from "@fast-check/ava";
import { PodwireError } from "../../src/base/errors.js";
import { formatIpv4, ipv4 } from "../../src/base/ipv4-int.js";
import { fullChecksumsValid } from "../../src/conntrack/index.js";
import {
  DIR_INPUT,
  DIR_INPUT_ONLY,
  DIR_OUTPUT,
  SCTP_EV_ABORT,
  SCTP_EV_COOKIE_ECHO,
  SCTP_EV_DATA,
  SCTP_EV_INIT,
  SCTP_EV_INIT_ACK,
  SCTP_EV_NONE,
  SCTP_EV_SHUTDOWN_COMPLETE,
  SCTP_STATE_NAMES,
  SCTP_S_CLOSED,
  SCTP_S_COOKIE_WAIT,
  SCTP_S_ESTABLISHED,
  SCTP_S_INIT1,
  SCTP_S_NONE,
  SCTP_S_REJECTED,
  SCTP_TIMEOUTS_SEC,
  type IpvsTableOptions,
  connStateName,
  formatIpvsadmConnections,
  formatIpvsadmList,
  formatIpvsadmSave,
  ipvsadmRestore,
  nextSctpState,
  parseIpvsadmRestore,
  sctpEvent,
} from "../../src/ipvs/index.js";
import { prependIpv4 } from "../../src/wire/builder.js";
import { SctpPacket, SctpRepr, type SctpChunk } from "../../src/wire/sctp.js";
import { SEC, addr, fields, icmpError, makeTable } from "./helpers.js";
import type { Pkt } from "./helpers.js";

const C = "10.244.2.2";
const V = "10.96.0.20";
const RS = "10.244.1.3";
const CTAG = 0x11111111;
const STAG = 0x22222222;

function sctp(src: string | number, sport: number, dst: string | number, dport: number, vtag: number, ...chunks: SctpChunk[]): Pkt {
  const repr = { srcPort: sport, dstPort: dport, verificationTag: vtag, chunks };
  const n = SctpRepr.bufferLen(repr);
  const buf = new Uint8Array(64 + n);
  SctpRepr.emit(repr, buf, 64);
  const b = { buf, head: 64, tail: 64 + n };
  prependIpv4(b, { src: addr(src), dst: addr(dst), protocol: 132, ttl: 64, ident: 1, dontFrag: true });
  return { buf, ipOff: b.head, len: b.tail - b.head };
}

function hex(h: string): Pkt {
  const buf = Uint8Array.from(h.match(/../g)!.map((x) => parseInt(x, 16)));
  return { buf, ipOff: 0, len: buf.length };
}
const toHex = (p: Pkt) => Buffer.from(p.buf.subarray(p.ipOff, p.ipOff + p.len)).toString("hex");
const args = (p: Pkt): [Uint8Array, number, number] => [p.buf, p.ipOff, p.len];

const init = (tag = CTAG): SctpChunk => ({ type: "INIT", initiateTag: tag, aRwnd: 106496, outStreams: 10, inStreams: 10, initialTsn: 1 });
const initAck = (tag = STAG): SctpChunk => ({ type: "INIT_ACK", initiateTag: tag, aRwnd: 106496, outStreams: 10, inStreams: 10, initialTsn: 100, cookie: new Uint8Array(8).fill(7) });
const cookieEcho: SctpChunk = { type: "COOKIE_ECHO", cookie: new Uint8Array(8).fill(7) };
const data = (tsn: number): SctpChunk => ({ type: "DATA", tsn, streamId: 0, streamSeq: 0, ppid: 0, data: new Uint8Array([1, 2, 3]) });
const sack = (cum: number): SctpChunk => ({ type: "SACK", cumTsnAck: cum, aRwnd: 106496 });

/** VIP:80/SCTP → RS:3868, masquerading; TTL left alone so byte vectors stay simple. */
function setup(opts: Partial<IpvsTableOptions> = {}, servers: string[] = [RS]) {
  const { t, clock } = makeTable({ decrementTtl: false, ...opts });
  const key = { protocol: "sctp" as const, addr: addr(V), port: 80 };
  t.addService(key, { scheduler: "rr" });
  const dests = servers.map((s) => t.addDest(key, { addr: addr(s), port: 3868 }));
  return { t, clock, key, dest: dests[0]!, dests };
}

/** Client → VIP (inbound) and real server → client (outbound) packets of one association. */
const fromClient = (vtag: number, ...chunks: SctpChunk[]) => sctp(C, 40000, V, 80, vtag, ...chunks);
const fromServer = (vtag: number, ...chunks: SctpChunk[]) => sctp(RS, 3868, C, 40000, vtag, ...chunks);

test("sctp_states / sctp_timeouts: the kernel's table, spot-checked", (t) => {
  // "States as per packets from client (C) and server (S)" in NAT mode.
  t.is(nextSctpState(SCTP_S_NONE, DIR_INPUT, SCTP_EV_INIT), SCTP_S_INIT1);
  t.is(nextSctpState(SCTP_S_INIT1, DIR_INPUT, SCTP_EV_INIT), 2, "a retransmitted INIT: INIT");
  t.is(nextSctpState(SCTP_S_INIT1, DIR_OUTPUT, SCTP_EV_INIT_ACK), 3, "S:INIT-ACK: COOKIE_SENT");
  t.is(nextSctpState(3, DIR_INPUT, SCTP_EV_COOKIE_ECHO), 4, "C:COOKIE-ECHO: COOKIE_REPLIED");
  t.is(nextSctpState(SCTP_S_INIT1, DIR_OUTPUT, SCTP_EV_ABORT), SCTP_S_REJECTED, "INIT answered by ABORT");
  t.is(nextSctpState(SCTP_S_NONE, DIR_OUTPUT, SCTP_EV_INIT), SCTP_S_COOKIE_WAIT, "the server starts the association");
  t.is(nextSctpState(SCTP_S_ESTABLISHED, DIR_OUTPUT, SCTP_EV_INIT), SCTP_S_ESTABLISHED);
  t.is(nextSctpState(SCTP_S_REJECTED, DIR_INPUT, SCTP_EV_INIT), 2);
  t.is(nextSctpState(SCTP_S_CLOSED, DIR_INPUT, SCTP_EV_INIT), 2);
  // A data chunk on a fresh connection (sloppy_sctp) is taken as ESTABLISHED; DR/TUN sees only input.
  t.is(nextSctpState(SCTP_S_NONE, DIR_INPUT, SCTP_EV_DATA), SCTP_S_ESTABLISHED);
  t.is(nextSctpState(SCTP_S_NONE, DIR_INPUT_ONLY, SCTP_EV_COOKIE_ECHO), SCTP_S_ESTABLISHED);
  t.is(nextSctpState(SCTP_S_ESTABLISHED, DIR_INPUT, SCTP_EV_SHUTDOWN_COMPLETE), SCTP_S_ESTABLISHED);
  t.deepEqual(SCTP_STATE_NAMES, ["NONE", "INIT1", "INIT", "C-SENT", "C-REPLIED", "C-WAIT", "COOKIE", "C-ECHOED", "ESTABLISHED", "S-SENT", "S-RECEIVED", "S-ACK-SENT", "REJECTED", "CLOSED"]);
  // IP_VS_SCTP_MAX_RTO = (60 + 1) s; INIT1 and REJECTED (0 + 3 + 1) s; ESTABLISHED 15 min.
  t.deepEqual(SCTP_TIMEOUTS_SEC, [2, 4, 61, 61, 61, 61, 61, 61, 900, 61, 61, 61, 4, 61]);
});

test("set_sctp_state's event: the first chunk, a COOKIE ECHO/ACK bundled before an ABORT counts as the ABORT", (t) => {
  const ev = (p: Pkt) => sctpEvent(p.buf, p.ipOff + 20, p.ipOff + p.len);
  t.is(ev(fromClient(0, init())), SCTP_EV_INIT);
  t.is(ev(fromClient(STAG, cookieEcho, data(1))), SCTP_EV_COOKIE_ECHO);
  t.is(ev(fromClient(STAG, cookieEcho, { type: "ABORT", tBit: false })), SCTP_EV_ABORT);
  t.is(ev(fromServer(CTAG, { type: "COOKIE_ACK" }, { type: "ABORT", tBit: false })), SCTP_EV_ABORT);
  // A SHUTDOWN after a SACK is not seen: the first chunk decides.
  t.is(ev(fromClient(STAG, sack(1), { type: "SHUTDOWN", cumTsnAck: 1 })), SCTP_EV_DATA);
  t.is(ev(fromClient(STAG, { type: "HEARTBEAT", info: new Uint8Array(4) })), SCTP_EV_DATA);
  t.is(ev(fromClient(STAG, { type: "other", code: 0xc0, flags: 0, value: new Uint8Array(4) })), SCTP_EV_DATA, "unknown chunk types count as DATA");
  t.is(ev(fromClient(STAG)), SCTP_EV_NONE, "no chunk header: no event");
});

test("a whole association through a virtual service: states, ActiveConn/InActConn, timeouts", (t) => {
  const { t: table, clock, dest } = setup();
  const step = (p: Pkt, inbound: boolean) => {
    const r = inbound ? table.inbound(...args(p)) : table.outbound(...args(p));
    t.is(r.verdict, "forwarded", `${r.reason}`);
    t.true(fullChecksumsValid(p.buf, p.ipOff, p.len), "CRC32c and IPv4 checksum valid after NAT");
    const c = r.conn!;
    return { name: connStateName(c), timeout: c.timeout / SEC, active: dest.activeConns, inactive: dest.inactConns, newConn: r.newConn };
  };
  const i = fromClient(0, init());
  t.deepEqual(step(i, true), { name: "INIT1", timeout: 4, active: 0, inactive: 1, newConn: true });
  t.deepEqual([fields(i).dst, fields(i).dport], [RS, 3868]);
  t.deepEqual(step(fromServer(CTAG, initAck()), false), { name: "C-SENT", timeout: 61, active: 0, inactive: 1, newConn: false });
  t.deepEqual(step(fromClient(STAG, cookieEcho, data(1)), true), { name: "C-REPLIED", timeout: 61, active: 0, inactive: 1, newConn: false });
  const ack = fromServer(CTAG, { type: "COOKIE_ACK" }, sack(1), data(100));
  t.deepEqual(step(ack, false), { name: "ESTABLISHED", timeout: 900, active: 1, inactive: 0, newConn: false });
  t.deepEqual([fields(ack).src, fields(ack).sport], [V, 80]);
  t.deepEqual(step(fromClient(STAG, sack(100), data(2)), true), { name: "ESTABLISHED", timeout: 900, active: 1, inactive: 0, newConn: false });
  t.deepEqual(step(fromClient(STAG, { type: "SHUTDOWN", cumTsnAck: 100 }), true), { name: "S-RECEIVED", timeout: 61, active: 0, inactive: 1, newConn: false });
  t.deepEqual(step(fromServer(CTAG, { type: "SHUTDOWN_ACK" }), false), { name: "S-ACK-SENT", timeout: 61, active: 0, inactive: 1, newConn: false });
  t.deepEqual(step(fromClient(STAG, { type: "SHUTDOWN_COMPLETE", tBit: false }), true), { name: "CLOSED", timeout: 61, active: 0, inactive: 1, newConn: false });
  t.is(table.connections().length, 1);
  clock.advanceBy(61 * SEC);
  t.is(table.connections().length, 0, "CLOSED expires after IP_VS_SCTP_MAX_RTO");
  t.is(dest.inactConns, 0);
  t.is(dest.stats.conns, 1);
  t.is(dest.stats.inpkts, 5);
  t.is(dest.stats.outpkts, 3);
});

test("a SHUTDOWN bundled after a SACK is missed: the connection stays ESTABLISHED for 15 minutes", (t) => {
  const { t: table } = setup();
  table.inbound(...args(fromClient(0, init())));
  table.outbound(...args(fromServer(CTAG, initAck())));
  table.inbound(...args(fromClient(STAG, cookieEcho)));
  table.outbound(...args(fromServer(CTAG, { type: "COOKIE_ACK" })));
  const r = table.inbound(...args(fromClient(STAG, sack(100), { type: "SHUTDOWN", cumTsnAck: 100 })));
  t.is(connStateName(r.conn!), "ESTABLISHED");
  table.outbound(...args(fromServer(CTAG, { type: "SHUTDOWN_ACK" })));
  const last = table.inbound(...args(fromClient(STAG, { type: "SHUTDOWN_COMPLETE", tBit: false })));
  t.is(connStateName(last.conn!), "ESTABLISHED");
  t.is(last.conn!.timeout, 900 * SEC);
});

test("INIT1 expires after 4 s when nothing answers; an INIT answered with ABORT is REJECTED for 4 s", (t) => {
  const { t: table, clock } = setup();
  t.is(connStateName(table.inbound(...args(fromClient(0, init()))).conn!), "INIT1");
  clock.advanceBy(4 * SEC - 1);
  t.is(table.connections().length, 1);
  clock.advanceBy(1);
  t.is(table.connections().length, 0);

  const r = table.inbound(...args(fromClient(0, init())));
  t.true(r.newConn);
  const o = table.outbound(...args(fromServer(CTAG, { type: "ABORT", tBit: true })));
  t.is(o.verdict, "forwarded");
  t.is(connStateName(o.conn!), "REJECTED");
  t.is(o.conn!.timeout, 4 * SEC);
  clock.advanceBy(4 * SEC);
  t.is(table.connections().length, 0);
  // After a retransmitted INIT (INIT, 61 s) the ABORT closes it instead (only INIT1 → REJECTED).
  t.true(table.inbound(...args(fromClient(0, init()))).newConn);
  const re = table.inbound(...args(fromClient(0, init())));
  t.is(connStateName(re.conn!), "INIT", "the retransmission");
  t.is(re.conn!.timeout, 61 * SEC);
  t.is(connStateName(table.outbound(...args(fromServer(CTAG, { type: "ABORT", tBit: true }))).conn!), "CLOSED");
  // The client's COOKIE ECHO bundled with an ABORT counts as the ABORT (C-SENT → CLOSED).
  const { t: t2 } = setup();
  t2.inbound(...args(fromClient(0, init())));
  t2.outbound(...args(fromServer(CTAG, initAck())));
  t.is(connStateName(t2.inbound(...args(fromClient(STAG, cookieEcho, { type: "ABORT", tBit: false }))).conn!), "CLOSED");
});

test("sctp_conn_schedule: only an INIT creates a connection; sloppy_sctp takes any chunk but ABORT", (t) => {
  const { t: table } = setup();
  for (const chunks of [[data(1)], [{ type: "ABORT", tBit: false } as SctpChunk], [cookieEcho], [{ type: "HEARTBEAT", info: new Uint8Array(4) } as SctpChunk]]) {
    const r = table.inbound(...args(fromClient(STAG, ...chunks)));
    t.is(r.verdict, "not-virtual");
    t.is(r.reason, "not-init");
  }
  t.is(table.conns.size, 0);
  // No chunk header to read (a bare common header) or no full common header: dropped.
  t.like(table.inbound(...args(fromClient(STAG))), { verdict: "dropped", reason: "truncated" });
  const short = fromClient(0, init());
  short.buf[short.ipOff + 3] = 20 + 8; // total length cut to 8 bytes of SCTP
  t.like(table.inbound(short.buf, short.ipOff, 28), { verdict: "dropped", reason: "truncated" });

  const { t: sloppy } = setup({ sysctl: { sloppySctp: 1 } });
  const r = sloppy.inbound(...args(fromClient(STAG, data(7))));
  t.is(r.verdict, "forwarded");
  t.true(r.newConn);
  t.is(connStateName(r.conn!), "ESTABLISHED", "picked up mid-association");
  t.like(sloppy.inbound(...args(sctp(C, 40001, V, 80, STAG, { type: "ABORT", tBit: false }))), { verdict: "not-virtual", reason: "not-init" });

  // No real server: ip_vs_leave answers port unreachable, as for TCP and UDP.
  const { t: empty } = makeTable();
  empty.addService({ protocol: "sctp", addr: addr(V), port: 80 }, { scheduler: "rr" });
  t.like(empty.inbound(...args(fromClient(0, init()))), { verdict: "no-dest", icmp: "port-unreachable" });
  // An SCTP service is not a TCP one.
  const { t: tcpOnly } = makeTable();
  tcpOnly.addService({ protocol: "tcp", addr: addr(V), port: 80 }, { scheduler: "rr" });
  t.like(tcpOnly.inbound(...args(fromClient(0, init()))), { verdict: "not-virtual", reason: "no-service" });
});

test("is_new_conn for SCTP: an INIT on a CLOSED connection's tuple is scheduled afresh; conn_reuse_mode=0 keeps it", (t) => {
  const close = (table: ReturnType<typeof setup>["t"]) => {
    table.outbound(...args(fromServer(CTAG, initAck())));
    table.inbound(...args(fromClient(STAG, cookieEcho)));
    table.outbound(...args(fromServer(CTAG, { type: "COOKIE_ACK" })));
    table.inbound(...args(fromClient(STAG, { type: "SHUTDOWN", cumTsnAck: 0 })));
    table.outbound(...args(fromServer(CTAG, { type: "SHUTDOWN_ACK" })));
    table.inbound(...args(fromClient(STAG, { type: "SHUTDOWN_COMPLETE", tBit: false })));
  };
  const RS2 = "10.244.1.4";
  const { t: table, dests } = setup({}, [RS, RS2]);
  const first = table.inbound(...args(fromClient(0, init()))).conn!;
  close(table);
  t.is(connStateName(first), "CLOSED");
  const again = table.inbound(...args(fromClient(0, init(0x33333333))));
  t.true(again.newConn);
  t.not(again.conn, first);
  t.true(first.dead);
  t.not(again.conn!.daddr, first.daddr, "rr moved on to the other real server");
  t.is(connStateName(again.conn!), "INIT1");
  t.is(dests[0]!.stats.conns + dests[1]!.stats.conns, 2);

  const { t: keep } = setup({ sysctl: { connReuseMode: 0 } }, [RS, RS2]);
  const c1 = keep.inbound(...args(fromClient(0, init()))).conn!;
  close(keep);
  const r = keep.inbound(...args(fromClient(0, init())));
  t.false(r.newConn);
  t.is(r.conn, c1);
  t.is(connStateName(c1), "INIT", "CLOSED + INIT → INIT");

  // Not in CLOSED (here C-SENT): the INIT stays on its connection.
  const { t: est } = setup({}, [RS, RS2]);
  const c2 = est.inbound(...args(fromClient(0, init()))).conn!;
  est.outbound(...args(fromServer(CTAG, initAck())));
  const r2 = est.inbound(...args(fromClient(0, init())));
  t.false(r2.newConn);
  t.is(r2.conn, c2);
});

// Byte vectors: IPv4 + SCTP, the CRC32c and IPv4 checksums computed independently (a
// bitwise CRC32c and RFC 1071 sum outside podwire).
const INIT_IN = "4500003400014000408422dc0af402020a6000149c400050000000001de9ee8001000014111111110001a000000a000a00000001";
const INIT_OUT = "4500003400014000408421590af402020af401039c400f1c00000000dfea911b01000014111111110001a000000a000a00000001";
const ACK_IN = "45000040000140004084214d0af401030af402020f1c9c40111111117088ee5502000020222222220001a000000a000a000000640007000c0707070707070707";
const ACK_OUT = "4500004000014000408422d00a6000140af4020200509c4011111111999d218602000020222222220001a000000a000a000000640007000c0707070707070707";
const BAD_IN = "4500003400014000408422dc0af402020a6000149c40005000000000f257435e01000014111111110001a000000a000a00000001";
const BADSAME_OUT = "4500003400014000408421590af402020af401039c40005000000000f257435e01000014111111110001a000000a000a00000001";

test("sctp_dnat_handler / sctp_snat_handler: byte vectors, CRC32c recomputed when the port changes", (t) => {
  const { t: table } = setup();
  const req = hex(INIT_IN);
  t.true(new SctpPacket(req.buf, 20, req.len - 20).checkLen(req.len - 20).verifyChecksum(), "the input vector is valid");
  t.is(table.inbound(...args(req)).verdict, "forwarded");
  t.is(toHex(req), INIT_OUT);
  const rep = hex(ACK_IN);
  t.is(table.outbound(...args(rep)).verdict, "forwarded");
  t.is(toHex(rep), ACK_OUT);

  // A wrong CRC32c is not checked (no application helper), but the recompute after the port
  // rewrite makes it right again: the same bytes as a correct INIT's.
  const { t: t2 } = setup();
  const bad = hex(BAD_IN);
  t.is(t2.inbound(...args(bad)).verdict, "forwarded");
  t.is(toHex(bad), INIT_OUT);

  // Real server on the virtual port: only the address changes, and the CRC32c (no pseudo
  // header) is left as it came — "Only update csum if we really have to".
  const { t: t3 } = makeTable({ decrementTtl: false });
  const key = { protocol: "sctp" as const, addr: addr(V), port: 80 };
  t3.addService(key, { scheduler: "rr" });
  t3.addDest(key, { addr: addr(RS), port: 80 });
  const same = hex(BAD_IN);
  t.is(t3.inbound(...args(same)).verdict, "forwarded");
  t.is(toHex(same), BADSAME_OUT);
});

testProp(
  "DNAT and reverse NAT of any SCTP packet: the bytes the endpoints themselves would have sent",
  [
    fc.integer({ min: 1024, max: 0xffff }),
    fc.integer({ min: 1, max: 0xffff }),
    fc.integer({ min: 1, max: 0xffff }),
    fc.uint8Array({ minLength: 0, maxLength: 300 }),
    fc.integer({ min: 0, max: 0xffffffff }),
  ],
  (t, cport, vport, rport, payload, tsn) => {
    const { t: table } = makeTable({ decrementTtl: false });
    const key = { protocol: "sctp" as const, addr: addr(V), port: vport };
    table.addService(key, { scheduler: "rr" });
    table.addDest(key, { addr: addr(RS), port: rport });
    const chunk = (): SctpChunk => ({ type: "DATA", tsn, streamId: 1, streamSeq: 2, ppid: 46, data: payload });
    table.inbound(...args(sctp(C, cport, V, vport, 0, init())));
    const req = sctp(C, cport, V, vport, STAG, cookieEcho, chunk());
    t.is(table.inbound(...args(req)).verdict, "forwarded");
    const direct = sctp(C, cport, RS, rport, STAG, cookieEcho, chunk());
    t.is(toHex(req), toHex(direct));
    const rep = sctp(RS, rport, C, cport, CTAG, { type: "COOKIE_ACK" }, chunk());
    t.is(table.outbound(...args(rep)).verdict, "forwarded");
    t.is(toHex(rep), toHex(sctp(V, vport, C, cport, CTAG, { type: "COOKIE_ACK" }, chunk())));
  },
  { numRuns: 200 },
);

test("ICMP errors quoting SCTP are translated both ways (ip_vs_nat_icmp's TCP/UDP/SCTP port)", (t) => {
  const { t: table } = setup();
  const q = fromClient(0, init());
  const conn = table.inbound(...args(q)).conn!;
  // The real server's node reports the DNATed INIT unreachable: the client must see it about the VIP.
  const err = icmpError(RS, C, q);
  const o = table.outbound(...args(err));
  t.is(o.verdict, "forwarded");
  t.is(o.conn, conn);
  t.is(fields(err).src, V);
  const inner = err.ipOff + 20 + 8;
  t.is(formatIpv4(((err.buf[inner + 16]! << 24) | (err.buf[inner + 17]! << 16) | (err.buf[inner + 18]! << 8) | err.buf[inner + 19]!) >>> 0), V);
  t.is((err.buf[inner + 22]! << 8) | err.buf[inner + 23]!, 80);
  t.true(fullChecksumsValid(err.buf, err.ipOff, err.len));
  // The client reports a packet from the VIP unreachable: it goes on to the real server.
  const err2 = icmpError(C, V, sctp(V, 80, C, 40000, CTAG, initAck()));
  const i = table.inbound(...args(err2));
  t.is(i.verdict, "forwarded");
  t.is(fields(err2).dst, RS);
  t.is((err2.buf[inner + 20]! << 8) | err2.buf[inner + 21]!, 3868);
  t.true(fullChecksumsValid(err2.buf, err2.ipOff, err2.len));
});

test("ipvsadm formats: --sctp-service in ipvsadm-save (round trip), SCTP in -Ln, SCTP states in -Lnc", (t) => {
  const saved = [
    "-A -t 10.96.0.20:3868 -s rr",
    "-a -t 10.96.0.20:3868 -r 10.244.1.3:3868 -m -w 1",
    // libipvs compares addresses as a C int difference: 192.168… sorts before 10.96… (list-order.ts).
    "-A --sctp-service 192.168.56.10:30868 -s rr -p 10800",
    "-a --sctp-service 192.168.56.10:30868 -r 10.244.1.3:3868 -m -w 1",
    "-A --sctp-service 10.96.0.20:3868 -s rr",
    "-a --sctp-service 10.96.0.20:3868 -r 10.244.1.3:3868 -m -w 1",
    "-a --sctp-service 10.96.0.20:3868 -r 10.244.2.4:3868 -m -w 1",
    "",
  ].join("\n");
  const { t: table } = makeTable();
  ipvsadmRestore(table, saved);
  t.is(formatIpvsadmSave(table.services()), saved);
  t.is(table.getService("sctp", ipv4("10.96.0.20"), 3868)!.protocol, 132);
  t.is(table.getService("tcp", ipv4("10.96.0.20"), 3868)!.protocol, 6, "TCP and SCTP on one address and port are two services");
  // print ∘ parse ∘ print
  const again = makeTable().t;
  ipvsadmRestore(again, formatIpvsadmSave(table.services()));
  t.is(formatIpvsadmSave(again.services()), saved);

  // --opt=value, deletes and edits; no short form; one service option per line.
  const cmds = parseIpvsadmRestore("-E --sctp-service=10.96.0.20:3868 -s wlc\n-d --sctp-service 10.96.0.20:3868 -r 10.244.2.4:3868\n");
  t.deepEqual(cmds.map((c) => [c.op, "key" in c ? c.key : null]), [
    ["edit-service", { protocol: "sctp", addr: ipv4("10.96.0.20"), port: 3868 }],
    ["delete-dest", { protocol: "sctp", addr: ipv4("10.96.0.20"), port: 3868 }],
  ]);
  const conflict = t.throws(() => parseIpvsadmRestore("-A -t 10.96.0.20:80 --sctp-service 10.96.0.20:80\n"));
  t.true(conflict instanceof PodwireError);
  t.regex(conflict!.message, /option --sctp-service conflicts with an earlier one/);
  t.regex(t.throws(() => parseIpvsadmRestore("-A -S 10.96.0.20:80\n"))!.message, /unknown option "-S"/);
  t.regex(t.throws(() => parseIpvsadmRestore("-A -s rr\n"))!.message, /--sctp-service addr:port/);

  t.is(
    formatIpvsadmList(table.services()),
    [
      "IP Virtual Server version 1.2.1 (size=4096)",
      "Prot LocalAddress:Port Scheduler Flags",
      "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
      "TCP  10.96.0.20:3868 rr",
      "  -> 10.244.1.3:3868              Masq    1      0          0         ",
      "SCTP  192.168.56.10:30868 rr persistent 10800",
      "  -> 10.244.1.3:3868              Masq    1      0          0         ",
      "SCTP  10.96.0.20:3868 rr",
      "  -> 10.244.1.3:3868              Masq    1      0          0         ",
      "  -> 10.244.2.4:3868              Masq    1      0          0         ",
      "",
    ].join("\n"),
  );
});

test("ipvsadm -Lnc: SCTP connections with the kernel's state names and timers", (t) => {
  const { t: table, clock } = setup();
  table.inbound(...args(fromClient(0, init())));
  table.outbound(...args(fromServer(CTAG, initAck())));
  clock.advanceBy(SEC);
  table.inbound(...args(sctp(C, 40001, V, 80, 0, init())));
  t.is(
    formatIpvsadmConnections(table.connections(), clock.now()),
    [
      "IPVS connection entries",
      "pro expire state       source             virtual            destination",
      "SCTP 01:00  C-SENT      10.244.2.2:40000   10.96.0.20:80      10.244.1.3:3868",
      "SCTP 00:04  INIT1       10.244.2.2:40001   10.96.0.20:80      10.244.1.3:3868",
      "",
    ].join("\n"),
  );
});
