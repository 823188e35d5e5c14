import test from "ava";
import { TCP_STATE_NAMES } from "../../src/ipvs/index.js";
import type { IpvsTable } from "../../src/ipvs/index.js";
import { ACK, FIN, RST, SEC, SYN, VIP, addr, echo, ep, fields, makeTable, tcp, udp } from "./helpers.js";
import type { Pkt } from "./helpers.js";

const KEY = { protocol: "tcp" as const, addr: VIP, port: 80 };
const CLIENT = "10.244.2.5";

function setup(opts: Parameters<typeof makeTable>[0] = {}, n = 2, sched = "rr", persistent?: number) {
  const r = makeTable(opts);
  r.t.addService(KEY, { scheduler: sched, ...(persistent ? { persistent } : {}) });
  for (let i = 0; i < n; i++) r.t.addDest(KEY, { addr: ep(i), port: 8080 });
  return r;
}

function inb(t: IpvsTable, p: Pkt) {
  return t.inbound(p.buf, p.ipOff, p.len);
}
function outb(t: IpvsTable, p: Pkt) {
  return t.outbound(p.buf, p.ipOff, p.len);
}
function state(t: IpvsTable, cport: number): string {
  const c = t.conns.byClient.find(6, addr(CLIENT), cport, VIP, 80);
  return c === null ? "gone" : TCP_STATE_NAMES[c.state]!;
}

test("TCP states along a whole connection, with active/inactive counts and timeouts", (t) => {
  const { t: table, clock } = setup({}, 1);
  const d = table.services()[0]!.dests[0]!;
  const r = inb(table, tcp(CLIENT, 40000, VIP, 80, SYN));
  t.is(r.verdict, "forwarded");
  t.true(r.newConn);
  t.is(state(table, 40000), "SYN_RECV");
  t.deepEqual([d.activeConns, d.inactConns], [1, 0]);
  t.is(r.conn!.expires, 60 * SEC);
  const sa = tcp(ep(0), 8080, CLIENT, 40000, SYN | ACK);
  t.is(outb(table, sa).verdict, "forwarded");
  t.is(fields(sa).src, "10.96.0.10");
  t.is(fields(sa).sport, 80);
  t.is(state(table, 40000), "SYN_RECV");
  inb(table, tcp(CLIENT, 40000, VIP, 80, ACK));
  t.is(state(table, 40000), "ESTABLISHED");
  t.is(r.conn!.expires, 15 * 60 * SEC);
  inb(table, tcp(CLIENT, 40000, VIP, 80, FIN | ACK));
  t.is(state(table, 40000), "CLOSE_WAIT");
  t.deepEqual([d.activeConns, d.inactConns], [0, 1]);
  outb(table, tcp(ep(0), 8080, CLIENT, 40000, FIN | ACK));
  t.is(state(table, 40000), "TIME_WAIT");
  inb(table, tcp(CLIENT, 40000, VIP, 80, ACK));
  t.is(state(table, 40000), "TIME_WAIT");
  t.is(r.conn!.expires, 2 * 60 * SEC);
  clock.advanceBy(2 * 60 * SEC - 1);
  table.runTimers();
  t.is(state(table, 40000), "TIME_WAIT");
  clock.advanceBy(1);
  table.runTimers();
  t.is(state(table, 40000), "gone");
  t.deepEqual([d.activeConns, d.inactConns], [0, 0]);
  t.is(d.stats.conns, 1);
  t.is(d.stats.inpkts, 4);
  t.is(d.stats.outpkts, 2);
});

