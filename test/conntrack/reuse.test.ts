/**
 * Conn reuse (conn-pool.ts): a conn out of the table that no packet holds is reused for a
 * later connection, and nothing a caller can observe changes — the same verdicts, tuples,
 * states, timers, counters, NAT bindings and `conntrack -L` as a table that never reuses.
 */
import test from "ava";
import { testProp, fc } from "@fast-check/ava";
import { IPS_DYING, type Conn, type ConntrackTable } from "../../src/conntrack/index.js";
import { ipv4 } from "../../src/base/ipv4-int.js";
import { PacketBuffer, PacketPool } from "../../src/netdev/packet-buffer.js";
import { ACK, SEC, SYN, echo, fields, makeTable, tcp, udp } from "./helpers.js";
import type { Pkt } from "./helpers.js";

const C = "10.244.1.2";
const VIP = "10.96.0.10";
const EP = "10.244.2.7";
const NODE = "192.168.56.11";

/** The packet path's use of the table: inspect, then the packet holds the conn. */
function track(ct: ConntrackTable, p: Pkt): Conn {
  const v = ct.inspectPacket(p.buf, p.ipOff, p.len);
  v.conn!.ctGet();
  return v.conn!;
}

test("a conn killed while no packet holds it is reused for the next new connection, reset to a new conn's state", (t) => {
  const { ct, clock } = makeTable();
  const a = track(ct, udp(C, VIP, 40000, 53));
  ct.setupNat(a, "dst", { minIp: ipv4(EP), maxIp: ipv4(EP), minPort: 5353, maxPort: 5353 });
  ct.setupNat(a, "src", null);
  t.is(ct.confirmPacket(a), a);
  a.ctPut(); // the packet is gone; the conn stays in the table
  const r = udp(EP, C, 5353, 40000);
  const back = ct.inspectPacket(r.buf, r.ipOff, r.len);
  t.is(back.conn, a);
  t.is(ct.flush(), 1);
  t.is(ct.connsReused, 0);

  clock.advanceBy(SEC);
  const b = track(ct, tcp(C, "10.244.3.3", 41000, 80, 100, 0, SYN));
  t.is(b, a, "the same object");
  t.is(ct.connsReused, 1);
  t.is(b.id, 2);
  t.deepEqual({ ...b.original }, { src: ipv4(C), dst: ipv4("10.244.3.3"), proto: 6, sport: 41000, dport: 80 });
  t.deepEqual({ ...b.reply }, { src: ipv4("10.244.3.3"), dst: ipv4(C), proto: 6, sport: 80, dport: 41000 });
  t.is(b.status, 0);
  t.is(b.mark, 0);
  t.is(b.slot, -1);
  t.is(b.tcpStateName, "SYN_SENT");
  t.deepEqual(b.packets, [1, 0]);
  t.is(b.udpStreamAt, 0);
  t.is(b.timeoutAt, SEC + 120 * SEC);
});

test("a conn handed to a caller (inspect, lookup, entries) is never reused", (t) => {
  const { ct } = makeTable();
  const q = udp(C, VIP, 40000, 53);
  const a = ct.inspect(q.buf, q.ipOff, q.len).conn!;
  t.true(ct.confirm(a));
  ct.flush();
  const b = track(ct, udp(C, VIP, 40001, 53));
  t.not(b, a);
  t.is(a.original.sport, 40000);
  t.truthy(a.status & IPS_DYING);
  t.true(ct.confirm(b));
  b.ctPut();
  t.is(ct.lookup(b.original)!.conn, b); // lookup hands it out
  ct.flush();
  t.not(track(ct, udp(C, VIP, 40002, 53)), b);
  t.is(ct.connsReused, 0);
});

test("a packet still holding a killed conn keeps it: new connections get other objects, and its NAT binding stays", (t) => {
  const { ct } = makeTable();
  const q = udp(C, VIP, 40000, 53);
  const a = track(ct, q);
  ct.setupNat(a, "dst", { minIp: ipv4(EP), maxIp: ipv4(EP), minPort: 5353, maxPort: 5353 });
  ct.setupNat(a, "src", null);
  t.true(ct.confirm(a));
  ct.flush(); // conntrack -F while the packet is in flight
  const others = [track(ct, udp(C, VIP, 40001, 53)), track(ct, udp(C, VIP, 40002, 53))];
  t.false(others.includes(a));
  t.is(ct.manipPacket(a, 0, "dst", q.buf, q.ipOff, q.len), true);
  t.deepEqual(fields(q), { src: ipv4(C), dst: ipv4(EP), sport: 40000, dport: 5353 });
  a.ctPut(); // now let go: it is reused
  t.is(track(ct, udp(C, VIP, 40003, 53)), a);
});

