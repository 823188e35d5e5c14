/**
 * Netfilter inside the emulated cluster: rules loaded into a node's namespace act on real
 * packets at the kernel's hook points, conntrack un-NATs replies, REJECT answers, and
 * counters count.
 */
import test from "ava";
import { ipv4 } from "../../src/base/index.js";
import { startPodApps } from "../../src/cluster/apps.js";
import { Cluster } from "../../src/cluster/build.js";
import { runExchange } from "../../src/cluster/exchange.js";
import { defaultCluster } from "../../src/cluster/load.js";
import { applyRestore } from "../../src/netfilter/apply-restore.js";
import { parseRestore } from "../../src/netfilter/restore-parse.js";
import { printRuleset } from "../../src/netfilter/save-print.js";

/** The default cluster with `rules` added (iptables-restore --noflush) on every node. */
function clusterWith(rules: string) {
  const c = new Cluster(defaultCluster());
  startPodApps(c);
  for (const n of c.nodes.values()) {
    applyRestore(n.netfilter.ruleset, parseRestore(rules, "test rules"), { noflush: true });
    n.netfilter.setRuleset(n.netfilter.ruleset);
  }
  return c;
}

const VIP_RULES = `*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:SVC - [0:0]
-A PREROUTING -j SVC
-A OUTPUT -j SVC
-A SVC -d 10.96.0.50/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.2.2:8080
-A SVC -d 10.96.0.51/32 -p udp -m udp --dport 53 -j DNAT --to-destination 10.244.0.2:53
COMMIT
*filter
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:BLOCK - [0:0]
-I FORWARD 1 -j BLOCK
-A BLOCK -d 10.96.0.60/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with tcp-reset
-A BLOCK -d 10.96.0.61/32 -p udp -m udp --dport 53 -j REJECT
COMMIT
`;

test("DNAT at PREROUTING: a Pod reaches a virtual IP, the reply comes back from the virtual IP", (t) => {
  const c = clusterWith(VIP_RULES);
  const client = c.pod("default", "client")!;
  const r = runExchange(c, { title: "vip", from: client.ns, fromLabel: "client", dst: ipv4("10.96.0.50"), dstPort: 80, proto: "tcp" });
  t.true(r.ok, r.outcome);
  t.regex(r.outcome, /hello from default\/web-1/);
  // The client's socket only ever saw the VIP: its connection is keyed on 10.96.0.50.
  const worker1 = c.node("worker-1")!;
  const entries = worker1.netfilter.conntrack.list().filter((l) => l.includes("dst=10.96.0.50"));
  t.is(entries.length, 1);
  t.regex(entries[0]!, /^tcp\s+6 \d+ (TIME_WAIT|CLOSE|LAST_ACK|FIN_WAIT|CLOSE_WAIT) src=10\.244\.1\.2 dst=10\.96\.0\.50 sport=\d+ dport=80 src=10\.244\.2\.2 dst=10\.244\.1\.2 sport=8080 dport=\d+ \[ASSURED\]/);
  // The DNAT rule counted exactly one packet (the SYN): later packets follow conntrack.
  const saved = printRuleset(worker1.netfilter.ruleset, { counters: true });
  t.regex(saved, /\[1:\d+\] -A SVC -d 10\.96\.0\.50\/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10\.244\.2\.2:8080/);
});

test("DNAT of UDP to CoreDNS across nodes: the answer's source is rewritten back to the virtual IP", (t) => {
  const c = clusterWith(VIP_RULES);
  const client = c.pod("default", "client")!;
  const r = runExchange(c, { title: "dns", from: client.ns, fromLabel: "client", dst: ipv4("10.96.0.51"), dstPort: 53, proto: "dns", dnsName: "10-244-2-2.default.pod.cluster.local" });
  t.true(r.ok, r.outcome);
  t.regex(r.outcome, /from 10\.96\.0\.51/);
});

test("REJECT in FORWARD: TCP gets a reset, UDP an ICMP port unreachable, from the node", (t) => {
  const c = clusterWith(VIP_RULES);
  const client = c.pod("default", "client")!;
  const tcp = runExchange(c, { title: "rst", from: client.ns, fromLabel: "client", dst: ipv4("10.96.0.60"), dstPort: 80, proto: "tcp" });
  t.false(tcp.ok);
  t.is(tcp.outcome, "connection refused (TCP RST)");
  const udp = runExchange(c, { title: "icmp", from: client.ns, fromLabel: "client", dst: ipv4("10.96.0.61"), dstPort: 53, proto: "udp" });
  t.false(udp.ok);
  // icmp_send: for a forwarded packet the source is picked by routing back to the client
  // (the node's cni0 address), not the virtual IP; a TCP RST swaps the addresses instead.
  t.regex(udp.outcome, /^ICMP port unreachable from 10\.244\.1\.1 \(node\/worker-1\)/);
});

test("flannel's masquerade: a Pod's ping to another node leaves with the node's address and the reply is un-NATed", (t) => {
  const c = new Cluster(defaultCluster());
  const client = c.pod("default", "client")!;
  const r = runExchange(c, { title: "ping", from: client.ns, fromLabel: "client", dst: ipv4("192.168.56.12"), dstPort: 0, proto: "icmp" });
  t.true(r.ok, r.outcome);
  const entry = c.node("worker-1")!.netfilter.conntrack.list().find((l) => l.startsWith("icmp"));
  t.regex(entry!, /src=10\.244\.1\.2 dst=192\.168\.56\.12 .* src=192\.168\.56\.12 dst=192\.168\.56\.11 /);
});

test("bridge-nf-call-iptables: same-node Pod traffic is tracked by the node's conntrack; off, it is not", (t) => {
  const c = new Cluster(defaultCluster());
  startPodApps(c);
  const client = c.pod("default", "client")!;
  const web0 = c.pod("default", "web-0")!;
  runExchange(c, { title: "same node", from: client.ns, fromLabel: "client", dst: web0.spec.podIP, dstPort: 8080, proto: "tcp" });
  const node = c.node("worker-1")!;
  t.true(node.netfilter.conntrack.list().some((l) => l.includes("dst=10.244.1.3 sport=") && l.includes("dport=8080")));
  node.netfilter.conntrack.flush();
  node.cni0.nfCallIptables = false;
  runExchange(c, { title: "same node", from: client.ns, fromLabel: "client", dst: web0.spec.podIP, dstPort: 8080, proto: "tcp" });
  t.is(node.netfilter.conntrack.list().length, 0);
});
