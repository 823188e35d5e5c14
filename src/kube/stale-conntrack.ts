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
  | { protocol: "udp"; origDstPort: number; replySrc: string }
  /** Every UDP entry to the address (kube-proxy ≤ v1.31's flush of a Service that gained endpoints). */
  | { protocol: "udp"; origDst: string };

/**
 * Which stale-UDP cleanup a kube-proxy version runs after a sync (podwire's setting
 * `udpConntrackCleanup`, standing for the version; kube-proxy has no such flag):
 *
 * - `reconciler`: v1.32+'s CleanStaleEntries (#126130, PR #127318) with PR #139629: every UDP
 *   Service IP and node port, including Services left without endpoints.
 * - `reconciler-skip-no-endpoints`: the reconciler as PR #130484 (v1.33) left it until
 *   #139629: a Service without serving endpoints is skipped, so the entries of its last,
 *   deleted endpoint stay (#139628).
 * - `cluster-ip-only`: v1.3 to v1.13, event based (PR #22573, #48370's flush): for each
 *   removed endpoint of a UDP Service, `conntrack -D --orig-dst <ClusterIP> --dst-nat <EP>`;
 *   for a UDP Service that went from no endpoints to some, `conntrack -D --orig-dst
 *   <ClusterIP>`. Entries made through a node port, external IP or load balancer IP are
 *   never touched (#59368, fixed for node ports by PR #71573 in v1.14).
 */
export type UdpConntrackCleanup = "reconciler" | "reconciler-skip-no-endpoints" | "cluster-ip-only";

/** Serving endpoint IPs per UDP Service IP and per UDP node port. */
export interface UdpServingSets {
  byServiceIP: Map<string, Set<string>>;
  byNodePort: Map<number, Set<string>>;
}

export function udpServingSets(state: ProxyState, hostname = "", skipWithoutEndpoints = false): UdpServingSets {
  const eps = buildEndpointsMap(state.endpointSlices, { hostname });
  const byServiceIP = new Map<string, Set<string>>();
  const byNodePort = new Map<number, Set<string>>();
  for (const svc of allServicePorts(state.services)) {
    if (svc.protocol !== "UDP") continue;
    const ips = new Set((eps.get(svc.key) ?? []).filter((e) => e.serving).map((e) => e.ip));
    // PR #130484's "a Service without endpoints does not require to clean the conntrack entries".
    if (skipWithoutEndpoints && ips.size === 0) continue;
    // Like kube-proxy's map assignment, the last port visited for an IP wins.
    byServiceIP.set(svc.clusterIP, ips);
    for (const ip of svc.loadBalancerVIPs) byServiceIP.set(ip, ips);
    for (const ip of svc.externalIPs) byServiceIP.set(ip, ips);
    if (svc.nodePort !== 0) byNodePort.set(svc.nodePort, ips);
  }
  return { byServiceIP, byNodePort };
}

/** The filters kube-proxy would clear for these entries, in entry order, without duplicates. */
export function staleConntrackFilters(state: ProxyState, entries: readonly ConntrackEntryView[], hostname = "", skipWithoutEndpoints = false): ConntrackFilter[] {
  const sets = udpServingSets(state, hostname, skipWithoutEndpoints);
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

/**
 * The event-based cleanup of kube-proxy v1.3 to v1.13 (`cluster-ip-only` above), from the
 * state before and after a change: removed serving endpoints of UDP Service ports are
 * cleared by ClusterIP and endpoint (`deleteEndpointConnections`, ClearEntriesForNAT), and
 * UDP Services that had no endpoints and now have some are flushed by ClusterIP
 * (ClearEntriesForIP). Nothing for node ports, external IPs or load balancer IPs.
 */
export function clusterIPOnlyConntrackFilters(before: ProxyState, after: ProxyState, hostname = ""): ConntrackFilter[] {
  const old = buildEndpointsMap(before.endpointSlices, { hostname });
  const now = buildEndpointsMap(after.endpointSlices, { hostname });
  const out: ConntrackFilter[] = [];
  const seen = new Set<string>();
  const add = (f: ConntrackFilter): void => {
    const k = conntrackCommand(f);
    if (!seen.has(k)) {
      seen.add(k);
      out.push(f);
    }
  };
  for (const svc of allServicePorts(after.services)) {
    if (svc.protocol !== "UDP") continue;
    const was = new Set((old.get(svc.key) ?? []).filter((e) => e.serving).map((e) => e.ip));
    const is = new Set((now.get(svc.key) ?? []).filter((e) => e.serving).map((e) => e.ip));
    for (const ip of was) if (!is.has(ip)) add({ protocol: "udp", origDst: svc.clusterIP, replySrc: ip });
    if (was.size === 0 && is.size > 0) add({ protocol: "udp", origDst: svc.clusterIP });
  }
  return out;
}

/** The conntrack(8) command line equivalent to a filter. */
export function conntrackCommand(f: ConntrackFilter): string {
  if ("origDstPort" in f) return `conntrack -D -p udp --orig-port-dst ${f.origDstPort} --reply-src ${f.replySrc}`;
  return "replySrc" in f ? `conntrack -D -p udp --orig-dst ${f.origDst} --reply-src ${f.replySrc}` : `conntrack -D -p udp --orig-dst ${f.origDst}`;
}
