/**
 * kube-proxy's configuration in the Cluster document (`kubeProxy:`, KubeProxyConfiguration's
 * names), the API server's node-port range and `allocateLoadBalancerNodePorts`: each setting
 * changes kube-proxy's rules as kube-proxy's would, and traffic still flows end to end.
 */
import test from "ava";
import { PodwireError } from "../../src/base/index.js";
import { runCheck } from "../../src/check/index.js";
import { bootCluster } from "../../src/cluster/boot.js";
import { parseClusterYaml } from "../../src/cluster/load.js";

const cluster = (kubeProxy: string, extraSpec = "", service = "type: NodePort"): string => `apiVersion: podwire.dev/v1alpha1
kind: Cluster
metadata: {name: cfg}
spec:
  externalHosts: [{name: outside, ip: 192.168.56.100}]
${extraSpec}${kubeProxy ? `  kubeProxy:\n${kubeProxy}` : ""}
---
apiVersion: v1
kind: Node
metadata: {name: worker-1}
---
apiVersion: v1
kind: Node
metadata: {name: worker-2}
---
apiVersion: v1
kind: Pod
metadata: {name: coredns-0, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec: {nodeName: worker-1, containers: [{name: coredns, ports: [{name: dns, containerPort: 53, protocol: UDP}, {name: dns-tcp, containerPort: 53}, {name: metrics, containerPort: 9153}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec: {nodeName: worker-2, containers: [{name: web, ports: [{containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ${service}
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`;

const rulesOn = (text: string, node = "worker-1"): string => {
  const { cluster: c, services } = bootCluster(parseClusterYaml(text, "cfg.yaml"));
  return services.proxy.describe(c.node(node)!, services.model);
};

test("masqueradeBit, masqueradeAll, localhostNodePorts, tcpBeLiberal and nodePortAddresses change kube-proxy's rules", (t) => {
  const plain = rulesOn(cluster(""));
  t.true(plain.includes("--mark 0x00004000/0x00004000"));
  t.true(plain.includes("-m conntrack --ctstate INVALID -j DROP"));
  t.true(plain.includes("127.0.0.0/8"));
  const text = cluster(`    masqueradeAll: true
    nodePortAddresses: [192.168.56.0/24]
    iptables: {masqueradeBit: 13, localhostNodePorts: false}
    conntrack: {tcpBeLiberal: true}
`);
  const rules = rulesOn(text);
  t.true(rules.includes("--mark 0x00002000/0x00002000"), "masqueradeBit 13");
  t.false(rules.includes("0x00004000"));
  t.false(rules.includes("--ctstate INVALID -j DROP"), "tcpBeLiberal: no INVALID drop rule");
  t.regex(rules, /-A KUBE-SVC-\S+ .*cluster IP" .*-d 10\.96\.\d+\.\d+ --dport \d+ -j KUBE-MARK-MASQ/, "masqueradeAll marks every ClusterIP packet");
  t.regex(rules, /NOTE: this must be the last rule in this chain" -d 192\.168\.56\.10 -j KUBE-NODEPORTS/, "NodePorts on the listed addresses only");
  t.true(plain.includes("NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS"));
  const { cluster: c } = bootCluster(parseClusterYaml(text, "cfg.yaml"));
  t.true(c.node("worker-1")!.netfilter.conntrack.tcpBeLiberal, "kube-proxy sets nf_conntrack_tcp_be_liberal");
  // The configured cluster still passes check, in both modes.
  for (const mode of ["iptables", "ipvs"] as const) {
    const spec = parseClusterYaml(text, "cfg.yaml");
    spec.proxyMode = mode;
    const r = runCheck(spec);
    t.deepEqual(r.cells.filter((cell) => cell.outcome === "unexpected-failure").map((cell) => `${cell.from} → ${cell.to}: ${cell.reason}`), [], mode);
  }
});

test("detectLocalMode NodeCIDR detects local traffic by the node's podCIDR", (t) => {
  const rules = rulesOn(cluster("    detectLocalMode: NodeCIDR\n"), "worker-2");
  t.true(rules.includes("! -s 10.244.1.0/24"), "worker-2's podCIDR is the detector");
  t.false(rules.includes("! -s 10.244.0.0/16"));
});

test("serviceNodePortRange is where NodePorts come from; allocateLoadBalancerNodePorts: false gives a LoadBalancer none", (t) => {
  const spec = parseClusterYaml(cluster("", "  serviceNodePortRange: 31000-31010\n"), "cfg.yaml");
  const { services } = bootCluster(spec);
  const web = services.model.services.find((s) => s.name === "web")!;
  t.is(web.ports[0]!.nodePort, 31000);
  const lb = parseClusterYaml(cluster("", "", "type: LoadBalancer\n  allocateLoadBalancerNodePorts: false"), "cfg.yaml");
  const lbWeb = bootCluster(lb).services.model.services.find((s) => s.name === "web")!;
  t.is(lbWeb.ports[0]!.nodePort, 0);
});

test("kube-proxy settings podwire does not emulate are refused with the field, never ignored", (t) => {
  const unknown = t.throws(() => parseClusterYaml(cluster("    ipvs: {scheduler: wrr}\n"), "cfg.yaml"), { instanceOf: PodwireError });
  t.is(unknown!.code, "E_UNKNOWN_FIELD");
  t.regex(unknown!.message, /cfg\.yaml:\d+:\d+, document 1, field spec\.kubeProxy\.ipvs: unknown kube-proxy setting/);
  const mode = t.throws(() => parseClusterYaml(cluster("    detectLocalMode: BridgeInterface\n"), "cfg.yaml"), { instanceOf: PodwireError });
  t.is(mode!.code, "E_ENUM");
  const bit = t.throws(() => parseClusterYaml(cluster("    iptables: {masqueradeBit: 40}\n"), "cfg.yaml"), { instanceOf: PodwireError });
  t.is(bit!.code, "E_RANGE");
  const range = t.throws(() => parseClusterYaml(cluster("", "  serviceNodePortRange: 32000-31000\n"), "cfg.yaml"), { instanceOf: PodwireError });
  t.is(range!.code, "E_NODE_PORT_RANGE");
});

test("conntrack.maxPerCore and min set nf_conntrack_max at start as kube-proxy's getConntrackMax does; 0 leaves it alone", (t) => {
  const sysctl = "  sysctls: {net.netfilter.nf_conntrack_max: 4096}\n";
  const max = (kubeProxy: string) => [...bootCluster(parseClusterYaml(cluster(kubeProxy, sysctl), "cfg.yaml")).cluster.nodes.values()].map((n) => n.netfilter.conntrack.max);
  t.deepEqual(max("    conntrack: {maxPerCore: 32768, min: 131072}\n"), [131072, 131072], "max(32768 × 2 CPUs, 131072)");
  t.deepEqual(max("    conntrack: {maxPerCore: 100000}\n"), [200000, 200000], "scaled above the default min");
  t.deepEqual(max("    conntrack: {maxPerCore: 1000}\n"), [131072, 131072], "the default min 131072");
  t.deepEqual(max("    conntrack: {maxPerCore: 0}\n"), [4096, 4096], "maxPerCore 0: the node's own limit stays");
  t.deepEqual(max(""), [4096, 4096]);
  const negative = t.throws(() => parseClusterYaml(cluster("    conntrack: {min: -1}\n"), "cfg.yaml"), { instanceOf: PodwireError });
  t.is(negative!.code, "E_RANGE");
});