test("only a SYN creates a TCP connection; RST closes it; UDP needs no handshake; ICMP echo is not IPVS", (t) => {
  const { t: table } = setup({}, 1);
  t.is(inb(table, tcp(CLIENT, 41000, VIP, 80, ACK)).reason, "not-syn");
  t.is(inb(table, tcp(CLIENT, 41000, VIP, 80, SYN | RST)).verdict, "not-virtual");
  t.is(inb(table, tcp(CLIENT, 41000, VIP, 81, SYN)).reason, "no-service");
  inb(table, tcp(CLIENT, 41000, VIP, 80, SYN));
  inb(table, tcp(CLIENT, 41000, VIP, 80, RST));
  t.is(state(table, 41000), "SYN_RECV", "the INPUT table keeps SYN_RECV on RST");
  inb(table, tcp(CLIENT, 41000, VIP, 80, ACK));
  inb(table, tcp(CLIENT, 41000, VIP, 80, RST));
  t.is(state(table, 41000), "CLOSE");
  t.is(inb(table, echo(CLIENT, VIP)).verdict, "not-virtual");
  const { t: sloppy } = setup({ sysctl: { sloppyTcp: 1 } }, 1);
  t.is(inb(sloppy, tcp(CLIENT, 41000, VIP, 80, ACK)).verdict, "forwarded");

  const u = makeTable();
  const ukey = { protocol: "udp" as const, addr: VIP, port: 53 };
  u.t.addService(ukey, { scheduler: "rr" });
  const d = u.t.addDest(ukey, { addr: ep(0), port: 53 });
  const r = inb(u.t, udp(CLIENT, 5353, VIP, 53));
  t.is(r.verdict, "forwarded");
  t.is(r.conn!.expires, 5 * 60 * SEC);
  t.deepEqual([d.activeConns, d.inactConns], [0, 1], "UDP connections are never active");
});

test("no server available: no-dest with ICMP port unreachable (ip_vs_leave)", (t) => {
  const { t: table } = setup({}, 1);
  table.editDest(KEY, { addr: ep(0), port: 8080, weight: 0 });
  const r = inb(table, tcp(CLIENT, 42000, VIP, 80, SYN));
  t.is(r.verdict, "no-dest");
  t.is(r.icmp, "port-unreachable");
});

test("weight 0 (quiescent): no new connections, the existing one keeps working", (t) => {
  const { t: table } = setup({}, 2);
  const first = inb(table, tcp(CLIENT, 43000, VIP, 80, SYN)).conn!;
  const dest = first.dest!;
  table.editDest(KEY, { addr: dest.addr, port: 8080, weight: 0 });
  for (let i = 1; i <= 5; i++) t.not(inb(table, tcp(CLIENT, 43000 + i, VIP, 80, SYN)).conn!.dest, dest);
  const p = tcp(CLIENT, 43000, VIP, 80, ACK);
  const r = inb(table, p);
  t.is(r.verdict, "forwarded");
  t.is(r.conn, first);
  t.is(fields(p).dst, `10.244.1.${dest.addr & 255}`);
});

test("deleting a server: expire_nodest_conn=0 drops its packets, =1 also expires the conn", (t) => {
  for (const [nodest, behaviour] of [[0, "modern"], [1, "legacy"], [1, "modern"]] as const) {
    const { t: table } = setup({ sysctl: { expireNodestConn: nodest }, reuseBehaviour: behaviour }, 2);
    const c = inb(table, tcp(CLIENT, 44000, VIP, 80, SYN)).conn!;
    inb(table, tcp(CLIENT, 44000, VIP, 80, ACK));
    table.deleteDest(KEY, c.dest!.addr, 8080);
    if (nodest === 1 && behaviour === "modern") {
      // ip_vs_expire_nodest_conn_flush (5.9+) removes it right away.
      t.is(table.conns.byClient.find(6, addr(CLIENT), 44000, VIP, 80), null);
      t.is(inb(table, tcp(CLIENT, 44000, VIP, 80, ACK)).reason, "not-syn");
      continue;
    }
    t.is(c.dest!.service.trash.size, 1);
    const r = inb(table, tcp(CLIENT, 44000, VIP, 80, ACK));
    t.is(r.verdict, "dropped");
    t.is(r.reason, "dest-unavailable");
    t.is(c.dead, nodest === 1);
    // Replies from the deleted server are still reverse-NATed while the conn lives.
    if (nodest === 0) t.is(outb(table, tcp(c.daddr, 8080, CLIENT, 44000, ACK)).verdict, "forwarded");
  }
});

test("persistence: a client stays on one server until its template expires", (t) => {
  const { t: table, clock } = setup({}, 3, "rr", 30);
  const d0 = inb(table, tcp(CLIENT, 45000, VIP, 80, SYN)).conn!.dest!;
  for (let i = 1; i < 6; i++) t.is(inb(table, tcp(CLIENT, 45000 + i, VIP, 80, SYN)).conn!.dest, d0);
  t.is(d0.persistConns, 1);
  t.not(inb(table, tcp("10.244.2.6", 45000, VIP, 80, SYN)).conn!.dest, d0, "other clients are scheduled");
  // Let every connection die; the template keeps 30 s from its last use, then expires.
  clock.advanceBy(61 * SEC);
  table.runTimers();
  t.is(d0.persistConns, 1, "a template is kept while it controls connections (re-armed for 60 s)");
  clock.advanceBy(61 * SEC);
  table.runTimers();
  t.is(d0.persistConns, 0);
  const next = inb(table, tcp(CLIENT, 46000, VIP, 80, SYN)).conn!.dest!;
  t.not(next, d0, "rr moved on after the template expired");
});

