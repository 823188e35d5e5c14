/** Text renderings for people: hop-by-hop traces and the cluster topology. */
import { formatCidr, formatIpv4, formatMac } from "../base/index.js";
import type { TraceEvent } from "../netdev/index.js";
import type { Cluster } from "./build.js";
import type { ExchangeResult } from "./exchange.js";

/** The hops of one exchange, one line per event, the frame summary below when it changes. */
export function formatTrace(result: ExchangeResult, options: { brief?: boolean } = {}): string[] {
  const lines: string[] = [];
  lines.push(`${result.fromLabel} → ${result.to}`);
  const events = options.brief ? result.events.filter(isEndpointEvent) : result.events;
  const whereWidth = Math.max(8, ...events.map((e) => e.netns.length));
  const devWidth = Math.max(6, ...events.map((e) => e.device.length));
  lines.push(`  ${"time µs".padStart(9)}  ${"where".padEnd(whereWidth)}  ${"device".padEnd(devWidth)}  ${"what".padEnd(14)}  detail`);
  let lastSummary = "";
  for (const e of events) {
    const t = ((e.time - result.startNs) / 1000).toFixed(3).padStart(9);
    lines.push(`  ${t}  ${e.netns.padEnd(whereWidth)}  ${e.device.padEnd(devWidth)}  ${e.action.padEnd(14)}  ${e.detail}`);
    if (e.summary && e.summary !== lastSummary) {
      lines.push(`  ${" ".repeat(9 + whereWidth + devWidth + 6)}  ${" ".repeat(14)}  │ ${e.summary}`);
      lastSummary = e.summary;
    }
  }
  lines.push(`  result: ${result.ok ? "ok" : "FAILED"} — ${result.outcome}`);
  return lines;
}

function isEndpointEvent(e: TraceEvent): boolean {
  return e.action === "send" || e.action === "deliver" || e.action === "reply" || e.action === "drop" || e.action === "icmp-error" || e.action === "encap" || e.action === "decap";
}

/** `podwire cluster`: nodes, devices, addresses, routes, neighbours and Pods. */
export function formatTopology(cluster: Cluster): string[] {
  const s = cluster.spec;
  const lines: string[] = [];
  lines.push(`cluster ${s.name} (${s.source})`);
  lines.push(`  node network ${formatCidr(s.nodeNetwork)}, pod network ${formatCidr(s.clusterCIDR)} (/${s.nodeCIDRMaskSize} per node), service network ${formatCidr(s.serviceCIDR)}`);
  lines.push(`  overlay ${s.overlay}${s.overlay === "vxlan" ? " (flannel.1, VNI 1, UDP 8472)" : ""}, Pod MTU ${cluster.podMTU}, proxy mode ${s.proxyMode}, seed ${s.seed}`);
  for (const node of cluster.nodes.values()) {
    lines.push("");
    lines.push(`node ${node.spec.name}${node.spec.controlPlane ? " (control plane)" : ""}${node.spec.schedulable ? "" : " [NoSchedule]"}: ${formatIpv4(node.spec.internalIP)}, podCIDR ${formatCidr(node.spec.podCIDR)}`);
    lines.push("  devices:");
    for (const iface of node.ns.interfaces.values()) {
      const d = iface.dev;
      const addrs = iface.addrs.map((a) => `${formatIpv4(a.ip)}/${a.prefixLen}`).join(" ");
      const master = node.cni0.ports.includes(d) ? " master cni0" : "";
      lines.push(`    ${d.name.padEnd(13)} ${d.kind.padEnd(8)} ${formatMac(d.mac)} mtu ${String(d.mtu).padEnd(5)}${master}${addrs ? ` ${addrs}` : ""}`);
    }
    lines.push("  routes:");
    for (const r of node.ns.routeLines()) lines.push(`    ${r}`);
    if (node.flannel) {
      lines.push("  flannel.1 fdb / neighbours:");
      for (const f of node.flannel.fdbLines()) lines.push(`    ${f}`);
      const iface = node.ns.interfaces.get(node.flannel)!;
      for (const n of iface.neigh.lines("flannel.1", cluster.sim.now())) lines.push(`    ${n}`);
    }
    lines.push("  pods:");
    for (const p of node.pods) {
      const containers = p.spec.containers.map((c) => `${c.name}${c.ports.length ? `(${c.ports.map((x) => `${x.containerPort}/${x.protocol}`).join(",")})` : ""}`).join(" ");
      const where = p.hostVeth ? `eth0 ${formatMac(p.eth0!.mac)} ⇄ ${p.hostVeth.name}` : "hostNetwork";
      lines.push(`    ${p.key.padEnd(24)} ${formatIpv4(p.spec.podIP).padEnd(15)} ${where}  ${containers}`);
    }
  }
  if (cluster.externals.size > 0) {
    lines.push("");
    lines.push("outside the cluster (on the node network):");
    for (const e of cluster.externals.values()) lines.push(`    ${e.spec.name.padEnd(24)} ${formatIpv4(e.spec.ip)}`);
  }
  return lines;
}
