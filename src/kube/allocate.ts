/**
 * Cluster IP and node port bookkeeping, as the API server's allocators would do it, but
 * deterministic.
 *
 * Real Kubernetes (pkg/registry/core/service/ipallocator, portallocator) picks a *random*
 * free address or port, preferring the upper part of the range (the lower band is kept for
 * static assignments, KEP-3070 / KEP-3668). Only `default/kubernetes` is fixed (the first
 * address of the service CIDR, set by the apiserver), and kubeadm pins `kube-system/kube-dns`
 * to the tenth. podwire keeps those two and otherwise hands out the lowest free address or
 * port, visiting Services in namespace/name order, so that a cluster file always compiles to
 * the same rules.
 */
import { PodwireError, cidrContains, formatCidr, formatIpv4, parseCidr, parseIpv4, type Ipv4Cidr } from "../base/index.js";
import type { Service } from "./objects.js";
import type { ServiceDraft } from "./read-service.js";

export interface AllocationOptions {
  /** The service network, e.g. `10.96.0.0/12`. */
  serviceCIDR: string;
  /** `--service-node-port-range`, default `30000-32767`. */
  nodePortRange?: string;
  /**
   * Give NodePort/LoadBalancer ports without a nodePort one (default true, as the API
   * server does). kube-proxy's own tests build such Services without one; false mimics that.
   */
  allocateNodePorts?: boolean;
}

export const DEFAULT_NODE_PORT_RANGE = "30000-32767";
/** Offsets in the service CIDR of the two addresses every cluster has. */
export const KUBERNETES_SERVICE_OFFSET = 1;
export const KUBE_DNS_SERVICE_OFFSET = 10;

const fixedOffsets: Record<string, number> = {
  "default/kubernetes": KUBERNETES_SERVICE_OFFSET,
  "kube-system/kube-dns": KUBE_DNS_SERVICE_OFFSET,
};

export function parseServiceCIDR(text: string): Ipv4Cidr {
  const cidr = parseCidr(text, true);
  if (!cidr || cidr.prefixLen > 30) {
    throw new PodwireError("E_SERVICE_CIDR", `service CIDR ${JSON.stringify(text)} is not an IPv4 network of at least 4 addresses`, { field: "serviceCIDR" }, "use e.g. 10.96.0.0/12");
  }
  return cidr;
}

export function parseNodePortRange(text: string): { min: number; max: number } {
  const m = /^([0-9]{1,5})-([0-9]{1,5})$/.exec(text.trim());
  const min = m ? Number(m[1]) : NaN;
  const max = m ? Number(m[2]) : NaN;
  if (!m || min < 1 || max > 65535 || min > max) {
    throw new PodwireError("E_NODE_PORT_RANGE", `node port range ${JSON.stringify(text)} is not FIRST-LAST within 1-65535`, { field: "nodePortRange" }, "use e.g. 30000-32767");
  }
  return { min, max };
}

/** The address at `offset` within the service CIDR, e.g. offset 10 of 10.96.0.0/12 is 10.96.0.10. */
export function serviceAddress(cidr: string, offset: number): string {
  const c = parseServiceCIDR(cidr);
  return formatIpv4((c.net + offset) >>> 0);
}

function at(s: Service, field: string) {
  return { ...s.location, field };
}

function key(s: Service): string {
  return `${s.namespace}/${s.name}`;
}

function where(s: Service): string {
  const l = s.location;
  const parts = [l.file, l.line !== undefined ? `line ${l.line}` : undefined, l.document !== undefined ? `document ${l.document}` : undefined];
  return `${key(s)} (${parts.filter(Boolean).join(", ") || "generated"})`;
}

export function allocate(drafts: readonly ServiceDraft[], opts: AllocationOptions): void {
  const sorted = [...drafts].sort((a, b) => (key(a.service) < key(b.service) ? -1 : key(a.service) > key(b.service) ? 1 : 0));
  allocateClusterIPs(sorted, parseServiceCIDR(opts.serviceCIDR));
  allocateNodePorts(sorted, parseNodePortRange(opts.nodePortRange ?? DEFAULT_NODE_PORT_RANGE), opts.allocateNodePorts ?? true);
}

