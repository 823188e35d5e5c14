import test from "ava";
import { IPS_ASSURED, IPS_SEEN_REPLY, TCP_CT_CLOSE, TCP_CT_ESTABLISHED, TCP_CT_SYN_SENT } from "../../src/conntrack/index.js";
import type { ConntrackTable } from "../../src/conntrack/index.js";
import { ACK, FIN, PSH, RST, SYN, makeTable, tcp, SEC } from "./helpers.js";
import type { Pkt } from "./helpers.js";

const C = "10.244.1.2";
const S = "10.244.2.3";
const ISS_C = 1000;
const ISS_S = 5000;

function send(ct: ConntrackTable, p: Pkt) {
  const v = ct.inspect(p.buf, p.ipOff, p.len);
  return { ctinfo: v.ctinfo, dir: v.dir, conn: v.conn, drop: v.drop };
}

/** SYN, SYN-ACK, ACK; returns the conn. */
function handshake(ct: ConntrackTable) {
  const syn = send(ct, tcp(C, S, 40000, 80, ISS_C, 0, SYN));
  ct.confirm(syn.conn!);
  send(ct, tcp(S, C, 80, 40000, ISS_S, ISS_C + 1, SYN | ACK));
  send(ct, tcp(C, S, 40000, 80, ISS_C + 1, ISS_S + 1, ACK));
  return syn.conn!;
}

test("SYN, SYN-ACK, ACK → ESTABLISHED, ASSURED, 5-day timeout", (t) => {
  const { ct, clock } = makeTable();
  const syn = send(ct, tcp(C, S, 40000, 80, ISS_C, 0, SYN));
  t.is(syn.ctinfo, "NEW");
  const conn = syn.conn!;
  t.is(conn.tcpStateName, "SYN_SENT");
  t.is(conn.timeoutAt, 120 * SEC);
  t.true(ct.confirm(conn));
  clock.advanceBy(SEC);
  const sa = send(ct, tcp(S, C, 80, 40000, ISS_S, ISS_C + 1, SYN | ACK));
  t.is(sa.ctinfo, "ESTABLISHED");
  t.is(sa.dir, 1);
  t.is(conn.tcpStateName, "SYN_RECV");
  t.is(conn.timeoutAt, clock.now() + 60 * SEC);
  t.truthy(conn.status & IPS_SEEN_REPLY);
  t.falsy(conn.status & IPS_ASSURED);
  const ack = send(ct, tcp(C, S, 40000, 80, ISS_C + 1, ISS_S + 1, ACK));
  t.is(ack.ctinfo, "ESTABLISHED");
  t.is(conn.tcpState, TCP_CT_ESTABLISHED);
  t.truthy(conn.status & IPS_ASSURED);
  t.is(conn.timeoutAt, clock.now() + 432000 * SEC);
  t.regex(ct.list()[0]!, /^tcp      6 432000 ESTABLISHED src=10\.244\.1\.2 dst=10\.244\.2\.3 sport=40000 dport=80 src=10\.244\.2\.3 dst=10\.244\.1\.2 sport=80 dport=40000 \[ASSURED\] mark=0 use=1$/);
});

test("data in flight uses the unacknowledged timeout until it is ACKed", (t) => {
  const { ct, clock } = makeTable();
  const conn = handshake(ct);
  send(ct, tcp(C, S, 40000, 80, ISS_C + 1, ISS_S + 1, ACK | PSH, { payloadLen: 100 }));
  t.is(conn.timeoutAt, clock.now() + 300 * SEC);
  send(ct, tcp(S, C, 80, 40000, ISS_S + 1, ISS_C + 101, ACK));
  t.is(conn.timeoutAt, clock.now() + 432000 * SEC);
});

test("FIN/ACK exchange → TIME_WAIT (120 s)", (t) => {
  const { ct, clock } = makeTable();
  const conn = handshake(ct);
  send(ct, tcp(C, S, 40000, 80, ISS_C + 1, ISS_S + 1, FIN | ACK));
  t.is(conn.tcpStateName, "FIN_WAIT");
  send(ct, tcp(S, C, 80, 40000, ISS_S + 1, ISS_C + 2, ACK));
  t.is(conn.tcpStateName, "CLOSE_WAIT");
  send(ct, tcp(S, C, 80, 40000, ISS_S + 1, ISS_C + 2, FIN | ACK));
  t.is(conn.tcpStateName, "LAST_ACK");
  t.is(conn.timeoutAt, clock.now() + 30 * SEC);
  send(ct, tcp(C, S, 40000, 80, ISS_C + 2, ISS_S + 2, ACK));
  t.is(conn.tcpStateName, "TIME_WAIT");
  t.is(conn.timeoutAt, clock.now() + 120 * SEC);
  // A new SYN on the same tuple reopens: the old entry goes, a NEW one starts.
  const again = send(ct, tcp(C, S, 40000, 80, ISS_C + 100000, 0, SYN));
  t.is(again.ctinfo, "NEW");
  t.not(again.conn, conn);
  t.is(again.conn!.tcpState, TCP_CT_SYN_SENT);
  t.is(ct.count, 0);
});

