/**
 * Packet-flow tests after kube-proxy's own (pkg/proxy/iptables/proxier_test.go, §2.2 of
 * reference/kube-proxy.md): the generated rules are loaded into podwire's netfilter and
 * packets are traced through the real hook path (trace.ts).
 */
import test from "ava";
import { buildKubeModel, syncIptablesRules, type IptablesProxierOptions, type KubeDocument } from "../../src/kube/index.js";
import { p80, slice, svc, svcPort80, type Ep } from "./build.js";
import { FAKE_MODEL, FAKE_PROXIER } from "./helpers.js";
import { tracerFor } from "./trace.js";

const POD = "10.0.0.2";
const EXT = "203.0.113.2";
const BLK = "203.0.113.130";
const NODE = "192.168.0.2";
const ALT_NODE_IP = "192.168.1.2";
const LOCAL_ADDRS = [NODE, ALT_NODE_IP, "192.168.99.11"];

interface Flow {
  name: string;
  proto?: "tcp" | "udp" | "sctp";
  src: string;
  dst: string;
  port: number;
  output: string;
  masq?: boolean;
}

function rules(docs: KubeDocument[], opts: Partial<IptablesProxierOptions> = {}): string {
  const model = buildKubeModel(docs, [], FAKE_MODEL);
  return syncIptablesRules(model, { ...FAKE_PROXIER, ...opts }).text;
}

function runFlows(t: import("ava").ExecutionContext, text: string, flows: Flow[]): void {
  const tracer = tracerFor(text, LOCAL_ADDRS);
  for (const f of flows) {
    const r = tracer.trace(f.proto ?? "tcp", f.src, f.dst, f.port);
    t.is(r.output, f.output, `${f.name}: output`);
    if (f.masq !== undefined) t.is(r.masq, f.masq, `${f.name}: masquerade`);
  }
}

test("TestClusterIPGeneral", (t) => {
  const docs = [
    svc("ns1", "svc1", { clusterIP: "172.30.0.41", ports: [{ name: "http", port: 80, protocol: "TCP" }] }),
    slice("ns1", "svc1", [{ name: "http", port: 80 }], [{ ip: "10.180.0.1", node: "test-node" }]),
    svc("ns2", "svc2", {
      clusterIP: "172.30.0.42",
      ports: [
        { name: "http", port: 80, protocol: "TCP" },
        { name: "https", port: 443, protocol: "TCP", targetPort: 8443 },
        { name: "dns-udp", port: 53, protocol: "UDP" },
        { name: "dns-tcp", port: 53, protocol: "TCP", targetPort: 5353 },
      ],
    }),
    slice(
      "ns2",
      "svc2",
      [
        { name: "http", port: 80 },
        { name: "https", port: 8443 },
        { name: "dns-udp", port: 53, protocol: "UDP" },
        { name: "dns-tcp", port: 5353 },
      ],
      [{ ip: "10.180.0.1", node: "test-node" }, { ip: "10.180.2.1", node: "host2" }],
    ),
  ];
  runFlows(t, rules(docs), [
    { name: "simple clusterIP", src: "10.180.0.2", dst: "172.30.0.41", port: 80, output: "10.180.0.1:80", masq: false },
    { name: "hairpin to cluster IP", src: "10.180.0.1", dst: "172.30.0.41", port: 80, output: "10.180.0.1:80", masq: true },
    { name: "clusterIP with multiple endpoints", src: "10.180.0.2", dst: "172.30.0.42", port: 80, output: "10.180.0.1:80, 10.180.2.1:80", masq: false },
    { name: "clusterIP with TargetPort", src: "10.180.0.2", dst: "172.30.0.42", port: 443, output: "10.180.0.1:8443, 10.180.2.1:8443", masq: false },
    { name: "clusterIP with TCP and UDP on the same port (TCP)", src: "10.180.0.2", dst: "172.30.0.42", port: 53, output: "10.180.0.1:5353, 10.180.2.1:5353", masq: false },
    { name: "clusterIP with TCP and UDP on the same port (UDP)", proto: "udp", src: "10.180.0.2", dst: "172.30.0.42", port: 53, output: "10.180.0.1:53, 10.180.2.1:53", masq: false },
    { name: "TCP-only port does not match UDP traffic", proto: "udp", src: "10.180.0.2", dst: "172.30.0.42", port: 80, output: "" },
    { name: "svc1 does not accept svc2's ports", src: "10.180.0.2", dst: "172.30.0.41", port: 443, output: "" },
  ]);
});

