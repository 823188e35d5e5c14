/**
 * A running cluster: namespaces and devices, the Pods' servers, kube-proxy's rules on
 * every node and CoreDNS answering for Services — what `demo` and `trace` start from.
 */
import { type DnsServer, startPodApps } from "./apps.js";
import { Cluster } from "./build.js";
import { ClusterServices, type KubeProxyFlags } from "./services.js";
import type { ClusterSpec } from "./spec.js";

export interface RunningCluster {
  cluster: Cluster;
  services: ClusterServices;
  /** CoreDNS servers by Pod (`kube-system/coredns-0`). */
  dns: Map<string, DnsServer>;
}

export function bootCluster(spec: ClusterSpec, flags: KubeProxyFlags = {}): RunningCluster {
  const cluster = new Cluster(spec);
  const dns = startPodApps(cluster);
  const services = new ClusterServices(cluster, flags);
  services.syncAll();
  services.publishDns(dns.values());
  return { cluster, services, dns };
}
