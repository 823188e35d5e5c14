/**
 * Scenario 4: a Pod cannot reach itself through its own Service.
 *
 * The Pod's SYN to the ClusterIP enters cni0 from its own port. br_netfilter runs
 * PREROUTING on it and kube-proxy's DNAT picks the Pod itself; br_nf_pre_routing_finish
 * (net/bridge/br_netfilter_hooks.c) sees that the new destination is behind the same bridge
 * and keeps the frame bridged (br_nf_pre_routing_finish_bridge), with the Pod's own MAC as
 * its destination. The FDB says that MAC is on the port the frame came in on, and
 * should_deliver (net/bridge/br_forward.c) refuses to send a frame back out of its ingress
 * port unless the port is in hairpin mode: the SYN vanishes. In IPVS mode the SYN is routed
 * (the VIP is local) and reaches the Pod, but its masqueraded reply, addressed to cni0, is
 * de-SNATed in br_netfilter's PREROUTING to the Pod itself and meets the same refusal.
 *
 * With hairpin mode on (the CNI bridge plugin's `hairpinMode`, which flannel's
 * cni-conf.json sets) the frame goes back out of its port; kube-proxy's per-endpoint
 * `-s <endpoint> -j KUBE-MARK-MASQ` then masquerades it to cni0's address, so the Pod's
 * answer comes back through the node (without that rule the Pod would answer itself over
 * lo, from its own address, and the connection would still fail).
 */
import { formatIpv4, formatMac, ipv4 } from "../../base/index.js";
import { runExchange } from "../../cluster/exchange.js";
import { IPPROTO_TCP, eth } from "../../wire/index.js";
import type { ScenarioContext } from "../context.js";
import { frameFacts } from "../frame-facts.js";
import type { LoggedFrame } from "../frame-log.js";
import type { Scenario, ScenarioEvidence, ScenarioFindings } from "../types.js";

