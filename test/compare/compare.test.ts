/**
 * `podwire compare-modes` end to end: the embedded cluster (every flow compared in every
 * runnable mode), a cluster with the documented iptables/IPVS differences (each found, with
 * its reason), and the pieces: verdict classes, when sources are compared, the adapters.
 */
import test from "ava";
import { CHECK_CLUSTER } from "../check/fixture.js";
import { threeNodes } from "../fixtures/three-nodes.js";
import { defaultCluster, parseClusterYaml } from "../../src/cluster/load.js";
import { RUNNABLE_MODES } from "../../src/cluster/proxy-modes/index.js";
import {
  type CompareReport,
  type FlowComparison,
  type ModeOutcome,
  KNOWN_DIFFERENCES,
  adapterFor,
  aspectsDiffering,
  compareJson,
  formatCompare,
  runCompare,
  verdictOf,
} from "../../src/compare/index.js";
import type { ExchangeResult } from "../../src/cluster/exchange.js";

const undocumented = (r: CompareReport) => r.differences.filter((d) => !d.documented);
const describe = (d: FlowComparison) => `${d.flow.key}: ${d.reason} ${JSON.stringify(d.outcomes)}`;

let embeddedReport: CompareReport | null = null;
const embedded = () => (embeddedReport ??= runCompare(defaultCluster()));

test("embedded cluster: every flow of check is compared in every runnable mode", (t) => {
  // Speed is measured in bench/, not here: a loaded machine made a wall-clock bound flaky.
  const r = embedded();
  t.deepEqual(r.modes, RUNNABLE_MODES);
  t.is(r.baseline, "iptables");
  // kubernetes 443, kube-dns 53/UDP, 53/TCP, 9153, api 80: 3 probe Pods + 3 nodes each; web 80: 6 + 3
  // NodePorts; the ingress controller's 80 and 443: 6 + 3 NodePorts + the LoadBalancer IP each.
  t.is(r.summary.flows, 5 * 6 + 9 + 2 * 10);
  t.is(r.comparisons.length, r.summary.flows);
  for (const c of r.comparisons) {
    t.deepEqual(Object.keys(c.outcomes).sort(), [...RUNNABLE_MODES].sort(), c.flow.key);
    for (const [mode, o] of Object.entries(c.outcomes)) {
      t.is(o!.verdict, "ok", `${mode} ${c.flow.key}`);
      t.true(o!.endpoints === null || o!.endpoints.length > 0, `${mode} ${c.flow.key}: an endpoint set`);
    }
  }
  const web = r.comparisons.find((c) => c.flow.from === "pod@worker-1" && c.flow.column === "default/web:80/TCP")!;
  t.deepEqual(web.outcomes.iptables!.endpoints, ["10.244.1.3:8080", "10.244.2.2:8080"]);
  t.deepEqual(web.outcomes.ipvs!.endpoints, ["10.244.1.3:8080", "10.244.2.2:8080"]);
  t.is(web.outcomes.iptables!.sourceSeen, "client");
  const np = r.comparisons.find((c) => c.flow.kind === "nodePort" && c.flow.to.includes("node/worker-2"))!;
  t.is(np.outcomes.iptables!.sourceSeen, "node worker-2", "outside → NodePort (externalTrafficPolicy Cluster) is masqueraded");
  t.deepEqual(np.differs, []);
  t.is(r.summary.differ, r.differences.length);
  t.is(r.summary.documented + r.summary.undocumented, r.summary.differ);
});

test("embedded cluster: every difference between the modes is documented", (t) => {
  t.deepEqual(undocumented(embedded()).map(describe), []);
});

// compare-modes found this one: IPVS delivered to a real server at the node's own address
// through OUTPUT and POSTROUTING, where it was masqueraded; the kernel's
// ip_vs_nat_send_or_cont goes on up LOCAL_IN, so the server sees the client.
test("embedded cluster: a Pod on the control plane reaches the API server with its own address in both modes", (t) => {
  const c = embedded().comparisons.find((d) => d.flow.from === "pod@control-plane" && d.flow.column === "default/kubernetes:443/TCP")!;
  t.like(c.outcomes.iptables, { verdict: "ok", sourceSeen: "client", answeredFrom: "control-plane host" });
  t.like(c.outcomes.ipvs, { verdict: "ok", sourceSeen: "client", answeredFrom: "control-plane host" });
  t.deepEqual(c.differs, []);
});

test("the same spec and seed give the same report", (t) => {
  t.deepEqual(compareJson(runCompare(defaultCluster())), compareJson(embedded()));
});

