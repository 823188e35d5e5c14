/**
 * kube-proxy's iptables-mode settings (its flags and what it learns about the node), with
 * kube-proxy's defaults.
 */
import { PodwireError, formatIpv4, parseCidr, parseIpv4, type Ipv4Cidr } from "../base/index.js";

export interface IptablesProxierOptions {
  /** `--hostname-override`: endpoints whose nodeName equals it are local. */
  hostname: string;
  /** The node's primary IPv4 address. */
  nodeIP: string | number;
  /** Node labels (only `topology.kubernetes.io/zone` matters). */
  nodeLabels?: Record<string, string>;
  /**
   * Every address on the node, which `--nodeport-addresses` selects from. Default: nodeIP
   * and 127.0.0.1.
   */
  localAddresses?: readonly (string | number)[];
  /** `--cluster-cidr`, the local-traffic detector; null or absent: no detector. */
  clusterCIDR?: string | null;
  /** `--masquerade-all`. */
  masqueradeAll?: boolean;
  /** `--iptables-masquerade-bit`, default 14. */
  masqueradeBit?: number;
  /**
   * The mark text to write, overriding `%#08x` of 1<<masqueradeBit (`0x00004000`).
   * kube-proxy's unit tests write `0x4000`.
   */
  masqueradeMark?: string;
  /** `--nodeport-addresses`: CIDRs, or `primary`; empty means all addresses. */
  nodePortAddresses?: readonly string[];
  /** `--iptables-localhost-nodeports`, default true. */
  localhostNodePorts?: boolean;
  /** The iptables binary supports `--random-fully` (default true). */
  randomFully?: boolean;
  /**
   * `-j MARK --xor-mark` before MASQUERADE in KUBE-POSTROUTING (default true; kube-proxy
   * before kubernetes/kubernetes#92035 left the mark on, so encapsulated packets were
   * masqueraded a second time).
   */
  unmarkBeforeMasquerade?: boolean;
  /** `-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP` (default true; kube-proxy before v1.15, PR #74840, had none). */
  dropInvalid?: boolean;
  /** The nfacct counters exist (default false). */
  nfacct?: boolean;
  /** `net.netfilter.nf_conntrack_tcp_be_liberal` is set: no INVALID drop rule. */
  conntrackTCPLiberal?: boolean;
  /** The PreferSameTrafficDistribution gate (alpha, off in v1.33): honour `hints.forNodes`. */
  nodeHints?: boolean;
}

export interface ResolvedOptions {
  hostname: string;
  nodeIP: number;
  zone: string;
  localAddresses: number[];
  detector: Ipv4Cidr | null;
  masqueradeAll: boolean;
  mark: string;
  nodePortMatchAll: boolean;
  nodePortCidrs: Ipv4Cidr[];
  localhostNodePorts: boolean;
  randomFully: boolean;
  unmarkBeforeMasquerade: boolean;
  dropInvalid: boolean;
  nfacct: boolean;
  conntrackTCPLiberal: boolean;
  nodeHints: boolean;
}

const LOOPBACK = 0x7f000001;

function ip(v: string | number, field: string): number {
  const n = typeof v === "number" ? v >>> 0 : parseIpv4(v);
  if (n < 0) throw new PodwireError("E_PROXY_OPTION", `${JSON.stringify(v)} is not an IPv4 address`, { field }, "write a dotted quad");
  return n;
}

function cidr(text: string, field: string): Ipv4Cidr {
  const c = parseCidr(text.trim(), false);
  if (!c) throw new PodwireError("E_PROXY_OPTION", `${JSON.stringify(text)} is not an IPv4 CIDR`, { field }, "write it as 10.244.0.0/16");
  return c;
}

/** `%#08x` as Go prints it: the digits zero-padded to eight, then the 0x prefix. */
export function goHexMark(value: number): string {
  return `0x${value.toString(16).padStart(8, "0")}`;
}

export function resolveOptions(o: IptablesProxierOptions): ResolvedOptions {
  const nodeIP = ip(o.nodeIP, "nodeIP");
  const bit = o.masqueradeBit ?? 14;
  if (!Number.isInteger(bit) || bit < 0 || bit > 31) {
    throw new PodwireError("E_PROXY_OPTION", `masquerade bit ${bit} is not 0..31`, { field: "masqueradeBit" }, "kube-proxy's default is 14");
  }
  // pkg/proxy/util/nodeport_addresses.go: no CIDR of this family means 0.0.0.0/0 (match all);
  // "primary" is the node IP (cmd/kube-proxy turns it into CIDRs).
  const texts = (o.nodePortAddresses ?? []).flatMap((t) => (t === "primary" ? [`${formatIpv4(nodeIP)}/32`] : t.includes(":") ? [] : [t]));
  const cidrs = texts.map((t) => cidr(t, "nodePortAddresses"));
  const matchAll = cidrs.length === 0 || cidrs.some((c) => c.prefixLen === 0);
  const containsLoopback = matchAll || cidrs.some((c) => c.net >>> 24 === 127 || ((0x7f000000 & c.mask) >>> 0) === c.net);
  return {
    hostname: o.hostname,
    nodeIP,
    zone: o.nodeLabels?.["topology.kubernetes.io/zone"] ?? "",
    localAddresses: (o.localAddresses ?? [nodeIP, LOOPBACK]).map((a) => ip(a, "localAddresses")),
    detector: o.clusterCIDR ? cidr(o.clusterCIDR, "clusterCIDR") : null,
    masqueradeAll: o.masqueradeAll ?? false,
    mark: o.masqueradeMark ?? goHexMark(2 ** bit),
    nodePortMatchAll: matchAll,
    nodePortCidrs: matchAll ? [] : cidrs,
    // NewProxier turns localhost NodePorts off when --nodeport-addresses excludes 127.0.0.0/8.
    localhostNodePorts: (o.localhostNodePorts ?? true) && containsLoopback,
    randomFully: o.randomFully ?? true,
    unmarkBeforeMasquerade: o.unmarkBeforeMasquerade ?? true,
    dropInvalid: o.dropInvalid ?? true,
    nfacct: o.nfacct ?? false,
    conntrackTCPLiberal: o.conntrackTCPLiberal ?? false,
    nodeHints: o.nodeHints ?? false,
  };
}
