/**
 * The L7 controllers of a running cluster: every Pod l7/controller.ts recognises runs the
 * reverse proxy (l7/proxy.ts) on its own TCP stack — on its `http` and `https` container
 * ports for the Ingresses of the IngressClasses it serves, and on the ports its Gateways'
 * HTTP and HTTPS listeners arrive on (a listener port is a port of the controller's Service;
 * its targetPort is where the Pod listens). Routing reads the Services and EndpointSlices
 * kube-proxy works from at the moment of each request, so endpoint changes show at once.
 * On a port both kinds share, the Gateway's routes are tried first and the Ingress rules
 * after them (podwire's choice for a controller serving both, as Traefik merges providers).
 */
import { DEFAULT_EPOCH_SECONDS, Rng, formatIpv4, parseIpv4 } from "../base/index.js";
import type { Service } from "../kube/index.js";
import { type ControllerPodInfo, INGRESS_NGINX_CONTROLLER, controllerNamesOf, scopeOf } from "../l7/controller.js";
import type { RouteDecision, RouteRequest } from "../l7/decision.js";
import { gatewayHostMatches, ingressHostMatches, requestHost } from "../l7/hostnames.js";
import { type L7Objects, emptyL7Objects } from "../l7/objects.js";
import { type ProxyHost, type ProxyLogEntry, ReverseProxy } from "../l7/proxy.js";
import { type GatewayTable, buildGatewayTable, routeGateway } from "../l7/route-gateway.js";
import { CATCH_ALL, type IngressTable, buildIngressTable, routeIngress } from "../l7/route-ingress.js";
import { type ByteStream, tcpStream } from "../l7/stream.js";
import { httpServer } from "./apps.js";
import type { Cluster, PodRuntime } from "./build.js";
import { type L7Certificates, l7Certificates } from "./l7-tls.js";
import type { ClusterServices } from "./services.js";
import { TlsKeyLog } from "../l7/tls-keylog.js";

export interface L7Controller {
  pod: PodRuntime;
  /** The controller names it answers to (IngressClass controller / GatewayClass controllerName). */
  names: string[];
  proxy: ReverseProxy;
  ingressTable: IngressTable;
  gatewayTable: GatewayTable;
  /** Pod ports taking plain HTTP, and TLS. */
  httpPorts: number[];
  httpsPorts: number[];
  /** Ports where Ingress rules apply (the `http` and `https` container ports). */
  ingressPorts: number[];
  certificates: L7Certificates;
  /** What the controller left out, e.g. a route not Accepted. */
  notes: string[];
}

/** Where a host outside the cluster reaches a controller. */
export interface ExternalEntry {
  ip: number;
  port: number;
  /** How: `LoadBalancer IP 192.168.56.200 of Service ingress-nginx/ingress-nginx-controller`. */
  via: string;
  /** The controller Pod port it ends at. */
  podPort: number;
  service: Service | null;
}

export function isControllerPod(pod: ControllerPodInfo): boolean {
  return controllerNamesOf(pod).length > 0;
}

export class L7Runtime {
  readonly controllers: L7Controller[] = [];
  /** Every request any controller handled, in order. */
  readonly log: ProxyLogEntry[] = [];
  readonly objects: L7Objects;
  /** The TLS secrets of every connection the controllers (and podwire's clients) made: SSLKEYLOGFILE lines. */
  readonly keyLog = new TlsKeyLog();

  constructor(
    readonly cluster: Cluster,
    readonly services: ClusterServices,
  ) {
    this.objects = cluster.spec.l7 ?? emptyL7Objects();
    for (const pod of cluster.pods.values()) {
      const names = controllerNamesOf(pod.spec);
      if (names.length > 0) this.start(pod, names);
    }
  }

