/**
 * `check` on inputs nobody here wrote for podwire: the Online Boutique manifests, unedited,
 * and a kind cluster's `kubectl get -A -o yaml` dump with no podwire document. Every
 * Service port is reached from every node, by name and from outside, in both proxy modes.
 */
import test from "ava";
import { fileURLToPath } from "node:url";
import { runCheck } from "../../src/check/index.js";
import { loadClusterFile } from "../../src/cluster/load.js";
import type { ProxyMode } from "../../src/cluster/spec.js";

const real = (name: string): string => fileURLToPath(new URL(`../fixtures/real/${name}`, import.meta.url));

for (const mode of ["iptables", "ipvs"] as ProxyMode[]) {
  test(`${mode}: the Online Boutique manifests pass check: 12 Services from every node, by name and the NodePort from outside`, (t) => {
    const spec = loadClusterFile(real("online-boutique.yaml"));
    spec.proxyMode = mode;
    const r = runCheck(spec);
    t.deepEqual(r.cells.filter((c) => c.outcome !== "ok").map((c) => `${c.from} → ${c.to}: ${c.reason}`), []);
    t.is(r.summary.ok, 132);
    const frontend = r.cells.filter((c) => c.to.startsWith("svc/default/frontend-external") && c.from.startsWith("ext/"));
    t.is(frontend.length, 3);
    t.true(frontend.every((c) => /^pod\/default\/frontend-/.test(c.endpoint ?? "")));
  });

  test(`${mode}: a kind cluster's kubectl dump passes check without a podwire document`, (t) => {
    const spec = loadClusterFile(real("kind-dump.yaml"));
    spec.proxyMode = mode;
    const r = runCheck(spec);
    t.deepEqual(r.cells.filter((c) => c.outcome !== "ok").map((c) => `${c.from} → ${c.to}: ${c.reason}`), []);
    t.is(r.summary.ok, 46);
    // The API server is on the control plane's host network at its InternalIP.
    t.true(r.cells.filter((c) => c.to.startsWith("svc/default/kubernetes")).every((c) => c.endpoint === "node/kind-control-plane (172.18.0.3:6443)"));
  });
}
