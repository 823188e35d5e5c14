/**
 * `podwire cluster --yaml`: a resolved cluster as a cluster file — the Cluster document,
 * Nodes and Pods with every address podwire allocated pinned (status.podIP, nodeName,
 * InternalIP, podCIDR), then every other object as it was read (Services, EndpointSlices,
 * Ingresses, Gateway API objects, Secrets …, with the API server's defaults filled in).
 * Loading the text gives the same cluster again; users start from it and add their own
 * objects. Keys are sorted, as `kubectl get -o yaml` prints them.
 */
import { stringify } from "yaml";
import { formatCidr, formatIpv4 } from "../base/index.js";
import { CLUSTER_API_VERSION } from "./load.js";
import { NODE_SYSCTLS } from "./read-node-settings.js";
import type { ClusterSpec, KubeProxyConfig, NodeSettings, NodeSpec, PodSpec } from "./spec.js";

type Obj = Record<string, unknown>;

export function clusterFileYaml(spec: ClusterSpec): string {
  const docs: Obj[] = [clusterDocument(spec), ...spec.nodes.map(nodeDocument), ...spec.pods.map(podDocument), ...spec.otherDocuments.map((d) => d.body)];
  const head = [
    `# Cluster ${spec.name}, as podwire resolved it from ${spec.source}: every address it allocated is`,
    "# pinned (node InternalIPs and podCIDRs, Pod nodeNames and podIPs), so this file loads back as the",
    "# same cluster. Add your own objects below, or edit these.",
  ];
  return `${head.join("\n")}\n${docs.map((d) => stringify(d, { sortMapEntries: true, lineWidth: 0, indentSeq: false })).join("---\n")}`;
}

function clusterDocument(spec: ClusterSpec): Obj {
  const s: Obj = {
    clusterCIDR: formatCidr(spec.clusterCIDR),
    nodeCIDRMaskSize: spec.nodeCIDRMaskSize,
    serviceCIDR: formatCidr(spec.serviceCIDR),
    nodeNetwork: formatCidr(spec.nodeNetwork),
    nodeMTU: spec.nodeMTU,
    overlay: spec.overlay,
    proxyMode: spec.proxyMode,
    seed: spec.seed,
  };
  if (spec.externalHosts.length > 0) s.externalHosts = spec.externalHosts.map((h) => ({ name: h.name, ip: formatIpv4(h.ip) }));
  if (spec.serviceNodePortRange !== undefined) s.serviceNodePortRange = spec.serviceNodePortRange;
  if (spec.kubeProxy !== undefined) Object.assign(s, kubeProxyBlock(spec.kubeProxy));
  if (spec.nodeSettings !== undefined) Object.assign(s, nodeSettingsBlock(spec.nodeSettings));
  return { apiVersion: CLUSTER_API_VERSION, kind: "Cluster", metadata: { name: spec.name }, spec: s };
}

/** The `kubeProxy:` block under KubeProxyConfiguration's names (read-kube-proxy.ts reads it back). */
function kubeProxyBlock(k: KubeProxyConfig): Obj {
  const b: Obj = {};
  const sub = (name: string): Obj => (b[name] ??= {}) as Obj;
  if (typeof k.clusterCIDR === "string") b.clusterCIDR = k.clusterCIDR;
  if (k.detectLocalMode !== undefined) b.detectLocalMode = k.detectLocalMode;
  if (k.nodePortAddresses !== undefined) b.nodePortAddresses = k.nodePortAddresses;
  if (k.masqueradeAll !== undefined) sub("iptables").masqueradeAll = k.masqueradeAll;
  if (k.masqueradeBit !== undefined) sub("iptables").masqueradeBit = k.masqueradeBit;
  if (k.localhostNodePorts !== undefined) sub("iptables").localhostNodePorts = k.localhostNodePorts;
  if (k.nftablesMasqueradeAll !== undefined) sub("nftables").masqueradeAll = k.nftablesMasqueradeAll;
  if (k.nftablesMasqueradeBit !== undefined) sub("nftables").masqueradeBit = k.nftablesMasqueradeBit;
  if (k.conntrackTCPLiberal !== undefined) sub("conntrack").tcpBeLiberal = k.conntrackTCPLiberal;
  if (k.conntrackMaxPerCore !== undefined) sub("conntrack").maxPerCore = k.conntrackMaxPerCore;
  if (k.conntrackMin !== undefined) sub("conntrack").min = k.conntrackMin;
  return Object.keys(b).length > 0 ? { kubeProxy: b } : {};
}

function nodeSettingsBlock(n: NodeSettings): Obj {
  const out: Obj = {};
  const cni: Obj = {};
  if (n.hairpinMode !== undefined) cni.hairpinMode = n.hairpinMode;
  if (n.cniMtu !== undefined) cni.mtu = n.cniMtu;
  if (Object.keys(cni).length > 0) out.cni = cni;
  if (n.kernelVersion !== undefined) out.kernelVersion = n.kernelVersion;
  if (n.cpus !== undefined) out.nodeCPUs = n.cpus;
  const sysctls: Obj = {};
  for (const [name, s] of Object.entries(NODE_SYSCTLS)) if (n[s.key] !== undefined) sysctls[name] = Number(n[s.key]);
  if (Object.keys(sysctls).length > 0) out.sysctls = sysctls;
  return out;
}

function nodeDocument(n: NodeSpec): Obj {
  const spec: Obj = { podCIDR: formatCidr(n.podCIDR), podCIDRs: [formatCidr(n.podCIDR)] };
  // What keeps ordinary Pods off: the control plane's taint, else unschedulable.
  if (!n.schedulable) {
    if (n.controlPlane) spec.taints = [{ effect: "NoSchedule", key: "node-role.kubernetes.io/control-plane" }];
    else spec.unschedulable = true;
  }
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: n.name, labels: n.labels },
    spec,
    status: { addresses: [{ address: formatIpv4(n.internalIP), type: "InternalIP" }, { address: n.name, type: "Hostname" }] },
  };
}

function podDocument(p: PodSpec): Obj {
  const metadata: Obj = { name: p.name, namespace: p.namespace, labels: p.labels };
  if (p.annotations !== undefined) metadata.annotations = p.annotations;
  if (p.owners !== undefined) metadata.ownerReferences = p.owners.map((o) => ({ kind: o.kind, name: o.name }));
  const spec: Obj = {
    nodeName: p.nodeName,
    containers: p.containers.map((c) => ({ name: c.name, ...(c.image !== undefined ? { image: c.image } : {}), ...(c.ports.length > 0 ? { ports: c.ports.map((port) => ({ containerPort: port.containerPort, protocol: port.protocol, ...(port.name !== undefined ? { name: port.name } : {}) })) } : {}) })),
  };
  if (p.hostNetwork) spec.hostNetwork = true;
  const status: Obj = { phase: "Running" };
  if (!p.hostNetwork) status.podIP = formatIpv4(p.podIP);
  return { apiVersion: "v1", kind: "Pod", metadata, spec, status };
}