test("PacketBuffer takes and puts the conn's reference: reset, scrub, release, and a copy's own", (t) => {
  const { ct } = makeTable();
  const pool = new PacketPool();
  const a = track(ct, udp(C, VIP, 40000, 53));
  t.true(ct.confirm(a));
  const p = pool.acquire();
  p.ct = a; // the track() reference now belongs to p
  const copy = pool.clone(p);
  t.is(a.refs, 2);
  copy.scrub();
  t.is(a.refs, 1);
  ct.flush();
  t.is(track(ct, udp(C, VIP, 40001, 53)) === a, false, "still held by p");
  pool.release(p);
  t.is(a.refs, 0);
  t.is(track(ct, udp(C, VIP, 40002, 53)), a);
  // Objects that count nothing are just held.
  const q = new PacketBuffer();
  q.ct = {};
  q.reset();
  t.is(q.ct as object | null, null);
});

test("an unconfirmed conn whose packet is dropped is reused once the packet lets go", (t) => {
  const { ct } = makeTable();
  const pool = new PacketPool();
  const p = pool.acquire();
  const a = track(ct, udp(C, VIP, 40000, 53));
  p.ct = a;
  pool.release(p); // dropped before confirm
  t.is(track(ct, udp(C, VIP, 40001, 53)), a);
});

test("a merged clash loser is reused once the packet moves to the winner", (t) => {
  const { ct } = makeTable();
  const q = udp(C, VIP, 40000, 53);
  const a = track(ct, q);
  const b = track(ct, q); // the same flow, unconfirmed twice (two CPUs)
  ct.setupNat(a, "src", null);
  ct.setupNat(b, "src", null);
  t.is(ct.confirmPacket(a), a);
  const kept = ct.confirmPacket(b);
  t.is(kept, a);
  kept!.ctGet();
  b.ctPut(); // nf_ct_set to the winner
  t.is(track(ct, udp(C, VIP, 40001, 53)), b);
});

test("NAT rewrites the reply tuple in place on a conn only the packet path knows, with a new object on a handed-out one", (t) => {
  const { ct } = makeTable();
  const a = track(ct, udp(C, VIP, 40000, 53));
  const before = a.reply;
  ct.setupNat(a, "dst", { minIp: ipv4(EP), maxIp: ipv4(EP), minPort: 5353, maxPort: 5353 });
  t.is(a.reply, before);
  t.deepEqual({ ...a.reply }, { src: ipv4(EP), dst: ipv4(C), proto: 17, sport: 5353, dport: 40000 });
  const q = udp(C, VIP, 40001, 53);
  const b = ct.inspect(q.buf, q.ipOff, q.len).conn!;
  const old = b.reply;
  ct.setupNat(b, "dst", { minIp: ipv4(EP), maxIp: ipv4(EP), minPort: 5353, maxPort: 5353 });
  t.not(b.reply, old);
  t.is(old.src, ipv4(VIP));
});

// ---------------------------------------------------------------- differential

let reusedTotal = 0;

type Op =
  | { kind: "pkt"; flow: number; reply: boolean; hold: boolean }
  | { kind: "release"; index: number }
  | { kind: "advance"; secs: number }
  | { kind: "gc" }
  | { kind: "flush" }
  | { kind: "delete"; proto: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("pkt" as const), flow: fc.integer({ min: 0, max: 11 }), reply: fc.boolean(), hold: fc.integer({ min: 0, max: 3 }).map((h) => h === 0) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("release" as const), index: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("advance" as const), secs: fc.integer({ min: 1, max: 200 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "gc" as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: "flush" as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("delete" as const), proto: fc.constantFrom(1, 6, 17) }) },
);

/** Flow `i`'s first packet: UDP and TCP to a VIP (DNATed, some SNATed to the node), ICMP echo. */
function firstPacket(i: number): Pkt {
  const sport = 30000 + (i % 4);
  if (i % 3 === 0) return udp(C, VIP, sport, 53);
  if (i % 3 === 1) return tcp(C, VIP, sport, 80, 1000, 0, SYN);
  return echo(C, "10.244.9.9", "echo-request", 100 + (i % 4));
}

function replyPacket(conn: Conn): Pkt {
  const r = conn.reply;
  if (r.proto === 17) return udp(r.src, r.dst, r.sport, r.dport);
  if (r.proto === 6) return tcp(r.src, r.dst, r.sport, r.dport, 5000, 1001, SYN | ACK);
  return echo(r.src, r.dst, "echo-reply", r.sport);
}

