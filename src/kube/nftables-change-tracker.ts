/**
 * What kube-proxy's change trackers hand a sync, worked out from two models: the Services
 * whose Service object or EndpointSlices changed (ServiceChangeTracker and
 * EndpointsChangeTracker's UpdatedServices, deleted Services included), and the new model's
 * EndpointSlices by Service (the EndpointSliceCache). podwire gets whole models rather than
 * informer events, so the cluster compares the two once per change and every node's
 * kube-proxy reads the result (`changedServices` and `slicesByService` of a sync).
 */
import type { EndpointSlice, ProxyState } from "./objects.js";

/** Equal plain data (objects, arrays, strings, numbers, booleans, null), compared field by field. */
export function samePlainData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!samePlainData(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let n = 0;
  for (const k in x) {
    n++;
    if (!samePlainData(x[k], y[k])) return false;
  }
  for (const _ in y) n--;
  return n === 0;
}

const keyOf = (s: { namespace: string; name: string }): string => `${s.namespace}/${s.name}`;
const serviceOf = (sl: EndpointSlice): string | null => (sl.serviceName === null ? null : `${sl.namespace}/${sl.serviceName}`);

/**
 * The Services (`ns/name`) whose Service object or EndpointSlices differ between two models
 * (a superset of the Services whose rules change; the proxier's signatures then decide).
 * Both lists are walked side by side, each object compared field by field (objects that
 * are the same JavaScript object are equal at once). Services sorted by `ns/name`, as
 * buildKubeModel sorts them, are compared in one pass; otherwise by key.
 */
export function changedServiceKeys(before: ProxyState, after: ProxyState): Set<string> {
  const out = new Set<string>();
  const a = before.services;
  const b = after.services;
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    if (x.namespace === y.namespace && x.name === y.name) {
      if (!samePlainData(x, y)) out.add(keyOf(y));
      i++;
      j++;
      continue;
    }
    const kx = keyOf(x);
    const ky = keyOf(y);
    if (kx < ky) {
      out.add(kx);
      i++;
    } else {
      out.add(ky);
      j++;
    }
  }
  for (; i < a.length; i++) out.add(keyOf(a[i]!));
  for (; j < b.length; j++) out.add(keyOf(b[j]!));
  // EndpointSlices: side by side while the same slice is at the same place, then by name.
  const sa = before.endpointSlices;
  const sb = after.endpointSlices;
  let k = 0;
  for (; k < sa.length && k < sb.length; k++) {
    const x = sa[k]!;
    const y = sb[k]!;
    if (x.namespace !== y.namespace || x.name !== y.name) break;
    if (!samePlainData(x, y)) {
      const kx = serviceOf(x);
      const ky = serviceOf(y);
      if (kx !== null) out.add(kx);
      if (ky !== null) out.add(ky);
    }
  }
  if (k < sa.length || k < sb.length) {
    const rest = new Map<string, EndpointSlice>();
    for (let m = k; m < sa.length; m++) rest.set(keyOf(sa[m]!), sa[m]!);
    for (let m = k; m < sb.length; m++) {
      const y = sb[m]!;
      const x = rest.get(keyOf(y));
      rest.delete(keyOf(y));
      if (x !== undefined && samePlainData(x, y)) continue;
      const ky = serviceOf(y);
      if (ky !== null) out.add(ky);
      const kx = x === undefined ? null : serviceOf(x);
      if (kx !== null) out.add(kx);
    }
    for (const x of rest.values()) {
      const kx = serviceOf(x);
      if (kx !== null) out.add(kx);
    }
  }
  return out;
}

/** A model's EndpointSlices by Service (`ns/name`), slices without a Service left out: what kube-proxy's EndpointSliceCache holds. */
export function slicesByServiceOf(state: ProxyState): Map<string, EndpointSlice[]> {
  const out = new Map<string, EndpointSlice[]>();
  for (const sl of state.endpointSlices) {
    const k = serviceOf(sl);
    if (k === null) continue;
    const list = out.get(k);
    if (list) list.push(sl);
    else out.set(k, [sl]);
  }
  return out;
}