test("persistence netmask groups a client network; quiescent template with expire_quiescent_template", (t) => {
  const { t: table } = makeTable({ sysctl: { expireQuiescentTemplate: 1 } });
  table.addService(KEY, { scheduler: "rr", persistent: 300, netmask: 0xffffff00 });
  table.addDest(KEY, { addr: ep(0), port: 8080 });
  table.addDest(KEY, { addr: ep(1), port: 8080 });
  const d = inb(table, tcp("10.9.9.1", 1000, VIP, 80, SYN)).conn!.dest!;
  t.is(inb(table, tcp("10.9.9.77", 1000, VIP, 80, SYN)).conn!.dest, d);
  table.editDest(KEY, { addr: d.addr, port: 8080, weight: 0 });
  t.not(inb(table, tcp("10.9.9.78", 1000, VIP, 80, SYN)).conn!.dest, d, "the template was invalidated");
  const { t: keep } = makeTable();
  keep.addService(KEY, { scheduler: "rr", persistent: 300 });
  keep.addDest(KEY, { addr: ep(0), port: 8080 });
  keep.addDest(KEY, { addr: ep(1), port: 8080 });
  const kd = inb(keep, tcp("10.9.9.1", 1000, VIP, 80, SYN)).conn!.dest!;
  keep.editDest(KEY, { addr: kd.addr, port: 8080, weight: 0 });
  t.is(inb(keep, tcp("10.9.9.1", 1001, VIP, 80, SYN)).conn!.dest, kd, "without it persistence still sends new conns to a weight-0 server");
});

function closeToTimeWait(table: IpvsTable, cport: number) {
  const c = inb(table, tcp(CLIENT, cport, VIP, 80, SYN)).conn!;
  outb(table, tcp(c.daddr, 8080, CLIENT, cport, SYN | ACK));
  inb(table, tcp(CLIENT, cport, VIP, 80, ACK));
  inb(table, tcp(CLIENT, cport, VIP, 80, FIN | ACK));
  outb(table, tcp(c.daddr, 8080, CLIENT, cport, FIN | ACK));
  inb(table, tcp(CLIENT, cport, VIP, 80, ACK));
  return c;
}

test("conn_reuse_mode=1: a SYN on a TIME_WAIT tuple is rescheduled", (t) => {
  const { t: table } = setup({}, 2);
  const old = closeToTimeWait(table, 47000);
  t.is(TCP_STATE_NAMES[old.state], "TIME_WAIT");
  const r = inb(table, tcp(CLIENT, 47000, VIP, 80, SYN));
  t.is(r.verdict, "forwarded");
  t.true(r.newConn);
  t.true(old.dead);
  t.not(r.conn!.dest, old.dest, "rr picked the other server");
});

test("conn_reuse_mode=0: the SYN reuses the old connection and server", (t) => {
  const { t: table } = setup({ sysctl: { connReuseMode: 0 } }, 2);
  const old = closeToTimeWait(table, 48000);
  const r = inb(table, tcp(CLIENT, 48000, VIP, 80, SYN));
  t.is(r.conn, old);
  t.false(r.newConn);
  t.is(TCP_STATE_NAMES[old.state], "SYN_RECV");
});

test("legacy kernels with conntrack=1 drop the reusing SYN (the 1 s stall, kubernetes #81775)", (t) => {
  const { t: table } = setup({ sysctl: { conntrack: 1 }, reuseBehaviour: "legacy" }, 2);
  const old = closeToTimeWait(table, 49000);
  const r = inb(table, tcp(CLIENT, 49000, VIP, 80, SYN));
  t.is(r.verdict, "dropped");
  t.is(r.reason, "reuse-old-conntrack");
  t.true(old.dead, "the old connection was expired");
  const retry = inb(table, tcp(CLIENT, 49000, VIP, 80, SYN));
  t.is(retry.verdict, "forwarded");
  t.true(retry.newConn);
  // Modern kernels with conntrack=1 do not drop it (the conntrack entry is replaced).
  const { t: modern } = setup({ sysctl: { conntrack: 1 } }, 2);
  closeToTimeWait(modern, 49000);
  t.is(inb(modern, tcp(CLIENT, 49000, VIP, 80, SYN)).verdict, "forwarded");
});

