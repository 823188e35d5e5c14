/**
 * The softirq CPU model (netdev/softirq.ts): two datagrams of one UDP flow, sent back to
 * back from one socket through a router that DNATs them, clash at confirm only when two
 * CPUs process them at once; on one CPU the second waits, finds the first's confirmed
 * entry and follows it. Without the model, timing is what it always was.
 */
import test from "ava";
import { ipv4 } from "../../src/base/index.js";
import { parseKernelVersion } from "../../src/conntrack/index.js";
import type { PacketBuffer } from "../../src/netdev/index.js";
import { applyRestore } from "../../src/netfilter/apply-restore.js";
import { newRuleset } from "../../src/netfilter/model.js";
import { parseRestore } from "../../src/netfilter/restore-parse.js";
import { NamespaceNetfilter, type NetworkNamespace, type UdpHandler } from "../../src/netns/index.js";
import { routedPair } from "./helpers.js";

/** Every other new flow to the VIP goes to the second endpoint (statistic nth), so a race shows. */
const RULES = `*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -d 10.96.0.10/32 -p udp -m udp --dport 53 -m statistic --mode nth --every 2 --packet 0 -j DNAT --to-destination 10.0.2.2:53
-A PREROUTING -d 10.96.0.10/32 -p udp -m udp --dport 53 -j DNAT --to-destination 10.0.2.2:5353
COMMIT
`;

class Count implements UdpHandler {
  n = 0;
  times: number[] = [];
  onDatagram(ns: NetworkNamespace, pkt: PacketBuffer): void {
    this.n++;
    this.times.push(ns.sim.now());
    ns.sim.pool.release(pkt);
  }
}

function setup(cpus: number | null, kernel = "5.4.0") {
  const net = routedPair();
  const rs = newRuleset();
  applyRestore(rs, parseRestore(RULES, "test"));
  const nf = new NamespaceNetfilter(net.r, rs, { kernel: parseKernelVersion(kernel)! });
  net.r.nf = nf;
  if (cpus !== null) net.r.setSoftirqCpus(cpus);
  const a53 = new Count();
  const b5353 = new Count();
  net.b.bindUdp(53, a53);
  net.b.bindUdp(5353, b5353);
  // Resolve the neighbours first so the race is not hidden behind ARP.
  net.a.sendPing(ipv4("10.0.1.1"), 1, 1);
  net.r.sendPing(ipv4("10.0.2.2"), 1, 1);
  net.sim.run();
  return { ...net, nf, a53, b5353 };
}

/** Two queries from one socket at the same instant (glibc's parallel A and AAAA). */
function sendPair(s: ReturnType<typeof setup>): void {
  s.a.sendUdp(40000, ipv4("10.96.0.10"), 53, new Uint8Array(20));
  s.a.sendUdp(40000, ipv4("10.96.0.10"), 53, new Uint8Array(20));
  s.sim.run();
}

test("two CPUs: both datagrams are between NEW and confirm at once; different DNAT endpoints clash and the second is dropped (5.4)", (t) => {
  const s = setup(2);
  sendPair(s);
  t.is(s.nf.conntrack.stats.insert_failed, 1);
  t.is(s.nf.conntrack.stats.drop, 1);
  t.is(s.a53.n + s.b5353.n, 1);
  t.is(s.r.softirq!.waited, 0);
});

test("one CPU: the second datagram waits for the first's pass, finds its confirmed entry, and follows it", (t) => {
  const s = setup(1);
  sendPair(s);
  t.is(s.nf.conntrack.stats.insert_failed, 0);
  t.is(s.a53.n, 2);
  t.is(s.b5353.n, 0);
  t.true(s.r.softirq!.waited >= 1);
  // The second left one pass (STACK_RX_NS) after the first.
  t.is(s.a53.times[1]! - s.a53.times[0]!, 2_000);
});

test("two CPUs on a 6.6 kernel: the loser is inserted reply-only and both datagrams get through", (t) => {
  const s = setup(2, "6.6.0");
  sendPair(s);
  t.is(s.nf.conntrack.stats.insert_failed, 0);
  t.is(s.nf.conntrack.stats.clash_resolve, 1);
  t.is(s.a53.n, 1);
  t.is(s.b5353.n, 1);
});

test("without the CPU model the hooks run at the end of the pass, as before: no clash, same timing as one CPU without contention", (t) => {
  const s = setup(null);
  const t0 = s.sim.now();
  s.a.sendUdp(40000, ipv4("10.96.0.10"), 53, new Uint8Array(20));
  s.sim.run();
  const one = setup(2);
  const t1 = one.sim.now();
  one.a.sendUdp(40000, ipv4("10.96.0.10"), 53, new Uint8Array(20));
  one.sim.run();
  t.is(s.a53.times[0]! - t0, one.a53.times[0]! - t1);
  sendPair(s);
  t.is(s.nf.conntrack.stats.insert_failed, 0);
});
