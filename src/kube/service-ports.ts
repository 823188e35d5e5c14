/**
 * The proxier's view of Services: one `ServicePortInfo` per Service port, as kube-proxy's
 * service change tracker builds them (pkg/proxy/serviceport.go newBaseServiceInfo,
 * pkg/apis/core/v1/helper and pkg/api/v1/service ExternalPolicyLocal/InternalPolicyLocal/
 * NeedsHealthCheck, pkg/proxy/util ShouldSkipService). Headless and ExternalName Services
 * produce nothing.
 */
import { servicePortChains, type ServicePortChains } from "./chain-names.js";
import type { Protocol, Service } from "./objects.js";

export interface ServicePortInfo {
  /** `ns/name`. */
  serviceKey: string;
  /** ServicePortName.String(): `ns/name` or `ns/name:port`. */
  spn: string;
  /** `spn` + "/" + protocol: the key endpoints are grouped under. */
  key: string;
  protocol: Protocol;
  /** Lowercase protocol, as it appears in rules and hashes. */
  proto: string;
  clusterIP: string;
  port: number;
  nodePort: number;
  externalIPs: readonly string[];
  loadBalancerVIPs: readonly string[];
  sourceRanges: readonly string[];
  clientIPAffinity: boolean;
  stickySeconds: number;
  externalPolicyLocal: boolean;
  internalPolicyLocal: boolean;
  healthCheckNodePort: number;
  chains: ServicePortChains;
}

export function servicePortKey(namespace: string, name: string, portName: string, protocol: string): string {
  return `${namespace}/${name}${portName ? `:${portName}` : ""}/${protocol}`;
}

/** Service types that take traffic from outside (apiservice.ExternallyAccessible). */
function externallyAccessible(s: Service): boolean {
  return s.type === "LoadBalancer" || s.type === "NodePort" || (s.type === "ClusterIP" && s.externalIPs.length > 0);
}

export function servicePortInfos(s: Service): ServicePortInfo[] {
  if (s.type === "ExternalName" || s.headless || s.clusterIP === null) return [];
  const externalPolicyLocal = externallyAccessible(s) && s.externalTrafficPolicy === "Local";
  const needsHealthCheck = s.type === "LoadBalancer" && externalPolicyLocal;
  return s.ports.map((p) => {
    const spn = `${s.namespace}/${s.name}${p.name ? `:${p.name}` : ""}`;
    const proto = p.protocol.toLowerCase();
    return {
      serviceKey: `${s.namespace}/${s.name}`,
      spn,
      key: `${spn}/${p.protocol}`,
      protocol: p.protocol,
      proto,
      clusterIP: s.clusterIP!,
      port: p.port,
      nodePort: p.nodePort,
      externalIPs: s.externalIPs,
      loadBalancerVIPs: s.loadBalancerIPs,
      sourceRanges: s.loadBalancerSourceRanges,
      clientIPAffinity: s.sessionAffinity === "ClientIP",
      stickySeconds: s.sessionAffinity === "ClientIP" ? s.affinityTimeoutSeconds : 0,
      externalPolicyLocal,
      internalPolicyLocal: s.internalTrafficPolicy === "Local",
      healthCheckNodePort: needsHealthCheck ? s.healthCheckNodePort : 0,
      chains: servicePortChains(spn, proto),
    };
  });
}

/** NodePort, external IPs or load balancer VIPs (BaseServicePortInfo.ExternallyAccessible). */
export function portExternallyAccessible(p: ServicePortInfo): boolean {
  return p.nodePort !== 0 || p.loadBalancerVIPs.length > 0 || p.externalIPs.length > 0;
}

/** Cluster endpoints are needed unless iTP=Local and nothing external (UsesClusterEndpoints). */
export function usesClusterEndpoints(p: ServicePortInfo): boolean {
  return !p.internalPolicyLocal || portExternallyAccessible(p);
}

export function usesLocalEndpoints(p: ServicePortInfo): boolean {
  return p.internalPolicyLocal || (p.externalPolicyLocal && portExternallyAccessible(p));
}

/** Every Service port, sorted by namespace/name, then port name, then protocol. */
export function allServicePorts(services: readonly Service[]): ServicePortInfo[] {
  const ports = services.flatMap(servicePortInfos);
  return ports.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * Where a Service port's internal and external traffic go (both proxiers' syncProxyRules):
 * the Local-policy chain when that policy is Local — with no endpoints if there is no local
 * one — else the Cluster-policy chain.
 */
export function policyChains<T>(p: ServicePortInfo, cluster: T, local: T, hasEndpoints: boolean, localCount: number): { internal: T; hasInternal: boolean; externalPolicy: T; hasExternal: boolean } {
  return {
    internal: p.internalPolicyLocal ? local : cluster,
    hasInternal: p.internalPolicyLocal ? hasEndpoints && localCount > 0 : hasEndpoints,
    externalPolicy: p.externalPolicyLocal ? local : cluster,
    hasExternal: p.externalPolicyLocal ? hasEndpoints && localCount > 0 : hasEndpoints,
  };
}