/** check's cluster plus an internalTrafficPolicy Local NodePort and a LoadBalancer with no endpoints behind source ranges. */
const DIFFERENCES_CLUSTER = `${CHECK_CLUSTER}---
# Endpoints on worker-1 only; also reachable from outside.
apiVersion: v1
kind: Service
metadata: {name: itp-np, namespace: default}
spec: {type: NodePort, internalTrafficPolicy: Local, selector: {app: a}, ports: [{name: http, port: 80, targetPort: http, nodePort: 30083}]}
---
apiVersion: v1
kind: Service
metadata: {name: lb-empty, namespace: default}
spec:
  type: LoadBalancer
  selector: {app: nobody}
  loadBalancerSourceRanges: [10.0.0.0/8]
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30084}]
status: {loadBalancer: {ingress: [{ip: 192.168.56.210}]}}
`;

test("traffic policies and source ranges: the documented iptables/IPVS differences show up, each with its reason", (t) => {
  // The iptables/IPVS differences (nftables' own are checked in the next test).
  const r = runCompare(parseClusterYaml(DIFFERENCES_CLUSTER, "differences.yaml"), { modes: ["iptables", "ipvs"] });
  const find = (pred: (d: FlowComparison) => boolean) => r.comparisons.filter(pred);
  const one = (from: string, column: string, kind?: string) => {
    const found = find((c) => c.flow.from === from && c.flow.column === column && (kind === undefined || c.flow.kind === kind));
    if (found.length !== 1) throw new Error(`${found.length} flows from ${from} to ${column}`);
    return found[0]!;
  };
  const nodePort = (column: string, node: string) => find((c) => c.flow.kind === "nodePort" && c.flow.column === column && c.flow.to.includes(`node/${node} `))[0]!;

  // externalTrafficPolicy: Local, endpoint b on worker-2: iptables drops on the other nodes, IPVS falls back.
  for (const node of ["control-plane", "worker-1"]) {
    const d = nodePort("default/local-b:80/TCP", node);
    t.deepEqual(d.known, ["ipvs-external-local-fallback"], describe(d));
    t.true(d.documented);
    t.like(d.outcomes.iptables, { verdict: "dropped", endpoints: [], sourceSeen: null });
    t.like(d.outcomes.ipvs, { verdict: "ok", endpoints: ["10.244.2.10:8080"], answeredBy: "10.244.2.10:8080" });
    t.deepEqual(d.differs, ["verdict", "endpoints", "source"]);
    t.regex(d.reason!, /^ipvs: externalTrafficPolicy: Local and no local endpoint on the node: iptables mode drops .*falls back to the cluster endpoints/);
  }
  t.deepEqual(nodePort("default/local-b:80/TCP", "worker-2").differs, [], "a local endpoint: both modes send it to b, unmasqueraded");
  t.is(nodePort("default/local-b:80/TCP", "worker-2").outcomes.ipvs!.sourceSeen, "client");

  // internalTrafficPolicy: Local, endpoint a on worker-1: iptables drops elsewhere, IPVS refuses.
  for (const from of ["pod@control-plane", "pod@worker-2", "node/control-plane", "node/worker-2"]) {
    const d = one(from, "default/itp-a:80/TCP");
    t.deepEqual(d.known, ["ipvs-internal-local-unreachable"], describe(d));
    t.like(d.outcomes.iptables, { verdict: "dropped", endpoints: [] });
    t.like(d.outcomes.ipvs, { verdict: "refused", endpoints: [] });
    t.deepEqual(d.differs, ["verdict"]);
  }
  t.deepEqual(one("pod@worker-1", "default/itp-a:80/TCP").differs, []);

  // internalTrafficPolicy: Local on a NodePort Service: IPVS falls back to the cluster endpoints.
  for (const from of ["pod@control-plane", "pod@worker-2", "node/control-plane", "node/worker-2"]) {
    const d = one(from, "default/itp-np:80/TCP");
    t.deepEqual(d.known, ["ipvs-internal-local-external-fallback"], describe(d));
    t.like(d.outcomes.iptables, { verdict: "dropped", endpoints: [] });
    t.like(d.outcomes.ipvs, { verdict: "ok", endpoints: ["10.244.1.10:8080"] });
  }

  // A LoadBalancer IP with no endpoints, the client outside its source ranges: iptables refuses, IPVS drops.
  const lb = find((c) => c.flow.kind === "loadBalancerIP" && c.flow.column === "default/lb-empty:80/TCP")[0]!;
  t.deepEqual(lb.known, ["ipvs-lb-firewall-without-endpoints"], describe(lb));
  t.like(lb.outcomes.iptables, { verdict: "refused", endpoints: [] });
  t.like(lb.outcomes.ipvs, { verdict: "dropped", endpoints: [] });

  // The same in both modes: no endpoints (refused), a wrong targetPort (refused by the Pod), source ranges with endpoints (dropped).
  for (const c of find((c) => c.flow.column === "default/empty:80/TCP" || c.flow.column === "default/broken:80/TCP")) t.deepEqual(c.differs, [], describe(c));
  const broken = one("pod@worker-2", "default/broken:80/TCP");
  t.like(broken.outcomes.iptables, { verdict: "refused", endpoints: ["10.244.1.10:8081"] });
  t.like(broken.outcomes.ipvs, { verdict: "refused", endpoints: ["10.244.1.10:8081"] });
  const lbRanges = find((c) => c.flow.kind === "loadBalancerIP" && c.flow.column === "default/lb:80/TCP")[0]!;
  t.deepEqual(lbRanges.differs, []);
  t.is(lbRanges.outcomes.ipvs!.verdict, "dropped");
  // No DNS or Pod-port flows.
  t.false(r.comparisons.some((c) => c.flow.proto === "dns" && c.flow.column.startsWith("default/")));
  t.false(r.comparisons.some((c) => c.flow.column.startsWith("pod/")));

  // Everything that differs is documented.
  t.deepEqual(undocumented(r).map(describe), []);
  t.is(r.summary.documented, 2 + 4 + 4 + 1);

  const text = formatCompare(r).join("\n");
  t.regex(text, /^podwire compare-modes: cluster check \(differences\.yaml\), seed 1, 3 nodes$/m);
  t.regex(text, /^ {2}modes compared: iptables, ipvs /m);
  t.regex(text, new RegExp(`^ {2}flows run: ${r.summary.flows} in each mode`, "m"));
  t.regex(text, /^ {2}ext\/outside → svc\/default\/local-b nodePort on node\/worker-1 \(192\.168\.56\.11\) 30081\/TCP\n {4}iptables {2}dropped {2}\{\} +-\n {4}ipvs {6}ok {7}\{b 10\.244\.2\.10:8080\} {2}source node worker-1\n {4}documented: ipvs: externalTrafficPolicy: Local/m);
  t.regex(text, /\ncompare-modes: \d+ flows, \d+ differ \(11 documented, \d+ undocumented\)$/);
});

