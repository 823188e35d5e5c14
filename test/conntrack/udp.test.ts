import test from "ava";
import { IPS_ASSURED, IPS_CONFIRMED, IPS_SEEN_REPLY } from "../../src/conntrack/index.js";
import { CT_STATUS_ASSURED, CT_STATUS_SEEN_REPLY } from "../../src/netfilter/model.js";
import { makeTable, udp, SEC } from "./helpers.js";

const C = "10.244.1.2";
const S = "10.244.2.3";

test("status bits use the kernel's numbers", (t) => {
  t.is(IPS_SEEN_REPLY, CT_STATUS_SEEN_REPLY);
  t.is(IPS_ASSURED, CT_STATUS_ASSURED);
  t.is(IPS_SEEN_REPLY, 1 << 1);
  t.is(IPS_ASSURED, 1 << 2);
  t.is(IPS_CONFIRMED, 1 << 3);
});

test("a UDP flow: NEW unconfirmed, confirmed, ESTABLISHED after a reply, ASSURED once a stream", (t) => {
  const { ct, clock } = makeTable();
  const q = udp(C, S, 40000, 53);
  let v = ct.inspect(q.buf, q.ipOff, q.len);
  t.is(v.ctinfo, "NEW");
  t.is(v.dir, 0);
  const conn = v.conn!;
  t.false(conn.confirmed);
  t.is(ct.count, 0);
  t.true(ct.confirm(conn));
  t.is(ct.count, 1);
  t.is(conn.timeoutAt, 30 * SEC);

  // Still NEW for more original-direction packets before any reply.
  clock.advanceBy(SEC);
  v = ct.inspect(q.buf, q.ipOff, q.len);
  t.is(v.ctinfo, "NEW");
  t.is(v.conn, conn);

  const r = udp(S, C, 53, 40000);
  v = ct.inspect(r.buf, r.ipOff, r.len);
  t.is(v.ctinfo, "ESTABLISHED");
  t.is(v.dir, 1);
  t.truthy(conn.status & IPS_SEEN_REPLY);
  t.falsy(conn.status & IPS_ASSURED);
  t.is(conn.timeoutAt, clock.now() + 30 * SEC);

  // Within 2 s of creation: replied but not yet a stream.
  clock.advanceBy(SEC / 2);
  v = ct.inspect(q.buf, q.ipOff, q.len);
  t.is(v.ctinfo, "ESTABLISHED");
  t.falsy(conn.status & IPS_ASSURED);
  t.is(conn.timeoutAt, clock.now() + 30 * SEC);

  // After 2 s: stream timeout and ASSURED (nf_conntrack_udp_packet).
  clock.advanceBy(SEC);
  ct.inspect(r.buf, r.ipOff, r.len);
  t.truthy(conn.status & IPS_ASSURED);
  t.is(conn.timeoutAt, clock.now() + 120 * SEC);
  t.deepEqual(conn.packets, [3, 2]);
  t.is(conn.bytes[0], 3 * q.len);
});

test("an unreplied UDP entry expires after 30 s of virtual time", (t) => {
  const { ct, clock } = makeTable();
  const q = udp(C, S, 40000, 53);
  const conn = ct.inspect(q.buf, q.ipOff, q.len).conn!;
  ct.confirm(conn);
  clock.advanceBy(29 * SEC);
  t.is(ct.lookup(conn.original)?.conn, conn);
  clock.advanceBy(SEC);
  t.is(ct.lookup(conn.original), null);
  const v = ct.inspect(q.buf, q.ipOff, q.len);
  t.is(v.ctinfo, "NEW");
  t.false(v.conn!.confirmed);
  t.is(ct.count, 0);
});

test("an assured UDP stream lives 120 s, and gc() reaps it after", (t) => {
  const { ct, clock } = makeTable({ timeouts: { udpStream: 180 } });
  const q = udp(C, S, 40000, 9000);
  const r = udp(S, C, 9000, 40000);
  const conn = ct.inspect(q.buf, q.ipOff, q.len).conn!;
  ct.confirm(conn);
  ct.inspect(r.buf, r.ipOff, r.len);
  clock.advanceBy(3 * SEC);
  ct.inspect(q.buf, q.ipOff, q.len);
  t.truthy(conn.status & IPS_ASSURED);
  clock.advanceBy(179 * SEC);
  t.is(ct.gc(), 0);
  clock.advanceBy(SEC);
  t.is(ct.gc(), 1);
  t.is(ct.count, 0);
});

test("malformed UDP is INVALID", (t) => {
  const { ct } = makeTable();
  const q = udp(C, S, 40000, 53);
  q.buf[q.ipOff + 20 + 4] = 0xff; // UDP length beyond the packet
  const v = ct.inspect(q.buf, q.ipOff, q.len);
  t.is(v.ctinfo, "INVALID");
  t.is(v.conn, null);
  t.is(ct.stats.invalid, 1);
  t.is(ct.inspect(q.buf, q.ipOff, q.len, true).ctinfo, "UNTRACKED");
});