function allocateClusterIPs(drafts: readonly ServiceDraft[], cidr: Ipv4Cidr): void {
  const size = 2 ** (32 - cidr.prefixLen);
  const owners = new Map<number, Service>();
  for (const d of drafts) {
    const s = d.service;
    if (s.clusterIP === null) continue;
    const ip = parseIpv4(s.clusterIP);
    const offset = ip - cidr.net;
    if (!cidrContains(cidr, ip) || offset === 0 || offset === size - 1) {
      throw new PodwireError("E_CLUSTER_IP_RANGE", `clusterIP ${s.clusterIP} of ${key(s)} is not a usable address of the service CIDR ${formatCidr(cidr)}`, at(s, "spec.clusterIP"), "pick an address inside serviceCIDR (not its first or last), or leave clusterIP out to have one allocated");
    }
    const other = owners.get(ip);
    if (other) {
      throw new PodwireError("E_CLUSTER_IP_DUPLICATE", `clusterIP ${s.clusterIP} of ${key(s)} is already used by ${where(other)}`, at(s, "spec.clusterIP"), "give each Service its own clusterIP, or leave it out");
    }
    owners.set(ip, s);
  }
  // The two well-known Services get their fixed addresses when those are free.
  const reserved = new Set<number>();
  for (const [name, offset] of Object.entries(fixedOffsets)) {
    const ip = (cidr.net + offset) >>> 0;
    if (!owners.has(ip)) reserved.add(ip);
    const d = drafts.find((x) => x.needsClusterIP && key(x.service) === name);
    if (d && !owners.has(ip)) {
      d.service.clusterIP = formatIpv4(ip);
      d.needsClusterIP = false;
      owners.set(ip, d.service);
    }
  }
  let next = 1;
  for (const d of drafts) {
    if (!d.needsClusterIP || d.service.type === "ExternalName" || d.service.headless) continue;
    for (;;) {
      if (next >= size - 1) {
        throw new PodwireError("E_CLUSTER_IP_EXHAUSTED", `no free clusterIP left in ${formatCidr(cidr)} for ${key(d.service)}`, at(d.service, "spec.clusterIP"), "use a larger serviceCIDR");
      }
      const ip = (cidr.net + next) >>> 0;
      next++;
      if (owners.has(ip) || reserved.has(ip)) continue;
      d.service.clusterIP = formatIpv4(ip);
      d.needsClusterIP = false;
      owners.set(ip, d.service);
      break;
    }
  }
}

interface PortOwner {
  service: Service;
  field: string;
  protocol: string;
}

function allocateNodePorts(drafts: readonly ServiceDraft[], range: { min: number; max: number }, allocateMissing: boolean): void {
  const owners = new Map<number, PortOwner[]>();
  const claim = (s: Service, field: string, port: number, protocol: string): void => {
    if (port < range.min || port > range.max) {
      throw new PodwireError("E_NODE_PORT_RANGE", `${field} ${port} of ${key(s)} is outside the node port range ${range.min}-${range.max}`, at(s, field), `pick a port from ${range.min} to ${range.max}, or leave it out`);
    }
    const list = owners.get(port) ?? [];
    // One Service may use a port number once per protocol (e.g. DNS on 30053/UDP and 30053/TCP).
    const clash = list.find((o) => o.service !== s || o.protocol === protocol || protocol === "*" || o.protocol === "*");
    if (clash) {
      throw new PodwireError("E_NODE_PORT_DUPLICATE", `${field} ${port} of ${key(s)} is already used by ${where(clash.service)} (${clash.field})`, at(s, field), "give each node port to one Service only, or leave it out");
    }
    list.push({ service: s, field, protocol });
    owners.set(port, list);
  };
  for (const d of drafts) {
    const s = d.service;
    s.ports.forEach((p, i) => {
      if (p.nodePort !== 0) claim(s, `spec.ports[${i}].nodePort`, p.nodePort, p.protocol);
    });
    if (s.healthCheckNodePort !== 0) claim(s, "spec.healthCheckNodePort", s.healthCheckNodePort, "*");
  }
  let next = range.min;
  const take = (s: Service, field: string): number => {
    while (next <= range.max && owners.has(next)) next++;
    if (next > range.max) {
      throw new PodwireError("E_NODE_PORT_EXHAUSTED", `no free node port left in ${range.min}-${range.max} for ${key(s)}`, at(s, field), "widen the node port range");
    }
    const port = next;
    owners.set(port, [{ service: s, field, protocol: "*" }]);
    return port;
  };
  for (const d of drafts) {
    if (allocateMissing) {
      for (const i of d.needsNodePort) d.service.ports[i]!.nodePort = take(d.service, `spec.ports[${i}].nodePort`);
    }
    if (d.needsHealthCheckNodePort) d.service.healthCheckNodePort = take(d.service, "spec.healthCheckNodePort");
    d.needsNodePort = [];
    d.needsHealthCheckNodePort = false;
  }
}