test("TestClusterIPGeneral: the SCTP port is written as kube-proxy writes it", (t) => {
  // podwire's netfilter has no `-m sctp` extension yet, so SCTP is checked on the text only.
  const text = rules([
    svc("ns2", "svc2", { clusterIP: "172.30.0.42", ports: [{ name: "dns-sctp", port: 53, protocol: "SCTP" }] }),
    slice("ns2", "svc2", [{ name: "dns-sctp", port: 53, protocol: "SCTP" }], [{ ip: "10.180.0.1" }, { ip: "10.180.2.1" }]),
  ]);
  t.true(text.includes('-A KUBE-SERVICES -m comment --comment "ns2/svc2:dns-sctp cluster IP" -m sctp -p sctp -d 172.30.0.42 --dport 53 -j KUBE-SVC-'));
  t.regex(text, /-m comment --comment ns2\/svc2:dns-sctp -m sctp -p sctp -j DNAT --to-destination 10\.180\.2\.1:53\n/);
});

test("TestNoEndpointsReject", (t) => {
  const docs = [
    svc("ns1", "svc1", { type: "LoadBalancer", clusterIP: "172.30.0.41", externalIPs: ["192.168.99.11"], ports: svcPort80({ nodePort: 3001 }) }, { loadBalancer: { ingress: [{ ip: "1.2.3.4" }] } }),
  ];
  const flows: Flow[] = [];
  for (const [who, src] of [["pod", POD], ["external", EXT]] as const) {
    flows.push(
      { name: `${who} to cluster IP`, src, dst: "172.30.0.41", port: 80, output: "REJECT" },
      { name: `${who} to external IP`, src, dst: "192.168.99.11", port: 80, output: "REJECT" },
      { name: `${who} to NodePort`, src, dst: NODE, port: 3001, output: "REJECT" },
      { name: `${who} to LoadBalancer IP`, src, dst: "1.2.3.4", port: 80, output: "REJECT" },
    );
  }
  runFlows(t, rules(docs), flows);
});

test("TestLoadBalancer", (t) => {
  const docs = [
    svc(
      "ns1",
      "svc1",
      { type: "LoadBalancer", clusterIP: "172.30.0.41", externalTrafficPolicy: "Cluster", loadBalancerSourceRanges: ["192.168.0.0/24", " 203.0.113.0/25"], ports: svcPort80({ nodePort: 3001 }) },
      { loadBalancer: { ingress: [{ ip: "1.2.3.4" }, { ip: "5.6.7.8" }] } },
    ),
    slice("ns1", "svc1", p80, [{ ip: "10.180.0.1", node: "host1" }]),
  ];
  const ep = "10.180.0.1:80";
  runFlows(t, rules(docs), [
    { name: "pod to cluster IP", src: POD, dst: "172.30.0.41", port: 80, output: ep, masq: false },
    { name: "external to nodePort", src: EXT, dst: NODE, port: 3001, output: ep, masq: true },
    { name: "nodePort bypasses LoadBalancerSourceRanges", src: BLK, dst: NODE, port: 3001, output: ep, masq: true },
    { name: "accepted external to LB1", src: EXT, dst: "1.2.3.4", port: 80, output: ep, masq: true },
    { name: "accepted external to LB2", src: EXT, dst: "5.6.7.8", port: 80, output: ep, masq: true },
    { name: "blocked external to LB1", src: BLK, dst: "1.2.3.4", port: 80, output: "DROP" },
    { name: "blocked external to LB2", src: BLK, dst: "5.6.7.8", port: 80, output: "DROP" },
    { name: "pod to LB1 (blocked by LoadBalancerSourceRanges)", src: POD, dst: "1.2.3.4", port: 80, output: "DROP" },
    { name: "pod to LB2 (blocked by LoadBalancerSourceRanges)", src: POD, dst: "5.6.7.8", port: 80, output: "DROP" },
    { name: "node to LB1 (allowed by LoadBalancerSourceRanges)", src: NODE, dst: "1.2.3.4", port: 80, output: ep, masq: true },
    { name: "node to LB2 (allowed by LoadBalancerSourceRanges)", src: NODE, dst: "5.6.7.8", port: 80, output: ep, masq: true },
    { name: "same-node LB hairpin (LB IP as source)", src: "1.2.3.4", dst: "1.2.3.4", port: 80, output: ep, masq: true },
  ]);
});

