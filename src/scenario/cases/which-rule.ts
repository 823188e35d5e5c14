/**
 * Scenario 15: "which rule ate my packet?" Traffic to Pods on one node dies, and nothing
 * says why: no ICMP error, no log line. On a live node the answer takes `iptables -t raw -A
 * PREROUTING … -j TRACE` and reading the kernel log (`TRACE: filter:FORWARD:policy:9`), or
 * `xtables-monitor --trace`, while the failure happens; kube-proxy itself exposes nothing
 * (kubernetes/kubernetes#74677). podwire records the walk of every packet through every
 * table offline — here, which rule dropped it, with the chain's counters.
 *
 * The classic case (kubernetes/kubernetes#40182): Docker 1.13 and later set the filter
 * FORWARD policy to DROP when it starts (so its containers are not exposed), and accept
 * only docker0's traffic. A Kubernetes node forwards all Pod traffic through FORWARD; what
 * no rule accepts meets the policy. kube-proxy's KUBE-FORWARD accepts only what it marked
 * for masquerade and established connections, so a new connection from a Pod on another node
 * to a Pod here is dropped. flannel v0.10 added its own FORWARD rules accepting the Pod
 * network (flannel PR #872); an older flannel, or a CNI plugin without them, leaves the
 * node dropping.
 */
import { formatIpv4, ipv4 } from "../../base/index.js";
import { runExchange } from "../../cluster/exchange.js";
import type { NodeRuntime } from "../../cluster/build.js";
import { applyRestore } from "../../netfilter/apply-restore.js";
import { parseRestore } from "../../netfilter/restore-parse.js";
import { printRuleSpec } from "../../netfilter/save-print.js";
import type { TraceEvent, TraceRuleStep } from "../../netdev/index.js";
import { TCP_SYN } from "../../wire/index.js";
import type { ScenarioContext } from "../context.js";
import { frameFacts } from "../frame-facts.js";
import type { Scenario, ScenarioEvidence, ScenarioFindings } from "../types.js";
import { THREE_NODES } from "../cluster-yaml.js";

const YAML = `apiVersion: podwire.dev/v1alpha1
kind: Cluster
metadata: {name: which-rule}
spec: {}
  # After boot, worker-2 gets Docker 18.09's filter rules (FORWARD policy DROP), and the
  # broken run's worker-2 runs flannel v0.9, without the FORWARD rules v0.10 added.
---
${THREE_NODES}---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, labels: {app: client}}
spec: {nodeName: worker-1, containers: [{name: client}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web}}
spec: {nodeName: worker-2, containers: [{name: web, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
`;

/** What dockerd (18.09) writes into the filter table when it starts: FORWARD's policy becomes DROP. */
const DOCKER_FILTER_RULES = `*filter
:FORWARD DROP [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-I FORWARD 1 -j DOCKER-USER
-I FORWARD 2 -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
`;

/** flannel before v0.10 wrote no FORWARD rules: its v0.10 jump and chain, removed. */
const FLANNEL_V09 = `*filter
-D FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
-F FLANNEL-FWD
-X FLANNEL-FWD
COMMIT
`;

function restore(node: NodeRuntime, text: string, label: string): void {
  applyRestore(node.netfilter.ruleset, parseRestore(text, label), { noflush: true, file: label });
  node.netfilter.setRuleset(node.netfilter.ruleset);
}

/** A rule step as the kernel's TRACE target logs it: `filter:FORWARD:rule:3`, `filter:FORWARD:policy:10`. */
function traceName(step: TraceRuleStep, node: NodeRuntime): string {
  if (step.position !== null) return `${step.table}:${step.chain}:rule:${step.position}`;
  const chain = node.netfilter.ruleset.tables.get(step.table as "filter")?.chains.get(step.chain);
  return `${step.table}:${step.chain}:policy:${(chain?.rules.length ?? 0) + 1}`;
}

