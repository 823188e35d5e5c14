/**
 * The validated, fully resolved description of a cluster: what `loadCluster` produces from
 * a cluster file (or the embedded default) and what the builder turns into namespaces and
 * devices. Every address and range here is already checked and allocated.
 */
import type { InputLocation, Ipv4Cidr } from "../base/index.js";
import type { UdpConntrackCleanup } from "../kube/index.js";
import type { L7Objects } from "../l7/objects.js";
import type { LoadSummary } from "./load-summary.js";

export type OverlayMode = "vxlan" | "host-gw";
export type ProxyMode = "iptables" | "ipvs" | "nftables";

/**
 * kube-proxy's configuration on every node: the Cluster document's `kubeProxy:` block
 * (KubeProxyConfiguration's names) merged with command-line flags (see `podwire rules --help`).
 */
export interface KubeProxyConfig {
  /** `clusterCIDR` (`--cluster-cidr`), the local-traffic detector; null for none. Default: the cluster's. */
  clusterCIDR?: string | null;
  /** `detectLocalMode`: ClusterCIDR (default) or NodeCIDR (the node's podCIDR). */
  detectLocalMode?: "ClusterCIDR" | "NodeCIDR";
  /** `iptables.masqueradeAll` (or the top-level `masqueradeAll`): iptables and IPVS modes. */
  masqueradeAll?: boolean;
  /** `iptables.masqueradeBit`, default 14: iptables and IPVS modes. */
  masqueradeBit?: number;
  /** `nftables.masqueradeAll` (or the top-level `masqueradeAll`). */
  nftablesMasqueradeAll?: boolean;
  /** `nftables.masqueradeBit`, default 14. */
  nftablesMasqueradeBit?: number;
  /** `nodePortAddresses`: CIDRs, or `primary`. */
  nodePortAddresses?: string[];
  /** `iptables.localhostNodePorts`, default true. */
  localhostNodePorts?: boolean;
  /** `conntrack.tcpBeLiberal`: kube-proxy sets nf_conntrack_tcp_be_liberal and writes no INVALID drop rule. */
  conntrackTCPLiberal?: boolean;
  /**
   * `conntrack.maxPerCore` (kube-proxy's default 32768; 0 leaves nf_conntrack_max alone):
   * at start kube-proxy sets nf_conntrack_max to max(maxPerCore × CPUs, conntrack.min).
   * Absent: podwire leaves the nodes' nf_conntrack_max as the sysctls give it.
   */
  conntrackMaxPerCore?: number;
  /** `conntrack.min` (kube-proxy's default 131072). */
  conntrackMin?: number;
  /**
   * The MinimizeIPTablesRestore feature gate (command line only; v1.26 alpha, on by default
   * from v1.27, GA in v1.28): false makes every iptables-mode sync write the whole table, as
   * kube-proxy did before v1.26.
   */
  minimizeIPTablesRestore?: boolean;
  /** The iptables binary supports `--random-fully` (command line only; default true). */
  randomFully?: boolean;
  /**
   * KUBE-POSTROUTING clears the masquerade mark before MASQUERADE (command line only; default
   * true). kube-proxy before kubernetes/kubernetes#92035 (v1.19; 1.16.13, 1.17.9, 1.18.6) did
   * not, so a VXLAN packet carrying a masqueraded one kept the mark and was masqueraded too.
   */
  unmarkBeforeMasquerade?: boolean;
  /**
   * KUBE-FORWARD drops conntrack INVALID packets (command line only; default true, unless
   * conntrack.tcpBeLiberal). kube-proxy before kubernetes/kubernetes#74840 (v1.15) wrote no
   * such rule, so an INVALID packet was forwarded un-NATed.
   */
  dropInvalid?: boolean;
  /** nfacct counters exist (command line only). */
  nfacct?: boolean;
  /**
   * Which stale-UDP-conntrack cleanup kube-proxy runs after a sync, standing for its version
   * (podwire's setting, command line only; see UdpConntrackCleanup in kube/stale-conntrack.ts).
   * Default `reconciler` (v1.32+ with PR #139629).
   */
  udpConntrackCleanup?: UdpConntrackCleanup;
}

/**
 * Settings every node runs with, from the Cluster document's `sysctls:` (kernel knobs, as
 * numbers the way `sysctl` prints them) and `cni:` blocks. Absent: the kernel's (or the CNI
 * plugin's) default.
 */
