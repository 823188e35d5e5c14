import test from "ava";
import { fc, testProp } from "@fast-check/ava";
import { fileURLToPath } from "node:url";
import { PodwireError, formatCidr, formatIpv4, type InputLocation } from "../../src/base/index.js";
import { DEFAULT_CLUSTER_YAML } from "../../src/cluster/default-cluster.js";
import { defaultCluster, loadClusterFile, parseClusterYaml } from "../../src/cluster/load.js";
import type { ClusterSpec } from "../../src/cluster/spec.js";
import { BUILTIN_COREDNS_SOURCE } from "../../src/cluster/workloads.js";

const fixture = (name: string): string => fileURLToPath(new URL(`fixtures/${name}`, import.meta.url));

// --- Small builders for inline cluster files -------------------------------------------------

/** Lines joined with newlines, ending in one. */
const lines = (...ls: string[]): string => ls.map((l) => `${l}\n`).join("");
const indent = (ls: string[], by: string): string[] => ls.map((l) => by + l);
const file = (...docs: string[]): string => docs.join("---\n");

function clusterDoc(...specLines: string[]): string {
  return lines(
    "apiVersion: podwire.dev/v1alpha1",
    "kind: Cluster",
    "metadata:",
    "  name: test",
    ...(specLines.length ? ["spec:", ...indent(specLines, "  ")] : []),
  );
}

function nodeDoc(name: string, ...rest: string[]): string {
  return lines("apiVersion: v1", "kind: Node", "metadata:", `  name: ${name}`, ...rest);
}

function podDoc(name: string, ...rest: string[]): string {
  return lines("apiVersion: v1", "kind: Pod", "metadata:", `  name: ${name}`, ...rest);
}

const ip = formatIpv4;
const nodeSummary = (spec: ClusterSpec) =>
  spec.nodes.map((n) => [n.name, ip(n.internalIP), formatCidr(n.podCIDR)]);
/** The file's own Pods (without the CoreDNS Pods podwire adds to files without a Cluster document). */
const userPods = (spec: ClusterSpec) => spec.pods.filter((p) => p.location.file !== BUILTIN_COREDNS_SOURCE);
const podSummary = (spec: ClusterSpec) => userPods(spec).map((p) => [p.name, p.nodeName, ip(p.podIP)]);

// --- The embedded default ---------------------------------------------------------------------

test("default cluster: settings, nodes, pods and external hosts", (t) => {
  const spec = defaultCluster();
  t.like(spec, {
    name: "podwire-demo",
    source: "<embedded default>",
    nodeCIDRMaskSize: 24,
    nodeMTU: 1500,
    overlay: "vxlan",
    proxyMode: "iptables",
    seed: 1,
  });
  t.is(formatCidr(spec.clusterCIDR), "10.244.0.0/16");
  t.is(formatCidr(spec.serviceCIDR), "10.96.0.0/12");
  t.is(formatCidr(spec.nodeNetwork), "192.168.56.0/24");
  t.deepEqual(nodeSummary(spec), [
    ["control-plane", "192.168.56.10", "10.244.0.0/24"],
    ["worker-1", "192.168.56.11", "10.244.1.0/24"],
    ["worker-2", "192.168.56.12", "10.244.2.0/24"],
  ]);
  t.deepEqual(
    spec.nodes.map((n) => [n.schedulable, n.controlPlane]),
    [
      [false, true],
      [true, false],
      [true, false],
    ],
  );
  t.deepEqual(
    spec.pods.map((p) => [p.namespace, p.name, p.nodeName, ip(p.podIP), p.hostNetwork]),
    [
      ["default", "client", "worker-1", "10.244.1.2", false],
      ["default", "web-0", "worker-1", "10.244.1.3", false],
      ["default", "web-1", "worker-2", "10.244.2.2", false],
      ["kube-system", "coredns-0", "control-plane", "10.244.0.2", false],
      ["default", "api-0", "worker-2", "10.244.2.3", false],
      ["ingress-nginx", "ingress-nginx-controller-0", "worker-1", "10.244.1.4", false],
    ],
  );
  t.deepEqual(
    spec.externalHosts.map((h) => [h.name, ip(h.ip)]),
    [["outside", "192.168.56.100"]],
  );
  t.deepEqual(
    spec.otherDocuments.map((d) => [d.kind, (d.body.metadata as { name: string }).name]),
    [
      ["Service", "web"],
      ["Service", "api"],
      ["Service", "ingress-nginx-controller"],
      ["IngressClass", "nginx"],
      ["Ingress", "shop"],
      ["GatewayClass", "podwire"],
      ["Gateway", "gateway"],
      ["HTTPRoute", "www"],
    ],
  );
});

