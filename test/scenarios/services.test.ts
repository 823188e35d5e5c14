/**
 * The four kinds of traffic with Services, end to end with real packets both ways, on a
 * cluster running kube-proxy's iptables rules on every node.
 */
import test from "ava";
import { ipv4 } from "../../src/base/index.js";
import { bootCluster } from "../../src/cluster/boot.js";
import { type ExchangeProto, runExchange } from "../../src/cluster/exchange.js";
import { parseClusterYaml } from "../../src/cluster/load.js";
import { servicePath } from "../../src/cluster/service-path.js";
import { threeNodes } from "../fixtures/three-nodes.js";

const NODES = `${threeNodes("services", { outside: "192.168.56.100", blocked: "192.168.56.101" })}---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, labels: {app: client}}
spec: {nodeName: worker-1, containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: default, labels: {app: a, tier: web}}
spec: {nodeName: worker-1, containers: [{name: web, ports: [{name: http, containerPort: 8080}, {name: echo, containerPort: 7, protocol: UDP}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: default, labels: {app: b, tier: web}}
spec: {nodeName: worker-2, containers: [{name: web, ports: [{name: http, containerPort: 8080}, {name: echo, containerPort: 7, protocol: UDP}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: coredns-0, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  nodeName: control-plane
  containers: [{name: coredns, ports: [{name: dns, containerPort: 53, protocol: UDP}]}]
---
apiVersion: v1
kind: Service
metadata: {name: only-a, namespace: default}
spec: {selector: {app: a}, ports: [{name: http, port: 80, targetPort: http}]}
---
apiVersion: v1
kind: Service
metadata: {name: only-b, namespace: default}
spec: {selector: {app: b}, ports: [{name: http, port: 80, targetPort: http}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  selector: {tier: web}
  ports: [{name: http, port: 80, targetPort: http, nodePort: 30080}, {name: echo, port: 7, targetPort: echo, protocol: UDP, nodePort: 30007}]
---
apiVersion: v1
kind: Service
metadata: {name: local-b, namespace: default}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: {app: b}
  ports: [{name: http, port: 80, targetPort: http, nodePort: 30081}]
---
apiVersion: v1
kind: Service
metadata: {name: lb, namespace: default}
spec:
  type: LoadBalancer
  selector: {tier: web}
  externalIPs: [192.168.56.201]
  loadBalancerSourceRanges: [192.168.56.100/32]
  ports: [{name: http, port: 80, targetPort: http, nodePort: 30082}]
status:
  loadBalancer:
    ingress: [{ip: 192.168.56.200}]
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: default}
spec: {selector: {app: nobody}, ports: [{name: http, port: 80, targetPort: 8080}]}
`;

function boot() {
  return bootCluster(parseClusterYaml(NODES, "services.yaml"));
}

function exchange(r: ReturnType<typeof boot>, from: string, dst: number, dstPort: number, proto: ExchangeProto = "tcp") {
  const c = r.cluster;
  const ns = from.startsWith("pod/")
    ? c.pods.get(from.slice(4))!.ns
    : from.startsWith("node/")
      ? c.node(from.slice(5))!.ns
      : c.externals.get(from.slice(4))!.ns;
  const result = runExchange(c, { title: "t", from: ns, fromLabel: from, dst, dstPort, proto });
  const srcIp = ns.selectSource(ns.routeOutput(dst)!);
  return { result, path: servicePath(c, result, srcIp, dst, dstPort, proto) };
}

const vip = (r: ReturnType<typeof boot>, name: string) => ipv4(r.services.service("default", name)!.clusterIP!);

test("Pod → ClusterIP on the same node and across nodes; the reply comes back from the ClusterIP", (t) => {
  const r = boot();
  const same = exchange(r, "pod/default/client", vip(r, "only-a"), 80);
  t.true(same.result.ok, same.result.outcome);
  t.regex(same.result.outcome, /hello from default\/a .* you are 10\.244\.1\.2:/, "the endpoint sees the Pod's own address");
  t.is(same.path.endpoint, "10.244.1.3:8080");
  t.false(same.path.masquerade);
  const across = exchange(r, "pod/default/client", vip(r, "only-b"), 80);
  t.true(across.result.ok, across.result.outcome);
  t.regex(across.result.outcome, /hello from default\/b .* you are 10\.244\.1\.2:/);
  // The client's TCP connection is keyed on the ClusterIP: the un-DNAT happened.
  t.is(across.path.endpoint, "10.244.2.2:8080");
});

test("UDP to a ClusterIP across nodes is DNATed and the echo is un-NATed", (t) => {
  const r = boot();
  const x = exchange(r, "pod/default/client", vip(r, "web"), 7, "udp");
  t.true(x.result.ok, x.result.outcome);
  t.true(x.result.outcome.endsWith(`from ${r.services.service("default", "web")!.clusterIP}:7`), x.result.outcome);
  t.deepEqual(x.path.candidates.map((c) => c.destination).sort(), ["10.244.1.3:7", "10.244.2.2:7"]);
});

test("hairpin: a Pod reaches itself through its own Service, masqueraded so the reply returns", (t) => {
  const r = boot();
  const x = exchange(r, "pod/default/a", vip(r, "only-a"), 80);
  t.true(x.result.ok, x.result.outcome);
  // KUBE-SEP's `-s <endpoint> -j KUBE-MARK-MASQ`: the Pod sees the node's cni0 address.
  t.regex(x.result.outcome, /you are 10\.244\.1\.1:/);
  t.true(x.path.masquerade);
});

