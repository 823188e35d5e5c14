/**
 * Scenario 13: rules "missing" or duplicated — iptables-legacy vs iptables-nft split brain.
 *
 * iptables 1.8 writes either the legacy x_tables (iptables-legacy) or nf_tables chains that
 * look like them (iptables-nft). Both can exist in one network namespace, and the kernel
 * runs both at the same hooks and priorities: a packet must get past every backend's
 * tables, an ACCEPT in one spares it nothing in the other, and `iptables-save` of either
 * binary shows only its own half (iptables-nft-save at most warns that legacy tables
 * exist). Here the host's Docker, with the host's iptables-legacy, set the FORWARD policy to
 * DROP (as Docker does since 1.13) and accepts only its own docker0 traffic; kube-proxy and
 * flannel, whose images' iptables defaulted to nft, wrote their FORWARD accepts
 * (KUBE-FORWARD, FLANNEL-FWD) into the nf_tables side. Every forwarded Pod packet is
 * accepted by them and then dropped by the legacy policy; `iptables-save` in kube-proxy's
 * container shows accepting rules and nothing that drops.
 *
 * The fix: kube-proxy's iptables-wrapper (kubernetes-sigs/iptables-wrappers, in kube-proxy
 * images since v1.17) checks which backend has rules (kubelet's KUBE-IPTABLES-HINT /
 * KUBE-KUBELET-CANARY chains, else the number of rules in each `*-save`) and uses that one,
 * so everything is in one backend — where Docker's DROP policy and the accepts meet.
 */
import { ipv4 } from "../../base/index.js";
import { runExchange } from "../../cluster/exchange.js";
import { newRuleset } from "../../netfilter/model.js";
import { applyRestore } from "../../netfilter/apply-restore.js";
import { parseRestore } from "../../netfilter/restore-parse.js";
import { printTable } from "../../netfilter/save-print.js";
import type { ScenarioContext } from "../context.js";
import { frameFacts } from "../frame-facts.js";
import type { Scenario, ScenarioEvidence, ScenarioFindings } from "../types.js";
import { THREE_NODES } from "../cluster-yaml.js";

const YAML = `apiVersion: podwire.dev/v1alpha1
kind: Cluster
metadata: {name: legacy-vs-nft}
spec: {}
# On every node, Docker (the host's iptables, the legacy backend) has set up its rules —
# FORWARD policy DROP; the scenario loads them with iptables-legacy (see DOCKER_RULES).
---
${THREE_NODES}---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web}}
spec: {nodeName: worker-2, containers: [{name: web, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default}
spec: {nodeName: worker-1, containers: [{name: c}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
`;