test("default cluster: labels and containers", (t) => {
  const spec = defaultCluster();
  const pod = (name: string) => spec.pods.find((p) => p.name === name)!;
  t.deepEqual(pod("client").labels, { app: "client" });
  t.deepEqual(pod("client").containers, [{ name: "client", image: "busybox", ports: [] }]);
  t.deepEqual(pod("web-0").containers, [
    { name: "web", image: "nginx", ports: [{ name: "http", containerPort: 8080, protocol: "TCP" }] },
    { name: "sidecar", image: "busybox", ports: [{ name: "metrics", containerPort: 9090, protocol: "TCP" }] },
  ]);
  t.deepEqual(pod("web-1").labels, { app: "web" });
  t.deepEqual(pod("coredns-0").labels, { "k8s-app": "kube-dns" });
  t.deepEqual(
    pod("coredns-0").containers[0]!.ports,
    [
      { name: "dns", containerPort: 53, protocol: "UDP" },
      { name: "dns-tcp", containerPort: 53, protocol: "TCP" },
      { name: "metrics", containerPort: 9153, protocol: "TCP" },
    ],
  );
  t.is(spec.nodes[0]!.labels["node-role.kubernetes.io/control-plane"], "");
  t.like(spec.nodes[1]!.location, { file: "<embedded default>", document: 3 });
});

// --- Defaults and allocation --------------------------------------------------------------------

test("a file with no objects is an error, not an empty cluster", (t) => {
  for (const text of ["", "# nothing here\n", "---\n---\n"]) {
    const err = t.throws(() => parseClusterYaml(text, "empty.yaml"), { instanceOf: PodwireError });
    t.is(err!.code, "E_EMPTY");
    t.regex(err!.message, /^empty\.yaml: empty\.yaml holds no Kubernetes objects/);
  }
});

test("a file with Nodes and no Cluster document keeps the defaults the Nodes fit", (t) => {
  const spec = parseClusterYaml(nodeDoc("a"), "n.yaml");
  t.like(spec, { name: "podwire", source: "n.yaml", nodeCIDRMaskSize: 24, nodeMTU: 1500 });
  t.like(spec, { overlay: "vxlan", proxyMode: "iptables", seed: 1 });
  t.is(formatCidr(spec.clusterCIDR), "10.244.0.0/16");
  t.is(formatCidr(spec.serviceCIDR), "10.96.0.0/12");
  t.is(formatCidr(spec.nodeNetwork), "192.168.56.0/24");
  t.deepEqual([userPods(spec), spec.otherDocuments], [[], []]);
  t.deepEqual(spec.pods.map((p) => p.name.replace(/-[a-z0-9]+-[a-z0-9]{5}$/, "")), ["coredns", "coredns"]);
});

test("a Cluster document without spec gets the defaults under its own name", (t) => {
  const spec = parseClusterYaml(clusterDoc(), "c.yaml");
  t.like(spec, { name: "test", nodeCIDRMaskSize: 24, nodeMTU: 1500, seed: 1, externalHosts: [] });
});

test("explicit Cluster settings are used", (t) => {
  const text = file(
    clusterDoc(
      "clusterCIDR: 10.32.0.0/12",
      "nodeCIDRMaskSize: 26",
      "serviceCIDR: 172.20.0.0/16",
      "nodeNetwork: 10.0.0.0/24",
      "nodeMTU: 9000",
      "overlay: host-gw",
      "proxyMode: ipvs",
      "seed: 4294967295",
    ),
    nodeDoc("n1"),
    podDoc("p1", "spec:", "  containers: []"),
  );
  const spec = parseClusterYaml(text, "c.yaml");
  t.like(spec, { nodeCIDRMaskSize: 26, nodeMTU: 9000, overlay: "host-gw", proxyMode: "ipvs", seed: 4294967295 });
  t.is(formatCidr(spec.serviceCIDR), "172.20.0.0/16");
  t.deepEqual(nodeSummary(spec), [["n1", "10.0.0.10", "10.32.0.0/26"]]);
  t.deepEqual(podSummary(spec), [["p1", "n1", "10.32.0.2"]]);
});

test("podCIDRs and node addresses are allocated in order around explicit ones", (t) => {
  const text = file(
    clusterDoc("externalHosts:", "- name: ext", "  ip: 192.168.56.13"),
    nodeDoc("n1", "status:", "  addresses:", "  - type: InternalIP", "    address: 192.168.56.11"),
    nodeDoc("n2", "spec:", "  podCIDR: 10.244.0.0/24"),
    nodeDoc("n3"),
    nodeDoc("n4", "spec:", "  podCIDRs:", "  - 10.244.2.0/24"),
    nodeDoc("n5"),
  );
  t.deepEqual(nodeSummary(parseClusterYaml(text, "c.yaml")), [
    ["n1", "192.168.56.11", "10.244.1.0/24"],
    ["n2", "192.168.56.10", "10.244.0.0/24"],
    ["n3", "192.168.56.12", "10.244.3.0/24"],
    ["n4", "192.168.56.14", "10.244.2.0/24"],
    ["n5", "192.168.56.15", "10.244.4.0/24"],
  ]);
});

