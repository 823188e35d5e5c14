/**
 * Reading Services and EndpointSlices as kubectl prints them, deriving slices from Pods,
 * allocating cluster IPs and node ports, the built-in Services, and every validation error
 * with its location.
 */
import test from "ava";
import { PodwireError } from "../../src/base/index.js";
import {
  buildEndpointsMap,
  buildKubeModel,
  builtinServiceDocuments,
  categorizeEndpoints,
  servicePortInfos,
  syncIptablesRules,
  type KubeDocument,
  type KubePod,
} from "../../src/kube/index.js";
import { slice, svc, svcPort80 } from "./build.js";
import { loadDocs, parseDocs } from "./helpers.js";

const CIDR = { serviceCIDR: "10.96.0.0/12" };

function pod(name: string, ip: string, labels: Record<string, string>, ports: { name?: string; containerPort: number; protocol?: "TCP" | "UDP" }[], extra: Partial<KubePod> = {}): KubePod {
  return {
    namespace: "shop",
    name,
    nodeName: "worker-1",
    podIP: ip,
    labels,
    containers: [{ name: "main", ports: ports.map((p) => ({ protocol: "TCP", ...p })) }],
    ...extra,
  };
}

test("kubectl get svc -o yaml: every Service type and field", (t) => {
  const m = buildKubeModel(loadDocs("kubectl-get-svc.yaml"), [], CIDR);
  t.deepEqual(m.services.map((s) => `${s.namespace}/${s.name}`), ["shop/db", "shop/edge", "shop/upstream", "shop/web", "shop/web-np"]);
  const web = m.services.find((s) => s.name === "web")!;
  t.is(web.clusterIP, "10.96.120.7");
  t.deepEqual(web.ports.map((p) => [p.name, p.port, p.targetPort]), [["http", 80, "http"], ["metrics", 9090, 9090]]);
  t.deepEqual(web.selector, { app: "web" });
  const np = m.services.find((s) => s.name === "web-np")!;
  t.is(np.ports[0]!.nodePort, 30080);
  t.is(np.sessionAffinity, "ClientIP");
  t.is(np.affinityTimeoutSeconds, 600);
  const edge = m.services.find((s) => s.name === "edge")!;
  t.deepEqual(edge.loadBalancerIPs, ["192.168.56.240"], "hostname and Proxy-mode ingress are not captured");
  t.is(edge.healthCheckNodePort, 31999);
  t.is(edge.externalTrafficPolicy, "Local");
  t.true(m.services.find((s) => s.name === "db")!.headless);
  t.is(m.services.find((s) => s.name === "upstream")!.type, "ExternalName");
  t.deepEqual(servicePortInfos(m.services.find((s) => s.name === "db")!), [], "headless: skipped by kube-proxy");
  t.deepEqual(servicePortInfos(m.services.find((s) => s.name === "upstream")!), [], "ExternalName: skipped");
});

test("kubectl get endpointslice -o yaml: conditions, nodeName, hints", (t) => {
  const docs = [...loadDocs("kubectl-get-svc.yaml"), ...loadDocs("kubectl-get-endpointslice.yaml")];
  const m = buildKubeModel(docs, [], CIDR);
  const given = m.endpointSlices.filter((s) => !s.derived);
  t.is(given.length, 1);
  const eps = buildEndpointsMap(m.endpointSlices, { hostname: "worker-1" }).get("shop/edge:https/TCP")!;
  t.deepEqual(eps.map((e) => [e.text, e.isLocal, e.ready, e.serving, e.terminating, [...(e.zoneHints ?? [])]]), [
    ["10.244.1.12:8443", true, true, true, false, ["zone-a"]],
    ["10.244.2.7:8443", false, false, true, true, ["zone-b"]],
  ]);
  // edge has a slice, so nothing is derived for it; web and web-np get derived (empty) ones.
  t.false(m.endpointSlices.some((s) => s.derived && s.serviceName === "edge"));
  const text = syncIptablesRules(m, { hostname: "worker-1", nodeIP: "192.168.56.11", clusterCIDR: "10.244.0.0/16" }).text;
  t.true(text.includes('-A KUBE-FW-'));
  t.true(text.includes('"shop/edge:https health check node port" -m tcp -p tcp --dport 31999 -j ACCEPT'));
  t.true(text.includes('"shop/web:http has no endpoints"'));
});

