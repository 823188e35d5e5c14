/**
 * EndpointSlices for Services that have a selector but no slice in the input, built the
 * way the EndpointSlice controller builds them (pkg/controller/endpointslice, and
 * pkg/api/v1/pod FindPort): Pods in the Service's namespace whose labels match the selector;
 * each service port resolved per Pod (a number is used as is, a name is looked up among the
 * Pod's container ports with the same protocol, and a Pod without that name is left out of
 * that port); Pods with the same resolved ports share one slice. Ready is the Pod's Ready
 * condition (or true with publishNotReadyAddresses), Serving likewise, Terminating is a
 * deletion timestamp. Real slices get random name suffixes; podwire numbers them.
 */
import { formatIpv4 } from "../base/index.js";
import { selectorMatches } from "./labels.js";
import type { EndpointSlice, KubeNode, KubePod, Service, SlicePort } from "./objects.js";

export function podIPText(ip: string | number): string {
  return typeof ip === "number" ? formatIpv4(ip) : ip;
}

/** The container port number a service port reaches on `pod`, or null when the Pod has none. */
export function resolveTargetPort(pod: KubePod, targetPort: number | string, protocol: string): number | null {
  if (typeof targetPort === "number") return targetPort;
  for (const c of pod.containers) {
    for (const p of c.ports) if (p.name === targetPort && p.protocol === protocol) return p.containerPort;
  }
  return null;
}

export function deriveEndpointSlices(service: Service, pods: readonly KubePod[], nodes: readonly KubeNode[] = []): EndpointSlice[] {
  const zoneOf = new Map(nodes.map((n) => [n.name, n.zone ?? null]));
  if (!service.selector) return [];
  const selector = service.selector;
  const members = pods
    .filter((p) => p.namespace === service.namespace && selectorMatches(selector, p.labels) && podIPText(p.podIP) !== "")
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const groups = new Map<string, { ports: SlicePort[]; pods: KubePod[] }>();
  for (const pod of members) {
    const ports: SlicePort[] = [];
    for (const sp of service.ports) {
      const n = resolveTargetPort(pod, sp.targetPort, sp.protocol);
      if (n !== null) ports.push({ name: sp.name, protocol: sp.protocol, port: n });
    }
    const key = JSON.stringify(ports);
    const g = groups.get(key) ?? { ports, pods: [] };
    g.pods.push(pod);
    groups.set(key, g);
  }
  if (groups.size === 0) {
    // The controller still writes one slice with the Service's ports and no endpoints.
    const ports = service.ports.map((sp) => ({ name: sp.name, protocol: sp.protocol, port: typeof sp.targetPort === "number" ? sp.targetPort : null }));
    groups.set("", { ports, pods: [] });
  }
  let index = 0;
  return [...groups.values()].map((g) => ({
    namespace: service.namespace,
    name: `${service.name}-${(index++).toString().padStart(5, "0")}`,
    serviceName: service.name,
    addressType: "IPv4",
    ports: g.ports,
    endpoints: g.pods.map((pod) => {
      const ready = service.publishNotReadyAddresses || ((pod.ready ?? true) && !(pod.terminating ?? false));
      const serving = service.publishNotReadyAddresses || (pod.ready ?? true);
      return {
        addresses: [podIPText(pod.podIP)],
        conditions: { ready, serving, terminating: pod.terminating ?? false },
        nodeName: pod.nodeName || null,
        zone: zoneOf.get(pod.nodeName) ?? null,
        hints: null,
      };
    }),
    location: { ...service.location, field: "spec.selector" },
    derived: true,
  }));
}