test("pod IPs count up from .2 and skip addresses given in status.podIP", (t) => {
  const text = file(
    nodeDoc("a"),
    podDoc("p1"),
    podDoc("p2", "status:", "  podIP: 10.244.0.3"),
    podDoc("p3"),
    podDoc("p4", "status:", "  podIP: 10.244.0.2"),
    podDoc("p5", "status:", "  podIP: 10.244.0.200"),
    podDoc("p6"),
  );
  t.deepEqual(podSummary(parseClusterYaml(text, "c.yaml")), [
    ["p1", "a", "10.244.0.4"],
    ["p2", "a", "10.244.0.3"],
    ["p3", "a", "10.244.0.5"],
    ["p4", "a", "10.244.0.2"],
    ["p5", "a", "10.244.0.200"],
    ["p6", "a", "10.244.0.6"],
  ]);
});

test("the last usable pod address is handed out but never the broadcast address", (t) => {
  const text = file(clusterDoc("nodeCIDRMaskSize: 29"), nodeDoc("a"), ...[1, 2, 3, 4, 5].map((i) => podDoc(`p${i}`)));
  t.deepEqual(
    parseClusterYaml(text, "c.yaml").pods.map((p) => ip(p.podIP)),
    ["10.244.0.2", "10.244.0.3", "10.244.0.4", "10.244.0.5", "10.244.0.6"],
  );
});

test("Pods without nodeName go round-robin over schedulable nodes only", (t) => {
  const text = file(
    nodeDoc("a"),
    nodeDoc("b", "spec:", "  unschedulable: true"),
    nodeDoc("c", "spec:", "  taints:", "  - key: dedicated", "    effect: NoExecute"),
    nodeDoc("d", "spec:", "  taints:", "  - key: soft", "    effect: PreferNoSchedule"),
    nodeDoc("e", "spec:", "  taints:", "  - key: gpu", "    value: x", "    effect: NoSchedule"),
    podDoc("p1"),
    podDoc("p2"),
    podDoc("pinned", "spec:", "  nodeName: b"),
    podDoc("p3"),
    podDoc("p4"),
  );
  const spec = parseClusterYaml(text, "c.yaml");
  t.deepEqual(
    spec.nodes.map((n) => n.schedulable),
    [true, false, false, true, false],
  );
  t.deepEqual(
    userPods(spec).map((p) => [p.name, p.nodeName]),
    [
      ["p1", "a"],
      ["p2", "d"],
      ["pinned", "b"],
      ["p3", "a"],
      ["p4", "d"],
    ],
  );
});

test("hostNetwork Pods take the node address and use no pod IP", (t) => {
  const text = file(
    nodeDoc("a", "status:", "  addresses:", "  - type: InternalIP", "    address: 192.168.56.30"),
    podDoc("kube-proxy", "spec:", "  hostNetwork: true", "status:", "  podIP: 192.168.56.30"),
    podDoc("agent", "spec:", "  hostNetwork: true"),
    podDoc("app"),
  );
  const spec = parseClusterYaml(text, "c.yaml");
  t.deepEqual(
    userPods(spec).map((p) => [p.name, ip(p.podIP), p.hostNetwork]),
    [
      ["kube-proxy", "192.168.56.30", true],
      ["agent", "192.168.56.30", true],
      ["app", "10.244.0.2", false],
    ],
  );
});

test("control-plane nodes are recognised by either role label", (t) => {
  const text = file(
    nodeDoc("cp", "  labels:", '    node-role.kubernetes.io/control-plane: ""'),
    nodeDoc("old", "  labels:", "    node-role.kubernetes.io/master:"),
    nodeDoc("w", "  labels:", "    tier: worker"),
  );
  const spec = parseClusterYaml(text, "c.yaml");
  t.deepEqual(
    spec.nodes.map((n) => n.controlPlane),
    [true, true, false],
  );
  t.deepEqual(spec.nodes[1]!.labels, { "node-role.kubernetes.io/master": "" });
});

test("Pod defaults: namespace default, protocol TCP, optional image and port name", (t) => {
  const text = file(
    nodeDoc("a"),
    podDoc(
      "p",
      "spec:",
      "  containers:",
      "  - name: c",
      "    ports:",
      "    - containerPort: 80",
      "    - containerPort: 53",
      "      protocol: UDP",
      "      name: dns",
    ),
  );
  const [pod] = parseClusterYaml(text, "c.yaml").pods;
  t.is(pod!.namespace, "default");
  t.deepEqual(pod!.containers, [
    {
      name: "c",
      ports: [
        { containerPort: 80, protocol: "TCP" },
        { containerPort: 53, protocol: "UDP", name: "dns" },
      ],
    },
  ]);
  t.deepEqual(pod!.labels, {});
});

// --- kubectl output, Lists and other kinds ---------------------------------------------------------

