/**
 * What Kubernetes says should happen to a packet, computed from the objects alone (the
 * Services and EndpointSlices of the KubeModel), never from podwire's rules or packets:
 *
 * - a Service port's endpoints are those of the Service's EndpointSlices that carry a port
 *   with the same name and protocol; the usable ones are the Ready ones (`ready` absent
 *   counts as Ready), or when none is Ready the serving and terminating ones (kube-proxy's
 *   terminating fallback). Topology hints are not taken into account;
 * - no usable endpoint → kube-proxy REJECTs (ICMP port unreachable or a TCP reset);
 * - `internalTrafficPolicy: Local` and none on the client's node → DROP;
 * - `externalTrafficPolicy: Local` and none on the node the outside traffic lands on → DROP;
 * - a LoadBalancer IP, a client outside `loadBalancerSourceRanges` → DROP.
 *
 * What a proxy mode is allowed to do differently is one table (MODE_LATITUDE), not branches.
 */
import { cidrContains, parseCidr } from "../base/index.js";
import type { KubeModel, Service, ServicePort } from "../kube/index.js";

/** How an expected failure shows: refused (REJECT), silence (DROP), or an empty DNS answer. */
export type FailureKind = "reject" | "drop" | "no-dns-answer";

export interface Expectation {
  /** The Kubernetes reason, e.g. `no endpoints → REJECT`. */
  reason: string;
  kind: FailureKind;
  /** Why the failure follows, for mode latitude: which rule of the list above applies. */
  rule: "no-endpoints" | "no-endpoints-firewalled" | "internal-local" | "internal-local-external" | "external-local" | "source-ranges" | "headless-empty" | "dns";
}

export interface PortEndpoint {
  address: string;
  /** The endpoint's port for this Service port (the slice's port number). */
  port: number;
  nodeName: string | null;
  ready: boolean;
  servingTerminating: boolean;
}

/** The endpoints of one Service port, from the Service's EndpointSlices (IPv4 ones). */
export function portEndpoints(model: KubeModel, svc: Service, port: ServicePort): PortEndpoint[] {
  const out: PortEndpoint[] = [];
  for (const slice of model.endpointSlices) {
    if (slice.namespace !== svc.namespace || slice.serviceName !== svc.name || slice.addressType !== "IPv4") continue;
    const sp = slice.ports.find((p) => p.name === port.name && p.protocol === port.protocol && p.port !== null);
    if (!sp) continue;
    for (const ep of slice.endpoints) {
      const address = ep.addresses[0];
      if (address === undefined) continue;
      out.push({
        address,
        port: sp.port!,
        nodeName: ep.nodeName,
        ready: ep.conditions.ready !== false,
        servingTerminating: ep.conditions.serving !== false && ep.conditions.terminating === true,
      });
    }
  }
  return out;
}

/** The endpoints kube-proxy may send to: the Ready ones, else the serving+terminating ones. */
export function usable(endpoints: readonly PortEndpoint[]): PortEndpoint[] {
  const ready = endpoints.filter((e) => e.ready);
  return ready.length > 0 ? ready : endpoints.filter((e) => e.servingTerminating);
}

const NO_ENDPOINTS: Expectation = { reason: "no endpoints → REJECT", kind: "reject", rule: "no-endpoints" };

/** A client inside the cluster (a Pod, or a node's host namespace) on `node` → ClusterIP. */
export function internalExpectation(svc: Service, endpoints: readonly PortEndpoint[], node: string): Expectation | null {
  if (usable(endpoints).length === 0) return NO_ENDPOINTS;
  if (svc.internalTrafficPolicy === "Local" && usable(endpoints.filter((e) => e.nodeName === node)).length === 0) {
    // A Service also reachable from outside has cluster endpoints too (UsesClusterEndpoints:
    // "we need Cluster endpoints to implement short circuiting"), which IPVS mode falls back to.
    const external = svc.type === "NodePort" || svc.type === "LoadBalancer" || svc.externalIPs.length > 0;
    return { reason: `internalTrafficPolicy: Local, no local endpoint on ${node} → DROP`, kind: "drop", rule: external ? "internal-local-external" : "internal-local" };
  }
  return null;
}