test("nil Ready counts as ready; nil Serving as serving", (t) => {
  const m = buildKubeModel([svc("a", "s", { clusterIP: "10.96.0.50", ports: svcPort80() }), slice("a", "s", [{ name: "p80", port: 80 }], [{ ip: "10.244.0.5" }])], [], CIDR);
  const [ep] = buildEndpointsMap(m.endpointSlices, { hostname: "n" }).get("a/s:p80/TCP")!;
  t.true(ep!.ready && ep!.serving && !ep!.terminating);
});

test("EndpointSlices are derived from Pods like the EndpointSlice controller", (t) => {
  const docs = loadDocs("kubectl-get-svc.yaml");
  const pods = [
    pod("web-1", "10.244.1.5", { app: "web", tier: "fe" }, [{ name: "http", containerPort: 8080 }, { name: "metrics", containerPort: 9090 }]),
    pod("web-2", "10.244.2.6", { app: "web" }, [{ name: "http", containerPort: 8081 }], { nodeName: "worker-2", ready: false }),
    pod("web-3", "10.244.2.9", { app: "web" }, [{ containerPort: 8080 }], { nodeName: "worker-2" }),
    pod("other", "10.244.1.9", { app: "db" }, [{ name: "http", containerPort: 80 }]),
    { ...pod("web-x", "10.244.3.3", { app: "web" }, [{ name: "http", containerPort: 8080 }]), namespace: "elsewhere" },
  ];
  const m = buildKubeModel(docs, pods, CIDR);
  const map = buildEndpointsMap(m.endpointSlices, { hostname: "worker-1" });
  // targetPort "http" resolves per Pod; web-3 has no port named http and is left out of it.
  t.deepEqual(map.get("shop/web:http/TCP")!.map((e) => [e.text, e.ready, e.isLocal]), [
    ["10.244.1.5:8080", true, true],
    ["10.244.2.6:8081", false, false],
  ]);
  // A numeric targetPort is used as is, whatever the containers declare.
  t.deepEqual(map.get("shop/web:metrics/TCP")!.map((e) => e.text), ["10.244.1.5:9090", "10.244.2.6:9090", "10.244.2.9:9090"]);
  t.deepEqual(map.get("shop/web-np/TCP")!.map((e) => e.text), ["10.244.1.5:8080", "10.244.2.6:8080", "10.244.2.9:8080"]);
  const webSlices = m.endpointSlices.filter((s) => s.serviceName === "web");
  t.true(webSlices.every((s) => s.derived));
  t.is(webSlices.length, 3, "Pods with different resolved ports go to different slices");
  // The not-ready Pod is not used.
  const text = syncIptablesRules(m, { hostname: "worker-1", nodeIP: "192.168.56.11", clusterCIDR: "10.244.0.0/16" }).text;
  t.true(text.includes("--to-destination 10.244.1.5:8080"));
  t.false(text.includes("--to-destination 10.244.2.6:8081"));
});

test("terminating Pods become serving+terminating endpoints", (t) => {
  const m = buildKubeModel(
    [svc("shop", "w", { clusterIP: "10.96.0.60", selector: { app: "w" }, ports: svcPort80() })],
    [pod("w-1", "10.244.1.5", { app: "w" }, [], { terminating: true })],
    CIDR,
  );
  const [ep] = buildEndpointsMap(m.endpointSlices, { hostname: "x" }).get("shop/w:p80/TCP")!;
  t.deepEqual([ep!.ready, ep!.serving, ep!.terminating], [false, true, true]);
});

