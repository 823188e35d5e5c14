/** check sends real SCTP associations to SCTP Service and Pod ports; a mode that does not carry SCTP says so. */
import test from "ava";
import { runCheck } from "../../src/check/index.js";
import { parseClusterYaml } from "../../src/cluster/load.js";
import type { ProxyMode } from "../../src/cluster/spec.js";
import { threeNodes } from "../fixtures/three-nodes.js";

const CLUSTER = `${threeNodes("sctp")}---
apiVersion: v1
kind: Pod
metadata: {name: coredns-0, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec: {nodeName: worker-1, containers: [{name: coredns, ports: [{name: dns, containerPort: 53, protocol: UDP}, {name: dns-tcp, containerPort: 53}, {name: metrics, containerPort: 9153}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: diameter, labels: {app: diameter}}
spec: {nodeName: worker-2, containers: [{name: d, ports: [{name: diameter, containerPort: 3868, protocol: SCTP}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: diameter}
spec:
  type: NodePort
  selector: {app: diameter}
  ports: [{name: diameter, port: 3868, protocol: SCTP, targetPort: diameter}]
`;

const sctpCells = (mode: ProxyMode) => {
  const spec = parseClusterYaml(CLUSTER, "sctp.yaml");
  spec.proxyMode = mode;
  return runCheck(spec);
};

for (const mode of ["iptables", "nftables"] as ProxyMode[]) {
  test(`${mode}: SCTP ClusterIP, NodePort and Pod port cells are real associations, all ok`, (t) => {
    const r = sctpCells(mode);
    const cells = r.cells.filter((c) => c.column.endsWith("/SCTP"));
    t.true(cells.length >= 3 + 3 + 3 + 1, `${cells.length} SCTP cells`);
    t.deepEqual(cells.filter((c) => c.outcome !== "ok").map((c) => `${c.from} → ${c.to}: ${c.reason}`), []);
    t.true(cells.every((c) => c.proto === "sctp"));
    t.true(cells.every((c) => /^pod\/default\/diameter \(/.test(c.endpoint ?? "")), JSON.stringify(cells.map((c) => c.endpoint)));
    t.is(r.summary.unexpected, 0);
  });
}

test("ipvs: SCTP Service ports are listed as skipped with the reason; the Pod port is still checked", (t) => {
  const r = sctpCells("ipvs");
  t.true(r.skipped.some((s) => s.target === "svc/default/diameter:3868/SCTP" && /ipvs mode does not carry SCTP yet/.test(s.reason)));
  t.false(r.cells.some((c) => c.column === "default/diameter:3868/SCTP"));
  t.true(r.cells.some((c) => c.column === "pod/default/diameter:3868/SCTP" && c.outcome === "ok"));
  t.is(r.summary.unexpected, 0);
});
