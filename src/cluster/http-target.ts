/**
 * `http://HOST[:PORT]/PATH` (or https://) as a client outside the cluster would reach it:
 * HOST resolves as an outside DNS record for it would — to the external address of the L7
 * controller that serves the host (its Service's LoadBalancer IP, else a NodePort on a node,
 * else its node's address for a hostNetwork Pod); an IPv4 address is taken as it is.
 */
import { PodwireError, formatIpv4, parseIpv4 } from "../base/index.js";
import { CONTROLLER_ANNOTATION } from "../l7/controller.js";
import type { L7Controller, L7Runtime } from "./l7-runtime.js";
import { CLUSTER_DOMAIN } from "./services.js";

export interface HttpTarget {
  scheme: "http" | "https";
  /** The host name as written (lower case), or the IPv4 address. */
  host: string;
  /** The Host header: the host, plus `:PORT` when the URL names a port. */
  hostHeader: string;
  /** Path and query. */
  target: string;
  dst: number;
  dstPort: number;
  /** How the address was found, e.g. `LoadBalancer IP 192.168.56.200 of Service ingress-nginx/…`. */
  via: string;
  controller: L7Controller | null;
}

export function parseHttpUrl(text: string, option = "--to"): { scheme: "http" | "https"; host: string; port: number | null; target: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new PodwireError("E_ARG", `${option} ${JSON.stringify(text)} is not a URL`, { field: option }, "write it as http://HOST[:PORT]/PATH, e.g. http://shop.example.com/cart");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new PodwireError("E_ARG", `${option} ${JSON.stringify(text)}: only http:// and https:// URLs are traced`, { field: option }, "use http://HOST/PATH or https://HOST/PATH");
  }
  if (url.username !== "" || url.password !== "") throw new PodwireError("E_ARG", `${option}: credentials in the URL are not supported`, { field: option }, "leave user:password@ out");
  const host = url.hostname.toLowerCase();
  if (host.startsWith("[")) throw new PodwireError("E_ARG", `${option}: IPv6 addresses are not emulated`, { field: option }, "use a host name or an IPv4 address");
  return { scheme: url.protocol === "https:" ? "https" : "http", host, port: url.port === "" ? null : Number(url.port), target: `${url.pathname}${url.search}` };
}

export function resolveHttpTarget(l7: L7Runtime, text: string, option = "--to"): HttpTarget {
  const u = parseHttpUrl(text, option);
  const hostHeader = u.port === null ? u.host : `${u.host}:${u.port}`;
  const defaultPort = u.scheme === "https" ? 443 : 80;
  const ip = parseIpv4(u.host);
  if (ip >= 0) {
    return { scheme: u.scheme, host: u.host, hostHeader, target: u.target, dst: ip, dstPort: u.port ?? defaultPort, via: "an IPv4 address in the URL", controller: null };
  }
  const svcName = new RegExp(`^([a-z0-9-]+)\\.([a-z0-9-]+)\\.svc\\.${CLUSTER_DOMAIN.replace(/\./g, "\\.")}$`).exec(u.host);
  if (svcName !== null) {
    // A Service's cluster DNS name: its ClusterIP, as CoreDNS answers a Pod (no ingress controller on the way).
    const svc = l7.services.service(svcName[2]!, svcName[1]!);
    if (svc === undefined || svc.clusterIP === null) {
      throw new PodwireError("E_ENDPOINT", `${option}: ${u.host} names no Service with a ClusterIP`, { field: option }, `known: ${l7.services.names().join(", ")}`);
    }
    const port = u.port ?? svc.ports.find((p) => p.protocol === "TCP")?.port ?? defaultPort;
    return { scheme: u.scheme, host: u.host, hostHeader, target: u.target, dst: parseIpv4(svc.clusterIP), dstPort: port, via: `cluster DNS: the ClusterIP of Service ${svc.namespace}/${svc.name} (${svc.clusterIP}:${port})`, controller: null };
  }
  const controller = l7.controllerFor(u.host, u.scheme);
  if (controller === null) {
    throw new PodwireError(
      "E_NO_L7_CONTROLLER",
      `no ingress controller in this cluster serves ${u.host}`,
      { field: option },
      `run one: a Pod with image registry.k8s.io/ingress-nginx/controller (or annotated ${CONTROLLER_ANNOTATION}) and a LoadBalancer or NodePort Service for it`,
    );
  }
  const entry = l7.externalEntry(controller, u.scheme);
  if (entry === null) {
    throw new PodwireError(
      "E_NO_L7_ADDRESS",
      `the ingress controller ${controller.pod.key} has no address outside the cluster for ${u.scheme}`,
      { field: option },
      `give it a LoadBalancer or NodePort Service with a port whose targetPort is its ${u.scheme} port (${(u.scheme === "https" ? controller.httpsPorts : controller.httpPorts).join(", ") || "none"}), or run it with hostNetwork`,
    );
  }
  let dstPort = entry.port;
  let via = entry.via;
  let dst = entry.ip;
  if (u.port !== null && u.port !== entry.port) {
    const svc = entry.service;
    const asNodePort = svc?.ports.find((p) => p.nodePort === u.port);
    const asServicePort = svc?.ports.find((p) => p.port === u.port && p.nodePort !== 0);
    const node = svc ? l7.landingNode(svc) : null;
    if (svc && asNodePort !== undefined && node !== null) {
      // The URL names a NodePort: the name's address is a node then (as with a DNS record per node).
      dst = node.internalIP;
      dstPort = u.port;
      via = `NodePort ${u.port} of Service ${svc.namespace}/${svc.name} on node ${node.name}`;
    } else if (svc && asServicePort !== undefined && entry.via.startsWith("NodePort")) {
      dstPort = asServicePort.nodePort;
      via = `${via}; port ${u.port} is the Service port, reached as NodePort ${asServicePort.nodePort}`;
    } else {
      dstPort = u.port;
      via = `${via}; port ${u.port} as the URL gives it`;
    }
  }
  return { scheme: u.scheme, host: u.host, hostHeader, target: u.target, dst, dstPort, via: `${via} (${formatIpv4(dst)}:${dstPort})`, controller };
}
