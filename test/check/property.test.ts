/**
 * `podwire check` on random valid clusters (issue 9, item 8): in iptables and in IPVS mode,
 * no cell fails unexpectedly. Every cell either answers, or fails the way Kubernetes says it
 * must (no endpoints → REJECT, a traffic policy Local without a local endpoint → DROP, a
 * client outside loadBalancerSourceRanges → DROP, …).
 *
 * The clusters (random-cluster.ts) come as YAML through parseClusterYaml, so the whole loading
 * path runs: the Cluster document, Nodes with a control plane (tainted or not), CoreDNS,
 * Deployments, StatefulSets, DaemonSets and bare Pods (some on the host network), and Services
 * of every type with named and numbered targetPorts, traffic policies, ClientIP affinity,
 * externalIPs, LoadBalancer IPs and source ranges. On failure the unexpected cells and the
 * cluster file are printed; the seed is in the test's title.
 */
import { fc, testProp } from "@fast-check/ava";
import type { ExecutionContext } from "ava";
import { type CheckReport, runCheck } from "../../src/check/index.js";
import { parseClusterYaml } from "../../src/cluster/load.js";
import { type GenCluster, arbCluster, clusterYaml } from "./random-cluster.js";

const NUM_RUNS = 10;
/** Shrinking reruns check (~1 s each): past this much time after the first failure, stop shrinking and report the smallest so far. */
const SHRINK_BUDGET_MS = 45_000;

function unexpectedCells(r: CheckReport): string[] {
  return r.cells.filter((c) => c.outcome === "unexpected-failure").map((c) => `${c.from} → ${c.to} ${c.port}/${c.proto}${c.expected ? ` [expected: ${c.expected}]` : ""}: ${c.reason}`);
}

function checkProperty(mode: "iptables" | "ipvs") {
  let firstFailure: number | null = null;
  return (t: ExecutionContext, c: GenCluster) => {
    if (firstFailure !== null && Date.now() - firstFailure > SHRINK_BUDGET_MS) {
      // Out of shrinking time: count the rest as passing, so the smallest failure so far is reported.
      t.pass();
      return;
    }
    const yaml = clusterYaml(c, mode);
    const spec = parseClusterYaml(yaml, `random-${mode}.yaml`);
    const report = runCheck(spec);
    t.is(report.mode, mode);
    const bad = unexpectedCells(report);
    if (bad.length > 0) firstFailure ??= Date.now();
    t.true(report.cells.length > 0);
    t.is(report.summary.unexpected, 0, `${bad.length} unexpected failure(s) in ${mode} mode:\n${bad.join("\n")}\n\n--- cluster file ---\n${yaml}`);
  };
}

for (const mode of ["iptables", "ipvs"] as const) {
  testProp(`check: random valid clusters have no unexpected failure (${mode} mode)`, [arbCluster], checkProperty(mode), { numRuns: NUM_RUNS });
}

// The generator itself: its clusters load, and cover what the property is meant to cover.
testProp(
  "random clusters load, with CoreDNS, and hostNetwork ports unique per node",
  [arbCluster],
  (t, c) => {
    const spec = parseClusterYaml(clusterYaml(c, "iptables"), "random.yaml");
    t.is(spec.nodes.length, c.nodes);
    t.true(spec.pods.some((p) => p.namespace === "kube-system" && p.labels["k8s-app"] === "kube-dns"));
    const seen = new Set<string>();
    for (const p of spec.pods.filter((p) => p.hostNetwork)) {
      for (const port of p.containers.flatMap((x) => x.ports)) {
        const key = `${p.nodeName} ${port.containerPort}/${port.protocol}`;
        t.false(seen.has(key), `two hostNetwork Pods on ${key}`);
        seen.add(key);
      }
    }
  },
  { numRuns: 200 },
);

test_coverage();

/** Over many draws, the generator produces every Service type and workload kind, and hostNetwork Pods. */
function test_coverage(): void {
  testProp(
    "the generator covers every Service type, workload kind and hostNetwork",
    [fc.array(arbCluster, { minLength: 200, maxLength: 200 })],
    (t, clusters) => {
      const kinds = new Set(clusters.flatMap((c) => c.services.map((s) => s.kind)));
      const workloads = new Set(clusters.flatMap((c) => c.workloads.map((w) => w.kind)));
      t.deepEqual([...kinds].sort(), ["ClusterIP", "ExternalIPs", "Headless", "LoadBalancer", "NodePort"]);
      t.deepEqual([...workloads].sort(), ["DaemonSet", "Deployment", "Pod", "StatefulSet"]);
      t.true(clusters.some((c) => c.workloads.some((w) => w.hostNetwork)));
      t.true(clusters.some((c) => c.services.some((s) => s.target === null)));
    },
    { numRuns: 1 },
  );
}
