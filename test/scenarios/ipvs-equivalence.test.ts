/**
 * iptables mode and IPVS mode on the same clusters: every flow to a Service lands on a ready
 * endpoint of that Service, the reply comes back un-NATed, and both modes can reach the same
 * set of endpoints — except where kube-proxy itself makes them differ, each of which has its
 * own test. Also: iptables' `statistic` spreads new connections evenly (chi-square).
 */
import { fc, testProp } from "@fast-check/ava";
import test from "ava";
import { formatIpv4, ipv4 } from "../../src/base/index.js";
import { bootCluster } from "../../src/cluster/boot.js";
import { type ExchangeProto, runExchange } from "../../src/cluster/exchange.js";
import { parseClusterYaml } from "../../src/cluster/load.js";
import { servicePath } from "../../src/cluster/service-path.js";
import type { ProxyMode } from "../../src/cluster/spec.js";

interface SvcSpec {
  name: string;
  type: "ClusterIP" | "NodePort";
  proto: "TCP" | "UDP";
  /** Indices of the Pods it selects. */
  pods: number[];
}

interface ClusterCase {
  /** Node (1 or 2) of each backend Pod. */
  podNodes: number[];
  services: SvcSpec[];
}

function yaml(c: ClusterCase, mode: ProxyMode): string {
  const docs: string[] = [
    `apiVersion: podwire.dev/v1alpha1\nkind: Cluster\nmetadata: {name: eq}\nspec:\n  proxyMode: ${mode}\n  externalHosts: [{name: outside, ip: 192.168.56.100}]`,
    "apiVersion: v1\nkind: Node\nmetadata: {name: n1}",
    "apiVersion: v1\nkind: Node\nmetadata: {name: n2}",
    "apiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: default}\nspec: {nodeName: n1, containers: [{name: c}]}",
  ];
  c.podNodes.forEach((node, i) => {
    const labels = c.services.filter((s) => s.pods.includes(i)).map((s) => `${s.name}: "yes"`);
    docs.push(
      `apiVersion: v1\nkind: Pod\nmetadata: {name: p${i}, namespace: default, labels: {${labels.join(", ")}}}\n` +
        `spec: {nodeName: n${node}, containers: [{name: c, ports: [{name: web, containerPort: 8080}, {name: echo, containerPort: 7, protocol: UDP}]}]}`,
    );
  });
  for (const s of c.services) {
    const target = s.proto === "TCP" ? "web" : "echo";
    docs.push(`apiVersion: v1\nkind: Service\nmetadata: {name: ${s.name}, namespace: default}\nspec: {type: ${s.type}, selector: {${s.name}: "yes"}, ports: [{name: p, port: 80, protocol: ${s.proto}, targetPort: ${target}}]}`);
  }
  return docs.join("\n---\n");
}

const arbCase: fc.Arbitrary<ClusterCase> = fc
  .record({
    podNodes: fc.array(fc.integer({ min: 1, max: 2 }), { minLength: 1, maxLength: 4 }),
    services: fc.array(fc.record({ type: fc.constantFrom("ClusterIP" as const, "NodePort" as const), proto: fc.constantFrom("TCP" as const, "UDP" as const), pick: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }) }), { minLength: 1, maxLength: 3 }),
  })
  .map(({ podNodes, services }) => ({
    podNodes,
    services: services.map((s, i) => ({ name: `s${i}`, type: s.type, proto: s.proto, pods: podNodes.map((_n, j) => j).filter((j) => s.pick[j]) })),
  }));

interface Observed {
  ok: boolean;
  endpoint: string | null;
  candidates: string[];
}

