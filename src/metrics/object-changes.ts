/**
 * Which Services and EndpointSlices differ between two sets of objects: what kube-proxy's
 * informers would deliver as add, update and delete events (each one counted by
 * kubeproxy_sync_proxy_rules_service_changes_total / …_endpoint_changes_total). Where an
 * object came from in the file (its line) is not part of it.
 */
import type { EndpointSlice, Service } from "../kube/index.js";

export interface ObjectChanges {
  /** `NS/NAME` of each Service added, changed or removed. */
  services: string[];
  /** `NS/NAME` of each EndpointSlice added, changed or removed. */
  endpointSlices: string[];
}

interface Objects {
  services: readonly Service[];
  endpointSlices: readonly EndpointSlice[];
}

export function objectChanges(before: Objects | null, after: Objects): ObjectChanges {
  return {
    services: changedKeys(before?.services ?? [], after.services),
    endpointSlices: changedKeys(before?.endpointSlices ?? [], after.endpointSlices),
  };
}

function changedKeys(before: readonly (Service | EndpointSlice)[], after: readonly (Service | EndpointSlice)[]): string[] {
  const old = new Map(before.map((o) => [`${o.namespace}/${o.name}`, content(o)]));
  const changed: string[] = [];
  const seen = new Set<string>();
  for (const o of after) {
    const key = `${o.namespace}/${o.name}`;
    seen.add(key);
    if (old.get(key) !== content(o)) changed.push(key);
  }
  for (const key of old.keys()) if (!seen.has(key)) changed.push(key);
  return changed;
}

/** The object without its place in the input file. */
function content(o: Service | EndpointSlice): string {
  const { location: _location, ...rest } = o;
  return JSON.stringify(rest);
}
