/** The kube layer's public face: Kubernetes objects in, kube-proxy rule text out. */
export * from "./objects.js";
export { buildKubeModel, type KubeModel, type KubeModelOptions, type KubeWarning } from "./model.js";
export { readService, DEFAULT_AFFINITY_TIMEOUT, type ServiceDraft } from "./read-service.js";
export { readEndpointSlice } from "./read-endpointslice.js";
export {
  allocate,
  serviceAddress,
  parseServiceCIDR,
  parseNodePortRange,
  DEFAULT_NODE_PORT_RANGE,
  KUBERNETES_SERVICE_OFFSET,
  KUBE_DNS_SERVICE_OFFSET,
  type AllocationOptions,
} from "./allocate.js";
export { deriveEndpointSlices, resolveTargetPort } from "./derive-slices.js";
export { builtinServiceDocuments, BUILTIN_SOURCE, type BuiltinServiceOptions } from "./builtin-services.js";
export { base32, chainHash, servicePortChains, endpointChain, isServiceChainName, type ServicePortChains } from "./chain-names.js";
export { allServicePorts, servicePortInfos, type ServicePortInfo } from "./service-ports.js";
export { buildEndpointsMap, type EndpointInfo, type EndpointsMapOptions } from "./endpoints-map.js";
export { categorizeEndpoints, type CategorizedEndpoints, type TopologyInfo } from "./topology.js";
export { goHexMark, resolveOptions, type IptablesProxierOptions } from "./proxier-options.js";
export {
  syncIptablesRules,
  partialSyncIptablesRules,
  probability,
  LARGE_CLUSTER_ENDPOINTS,
  type IptablesSyncOptions,
  type IptablesSyncResult,
} from "./iptables-proxier.js";
export { jumpRulesText, jumpRuleArgs, JUMP_RULES, type JumpRule } from "./jump-rules.js";
export {
  staleConntrackFilters,
  clusterIPOnlyConntrackFilters,
  udpServingSets,
  conntrackCommand,
  type ConntrackEntryView,
  type ConntrackFilter,
  type UdpConntrackCleanup,
  type UdpServingSets,
} from "./stale-conntrack.js";
export {
  syncIpvs,
  ipsetRestoreText,
  virtualServerKey,
  uniqueRealServerName,
  DEFAULT_IPVS_SCHEDULER,
  KUBE_IPVS_DEVICE,
  IPVS_FLAG_PERSISTENT,
  IPVS_FLAG_HASHED,
  IPVS_FLAG_SOURCE_HASH,
  IPVS_NAT_CHAINS,
  IPVS_FILTER_CHAINS,
  type IpvsProxierOptions,
  type IpvsRealServer,
  type IpvsVirtualServer,
  type IpvsVirtualServerKind,
  type IpvsIpset,
  type IpvsSyncResult,
} from "./ipvs-proxier.js";
export { IPVS_IPSETS, ipsetCreateLine, type IpvsIpsetInfo, type IpvsIpsetType } from "./ipvs-ipsets.js";
export { IPVS_JUMP_RULES, ipvsJumpRulesText } from "./ipvs-jump-rules.js";
export {
  diffIpvs,
  gracefulTermination,
  gracefulTerminationNeeded,
  retryGracefulDeletes,
  type IpvsOperation,
  type IpvsDiff,
  type IpvsServiceSpec,
  type ConnectionCounts,
  type RealServerRef,
  type GracefulTerminationInput,
  type GracefulTerminationResult,
} from "./ipvs-diff.js";
export * from "./defaults.js";
export * from "./nftables-proxier.js";