test("nftables mode: every difference from iptables mode on the differences cluster is documented (the LoadBalancer firewall without endpoints drops)", (t) => {
  const r = runCompare(parseClusterYaml(DIFFERENCES_CLUSTER, "differences.yaml"), { modes: ["iptables", "nftables"] });
  t.deepEqual(undocumented(r).map(describe), []);
  t.true(r.differences.some((d) => d.known.includes("nftables-lb-firewall-without-endpoints")));
});

test("verdict classes: ok, refused (ICMP unreachable, TCP RST), dropped (silence), other", (t) => {
  const r = (ok: boolean, outcome: string) => ({ ok, outcome }) as ExchangeResult;
  t.is(verdictOf(r(true, "HTTP/1.1 200 OK")), "ok");
  t.is(verdictOf(r(false, "connection refused (TCP RST)")), "refused");
  t.is(verdictOf(r(false, "ICMP port unreachable from 10.96.0.4")), "refused");
  t.is(verdictOf(r(false, "ICMP host unreachable from 10.244.1.1 (node/worker-1)")), "refused");
  t.is(verdictOf(r(false, "no answer (timed out)")), "dropped");
  t.is(verdictOf(r(false, "no route to host")), "other");
  t.is(verdictOf(r(false, "ICMP time exceeded in transit from 10.244.1.1")), "other");
});

test("sources are compared only between endpoints in the same place; unknown endpoint sets are not compared", (t) => {
  const o = (over: Partial<ModeOutcome>): ModeOutcome => ({ verdict: "ok", endpoints: ["10.244.1.3:8080", "10.244.2.2:8080"], sourceSeen: "client", answeredBy: "10.244.1.3:8080", answeredFrom: "worker-1 pod", ...over });
  t.deepEqual(aspectsDiffering(o({}), o({ answeredBy: "10.244.2.2:8080", answeredFrom: "worker-2 pod" })), []);
  t.deepEqual(aspectsDiffering(o({}), o({ sourceSeen: "node worker-1" })), ["source"]);
  t.deepEqual(aspectsDiffering(o({}), o({ sourceSeen: "node worker-2", answeredFrom: "worker-2 host" })), [], "another endpoint, another place: a random draw");
  t.deepEqual(aspectsDiffering(o({}), o({ endpoints: ["10.244.1.3:8080"] })), ["endpoints"]);
  t.deepEqual(aspectsDiffering(o({}), o({ endpoints: null })), []);
  t.deepEqual(aspectsDiffering(o({}), o({ verdict: "dropped", endpoints: [], sourceSeen: null, answeredBy: null, answeredFrom: null })), ["verdict", "endpoints", "source"]);
});

