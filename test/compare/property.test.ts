/**
 * compare-modes on random valid clusters (test/check/random-cluster.ts; the YAML's proxyMode
 * is overridden per run): every flow runs in every runnable mode, and every difference
 * between the modes is one kube-proxy documents (known-differences.ts). On failure the
 * cluster file is printed.
 */
import { testProp } from "@fast-check/ava";
import { parseClusterYaml } from "../../src/cluster/load.js";
import { RUNNABLE_MODES } from "../../src/cluster/proxy-modes/index.js";
import { runCompare } from "../../src/compare/index.js";
import { arbCluster, clusterYaml } from "../check/random-cluster.js";

const SHRINK_BUDGET_MS = 40_000;
let firstFailure: number | null = null;

testProp(
  "compare-modes: on random clusters every difference between the modes is documented",
  [arbCluster],
  (t, c) => {
    if (firstFailure !== null && Date.now() - firstFailure > SHRINK_BUDGET_MS) {
      t.pass();
      return;
    }
    const yaml = clusterYaml(c, "iptables");
    const r = runCompare(parseClusterYaml(yaml, "random.yaml"));
    t.deepEqual(r.modes, RUNNABLE_MODES);
    for (const cmp of r.comparisons) t.is(Object.keys(cmp.outcomes).length, RUNNABLE_MODES.length, cmp.flow.key);
    const bad = r.differences
      .filter((d) => !d.documented)
      .map((d) => `${d.flow.key} [Kubernetes: ${d.flow.expectation?.reason ?? "answers"}]: ${d.reason}\n    ${JSON.stringify(d.outcomes)}`);
    if (bad.length > 0) firstFailure ??= Date.now();
    t.deepEqual(bad, [], `--- the cluster file ---\n${yaml}`);
  },
  { numRuns: 8 },
);
