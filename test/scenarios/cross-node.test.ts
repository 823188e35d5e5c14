import test from "ava";
import { startPodApps } from "../../src/cluster/apps.js";
import { Cluster } from "../../src/cluster/build.js";
import { runExchange } from "../../src/cluster/exchange.js";
import { defaultCluster, parseClusterYaml } from "../../src/cluster/load.js";
import { Recorder } from "../netns/helpers.js";

function cluster(yamlOverride?: string) {
  const spec = yamlOverride ? parseClusterYaml(yamlOverride, "test.yaml") : defaultCluster();
  const c = new Cluster(spec);
  startPodApps(c);
  return c;
}

test("cross-node UDP: the packet sequence on every device, encapsulated on the node network", (t) => {
  const c = cluster();
  const rec = new Recorder();
  for (const d of c.devices) d.taps.push(rec);
  const client = c.pod("default", "client")!;
  const dns = c.pod("kube-system", "coredns-0")!;
  const r = runExchange(c, { title: "dns", from: client.ns, fromLabel: "client", dst: dns.spec.podIP, dstPort: 53, proto: "dns", dnsName: "10-244-2-2.default.pod.cluster.local" });
  t.true(r.ok, r.outcome);
  // Strip the variable parts (ports, DNS id) to compare the path only.
  const path = rec.lines
    .filter((l) => !l.includes("ARP"))
    .map((l) => l.replace(/\.\d{4,5} >/g, ".P >").replace(/\.\d{4,5}: /g, ".P: ").replace(/: \d+\+? /g, ": ID ").replace(/ \d+\+? A\?/g, " ID A?"));
  const query = path.filter((l) => l.includes("A?"));
  t.deepEqual(
    query.map((l) => l.split(" ")[0] + " " + l.split(" ")[1]),
    [
      "default/client/eth0 tx",
      "worker-1/vetha1d4b674 rx",
      "worker-1/cni0 rx",
      "worker-1/flannel.1 tx",
      "worker-1/eth0 tx",
      "switch/port-worker-1 rx",
      "switch/nodenet rx",
      "switch/port-control-plane tx",
      "control-plane/eth0 rx",
      "control-plane/flannel.1 rx",
      "control-plane/cni0 tx",
      `control-plane/${dns.hostVeth!.name} tx`,
      "kube-system/coredns-0/eth0 rx",
    ],
  );
  const onWire = query.find((l) => l.startsWith("worker-1/eth0 tx"))!;
  t.regex(onWire, /192\.168\.56\.11\.P > 192\.168\.56\.10\.P: VXLAN, flags \[I\] \(0x08\), vni 1: 10\.244\.1\.2\.P > 10\.244\.0\.2\.53/);
});

test("host-gw overlay: Pod to Pod across nodes is routed via the other node's address, no encapsulation", (t) => {
  const yaml = `apiVersion: podwire.dev/v1alpha1
kind: Cluster
metadata: {name: hg}
spec: {overlay: host-gw}
---
apiVersion: v1
kind: Node
metadata: {name: n1}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: default}
spec: {nodeName: n1, containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: default}
spec: {nodeName: n2, containers: [{name: c, ports: [{containerPort: 80}]}]}
`;
  const c = cluster(yaml);
  const rec = new Recorder();
  for (const d of c.devices) d.taps.push(rec);
  const a = c.pod("default", "a")!;
  const b = c.pod("default", "b")!;
  const r = runExchange(c, { title: "tcp", from: a.ns, fromLabel: "a", dst: b.spec.podIP, dstPort: 80, proto: "tcp" });
  t.true(r.ok, r.outcome);
  t.is(c.podMTU, 1500);
  t.false(rec.lines.some((l) => l.includes("VXLAN")));
  t.true(rec.lines.some((l) => l.startsWith("n1/eth0 tx 10.244.0.2.")), "the Pod's own packet leaves n1's eth0 unencapsulated");
});

test("MTU over VXLAN: a 1500-byte DF datagram from a node to a remote Pod needs fragmentation (flannel.1 MTU 1450)", (t) => {
  const c = cluster();
  const node = c.node("worker-1")!;
  const web1 = c.pod("default", "web-1")!;
  const errors: number[] = [];
  node.ns.icmpErrorListeners.push((_n, r) => errors.push(r.mtu));
  // A node-originated DF datagram bigger than flannel.1's MTU: the local stack refuses it (EMSGSIZE).
  node.ns.sendUdp(40000, web1.spec.podIP, 9, new Uint8Array(1472));
  c.sim.run();
  t.is(node.ns.stats.drops.get("local-mtu-exceeded"), 1);
  // A Pod on a 1500-MTU link elsewhere would be told by the router: simulate by raising the Pod's MTU.
  const client = c.pod("default", "client")!;
  client.eth0!.mtu = 1500;
  client.hostVeth!.mtu = 1500;
  const perr: number[] = [];
  client.ns.icmpErrorListeners.push((_n, r) => perr.push(r.type * 1000 + r.code, r.mtu));
  client.ns.sendUdp(40000, web1.spec.podIP, 9, new Uint8Array(1472));
  c.sim.run();
  t.is(node.ns.stats.drops.get("frag-needed"), 1);
  t.deepEqual(perr, [3004, 1450], "ICMP fragmentation needed, next-hop MTU 1450");
  t.deepEqual(errors, []);
});
