/**
 * The cluster as `/api/cluster` gives it to the page (and to scripts): the networks, every
 * node with its devices (eth0 on the node network, cni0, flannel.1, one veth per Pod), its
 * Pods, the hosts outside, and the Services as the virtual boxes kube-proxy makes of them,
 * with their endpoints.
 */
import { formatCidr, formatIpv4, formatMac } from "../base/index.js";
import type { Cluster, NodeRuntime } from "../cluster/build.js";
import type { ClusterServices } from "../cluster/services.js";
import type { NetDevice } from "../netdev/index.js";

export interface DeviceJson {
  name: string;
  kind: string;
  mac: string;
  mtu: number;
  addresses: string[];
  /** The bridge this device is a port of (`cni0`), or null. */
  master: string | null;
  /** The Pod at the other end of this veth (`NS/NAME`), or null. */
  pod: string | null;
}

export function topologyJson(cluster: Cluster, services: ClusterServices): Record<string, unknown> {
  const s = cluster.spec;
  return {
    name: s.name,
    source: s.source,
    proxyMode: s.proxyMode,
    overlay: s.overlay,
    seed: s.seed,
    nodeNetwork: formatCidr(s.nodeNetwork),
    clusterCIDR: formatCidr(s.clusterCIDR),
    serviceCIDR: formatCidr(s.serviceCIDR),
    podMTU: cluster.podMTU,
    nodes: [...cluster.nodes.values()].map((n) => nodeJson(n)),
    externalHosts: [...cluster.externals.values()].map((e) => ({ name: e.spec.name, ip: formatIpv4(e.spec.ip) })),
    services: services.model.services.map((svc) => ({
      namespace: svc.namespace,
      name: svc.name,
      type: svc.type,
      clusterIP: svc.clusterIP,
      externalIPs: svc.externalIPs,
      loadBalancerIPs: svc.loadBalancerIPs,
      ports: svc.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol, nodePort: p.nodePort })),
      endpoints: endpointsOf(services, svc.namespace, svc.name),
    })),
  };
}

function nodeJson(n: NodeRuntime): Record<string, unknown> {
  const vethPod = new Map<NetDevice, string>();
  for (const p of n.pods) if (p.hostVeth !== null) vethPod.set(p.hostVeth, p.key);
  return {
    name: n.spec.name,
    internalIP: formatIpv4(n.spec.internalIP),
    podCIDR: formatCidr(n.spec.podCIDR),
    controlPlane: n.spec.controlPlane,
    schedulable: n.spec.schedulable,
    devices: [...n.ns.interfaces.values()].map(
      (iface): DeviceJson => ({
        name: iface.dev.name,
        kind: iface.dev.kind,
        mac: formatMac(iface.dev.mac),
        mtu: iface.dev.mtu,
        addresses: iface.addrs.map((a) => `${formatIpv4(a.ip)}/${a.prefixLen}`),
        master: n.cni0.ports.includes(iface.dev) ? n.cni0.name : null,
        pod: vethPod.get(iface.dev) ?? null,
      }),
    ),
    pods: n.pods.map((p) => ({
      key: p.key,
      namespace: p.spec.namespace,
      name: p.spec.name,
      ip: formatIpv4(p.spec.podIP),
      hostNetwork: p.spec.hostNetwork,
      veth: p.hostVeth?.name ?? null,
      containers: p.spec.containers.map((c) => ({ name: c.name, ports: c.ports.map((x) => ({ port: x.containerPort, protocol: x.protocol })) })),
    })),
  };
}

/** `ip:port` of each ready endpoint of the Service, from its EndpointSlices. */
function endpointsOf(services: ClusterServices, namespace: string, name: string): string[] {
  const out: string[] = [];
  for (const slice of services.model.endpointSlices) {
    if (slice.namespace !== namespace || slice.serviceName !== name) continue;
    for (const ep of slice.endpoints) {
      if (ep.conditions.ready === false) continue;
      for (const a of ep.addresses) for (const p of slice.ports) out.push(`${a}:${p.port ?? "?"}`);
    }
  }
  return out;
}
