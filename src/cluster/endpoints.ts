/**
 * Parses the places users name on the command line: `pod/NS/NAME`, `node/NAME`,
 * `ext/NAME` (a host outside the cluster), or a bare address, each optionally with `:PORT`
 * when it is a destination.
 */
import { PodwireError, formatIpv4, parseIpv4 } from "../base/index.js";
import type { NetworkNamespace } from "../netns/index.js";
import type { Cluster } from "./build.js";

export interface Source {
  ns: NetworkNamespace;
  label: string;
}

export interface Destination {
  ip: number;
  /** 0 when not given. */
  port: number;
  label: string;
  /** The Pod named, when the destination was `pod/…`, so its ports can be looked up. */
  podKey?: string;
}

export function parseSource(cluster: Cluster, text: string, option = "--from"): Source {
  const loc = { field: option };
  const [kind, ...rest] = text.split("/");
  if (kind === "pod" && rest.length === 2) {
    const pod = cluster.pod(rest[0]!, rest[1]!);
    if (!pod) throw unknown(cluster, "pod", `${rest[0]}/${rest[1]}`, option);
    return { ns: pod.ns, label: `pod/${pod.key}` };
  }
  if (kind === "node" && rest.length === 1) {
    const node = cluster.node(rest[0]!);
    if (!node) throw unknown(cluster, "node", rest[0]!, option);
    return { ns: node.ns, label: `node/${rest[0]}` };
  }
  if (kind === "ext" && rest.length === 1) {
    for (const e of cluster.externals.values()) {
      if (e.spec.name === rest[0] || formatIpv4(e.spec.ip) === rest[0]) return { ns: e.ns, label: `ext/${e.spec.name}` };
    }
    throw unknown(cluster, "ext", rest[0]!, option);
  }
  throw new PodwireError("E_ENDPOINT", `cannot read ${JSON.stringify(text)} as a source`, loc, "write pod/NAMESPACE/NAME, node/NAME or ext/NAME");
}

/** Looks up a Service by namespace and name; the cluster layer passes its ClusterServices. */
export interface ServiceLookup {
  service(namespace: string, name: string): { clusterIP: string | null; ports: { name: string; port: number; protocol: string }[] } | undefined;
  names(): string[];
}

export function parseDestination(cluster: Cluster, text: string, option = "--to", services: ServiceLookup | null = null): Destination {
  const loc = { field: option };
  let body = text;
  let port = 0;
  const colon = text.lastIndexOf(":");
  if (colon >= 0) {
    const portText = text.slice(colon + 1);
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw new PodwireError("E_ENDPOINT", `port ${JSON.stringify(portText)} in ${JSON.stringify(text)} is not a number from 1 to 65535`, loc, "write the destination as TARGET:PORT, e.g. pod/default/web-1:8080");
    }
    port = Number(portText);
    body = text.slice(0, colon);
  }
  const ip = parseIpv4(body);
  if (ip >= 0) return { ip, port, label: cluster.describe(ip) };
  const [kind, ...rest] = body.split("/");
  if (kind === "pod" && rest.length === 2) {
    const pod = cluster.pod(rest[0]!, rest[1]!);
    if (!pod) throw unknown(cluster, "pod", `${rest[0]}/${rest[1]}`, option);
    return { ip: pod.spec.podIP, port, label: `pod/${pod.key}`, podKey: pod.key };
  }
  if (kind === "node" && rest.length === 1) {
    const node = cluster.node(rest[0]!);
    if (!node) throw unknown(cluster, "node", rest[0]!, option);
    return { ip: node.spec.internalIP, port, label: `node/${rest[0]}` };
  }
  if (kind === "ext" && rest.length === 1) {
    for (const e of cluster.externals.values()) if (e.spec.name === rest[0]) return { ip: e.spec.ip, port, label: `ext/${e.spec.name}` };
    throw unknown(cluster, "ext", rest[0]!, option);
  }
  if (kind === "svc" && rest.length === 2 && services !== null) {
    const svc = services.service(rest[0]!, rest[1]!);
    if (!svc) {
      throw new PodwireError("E_ENDPOINT", `no Service ${rest[0]}/${rest[1]} in this cluster`, loc, `known: ${services.names().map((n) => `svc/${n}`).join(", ")}`);
    }
    if (svc.clusterIP === null) {
      throw new PodwireError("E_ENDPOINT", `Service ${rest[0]}/${rest[1]} has no ClusterIP (headless or ExternalName): kube-proxy has no rules for it`, loc, "trace to one of its Pods instead");
    }
    return { ip: parseIpv4(svc.clusterIP), port: port || (svc.ports[0]?.port ?? 0), label: `svc/${rest[0]}/${rest[1]}` };
  }
  throw new PodwireError("E_ENDPOINT", `cannot read ${JSON.stringify(text)} as a destination`, loc, "write pod/NAMESPACE/NAME[:PORT], svc/NAMESPACE/NAME[:PORT], node/NAME[:PORT], ext/NAME or an IPv4 address[:PORT]");
}

/** The first container port of a Pod for a protocol, as a default destination port. */
export function defaultPort(cluster: Cluster, podKey: string, protocol: "TCP" | "UDP"): number {
  const pod = cluster.pods.get(podKey);
  for (const c of pod?.spec.containers ?? []) for (const p of c.ports) if (p.protocol === protocol) return p.containerPort;
  return 0;
}

function unknown(cluster: Cluster, kind: "pod" | "node" | "ext", name: string, option: string): PodwireError {
  const known =
    kind === "pod" ? [...cluster.pods.keys()].map((k) => `pod/${k}`) : kind === "node" ? [...cluster.nodes.keys()].map((k) => `node/${k}`) : [...cluster.externals.keys()].map((k) => `ext/${k}`);
  return new PodwireError("E_ENDPOINT", `no ${kind} ${JSON.stringify(name)} in this cluster`, { field: option }, `known: ${known.join(", ") || "(none)"}`);
}