test("topology hints narrow cluster endpoints only when every ready endpoint has them", (t) => {
  const s = svc("a", "s", { clusterIP: "10.96.0.70", ports: svcPort80() });
  const run = (eps: Parameters<typeof slice>[3], zone: string, nodeHints = false) => {
    const m = buildKubeModel([s, slice("a", "s", [{ name: "p80", port: 80 }], eps)], [], CIDR);
    const port = servicePortInfos(m.services[0]!)[0]!;
    const all = buildEndpointsMap(m.endpointSlices, { hostname: "n1", nodeHints }).get(port.key)!;
    return categorizeEndpoints(all, port, { nodeName: "n1", zone }).cluster.map((e) => e.ip);
  };
  const hinted = [{ ip: "10.0.0.1", zones: ["a"] }, { ip: "10.0.0.2", zones: ["b"] }];
  t.deepEqual(run(hinted, "a"), ["10.0.0.1"]);
  t.deepEqual(run(hinted, "c"), ["10.0.0.1", "10.0.0.2"], "no endpoint for this zone: ignore hints");
  t.deepEqual(run(hinted, ""), ["10.0.0.1", "10.0.0.2"], "node without a zone label");
  t.deepEqual(run([{ ip: "10.0.0.1", zones: ["a"] }, { ip: "10.0.0.2" }], "a"), ["10.0.0.1", "10.0.0.2"], "one ready endpoint without hints");
  const nodes = [{ ip: "10.0.0.1", zones: ["a"], nodesHint: ["n1"] }, { ip: "10.0.0.2", zones: ["a"], nodesHint: ["n2"] }];
  t.deepEqual(run(nodes, "a"), ["10.0.0.1", "10.0.0.2"], "forNodes ignored without PreferSameTrafficDistribution");
  t.deepEqual(run(nodes, "a", true), ["10.0.0.1"], "forNodes honoured with the gate on");
});

test("cluster IPs: kubernetes gets .1, kube-dns .10, others the lowest free address", (t) => {
  const docs = [
    svc("default", "kubernetes", { ports: [{ name: "https", port: 443, targetPort: 6443 }] }),
    svc("kube-system", "kube-dns", { selector: { "k8s-app": "kube-dns" }, ports: [{ name: "dns", port: 53, protocol: "UDP" }, { name: "dns-tcp", port: 53, protocol: "TCP" }] }),
    svc("b", "two", { ports: svcPort80() }),
    svc("a", "one", { ports: svcPort80() }),
    svc("a", "fixed", { clusterIP: "10.96.0.2", ports: svcPort80() }),
  ];
  const ips = Object.fromEntries(buildKubeModel(docs, [], CIDR).services.map((s) => [`${s.namespace}/${s.name}`, s.clusterIP]));
  t.deepEqual(ips, { "a/fixed": "10.96.0.2", "a/one": "10.96.0.3", "b/two": "10.96.0.4", "default/kubernetes": "10.96.0.1", "kube-system/kube-dns": "10.96.0.10" });
});

test("node ports: lowest free in 30000-32767, health check ports too; same port for TCP and UDP of one Service", (t) => {
  const docs = [
    svc("a", "lb", { type: "LoadBalancer", externalTrafficPolicy: "Local", ports: svcPort80() }),
    svc("a", "np", { type: "NodePort", ports: [{ name: "x", port: 1, nodePort: 30001 }, { name: "y", port: 2 }] }),
    svc("a", "dns", { type: "NodePort", ports: [{ name: "u", port: 53, protocol: "UDP", nodePort: 30053 }, { name: "t", port: 53, protocol: "TCP", nodePort: 30053 }] }),
  ];
  const m = buildKubeModel(docs, [], CIDR);
  const get = (n: string) => m.services.find((s) => s.name === n)!;
  t.is(get("lb").ports[0]!.nodePort, 30000);
  t.is(get("lb").healthCheckNodePort, 30002);
  t.deepEqual(get("np").ports.map((p) => p.nodePort), [30001, 30003]);
  t.deepEqual(get("dns").ports.map((p) => p.nodePort), [30053, 30053]);
});