/**
 * Traffic from outside landing on `node`: a NodePort on that node, or an external or
 * LoadBalancer IP routed through it. `lbSource` is the client's address for LoadBalancer IPs.
 */
export function externalExpectation(svc: Service, endpoints: readonly PortEndpoint[], node: string, lbSource: number | null): Expectation | null {
  const allowed =
    lbSource === null ||
    svc.loadBalancerSourceRanges.length === 0 ||
    svc.loadBalancerSourceRanges.some((text) => {
      const cidr = parseCidr(text, false);
      return cidr !== null && cidrContains(cidr, lbSource);
    });
  if (usable(endpoints).length === 0) {
    return allowed ? NO_ENDPOINTS : { reason: "no endpoints → REJECT (the client is also outside loadBalancerSourceRanges)", kind: "reject", rule: "no-endpoints-firewalled" };
  }
  if (!allowed) return { reason: "source outside loadBalancerSourceRanges → DROP", kind: "drop", rule: "source-ranges" };
  if (svc.externalTrafficPolicy === "Local" && usable(endpoints.filter((e) => e.nodeName === node)).length === 0) {
    return { reason: `externalTrafficPolicy: Local, no local endpoint on ${node} → DROP`, kind: "drop", rule: "external-local" };
  }
  return null;
}

/** A headless Service's DNS name answers with its Ready endpoints (CoreDNS has no terminating fallback). */
export function headlessExpectation(endpoints: readonly PortEndpoint[]): Expectation | null {
  if (endpoints.some((e) => e.ready)) return null;
  return { reason: "headless Service with no ready endpoints → DNS answers no address", kind: "no-dns-answer", rule: "headless-empty" };
}

/** The same expectation, for the DNS lookup that precedes an exchange by name. */
export function asDnsLookup(e: Expectation): Expectation {
  return { reason: `DNS lookup via kube-dns: ${e.reason}`, kind: e.kind, rule: "dns" };
}

/**
 * Where a kube-proxy mode may behave differently from the rule above, as the real one does:
 * - IPVS has no DROP for a missing local endpoint: the virtual server has no real server,
 *   and ip_vs_leave answers ICMP port unreachable (internalTrafficPolicy: Local);
 * - IPVS falls back to cluster endpoints for externalTrafficPolicy: Local on a node
 *   without local ones (podwire's documented difference), so the exchange may succeed;
 * - IPVS serves an internalTrafficPolicy: Local Service that is also reachable from outside
 *   from its cluster endpoints on a node without local ones (the same fallback: such a
 *   Service has cluster endpoints, UsesClusterEndpoints);
 * - IPVS puts a LoadBalancer IP in its firewall ipsets whether or not it has endpoints, so
 *   a client outside loadBalancerSourceRanges is dropped before the missing endpoints
 *   could be refused (iptables mode writes the firewall chain only with endpoints).
 */
export interface ModeLatitude {
  /** Failure kinds also accepted, by rule. */
  alsoAccept: Partial<Record<Expectation["rule"], FailureKind[]>>;
  /** Rules whose expected failure may instead succeed, with the note for the cell. */
  maySucceed: Partial<Record<Expectation["rule"], string>>;
}

export const MODE_LATITUDE: Record<string, ModeLatitude> = {
  iptables: { alsoAccept: {}, maySucceed: {} },
  ipvs: {
    alsoAccept: { "internal-local": ["reject"], "internal-local-external": ["reject"], "no-endpoints-firewalled": ["drop"] },
    maySucceed: {
      "internal-local-external":
        "internalTrafficPolicy: Local, no local endpoint on the node, but the Service is also reachable from outside: IPVS mode fell back to its cluster endpoints",
      "external-local":
        "externalTrafficPolicy: Local, no local endpoint on the node: IPVS mode fell back to cluster endpoints where iptables mode drops (podwire's documented iptables/IPVS difference)",
    },
  },
};

export function latitudeFor(mode: string): ModeLatitude {
  return MODE_LATITUDE[mode] ?? { alsoAccept: {}, maySucceed: {} };
}
