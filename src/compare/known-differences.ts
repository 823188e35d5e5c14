/**
 * The documented ways kube-proxy's modes treat the same flow differently, as one table: a
 * difference compare-modes finds is "documented" when an entry here explains it exactly
 * (the Kubernetes situation of the flow, and the shape of both outcomes), else
 * "undocumented". Each entry says how `mode` differs from the baseline mode (iptables,
 * kube-proxy's reference mode); nftables mode has its own entries.
 *
 * The entries are the differences podwire documents and emulates (README "IPVS mode",
 * check's MODE_LATITUDE, test/scenarios/ipvs-equivalence.test.ts), each after kube-proxy's
 * own code.
 *
 * They hold for SCTP flows as for TCP and UDP ones: kube-proxy treats an SCTP Service port
 * like any other in every mode (IPVS with SCTP virtual services and `sctp:PORT` set
 * members), and no outcome of a flow differs because it is SCTP. The one SCTP-specific
 * behaviour of IPVS — set_sctp_state reads only a packet's first chunk, so a SHUTDOWN
 * bundled behind a SACK leaves the connection ESTABLISHED (15 min) where conntrack reaches
 * CLOSED — changes how long IPVS keeps the connection, not what a flow gets.
 */
import type { ProxyMode } from "../cluster/spec.js";
import type { Expectation } from "../check/index.js";
import type { Flow } from "./flows.js";
import type { Verdict } from "./observe.js";

/** One mode's outcome of a flow, as compared. */
export interface ModeOutcome {
  verdict: Verdict;
  /** `IP:PORT` of every endpoint the mode may send the flow to on its node; null: the mode has no endpoint-set adapter. */
  endpoints: string[] | null;
  /** The source the answering endpoint saw, as a class; null when no endpoint answered. */
  sourceSeen: string | null;
  /** `IP:PORT` of the endpoint that answered; null when none did. */
  answeredBy: string | null;
  /** Where that endpoint sits (`worker-1 pod`, `control-plane host`); null when none answered. */
  answeredFrom: string | null;
}

export interface KnownDifference {
  id: string;
  /** The mode that differs from the baseline. */
  mode: ProxyMode;
  /** The Kubernetes situations (check's expectation rules) it is about. */
  rules: Expectation["rule"][];
  /** Whether `base` (the baseline mode's outcome) and `other` (this mode's) are the documented pair. */
  matches(base: ModeOutcome, other: ModeOutcome, flow: Flow): boolean;
  reason: string;
}

const noEndpoints = (o: ModeOutcome) => o.endpoints === null || o.endpoints.length === 0;
const sameSet = (a: readonly string[] | null, b: readonly string[]) => a === null || (a.length === b.length && a.every((x, i) => x === b[i]));
/** IPVS's fallback: the virtual server has the cluster endpoints, and the flow reached one of them (or one refused it). */
const fellBack = (o: ModeOutcome, flow: Flow) => flow.clusterEndpoints.length > 0 && sameSet(o.endpoints, flow.clusterEndpoints) && (o.verdict === "ok" || o.verdict === "refused");

export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  {
    id: "ipvs-external-local-fallback",
    mode: "ipvs",
    rules: ["external-local"],
    matches: (base, other, flow) => base.verdict === "dropped" && noEndpoints(base) && fellBack(other, flow),
    reason:
      "externalTrafficPolicy: Local and no local endpoint on the node: iptables mode drops (KUBE-EXT-… has no local endpoints); " +
      "IPVS mode's virtual server falls back to the cluster endpoints (kube-proxy pkg/proxy/ipvs/proxier.go syncEndpoint, PR #97081)",
  },
  {
    id: "ipvs-external-local-fallback-asymmetric",
    mode: "ipvs",
    rules: ["external-local"],
    matches: (base, other, flow) =>
      base.verdict === "dropped" && noEndpoints(base) && flow.clusterEndpoints.length > 0 && sameSet(other.endpoints, flow.clusterEndpoints) && other.verdict === "dropped",
    reason:
      "externalTrafficPolicy: Local and no local endpoint on the node: iptables mode drops; IPVS mode falls back to the cluster endpoints, but " +
      "Local keeps the client's source (no masquerade), so the remote endpoint answers the client straight from its own node and the client " +
      "drops that reply (an asymmetric return path; proxier.go syncEndpoint's fallback with the KUBE-*-LOCAL sets' no-masquerade)",
  },
  {
    id: "ipvs-internal-local-external-fallback",
    mode: "ipvs",
    rules: ["internal-local-external"],
    matches: (base, other, flow) => base.verdict === "dropped" && noEndpoints(base) && fellBack(other, flow),
    reason:
      "internalTrafficPolicy: Local, no local endpoint on the client's node, on a Service also reachable from outside: iptables mode drops; " +
      "IPVS mode's ClusterIP virtual server falls back to the cluster endpoints, which such a Service has (UsesClusterEndpoints; proxier.go syncEndpoint)",
  },
  {
    id: "ipvs-internal-local-unreachable",
    mode: "ipvs",
    rules: ["internal-local"],
    matches: (base, other) => base.verdict === "dropped" && noEndpoints(base) && other.verdict === "refused" && noEndpoints(other),
    reason:
      "internalTrafficPolicy: Local, no local endpoint on the client's node: iptables mode drops (KUBE-SVL-… has no local endpoints); " +
      "IPVS mode's virtual server has no real server, so IPVS answers ICMP port unreachable (ip_vs_leave)",
  },
  {
    id: "ipvs-lb-firewall-without-endpoints",
    mode: "ipvs",
    rules: ["no-endpoints-firewalled"],
    matches: (base, other) => base.verdict === "refused" && other.verdict === "dropped" && noEndpoints(base) && noEndpoints(other),
    reason:
      "a LoadBalancer IP with no endpoints, client outside loadBalancerSourceRanges: iptables mode writes the KUBE-FW- chain only with endpoints, so it REJECTs; " +
      "IPVS mode puts the IP into KUBE-LOAD-BALANCER-FW whatever its endpoints, so KUBE-SOURCE-RANGES-FIREWALL drops it first",
  },
  {
    id: "nftables-lb-firewall-without-endpoints",
    mode: "nftables",
    rules: ["no-endpoints-firewalled"],
    matches: (base, other) => base.verdict === "refused" && other.verdict === "dropped" && noEndpoints(base) && noEndpoints(other),
    reason:
      "a LoadBalancer IP with no endpoints, client outside loadBalancerSourceRanges: iptables mode writes the KUBE-FW- chain only with endpoints, so it REJECTs; " +
      "nftables mode adds the IP to the firewall-ips map whatever its endpoints (kube-proxy pkg/proxy/nftables/proxier.go: usesFWChain does not look at " +
      "hasEndpoints), and firewall-check runs in filter-prerouting-pre-dnat (dstnat-10), before service-endpoints-check could reject, so it drops",
  },
];

/** The entry that explains how `mode` treats `flow` differently from the baseline, if any. */
export function explain(mode: ProxyMode, base: ModeOutcome, other: ModeOutcome, flow: Flow): KnownDifference | null {
  const rule = flow.expectation?.rule;
  if (rule === undefined) return null;
  return KNOWN_DIFFERENCES.find((d) => d.mode === mode && d.rules.includes(rule) && d.matches(base, other, flow)) ?? null;
}