const YAML = `apiVersion: podwire.dev/v1alpha1
kind: Cluster
metadata: {name: hairpin}
spec:
  cni:
    # A hand-written bridge CNI config: the plugin's hairpinMode defaults to false
    # (flannel's cni-conf.json sets it to true).
    hairpinMode: false
---
apiVersion: v1
kind: Node
metadata: {name: control-plane, labels: {node-role.kubernetes.io/control-plane: ""}}
spec: {taints: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]}
---
apiVersion: v1
kind: Node
metadata: {name: worker-1}
---
# The Service's only endpoint, which also calls its own Service (e.g. a health check or a
# peer lookup through the Service name).
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web}}
spec: {nodeName: worker-1, containers: [{name: web, ports: [{name: http, containerPort: 8080}]}]}
---
# Another Pod on the same node, for comparison.
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

function run(ctx: ScenarioContext): ScenarioFindings {
  const { cluster, services } = ctx.boot((spec) => {
    // The fix: hairpin mode on every Pod's bridge port, as flannel's CNI config sets it.
    if (ctx.fixed) spec.nodeSettings = { ...spec.nodeSettings, hairpinMode: true };
  });
  const web = cluster.pods.get("default/web")!;
  const client = cluster.pods.get("default/client")!;
  const node = web.node;
  const vipText = services.service("default", "web")!.clusterIP!;
  const vip = ipv4(vipText);
  const evidence: ScenarioEvidence[] = [];
  const mechanism: string[] = [];
  const outcomes: string[] = [];
  let selfFailed = 0;
  const hairpinDropsBefore = node.cni0.stats.drops.get("same-port-no-hairpin") ?? 0;
  for (const from of [client, web]) {
    const self = from === web;
    const start = ctx.frames.frames.length;
    ctx.annotate(`${from.key} → Service default/web ${vipText}:80`);
    const r = runExchange(cluster, { title: `${from.key} → ${vipText}:80`, from: from.ns, fromLabel: `pod/${from.key}`, dst: vip, dstPort: 80, proto: "tcp" });
    const after = (match: (f: LoggedFrame) => boolean) => ctx.frames.find(match, start);
    const syn = after((f) => f.device === from.eth0 && f.direction === "tx" && frameFacts(f.bytes)?.dst === vip);
    // The answer the caller got from the ClusterIP, with data (the HTTP response).
    const answer = after((f) => f.device === from.eth0 && f.direction === "rx" && frameFacts(f.bytes)?.src === vip && frameFacts(f.bytes)!.payloadLen > 0);
    if (!self) {
      outcomes.push(`${from.key} → ${vipText}: ${answer ? "answered" : "no answer"}`);
      if (answer) mechanism.push(`${from.key} (another Pod on ${node.spec.name}) reaches the Service: its DNATed SYN is bridged to web's port, a different one (frame ${syn?.number ?? "?"} → answer frame ${answer.number}).`);
      continue;
    }
    if (syn) evidence.push(ctx.frameEvidence(syn, `web's SYN to its own Service ${vipText}:80`));
    // A frame on cni0 addressed to web's own MAC that came in from web's own port: the hairpin.
    const hairpin = after((f) => f.device === node.cni0 && eth.dst(f.bytes, 0) === web.eth0!.mac && eth.src(f.bytes, 0) === web.eth0!.mac);
    // The same segment going back out of web's own port (its source may be rewritten on the way: masquerade, IPVS's un-NAT).
    const hf = hairpin ? frameFacts(hairpin.bytes)! : null;
    const back =
      hairpin && hf
        ? ctx.frames.find((f) => {
            if (f.device !== web.hostVeth || f.direction !== "tx") return false;
            const x = frameFacts(f.bytes);
            return x !== null && x.proto === IPPROTO_TCP && x.dst === hf.dst && x.dport === hf.dport && x.tcpFlags === hf.tcpFlags;
          }, hairpin.number)
        : null;
    if (hairpin) {
      const h = frameFacts(hairpin.bytes)!;
      evidence.push(
        ctx.frameEvidence(
          hairpin,
          `after ${ctx.mode === "ipvs" ? "the de-SNAT of the reply" : "DNAT"} in br_netfilter's PREROUTING: ${formatIpv4(h.src)}:${h.sport} → ${formatIpv4(h.dst)}:${h.dport}, destination MAC ${formatMac(web.eth0!.mac)} — web's own, on the port it came in on`,
        ),
      );
      mechanism.push(
        ctx.mode === "ipvs"
          ? `IPVS sent web's SYN back to web through cni0 (masqueraded to ${formatIpv4(node.gateway)} by KUBE-LOOP-BACK); web's SYN-ACK to ${formatIpv4(node.gateway)} entered cni0 from web's port and br_netfilter's PREROUTING undid the masquerade: its destination became web itself, behind the same bridge, so br_nf_pre_routing_finish kept it bridged with web's own MAC (frame ${hairpin.number}).`
          : `br_netfilter ran PREROUTING on web's SYN as it entered cni0 from web's port; kube-proxy's DNAT chose the Service's only endpoint, web itself (${formatIpv4(web.spec.podIP)}:8080). The new destination is behind the same bridge, so br_nf_pre_routing_finish kept the frame bridged, with web's own MAC as destination (frame ${hairpin.number}).`,
      );
    }
    if (back) {
      evidence.push(ctx.frameEvidence(back, `hairpin mode on: the frame goes back out of web's own port`));
      const f = frameFacts(back.bytes)!;
      mechanism.push(
        `Hairpin mode is on, so the bridge sent it back out of web's own port (frame ${back.number}); ${f.src === node.gateway ? `KUBE-SEP's \`-s ${formatIpv4(web.spec.podIP)}/32 -j KUBE-MARK-MASQ\` had it masqueraded to cni0's ${formatIpv4(node.gateway)}` : `it came from ${formatIpv4(f.src)}`}, so web's answer returns through the bridge's netfilter and is un-NATed to ${vipText}${answer ? ` (frame ${answer.number})` : ""}.`,
      );
    } else if (hairpin) {
      mechanism.push(`The FDB has web's MAC on that same port, and should_deliver refuses the ingress port of a port without hairpin mode: the frame is dropped, nothing goes back out of ${web.hostVeth!.name}; the SYN retransmissions meet the same fate and connect() never completes.`);
    }
    if (!answer) selfFailed++;
    outcomes.push(`web → its own Service ${vipText}: ${answer ? "answered" : r.outcome}`);
  }
  const hairpinDrops = (node.cni0.stats.drops.get("same-port-no-hairpin") ?? 0) - hairpinDropsBefore;
  if (hairpinDrops > 0) evidence.push({ frame: null, netns: node.spec.name, device: "cni0", detail: `${hairpinDrops} frame(s) refused by should_deliver: the ingress port, hairpin off` });
  const symptom = selfFailed > 0;
  const summary = symptom ? `a Pod cannot reach itself through its own Service: ${outcomes.join("; ")}` : `the Pod reaches itself through its Service: ${outcomes.join("; ")}`;
  return { symptom, summary, mechanism, evidence, counters: { hairpinRefused: hairpinDrops, selfConnectionsFailed: selfFailed } };
}

export const HAIRPIN: Scenario = {
  name: "hairpin",
  number: 4,
  symptom: "a Pod cannot reach itself through its own Service (connect times out)",
  issues: ["kubernetes/kubernetes#13375", "kubernetes/kubernetes#20475"],
  fix: "hairpinMode: true in the bridge CNI config (flannel's default), with kube-proxy's hairpin masquerade",
  notes: [
    "net/bridge/br_netfilter_hooks.c br_nf_pre_routing_finish: DNAT to an address behind the same bridge is bridged (br_nf_pre_routing_finish_bridge), not routed",
    "net/bridge/br_forward.c should_deliver: (p->flags & BR_HAIRPIN_MODE) || skb->dev != p->dev — never back out of the ingress port without hairpin mode",
    "CNI bridge plugin: hairpinMode defaults to false; flannel's cni-conf.json sets it to true",
    "pkg/proxy/iptables/proxier.go: each endpoint chain starts with -s <endpoint IP> -j KUBE-MARK-MASQ, so the hairpinned connection is masqueraded and its reply returns through the node",
    "IPVS mode: the VIP is local, so the SYN is routed; the masqueraded reply is de-SNATed in br_netfilter's PREROUTING and bridged back to the same port",
  ],
  yaml: YAML,
  modes: ["iptables", "ipvs", "nftables"],
  run,
};