/** Sends `flows` new connections to each Service (ClusterIP from the client Pod; NodePort from outside) and records where they went. */
function observe(c: ClusterCase, mode: ProxyMode, flows: number): { obs: Map<string, Observed[]>; podIps: string[] } {
  const run = bootCluster(parseClusterYaml(yaml(c, mode), `eq-${mode}.yaml`));
  const cluster = run.cluster;
  const out = new Map<string, Observed[]>();
  const podIps = c.podNodes.map((_n, i) => formatIpv4(cluster.pod("default", `p${i}`)!.spec.podIP));
  for (const s of c.services) {
    const svc = run.services.service("default", s.name)!;
    const targets: { from: string; dst: number; port: number }[] = [{ from: "pod/default/client", dst: ipv4(svc.clusterIP!), port: 80 }];
    if (s.type === "NodePort") targets.push({ from: "ext/outside", dst: cluster.node("n2")!.spec.internalIP, port: svc.ports[0]!.nodePort });
    for (const t of targets) {
      const ns = t.from.startsWith("pod/") ? cluster.pod("default", "client")!.ns : cluster.externals.get("outside")!.ns;
      const proto: ExchangeProto = s.proto === "TCP" ? "tcp" : "udp";
      const list: Observed[] = [];
      for (let i = 0; i < flows; i++) {
        const result = runExchange(cluster, { title: "eq", from: ns, fromLabel: t.from, dst: t.dst, dstPort: t.port, proto });
        const srcIp = ns.selectSource(ns.routeOutput(t.dst)!);
        const path = servicePath(cluster, result, srcIp, t.dst, t.port, proto);
        list.push({ ok: result.ok, endpoint: path.endpoint, candidates: path.candidates.map((x) => x.destination).sort() });
      }
      out.set(`${s.name} ${t.from}`, list);
    }
  }
  return { obs: out, podIps };
}

testProp(
  "iptables and IPVS modes: flows reach a ready endpoint, replies are un-NATed, the reachable endpoint sets are equal",
  [arbCase],
  (t, c) => {
    const { obs: ipt, podIps } = observe(c, "iptables", 4);
    const ipvs = observe(c, "ipvs", 4).obs;
    for (const s of c.services) {
      const port = s.proto === "TCP" ? 8080 : 7;
      const ready = s.pods.map((i) => `${podIps[i]}:${port}`).sort();
      for (const [key, a] of ipt) {
        if (!key.startsWith(`${s.name} `)) continue;
        const b = ipvs.get(key)!;
        if (ready.length === 0) {
          // No endpoints: iptables REJECTs, IPVS has a virtual server without real servers; neither answers.
          t.true(a.every((o) => !o.ok) && b.every((o) => !o.ok), key);
          continue;
        }
        for (const [mode, obs] of [["iptables", a], ["ipvs", b]] as const) {
          for (const o of obs) {
            t.true(o.ok, `${mode} ${key}: the reply came back to the client's own connection`);
            t.true(o.endpoint !== null && ready.includes(o.endpoint), `${mode} ${key}: landed on ${o.endpoint}, ready ${ready.join(" ")}`);
          }
        }
        t.deepEqual(a[0]!.candidates, ready, `iptables candidates ${key}`);
        t.deepEqual(b[0]!.candidates, ready, `ipvs candidates ${key}`);
      }
    }
  },
  { numRuns: 25 },
);

const LOCAL_POLICY = `apiVersion: podwire.dev/v1alpha1
kind: Cluster
metadata: {name: local}
spec:
  proxyMode: MODE
  externalHosts: [{name: outside, ip: 192.168.56.100}]
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
metadata: {name: b, namespace: default, labels: {app: b}}
spec: {nodeName: n2, containers: [{name: c, ports: [{name: web, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: local, namespace: default}
spec: {type: NodePort, externalTrafficPolicy: Local, selector: {app: b}, ports: [{port: 80, targetPort: web, nodePort: 30090}]}
`;

test("documented difference: externalTrafficPolicy Local on a node without local endpoints — iptables drops, IPVS falls back to cluster endpoints", (t) => {
  const results: Record<string, { ok: boolean; outcome: string }> = {};
  for (const mode of ["iptables", "ipvs"] as const) {
    const run = bootCluster(parseClusterYaml(LOCAL_POLICY.replace("MODE", mode), `local-${mode}.yaml`));
    const outside = run.cluster.externals.get("outside")!;
    const r = runExchange(run.cluster, { title: "local", from: outside.ns, fromLabel: "ext/outside", dst: run.cluster.node("n1")!.spec.internalIP, dstPort: 30090, proto: "tcp" });
    results[mode] = { ok: r.ok, outcome: r.outcome };
  }
  t.false(results.iptables!.ok, "iptables mode: KUBE-EXT has no local endpoints → DROP");
  t.regex(results.iptables!.outcome, /timed out/);
  t.true(results.ipvs!.ok, `IPVS mode: the virtual server falls back to the cluster's endpoints (${results.ipvs!.outcome})`);
});

