/**
 * `podwire check` end to end: the connectivity matrix of the embedded cluster in both proxy
 * modes, and of a cluster with one Service per case the check must judge (no endpoints,
 * externalTrafficPolicy and internalTrafficPolicy Local, loadBalancerSourceRanges, a
 * targetPort nothing listens on, headless, ExternalName, SCTP).
 */
import test from "ava";
import { type CheckCell, type CheckReport, checkJson, formatCheck, runCheck, withProbePods } from "../../src/check/index.js";
import { defaultCluster, parseClusterYaml } from "../../src/cluster/load.js";
import { formatIpv4 } from "../../src/base/index.js";
import { CHECK_CLUSTER } from "./fixture.js";

function cell(r: CheckReport, from: string, column: string, kind?: CheckCell["kind"]): CheckCell {
  const found = r.cells.filter((c) => c.from === from && c.column === column && (kind === undefined || c.kind === kind));
  if (found.length !== 1) throw new Error(`${found.length} cells from ${from} to ${column}${kind ? ` (${kind})` : ""}`);
  return found[0]!;
}

function nodePortCell(r: CheckReport, column: string, node: string): CheckCell {
  const found = r.cells.find((c) => c.kind === "nodePort" && c.column === column && c.row.endsWith(`→${node}`));
  if (!found) throw new Error(`no NodePort cell for ${column} on ${node}`);
  return found;
}

const unexpected = (r: CheckReport) => r.cells.filter((c) => c.outcome === "unexpected-failure").map((c) => `${c.from} → ${c.column}: ${c.reason}`);

const embedded = (mode: "iptables" | "ipvs") => {
  const spec = defaultCluster();
  spec.proxyMode = mode;
  return runCheck(spec);
};

test("embedded cluster, iptables mode: every cell answers", (t) => {
  const r = embedded("iptables");
  t.deepEqual(unexpected(r), []);
  t.is(r.summary.expected, 0);
  // kubernetes 443, web 80, api 80, kube-dns 53/UDP, 53/TCP, 9153, the ingress controller's 80 and 443:
  // 3 probe Pods + 3 nodes + 1 by name each; NodePorts of web (1) and the controller (2) on 3 nodes;
  // the controller's LoadBalancer IP (2 ports); 9 Pod ports; 5 L7 routes (3 Ingress paths, 2 HTTPRoute matches).
  t.is(r.summary.ok, 8 * 7 + 3 * 3 + 2 + 9 + 5);
  t.is(r.cells.length, r.summary.ok);
  t.regex(cell(r, "pod@worker-2", "default/web:80/TCP").endpoint!, /^pod\/default\/web-[01] \(10\.244\.[12]\.\d+:8080\)$/);
  for (const n of ["control-plane", "worker-1", "worker-2"]) {
    t.is(cell(r, `node/${n}`, "default/kubernetes:443/TCP").endpoint, "node/control-plane (192.168.56.10:6443)");
    t.is(cell(r, `pod@${n}`, "default/kubernetes:443/TCP").outcome, "ok");
    const np = nodePortCell(r, "default/web:80/TCP", n);
    t.is(np.outcome, "ok", `${n}: ${np.reason}`);
    t.is(np.port, 30080);
    t.regex(np.endpoint!, /^pod\/default\/web-[01] /);
  }
  const byName = cell(r, "dns@worker-1", "default/web:80/TCP", "dns");
  t.is(byName.outcome, "ok");
  t.regex(byName.to, /web\.default\.svc\.cluster\.local → 10\.96\.0\.\d+$/);
  const tcpDns = cell(r, "pod@worker-2", "kube-system/kube-dns:53/TCP");
  t.is(tcpDns.proto, "dns");
  t.is(tcpDns.endpoint, "pod/kube-system/coredns-0 (10.244.0.2:53)");
  t.is(cell(r, "pod@control-plane", "pod/default/web-0:9090/TCP").endpoint, "pod/default/web-0 (10.244.1.3:9090)");
  // Probe Pods: the lowest free address of each node's range.
  t.deepEqual(r.probes.map((p) => `${p.key} ${formatIpv4(p.ip)}`), ["podwire-check/probe-control-plane 10.244.0.3", "podwire-check/probe-worker-1 10.244.1.5", "podwire-check/probe-worker-2 10.244.2.4"]);
});

