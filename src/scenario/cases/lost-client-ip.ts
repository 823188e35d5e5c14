/**
 * Scenario 10: the client's source address is lost at a NodePort, or with
 * `externalTrafficPolicy: Local` traffic to a node without a local endpoint is dropped.
 *
 * kube-proxy (pkg/proxy/iptables/proxier.go, the external-SVC chain): with the Cluster
 * policy, traffic from outside to a NodePort is marked for masquerade (KUBE-MARK-MASQ) and
 * SNATed to the node's address in KUBE-POSTROUTING, because the endpoint may be on another
 * node and its reply must come back through this one. With Local, the external chain jumps
 * only to the node's own endpoints (KUBE-SVL-…) and does not masquerade; a node without one
 * drops (KUBE-EXT-… has no endpoints: `-j DROP` in "has no local endpoints"), and the load
 * balancer learns which nodes to use from the health check node port.
 */
import { formatIpv4 } from "../../base/index.js";
import { runExchange } from "../../cluster/exchange.js";
import { TCP_SYN } from "../../wire/index.js";
import type { ScenarioContext } from "../context.js";
import { frameFacts } from "../frame-facts.js";
import type { Scenario, ScenarioEvidence, ScenarioFindings } from "../types.js";
import { THREE_NODES } from "../cluster-yaml.js";

const YAML = `apiVersion: podwire.dev/v1alpha1
kind: Cluster
metadata: {name: lost-client-ip}
spec:
  externalHosts:
  - {name: client, ip: 192.168.56.100}
---
${THREE_NODES}---
# The only endpoint runs on worker-2.
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web}}
spec: {nodeName: worker-2, containers: [{name: web, ports: [{name: http, containerPort: 8080}]}]}
---
# The load balancer in front sends to the NodePort on every node (as a cloud LB does).
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  externalTrafficPolicy: Cluster
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http, nodePort: 30080}]
`;

const NODE_PORT = 30080;

function run(ctx: ScenarioContext): ScenarioFindings {
  const { cluster, services } = ctx.boot((spec) => {
    if (!ctx.fixed) return;
    // The fix: externalTrafficPolicy Local on the Service (kube-proxy then allocates a health check node port).
    for (const doc of spec.otherDocuments) {
      if (doc.kind === "Service") (doc.body as { spec: { externalTrafficPolicy: string } }).spec.externalTrafficPolicy = "Local";
    }
  });
  const client = [...cluster.externals.values()][0]!;
  const web = cluster.pods.get("default/web")!;
  const svc = services.service("default", "web")!;
  const evidence: ScenarioEvidence[] = [];
  const mechanism: string[] = [];
  const seenSources: string[] = [];
  let lost = 0;
  let failed = 0;
  for (const node of cluster.nodes.values()) {
    if (node.spec.controlPlane) continue;
    const name = node.spec.name;
    if (ctx.fixed && !node.pods.includes(web)) {
      // With Local, kube-proxy's health check node port answers 503 on a node without a
      // local endpoint, so the load balancer sends nothing there (what it would do to such
      // traffic depends on the mode: iptables and nftables drop it; IPVS forwards it to a
      // remote endpoint without masquerade, kubernetes/kubernetes#97081).
      mechanism.push(`${name} has no local endpoint of default/web, so its health check node port ${svc.healthCheckNodePort} fails and the load balancer sends it nothing.`);
      continue;
    }
    const start = ctx.frames.frames.length;
    ctx.annotate(`client → ${name}:${NODE_PORT}`);
    const r = runExchange(cluster, { title: `client → NodePort on ${name}`, from: client.ns, fromLabel: "ext/client", dst: node.spec.internalIP, dstPort: NODE_PORT, proto: "tcp" });
    // The SYN as the endpoint receives it: its source is what the application sees.
    const syn = ctx.frames.find((f) => f.device === web.eth0 && f.direction === "rx" && ((frameFacts(f.bytes)?.tcpFlags ?? 0) & TCP_SYN) !== 0, start);
    if (syn === null) {
      const sent = ctx.frames.find((f) => f.device === node.eth0 && f.direction === "rx" && frameFacts(f.bytes)?.dport === NODE_PORT, start);
      if (sent) evidence.push(ctx.frameEvidence(sent, `SYN to ${name}:${NODE_PORT} arrives and never reaches the endpoint`));
      mechanism.push(`the connection through ${name} failed: ${r.outcome}.`);
      failed++;
      continue;
    }
    const src = frameFacts(syn.bytes)!.src;
    seenSources.push(`${formatIpv4(src)} via ${name}`);
    if (src !== client.spec.ip) {
      lost++;
      evidence.push(ctx.frameEvidence(syn, `the endpoint's SYN comes from ${formatIpv4(src)} (an address of ${name}), not the client ${formatIpv4(client.spec.ip)}`));
      mechanism.push(
        `${name} received the connection on its NodePort and forwarded it to the endpoint on ${web.node.spec.name}; kube-proxy marked it for masquerade (KUBE-MARK-MASQ in the external chain, externalTrafficPolicy ${svc.externalTrafficPolicy}) and KUBE-POSTROUTING SNATed it to ${formatIpv4(src)}, so the reply returns through ${name}.`,
      );
    } else {
      evidence.push(ctx.frameEvidence(syn, `the endpoint's SYN keeps the client's address ${formatIpv4(src)}`));
      mechanism.push(`${name} has the endpoint locally: no masquerade, the endpoint sees the client's own address ${formatIpv4(src)}.`);
    }
  }
  const symptom = lost > 0 || failed > 0;
  const summary = symptom
    ? `the backend saw ${seenSources.join(", ")} — ${lost} of ${seenSources.length} connections lost the client's address ${formatIpv4(client.spec.ip)}${failed > 0 ? `; ${failed} connection(s) dropped` : ""}`
    : `the backend saw ${seenSources.join(", ")}: the client's own address, and the load balancer sent nothing to nodes without an endpoint`;
  return { symptom, summary, mechanism, evidence, counters: { connectionsSourceLost: lost, connectionsDropped: failed } };
}

export const LOST_CLIENT_IP: Scenario = {
  name: "lost-client-ip",
  number: 10,
  symptom: "the backend sees a node's address instead of the client's; or, with externalTrafficPolicy Local, traffic is dropped",
  issues: ["kubernetes/kubernetes#68474", "kubernetes/kubernetes#104105", "kubernetes/kubernetes#125167"],
  fix: "externalTrafficPolicy: Local, with the load balancer following the health check node port",
  notes: [
    "pkg/proxy/iptables/proxier.go: the EXT chain marks external traffic for masquerade unless the policy is Local",
    "KUBE-POSTROUTING: -m mark --mark 0x4000/0x4000 -j MASQUERADE (SNAT to the egress address)",
    "with Local and no local endpoint the EXT chain has only a DROP (\"has no local endpoints\")",
  ],
  yaml: YAML,
  modes: ["iptables", "ipvs", "nftables"],
  run,
};