test("kubectl get -o yaml output loads, ignoring fields podwire does not use", (t) => {
  const path = fixture("kubectl-objects.yaml");
  const spec = loadClusterFile(path);
  t.is(spec.source, path);
  t.deepEqual(nodeSummary(spec), [["worker-1", "192.168.56.11", "10.244.1.0/24"]]);
  t.true(spec.nodes[0]!.schedulable);
  t.is(spec.nodes[0]!.labels["kubernetes.io/hostname"], "worker-1");
  const [pod] = userPods(spec);
  t.like(pod, { namespace: "shop", name: "web-7c5b6d8f9-x2x9k", nodeName: "worker-1", hostNetwork: false });
  t.is(ip(pod!.podIP), "10.244.1.7");
  t.deepEqual(pod!.labels, { app: "web", "pod-template-hash": "7c5b6d8f9" });
  t.deepEqual(pod!.containers, [
    { name: "web", image: "nginx:1.25", ports: [{ name: "http", containerPort: 8080, protocol: "TCP" }] },
  ]);
  t.deepEqual(pod!.location, { file: path, line: 80, column: 1, document: 2 });
});

test("kind: List items are read like documents and located at the item", (t) => {
  const path = fixture("kubectl-list.yaml");
  const spec = loadClusterFile(path);
  t.deepEqual(nodeSummary(spec), [
    ["node-a", "192.168.56.21", "10.244.5.0/24"],
    ["node-b", "192.168.56.10", "10.244.0.0/24"],
  ]);
  t.true(spec.nodes[0]!.controlPlane);
  // api-0 is Pending: it keeps its phase, so it gets no address (and is said to be left out).
  t.deepEqual(podSummary(spec), []);
  t.regex(spec.summary!.text, /ignored: 1 Pending Pod \(no address, no endpoint\)/);
  t.deepEqual(spec.nodes[1]!.location, { file: path, line: 20, column: 3, document: 1, field: "items[1]" });
  t.is(spec.otherDocuments.length, 1);
  const [svc] = spec.otherDocuments;
  t.like(svc, { apiVersion: "v1", kind: "Service" });
  t.deepEqual(svc!.location, { file: path, line: 47, column: 3, document: 1, field: "items[3]" });
  t.like(svc!.body, { metadata: { name: "api", namespace: "prod" }, spec: { clusterIP: "10.96.0.50" } });
});

test("items of a typed list may leave out kind and apiVersion", (t) => {
  const text = lines(
    "apiVersion: v1",
    "kind: NodeList",
    "items:",
    "- metadata:",
    "    name: a",
    "- metadata:",
    "    name: b",
  );
  t.deepEqual(
    parseClusterYaml(text, "c.yaml").nodes.map((n) => n.name),
    ["a", "b"],
  );
});

test("documents of other kinds are kept with their location, given fields untouched, API defaults filled in", (t) => {
  const svc = lines(
    "apiVersion: v1",
    "kind: Service",
    "metadata:",
    "  name: web",
    "spec:",
    "  selector: {app: web}",
    "  ports:",
    "  - port: 80",
    "    targetPort: http",
  );
  const cm = lines("apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: cfg", "data:", "  key: |", "    multi", "    line");
  const capi = lines("apiVersion: cluster.x-k8s.io/v1beta1", "kind: Cluster", "metadata:", "  name: not-ours");
  const spec = parseClusterYaml(file(svc, nodeDoc("a"), cm, capi), "o.yaml");
  t.deepEqual(
    spec.otherDocuments.map((d) => [d.kind, d.location.document, d.location.line]),
    [
      ["Service", 1, 1],
      ["ConfigMap", 3, 16],
      ["Cluster", 4, 25],
    ],
  );
  // What the user wrote stays as written; what the API server defaults is added (protocol, type, …).
  t.like(spec.otherDocuments[0]!.body, {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "web", namespace: "default" },
    spec: { selector: { app: "web" }, ports: [{ port: 80, targetPort: "http", protocol: "TCP" }], type: "ClusterIP", sessionAffinity: "None", internalTrafficPolicy: "Cluster", ipFamilies: ["IPv4"], ipFamilyPolicy: "SingleStack" },
  });
  t.deepEqual(spec.otherDocuments[1]!.body["data"], { key: "multi\nline\n" });
  t.is(spec.name, "podwire");
});

test("a missing file is E_FILE naming the path", (t) => {
  const err = t.throws(() => loadClusterFile("/no/such/cluster.yaml"), { instanceOf: PodwireError });
  t.is(err.code, "E_FILE");
  t.true(err.message.includes("/no/such/cluster.yaml"));
  t.deepEqual(err.location, { file: "/no/such/cluster.yaml" });
  const dir = t.throws(() => loadClusterFile(fixture("")), { instanceOf: PodwireError });
  t.is(dir.code, "E_FILE");
});

// --- Rejected files: code and location ------------------------------------------------------------

