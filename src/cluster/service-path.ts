/**
 * What kube-proxy's rules did to an exchange, seen from the node the packet entered:
 * every endpoint the first packet could have been sent to (with its probability, from the
 * node's live rules), the one conntrack recorded, whether the flow was masqueraded, and
 * the verdict of the rules.
 */
import { formatIpv4 } from "../base/index.js";
import type { IpvsService } from "../ipvs/index.js";
import { traceRules } from "../netfilter/offline-trace.js";
import { printRule } from "../netfilter/save-print.js";
import { cloneRuleset } from "../netfilter/model.js";
import type { Cluster, NodeRuntime } from "./build.js";
import type { ClusterServices } from "./services.js";
import type { ExchangeProto, ExchangeResult } from "./exchange.js";

export interface ServicePath {
  /** The node whose rules the first packet met; null when it met none (e.g. Pod to its own loopback). */
  node: string | null;
  verdict: "accept" | "drop" | "reject" | null;
  /** `IP:PORT` the flow was DNATed to, from the node's conntrack; null without DNAT. */
  endpoint: string | null;
  candidates: { destination: string; probability: number }[];
  masquerade: boolean;
}

/** The node the first packet of an exchange from `sourceLabel` to `dst` is processed on. */
function entryNode(cluster: Cluster, sourceLabel: string, dst: number): { node: NodeRuntime; hook: "prerouting" | "output"; inIface: string } | null {
  if (sourceLabel.startsWith("pod/")) {
    const pod = cluster.pods.get(sourceLabel.slice(4).replace(/ .*$/, ""));
    if (!pod || dst >>> 24 === 127) return null;
    return pod.spec.hostNetwork ? { node: pod.node, hook: "output", inIface: "" } : { node: pod.node, hook: "prerouting", inIface: "cni0" };
  }
  if (sourceLabel.startsWith("node/")) {
    const node = cluster.node(sourceLabel.slice(5));
    return node ? { node, hook: "output", inIface: "" } : null;
  }
  // From outside: the node that owns (or is routed) the destination address.
  for (const n of cluster.nodes.values()) if (n.spec.internalIP === dst) return { node: n, hook: "prerouting", inIface: "eth0" };
  const ext = [...cluster.externals.values()].find((e) => `ext/${e.spec.name}` === sourceLabel);
  const route = ext?.ns.routes.lookup(dst);
  if (route && route.gateway !== 0) {
    for (const n of cluster.nodes.values()) if (n.spec.internalIP === route.gateway) return { node: n, hook: "prerouting", inIface: "eth0" };
  }
  return null;
}

/** IPPROTO_* by name. */
const PROTO_NUMBER = { tcp: 6, udp: 17, sctp: 132, icmp: 1 } as const;

export function servicePath(cluster: Cluster, result: ExchangeResult, srcIp: number, dst: number, dstPort: number, proto: ExchangeProto): ServicePath {
  const entry = entryNode(cluster, result.fromLabel, dst);
  if (entry === null || proto === "dns" || result.clientPort === 0) {
    return { node: entry?.node.spec.name ?? null, verdict: null, endpoint: null, candidates: [], masquerade: false };
  }
  const node = entry.node;
  const p = proto === "icmp" ? "icmp" : proto === "udp" ? "udp" : proto === "sctp" ? "sctp" : "tcp";
  const ipvs = node.netfilter.ipvs;
  const svc = ipvs !== null && p !== "icmp" ? ipvs.getService(p, dst, dstPort) : null;
  if (ipvs !== null && svc !== null) return ipvsPath(node, svc, srcIp, result.clientPort, dst, dstPort, PROTO_NUMBER[p]);
  const local = node.ns.addresses().map((a) => a.ip);
  const routeOut = node.ns.routes.lookup(dst);
  const offline = traceRules(
    cloneRuleset(node.netfilter.ruleset),
    {
      packet: { proto: p, src: srcIp, sport: result.clientPort, dst, dport: dstPort },
      hook: entry.hook,
      inIface: entry.inIface,
      outIface: routeOut?.dev.name ?? "",
      local,
      mark: 0,
      ctstate: "NEW",
      seed: cluster.spec.seed,
    },
    (chain, rule) => printRule(chain, rule),
  );
  const pnum = PROTO_NUMBER[p];
  const found = node.netfilter.conntrack.lookup({ src: srcIp, dst, proto: pnum, sport: result.clientPort, dport: p === "icmp" ? 8 : dstPort });
  let endpoint: string | null = null;
  let masquerade = offline.masquerade;
  if (found) {
    const r = found.conn.reply;
    if (r.src !== dst || (p !== "icmp" && r.sport !== dstPort)) endpoint = p === "icmp" ? formatIpv4(r.src) : `${formatIpv4(r.src)}:${r.sport}`;
    masquerade = r.dst !== srcIp;
  }
  return { node: node.spec.name, verdict: offline.verdict, endpoint, candidates: offline.candidates, masquerade };
}

/**
 * IPVS mode: the virtual service's real servers are the candidates, weighted as a
 * weighted scheduler shares new connections over time; conntrack (vs/conntrack=1) tells
 * which one this connection went to and whether POSTROUTING masqueraded it.
 */
function ipvsPath(node: NodeRuntime, svc: IpvsService, srcIp: number, sport: number, dst: number, dport: number, proto: number): ServicePath {
  const live = svc.dests.filter((d) => d.weight > 0);
  const total = live.reduce((n, d) => n + d.weight, 0);
  const candidates = live
    .map((d) => ({ destination: `${formatIpv4(d.addr)}:${d.port}`, probability: Number((d.weight / total).toFixed(10)) }))
    .sort((a, b) => b.probability - a.probability || (a.destination < b.destination ? -1 : 1));
  const found = node.netfilter.conntrack.lookup({ src: srcIp, dst, proto, sport, dport });
  const r = found?.conn.reply;
  return {
    node: node.spec.name,
    verdict: live.length > 0 ? "accept" : "reject",
    endpoint: r && (r.src !== dst || r.sport !== dport) ? `${formatIpv4(r.src)}:${r.sport}` : null,
    candidates,
    masquerade: r !== undefined && r.dst !== srcIp,
  };
}

/** The ports of the Service `svc/NS/NAME` (empty when there is no such Service). */
export function servicePorts(services: ClusterServices, label: string): { port: number; protocol: string }[] {
  const [, namespace, name] = label.split("/");
  const svc = namespace !== undefined && name !== undefined ? services.service(namespace, name) : undefined;
  return svc?.ports.map((p) => ({ port: p.port, protocol: p.protocol })) ?? [];
}