  private start(pod: PodRuntime, names: string[]): void {
    const objects = this.objects;
    const scope = scopeOf(names, objects);
    const classNames = scope.ingressClasses.map((c) => c.name);
    const ingresses = objects.ingresses.filter((i) => i.className !== null && classNames.includes(i.className));
    const gatewayClassNames = scope.gatewayClasses.map((c) => c.name);
    const gateways = objects.gateways.filter((g) => gatewayClassNames.includes(g.className));
    const tcpPorts = pod.spec.containers.flatMap((c) => c.ports.filter((p) => p.protocol === "TCP"));
    const named = (name: string, num: number) => tcpPorts.find((p) => p.name === name)?.containerPort ?? tcpPorts.find((p) => p.containerPort === num)?.containerPort;
    const ingressHttp = classNames.length > 0 ? (named("http", 80) ?? 80) : null;
    const ingressHttps = classNames.length > 0 ? (named("https", 443) ?? 443) : null;
    const localPortOf = (listenerPort: number): number => this.podPortFor(pod, listenerPort);
    const gatewayTable = buildGatewayTable({ gateways, routes: objects.httpRoutes, namespaceLabels: objects.namespaceLabels, localPortOf });
    const ingressTable = buildIngressTable(ingresses);
    const httpPorts = new Set<number>();
    const httpsPorts = new Set<number>();
    if (ingressHttp !== null) httpPorts.add(ingressHttp);
    if (ingressHttps !== null) httpsPorts.add(ingressHttps);
    for (const e of gatewayTable.entries) (e.listener.protocol === "HTTPS" ? httpsPorts : httpPorts).add(e.localPort);
    const notes = [...ingressTable.notes, ...gatewayTable.notes];
    const serverName = names.includes(INGRESS_NGINX_CONTROLLER) ? "nginx" : "podwire";
    const sim = this.cluster.sim;
    const rng = new Rng((this.cluster.spec.seed ^ hashString(pod.key)) >>> 0);
    const host: ProxyHost = {
      name: pod.key,
      serverName,
      rng,
      route: (req) => this.route(controller, req),
      dial: (ip, port) => dial(pod, ip, port),
      schedule: (delayNs, fn) => {
        let live = true;
        sim.schedule(delayNs, { fire: () => live && fn() });
        return () => {
          live = false;
        };
      },
      date: () => new Date((DEFAULT_EPOCH_SECONDS + Math.floor(sim.now() / 1e9)) * 1000).toUTCString(),
      log: (entry) => this.log.push(entry),
    };
    const controller: L7Controller = {
      pod,
      names,
      proxy: new ReverseProxy(host),
      ingressTable,
      gatewayTable,
      httpPorts: [...httpPorts].sort((a, b) => a - b),
      httpsPorts: [...httpsPorts].sort((a, b) => a - b),
      ingressPorts: [ingressHttp, ingressHttps].filter((p): p is number => p !== null),
      certificates: l7Certificates(this.cluster.spec.seed, ingresses, gateways, objects, this.keyLog.sink),
      notes,
    };
    notes.push(...controller.certificates.notes);
    for (const port of controller.httpPorts) {
      if (pod.ns.tcp.isListening(port)) continue;
      pod.ns.tcp.listen(port, (conn) => {
        const { stream, app } = tcpStream(conn);
        controller.proxy.serve(stream, "http");
        return app;
      });
    }
    for (const port of controller.httpsPorts) {
      if (pod.ns.tcp.isListening(port) || httpPorts.has(port)) continue;
      pod.ns.tcp.listen(port, (conn) => {
        const { stream, app } = tcpStream(conn);
        controller.certificates.serve(stream, (plain) => controller.proxy.serve(plain, "https"));
        return app;
      });
    }
    // The controller's other ports (metrics, admission webhook) answer as any Pod's do.
    for (const c of pod.spec.containers) {
      for (const p of c.ports) {
        if (p.protocol === "TCP" && !pod.ns.tcp.isListening(p.containerPort)) pod.ns.tcp.listen(p.containerPort, httpServer(pod.key, c.name));
      }
    }
    this.controllers.push(controller);
  }

  /** The Pod port a Service port of the controller leads to (its targetPort), else the port itself. */
  private podPortFor(pod: PodRuntime, servicePort: number): number {
    for (const svc of this.servicesOf(pod)) {
      const sp = svc.ports.find((p) => p.port === servicePort && p.protocol === "TCP");
      if (sp) return resolveTarget(pod, sp.targetPort) ?? servicePort;
    }
    return servicePort;
  }

  /** Services selecting the controller Pod, LoadBalancers first, then NodePorts, then the rest. */
  servicesOf(pod: PodRuntime): Service[] {
    const rank = (s: Service) => (s.type === "LoadBalancer" ? 0 : s.type === "NodePort" ? 1 : 2);
    return this.services.model.services
      .filter((s) => s.namespace === pod.spec.namespace && s.selector !== null && Object.keys(s.selector).length > 0 && Object.entries(s.selector).every(([k, v]) => pod.spec.labels[k] === v))
      .sort((a, b) => rank(a) - rank(b));
  }

  /** Routing for one request on one controller: the Gateway's listeners first, then the Ingress rules. */
  route(controller: L7Controller, req: RouteRequest): RouteDecision {
    const state = this.services.model;
    const gw = routeGateway(controller.gatewayTable, req, state, this.objects.referenceGrants);
    if (gw !== null && gw.kind === "HTTPRoute") return gw;
    if (controller.ingressPorts.includes(req.port)) {
      const ing = routeIngress(controller.ingressTable, req, state);
      if (gw === null) return ing;
      // Both kinds looked at the request: every candidate either one passed over is worth showing.
      if (ing.kind === "Ingress") return { ...ing, notChosen: [...gw.notChosen, ...ing.notChosen] };
      return { ...ing, matched: `${gw.matched}, and ${ing.matched}: the default backend answers`, notChosen: [...gw.notChosen, ...ing.notChosen] };
    }
    return gw ?? { kind: "default", namespace: null, name: null, rule: "", matched: `nothing on port ${req.port}`, action: { type: "respond", status: 404, why: "no listener" }, notChosen: [] };
  }