function view(c: Conn | null): unknown {
  if (c === null) return null;
  return { id: c.id, o: { ...c.original }, r: { ...c.reply }, status: c.status, mark: c.mark, to: c.timeoutAt, us: c.udpStreamAt, p: c.packets, b: c.bytes, tcp: c.tcpStateName, conf: c.confirmed };
}

testProp(
  "a table that reuses conns behaves exactly as one that never does",
  [fc.array(op, { minLength: 1, maxLength: 120 }), fc.integer({ min: 3, max: 12 })],
  (t, ops, max) => {
    // A: every conn is handed out (inspect), so none is ever reused. B: the packet path.
    const A = makeTable({ max });
    const B = makeTable({ max });
    const held: { a: Conn; b: Conn; seen: unknown }[] = [];
    for (const o of ops) {
      if (o.kind === "advance") {
        A.clock.advanceBy(o.secs * SEC);
        B.clock.advanceBy(o.secs * SEC);
      } else if (o.kind === "gc") {
        t.is(B.ct.gc(), A.ct.gc());
      } else if (o.kind === "flush") {
        t.is(B.ct.flush(), A.ct.flush());
      } else if (o.kind === "delete") {
        t.is(B.ct.delete({ proto: o.proto }), A.ct.delete({ proto: o.proto }));
      } else if (o.kind === "release") {
        if (held.length === 0) continue;
        const h = held.splice(o.index % held.length, 1)[0]!;
        t.deepEqual(view(h.b), view(h.a), "a held conn is untouched by reuse");
        h.b.ctPut();
      } else {
        const first = firstPacket(o.flow);
        let pa = first;
        let pb = firstPacket(o.flow);
        if (o.reply) {
          // The original direction's packet first (both tables), then its reply.
          const va = A.ct.inspect(first.buf, first.ipOff, first.len);
          const vb = B.ct.inspectPacket(first.buf.slice(), first.ipOff, first.len);
          t.is(vb.ctinfo, va.ctinfo);
          t.deepEqual(view(vb.conn), view(va.conn));
          if (va.conn === null || !va.conn.confirmed) continue;
          pa = replyPacket(va.conn);
          pb = replyPacket(va.conn);
        }
        const va = A.ct.inspect(pa.buf, pa.ipOff, pa.len);
        const vb = B.ct.inspectPacket(pb.buf, pb.ipOff, pb.len);
        t.deepEqual([vb.ctinfo, vb.dir, vb.drop], [va.ctinfo, va.dir, va.drop]);
        t.deepEqual(view(vb.conn), view(va.conn));
        const a = va.conn;
        const b = vb.conn;
        if (a === null || b === null) continue;
        b.ctGet();
        if (va.ctinfo === "NEW" && !a.confirmed) {
          const ep = ipv4(EP) + (o.flow % 3);
          for (const [ct, c] of [[A.ct, a], [B.ct, b]] as const) {
            if (!ct.isNatDone(c, "dst")) ct.setupNat(c, "dst", a.original.proto === 1 ? null : { minIp: ep, maxIp: ep, minPort: 8080, maxPort: 8080 });
            if (!ct.isNatDone(c, "src")) ct.setupNat(c, "src", o.flow % 2 === 0 ? { minIp: ipv4(NODE), maxIp: ipv4(NODE), minPort: 0, maxPort: 0 } : null);
          }
          t.deepEqual(view(b), view(a));
        }
        t.is(B.ct.manipPacket(b, vb.dir, "dst", pb.buf, pb.ipOff, pb.len), A.ct.manipPacket(a, va.dir, "dst", pa.buf, pa.ipOff, pa.len));
        t.deepEqual(pb.buf.subarray(pb.ipOff, pb.ipOff + pb.len), pa.buf.subarray(pa.ipOff, pa.ipOff + pa.len));
        const ka = A.ct.confirmPacket(a);
        const kb = B.ct.confirmPacket(b);
        t.deepEqual(view(kb), view(ka));
        if (kb !== null && kb !== b) {
          kb.ctGet();
          b.ctPut();
        }
        const holder = kb ?? b;
        if (o.hold) held.push({ a: ka ?? a, b: holder, seen: null });
        else holder.ctPut();
      }
      t.deepEqual(B.ct.stats, A.ct.stats);
      t.is(B.ct.count, A.ct.count);
    }
    for (const h of held) t.deepEqual(view(h.b), view(h.a));
    t.deepEqual(B.ct.list(), A.ct.list());
    reusedTotal += B.ct.connsReused;
  },
  { numRuns: 300 },
);

test.after("the differential runs did reuse conns", (t) => {
  if (reusedTotal === 0) throw new Error("no conn was reused in any differential run: the property tested nothing");
  t.log(`conns reused across the differential runs: ${reusedTotal}`);
});