/** What dockerd writes at start (libnetwork's iptables setup for docker0), as iptables-legacy-save shows it. */
export const DOCKER_RULES = `*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
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

function run(ctx: ScenarioContext): ScenarioFindings {
  const { cluster, services } = ctx.boot();
  for (const node of cluster.nodes.values()) {
    const docker = parseRestore(DOCKER_RULES, "dockerd (iptables-legacy)");
    if (ctx.fixed) {
      // The iptables-wrapper found rules in the legacy backend: kube-proxy and flannel write there too.
      applyRestore(node.netfilter.ruleset, docker, { noflush: true });
      node.netfilter.setRuleset(node.netfilter.ruleset);
    } else {
      const legacy = newRuleset();
      applyRestore(legacy, docker);
      // Docker's tables existed first (dockerd starts at boot, before kube-proxy and flannel).
      node.netfilter.setOtherBackend(legacy, "iptables-legacy", true);
    }
  }
  const client = cluster.pods.get("default/client")!;
  const web = cluster.pods.get("default/web")!;
  const w1 = cluster.node("worker-1")!;
  const vipText = services.service("default", "web")!.clusterIP!;
  const start = ctx.frames.frames.length;
  ctx.annotate(`client → Service web ${vipText}:80`);
  const r = runExchange(cluster, { title: `client → ${vipText}:80`, from: client.ns, fromLabel: "pod/default/client", dst: ipv4(vipText), dstPort: 80, proto: "tcp" });
  const f = ctx.frames;
  const evidence: ScenarioEvidence[] = [];
  const mechanism: string[] = [];
  const syn = f.find((x) => x.device === client.eth0 && x.direction === "tx" && ((frameFacts(x.bytes)?.tcpFlags ?? 0) & 0x12) === 0x02, start);
  if (syn) evidence.push(ctx.frameEvidence(syn, `the client's SYN to ${vipText}:80`));
  const answer = f.find((x) => x.device === client.eth0 && x.direction === "rx" && (frameFacts(x.bytes)?.payloadLen ?? 0) > 0, start);
  // Which rule ate it: the trace's first drop.
  const drop = r.events.find((e) => e.drop !== null && e.action === "netfilter");
  const counters: Record<string, number> = {};
  let legacyDropped = 0;
  let nftAccepted = 0;
  for (const node of cluster.nodes.values()) {
    const nf = node.netfilter;
    const ownFwd = nf.ruleset.tables.get("filter")?.chains.get("FORWARD");
    const other = nf.otherBackend;
    const legacyFwd = other?.ruleset.tables.get("filter")?.chains.get("FORWARD") ?? null;
    if (legacyFwd) legacyDropped += legacyFwd.counters.packets;
    const kubeFwd = nf.ruleset.tables.get("filter")?.chains.get("KUBE-FORWARD");
    const flannelFwd = nf.ruleset.tables.get("filter")?.chains.get("FLANNEL-FWD");
    for (const c of [kubeFwd, flannelFwd]) for (const rule of c?.rules ?? []) if (rule.target.kind === "ACCEPT") nftAccepted += rule.counters.packets;
    if (ctx.fixed && ownFwd) counters[`FORWARD policy DROP packets/${node.spec.name}`] = ownFwd.policy === "DROP" ? ownFwd.counters.packets : 0;
  }
  if (!ctx.fixed) {
    counters["legacy FORWARD policy DROP packets"] = legacyDropped;
    counters["nft-side FORWARD accepts (KUBE-FORWARD, FLANNEL-FWD)"] = nftAccepted;
  }
  if (drop) {
    const last = drop.rules?.[drop.rules.length - 1];
    evidence.push({ frame: drop.frame, netns: drop.netns, device: drop.device, detail: `trace: ${drop.stage ?? "netfilter"} — ${last ? `${last.chain} ${last.rule}` : drop.detail} ⇒ ${drop.verdict ?? "DROP"}` });
  }
  if (!ctx.fixed) {
    // The filter table's FORWARD as each binary's save shows it.
    const forwardOf = (text: string): { policy: string; jumps: string[] } => {
      const lines = text.split("\n");
      const policy = /^:FORWARD (\S+)/.exec(lines.find((l) => l.startsWith(":FORWARD")) ?? "")?.[1] ?? "?";
      return { policy, jumps: lines.filter((l) => l.startsWith("-A FORWARD")).map((l) => / -j (\S+)/.exec(l)?.[1] ?? "?") };
    };
    const nft = forwardOf(printTable(w1.netfilter.ruleset.tables.get("filter")!));
    const legacy = forwardOf(printTable(w1.netfilter.otherBackend!.ruleset.tables.get("filter")!));
    const nftForward = `FORWARD policy ${nft.policy}, jumps to ${nft.jumps.join(", ")}`;
    const legacyForward = `FORWARD policy ${legacy.policy}, jumps to ${legacy.jumps.join(", ")}`;
    evidence.push({ frame: null, netns: w1.spec.name, device: "iptables-nft-save", detail: `kube-proxy's view: ${nftForward} — nothing drops` });
    evidence.push({ frame: null, netns: w1.spec.name, device: "iptables-legacy-save", detail: `the host's view: ${legacyForward}` });
    mechanism.push(
      `Every node has two iptables backends: dockerd (the host's iptables-legacy) set the legacy FORWARD policy to DROP; kube-proxy and flannel, with iptables-nft, put their FORWARD accepts (KUBE-FORWARD, FLANNEL-FWD) into nf_tables. iptables-nft-save shows "${nftForward}"; the DROP is only in iptables-legacy-save ("${legacyForward}").`,
      `The kernel runs both at the FORWARD hook. The client's SYN${syn ? ` (frame ${syn.number})` : ""} was accepted by the nft side (created last, it runs first; ${nftAccepted} packets accepted there in all) and then dropped by the legacy policy (${legacyDropped} packets)${drop ? ` — the trace names it: ${drop.stage ?? ""} on ${drop.netns}` : ""}.`,
      `The SYN retransmissions meet the same fate; the connection times out (${r.outcome}). Nothing in kube-proxy's own iptables-save explains it.`,
    );
  } else {
    mechanism.push(
      `kube-proxy's iptables-wrapper found the legacy backend in use (Docker's rules) and used it, as did flannel's: one backend holds Docker's FORWARD policy DROP and the accepts of KUBE-FORWARD and FLANNEL-FWD, which run before the policy is reached.`,
      `The client's SYN${syn ? ` (frame ${syn.number})` : ""} is accepted by FLANNEL-FWD/KUBE-FORWARD and reaches web on ${web.node.spec.name}${answer ? `; the answer arrives (frame ${answer.number})` : ""}.`,
    );
    if (answer) evidence.push(ctx.frameEvidence(answer, "the HTTP answer"));
  }
  const symptom = answer === null;
  const summary = symptom
    ? `the client cannot reach Service web ${vipText}: ${r.outcome} — dropped by the legacy FORWARD policy that kube-proxy's iptables-save does not show`
    : `the client reaches Service web ${vipText}: ${r.outcome}`;
  return { symptom, summary, mechanism, evidence, counters };
}

export const LEGACY_VS_NFT: Scenario = {
  name: "legacy-vs-nft",
  number: 13,
  symptom: 'rules "missing" or duplicated: traffic dropped by rules that kube-proxy\'s iptables-save does not show',
  issues: ["kubernetes/kubernetes#71305", "kubernetes/kubernetes#107965"],
  fix: "one iptables backend on the node: kube-proxy's iptables-wrapper picks the mode that has rules (legacy here)",
  notes: [
    "iptables 1.8: iptables-legacy writes x_tables, iptables-nft nf_tables chains named like them; both register at the same hooks and priorities and both run",
    "net/netfilter/core.c nf_hook_entries_grow: a new hook goes before existing ones of equal priority — the nf_tables chains created after Docker's legacy tables run first (test/kernel/iptables-backends.test.ts)",
    "Docker (libnetwork) sets the FORWARD policy to DROP since 1.13 and accepts only docker0 traffic",
    "kubernetes-sigs/iptables-wrappers (kube-proxy images since v1.17): use the backend with kubelet's KUBE-IPTABLES-HINT/KUBE-KUBELET-CANARY chains or with more rules",
    "iptables-nft-save 1.8.x prints \"# Warning: iptables-legacy tables present, use iptables-legacy-save to see them\"",
    "nftables mode is left out: kube-proxy there uses nft directly, not an iptables binary, so no wrapper chooses a backend for it",
  ],
  yaml: YAML,
  modes: ["iptables", "ipvs"],
  run,
};