// Both modes pass since the IPVS fixes this check found: a node's own connection to a VIP
// on kube-ipvs0 takes the VIP as its source (not 127.0.0.1), a real server at the node's
// own address is delivered locally, and a local real server's reply is un-NATed at
// LOCAL_OUT (ip_vs_local_reply4).
test("embedded cluster, IPVS mode: every cell answers, as in iptables mode", (t) => {
  const r = embedded("ipvs");
  t.deepEqual(unexpected(r), []);
  t.is(r.summary.expected, 0);
  t.is(r.summary.ok, 8 * 7 + 3 * 3 + 2 + 9 + 5);
  t.regex(cell(r, "pod@worker-2", "default/web:80/TCP").endpoint!, /^pod\/default\/web-[01] /);
  t.is(cell(r, "pod@control-plane", "default/kubernetes:443/TCP").endpoint, "node/control-plane (192.168.56.10:6443)");
  t.is(cell(r, "node/worker-1", "default/kubernetes:443/TCP").outcome, "ok");
  for (const n of ["control-plane", "worker-1", "worker-2"]) t.is(nodePortCell(r, "default/web:80/TCP", n).outcome, "ok");
});

test("the same spec gives the same report", (t) => {
  t.deepEqual(checkJson(embedded("iptables")), checkJson(embedded("iptables")));
});

test("Kubernetes' reasons: no endpoints, traffic policies, source ranges; a wrong targetPort is unexpected", (t) => {
  const r = runCheck(parseClusterYaml(CHECK_CLUSTER, "test.yaml"));
  const expected = (c: CheckCell, reason: RegExp) => {
    t.is(c.outcome, "expected-failure", `${c.from} → ${c.to}: ${c.reason}`);
    t.regex(c.expected!, reason);
  };
  // No endpoints: REJECT from every source, by ClusterIP and by name.
  for (const from of ["pod@control-plane", "pod@worker-1", "pod@worker-2", "node/worker-1", "dns@worker-1"]) {
    const c = cell(r, from, "default/empty:80/TCP");
    expected(c, /^no endpoints → REJECT$/);
    t.regex(c.reason!, /ICMP port unreachable/);
  }
  t.regex(cell(r, "pod@worker-1", "default/empty:80/TCP").reason!, /default\/empty:http has no endpoints.*⇒ REJECT/);
  // externalTrafficPolicy: Local, endpoint on worker-2 only.
  const localB = "default/local-b:80/TCP";
  t.is(nodePortCell(r, localB, "worker-2").outcome, "ok");
  t.is(nodePortCell(r, localB, "worker-2").endpoint, "pod/default/b (10.244.2.10:8080)");
  expected(nodePortCell(r, localB, "worker-1"), /^externalTrafficPolicy: Local, no local endpoint on worker-1 → DROP$/);
  expected(nodePortCell(r, localB, "control-plane"), /no local endpoint on control-plane → DROP/);
  t.is(cell(r, "pod@worker-1", localB).outcome, "ok", "Pods use the internal policy (Cluster)");
  // internalTrafficPolicy: Local, endpoint on worker-1 only.
  t.is(cell(r, "pod@worker-1", "default/itp-a:80/TCP").endpoint, "pod/default/a (10.244.1.10:8080)");
  t.is(cell(r, "node/worker-1", "default/itp-a:80/TCP").outcome, "ok");
  expected(cell(r, "pod@worker-2", "default/itp-a:80/TCP"), /^internalTrafficPolicy: Local, no local endpoint on worker-2 → DROP$/);
  expected(cell(r, "node/control-plane", "default/itp-a:80/TCP"), /no local endpoint on control-plane → DROP/);
  // loadBalancerSourceRanges exclude the outside host: the LB IP drops, the external IP and NodePorts answer.
  const lb = r.cells.find((c) => c.kind === "loadBalancerIP" && c.column === "default/lb:80/TCP")!;
  expected(lb, /^source outside loadBalancerSourceRanges → DROP$/);
  t.regex(lb.reason!, /KUBE-PROXY-FIREWALL/);
  t.is(r.cells.find((c) => c.kind === "externalIP" && c.column === "default/lb:80/TCP")!.outcome, "ok");
  t.is(nodePortCell(r, "default/lb:80/TCP", "worker-1").outcome, "ok");
  // UDP through the Service and its NodePort: the echo, and who sent it.
  t.regex(cell(r, "pod@worker-2", "default/web:7/UDP").endpoint!, /^pod\/default\/[ab] \(10\.244\.[12]\.10:7\)$/);
  t.is(nodePortCell(r, "default/web:7/UDP", "worker-1").outcome, "ok");
  // Headless: by name only, straight to the Pod.
  t.false(r.cells.some((c) => c.column === "default/hl:80/TCP" && c.kind === "clusterIP"));
  const hl = cell(r, "dns@worker-1", "default/hl:80/TCP");
  t.is(hl.endpoint, "pod/default/b (10.244.2.10:8080)");
  // targetPort 8081 where the Pod listens on 8080: nothing Kubernetes expects, so unexpected everywhere.
  const broken = r.cells.filter((c) => c.column === "default/broken:80/TCP");
  t.is(broken.length, 7);
  for (const c of broken) {
    t.is(c.outcome, "unexpected-failure");
    t.is(c.expected, null);
    t.regex(c.reason!, /connection refused \(TCP RST\); default\/a answered TCP RST: no socket \(kube-proxy sent it to pod\/default\/a \(10\.244\.1\.10:8081\)\)/);
  }
  // b's SCTP port 9 is a real SCTP association from a probe on another node (ok).
  t.deepEqual(r.summary, { ok: 79, expected: 14, unexpected: 7 });
  t.is(cell(r, "pod@control-plane", "pod/default/b:9/SCTP").outcome, "ok");
  t.deepEqual(r.skipped.map((s) => s.target), ["svc/default/db"]);
  // Probes skip the addresses Pods hold: worker-1's lowest free is .2 (a is .10).
  t.deepEqual(r.probes.map((p) => formatIpv4(p.ip)), ["10.244.0.3", "10.244.1.2", "10.244.2.2"]);

  const text = formatCheck(r).join("\n");
  t.regex(text, /^check: 79 ok, 14 expected failures, 7 unexpected failures \(mode iptables\)$/m);
  t.regex(text, /^ {2}FAIL pod@worker-1 → svc\/default\/broken \(10\.96\.0\.\d+\) 80\/TCP: UNEXPECTED: connection refused/m);
  t.regex(text, /^ {2}x {4}ext\/outside → svc\/default\/local-b nodePort on node\/worker-1 \(192\.168\.56\.11\) 30081\/TCP: expected: externalTrafficPolicy: Local/m);
  t.regex(text, /^ {2}ext\/outside→worker-2 +- +ok b +ok b$/m);
});

