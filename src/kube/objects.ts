/**
 * The shapes the kube compiler works on. Inputs are structurally compatible with the cluster
 * layer's types (`RawDocument`, Pod and Node specs) so the lead can pass them straight in
 * without `kube` importing `cluster`. Outputs of the reading step (`Service`,
 * `EndpointSlice`) are plain, validated values: addresses as dotted-quad text, policies
 * resolved, the document location kept for later errors.
 */
import type { InputLocation } from "../base/index.js";

/** One YAML document as `kubectl get -o yaml` prints it, with where it came from. */
export interface KubeDocument {
  apiVersion: string;
  kind: string;
  body: Record<string, unknown>;
  location: InputLocation;
}

export type Protocol = "TCP" | "UDP" | "SCTP";
export const PROTOCOLS: readonly Protocol[] = ["TCP", "UDP", "SCTP"];

export interface KubeContainerPort {
  name?: string;
  containerPort: number;
  protocol: Protocol;
}

/** What the EndpointSlice controller needs to know about a Pod. */
export interface KubePod {
  namespace: string;
  name: string;
  nodeName: string;
  /** Dotted quad, or a number as the cluster layer keeps it. */
  podIP: string | number;
  labels: Record<string, string>;
  containers: { name: string; ports: KubeContainerPort[] }[];
  /** The Ready condition; absent means ready. */
  ready?: boolean;
  /** A deletion timestamp is set (the Pod is terminating); absent means false. */
  terminating?: boolean;
}

export interface KubeNode {
  name: string;
  internalIP: string | number;
  podCIDR: string | { net: number; prefixLen: number };
  /** `topology.kubernetes.io/zone`, when the node has one. */
  zone?: string;
}

export type ServiceType = "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName";
export type TrafficPolicy = "Cluster" | "Local";

export interface ServicePort {
  /** "" for the single unnamed port a Service may have. */
  name: string;
  protocol: Protocol;
  port: number;
  /** A number, or the name of a container port. */
  targetPort: number | string;
  /** 0 when the port has none. */
  nodePort: number;
}

export interface Service {
  namespace: string;
  name: string;
  type: ServiceType;
  /** Dotted quad; null for headless (`None`) and ExternalName Services. */
  clusterIP: string | null;
  headless: boolean;
  ports: ServicePort[];
  /** null when the Service has no selector (its EndpointSlices are managed by hand). */
  selector: Record<string, string> | null;
  externalIPs: string[];
  /** VIP-mode `status.loadBalancer.ingress[].ip` addresses. */
  loadBalancerIPs: string[];
  /** Trimmed, canonical (network address) CIDRs. */
  loadBalancerSourceRanges: string[];
  sessionAffinity: "None" | "ClientIP";
  /** Seconds; only meaningful with ClientIP affinity (default 10800). */
  affinityTimeoutSeconds: number;
  externalTrafficPolicy: TrafficPolicy;
  internalTrafficPolicy: TrafficPolicy;
  /** 0 when the Service has none. */
  healthCheckNodePort: number;
  publishNotReadyAddresses: boolean;
  location: InputLocation;
  /** True for the `kubernetes` / `kube-dns` Services podwire adds itself. */
  synthetic?: boolean;
}

export interface EndpointConditions {
  /** null when the field is absent (kube-proxy reads absent Ready and Serving as true). */
  ready: boolean | null;
  serving: boolean | null;
  terminating: boolean | null;
}

export interface SliceEndpoint {
  addresses: string[];
  conditions: EndpointConditions;
  nodeName: string | null;
  zone: string | null;
  hints: { forZones: string[]; forNodes: string[] } | null;
}

export interface SlicePort {
  /** null when absent: kube-proxy ignores such ports. */
  name: string | null;
  protocol: Protocol;
  /** null when absent. */
  port: number | null;
}

export interface EndpointSlice {
  namespace: string;
  name: string;
  /** The `kubernetes.io/service-name` label; null when missing. */
  serviceName: string | null;
  addressType: string;
  ports: SlicePort[];
  endpoints: SliceEndpoint[];
  location: InputLocation;
  /** True when podwire derived the slice from Pods (no EndpointSlice given for the Service). */
  derived?: boolean;
}

/** Services and EndpointSlices, the input of every proxier function. */
export interface ProxyState {
  services: readonly Service[];
  endpointSlices: readonly EndpointSlice[];
}

export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