function run(ctx: ScenarioContext): ScenarioFindings {
  const { cluster, services } = ctx.boot();
  const worker2 = cluster.node("worker-2")!;
  // dockerd starts on worker-2 (after kube-proxy and flannel, as after a Docker upgrade and restart).
  restore(worker2, DOCKER_FILTER_RULES, "dockerd 18.09 on worker-2");
  if (!ctx.fixed) restore(worker2, FLANNEL_V09, "flannel v0.9 on worker-2");
  const client = cluster.pod("default", "client")!;
  const web = cluster.pod("default", "web")!;
  const vip = ipv4(services.service("default", "web")!.clusterIP!);
  const forward = worker2.netfilter.ruleset.tables.get("filter")!.chains.get("FORWARD")!;
  const policyBefore = forward.counters.packets;

  const start = ctx.frames.frames.length;
  ctx.annotate("client → web Service (its endpoint is on worker-2)");
  const r = runExchange(cluster, { title: "client → web", from: client.ns, fromLabel: "pod/default/client", dst: vip, dstPort: 80, proto: "tcp" });
  const dropped = forward.counters.packets - policyBefore;
  const drop = r.events.find((e) => e.action === "netfilter" && e.netns === worker2.spec.name && e.verdict === "DROP") ?? null;
  const accept = r.events.find((e) => e.action === "netfilter" && e.netns === worker2.spec.name && e.hook === "FORWARD" && e.verdict === "ACCEPT") ?? null;
  const synIn = ctx.frames.find((f) => f.device === worker2.flannel && f.direction === "rx" && isSyn(f.bytes, web.spec.podIP), start);
  const synOut = ctx.frames.find((f) => f.device === web.hostVeth && f.direction === "tx" && isSyn(f.bytes, web.spec.podIP), start);
  const symptom = !r.ok && synIn !== null && synOut === null && dropped > 0;

  const mechanism: string[] = [];
  const evidence: ScenarioEvidence[] = [];
  mechanism.push(
    `worker-2 runs Docker, which set the filter FORWARD policy to DROP when it started; ${ctx.fixed ? "its flannel (v0.10 and later) accepts the Pod network in FORWARD (FLANNEL-FWD)" : "its flannel (v0.9) writes no FORWARD rules"}.`,
  );
  if (synIn) {
    evidence.push(ctx.frameEvidence(synIn, `the client's SYN, DNATed on worker-1 to web ${formatIpv4(web.spec.podIP)}, arrives on worker-2's flannel.1`));
    mechanism.push(`The client's SYN is DNATed on worker-1 to web ${formatIpv4(web.spec.podIP)} and arrives on worker-2's flannel.1 (frame ${synIn.number}); worker-2 routes it to cni0, through the filter FORWARD chain.`);
  }
  const decided = drop ?? accept;
  if (decided?.rules) {
    const walk = decided.rules.map((s) => `${traceName(s, worker2)}${s.position !== null ? ` (${s.rule})` : ""}`).join(" → ");
    mechanism.push(`podwire's trace of that packet on worker-2, the rules it matched named as -j TRACE logs them: ${walk}.`);
    const last = decided.rules[decided.rules.length - 1]!;
    const detail = `${decided.verdict} by ${traceName(last, worker2)}: ${last.rule}`;
    evidence.push(synIn ? ctx.frameEvidence(synIn, `this packet: ${detail}`) : { frame: null, netns: worker2.spec.name, device: decided.device, detail });
  }
  if (symptom) {
    mechanism.push(
      `No rule accepts it: KUBE-FORWARD accepts only packets kube-proxy marked for masquerade and established connections, Docker's rules only docker0's, so the chain's policy drops it — silently, no ICMP. It never leaves on web's veth; the connection times out. The policy's counter on worker-2 counts it: ${counterLine(forward)}.`,
    );
  } else if (accept?.rules) {
    const last = accept.rules[accept.rules.length - 1]!;
    mechanism.push(`flannel's rule accepts it (${traceName(last, worker2)}: ${last.rule}) before the policy is reached; web answers (${r.outcome}). The policy's counter: ${counterLine(forward)}.`);
    if (synOut) evidence.push(ctx.frameEvidence(synOut, "the SYN leaves worker-2 on web's veth"));
  }
  evidence.push({ frame: null, netns: worker2.spec.name, device: "iptables", detail: `iptables -t filter -L FORWARD -v: ${chainListing(forward)}` });
  const summary = symptom
    ? `the connection to web timed out: worker-2's filter FORWARD policy DROP ate the SYN (${traceName(drop!.rules![drop!.rules!.length - 1]!, worker2)}, ${dropped} packet${dropped === 1 ? "" : "s"} counted); no rule accepts Pod traffic there`
    : `the connection to web works: ${accept?.rules ? `worker-2 accepts it at ${traceName(accept.rules[accept.rules.length - 1]!, worker2)}` : "worker-2 forwards it"}, the DROP policy counted ${dropped}`;
  return { symptom, summary, mechanism, evidence, counters: { forwardPolicyDrops: dropped, synReachedNode: synIn ? 1 : 0, synReachedPod: synOut ? 1 : 0, connectionOk: r.ok ? 1 : 0 } };
}