export interface NodeSettings {
  /** net.netfilter.nf_conntrack_max (default 262144). */
  conntrackMax?: number;
  /** net.netfilter.nf_conntrack_tcp_be_liberal (default 0). */
  tcpBeLiberal?: number;
  /** net.netfilter.nf_conntrack_udp_timeout, s (default 30). */
  udpTimeout?: number;
  /** net.netfilter.nf_conntrack_udp_timeout_stream, s (default 120). */
  udpTimeoutStream?: number;
  /** net.netfilter.nf_conntrack_tcp_timeout_established, s (default 432000). */
  tcpTimeoutEstablished?: number;
  /** net.bridge.bridge-nf-call-iptables (default 1 on a Kubernetes node). */
  bridgeNfCallIptables?: number;
  /** net.ipv4.vs.conn_reuse_mode (default 1). */
  ipvsConnReuseMode?: number;
  /** net.ipv4.vs.expire_nodest_conn (default 0). */
  ipvsExpireNodestConn?: number;
  /** The bridge CNI plugin's hairpinMode on each Pod's host veth (flannel's cni-conf.json: true). */
  hairpinMode?: boolean;
  /**
   * The bridge CNI plugin's `mtu`: the MTU of cni0, every Pod's eth0 and its host veth.
   * Absent: what flannel writes (FLANNEL_MTU: the node MTU, less 50 in VXLAN mode).
   */
  cniMtu?: number;
  /**
   * `kernelVersion:` the nodes' kernel, e.g. "5.4.40", for the version-dependent behaviours
   * of conntrack/kernel.ts (conntrack clash resolution, the NAT port rover, the zero UDP
   * checksum bug). Absent: conntrack/kernel.ts's DEFAULT_KERNEL.
   */
  kernelVersion?: string;
  /**
   * `nodeCPUs:` how many CPUs each node's receive processing (the NET_RX softirq) runs on
   * (netdev/softirq.ts). Absent: not modelled — every packet's pass runs at once.
   */
  cpus?: number;
}

export interface ClusterSpec {
  /** `metadata.name` of the Cluster document. */
  name: string;
  /** The file it came from, or `<embedded default>`. */
  source: string;
  /** Pod network, default 10.244.0.0/16. */
  clusterCIDR: Ipv4Cidr;
  /** Size of each node's pod range, default 24. */
  nodeCIDRMaskSize: number;
  /** Service network, default 10.96.0.0/12 (used by later layers). */
  serviceCIDR: Ipv4Cidr;
  /** The network the nodes' eth0 sit on, default 192.168.56.0/24. */
  nodeNetwork: Ipv4Cidr;
  /** MTU of the node network, default 1500 (the VXLAN device gets this − 50). */
  nodeMTU: number;
  overlay: OverlayMode;
  /** kube-proxy mode for later layers; iptables by default. */
  proxyMode: ProxyMode;
  /** Seed for every random choice in a run. */
  seed: number;
  /** kube-proxy's configuration from the Cluster document (`kubeProxy:`). */
  kubeProxy?: KubeProxyConfig;
  /** The API server's `--service-node-port-range`, default `30000-32767`. */
  serviceNodePortRange?: string;
  /** Node sysctls and CNI options (`sysctls:`, `cni:`); absent: the defaults. */
  nodeSettings?: NodeSettings;
  nodes: NodeSpec[];
  pods: PodSpec[];
  /** Hosts on the node network outside the cluster ("the outside world"). */
  externalHosts: ExternalHostSpec[];
  /** Documents of other kinds (Services, EndpointSlices, …), kept untouched for later layers. */
  otherDocuments: RawDocument[];
  /** Ingress, IngressClass, Gateway API objects and TLS Secrets, read and validated (cluster/read-l7.ts); absent: none. */
  l7?: L7Objects;
  /** What the load read and what it left out (the line printed on stderr). */
  summary?: LoadSummary;
  /**
   * How the settings were chosen when the file has no Cluster document (one line each), so
   * they can be pinned in one; null when a Cluster document gave them.
   */
  inferred?: string[] | null;
}

export interface NodeSpec {
  name: string;
  /** Address of eth0 on the node network. */
  internalIP: number;
  podCIDR: Ipv4Cidr;
  /** False when `spec.unschedulable` or a NoSchedule/NoExecute taint keeps ordinary Pods off. */
  schedulable: boolean;
  controlPlane: boolean;
  labels: Record<string, string>;
  location: InputLocation;
}

export interface ContainerPortSpec {
  name?: string;
  containerPort: number;
  protocol: "TCP" | "UDP" | "SCTP";
}

export interface ContainerSpec {
  name: string;
  image?: string;
  ports: ContainerPortSpec[];
}

export interface PodSpec {
  namespace: string;
  name: string;
  nodeName: string;
  /** The Pod's address; the node's address for hostNetwork Pods. */
  podIP: number;
  hostNetwork: boolean;
  labels: Record<string, string>;
  containers: ContainerSpec[];
  /** metadata.ownerReferences: the workload (or its ReplicaSet) that made the Pod. */
  owners?: { kind: string; name: string }[];
  /** metadata.annotations, when it has any (an L7 controller Pod is recognised by one: l7/controller.ts). */
  annotations?: Record<string, string>;
  location: InputLocation;
}

export interface ExternalHostSpec {
  name: string;
  ip: number;
}

/** A YAML document podwire does not model yet, with where it came from. */
export interface RawDocument {
  apiVersion: string;
  kind: string;
  /** The parsed document as plain JSON-like data. */
  body: Record<string, unknown>;
  location: InputLocation;
}
