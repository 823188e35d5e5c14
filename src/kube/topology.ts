/**
 * Which endpoints a Service port uses on this node (pkg/proxy/topology.go
 * CategorizeEndpoints, v1.33):
 *
 * - Cluster endpoints: the Ready ones, narrowed by topology hints when every Ready endpoint
 *   carries hints and one of them names this node (forNodes, with PreferSameNode) or this
 *   node's zone (forZones); if none are Ready, the serving+terminating ones (hints ignored).
 * - Local endpoints: local Ready ones, else local serving+terminating ones.
 * - hasAnyEndpoints: some endpoint anywhere is Ready or serving+terminating.
 * - allReachable: the union of both lists (the endpoints that get a KUBE-SEP chain).
 */
import type { EndpointInfo } from "./endpoints-map.js";
import { usesClusterEndpoints, usesLocalEndpoints, type ServicePortInfo } from "./service-ports.js";

export interface TopologyInfo {
  nodeName: string;
  /** `topology.kubernetes.io/zone` of this node, or "". */
  zone: string;
}

export interface CategorizedEndpoints {
  cluster: EndpointInfo[];
  local: EndpointInfo[];
  allReachable: EndpointInfo[];
  hasAnyEndpoints: boolean;
}

type TopologyMode = "" | "node" | "zone";

function topologyMode(endpoints: readonly EndpointInfo[], topo: TopologyInfo): TopologyMode {
  let allNodeHints = true;
  let nodeHit = false;
  let allZoneHints = true;
  let zoneHit = false;
  for (const ep of endpoints) {
    if (!ep.ready) continue;
    if (!ep.nodeHints) allNodeHints = false;
    else if (ep.nodeHints.has(topo.nodeName)) nodeHit = true;
    if (!ep.zoneHints) allZoneHints = false;
    else if (ep.zoneHints.has(topo.zone)) zoneHit = true;
  }
  if (allNodeHints && nodeHit) return "node";
  if (allZoneHints && zoneHit && topo.zone !== "") return "zone";
  return "";
}

function availableFor(ep: EndpointInfo, mode: TopologyMode, topo: TopologyInfo): boolean {
  if (mode === "node") return ep.nodeHints?.has(topo.nodeName) ?? false;
  if (mode === "zone") return ep.zoneHints?.has(topo.zone) ?? false;
  return true;
}

export function categorizeEndpoints(endpoints: readonly EndpointInfo[], svc: ServicePortInfo, topo: TopologyInfo): CategorizedEndpoints {
  let cluster: EndpointInfo[] = [];
  let local: EndpointInfo[] = [];
  let hasAnyEndpoints = false;
  let mode: TopologyMode = "";
  if (usesClusterEndpoints(svc)) {
    mode = topologyMode(endpoints, topo);
    cluster = endpoints.filter((ep) => ep.ready && availableFor(ep, mode, topo));
    if (cluster.length === 0) cluster = endpoints.filter((ep) => ep.serving && ep.terminating);
    if (cluster.length > 0) hasAnyEndpoints = true;
  }
  if (!usesLocalEndpoints(svc)) return { cluster, local, allReachable: cluster, hasAnyEndpoints };

  let localReady = false;
  let localTerminating = false;
  for (const ep of endpoints) {
    if (ep.ready) {
      hasAnyEndpoints = true;
      if (ep.isLocal) localReady = true;
    } else if (ep.serving && ep.terminating) {
      hasAnyEndpoints = true;
      if (ep.isLocal) localTerminating = true;
    }
  }
  let usedTerminating = false;
  if (localReady) local = endpoints.filter((ep) => ep.isLocal && ep.ready);
  else if (localTerminating) {
    usedTerminating = true;
    local = endpoints.filter((ep) => ep.isLocal && ep.serving && ep.terminating);
  }
  if (!usesClusterEndpoints(svc)) return { cluster, local, allReachable: local, hasAnyEndpoints };
  if (mode === "" && !usedTerminating) return { cluster, local, allReachable: cluster, hasAnyEndpoints };
  // Both lists may hold endpoints the other lacks: merge (kube-proxy's map order is random;
  // podwire keeps the sorted order, which only affects the order of KUBE-SEP chain lines).
  const merged = new Map<string, EndpointInfo>();
  for (const ep of cluster) merged.set(ep.text, ep);
  for (const ep of local) merged.set(ep.text, ep);
  const allReachable = [...merged.values()].sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
  return { cluster, local, allReachable, hasAnyEndpoints };
}
