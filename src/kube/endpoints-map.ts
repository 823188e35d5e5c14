/**
 * Endpoints per Service port, from EndpointSlices, as pkg/proxy/endpointslicecache.go
 * builds them: a slice port needs a name (possibly "") and a non-zero number; an endpoint
 * uses its first address; Ready and Serving default to true when absent, Terminating to
 * false; an endpoint is local when its nodeName is this node; duplicates of one `ip:port`
 * keep the non-terminating one; the list is sorted by the `ip:port` string.
 */
import type { EndpointSlice } from "./objects.js";

export interface EndpointInfo {
  ip: string;
  port: number;
  /** `ip:port`, the sort key and the endpoint chain hash input. */
  text: string;
  nodeName: string | null;
  isLocal: boolean;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  zoneHints: ReadonlySet<string> | null;
  nodeHints: ReadonlySet<string> | null;
}

export interface EndpointsMapOptions {
  hostname: string;
  /** Read `hints.forNodes` (the PreferSameTrafficDistribution gate; off by default in v1.33). */
  nodeHints?: boolean;
}

/** Endpoints keyed like `ServicePortInfo.key` (`ns/name[:port]/PROTOCOL`). */
export function buildEndpointsMap(slices: readonly EndpointSlice[], opts: EndpointsMapOptions): Map<string, EndpointInfo[]> {
  const sets = new Map<string, Map<string, EndpointInfo>>();
  for (const slice of slices) {
    if (slice.serviceName === null || slice.addressType !== "IPv4") continue;
    for (const port of slice.ports) {
      if (port.name === null || port.port === null || port.port === 0) continue;
      const key = `${slice.namespace}/${slice.serviceName}${port.name ? `:${port.name}` : ""}/${port.protocol}`;
      let set = sets.get(key);
      if (!set) sets.set(key, (set = new Map()));
      for (const ep of slice.endpoints) {
        if (ep.addresses.length === 0) continue;
        const info = endpointInfo(ep, port.port, opts);
        if (!set.has(info.text) || !info.terminating) set.set(info.text, info);
      }
    }
  }
  const out = new Map<string, EndpointInfo[]>();
  for (const [key, set] of sets) {
    if (set.size === 0) continue;
    out.set(key, [...set.values()].sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0)));
  }
  return out;
}

function endpointInfo(ep: EndpointSlice["endpoints"][number], port: number, opts: EndpointsMapOptions): EndpointInfo {
  const ip = ep.addresses[0]!;
  const hints = ep.hints;
  return {
    ip,
    port,
    text: `${ip}:${port}`,
    nodeName: ep.nodeName,
    isLocal: opts.hostname !== "" && ep.nodeName === opts.hostname,
    ready: ep.conditions.ready ?? true,
    serving: ep.conditions.serving ?? true,
    terminating: ep.conditions.terminating ?? false,
    zoneHints: hints && hints.forZones.length > 0 ? new Set(hints.forZones) : null,
    nodeHints: hints && opts.nodeHints && hints.forNodes.length > 0 ? new Set(hints.forNodes) : null,
  };
}
