/**
 * The Layer 7 objects as the routing modules use them: networking.k8s.io/v1 Ingress and
 * IngressClass, gateway.networking.k8s.io/v1 GatewayClass, Gateway and HTTPRoute, v1beta1
 * ReferenceGrant, and `kubernetes.io/tls` Secrets. Plain, validated values with the API
 * server's defaults applied (cluster/read-l7.ts reads them from a cluster file); each keeps
 * where it came from, for messages.
 */
import type { InputLocation } from "../base/index.js";
import type { TlsCredential } from "./tls-cert.js";

/** What every object carries: its name, its age (for the precedence rules) and its origin. */
export interface L7Meta {
  namespace: string;
  name: string;
  /** metadata.creationTimestamp in ms since the epoch; null when the file gives none. */
  created: number | null;
  /** Position in the file: objects without a timestamp count as created in file order, after those with one. */
  order: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  location: InputLocation;
}

// ------------------------------------------------------------------ Ingress

export type IngressPathType = "Exact" | "Prefix" | "ImplementationSpecific";

/** `backend.service`: a Service in the Ingress's namespace and one of its ports, by number or name. */
export interface ServiceBackend {
  name: string;
  port: { number: number } | { name: string };
}

export interface IngressBackend {
  /** null when the backend is a `resource` (an object of another kind, which podwire cannot serve). */
  service: ServiceBackend | null;
  resource: { apiGroup: string | null; kind: string; name: string } | null;
  location: InputLocation;
}

export interface IngressPath {
  /** "" only for ImplementationSpecific without a path (every path). */
  path: string;
  pathType: IngressPathType;
  backend: IngressBackend;
  /** `rules[i].http.paths[j]`, for messages. */
  where: string;
}

export interface IngressRule {
  /** "" for a rule without a host (every host). */
  host: string;
  /** null when the rule has no `http:` (the host exists, every path goes to the default backend). */
  paths: IngressPath[] | null;
  where: string;
}

export interface IngressTls {
  hosts: string[];
  secretName: string | null;
}

export interface Ingress extends L7Meta {
  /** The class after defaulting: spec.ingressClassName, the deprecated annotation, or the default IngressClass; null: none. */
  className: string | null;
  classSource: "ingressClassName" | "annotation" | "default class" | null;
  defaultBackend: IngressBackend | null;
  rules: IngressRule[];
  tls: IngressTls[];
  /** `nginx.ingress.kubernetes.io/service-upstream: "true"`: proxy to the ClusterIP, not the endpoints. */
  serviceUpstream: boolean;
}

export interface IngressClass extends L7Meta {
  controller: string;
  /** Annotated `ingressclass.kubernetes.io/is-default-class: "true"`. */
  isDefault: boolean;
}

// ------------------------------------------------------------------ Gateway API

export const GATEWAY_GROUP = "gateway.networking.k8s.io";

export interface GatewayClass extends L7Meta {
  controllerName: string;
}

export type ListenerProtocol = "HTTP" | "HTTPS" | "TLS" | "TCP" | "UDP" | string;

/** A reference to a Secret (a certificate) from a Gateway listener. */
export interface SecretRef {
  group: string;
  kind: string;
  name: string;
  namespace: string;
}

export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: { key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values: string[] }[];
}

export interface Listener {
  name: string;
  /** null: every hostname. */
  hostname: string | null;
  port: number;
  protocol: ListenerProtocol;
  tls: { mode: "Terminate" | "Passthrough"; certificateRefs: SecretRef[] } | null;
  allowedRoutes: {
    from: "Same" | "All" | "Selector";
    selector: LabelSelector | null;
    /** Empty: the kinds the protocol takes (HTTPRoute for HTTP and HTTPS). */
    kinds: { group: string; kind: string }[];
  };
  where: string;
}

export interface Gateway extends L7Meta {
  className: string;
  listeners: Listener[];
}

export interface ParentRef {
  group: string;
  kind: string;
  namespace: string;
  name: string;
  sectionName: string | null;
  port: number | null;
  where: string;
}

export type PathMatchType = "Exact" | "PathPrefix" | "RegularExpression";
export type ValueMatchType = "Exact" | "RegularExpression";

export interface HttpRouteMatch {
  path: { type: PathMatchType; value: string };
  headers: { type: ValueMatchType; name: string; value: string }[];
  queryParams: { type: ValueMatchType; name: string; value: string }[];
  method: string | null;
  where: string;
}

export interface HeaderModifier {
  set: { name: string; value: string }[];
  add: { name: string; value: string }[];
  remove: string[];
}

/** The filters podwire applies; others are read and listed as not emulated. */
export type HttpRouteFilter =
  | { type: "RequestHeaderModifier"; modifier: HeaderModifier }
  | { type: "ResponseHeaderModifier"; modifier: HeaderModifier }
  | { type: "RequestRedirect"; scheme: string | null; hostname: string | null; port: number | null; statusCode: number; path: { type: "ReplaceFullPath" | "ReplacePrefixMatch"; value: string } | null }
  | { type: "URLRewrite"; hostname: string | null; path: { type: "ReplaceFullPath" | "ReplacePrefixMatch"; value: string } | null }
  | { type: "Unsupported"; name: string };

export interface HttpBackendRef {
  group: string;
  kind: string;
  namespace: string;
  name: string;
  port: number | null;
  weight: number;
  where: string;
}

export interface HttpRouteRule {
  name: string | null;
  matches: HttpRouteMatch[];
  filters: HttpRouteFilter[];
  backendRefs: HttpBackendRef[];
  where: string;
}

export interface HttpRoute extends L7Meta {
  parentRefs: ParentRef[];
  hostnames: string[];
  rules: HttpRouteRule[];
}

/** gateway.networking.k8s.io ReferenceGrant: lets objects of `from` refer to objects of `to` in its namespace. */
export interface ReferenceGrant extends L7Meta {
  from: { group: string; kind: string; namespace: string }[];
  to: { group: string; kind: string; name: string | null }[];
}

// ------------------------------------------------------------------ Secrets and namespaces

/** A `kubernetes.io/tls` Secret, checked and read into a credential (tls-secret.ts). */
export interface TlsSecret {
  namespace: string;
  name: string;
  credential: TlsCredential;
  location: InputLocation;
}

/** Every L7 object of a cluster file, and the namespace labels allowedRoutes selectors look at. */
export interface L7Objects {
  ingresses: Ingress[];
  ingressClasses: IngressClass[];
  gatewayClasses: GatewayClass[];
  gateways: Gateway[];
  httpRoutes: HttpRoute[];
  referenceGrants: ReferenceGrant[];
  tlsSecrets: TlsSecret[];
  /** Labels of Namespace objects (each has `kubernetes.io/metadata.name` too). */
  namespaceLabels: Map<string, Record<string, string>>;
}

export function emptyL7Objects(): L7Objects {
  return { ingresses: [], ingressClasses: [], gatewayClasses: [], gateways: [], httpRoutes: [], referenceGrants: [], tlsSecrets: [], namespaceLabels: new Map() };
}

/** Oldest first, then by namespace/name: the tie-breaks both Ingress controllers and Gateway API use. */
export function byAge(a: L7Meta, b: L7Meta): number {
  const ta = a.created ?? Number.POSITIVE_INFINITY;
  const tb = b.created ?? Number.POSITIVE_INFINITY;
  if (ta !== tb) return ta < tb ? -1 : 1;
  if (a.created === null && a.order !== b.order) return a.order - b.order;
  const ka = `${a.namespace}/${a.name}`;
  const kb = `${b.namespace}/${b.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