function nodePortDocs(): KubeDocument[] {
  return [
    svc("ns1", "svc1", { type: "NodePort", clusterIP: "172.30.0.41", ports: svcPort80({ nodePort: 3001 }) }),
    slice("ns1", "svc1", p80, [{ ip: "10.180.0.1", node: "test-node" }, { ip: "10.180.2.1", node: "host2" }]),
  ];
}

test("TestNodePorts with localhost NodePorts", (t) => {
  const both = "10.180.0.1:80, 10.180.2.1:80";
  runFlows(t, rules(nodePortDocs()), [
    { name: "pod to cluster IP", src: POD, dst: "172.30.0.41", port: 80, output: both, masq: false },
    { name: "external to nodePort", src: EXT, dst: NODE, port: 3001, output: both, masq: true },
    { name: "node to nodePort", src: NODE, dst: NODE, port: 3001, output: both, masq: true },
    { name: "localhost to nodePort", src: "127.0.0.1", dst: "127.0.0.1", port: 3001, output: both, masq: true },
    { name: "external to nodePort on secondary IP", src: EXT, dst: ALT_NODE_IP, port: 3001, output: both, masq: true },
  ]);
});

test("TestNodePorts without localhost NodePorts", (t) => {
  const text = rules(nodePortDocs(), { localhostNodePorts: false });
  t.true(text.includes("-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS\n"));
  t.false(text.includes("KUBE-FIREWALL"));
  runFlows(t, text, [
    { name: "localhost to nodePort", src: "127.0.0.1", dst: "127.0.0.1", port: 3001, output: "" },
    { name: "external to nodePort", src: EXT, dst: NODE, port: 3001, output: "10.180.0.1:80, 10.180.2.1:80", masq: true },
  ]);
});

test("TestNodePorts with nodePortAddresses", (t) => {
  const text = rules(nodePortDocs(), { nodePortAddresses: ["192.168.0.0/24", "127.0.0.1/32"] });
  t.true(text.includes('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -d 192.168.0.2 -j KUBE-NODEPORTS\n'));
  t.true(text.includes("-d 127.0.0.1 -j KUBE-NODEPORTS\n"));
  const both = "10.180.0.1:80, 10.180.2.1:80";
  runFlows(t, text, [
    { name: "external to nodePort", src: EXT, dst: NODE, port: 3001, output: both, masq: true },
    { name: "localhost to nodePort", src: "127.0.0.1", dst: "127.0.0.1", port: 3001, output: both, masq: true },
    { name: "external to nodePort on secondary IP", src: EXT, dst: ALT_NODE_IP, port: 3001, output: "" },
  ]);
  // Without 127.0.0.0/8 in --nodeport-addresses, kube-proxy turns localhost NodePorts off.
  const noLoopback = rules(nodePortDocs(), { nodePortAddresses: ["192.168.0.0/24"] });
  t.false(noLoopback.includes("KUBE-FIREWALL"));
  t.false(noLoopback.includes("127.0.0.0/8 --dport"));
});