  /** The controller a request for `host` goes to: one with a rule or listener for it, else the default IngressClass's, else the first. */
  controllerFor(host: string, scheme: "http" | "https"): L7Controller | null {
    const h = requestHost(host);
    const claims = (c: L7Controller): number => {
      if (c.ingressTable.servers.some((s) => s.host !== CATCH_ALL && ingressHostMatches(s.host, h))) return 3;
      if (c.gatewayTable.attachments.some((a) => (a.entry.listener.protocol === "HTTPS") === (scheme === "https") && (a.hostnames === null ? a.entry.listener.hostname === null || gatewayHostMatches(a.entry.listener.hostname, h) : a.hostnames.some((x) => gatewayHostMatches(x, h))))) return 2;
      return 0;
    };
    let best: L7Controller | null = null;
    let bestScore = -1;
    for (const c of this.controllers) {
      const isDefault = this.objects.ingressClasses.some((k) => k.isDefault && c.names.includes(k.controller)) ? 1 : 0;
      const score = claims(c) * 2 + isDefault;
      if (score > bestScore) {
        best = c;
        bestScore = score;
      }
    }
    return best;
  }

  /**
   * Where a host outside the cluster reaches a controller's `podPort` (80 for HTTP, 443 for
   * HTTPS): the LoadBalancer IP of its Service, else a NodePort on a node (with
   * externalTrafficPolicy Local, one that runs a controller Pod, as a cloud load balancer's
   * health check would pick), else its node's address when the Pod is hostNetwork.
   */
  externalEntry(controller: L7Controller, scheme: "http" | "https"): ExternalEntry | null {
    const pod = controller.pod;
    const ports = scheme === "https" ? controller.httpsPorts : controller.httpPorts;
    for (const svc of this.servicesOf(pod)) {
      for (const sp of svc.ports) {
        if (sp.protocol !== "TCP") continue;
        const podPort = resolveTarget(pod, sp.targetPort);
        if (podPort === null || !ports.includes(podPort)) continue;
        const key = `${svc.namespace}/${svc.name}`;
        const lb = svc.loadBalancerIPs[0];
        if (lb !== undefined) return { ip: parseIpv4(lb), port: sp.port, via: `LoadBalancer IP ${lb} of Service ${key}`, podPort, service: svc };
        const ext = svc.externalIPs[0];
        if (ext !== undefined) return { ip: parseIpv4(ext), port: sp.port, via: `externalIP ${ext} of Service ${key}`, podPort, service: svc };
        if (sp.nodePort !== 0) {
          const node = this.landingNode(svc);
          if (node !== null) return { ip: node.internalIP, port: sp.nodePort, via: `NodePort ${sp.nodePort} of Service ${key} on node ${node.name} (${formatIpv4(node.internalIP)})`, podPort, service: svc };
        }
      }
    }
    if (pod.spec.hostNetwork && ports.length > 0) {
      return { ip: pod.node.spec.internalIP, port: ports[0]!, via: `hostNetwork Pod ${pod.key} on node ${pod.node.spec.name}`, podPort: ports[0]!, service: null };
    }
    return null;
  }

  /** The node outside traffic to a NodePort of `svc` is sent to (with eTP Local, one running a controller Pod). */
  landingNode(svc: Service): { name: string; internalIP: number } | null {
    const nodes = this.cluster.spec.nodes;
    if (svc.externalTrafficPolicy === "Local") {
      const withPod = nodes.find((n) => this.controllers.some((c) => c.pod.spec.nodeName === n.name && this.servicesOf(c.pod).includes(svc)));
      if (withPod) return withPod;
    }
    return nodes.find((n) => n.schedulable) ?? nodes[0] ?? null;
  }
}

/** A Service targetPort (number or container port name) on a Pod; null when the name is not one of its ports. */
function resolveTarget(pod: PodRuntime, target: number | string): number | null {
  if (typeof target === "number") return target;
  for (const c of pod.spec.containers) for (const p of c.ports) if (p.name === target && p.protocol === "TCP") return p.containerPort;
  return null;
}

/** A new connection from the controller Pod. */
function dial(pod: PodRuntime, ip: number, port: number): ByteStream | null {
  try {
    const conn = pod.ns.tcp.connect(ip, port, {});
    // connect() only sent the SYN: the stream's app is in place before any answer arrives.
    const { stream, app } = tcpStream(conn);
    conn.app = app;
    return stream;
  } catch {
    return null;
  }
}

function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
