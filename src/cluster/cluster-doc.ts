/**
 * A podwire Cluster document for a resolved spec: what `podwire cluster` prints when the
 * settings were inferred from a `kubectl get` dump, so the user can pin them in the file.
 */
import { formatCidr, formatIpv4 } from "../base/index.js";
import { CLUSTER_API_VERSION } from "./load.js";
import { nodeSettingsYaml } from "./read-node-settings.js";
import type { ClusterSpec } from "./spec.js";

export function clusterDocumentYaml(spec: ClusterSpec): string {
  const lines = [
    `apiVersion: ${CLUSTER_API_VERSION}`,
    "kind: Cluster",
    "metadata:",
    `  name: ${spec.name}`,
    "spec:",
    `  clusterCIDR: ${formatCidr(spec.clusterCIDR)}`,
  ];
  if (spec.externalHosts.length > 0) {
    lines.push("  externalHosts:");
    for (const h of spec.externalHosts) lines.push(`  - ip: ${formatIpv4(h.ip)}`, `    name: ${h.name}`);
  }
  lines.push(
    `  nodeCIDRMaskSize: ${spec.nodeCIDRMaskSize}`,
    `  nodeMTU: ${spec.nodeMTU}`,
    `  nodeNetwork: ${formatCidr(spec.nodeNetwork)}`,
    `  overlay: ${spec.overlay}`,
    `  proxyMode: ${spec.proxyMode}`,
    `  seed: ${spec.seed}`,
    `  serviceCIDR: ${formatCidr(spec.serviceCIDR)}`,
  );
  lines.push(...nodeSettingsYaml(spec.nodeSettings));
  return lines.join("\n") + "\n";
}

/** v1 Node documents for the spec's nodes (for files that had none and ran on the embedded ones). */
export function nodeDocumentsYaml(spec: ClusterSpec): string {
  return spec.nodes
    .map((n) => {
      const lines = ["apiVersion: v1", "kind: Node", "metadata:", "  labels:"];
      for (const [k, v] of Object.entries(n.labels).sort()) lines.push(`    ${k}: ${JSON.stringify(v)}`);
      lines.push(`  name: ${n.name}`, "spec:", `  podCIDR: ${formatCidr(n.podCIDR)}`);
      if (!n.schedulable) lines.push("  taints:", "  - effect: NoSchedule", `    key: ${n.controlPlane ? "node-role.kubernetes.io/control-plane" : "node.kubernetes.io/unschedulable"}`);
      lines.push("status:", "  addresses:", `  - address: ${formatIpv4(n.internalIP)}`, "    type: InternalIP");
      return lines.join("\n") + "\n";
    })
    .join("---\n");
}