test("a Service without endpoints: both modes refuse with ICMP port unreachable — iptables by its REJECT rule, IPVS by ip_vs_leave", (t) => {
  const doc = LOCAL_POLICY.replace("selector: {app: b}", "selector: {app: nobody}").replace("externalTrafficPolicy: Local, ", "");
  const outcomes: Record<string, string> = {};
  for (const mode of ["iptables", "ipvs"] as const) {
    const run = bootCluster(parseClusterYaml(doc.replace("MODE", mode), `empty-${mode}.yaml`));
    const vip = ipv4(run.services.service("default", "local")!.clusterIP!);
    const node = run.cluster.node("n1")!;
    // From the node itself, to the ClusterIP.
    const r = runExchange(run.cluster, { title: "empty", from: node.ns, fromLabel: "node/n1", dst: vip, dstPort: 80, proto: "tcp" });
    outcomes[mode] = r.outcome;
  }
  t.regex(outcomes.iptables!, /ICMP port unreachable/, "iptables: REJECT in filter OUTPUT");
  t.regex(outcomes.ipvs!, /ICMP port unreachable|connection refused/, `IPVS: ip_vs_leave answers port unreachable (${outcomes.ipvs})`);
});

test("iptables' statistic spreads new connections evenly over endpoints (chi-square, 4 endpoints, 400 connections)", (t) => {
  const pods = [0, 1, 2, 3].map((i) => `apiVersion: v1\nkind: Pod\nmetadata: {name: p${i}, namespace: default, labels: {app: w}}\nspec: {nodeName: n${1 + (i % 2)}, containers: [{name: c, ports: [{name: echo, containerPort: 7, protocol: UDP}]}]}`);
  const doc = [
    "apiVersion: podwire.dev/v1alpha1\nkind: Cluster\nmetadata: {name: chi}\nspec: {seed: 7}",
    "apiVersion: v1\nkind: Node\nmetadata: {name: n1}",
    "apiVersion: v1\nkind: Node\nmetadata: {name: n2}",
    "apiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: default}\nspec: {nodeName: n1, containers: [{name: c}]}",
    ...pods,
    "apiVersion: v1\nkind: Service\nmetadata: {name: w, namespace: default}\nspec: {selector: {app: w}, ports: [{port: 7, protocol: UDP, targetPort: echo}]}",
  ].join("\n---\n");
  const run = bootCluster(parseClusterYaml(doc, "chi.yaml"));
  const client = run.cluster.pod("default", "client")!;
  const vip = ipv4(run.services.service("default", "w")!.clusterIP!);
  const counts = new Map<string, number>();
  const n = 400;
  for (let i = 0; i < n; i++) {
    const r = runExchange(run.cluster, { title: "chi", from: client.ns, fromLabel: "pod/default/client", dst: vip, dstPort: 7, proto: "udp" });
    const path = servicePath(run.cluster, r, client.spec.podIP, vip, 7, "udp");
    counts.set(path.endpoint ?? "none", (counts.get(path.endpoint ?? "none") ?? 0) + 1);
  }
  t.is(counts.size, 4, [...counts.keys()].join(" "));
  const expected = n / 4;
  const chi2 = [...counts.values()].reduce((s, o) => s + (o - expected) ** 2 / expected, 0);
  // 3 degrees of freedom: the 0.1% critical value is 16.27.
  t.true(chi2 < 16.27, `chi-square ${chi2.toFixed(2)} for ${JSON.stringify(Object.fromEntries(counts))}`);
  t.log(`chi-square ${chi2.toFixed(2)}: ${[...counts].map(([k, v]) => `${k}=${v}`).join(", ")}`);
});