test("every runnable mode has an endpoint-set adapter; every documented difference names a runnable mode", (t) => {
  for (const mode of RUNNABLE_MODES) t.is(adapterFor(mode)?.mode, mode, `src/compare/adapters/: no adapter for ${mode} mode`);
  for (const d of KNOWN_DIFFERENCES) t.true(RUNNABLE_MODES.includes(d.mode), d.id);
  t.is(new Set(KNOWN_DIFFERENCES.map((d) => d.id)).size, KNOWN_DIFFERENCES.length);
});

/** SCTP Services: one with endpoints, one with externalTrafficPolicy: Local, one without endpoints. */
const SCTP_CLUSTER = `${threeNodes("sctp-compare")}---
apiVersion: v1
kind: Pod
metadata: {name: diameter, labels: {app: diameter}}
spec: {nodeName: worker-2, containers: [{name: d, ports: [{name: diameter, containerPort: 3868, protocol: SCTP}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: diameter}
spec: {type: NodePort, selector: {app: diameter}, ports: [{name: d, port: 3868, protocol: SCTP, targetPort: diameter, nodePort: 30868}]}
---
apiVersion: v1
kind: Service
metadata: {name: diameter-local}
spec: {type: NodePort, externalTrafficPolicy: Local, selector: {app: diameter}, ports: [{name: d, port: 3868, protocol: SCTP, targetPort: diameter, nodePort: 30869}]}
---
apiVersion: v1
kind: Service
metadata: {name: nobody}
spec: {selector: {app: nobody}, ports: [{name: d, port: 3868, protocol: SCTP}]}
`;

test("SCTP flows are compared in every mode: verdicts and endpoints agree except for IPVS's documented externalTrafficPolicy: Local fallback", (t) => {
  const r = runCompare(parseClusterYaml(SCTP_CLUSTER, "sctp-compare.yaml"));
  t.deepEqual(r.modes, RUNNABLE_MODES);
  const sctp = r.comparisons.filter((c) => c.flow.proto === "sctp");
  // Three Services × 6 ClusterIP flows, two NodePorts × 3 nodes.
  t.is(sctp.length, 3 * 6 + 2 * 3);
  const ep = "10.244.2.2:3868";
  for (const c of sctp) {
    t.deepEqual(Object.keys(c.outcomes).sort(), [...RUNNABLE_MODES].sort(), c.flow.key);
    t.not(c.outcomes.iptables!.endpoints, null, "the offline iptables walk follows SCTP INITs");
    // Where IPVS does not fall back (below), every mode may send the flow to the same endpoints.
    if (c.known.length === 0) {
      t.deepEqual(c.outcomes.ipvs!.endpoints, c.outcomes.nftables!.endpoints, describe(c));
      t.deepEqual(c.outcomes.iptables!.endpoints, c.outcomes.nftables!.endpoints, describe(c));
    }
    if (c.flow.column === "default/diameter:3868/SCTP") {
      for (const m of RUNNABLE_MODES) t.like(c.outcomes[m], { verdict: "ok", answeredBy: ep }, `${m} ${c.flow.key}`);
      t.deepEqual(c.outcomes.ipvs!.endpoints, [ep]);
      t.deepEqual(c.differs, []);
    }
    if (c.flow.column === "default/nobody:3868/SCTP") {
      // REJECT (iptables, nftables) and ip_vs_leave (IPVS) both answer ICMP port unreachable.
      for (const m of RUNNABLE_MODES) t.is(c.outcomes[m]!.verdict, "refused", `${m} ${c.flow.key}`);
      t.deepEqual(c.differs, []);
    }
  }
  const local = sctp.filter((c) => c.flow.kind === "nodePort" && c.flow.column === "default/diameter-local:3868/SCTP");
  for (const c of local) {
    if (c.flow.to.includes("node/worker-2 ")) t.deepEqual(c.differs, [], "a local endpoint: every mode answers");
    else {
      t.deepEqual(c.known, ["ipvs-external-local-fallback"], describe(c));
      t.like(c.outcomes.iptables, { verdict: "dropped" });
      t.like(c.outcomes.nftables, { verdict: "dropped", endpoints: [] });
      t.like(c.outcomes.ipvs, { verdict: "ok", endpoints: [ep], answeredBy: ep });
    }
  }
  t.deepEqual(undocumented(r).map(describe), []);
  t.is(r.summary.documented, 2);
  t.false(r.notes.some((n) => /cannot tell the endpoints/.test(n)), r.notes.join("\n"));
});
