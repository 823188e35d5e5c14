import test from "ava";
import { IPS_ASSURED } from "../../src/conntrack/index.js";
import type { ConntrackTable } from "../../src/conntrack/index.js";
import { ipv4 } from "../../src/base/ipv4-int.js";
import { ACK, SYN, makeTable, tcp, udp, SEC } from "./helpers.js";
import type { Pkt } from "./helpers.js";

function track(ct: ConntrackTable, p: Pkt) {
  const v = ct.inspect(p.buf, p.ipOff, p.len);
  const r = { conn: v.conn, ctinfo: v.ctinfo, drop: v.drop, dir: v.dir };
  if (r.conn && !r.conn.confirmed) ct.confirm(r.conn);
  return r;
}

function assuredTcp(ct: ConntrackTable, sport: number) {
  const c = "10.244.1.2";
  const s = "10.244.2.3";
  const a = track(ct, tcp(c, s, sport, 80, 100, 0, SYN));
  track(ct, tcp(s, c, 80, sport, 900, 101, SYN | ACK));
  track(ct, tcp(c, s, sport, 80, 101, 901, ACK));
  return a.conn!;
}

test("table full (max=2): a non-ASSURED entry is early-dropped to make room", (t) => {
  const { ct } = makeTable({ max: 2 });
  const a = track(ct, udp("10.244.1.2", "10.244.2.3", 1000, 53)).conn!;
  const b = track(ct, udp("10.244.1.2", "10.244.2.3", 1001, 53)).conn!;
  t.is(ct.count, 2);
  const c = track(ct, udp("10.244.1.2", "10.244.2.3", 1002, 53));
  t.is(c.ctinfo, "NEW");
  t.false(c.drop);
  t.true(c.conn!.confirmed);
  t.true(ct.count <= 2);
  t.true(ct.stats.early_drop >= 1);
  const survivors = [a, b].filter((x) => ct.lookup(x.original)?.conn === x).length;
  t.is(survivors + ct.stats.early_drop, 2);
  t.is(ct.stats.drop, 0);
});

test("table full (max=2) of ASSURED entries: the third NEW is dropped and counted", (t) => {
  const { ct } = makeTable({ max: 2 });
  const a = assuredTcp(ct, 1000);
  const b = assuredTcp(ct, 1001);
  t.truthy(a.status & IPS_ASSURED && b.status & IPS_ASSURED);
  const c = track(ct, udp("10.244.1.2", "10.244.2.3", 1002, 53));
  t.true(c.drop);
  t.is(c.conn, null);
  t.is(ct.stats.drop, 1);
  t.is(ct.stats.early_drop, 0);
  t.is(ct.count, 2);
  // Existing flows keep working.
  t.is(track(ct, tcp("10.244.1.2", "10.244.2.3", 1000, 80, 101, 901, ACK)).ctinfo, "ESTABLISHED");
});

test("a clash at confirm fails the insert (TCP); an un-NATed UDP clash is merged (nf_ct_resolve_clash)", (t) => {
  const { ct } = makeTable();
  const p = tcp("10.244.1.2", "10.244.2.3", 1000, 80, 1, 0, SYN);
  const a = ct.inspect(p.buf, p.ipOff, p.len).conn!;
  const b = ct.inspect(p.buf, p.ipOff, p.len).conn!;
  t.not(a, b);
  t.true(ct.confirm(a));
  t.false(ct.confirm(b));
  t.is(ct.stats.insert_failed, 1);
  t.is(ct.stats.drop, 1);
  const q = udp("10.244.1.2", "10.244.2.3", 1000, 53);
  const c = ct.inspect(q.buf, q.ipOff, q.len).conn!;
  const d = ct.inspect(q.buf, q.ipOff, q.len).conn!;
  t.is(ct.confirmPacket(c), c);
  t.is(ct.confirmPacket(d), c);
  t.is(ct.stats.drop, 1);
  t.is(ct.stats.clash_resolve, 1);
});

test("list() in conntrack -L format for TCP and UDP", (t) => {
  const { ct, clock } = makeTable();
  assuredTcp(ct, 40000);
  track(ct, udp("10.244.1.2", "10.96.0.10", 41000, 53));
  clock.advanceBy(SEC + 1);
  t.deepEqual(ct.list(), [
    "tcp      6 431998 ESTABLISHED src=10.244.1.2 dst=10.244.2.3 sport=40000 dport=80 src=10.244.2.3 dst=10.244.1.2 sport=80 dport=40000 [ASSURED] mark=0 use=1",
    "udp      17 28 src=10.244.1.2 dst=10.96.0.10 sport=41000 dport=53 [UNREPLIED] src=10.96.0.10 dst=10.244.1.2 sport=53 dport=41000 mark=0 use=1",
  ]);
  const withAcct = makeTable({ acct: true }).ct;
  const q = udp("10.244.1.2", "10.96.0.10", 41000, 53);
  track(withAcct, q);
  t.is(
    withAcct.list()[0],
    `udp      17 30 src=10.244.1.2 dst=10.96.0.10 sport=41000 dport=53 packets=1 bytes=${q.len} [UNREPLIED] src=10.96.0.10 dst=10.244.1.2 sport=53 dport=41000 packets=0 bytes=0 mark=0 use=1`,
  );
});

test("delete by filter and flush", (t) => {
  const { ct } = makeTable();
  track(ct, udp("10.244.1.2", "10.96.0.10", 41000, 53));
  track(ct, udp("10.244.1.3", "10.96.0.10", 41000, 53));
  track(ct, udp("10.244.1.3", "10.96.0.11", 41000, 53));
  assuredTcp(ct, 40000);
  t.is(ct.delete({ proto: 17, origDst: ipv4("10.96.0.10") }), 2);
  t.is(ct.count, 2);
  t.is(ct.delete({ origSrc: ipv4("10.244.1.3"), origDport: 80 }), 0);
  t.is(ct.delete({ replySport: 80 }), 1);
  t.is(ct.flush(), 1);
  t.is(ct.count, 0);
  t.deepEqual(ct.list(), []);
});

test("conn ids grow in creation order; found/new/searched count lookups", (t) => {
  const { ct } = makeTable();
  const a = track(ct, udp("10.244.1.2", "10.96.0.10", 41000, 53)).conn!;
  const b = track(ct, udp("10.244.1.2", "10.96.0.10", 41001, 53)).conn!;
  t.true(b.id > a.id);
  track(ct, udp("10.244.1.2", "10.96.0.10", 41000, 53));
  t.is(ct.stats.new, 2);
  t.is(ct.stats.found, 1);
  t.true(ct.stats.searched >= 1);
});