test("builtin Services: kubernetes → apiserver:6443 and kube-dns → CoreDNS Pods", (t) => {
  const user = loadDocs("kubectl-get-svc.yaml");
  const extra = builtinServiceDocuments(user, { serviceCIDR: "10.96.0.0/12", apiserverAddress: "192.168.56.10" });
  t.deepEqual(extra.map((d) => d.kind), ["Service", "EndpointSlice", "Service"]);
  const coredns = [
    { ...pod("coredns-1", "10.244.0.2", { "k8s-app": "kube-dns" }, [{ name: "dns", containerPort: 53, protocol: "UDP" }, { name: "dns-tcp", containerPort: 53 }, { name: "metrics", containerPort: 9153 }]), namespace: "kube-system", nodeName: "cp" },
  ];
  const m = buildKubeModel([...user, ...extra], coredns, CIDR);
  const text = syncIptablesRules(m, { hostname: "cp", nodeIP: "192.168.56.10", clusterCIDR: "10.244.0.0/16" }).text;
  t.true(text.includes('-A KUBE-SERVICES -m comment --comment "default/kubernetes:https cluster IP" -m tcp -p tcp -d 10.96.0.1 --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y'));
  t.true(text.includes("--to-destination 192.168.56.10:6443"));
  t.true(text.includes('"kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53'));
  t.true(text.includes('"kube-system/kube-dns:metrics cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 9153'));
  t.true(text.includes("-m udp -p udp -j DNAT --to-destination 10.244.0.2:53"));
  // Nothing is added when the user defines them.
  t.deepEqual(builtinServiceDocuments([...user, ...extra], { serviceCIDR: "10.96.0.0/12", apiserverAddress: "192.168.56.10" }), []);
});

test("an EndpointSlice for an unknown Service is kept with a warning and has no effect", (t) => {
  const m = buildKubeModel([slice("a", "ghost", [{ name: "p80", port: 80 }], [{ ip: "10.0.0.1" }])], [], CIDR);
  t.is(m.endpointSlices.length, 1);
  t.is(m.warnings.length, 1);
  t.regex(m.warnings[0]!.detail, /Service a\/ghost, which does not exist/);
  t.false(syncIptablesRules(m, { hostname: "n", nodeIP: "192.168.0.2" }).text.includes("10.0.0.1"));
});

// --- Validation errors, each with its location --------------------------------------------------

function fails(t: import("ava").ExecutionContext, docs: KubeDocument[], code: string, field: string, opts: Partial<typeof CIDR & { nodePortRange: string }> = {}): PodwireError {
  const err = t.throws(() => buildKubeModel(docs, [], { ...CIDR, ...opts }), { instanceOf: PodwireError })!;
  const e = err as PodwireError;
  t.is(e.code, code, e.message);
  t.is(e.location?.field, field, e.message);
  t.truthy(e.location?.file);
  t.truthy(e.hint);
  return e;
}

const yamlService = (spec: string): KubeDocument[] =>
  parseDocs(`apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  namespace: a\nspec:\n${spec}`, "bad.yaml");

test("errors: duplicate clusterIP names the other Service", (t) => {
  const e = fails(t, [svc("a", "one", { clusterIP: "10.96.0.20", ports: svcPort80() }), svc("a", "two", { clusterIP: "10.96.0.20", ports: svcPort80() })], "E_CLUSTER_IP_DUPLICATE", "spec.clusterIP");
  t.regex(e.message, /already used by a\/one/);
});

test("errors: clusterIP outside the service CIDR", (t) => {
  const e = fails(t, yamlService("  clusterIP: 10.0.0.5\n  ports:\n  - port: 80\n"), "E_CLUSTER_IP_RANGE", "spec.clusterIP");
  t.is(e.location?.line, 1);
  t.is(e.location?.file, "bad.yaml");
});

test("errors: invalid clusterIP", (t) => {
  fails(t, yamlService("  clusterIP: 10.96.0.300\n  ports:\n  - port: 80\n"), "E_CLUSTER_IP_INVALID", "spec.clusterIP");
});

