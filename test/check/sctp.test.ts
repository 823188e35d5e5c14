/** check sends real SCTP associations to SCTP Service and Pod ports in every mode; a mode that did not carry SCTP would say so. */
import test from "ava";
import { planCheck, runCheck, withProbePods } from "../../src/check/index.js";
import { bootCluster } from "../../src/cluster/boot.js";
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

for (const mode of ["iptables", "ipvs", "nftables"] as ProxyMode[]) {
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

test("ipvs: the SCTP Service port is planned like any other (ClusterIP from every node, NodePort from outside), nothing skipped", (t) => {
  const r = sctpCells("ipvs");
  t.deepEqual(r.skipped.filter((s) => s.target.endsWith("/SCTP")), []);
  const cells = r.cells.filter((c) => c.column === "default/diameter:3868/SCTP");
  t.is(cells.filter((c) => c.kind === "clusterIP").length, 6, "3 probe Pods and 3 nodes to the ClusterIP");
  t.is(cells.filter((c) => c.kind === "nodePort").length, 3, "outside to the NodePort on each node");
  t.true(cells.every((c) => c.outcome === "ok"));
});

test("a mode that does not carry a protocol lists that protocol's Service ports as skipped, with the reason", (t) => {
  // Every runnable mode carries TCP, UDP and SCTP today; the mechanism stays for the next one.
  const spec = parseClusterYaml(CLUSTER, "sctp.yaml");
  spec.proxyMode = "ipvs";
  const { spec: probed, probes } = withProbePods(spec);
  const running = bootCluster(probed);
  t.deepEqual([...running.services.proxy.protocols].sort(), ["SCTP", "TCP", "UDP"]);
  Object.defineProperty(running.services.proxy, "protocols", { value: new Set(["TCP", "UDP"]) });
  const plan = planCheck(running, probes);
  t.true(plan.skipped.some((s) => s.target === "svc/default/diameter:3868/SCTP" && s.reason === "SCTP port: podwire's ipvs mode does not carry SCTP yet"));
  t.false(plan.cells.some((c) => c.column === "default/diameter:3868/SCTP"));
  t.true(plan.cells.some((c) => c.column === "pod/default/diameter:3868/SCTP"), "the Pod port is still checked");
});
