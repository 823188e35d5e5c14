/**
 * Which Pods are Layer 7 controllers, and what they serve. A Pod is one when a container
 * runs the ingress-nginx controller image (`registry.k8s.io/ingress-nginx/controller`, any
 * registry mirror, tag or digest: IngressClass controller `k8s.io/ingress-nginx`), or when
 * it carries the annotation `podwire.dev/l7-controller` naming the controllers it stands for
 * (comma-separated IngressClass `spec.controller` and GatewayClass `spec.controllerName`
 * values) — for Traefik, Envoy Gateway, Contour, or podwire's own GatewayClass controller.
 */
import type { GatewayClass, IngressClass, L7Objects } from "./objects.js";

export const INGRESS_NGINX_CONTROLLER = "k8s.io/ingress-nginx";
export const CONTROLLER_ANNOTATION = "podwire.dev/l7-controller";
/** The GatewayClass controllerName podwire's embedded controller serves. */
export const PODWIRE_GATEWAY_CONTROLLER = "podwire.dev/gateway-controller";

const INGRESS_NGINX_IMAGE = /(^|\/)ingress-nginx\/controller(:|@|$)/;

export interface ControllerPodInfo {
  containers: { image?: string }[];
  annotations?: Record<string, string>;
}

/** The controller names a Pod serves; empty when it is no L7 controller. */
export function controllerNamesOf(pod: ControllerPodInfo): string[] {
  const names: string[] = [];
  if (pod.containers.some((c) => c.image !== undefined && INGRESS_NGINX_IMAGE.test(c.image))) names.push(INGRESS_NGINX_CONTROLLER);
  const ann = pod.annotations?.[CONTROLLER_ANNOTATION];
  if (ann !== undefined) {
    for (const n of ann.split(",").map((s) => s.trim())) if (n !== "" && !names.includes(n)) names.push(n);
  }
  return names;
}

/** What one controller (by its names) serves: IngressClasses and GatewayClasses whose controller it is. */
export interface ControllerScope {
  ingressClasses: IngressClass[];
  gatewayClasses: GatewayClass[];
}

export function scopeOf(names: readonly string[], objects: L7Objects): ControllerScope {
  return {
    ingressClasses: objects.ingressClasses.filter((c) => names.includes(c.controller)),
    gatewayClasses: objects.gatewayClasses.filter((c) => names.includes(c.controllerName)),
  };
}