test("IPVS mode: externalTrafficPolicy Local falls back (ok, with a note); REJECT and source ranges as in iptables mode", (t) => {
  const spec = parseClusterYaml(CHECK_CLUSTER, "test.yaml");
  spec.proxyMode = "ipvs";
  const r = runCheck(spec);
  const fallback = nodePortCell(r, "default/local-b:80/TCP", "worker-1");
  t.is(fallback.outcome, "ok");
  t.regex(fallback.note!, /IPVS mode fell back to cluster endpoints/);
  t.is(cell(r, "pod@worker-1", "default/empty:80/TCP").outcome, "expected-failure");
  // IPVS has no DROP for internalTrafficPolicy Local: ip_vs_leave answers port unreachable.
  const itp = cell(r, "pod@worker-2", "default/itp-a:80/TCP");
  t.is(itp.outcome, "expected-failure");
  t.regex(itp.reason!, /ICMP port unreachable/);
  t.is(r.cells.find((c) => c.kind === "loadBalancerIP")!.outcome, "expected-failure");
});

test("probe Pods: one ordinary Pod per node, never an endpoint", (t) => {
  const { spec, probes } = withProbePods(defaultCluster());
  t.is(probes.size, 3);
  const probe = spec.pods.find((p) => p.name === "probe-worker-1")!;
  t.like(probe, { namespace: "podwire-check", nodeName: "worker-1", hostNetwork: false, labels: { app: "podwire-check-probe" } });
  const r = runCheck(defaultCluster());
  t.false(r.cells.some((c) => c.endpoint?.includes("podwire-check/")), "no Service reaches a probe");
});
