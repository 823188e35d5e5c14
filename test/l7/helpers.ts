/** Building L7 objects and a Service/EndpointSlice state for the routing tests. */
import type { EndpointSlice, ProxyState, Service } from "../../src/kube/index.js";
import { readL7Objects } from "../../src/cluster/read-l7.js";
import { readObjects } from "../../src/cluster/read-objects.js";
import type { RouteRequest } from "../../src/l7/decision.js";
import type { L7Objects } from "../../src/l7/objects.js";

export function l7(yaml: string): L7Objects {
  return readL7Objects(readObjects(yaml, "test.yaml"));
}

export interface FakeService {
  ns?: string;
  name: string;
  /** Service port → endpoint port; named `http` unless given. */
  port?: number;
  portName?: string;
  targetPort?: number;
  endpoints?: string[];
  clusterIP?: string;
}

/** Services (ClusterIP) with one TCP port each and their ready endpoints. */
export function proxyState(list: FakeService[]): ProxyState {
  const services: Service[] = [];
  const endpointSlices: EndpointSlice[] = [];
  list.forEach((f, i) => {
    const ns = f.ns ?? "default";
    const portName = f.portName ?? "http";
    services.push({
      namespace: ns,
      name: f.name,
      type: "ClusterIP",
      clusterIP: f.clusterIP ?? `10.96.0.${100 + i}`,
      headless: false,
      ports: [{ name: portName, protocol: "TCP", port: f.port ?? 80, targetPort: f.targetPort ?? 8080, nodePort: 0 }],
      selector: { app: f.name },
      externalIPs: [],
      loadBalancerIPs: [],
      loadBalancerSourceRanges: [],
      sessionAffinity: "None",
      affinityTimeoutSeconds: 10800,
      externalTrafficPolicy: "Cluster",
      internalTrafficPolicy: "Cluster",
      healthCheckNodePort: 0,
      publishNotReadyAddresses: false,
      location: { file: "test" },
    });
    endpointSlices.push({
      namespace: ns,
      name: `${f.name}-abcde`,
      serviceName: f.name,
      addressType: "IPv4",
      ports: [{ name: portName, protocol: "TCP", port: f.targetPort ?? 8080 }],
      endpoints: (f.endpoints ?? [`10.244.1.${10 + i}`]).map((a) => ({ addresses: [a], conditions: { ready: true, serving: true, terminating: false }, nodeName: null, zone: null, hints: null })),
      location: { file: "test" },
    });
  });
  return { services, endpointSlices };
}

export function request(host: string, target: string, extra: Partial<RouteRequest> = {}): RouteRequest {
  return { host, target, method: "GET", headers: [["Host", host]], port: 80, scheme: "http", ...extra };
}

/** The Service a proxy decision sends to, `NS/NAME`, or the status it answers with. */
export function outcome(d: { action: { type: string; backends?: { backend: { namespace: string; service: string } }[]; status?: number } }): string {
  if (d.action.type === "proxy") return d.action.backends!.map((b) => `${b.backend.namespace}/${b.backend.service}`).join("+");
  return String(d.action.status);
}