function policyDocs(policy: "Local" | "Cluster"): KubeDocument[] {
  return [
    svc(
      "ns1",
      "svc1",
      { type: "LoadBalancer", clusterIP: "172.30.0.41", externalIPs: ["192.168.99.11"], externalTrafficPolicy: policy, ...(policy === "Local" ? { healthCheckNodePort: 30000 } : {}), ports: svcPort80({ nodePort: 3001 }) },
      { loadBalancer: { ingress: [{ ip: "1.2.3.4" }] } },
    ),
    slice("ns1", "svc1", p80, [{ ip: "10.180.0.1", node: "host1" }, { ip: "10.180.2.1", node: "test-node" }]),
  ];
}

test("TestExternalTrafficPolicyLocal", (t) => {
  const both = "10.180.0.1:80, 10.180.2.1:80";
  const local = "10.180.2.1:80";
  runFlows(t, rules(policyDocs("Local")), [
    { name: "pod to cluster IP hits both endpoints, unmasqueraded", src: POD, dst: "172.30.0.41", port: 80, output: both, masq: false },
    { name: "pod to external IP hits both endpoints, unmasqueraded", src: POD, dst: "192.168.99.11", port: 80, output: both, masq: false },
    { name: "external to external IP hits only local endpoint, unmasqueraded", src: EXT, dst: "192.168.99.11", port: 80, output: local, masq: false },
    { name: "pod to LB IP hits both endpoints, unmasqueraded", src: POD, dst: "1.2.3.4", port: 80, output: both, masq: false },
    { name: "external to LB IP hits only local endpoint, unmasqueraded", src: EXT, dst: "1.2.3.4", port: 80, output: local, masq: false },
    { name: "pod to NodePort hits both endpoints, unmasqueraded", src: POD, dst: NODE, port: 3001, output: both, masq: false },
    { name: "external to NodePort hits only local endpoint, unmasqueraded", src: EXT, dst: NODE, port: 3001, output: local, masq: false },
  ]);
});

test("TestExternalTrafficPolicyCluster", (t) => {
  const both = "10.180.0.1:80, 10.180.2.1:80";
  runFlows(t, rules(policyDocs("Cluster")), [
    { name: "pod to cluster IP hits both endpoints, unmasqueraded", src: POD, dst: "172.30.0.41", port: 80, output: both, masq: false },
    { name: "pod to external IP hits both endpoints, masqueraded", src: POD, dst: "192.168.99.11", port: 80, output: both, masq: true },
    { name: "external to external IP hits both endpoints, masqueraded", src: EXT, dst: "192.168.99.11", port: 80, output: both, masq: true },
    { name: "pod to LB IP hits both endpoints, masqueraded", src: POD, dst: "1.2.3.4", port: 80, output: both, masq: true },
    { name: "external to LB IP hits both endpoints, masqueraded", src: EXT, dst: "1.2.3.4", port: 80, output: both, masq: true },
    { name: "pod to NodePort hits both endpoints, masqueraded", src: POD, dst: NODE, port: 3001, output: both, masq: true },
    { name: "external to NodePort hits both endpoints, masqueraded", src: EXT, dst: NODE, port: 3001, output: both, masq: true },
  ]);
});

function masqueradeDocs(): KubeDocument[] {
  return [
    svc("ns2", "svc2", { type: "LoadBalancer", clusterIP: "172.30.0.42", externalTrafficPolicy: "Local", healthCheckNodePort: 30002, ports: svcPort80({ nodePort: 3002 }) }, { loadBalancer: { ingress: [{ ip: "5.6.7.8" }] } }),
    slice("ns2", "svc2", p80, [{ ip: "10.180.0.2", node: "test-node" }, { ip: "10.180.1.2", node: "remote" }]),
    svc("ns3", "svc3", { type: "LoadBalancer", clusterIP: "172.30.0.43", internalTrafficPolicy: "Local", ports: svcPort80({ nodePort: 3003 }) }, { loadBalancer: { ingress: [{ ip: "9.10.11.12" }] } }),
    slice("ns3", "svc3", p80, [{ ip: "10.180.0.3", node: "test-node" }, { ip: "10.180.1.3", node: "remote" }]),
  ];
}

