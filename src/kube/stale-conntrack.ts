/**
 * Which UDP conntrack entries kube-proxy deletes after a sync (pkg/proxy/conntrack/
 * cleanup.go CleanStaleEntries, the reconciler used since v1.32 and in v1.33): for every UDP
 * Service port, the set of IPs of its *serving* endpoints (traffic policy, topology and
 * termination deliberately ignored); then every UDP entry whose original destination is a
 * Service IP (cluster IP, load balancer VIP or external IP) and whose reply source is not
 * one of that set is deleted, and likewise every entry whose original destination port is a
 * UDP node port. The result is data: filters, and the `conntrack -D` command each stands for.
 *
 * (Before v1.32 kube-proxy instead flushed `--orig-dst VIP` when a UDP Service went from no
 * endpoints to some, and `--orig-dst VIP --reply-src EP` for removed endpoints; the
 * reconciler covers both cases.)
 */
import { buildEndpointsMap } from "./endpoints-map.js";
import type { ProxyState } from "./objects.js";
import { allServicePorts } from "./service-ports.js";

/** One UDP/TCP/SCTP conntrack entry, as far as the decision needs it. */
export interface ConntrackEntryView {
  protocol: "tcp" | "udp" | "sctp";
  /** Original direction destination address and port. */
  origDst: string;
  origDstPort: number;
  /** Reply direction source address (the endpoint after DNAT). */
  replySrc: string;
}

export type ConntrackFilter =
  | { protocol: "udp"; origDst: string; replySrc: string }
  | { protocol: "udp"; origDstPort: number; replySrc: string };

/** Serving endpoint IPs per UDP Service IP and per UDP node port. */
export interface UdpServingSets {
  byServiceIP: Map<string, Set<string>>;
  byNodePort: Map<number, Set<string>>;
}

export function udpServingSets(state: ProxyState, hostname = ""): UdpServingSets {
  const eps = buildEndpointsMap(state.endpointSlices, { hostname });
  const byServiceIP = new Map<string, Set<string>>();
  const byNodePort = new Map<number, Set<string>>();
  for (const svc of allServicePorts(state.services)) {
    if (svc.protocol !== "UDP") continue;
    const ips = new Set((eps.get(svc.key) ?? []).filter((e) => e.serving).map((e) => e.ip));
    // Like kube-proxy's map assignment, the last port visited for an IP wins.
    byServiceIP.set(svc.clusterIP, ips);
    for (const ip of svc.loadBalancerVIPs) byServiceIP.set(ip, ips);
    for (const ip of svc.externalIPs) byServiceIP.set(ip, ips);
    if (svc.nodePort !== 0) byNodePort.set(svc.nodePort, ips);
  }
  return { byServiceIP, byNodePort };
}

/** The filters kube-proxy would clear for these entries, in entry order, without duplicates. */
export function staleConntrackFilters(state: ProxyState, entries: readonly ConntrackEntryView[], hostname = ""): ConntrackFilter[] {
  const sets = udpServingSets(state, hostname);
  const out: ConntrackFilter[] = [];
  const seen = new Set<string>();
  const add = (f: ConntrackFilter): void => {
    const k = conntrackCommand(f);
    if (!seen.has(k)) {
      seen.add(k);
      out.push(f);
    }
  };
  for (const e of entries) {
    if (e.protocol !== "udp") continue;
    const forIP = sets.byServiceIP.get(e.origDst);
    if (forIP && !forIP.has(e.replySrc)) add({ protocol: "udp", origDst: e.origDst, replySrc: e.replySrc });
    const forPort = sets.byNodePort.get(e.origDstPort);
    if (forPort && !forPort.has(e.replySrc)) add({ protocol: "udp", origDstPort: e.origDstPort, replySrc: e.replySrc });
  }
  return out;
}

/** The conntrack(8) command line equivalent to a filter. */
export function conntrackCommand(f: ConntrackFilter): string {
  return "origDst" in f
    ? `conntrack -D -p udp --orig-dst ${f.origDst} --reply-src ${f.replySrc}`
    : `conntrack -D -p udp --orig-port-dst ${f.origDstPort} --reply-src ${f.replySrc}`;
}
