/**
 * The two Services every real cluster has, as documents to add when the user's file does not
 * define them: `default/kubernetes` (443/TCP → the API server on the control plane node,
 * port 6443, through a hand-managed EndpointSlice named `kubernetes`, as the apiserver's
 * endpoint reconciler writes it) and `kube-system/kube-dns` (the kubeadm CoreDNS Service:
 * 53/UDP `dns`, 53/TCP `dns-tcp`, 9153/TCP `metrics`, selecting `k8s-app: kube-dns`).
 */
import { formatIpv4 } from "../base/index.js";
import { KUBERNETES_SERVICE_OFFSET, KUBE_DNS_SERVICE_OFFSET, serviceAddress } from "./allocate.js";
import { SERVICE_NAME_LABEL, type KubeDocument } from "./objects.js";

export interface BuiltinServiceOptions {
  serviceCIDR: string;
  /** The control plane node's address. */
  apiserverAddress: string | number;
  /** Default 6443. */
  apiserverPort?: number;
}

export const BUILTIN_SOURCE = "<podwire built-in>";

function hasDocument(docs: readonly KubeDocument[], kind: string, namespace: string, name: string): boolean {
  return docs.some((d) => {
    if (d.kind !== kind) return false;
    const meta = (d.body["metadata"] ?? {}) as Record<string, unknown>;
    return meta["name"] === name && (meta["namespace"] ?? "default") === namespace;
  });
}

function hasSliceFor(docs: readonly KubeDocument[], namespace: string, service: string): boolean {
  return docs.some((d) => {
    if (d.kind !== "EndpointSlice") return false;
    const meta = (d.body["metadata"] ?? {}) as Record<string, unknown>;
    const labels = (meta["labels"] ?? {}) as Record<string, unknown>;
    return (meta["namespace"] ?? "default") === namespace && labels[SERVICE_NAME_LABEL] === service;
  });
}

export function builtinServiceDocuments(existing: readonly KubeDocument[], opts: BuiltinServiceOptions): KubeDocument[] {
  const out: KubeDocument[] = [];
  const apiserver = typeof opts.apiserverAddress === "number" ? formatIpv4(opts.apiserverAddress) : opts.apiserverAddress;
  const doc = (apiVersion: string, kind: string, body: Record<string, unknown>): KubeDocument => ({
    apiVersion,
    kind,
    body: { apiVersion, kind, ...body },
    location: { file: BUILTIN_SOURCE, document: out.length + 1 },
  });
  if (!hasDocument(existing, "Service", "default", "kubernetes")) {
    out.push(
      doc("v1", "Service", {
        metadata: { name: "kubernetes", namespace: "default", labels: { component: "apiserver", provider: "kubernetes" } },
        spec: {
          type: "ClusterIP",
          clusterIP: serviceAddress(opts.serviceCIDR, KUBERNETES_SERVICE_OFFSET),
          ports: [{ name: "https", port: 443, protocol: "TCP", targetPort: opts.apiserverPort ?? 6443 }],
          sessionAffinity: "None",
        },
      }),
    );
    if (!hasSliceFor(existing, "default", "kubernetes")) {
      out.push(
        doc("discovery.k8s.io/v1", "EndpointSlice", {
          metadata: { name: "kubernetes", namespace: "default", labels: { [SERVICE_NAME_LABEL]: "kubernetes" } },
          addressType: "IPv4",
          endpoints: [{ addresses: [apiserver], conditions: { ready: true } }],
          ports: [{ name: "https", port: opts.apiserverPort ?? 6443, protocol: "TCP" }],
        }),
      );
    }
  }
  if (!hasDocument(existing, "Service", "kube-system", "kube-dns")) {
    out.push(
      doc("v1", "Service", {
        metadata: { name: "kube-dns", namespace: "kube-system", labels: { "k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS" } },
        spec: {
          type: "ClusterIP",
          clusterIP: serviceAddress(opts.serviceCIDR, KUBE_DNS_SERVICE_OFFSET),
          selector: { "k8s-app": "kube-dns" },
          ports: [
            { name: "dns", port: 53, protocol: "UDP", targetPort: 53 },
            { name: "dns-tcp", port: 53, protocol: "TCP", targetPort: 53 },
            { name: "metrics", port: 9153, protocol: "TCP", targetPort: 9153 },
          ],
          sessionAffinity: "None",
        },
      }),
    );
  }
  return out;
}