test("TestInternalExternalMasquerade", (t) => {
  const both3 = "10.180.0.3:80, 10.180.1.3:80";
  runFlows(t, rules(masqueradeDocs()), [
    { name: "pod to iTP=Local cluster IP: local endpoint only", src: POD, dst: "172.30.0.43", port: 80, output: "10.180.0.3:80", masq: false },
    { name: "node to iTP=Local cluster IP", src: NODE, dst: "172.30.0.43", port: 80, output: "10.180.0.3:80", masq: true },
    { name: "external to iTP=Local cluster IP", src: EXT, dst: "172.30.0.43", port: 80, output: "10.180.0.3:80", masq: true },
    { name: "pod to iTP=Local NodePort", src: POD, dst: NODE, port: 3003, output: both3, masq: true },
    { name: "external to iTP=Local NodePort", src: EXT, dst: NODE, port: 3003, output: both3, masq: true },
    { name: "external to iTP=Local LB", src: EXT, dst: "9.10.11.12", port: 80, output: both3, masq: true },
    { name: "pod to eTP=Local NodePort is short-circuited", src: POD, dst: NODE, port: 3002, output: "10.180.0.2:80, 10.180.1.2:80", masq: false },
    { name: "external to eTP=Local NodePort", src: EXT, dst: NODE, port: 3002, output: "10.180.0.2:80", masq: false },
  ]);
});

test("TestInternalExternalMasquerade with masqueradeAll", (t) => {
  runFlows(t, rules(masqueradeDocs(), { masqueradeAll: true }), [
    { name: "pod to iTP=Local cluster IP", src: POD, dst: "172.30.0.43", port: 80, output: "10.180.0.3:80", masq: true },
    { name: "pod to eTP=Local cluster IP", src: POD, dst: "172.30.0.42", port: 80, output: "10.180.0.2:80, 10.180.1.2:80", masq: true },
  ]);
});

test("TestInternalExternalMasquerade without a local detector", (t) => {
  runFlows(t, rules(masqueradeDocs(), { clusterCIDR: null }), [
    { name: "pod to iTP=Local cluster IP", src: POD, dst: "172.30.0.43", port: 80, output: "10.180.0.3:80", masq: false },
    { name: "node to iTP=Local cluster IP is not masqueraded", src: NODE, dst: "172.30.0.43", port: 80, output: "10.180.0.3:80", masq: false },
    { name: "external to iTP=Local cluster IP is not masqueraded", src: EXT, dst: "172.30.0.43", port: 80, output: "10.180.0.3:80", masq: false },
    { name: "pod to eTP=Local NodePort gets the local endpoint only", src: POD, dst: NODE, port: 3002, output: "10.180.0.2:80", masq: false },
    { name: "pod to eTP=Local LB gets the local endpoint only", src: POD, dst: "5.6.7.8", port: 80, output: "10.180.0.2:80", masq: false },
  ]);
});

function terminatingDocs(policy: "Local" | "Cluster", eps: Ep[]): KubeDocument[] {
  return [
    svc(
      "ns1",
      "svc1",
      { type: "LoadBalancer", clusterIP: "172.30.1.1", externalTrafficPolicy: policy, ...(policy === "Local" ? { healthCheckNodePort: 30000 } : {}), ports: svcPort80({ nodePort: 30010 }) },
      { loadBalancer: { ingress: [{ ip: "1.2.3.4" }] } },
    ),
    ...(eps.length ? [slice("ns1", "svc1", p80, eps)] : []),
  ];
}

const readyLocal = (n: number): Ep => ({ ip: `10.0.1.${n}`, node: "test-node", ready: true, serving: true, terminating: false });
const termLocal = (n: number): Ep => ({ ip: `10.0.1.${n}`, node: "test-node", ready: false, serving: true, terminating: true });
const deadLocal = (n: number): Ep => ({ ip: `10.0.1.${n}`, node: "test-node", ready: false, serving: false, terminating: true });
const readyRemote = (n: number): Ep => ({ ip: `10.0.1.${n}`, node: "host-1", ready: true, serving: true, terminating: false });
const termRemote = (n: number): Ep => ({ ip: `10.0.1.${n}`, node: "host-1", ready: false, serving: true, terminating: true });

