/**
 * Services whose endpoints live on a node's host network (the `kubernetes` Service, node
 * agents, hostNetwork Pods), reached across nodes by every kind of traffic. These paths
 * once failed: the client node's conntrack entry rode inside the packet buffer into the
 * endpoint node's stack (a veth must scrub it, as __dev_forward_skb does), so the reply
 * was INVALID and answered with a RST.
 */
import test from "ava";
import { parseIpv4 } from "../../src/base/index.js";
import { bootCluster } from "../../src/cluster/boot.js";
import { type ExchangeProto, runExchange } from "../../src/cluster/exchange.js";
import { defaultCluster, parseClusterYaml } from "../../src/cluster/load.js";
import type { ProxyMode } from "../../src/cluster/spec.js";
import { PacketBuffer, Simulator, createVethPair } from "../../src/netdev/index.js";
import { threeNodes } from "../fixtures/three-nodes.js";

const CLUSTER = `${threeNodes("hostnet")}---
apiVersion: v1
kind: Pod
metadata: {name: client, labels: {app: client}}
spec: {nodeName: worker-1, containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: agent, labels: {app: agent}}
spec:
  nodeName: worker-2
  hostNetwork: true
  containers: [{name: agent, ports: [{containerPort: 9100}, {containerPort: 9101, protocol: UDP}]}]
---
apiVersion: v1
kind: Service
metadata: {name: agent}
spec:
  type: NodePort
  selector: {app: agent}
  ports:
  - {name: metrics, port: 9100}
  - {name: stats, port: 9101, protocol: UDP}
`;

for (const mode of ["iptables", "ipvs"] as ProxyMode[]) {
  const boot = () => {
    const spec = parseClusterYaml(CLUSTER, "hostnet.yaml");
    spec.proxyMode = mode;
    return bootCluster(spec);
  };
  const send = (r: ReturnType<typeof boot>, fromNs: string, dst: string, port: number, proto: ExchangeProto) => {
    const { cluster } = r;
    const from = cluster.pod("default", fromNs)?.ns ?? cluster.node(fromNs)?.ns ?? [...cluster.externals.values()].find((e) => e.spec.name === fromNs)!.ns;
    return runExchange(cluster, { title: "t", from, fromLabel: fromNs, dst: parseIpv4(dst), dstPort: port, proto });
  };
  const clusterIP = (r: ReturnType<typeof boot>, ns: string, name: string) => r.services.model.services.find((s) => s.namespace === ns && s.name === name)!;

  test(`${mode}: Pod → kubernetes Service (API server on another node's host network), TCP`, (t) => {
    const r = boot();
    const res = send(r, "client", "10.96.0.1", 443, "tcp");
    t.true(res.ok, res.outcome);
    t.regex(res.outcome, /kube-apiserver\) at 192\.168\.56\.10:6443/);
    t.false(res.events.some((e) => e.detail.includes("no socket")));
  });

  test(`${mode}: the embedded cluster's client reaches the kubernetes Service`, (t) => {
    const spec = defaultCluster();
    spec.proxyMode = mode;
    const { cluster } = bootCluster(spec);
    const res = runExchange(cluster, { title: "t", from: cluster.pod("default", "client")!.ns, fromLabel: "client", dst: parseIpv4("10.96.0.1"), dstPort: 443, proto: "tcp" });
    t.true(res.ok, res.outcome);
  });

  test(`${mode}: Pod → Service with a hostNetwork endpoint on another node, TCP and UDP`, (t) => {
    const r = boot();
    const svc = clusterIP(r, "default", "agent");
    const tcp = send(r, "client", svc.clusterIP!, 9100, "tcp");
    t.true(tcp.ok, tcp.outcome);
    const udp = send(r, "client", svc.clusterIP!, 9101, "udp");
    t.true(udp.ok, udp.outcome);
  });

  test(`${mode}: node → Service with a hostNetwork endpoint on another node`, (t) => {
    const r = boot();
    const res = send(r, "worker-1", clusterIP(r, "default", "agent").clusterIP!, 9100, "tcp");
    t.true(res.ok, res.outcome);
    const api = send(r, "worker-1", "10.96.0.1", 443, "tcp");
    t.true(api.ok, api.outcome);
  });

  test(`${mode}: outside → NodePort on a node without the endpoint, endpoint on another node's host network`, (t) => {
    const r = boot();
    const nodePort = clusterIP(r, "default", "agent").ports.find((p) => p.name === "metrics")!.nodePort;
    const res = send(r, "outside", "192.168.56.11", nodePort, "tcp");
    t.true(res.ok, res.outcome);
  });

  test(`${mode}: Pod → hostNetwork Pod directly across nodes`, (t) => {
    const r = boot();
    const res = send(r, "client", "192.168.56.12", 9100, "tcp");
    t.true(res.ok, res.outcome);
  });
}

test("a veth hands its peer a packet without conntrack state, and across namespaces without a mark", (t) => {
  const sim = new Simulator(1);
  const [a, b] = createVethPair(sim, { name: "a", mac: 1 }, { name: "b", mac: 2 });
  a.owner = "ns1";
  b.owner = "ns2";
  let got: PacketBuffer | null = null;
  b.rxHandler = { handleFrame: (_d, p) => void (got = p) };
  const pkt = new PacketBuffer();
  pkt.setBytes(new Uint8Array(60));
  pkt.ct = {};
  pkt.ctState = 2;
  pkt.ctDir = 1;
  pkt.mark = 0x4000;
  pkt.ipvs = {};
  a.transmit(pkt);
  sim.run(sim.now() + 1_000_000);
  t.truthy(got);
  t.like(got!, { ct: null, ctState: 0, ctDir: 0, ipvs: null, mark: 0 });
});