test("a RST → CLOSE with the 10 s timeout", (t) => {
  const { ct, clock } = makeTable();
  const conn = handshake(ct);
  send(ct, tcp(S, C, 80, 40000, ISS_S + 1, ISS_C + 1, RST | ACK));
  t.is(conn.tcpState, TCP_CT_CLOSE);
  t.is(conn.timeoutAt, clock.now() + 10 * SEC);
  clock.advanceBy(10 * SEC);
  t.is(ct.count, 1);
  t.is(ct.gc(), 1);
});

test("a RST answering a SYN deletes the entry at once", (t) => {
  const { ct } = makeTable();
  const syn = send(ct, tcp(C, S, 40000, 81, ISS_C, 0, SYN));
  ct.confirm(syn.conn!);
  const rst = send(ct, tcp(S, C, 81, 40000, 0, ISS_C + 1, RST | ACK));
  t.is(rst.ctinfo, "ESTABLISHED");
  t.is(ct.count, 0);
});

test("a segment far outside the window is INVALID and leaves the state alone", (t) => {
  const { ct } = makeTable();
  const conn = handshake(ct);
  const before = conn.timeoutAt;
  const v = send(ct, tcp(C, S, 40000, 80, ISS_C + 1 + 50_000_000, ISS_S + 1, ACK | PSH, { payloadLen: 10 }));
  t.is(v.ctinfo, "INVALID");
  t.is(v.conn, null);
  t.is(ct.stats.invalid, 1);
  // An ACK for data never sent is invalid too.
  t.is(send(ct, tcp(S, C, 80, 40000, ISS_S + 1, ISS_C + 1 + 1_000_000, ACK)).ctinfo, "INVALID");
  t.is(conn.tcpState, TCP_CT_ESTABLISHED);
  t.is(conn.timeoutAt, before);
  // In-order traffic goes on being valid.
  t.is(send(ct, tcp(C, S, 40000, 80, ISS_C + 1, ISS_S + 1, ACK | PSH, { payloadLen: 10 })).ctinfo, "ESTABLISHED");
});

test("a long in-order exchange with window scaling stays valid", (t) => {
  const { ct } = makeTable();
  const ws = (s: number) => Uint8Array.of(1, 3, 3, s);
  const syn = send(ct, tcp(C, S, 40000, 80, ISS_C, 0, SYN, { options: ws(7) }));
  ct.confirm(syn.conn!);
  send(ct, tcp(S, C, 80, 40000, ISS_S, ISS_C + 1, SYN | ACK, { options: ws(7) }));
  let cs = ISS_C + 1;
  let ss = ISS_S + 1;
  t.is(send(ct, tcp(C, S, 40000, 80, cs, ss, ACK, { window: 502 })).ctinfo, "ESTABLISHED");
  for (let i = 0; i < 200; i++) {
    const v = send(ct, tcp(C, S, 40000, 80, cs, ss, ACK | PSH, { payloadLen: 1400, window: 502 }));
    t.is(v.ctinfo, "ESTABLISHED");
    cs = (cs + 1400) >>> 0;
    const w = send(ct, tcp(S, C, 80, 40000, ss, cs, ACK | PSH, { payloadLen: 1000, window: 502 }));
    t.is(w.ctinfo, "ESTABLISHED");
    ss = (ss + 1000) >>> 0;
  }
  t.is(ct.stats.invalid, 0);
});

test("tcpLoose picks up a mid-stream ACK; without it the ACK is INVALID", (t) => {
  const loose = makeTable().ct;
  const v = send(loose, tcp(C, S, 40000, 80, 123456, 654321, ACK));
  t.is(v.ctinfo, "NEW");
  t.is(v.conn!.tcpStateName, "ESTABLISHED");
  t.is(v.conn!.timeoutAt, 300 * SEC); // no 5-day timeout until the other side answers
  loose.confirm(v.conn!);
  const r = send(loose, tcp(S, C, 80, 40000, 654321, 123456, ACK));
  t.is(r.ctinfo, "ESTABLISHED");
  // SEEN_REPLY is set after the TCP tracker ran, so the next valid segment assures it.
  t.falsy(v.conn!.status & IPS_ASSURED);
  send(loose, tcp(C, S, 40000, 80, 123456, 654321, ACK));
  t.truthy(v.conn!.status & IPS_ASSURED);
  t.is(v.conn!.timeoutAt, 432000 * SEC);

  const strict = makeTable({ tcpLoose: false }).ct;
  t.is(send(strict, tcp(C, S, 40000, 80, 123456, 654321, ACK)).ctinfo, "INVALID");
  // A lone RST or SYN-ACK never starts a connection.
  t.is(send(loose, tcp(C, S, 40001, 80, 1, 0, RST)).ctinfo, "INVALID");
  t.is(send(loose, tcp(C, S, 40002, 80, 1, 5, SYN | ACK)).ctinfo, "INVALID");
  // Impossible flag combinations are INVALID (tcp_error).
  t.is(send(loose, tcp(C, S, 40003, 80, 1, 0, SYN | FIN)).ctinfo, "INVALID");
});

test("a retransmitted SYN does not extend the entry", (t) => {
  const { ct, clock } = makeTable();
  const syn = tcp(C, S, 40000, 80, ISS_C, 0, SYN);
  const conn = send(ct, syn).conn!;
  ct.confirm(conn);
  clock.advanceBy(60 * SEC);
  send(ct, syn);
  t.is(conn.timeoutAt, 120 * SEC);
});
