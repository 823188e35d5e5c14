/**
 * The ipsets of kube-proxy's IPVS mode (pkg/proxy/ipvs/ipset.go constants and proxier.go
 * ipsetInfo, v1.33): name, type and the comment that the iptables rules matching the set
 * carry. The sets themselves are created without the ipset `comment` extension: kube-proxy's
 * ipset util runs `ipset create NAME TYPE family inet hashsize 1024 maxelem 65536` for hash
 * types and `ipset create NAME bitmap:port range 0-65535` for the bitmap, and the comment
 * only ever appears in `-m comment --comment "…"` next to `-m set`.
 */

export type IpvsIpsetType = "hash:ip" | "hash:ip,port" | "hash:ip,port,ip" | "hash:ip,port,net" | "bitmap:port";

export interface IpvsIpsetInfo {
  name: string;
  type: IpvsIpsetType;
  comment: string;
}

export const KUBE_LOOP_BACK = "KUBE-LOOP-BACK";
export const KUBE_CLUSTER_IP = "KUBE-CLUSTER-IP";
export const KUBE_EXTERNAL_IP = "KUBE-EXTERNAL-IP";
export const KUBE_EXTERNAL_IP_LOCAL = "KUBE-EXTERNAL-IP-LOCAL";
export const KUBE_LOAD_BALANCER = "KUBE-LOAD-BALANCER";
export const KUBE_LOAD_BALANCER_FW = "KUBE-LOAD-BALANCER-FW";
export const KUBE_LOAD_BALANCER_LOCAL = "KUBE-LOAD-BALANCER-LOCAL";
export const KUBE_LOAD_BALANCER_SOURCE_IP = "KUBE-LOAD-BALANCER-SOURCE-IP";
export const KUBE_LOAD_BALANCER_SOURCE_CIDR = "KUBE-LOAD-BALANCER-SOURCE-CIDR";
export const KUBE_NODE_PORT_TCP = "KUBE-NODE-PORT-TCP";
export const KUBE_NODE_PORT_LOCAL_TCP = "KUBE-NODE-PORT-LOCAL-TCP";
export const KUBE_NODE_PORT_UDP = "KUBE-NODE-PORT-UDP";
export const KUBE_NODE_PORT_LOCAL_UDP = "KUBE-NODE-PORT-LOCAL-UDP";
export const KUBE_NODE_PORT_SCTP = "KUBE-NODE-PORT-SCTP-HASH";
export const KUBE_NODE_PORT_LOCAL_SCTP = "KUBE-NODE-PORT-LOCAL-SCTP-HASH";
export const KUBE_HEALTH_CHECK_NODE_PORT = "KUBE-HEALTH-CHECK-NODE-PORT";
export const KUBE_IPVS_IPS = "KUBE-IPVS-IPS";

/** Every set kube-proxy ensures on each sync, in its ipsetInfo order. */
export const IPVS_IPSETS: readonly IpvsIpsetInfo[] = [
  { name: KUBE_LOOP_BACK, type: "hash:ip,port,ip", comment: "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" },
  { name: KUBE_CLUSTER_IP, type: "hash:ip,port", comment: "Kubernetes service cluster ip + port for masquerade purpose" },
  { name: KUBE_EXTERNAL_IP, type: "hash:ip,port", comment: "Kubernetes service external ip + port for masquerade and filter purpose" },
  { name: KUBE_EXTERNAL_IP_LOCAL, type: "hash:ip,port", comment: "Kubernetes service external ip + port with externalTrafficPolicy=local" },
  { name: KUBE_LOAD_BALANCER, type: "hash:ip,port", comment: "Kubernetes service lb portal" },
  { name: KUBE_LOAD_BALANCER_FW, type: "hash:ip,port", comment: "Kubernetes service load balancer ip + port for load balancer with sourceRange" },
  { name: KUBE_LOAD_BALANCER_LOCAL, type: "hash:ip,port", comment: "Kubernetes service load balancer ip + port with externalTrafficPolicy=local" },
  { name: KUBE_LOAD_BALANCER_SOURCE_IP, type: "hash:ip,port,ip", comment: "Kubernetes service load balancer ip + port + source IP for packet filter purpose" },
  { name: KUBE_LOAD_BALANCER_SOURCE_CIDR, type: "hash:ip,port,net", comment: "Kubernetes service load balancer ip + port + source cidr for packet filter purpose" },
  { name: KUBE_NODE_PORT_TCP, type: "bitmap:port", comment: "Kubernetes nodeport TCP port for masquerade purpose" },
  { name: KUBE_NODE_PORT_LOCAL_TCP, type: "bitmap:port", comment: "Kubernetes nodeport TCP port with externalTrafficPolicy=local" },
  { name: KUBE_NODE_PORT_UDP, type: "bitmap:port", comment: "Kubernetes nodeport UDP port for masquerade purpose" },
  { name: KUBE_NODE_PORT_LOCAL_UDP, type: "bitmap:port", comment: "Kubernetes nodeport UDP port with externalTrafficPolicy=local" },
  { name: KUBE_NODE_PORT_SCTP, type: "hash:ip,port", comment: "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'" },
  { name: KUBE_NODE_PORT_LOCAL_SCTP, type: "hash:ip,port", comment: "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'" },
  { name: KUBE_HEALTH_CHECK_NODE_PORT, type: "bitmap:port", comment: "Kubernetes health check node port" },
  { name: KUBE_IPVS_IPS, type: "hash:ip", comment: "Addresses on the ipvs interface" },
];

export function ipsetInfo(name: string): IpvsIpsetInfo {
  const info = IPVS_IPSETS.find((s) => s.name === name);
  if (!info) throw new Error(`not a kube-proxy IPVS set: ${name}`);
  return info;
}

/** Entry text as kube-proxy's ipset Entry.String() writes it. */
export const ipPortEntry = (ip: string, proto: string, port: number): string => `${ip},${proto}:${port}`;
export const ipPortIpEntry = (ip: string, proto: string, port: number, ip2: string): string => `${ip},${proto}:${port},${ip2}`;
export const ipPortNetEntry = (ip: string, proto: string, port: number, net: string): string => `${ip},${proto}:${port},${net}`;

/** The `create` line kube-proxy's ipset util runs for a set (without `-exist`). */
export function ipsetCreateLine(info: IpvsIpsetInfo): string {
  return info.type === "bitmap:port"
    ? `create ${info.name} bitmap:port range 0-65535`
    : `create ${info.name} ${info.type} family inet hashsize 1024 maxelem 65536`;
}
