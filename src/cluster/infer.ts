/**
 * Cluster settings for a file without a podwire Cluster document (a `kubectl get -A -o yaml`
 * dump): the node network from the Nodes' InternalIPs, the cluster CIDR and node mask size
 * from their podCIDRs, the Service CIDR from the ClusterIPs. Where the kubeadm default
 * (192.168.56.0/24 for podwire's node network, 10.244.0.0/16, 10.96.0.0/12) holds what the
 * file says, it is kept; otherwise the smallest aligned range that holds every address, no
 * narrower than the usual size of that network (/24, /16, /16).
 */
import { type Ipv4Cidr, cidrContains, formatCidr, formatIpv4, prefixMask } from "../base/index.js";
import { broadcastOf, cidrWithin } from "./ipam.js";
import type { NodeDraft } from "./read-objects.js";

export interface InferredSettings {
  nodeNetwork: Ipv4Cidr;
  clusterCIDR: Ipv4Cidr;
  nodeCIDRMaskSize: number;
  serviceCIDR: Ipv4Cidr;
  /** One line per setting: its value and where it came from. */
  notes: string[];
}

export interface InferDefaults {
  nodeNetwork: Ipv4Cidr;
  clusterCIDR: Ipv4Cidr;
  nodeCIDRMaskSize: number;
  serviceCIDR: Ipv4Cidr;
}

/** The smallest CIDR of prefix ≤ maxPrefix holding every address of `ranges`. */
export function smallestCover(ranges: readonly Ipv4Cidr[], maxPrefix: number): Ipv4Cidr {
  for (let prefix = maxPrefix; prefix >= 0; prefix--) {
    const mask = prefixMask(prefix);
    const net = (ranges[0]!.net & mask) >>> 0;
    const candidate = { net, prefixLen: prefix, mask };
    if (ranges.every((r) => r.prefixLen >= prefix && ((r.net & mask) >>> 0) === net)) return candidate;
  }
  return { net: 0, prefixLen: 0, mask: 0 };
}

const host = (ip: number): Ipv4Cidr => ({ net: ip, prefixLen: 32, mask: 0xffffffff });

export function inferSettings(defaults: InferDefaults, nodes: readonly NodeDraft[], clusterIPs: readonly number[]): InferredSettings {
  const notes: string[] = [];
  const nodeIPs = nodes.flatMap((n) => (n.internalIP ? [n.internalIP.ip] : []));
  const podCIDRs = nodes.flatMap((n) => (n.podCIDR ? [n.podCIDR.cidr] : []));
  const pick = (what: string, def: Ipv4Cidr, ranges: Ipv4Cidr[], maxPrefix: number, source: string): Ipv4Cidr => {
    if (ranges.length === 0) {
      notes.push(`${what} ${formatCidr(def)} (default: no ${source} in the file)`);
      return def;
    }
    if (ranges.every((r) => cidrWithin(r, def))) {
      notes.push(`${what} ${formatCidr(def)} (default; holds the ${source})`);
      return def;
    }
    const cidr = smallestCover(ranges, maxPrefix);
    notes.push(`${what} ${formatCidr(cidr)} (the smallest /${maxPrefix} or wider range holding the ${source})`);
    return cidr;
  };
  const nodeNetwork = pick("nodeNetwork", defaults.nodeNetwork, nodeIPs.map(host), 24, "Nodes' InternalIPs");
  const sizes = [...new Set(podCIDRs.map((c) => c.prefixLen))];
  const nodeCIDRMaskSize = sizes.length === 1 ? sizes[0]! : defaults.nodeCIDRMaskSize;
  if (sizes.length === 1) notes.push(`nodeCIDRMaskSize ${nodeCIDRMaskSize} (the Nodes' podCIDRs)`);
  const clusterCIDR = pick("clusterCIDR", defaults.clusterCIDR, podCIDRs, Math.min(16, nodeCIDRMaskSize), "Nodes' podCIDRs");
  const serviceCIDR = pick("serviceCIDR", defaults.serviceCIDR, clusterIPs.map(host), 16, "Services' clusterIPs");
  return { nodeNetwork, clusterCIDR, nodeCIDRMaskSize, serviceCIDR, notes };
}

/** An address for the outside host on an inferred node network: the highest one no node uses. */
export function outsideHostAddress(network: Ipv4Cidr, used: ReadonlySet<number>): number | null {
  for (let ip = broadcastOf(network) - 1; ip > network.net; ip--) {
    if (!used.has(ip) && cidrContains(network, ip)) return ip;
  }
  return null;
}

export function describeOutside(ip: number): string {
  return `externalHosts: outside ${formatIpv4(ip)} (the highest free address of the node network, for traffic from outside)`;
}