test("errors: duplicate nodePort across Services", (t) => {
  const e = fails(t, [svc("a", "one", { type: "NodePort", ports: svcPort80({ nodePort: 30100 }) }), svc("a", "two", { type: "NodePort", ports: svcPort80({ nodePort: 30100 }) })], "E_NODE_PORT_DUPLICATE", "spec.ports[0].nodePort");
  t.regex(e.message, /already used by a\/one/);
});

test("errors: nodePort out of range and on a ClusterIP Service", (t) => {
  fails(t, yamlService("  type: NodePort\n  ports:\n  - port: 80\n    nodePort: 80\n"), "E_NODE_PORT_RANGE", "spec.ports[0].nodePort");
  fails(t, yamlService("  ports:\n  - port: 80\n    nodePort: 30080\n"), "E_NODE_PORT", "spec.ports[0].nodePort");
});

test("errors: port and targetPort out of range", (t) => {
  fails(t, yamlService("  ports:\n  - port: 70000\n"), "E_PORT_RANGE", "spec.ports[0].port");
  fails(t, yamlService("  ports:\n  - port: 80\n    targetPort: 0\n"), "E_PORT_RANGE", "spec.ports[0].targetPort");
  fails(t, yamlService("  ports:\n  - port: 80\n    targetPort: Not_A_Name\n"), "E_SERVICE_TARGET_PORT", "spec.ports[0].targetPort");
});

test("errors: unknown protocol, type, policy and affinity", (t) => {
  fails(t, yamlService("  ports:\n  - port: 80\n    protocol: ICMP\n"), "E_PROTOCOL", "spec.ports[0].protocol");
  fails(t, yamlService("  type: Magic\n  ports:\n  - port: 80\n"), "E_SERVICE_TYPE", "spec.type");
  fails(t, yamlService("  externalTrafficPolicy: Nearby\n  ports:\n  - port: 80\n"), "E_SERVICE_POLICY", "spec.externalTrafficPolicy");
  fails(t, yamlService("  sessionAffinity: ClientIP\n  sessionAffinityConfig:\n    clientIP:\n      timeoutSeconds: 0\n  ports:\n  - port: 80\n"), "E_SERVICE_AFFINITY", "spec.sessionAffinityConfig.clientIP.timeoutSeconds");
});

test("errors: bad selectors", (t) => {
  fails(t, yamlService("  selector:\n    app: true\n  ports:\n  - port: 80\n"), "E_SELECTOR", "spec.selector.app");
  fails(t, yamlService("  selector:\n    'bad key!': x\n  ports:\n  - port: 80\n"), "E_SELECTOR", "spec.selector.bad key!");
  fails(t, yamlService("  selector:\n    app: 'has spaces'\n  ports:\n  - port: 80\n"), "E_SELECTOR", "spec.selector.app");
});

test("errors: port names, missing ports, headless non-ClusterIP, health check port", (t) => {
  fails(t, yamlService("  ports:\n  - port: 80\n  - port: 81\n"), "E_SERVICE_PORT_NAME", "spec.ports[0].name");
  fails(t, yamlService("  ports:\n  - name: a\n    port: 80\n  - name: a\n    port: 81\n"), "E_SERVICE_PORT_NAME", "spec.ports[1].name");
  fails(t, yamlService("  ports: []\n"), "E_SERVICE_PORTS", "spec.ports");
  fails(t, yamlService("  type: NodePort\n  clusterIP: None\n  ports:\n  - port: 80\n"), "E_SERVICE_HEADLESS", "spec.clusterIP");
  fails(t, yamlService("  type: NodePort\n  healthCheckNodePort: 30000\n  ports:\n  - port: 80\n"), "E_HEALTH_CHECK_PORT", "spec.healthCheckNodePort");
});