test("Node → ClusterIP: the node's own traffic is DNATed at OUTPUT", (t) => {
  const r = boot();
  const x = exchange(r, "node/control-plane", vip(r, "only-b"), 80);
  t.true(x.result.ok, x.result.outcome);
  t.regex(x.result.outcome, /hello from default\/b/);
});

test("outside → NodePort on every node, masqueraded (externalTrafficPolicy Cluster)", (t) => {
  const r = boot();
  for (const node of ["control-plane", "worker-1", "worker-2"]) {
    const ip = r.cluster.node(node)!.spec.internalIP;
    const x = exchange(r, "ext/outside", ip, 30080);
    t.true(x.result.ok, `${node}: ${x.result.outcome}`);
    t.notRegex(x.result.outcome, /you are 192\.168\.56\.100:/, "the source address is not preserved");
    t.true(x.path.masquerade, node);
  }
});

test("externalTrafficPolicy Local: the client's address is preserved; nodes without a local endpoint drop", (t) => {
  const r = boot();
  const onB = exchange(r, "ext/outside", r.cluster.node("worker-2")!.spec.internalIP, 30081);
  t.true(onB.result.ok, onB.result.outcome);
  t.regex(onB.result.outcome, /you are 192\.168\.56\.100:/, "source IP preserved");
  t.false(onB.path.masquerade);
  const onA = exchange(r, "ext/outside", r.cluster.node("worker-1")!.spec.internalIP, 30081);
  t.false(onA.result.ok);
  t.is(onA.path.verdict, "drop");
  t.regex(onA.result.outcome, /timed out/);
});

test("LoadBalancer IP and external IP, with loadBalancerSourceRanges", (t) => {
  const r = boot();
  const allowed = exchange(r, "ext/outside", ipv4("192.168.56.200"), 80);
  t.true(allowed.result.ok, allowed.result.outcome);
  const blocked = exchange(r, "ext/blocked", ipv4("192.168.56.200"), 80);
  t.false(blocked.result.ok);
  t.is(blocked.path.verdict, "drop");
  const external = exchange(r, "ext/blocked", ipv4("192.168.56.201"), 80);
  t.true(external.result.ok, `source ranges apply to LoadBalancer IPs only: ${external.result.outcome}`);
});

test("a Service without endpoints: kube-proxy's REJECT refuses the connection", (t) => {
  const r = boot();
  const x = exchange(r, "pod/default/client", vip(r, "empty"), 80);
  t.false(x.result.ok);
  // `-j REJECT` defaults to icmp-port-unreachable; a connecting TCP socket reports it as
  // ECONNREFUSED. For a forwarded packet the error comes from the node's address.
  t.is(x.result.outcome, "ICMP port unreachable from 10.244.1.1 (node/worker-1)");
  t.is(x.path.verdict, "reject");
});

test("CoreDNS answers for Services: ClusterIP for normal Services, NXDOMAIN for unknown names", (t) => {
  const r = boot();
  const c = r.cluster;
  const client = c.pod("default", "client")!;
  const kubeDns = ipv4(r.services.service("kube-system", "kube-dns")!.clusterIP!);
  const ok = runExchange(c, { title: "dns", from: client.ns, fromLabel: "client", dst: kubeDns, dstPort: 53, proto: "dns", dnsName: "only-b.default.svc.cluster.local" });
  t.true(ok.ok, ok.outcome);
  t.deepEqual(ok.resolved, [vip(r, "only-b")]);
  const nx = runExchange(c, { title: "dns", from: client.ns, fromLabel: "client", dst: kubeDns, dstPort: 53, proto: "dns", dnsName: "nope.default.svc.cluster.local" });
  t.false(nx.ok);
  t.regex(nx.outcome, /NXDOMAIN/);
});

test("re-sync: removing an endpoint rewrites only that Service's chains and deletes its stale UDP conntrack entries", (t) => {
  const r = boot();
  // A UDP flow to the `web` Service's echo port lands on one endpoint and stays in conntrack.
  const first = exchange(r, "pod/default/client", vip(r, "web"), 7, "udp");
  t.true(first.result.ok);
  const worker1 = r.cluster.node("worker-1")!;
  const before = worker1.netfilter.conntrack.list().filter((l) => l.startsWith("udp") && l.includes(`dst=${r.services.service("default", "web")!.clusterIP} `));
  t.is(before.length, 1);
  const endpoint = /src=(10\.244\.\d+\.\d+) dst=10\.244\.1\.2 sport=7/.exec(before[0]!)![1]!;
  // Remove that endpoint: pin the Service to the other Pod with an explicit EndpointSlice.
  const other = endpoint === "10.244.1.3" ? "10.244.2.2" : "10.244.1.3";
  const docs = [
    ...r.cluster.spec.otherDocuments,
    {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      body: {
        metadata: { name: "web-manual", namespace: "default", labels: { "kubernetes.io/service-name": "web" } },
        addressType: "IPv4",
        endpoints: [{ addresses: [other], conditions: { ready: true } }],
        ports: [
          { name: "http", port: 8080, protocol: "TCP" },
          { name: "echo", port: 7, protocol: "UDP" },
        ],
      },
      location: { file: "test" },
    },
  ];
  const results = r.services.update(docs);
  const w1 = results.get("worker-1")!;
  t.false(w1.sync!.fullSync);
  t.deepEqual(w1.sync!.writtenServices, ["default/web"]);
  t.is(w1.conntrackDeleted, 1, "kube-proxy deletes the UDP entry pointing at the removed endpoint");
  const again = exchange(r, "pod/default/client", vip(r, "web"), 7, "udp");
  t.true(again.result.ok);
  t.is(again.path.endpoint, `${other}:7`);
});
