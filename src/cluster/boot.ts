/**
 * A running cluster: namespaces and devices, the Pods' servers, kube-proxy's rules on
 * every node and CoreDNS answering for Services — what `demo` and `trace` start from.
 */
import { type DnsServer, startPodApps } from "./apps.js";
import { Cluster } from "./build.js";
import { L7Runtime } from "./l7-runtime.js";
import { ClusterServices, type KubeProxyFlags } from "./services.js";
import type { ClusterSpec } from "./spec.js";

export interface RunningCluster {
  cluster: Cluster;
  services: ClusterServices;
  /** CoreDNS servers by Pod (`kube-system/coredns-0`). */
  dns: Map<string, DnsServer>;
  /** The Ingress / Gateway API controllers (Pods running the L7 proxy) and their request log. */
  l7: L7Runtime;
}

export interface BootHooks {
  /** Called before kube-proxy's first sync on every node (what the sync will write can still be measured). */
  beforeFirstSync?(services: ClusterServices): void;
}

export function bootCluster(spec: ClusterSpec, flags: KubeProxyFlags = {}, hooks: BootHooks = {}): RunningCluster {
  const cluster = new Cluster(spec);
  const dns = startPodApps(cluster);
  const services = new ClusterServices(cluster, flags);
  hooks.beforeFirstSync?.(services);
  services.syncAll();
  services.publishDns(dns.values());
  const l7 = new L7Runtime(cluster, services);
  return { cluster, services, dns, l7 };
}