test("errors: bad IPs and source ranges", (t) => {
  fails(t, yamlService("  externalIPs: [2001:db8::1]\n  ports:\n  - port: 80\n"), "E_SERVICE_IP", "spec.externalIPs[0]");
  fails(t, yamlService("  type: LoadBalancer\n  loadBalancerSourceRanges: ['203.0.113.0/33']\n  ports:\n  - port: 80\n"), "E_SOURCE_RANGE", "spec.loadBalancerSourceRanges[0]");
});

test("errors: wrong field types, duplicates, api versions, slices", (t) => {
  fails(t, yamlService("  ports: {port: 80}\n"), "E_KUBE_TYPE", "spec.ports");
  fails(t, yamlService("  ports:\n  - port: '80'\n"), "E_KUBE_TYPE", "spec.ports[0].port");
  fails(t, [svc("a", "one", { ports: svcPort80() }), svc("a", "one", { ports: svcPort80() })], "E_KUBE_DUPLICATE", "metadata.name");
  fails(t, parseDocs("apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\nmetadata:\n  name: x\naddressType: IPv4\nendpoints: []\n", "s.yaml"), "E_KUBE_API_VERSION", "apiVersion");
  fails(t, parseDocs("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: x\naddressType: IPv4\nendpoints:\n- addresses: [10.0.0.300]\n", "s.yaml"), "E_ENDPOINT_IP", "endpoints[0].addresses[0]");
  fails(t, parseDocs("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: x\naddressType: IPv4\nports:\n- port: 80\n  protocol: GRE\n", "s.yaml"), "E_PROTOCOL", "ports[0].protocol");
});

test("errors: node port range and service CIDR options", (t) => {
  t.throws(() => buildKubeModel([], [], { serviceCIDR: "10.96.0.1/12" }), { instanceOf: PodwireError });
  t.throws(() => buildKubeModel([], [], { serviceCIDR: "10.96.0.0/12", nodePortRange: "40000-30000" }), { instanceOf: PodwireError });
});

const doc = (kind: string, apiVersion: string, body: Record<string, unknown>): KubeDocument => ({ kind, apiVersion, body: { apiVersion, kind, ...body }, location: { file: "lz.yaml" } });

test("leading-zero IPv4 addresses in Services and EndpointSlices are read as decimal and normalised, as kube-proxy's ParseIPSloppy does", (t) => {
  const svc = doc("Service", "v1", {
    metadata: { name: "lz", namespace: "default" },
    spec: { clusterIP: "172.30.0.041", externalIPs: ["10.180.00.001"], loadBalancerSourceRanges: ["203.0.113.000/025"], type: "LoadBalancer", ports: [{ port: 80, nodePort: 30080 }] },
    status: { loadBalancer: { ingress: [{ ip: "192.168.056.200" }] } },
  });
  const slice = doc("EndpointSlice", "discovery.k8s.io/v1", {
    metadata: { name: "lz-1", namespace: "default", labels: { "kubernetes.io/service-name": "lz" } },
    addressType: "IPv4",
    ports: [{ port: 80, protocol: "TCP", name: "" }],
    endpoints: [{ addresses: ["10.244.001.010"] }],
  });
  const model = buildKubeModel([svc, slice], [], { serviceCIDR: "172.30.0.0/16" });
  const s = model.services.find((x) => x.name === "lz")!;
  t.is(s.clusterIP, "172.30.0.41");
  t.deepEqual(s.externalIPs, ["10.180.0.1"]);
  t.deepEqual(s.loadBalancerSourceRanges, ["203.0.113.0/25"]);
  t.deepEqual(s.loadBalancerIPs, ["192.168.56.200"]);
  t.deepEqual(model.endpointSlices[0]!.endpoints[0]!.addresses, ["10.244.1.10"]);
  // Still not an address: refused.
  t.throws(() => buildKubeModel([doc("Service", "v1", { metadata: { name: "bad" }, spec: { clusterIP: "172.30.0.0411", ports: [{ port: 80 }] } })], [], { serviceCIDR: "172.30.0.0/16" }), { message: /is not an IPv4 address/ });
});
