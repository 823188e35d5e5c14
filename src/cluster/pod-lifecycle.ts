/**
 * Pods created and deleted while the cluster runs, as the kubelet and the CNI plugin do it:
 *
 * - delete (kubelet kills the sandbox, CNI DEL): the Pod's network namespace goes away with
 *   every socket in it; its veth pair is destroyed (deleting one end deletes both), so the
 *   host end leaves cni0 and the bridge forgets the MACs learned on that port; the node keeps
 *   what the kernel keeps (its ARP entry for the old address, conntrack entries naming it).
 * - create (CNI ADD): host-local IPAM hands out the next free address *after* the last one
 *   it handed out on that node (its `last_reserved_ip`), so a replacement Pod gets a new
 *   address; then the netns, veth pair, routes and the Pod's servers, as at boot.
 *
 * Both change the cluster spec's Pod list, which the EndpointSlices are derived from; the
 * caller tells kube-proxy (`ClusterServices.update`) when the API server would.
 */
import { formatCidr, formatIpv4 } from "../base/index.js";
import { type DnsServer, startApps } from "./apps.js";
import type { Cluster, NodeRuntime, PodRuntime } from "./build.js";
import type { ContainerSpec, PodSpec } from "./spec.js";

/** A Pod to create: what a Pod manifest gives, scheduled to a node. */
export interface NewPod {
  namespace: string;
  name: string;
  nodeName: string;
  labels: Record<string, string>;
  containers: ContainerSpec[];
  /** A fixed address; absent: host-local's next one. */
  podIP?: number;
}

/** host-local's `last_reserved_ip` per node (seeded from the highest Pod address at first use). */
const lastReserved = new WeakMap<NodeRuntime, number>();

/** The address host-local would hand out next on `node`: the first free one after the last reserved, wrapping. */
export function nextPodIP(cluster: Cluster, node: NodeRuntime): number {
  const cidr = node.spec.podCIDR;
  const first = (cidr.net + 2) >>> 0; // .1 is cni0's
  const last = (cidr.net + 2 ** (32 - cidr.prefixLen) - 2) >>> 0; // before broadcast
  const used = new Set<number>();
  for (const p of cluster.pods.values()) if (!p.spec.hostNetwork) used.add(p.spec.podIP >>> 0);
  let from = lastReserved.get(node);
  if (from === undefined) {
    from = first - 1;
    for (const ip of used) if (ip >= first && ip <= last && ip > from) from = ip;
  }
  const size = last - first + 1;
  for (let i = 1; i <= size; i++) {
    const ip = first + ((from - first + i + size) % size);
    if (!used.has(ip)) return ip >>> 0;
  }
  throw new Error(`node ${node.spec.name}: no free address left in ${formatCidr(cidr)}`);
}

/**
 * Creates a Pod on a running cluster: its sandbox and its servers (the CoreDNS server map
 * gets an entry when the Pod is a CoreDNS Pod). Returns the Pod.
 */
export function createPod(cluster: Cluster, pod: NewPod, dns: Map<string, DnsServer> = new Map()): PodRuntime {
  const key = `${pod.namespace}/${pod.name}`;
  if (cluster.pods.has(key)) throw new Error(`pod ${key} exists`);
  const node = cluster.nodes.get(pod.nodeName);
  if (!node) throw new Error(`pod ${key}: unknown node ${pod.nodeName}`);
  const podIP = pod.podIP ?? nextPodIP(cluster, node);
  const cidr = node.spec.podCIDR;
  if (((podIP & cidr.mask) >>> 0) !== cidr.net) throw new Error(`pod ${key}: ${formatIpv4(podIP)} is outside ${formatCidr(cidr)}`);
  for (const p of cluster.pods.values()) {
    if (!p.spec.hostNetwork && p.spec.podIP === podIP) throw new Error(`pod ${key}: ${formatIpv4(podIP)} belongs to pod ${p.key}`);
  }
  const spec: PodSpec = {
    namespace: pod.namespace,
    name: pod.name,
    nodeName: pod.nodeName,
    podIP,
    hostNetwork: false,
    labels: { ...pod.labels },
    containers: pod.containers.map((c) => ({ ...c, ports: c.ports.map((p) => ({ ...p })) })),
    location: { file: "<created at run time>" },
  };
  lastReserved.set(node, podIP);
  cluster.spec.pods.push(spec);
  const rt = cluster.addPod(spec);
  startApps(rt, dns);
  return rt;
}

/**
 * Deletes a Pod from a running cluster (its sandbox: netns, veth pair, sockets). Returns
 * the deleted Pod. hostNetwork Pods only leave the Pod list (their node stays).
 */
export function deletePod(cluster: Cluster, key: string): PodRuntime {
  const rt = cluster.pods.get(key);
  if (!rt) throw new Error(`no pod ${key}`);
  // host-local remembers the address it last handed out even after this Pod releases it.
  if (!rt.spec.hostNetwork && !lastReserved.has(rt.node)) lastReserved.set(rt.node, nextPodIP(cluster, rt.node) - 1);
  cluster.pods.delete(key);
  const onNode = rt.node.pods.indexOf(rt);
  if (onNode >= 0) rt.node.pods.splice(onNode, 1);
  const inSpec = cluster.spec.pods.indexOf(rt.spec);
  if (inSpec >= 0) cluster.spec.pods.splice(inSpec, 1);
  if (rt.eth0 === null || rt.hostVeth === null) return rt;
  // The host end leaves the bridge and the node; the Pod end goes with its namespace.
  rt.node.cni0.removePort(rt.hostVeth);
  rt.node.ns.removeDevice(rt.hostVeth);
  for (const dev of [...rt.ns.interfaces.keys()]) rt.ns.removeDevice(dev);
  rt.eth0.up = false;
  rt.hostVeth.up = false;
  rt.ns.lo.up = false;
  for (const dev of [rt.ns.lo, rt.eth0, rt.hostVeth]) {
    const i = cluster.devices.indexOf(dev);
    if (i >= 0) cluster.devices.splice(i, 1);
  }
  return rt;
}