interface BadCase {
  name: string;
  text: string;
  code: string;
  /** The error must point at the (first, or `nth`) line containing this text. */
  at: string;
  nth?: number;
  /** An explicit line, where no text marks it (the end of the file). */
  line?: number;
  document: number;
  field?: string;
  hint?: string;
}

const n1 = nodeDoc("n1");
const withIP = (name: string, addr: string) =>
  nodeDoc(name, "status:", "  addresses:", "  - address: " + addr, "    type: InternalIP");
const withCIDR = (name: string, cidr: string) => nodeDoc(name, "spec:", `  podCIDR: ${cidr}`);
const ported = (port: string, protocol = "TCP") =>
  podDoc(
    "p",
    "spec:",
    "  containers:",
    "  - name: a",
    "  - name: b",
    "    ports:",
    `    - containerPort: ${port}`,
    `      protocol: ${protocol}`,
  );

const BAD: BadCase[] = [
  { name: "duplicate key", text: lines("apiVersion: v1", "kind: Node", "kind: Pod"), code: "E_YAML", at: "kind: Pod", document: 1 },
  { name: "unclosed flow list", text: file(n1, lines("apiVersion: v1", "kind: Pod", "metadata: {name: [x")), code: "E_YAML", at: "", line: 9, document: 2 },
  { name: "bad tab indentation", text: file(n1, "apiVersion: v1\nkind: Pod\nspec:\n\tnodeName: n1\n"), code: "E_YAML", at: "\tnodeName", document: 2 },
  { name: "scalar document", text: file(n1, "just a string\n"), code: "E_DOCUMENT", at: "just a string", document: 2 },
  { name: "list document", text: "- a\n- b\n", code: "E_DOCUMENT", at: "- a", document: 1 },
  { name: "missing kind", text: file(n1, lines("apiVersion: v1", "metadata:", "  name: x")), code: "E_MISSING_FIELD", at: "apiVersion: v1", nth: 2, document: 2, field: "kind" },
  { name: "missing apiVersion", text: file(n1, lines("kind: Service", "metadata:", "  name: x")), code: "E_MISSING_FIELD", at: "kind: Service", document: 2, field: "apiVersion" },
  { name: "kind not a string", text: lines("apiVersion: v1", "kind: 7"), code: "E_TYPE", at: "kind: 7", document: 1, field: "kind" },
  { name: "Node with wrong apiVersion", text: lines("apiVersion: apps/v1", "kind: Node", "metadata:", "  name: a"), code: "E_API_VERSION", at: "apiVersion: apps/v1", document: 1, field: "apiVersion" },
  { name: "Cluster with wrong version", text: lines("apiVersion: podwire.dev/v2", "kind: Cluster", "metadata:", "  name: a"), code: "E_API_VERSION", at: "podwire.dev/v2", document: 1, field: "apiVersion" },
  { name: "two Cluster documents", text: file(clusterDoc(), n1, clusterDoc()), code: "E_DUPLICATE_CLUSTER", at: "kind: Cluster", nth: 2, document: 3, field: "kind" },
  { name: "Cluster without a name", text: lines("apiVersion: podwire.dev/v1alpha1", "kind: Cluster", "spec:", "  seed: 3"), code: "E_MISSING_FIELD", at: "apiVersion", document: 1, field: "metadata.name" },
  { name: "unknown Cluster field", text: clusterDoc("clusterCidr: 10.0.0.0/16"), code: "E_UNKNOWN_FIELD", at: "clusterCidr", document: 1, field: "spec.clusterCidr", hint: "clusterCIDR" },
  { name: "malformed clusterCIDR", text: clusterDoc("clusterCIDR: 10.244.0.0/33"), code: "E_CIDR_SYNTAX", at: "10.244.0.0/33", document: 1, field: "spec.clusterCIDR" },
  { name: "clusterCIDR without prefix", text: clusterDoc("clusterCIDR: 10.244.0.0"), code: "E_CIDR_SYNTAX", at: "clusterCIDR", document: 1, field: "spec.clusterCIDR" },
  { name: "malformed podCIDR", text: file(clusterDoc(), withCIDR("a", "10.244.1/24")), code: "E_CIDR_SYNTAX", at: "10.244.1/24", document: 2, field: "spec.podCIDR" },
  { name: "serviceCIDR with host bits", text: clusterDoc("serviceCIDR: 10.96.0.1/12"), code: "E_CIDR_HOST_BITS", at: "10.96.0.1/12", document: 1, field: "spec.serviceCIDR", hint: "10.96.0.0/12" },
  { name: "podCIDR with host bits", text: withCIDR("a", "10.244.1.5/24"), code: "E_CIDR_HOST_BITS", at: "podCIDR", document: 1, field: "spec.podCIDR" },
  { name: "serviceCIDR overlaps clusterCIDR", text: clusterDoc("serviceCIDR: 10.244.128.0/17"), code: "E_CIDR_OVERLAP", at: "serviceCIDR", document: 1, field: "spec.serviceCIDR" },
  { name: "nodeNetwork overlaps clusterCIDR", text: clusterDoc("nodeNetwork: 10.0.0.0/8", "serviceCIDR: 172.16.0.0/16"), code: "E_CIDR_OVERLAP", at: "nodeNetwork", document: 1, field: "spec.nodeNetwork" },
  { name: "user clusterCIDR overlaps default serviceCIDR", text: clusterDoc("clusterCIDR: 10.0.0.0/8"), code: "E_CIDR_OVERLAP", at: "clusterCIDR", document: 1, field: "spec.clusterCIDR" },
  { name: "nodeCIDRMaskSize below cluster prefix", text: clusterDoc("nodeCIDRMaskSize: 8"), code: "E_NODE_CIDR_MASK", at: "nodeCIDRMaskSize", document: 1, field: "spec.nodeCIDRMaskSize" },
  { name: "nodeCIDRMaskSize above 30", text: clusterDoc("nodeCIDRMaskSize: 31"), code: "E_NODE_CIDR_MASK", at: "nodeCIDRMaskSize", document: 1, field: "spec.nodeCIDRMaskSize" },
  { name: "small clusterCIDR against default mask", text: clusterDoc("clusterCIDR: 10.244.0.0/25"), code: "E_NODE_CIDR_MASK", at: "clusterCIDR", document: 1, field: "spec.clusterCIDR" },
  { name: "nodeMTU as a string", text: clusterDoc('nodeMTU: "1500"'), code: "E_TYPE", at: "nodeMTU", document: 1, field: "spec.nodeMTU", hint: "without quotes" },
  { name: "nodeMTU out of range", text: clusterDoc("nodeMTU: 500"), code: "E_RANGE", at: "nodeMTU", document: 1, field: "spec.nodeMTU", hint: "576 to 9000" },
  { name: "negative seed", text: clusterDoc("seed: -1"), code: "E_RANGE", at: "seed", document: 1, field: "spec.seed" },
  { name: "seed too large", text: clusterDoc("seed: 4294967296"), code: "E_RANGE", at: "seed", document: 1, field: "spec.seed" },
  { name: "fractional seed", text: clusterDoc("seed: 1.5"), code: "E_TYPE", at: "seed", document: 1, field: "spec.seed" },
  { name: "unknown proxyMode", text: clusterDoc("proxyMode: userspace"), code: "E_ENUM", at: "proxyMode", document: 1, field: "spec.proxyMode", hint: "iptables, ipvs, nftables" },
  { name: "unknown overlay", text: clusterDoc("overlay: geneve"), code: "E_ENUM", at: "overlay", document: 1, field: "spec.overlay", hint: "vxlan, host-gw" },
  { name: "externalHosts not a list", text: clusterDoc("externalHosts: outside"), code: "E_TYPE", at: "externalHosts", document: 1, field: "spec.externalHosts" },
  { name: "external host without ip", text: clusterDoc("externalHosts:", "- name: x"), code: "E_MISSING_FIELD", at: "- name: x", document: 1, field: "spec.externalHosts[0].ip" },
  { name: "malformed external host ip", text: clusterDoc("externalHosts:", "- name: x", "  ip: 192.168.56"), code: "E_IP_SYNTAX", at: "ip: 192.168.56", document: 1, field: "spec.externalHosts[0].ip" },
  { name: "malformed InternalIP", text: file(n1, withIP("a", "192.168.56.300")), code: "E_IP_SYNTAX", at: "192.168.56.300", document: 2, field: "status.addresses[0].address" },
  { name: "malformed podIP", text: file(n1, podDoc("p", "status:", "  podIP: 10.244.0.02")), code: "E_IP_SYNTAX", at: "podIP", document: 2, field: "status.podIP" },
  { name: "node IP outside nodeNetwork", text: file(clusterDoc(), n1, withIP("a", "10.9.8.7")), code: "E_NODE_IP_OUTSIDE", at: "10.9.8.7", document: 3, field: "status.addresses[0].address", hint: "192.168.56.0/24" },
  { name: "external host outside nodeNetwork", text: clusterDoc("externalHosts:", "- name: x", "  ip: 8.8.8.8"), code: "E_NODE_IP_OUTSIDE", at: "8.8.8.8", document: 1, field: "spec.externalHosts[0].ip" },
  { name: "node IP is the broadcast address", text: withIP("a", "192.168.56.255"), code: "E_IP_RESERVED", at: "192.168.56.255", document: 1, field: "status.addresses[0].address" },
  { name: "duplicate node IP", text: file(withIP("a", "192.168.56.20"), withIP("b", "192.168.56.20")), code: "E_DUPLICATE_IP", at: "192.168.56.20", nth: 2, document: 2, field: "status.addresses[0].address" },
  { name: "node IP equals external host", text: file(clusterDoc("externalHosts:", "- name: x", "  ip: 192.168.56.20"), withIP("a", "192.168.56.20")), code: "E_DUPLICATE_IP", at: "192.168.56.20", nth: 2, document: 2, field: "status.addresses[0].address" },
  { name: "duplicate external host ips", text: clusterDoc("externalHosts:", "- name: x", "  ip: 192.168.56.20", "- name: y", "  ip: 192.168.56.20"), code: "E_DUPLICATE_IP", at: "192.168.56.20", nth: 2, document: 1, field: "spec.externalHosts[1].ip" },
  { name: "duplicate pod IP", text: file(n1, podDoc("p", "status:", "  podIP: 10.244.0.9"), podDoc("q", "status:", "  podIP: 10.244.0.9")), code: "E_DUPLICATE_IP", at: "10.244.0.9", nth: 2, document: 3, field: "status.podIP" },
  { name: "duplicate node names", text: file(n1, clusterDoc(), n1), code: "E_DUPLICATE_NODE", at: "name: n1", nth: 2, document: 3, field: "metadata.name" },
  { name: "external host named like a node", text: file(n1, clusterDoc("externalHosts:", "- name: n1", "  ip: 192.168.56.99")), code: "E_DUPLICATE_HOST", at: "- name: n1", document: 2, field: "spec.externalHosts[0].name" },
  { name: "duplicate Pod", text: file(n1, podDoc("p"), podDoc("p", "  namespace: default")), code: "E_DUPLICATE_POD", at: "name: p", nth: 2, document: 3, field: "metadata.name" },
  { name: "Pod on an unknown node", text: file(n1, podDoc("p", "spec:", "  nodeName: n9")), code: "E_UNKNOWN_NODE", at: "nodeName: n9", document: 2, field: "spec.nodeName", hint: "n1" },
  { name: "no schedulable node", text: file(nodeDoc("a", "spec:", "  unschedulable: true"), podDoc("p")), code: "E_NO_SCHEDULABLE_NODE", at: "name: p", document: 2, field: "metadata.name" },
  { name: "more nodes than pod subnets", text: file(clusterDoc("clusterCIDR: 10.244.0.0/23"), nodeDoc("a"), nodeDoc("b"), nodeDoc("c")), code: "E_POD_CIDRS_EXHAUSTED", at: "name: c", document: 4, field: "metadata.name" },
  { name: "pod range exhausted", text: file(clusterDoc("nodeCIDRMaskSize: 30"), nodeDoc("a"), podDoc("p"), podDoc("q")), code: "E_POD_IPS_EXHAUSTED", at: "name: q", document: 4, field: "metadata.name" },
  { name: "node network exhausted", text: file(clusterDoc("nodeNetwork: 192.168.56.0/29"), nodeDoc("a")), code: "E_NODE_IPS_EXHAUSTED", at: "name: a", document: 2, field: "metadata.name" },
  { name: "podCIDR outside clusterCIDR", text: file(clusterDoc(), withCIDR("a", "10.10.0.0/24")), code: "E_POD_CIDR_OUTSIDE", at: "podCIDR", document: 2, field: "spec.podCIDR" },
  { name: "podCIDR of the wrong size", text: file(clusterDoc(), withCIDR("a", "10.244.4.0/23")), code: "E_POD_CIDR_SIZE", at: "podCIDR", document: 2, field: "spec.podCIDR" },
  { name: "overlapping podCIDRs", text: file(withCIDR("a", "10.244.7.0/24"), withCIDR("b", "10.244.7.0/24")), code: "E_POD_CIDR_OVERLAP", at: "podCIDR", nth: 2, document: 2, field: "spec.podCIDR" },
  { name: "podIP outside the node's podCIDR", text: file(n1, podDoc("p", "status:", "  podIP: 10.244.1.5")), code: "E_POD_IP_OUTSIDE", at: "podIP", document: 2, field: "status.podIP" },
  { name: "podIP is the bridge gateway", text: file(n1, podDoc("p", "status:", "  podIP: 10.244.0.1")), code: "E_IP_RESERVED", at: "podIP", document: 2, field: "status.podIP" },
  { name: "hostNetwork podIP not the node's", text: file(n1, podDoc("p", "spec:", "  hostNetwork: true", "status:", "  podIP: 192.168.56.77")), code: "E_POD_IP_OUTSIDE", at: "podIP", document: 2, field: "status.podIP" },
  { name: "hostNetwork as a string", text: file(n1, podDoc("p", "spec:", '  hostNetwork: "yes"')), code: "E_TYPE", at: "hostNetwork", document: 2, field: "spec.hostNetwork" },
  { name: "labels as a list", text: nodeDoc("a", "  labels:", "  - a"), code: "E_TYPE", at: "- a", document: 1, field: "metadata.labels" },
  { name: "label value not a string", text: nodeDoc("a", "  labels:", "    gpu: true"), code: "E_TYPE", at: "gpu: true", document: 1, field: "metadata.labels.gpu" },
  { name: "Node without a name", text: lines("apiVersion: v1", "kind: Node", "metadata:", "  labels: {}"), code: "E_MISSING_FIELD", at: "labels", document: 1, field: "metadata.name" },
  { name: "container without a name", text: file(n1, podDoc("p", "spec:", "  containers:", "  - image: nginx")), code: "E_MISSING_FIELD", at: "image: nginx", document: 2, field: "spec.containers[0].name" },
  { name: "containerPort as a string", text: file(n1, ported('"8080"')), code: "E_TYPE", at: "containerPort", document: 2, field: "spec.containers[1].ports[0].containerPort" },
  { name: "containerPort too large", text: file(n1, ported("70000")), code: "E_PORT", at: "containerPort", document: 2, field: "spec.containers[1].ports[0].containerPort", hint: "1 to 65535" },
  { name: "containerPort zero", text: file(n1, ported("0")), code: "E_PORT", at: "containerPort", document: 2, field: "spec.containers[1].ports[0].containerPort" },
  { name: "invalid protocol", text: file(n1, ported("80", "ICMP")), code: "E_ENUM", at: "protocol: ICMP", document: 2, field: "spec.containers[1].ports[0].protocol", hint: "TCP, UDP, SCTP" },
  {
    name: "error inside a List item",
    text: lines("apiVersion: v1", "kind: List", "items:", "- apiVersion: v1", "  kind: Node", "  metadata:", "    name: a", "  spec:", "    podCIDR: nope"),
    code: "E_CIDR_SYNTAX",
    at: "podCIDR: nope",
    document: 1,
    field: "items[0].spec.podCIDR",
  },
  { name: "List item not a mapping", text: lines("apiVersion: v1", "kind: List", "items:", "- 42"), code: "E_DOCUMENT", at: "- 42", document: 1, field: "items[0]" },
  { name: "List items not a list", text: lines("apiVersion: v1", "kind: List", "items: {}"), code: "E_TYPE", at: "items", document: 1, field: "items" },
];