function isSyn(bytes: Uint8Array, dst: number): boolean {
  const x = frameFacts(bytes);
  return x !== null && x.dst === dst && (x.tcpFlags & TCP_SYN) !== 0 && x.dport === 8080;
}

function counterLine(chain: { policy: string | null; counters: { packets: number; bytes: number } }): string {
  return `policy ${chain.policy} ${chain.counters.packets} packets, ${chain.counters.bytes} bytes`;
}

/** `iptables -L FORWARD -v --line-numbers` in one line: each rule's packet count and spec. */
function chainListing(chain: { policy: string | null; counters: { packets: number; bytes: number }; rules: { counters: { packets: number }; target: unknown }[] }): string {
  const rules = chain.rules.map((rule, i) => `${i + 1}: [${rule.counters.packets} pkts] ${printRuleSpec(rule as Parameters<typeof printRuleSpec>[0])}`);
  return `(policy ${chain.policy} ${chain.counters.packets} packets) ${rules.join("; ")}`;
}

/** The drop event, for tests. */
export function dropEvent(events: TraceEvent[], node: string): TraceEvent | null {
  return events.find((e) => e.action === "netfilter" && e.netns === node && e.verdict === "DROP") ?? null;
}

export const WHICH_RULE: Scenario = {
  name: "which-rule",
  number: 15,
  symptom: "traffic to Pods on one node dies without a trace; which rule ate the packet?",
  issues: ["kubernetes/kubernetes#74677", "kubernetes/kubernetes#28038", "kubernetes/kubernetes#40182"],
  fix: "an accept rule for the Pod network in FORWARD (flannel v0.10+, PR #872), or iptables -P FORWARD ACCEPT",
  notes: [
    "ipt_do_table (net/ipv4/netfilter/ip_tables.c): a packet no rule decides gets the built-in chain's policy, counted on it",
    "xt_TRACE / nf_log_trace: the kernel logs TRACE: table:chain:rule|return|policy:N for each step, live only",
    "Docker ≥ 1.13 sets the FORWARD policy to DROP (moby PR #28257); kubernetes/kubernetes#40182",
    "kube-proxy's KUBE-FORWARD: INVALID drop, the 0x4000 mark accepted, RELATED,ESTABLISHED accepted; nothing for NEW Pod traffic",
    "flannel PR #872 (v0.10): -A FORWARD -s <cluster CIDR> -j ACCEPT, -d <cluster CIDR> -j ACCEPT",
    "all three modes: the iptables FORWARD chain runs beside IPVS and beside kube-proxy's nftables table",
  ],
  yaml: YAML,
  modes: ["iptables", "ipvs", "nftables"],
  run,
};
