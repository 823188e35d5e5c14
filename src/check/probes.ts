/**
 * The probe Pods `podwire check` adds before it boots the cluster, as a netshoot DaemonSet
 * would: one ordinary (non-hostNetwork) Pod per node, so that every node has a Pod to send
 * from even when it runs none of its own (a tainted control plane, a cluster dump). They
 * live in the namespace `podwire-check`, are labelled `app: podwire-check-probe`, have no
 * container ports (so no Service derives endpoints from them unless its selector names
 * that label) and take the lowest free address of their node's Pod range.
 */
import { PodwireError, formatCidr, formatIpv4 } from "../base/index.js";
import type { ClusterSpec, NodeSpec, PodSpec } from "../cluster/spec.js";

export const PROBE_NAMESPACE = "podwire-check";
export const PROBE_LABELS: Readonly<Record<string, string>> = { app: "podwire-check-probe" };

export interface ProbePod {
  node: string;
  /** `podwire-check/probe-<node>`. */
  key: string;
  ip: number;
}

/** A copy of `spec` with one probe Pod per node, and the probes by node name (spec order). */
export function withProbePods(spec: ClusterSpec): { spec: ClusterSpec; probes: Map<string, ProbePod> } {
  const pods: PodSpec[] = [...spec.pods];
  const probes = new Map<string, ProbePod>();
  const used = new Set(spec.pods.filter((p) => !p.hostNetwork).map((p) => p.podIP >>> 0));
  for (const node of spec.nodes) {
    const name = `probe-${node.name}`;
    const existing = spec.pods.find((p) => p.namespace === PROBE_NAMESPACE && p.name === name);
    if (existing) {
      if (existing.hostNetwork || existing.nodeName !== node.name) {
        throw new PodwireError(
          "E_CHECK_PROBE",
          `Pod ${PROBE_NAMESPACE}/${name} exists but is not an ordinary Pod on node ${node.name}; podwire check needs that name for its probe`,
          existing.location,
          `rename or remove the Pod, or move it to node ${node.name} without hostNetwork`,
        );
      }
      probes.set(node.name, { node: node.name, key: `${PROBE_NAMESPACE}/${name}`, ip: existing.podIP });
      continue;
    }
    const ip = lowestFreeAddress(node, used);
    used.add(ip);
    pods.push({
      namespace: PROBE_NAMESPACE,
      name,
      nodeName: node.name,
      podIP: ip,
      hostNetwork: false,
      labels: { ...PROBE_LABELS },
      containers: [{ name: "probe", image: "nicolaka/netshoot", ports: [] }],
      location: { file: spec.source, field: `podwire check probe for node ${node.name}` },
    });
    probes.set(node.name, { node: node.name, key: `${PROBE_NAMESPACE}/${name}`, ip });
  }
  return { spec: { ...spec, pods }, probes };
}

/** The lowest address of the node's Pod range that is not the network, the gateway (.1), the broadcast or taken. */
function lowestFreeAddress(node: NodeSpec, used: ReadonlySet<number>): number {
  const cidr = node.podCIDR;
  const size = 2 ** (32 - cidr.prefixLen);
  for (let i = 2; i < size - 1; i++) {
    const ip = (cidr.net + i) >>> 0;
    if (!used.has(ip)) return ip;
  }
  throw new PodwireError(
    "E_CHECK_PROBE",
    `node ${node.name}'s Pod range ${formatCidr(cidr)} has no free address for podwire check's probe Pod (all up to ${formatIpv4((cidr.net + size - 2) >>> 0)} are taken)`,
    node.location,
    "give the node a larger podCIDR (nodeCIDRMaskSize) or fewer Pods",
  );
}