function lineOf(text: string, needle: string, nth = 1): number {
  let from = -1;
  for (let i = 0; i < nth; i++) {
    from = text.indexOf(needle, from + 1);
    if (from < 0) throw new Error(`test bug: ${JSON.stringify(needle)} not found ${nth} times`);
  }
  return text.slice(0, from).split("\n").length;
}

for (const c of BAD) {
  test(`rejected: ${c.name}`, (t) => {
    const err = t.throws(() => parseClusterYaml(c.text, "bad.yaml"), { instanceOf: PodwireError });
    t.is(err.code, c.code, err.message);
    const expected: InputLocation = { file: "bad.yaml", line: c.line ?? lineOf(c.text, c.at, c.nth), document: c.document };
    t.like(err.location, expected, err.message);
    t.is(err.location?.field, c.field, err.message);
    t.truthy(err.hint, "every error has a hint");
    if (c.hint) t.true(err.hint!.includes(c.hint), err.hint);
    t.false(err.detail.includes("\n"), "the message is one line");
  });
}

// --- Robustness ------------------------------------------------------------------------------------

/** One edit of the text: delete a line, or overwrite a character with something YAML cares about. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant("replace" as const),
    at: fc.nat(),
    with: fc.constantFrom(..." :-[]{}'\"#&*!|>,%@`\t\n0129./aZ~".split("")),
  }),
);

function mutate(text: string, edits: Array<{ kind: "delete" | "replace"; at: number; with?: string }>): string {
  let out = text;
  for (const edit of edits) {
    if (edit.kind === "delete") {
      const ls = out.split("\n");
      ls.splice(edit.at % ls.length, 1);
      out = ls.join("\n");
    } else if (out.length > 0) {
      const i = edit.at % out.length;
      out = out.slice(0, i) + edit.with! + out.slice(i + 1);
    }
  }
  return out;
}

const MUTATION_BASE =
  DEFAULT_CLUSTER_YAML +
  "---\n" +
  lines(
    "apiVersion: v1",
    "kind: List",
    "items:",
    "- apiVersion: v1",
    "  kind: Node",
    "  metadata: {name: n9, labels: {zone: b}}",
    "  status:",
    "    addresses: [{type: InternalIP, address: 192.168.56.50}]",
    "- apiVersion: v1",
    "  kind: Service",
    "  metadata: {name: web}",
    "  spec: {ports: [{port: 80}]}",
  );

test("the mutation base itself is valid", (t) => {
  t.is(parseClusterYaml(MUTATION_BASE, "m.yaml").nodes.length, 4);
});

testProp(
  "mutated files either load or fail with a PodwireError",
  [fc.array(mutation, { minLength: 1, maxLength: 4 })],
  (t, edits) => {
    const text = mutate(MUTATION_BASE, edits);
    try {
      parseClusterYaml(text, "m.yaml");
      t.pass();
    } catch (err) {
      t.true(err instanceof PodwireError, `${String(err)}\n--- input ---\n${text}`);
    }
  },
  { numRuns: 400 },
);