test("expire_nodest_conn + weight 0: a SYN on an existing tuple is rescheduled even with conn_reuse_mode=0 (>= 5.16)", (t) => {
  const { t: table } = setup({ sysctl: { connReuseMode: 0, expireNodestConn: 1 } }, 2);
  const c = inb(table, tcp(CLIENT, 50000, VIP, 80, SYN)).conn!;
  inb(table, tcp(CLIENT, 50000, VIP, 80, ACK));
  table.editDest(KEY, { addr: c.dest!.addr, port: 8080, weight: 0 });
  const r = inb(table, tcp(CLIENT, 50000, VIP, 80, SYN));
  t.true(r.newConn);
  t.not(r.conn!.dest, c.dest);
  const { t: legacy } = setup({ sysctl: { connReuseMode: 0, expireNodestConn: 1 }, reuseBehaviour: "legacy" }, 2);
  const lc = inb(legacy, tcp(CLIENT, 50000, VIP, 80, SYN)).conn!;
  legacy.editDest(KEY, { addr: lc.dest!.addr, port: 8080, weight: 0 });
  t.is(inb(legacy, tcp(CLIENT, 50000, VIP, 80, SYN)).conn, lc, "before 5.16 conn_reuse_mode=0 disabled the check");
});

test("upper threshold marks a server overloaded until it drains below 3/4", (t) => {
  const { t: table } = makeTable();
  table.addService(KEY, { scheduler: "rr" });
  const a = table.addDest(KEY, { addr: ep(0), port: 8080, uThreshold: 4 });
  table.addDest(KEY, { addr: ep(1), port: 8080 });
  let onA = 0;
  for (let i = 0; i < 20; i++) if (inb(table, tcp(CLIENT, 51000 + i, VIP, 80, SYN)).conn!.dest === a) onA++;
  t.is(onA, 4);
  t.true((a.flags & 2) !== 0);
});

test("service and server errors are PodwireErrors with ipvsadm's messages", (t) => {
  const { t: table } = setup({}, 1);
  const dup = t.throws(() => table.addService(KEY, { scheduler: "rr" }));
  t.regex(dup!.message, /Service already exists/);
  t.regex(t.throws(() => table.addDest(KEY, { addr: ep(0), port: 8080 }))!.message, /Destination already exists/);
  t.regex(t.throws(() => table.editDest(KEY, { addr: ep(5), port: 8080, weight: 2 }))!.message, /No such destination/);
  t.regex(t.throws(() => table.deleteService({ fwmark: 9 }))!.message, /No such service/);
  t.regex(t.throws(() => table.addDest({ fwmark: 9 }, { addr: ep(5), port: 0 }))!.message, /Service not defined/);
  t.regex(t.throws(() => table.addDest(KEY, { addr: ep(6), port: 1, weight: -1 }))!.message, /weight/);
});

test("fwmark services match on the mark first and key templates by the mark", (t) => {
  const { t: table } = makeTable();
  table.addService({ fwmark: 7 }, { scheduler: "rr", persistent: 60 });
  table.addDest({ fwmark: 7 }, { addr: ep(0), port: 0 });
  table.addDest({ fwmark: 7 }, { addr: ep(1), port: 0 });
  // The result object is reused: keep the conns, not the results.
  const a = inb2(table, tcp(CLIENT, 52000, VIP, 443, SYN), 7).conn!;
  const b = inb2(table, tcp(CLIENT, 52001, VIP, 8443, SYN), 7).conn!;
  t.is(a.dest, b.dest, "one template per client for the whole mark");
  t.is(a.dport, 443, "port-0 servers keep the packet's port");
  t.is(table.conns.size, 3);
  t.is(inb2(table, tcp(CLIENT, 52002, VIP, 443, SYN), 0).verdict, "not-virtual");
});

function inb2(t: IpvsTable, p: Pkt, mark: number) {
  return t.inbound(p.buf, p.ipOff, p.len, mark);
}
