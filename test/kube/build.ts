/** Inline Service / EndpointSlice documents for tests, shaped as `kubectl get -o yaml` prints them. */
import type { KubeDocument } from "../../src/kube/index.js";

let counter = 0;

export function svc(ns: string, name: string, spec: Record<string, unknown>, status: Record<string, unknown> = {}): KubeDocument {
  counter++;
  return {
    apiVersion: "v1",
    kind: "Service",
    body: { apiVersion: "v1", kind: "Service", metadata: { name, namespace: ns }, spec, status },
    location: { file: "inline.yaml", line: counter * 10, document: counter },
  };
}

export interface Ep {
  ip: string;
  node?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  zones?: string[];
  nodesHint?: string[];
}

export function slice(ns: string, service: string, ports: { name?: string; port: number; protocol?: string }[], eps: Ep[], name = `${service}-abcde`): KubeDocument {
  counter++;
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    body: {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name, namespace: ns, labels: { "kubernetes.io/service-name": service } },
      addressType: "IPv4",
      ports: ports.map((p) => ({ name: p.name ?? "", port: p.port, protocol: p.protocol ?? "TCP" })),
      endpoints: eps.map((e) => ({
        addresses: [e.ip],
        conditions: {
          ...(e.ready === undefined ? {} : { ready: e.ready }),
          ...(e.serving === undefined ? {} : { serving: e.serving }),
          ...(e.terminating === undefined ? {} : { terminating: e.terminating }),
        },
        ...(e.node ? { nodeName: e.node } : {}),
        ...(e.zones || e.nodesHint ? { hints: { forZones: (e.zones ?? []).map((z) => ({ name: z })), forNodes: (e.nodesHint ?? []).map((n) => ({ name: n })) } } : {}),
      })),
    },
    location: { file: "inline.yaml", line: counter * 10, document: counter },
  };
}

export const p80 = [{ name: "p80", port: 80 }];
export const svcPort80 = (extra: Record<string, unknown> = {}) => [{ name: "p80", port: 80, protocol: "TCP", targetPort: 80, ...extra }];
