/**
 * From a route's backend (a Service and one of its ports) to where a proxy sends the request:
 * the Service port, its ClusterIP and its ready endpoints, read from the Services and
 * EndpointSlices kube-proxy works from. ingress-nginx reads the same EndpointSlices and
 * keeps the Ready endpoints (`ready` absent counts as Ready).
 */
import type { ProxyState, Service, ServicePort } from "../kube/index.js";

export interface Upstream {
  /** The backend endpoint's address and port (the slice's port for this Service port). */
  ip: string;
  port: number;
  nodeName: string | null;
}

export interface ResolvedBackend {
  namespace: string;
  service: string;
  /** The Service port, as the route named it resolved to a number; 0 when the Service or port is missing. */
  port: number;
  /** The ClusterIP (for service-upstream); null for headless or missing Services. */
  clusterIP: string | null;
  endpoints: Upstream[];
  /** Why this backend cannot take traffic: null when it has endpoints. */
  problem: string | null;
  /** The Service or its port does not exist (Gateway API: the reference is invalid, 500). */
  missing: boolean;
}

/** Where a backend's port is named: a number, or the Service port's name. */
export type PortRef = { number: number } | { name: string };

export function resolveBackend(state: ProxyState, namespace: string, name: string, portRef: PortRef): ResolvedBackend {
  const base: ResolvedBackend = { namespace, service: name, port: 0, clusterIP: null, endpoints: [], problem: null, missing: true };
  const svc = state.services.find((s) => s.namespace === namespace && s.name === name);
  if (!svc) return { ...base, problem: `Service ${namespace}/${name} does not exist` };
  const sp = findPort(svc, portRef);
  if (!sp) {
    const want = "number" in portRef ? `port ${portRef.number}` : `a port named ${JSON.stringify(portRef.name)}`;
    const has = svc.ports.map((p) => (p.name ? `${p.port} (${p.name})` : String(p.port))).join(", ") || "none";
    return { ...base, problem: `Service ${namespace}/${name} has no ${want} (its ports: ${has})` };
  }
  const endpoints = readyEndpoints(state, svc, sp);
  const clusterIP = svc.headless ? null : svc.clusterIP;
  return {
    ...base,
    port: sp.port,
    clusterIP,
    endpoints,
    missing: false,
    problem: endpoints.length === 0 ? `Service ${namespace}/${name} port ${sp.port} has no ready endpoints` : null,
  };
}

function findPort(svc: Service, ref: PortRef): ServicePort | undefined {
  return svc.ports.find((p) => p.protocol === "TCP" && ("number" in ref ? p.port === ref.number : p.name === ref.name));
}

function readyEndpoints(state: ProxyState, svc: Service, sp: ServicePort): Upstream[] {
  const out: Upstream[] = [];
  for (const slice of state.endpointSlices) {
    if (slice.namespace !== svc.namespace || slice.serviceName !== svc.name || slice.addressType !== "IPv4") continue;
    const port = slice.ports.find((p) => p.name === sp.name && p.protocol === sp.protocol && p.port !== null);
    if (!port) continue;
    for (const ep of slice.endpoints) {
      if (ep.conditions.ready === false) continue;
      const ip = ep.addresses[0];
      if (ip !== undefined && !out.some((u) => u.ip === ip && u.port === port.port)) out.push({ ip, port: port.port!, nodeName: ep.nodeName });
    }
  }
  return out;
}