test("TestTerminatingEndpointsTrafficPolicyLocal", (t) => {
  const cases: { name: string; eps: Ep[]; cluster: string; lb: string; lbMasq?: boolean }[] = [
    { name: "ready endpoints exist", eps: [readyLocal(1), readyLocal(2), termLocal(3), deadLocal(4), readyRemote(5)], cluster: "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80", lb: "10.0.1.1:80, 10.0.1.2:80", lbMasq: false },
    { name: "only terminating local endpoints", eps: [termLocal(2), termLocal(3), deadLocal(4), readyRemote(5)], cluster: "10.0.1.5:80", lb: "10.0.1.2:80, 10.0.1.3:80", lbMasq: false },
    { name: "only a remote terminating endpoint", eps: [termRemote(5)], cluster: "10.0.1.5:80", lb: "DROP" },
    { name: "no usable endpoints", eps: [deadLocal(1), { ...deadLocal(2), node: "host-1" }], cluster: "REJECT", lb: "REJECT" },
  ];
  for (const c of cases) {
    runFlows(t, rules(terminatingDocs("Local", c.eps)), [
      { name: `${c.name}: pod to clusterIP`, src: POD, dst: "172.30.1.1", port: 80, output: c.cluster },
      { name: `${c.name}: external to LB`, src: EXT, dst: "1.2.3.4", port: 80, output: c.lb, ...(c.lbMasq !== undefined ? { masq: c.lbMasq } : {}) },
    ]);
  }
});

test("TestTerminatingEndpointsTrafficPolicyCluster", (t) => {
  const cases: { name: string; eps: Ep[]; out: string; lbMasq?: boolean }[] = [
    { name: "ready endpoints exist", eps: [readyLocal(1), readyLocal(2), termLocal(3), deadLocal(4), readyRemote(5)], out: "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80", lbMasq: true },
    { name: "only terminating endpoints", eps: [termLocal(2), termLocal(3), deadLocal(4), termRemote(5)], out: "10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80", lbMasq: true },
    { name: "no usable endpoints", eps: [deadLocal(1), deadLocal(2)], out: "REJECT" },
  ];
  for (const c of cases) {
    runFlows(t, rules(terminatingDocs("Cluster", c.eps)), [
      { name: `${c.name}: pod to clusterIP`, src: POD, dst: "172.30.1.1", port: 80, output: c.out },
      { name: `${c.name}: external to LB`, src: EXT, dst: "1.2.3.4", port: 80, output: c.out, ...(c.lbMasq !== undefined ? { masq: c.lbMasq } : {}) },
    ]);
  }
});

test("TestHealthCheckNodePort", (t) => {
  const docs = policyDocs("Local");
  runFlows(t, rules(docs), [{ name: "firewall accepts HealthCheckNodePort", src: EXT, dst: NODE, port: 30000, output: "ACCEPT" }]);
  runFlows(t, rules(docs.filter((d) => d.kind !== "Service")), [{ name: "after the Service is deleted", src: EXT, dst: NODE, port: 30000, output: "" }]);
});

test("session affinity: the SVC chain checks recent lists before the statistic rules", (t) => {
  const docs = [
    svc("ns1", "svc1", { clusterIP: "172.30.0.41", sessionAffinity: "ClientIP", ports: svcPort80() }),
    slice("ns1", "svc1", p80, [{ ip: "10.180.0.1" }, { ip: "10.180.0.2" }]),
  ];
  const text = rules(docs);
  const svcLines = text.split("\n").filter((l) => l.startsWith("-A KUBE-SVC-"));
  t.is(svcLines.length, 5);
  t.regex(svcLines[1]!, /--rcheck --seconds 10800 --reap/);
  t.regex(svcLines[3]!, /--probability 0\.5000000000/);
  runFlows(t, text, [{ name: "first packet reaches both", src: POD, dst: "172.30.0.41", port: 80, output: "10.180.0.1:80, 10.180.0.2:80", masq: false }]);
});
