/**
 * Turns a ClusterSpec into running namespaces and devices, the way kubeadm + flannel + the
 * CNI bridge plugin would set up each node:
 *
 *   node netns:  eth0 (node network)  cni0 (bridge, pod gateway .1)  flannel.1 (VXLAN VNI 1)
 *                vethXXXXXXXX per Pod, enslaved to cni0;  ip_forward=1;  bridge-nf-call-iptables=1
 *   Pod netns:   lo, eth0 (the veth's other end) with the Pod IP, routes via the cni0 gateway
 *   switch:      one learning bridge `nodenet` joining every node's and external host's eth0
 */
import { type Ipv4Cidr, formatIpv4, prefixMask } from "../base/index.js";
import { Bridge, type NetDevice, Simulator, type Veth, VXLAN_OVERHEAD, VxlanDevice, createVethPair } from "../netdev/index.js";
import { applyRestore } from "../netfilter/apply-restore.js";
import { newRuleset } from "../netfilter/model.js";
import { parseRestore } from "../netfilter/restore-parse.js";
import { printRuleSpec } from "../netfilter/save-print.js";
import { type Timeouts, parseKernelVersion } from "../conntrack/index.js";
import { NamespaceNetfilter, type NetfilterOptions, NetworkNamespace } from "../netns/index.js";
import { flannelRulesText } from "./flannel-rules.js";
import { nodeSysctl } from "./read-node-settings.js";
import type { ClusterSpec, ExternalHostSpec, NodeSettings, NodeSpec, PodSpec } from "./spec.js";

/** Latency of the node network's links (a frame crossing the switch), larger than a veth's. */
export const NODE_LINK_LATENCY_NS = 20_000;
export const FLANNEL_VNI = 1;

export interface NodeRuntime {
  spec: NodeSpec;
  ns: NetworkNamespace;
  eth0: Veth;
  cni0: Bridge;
  /** `flannel.1` in VXLAN mode; null with host-gw. */
  flannel: VxlanDevice | null;
  /** The Pod gateway address on cni0 (x.x.x.1). */
  gateway: number;
  /** The node's netfilter: iptables rules (flannel's now, kube-proxy's later) and conntrack. */
  netfilter: NamespaceNetfilter;
  pods: PodRuntime[];
}

export interface PodRuntime {
  spec: PodSpec;
  /** `NS/NAME`. */
  key: string;
  ns: NetworkNamespace;
  node: NodeRuntime;
  /** The Pod's eth0 and its host-side peer on cni0; null for hostNetwork Pods. */
  eth0: Veth | null;
  hostVeth: Veth | null;
}

export interface ExternalRuntime {
  spec: ExternalHostSpec;
  ns: NetworkNamespace;
  eth0: Veth;
}

export class Cluster {
  readonly sim: Simulator;
  readonly nodes = new Map<string, NodeRuntime>();
  readonly pods = new Map<string, PodRuntime>();
  readonly externals = new Map<string, ExternalRuntime>();
  /** The node network's switch. */
  readonly underlay: Bridge;
  /** Every device, in creation order (capture interface order). */
  readonly devices: NetDevice[] = [];

  constructor(readonly spec: ClusterSpec) {
    this.sim = new Simulator(spec.seed);
    this.underlay = new Bridge(this.sim, "nodenet", localMac(this.sim), spec.nodeMTU);
    this.underlay.owner = "switch";
    this.devices.push(this.underlay);
    for (const n of spec.nodes) this.addNode(n);
    this.wireOverlay();
    for (const p of spec.pods) this.addPod(p);
    for (const e of spec.externalHosts) this.addExternal(e);
  }

  node(name: string): NodeRuntime | undefined {
    return this.nodes.get(name);
  }

  pod(namespace: string, name: string): PodRuntime | undefined {
    return this.pods.get(`${namespace}/${name}`);
  }

  /** Every namespace: nodes, then Pods with their own netns, then external hosts. */
  namespaces(): NetworkNamespace[] {
    const out: NetworkNamespace[] = [];
    for (const n of this.nodes.values()) out.push(n.ns);
    for (const p of this.pods.values()) if (p.eth0 !== null) out.push(p.ns);
    for (const e of this.externals.values()) out.push(e.ns);
    return out;
  }

  /**
   * MTU of the Pod network (cni0, Pods' eth0 and their host veths): the CNI config's `mtu`
   * when the Cluster document gives one, else flannel's FLANNEL_MTU — the VXLAN device's
   * in vxlan mode.
   */
  get podMTU(): number {
    const set = this.spec.nodeSettings?.cniMtu;
    if (set !== undefined) return set;
    return this.spec.overlay === "vxlan" ? this.spec.nodeMTU - VXLAN_OVERHEAD : this.spec.nodeMTU;
  }

  private attachToSwitch(ns: NetworkNamespace, ip: number, label: string): Veth {
    const [eth0, port] = createVethPair(
      this.sim,
      { name: "eth0", mac: nodeMac(ip), mtu: this.spec.nodeMTU },
      { name: `port-${label}`, mac: localMac(this.sim), mtu: this.spec.nodeMTU },
    );
    eth0.latencyNs = NODE_LINK_LATENCY_NS;
    port.latencyNs = NODE_LINK_LATENCY_NS;
    ns.addDevice(eth0);
    ns.addAddress(eth0, ip, this.spec.nodeNetwork.prefixLen);
    port.owner = "switch";
    this.underlay.addPort(port);
    this.devices.push(eth0, port);
    return eth0;
  }

  private addNode(spec: NodeSpec): void {
    const ns = new NetworkNamespace(this.sim, spec.name);
    ns.ipForward = true;
    this.devices.push(ns.lo);
    const eth0 = this.attachToSwitch(ns, spec.internalIP, spec.name);
    // Nodes route everything else to the node network's gateway (its first address), as a
    // real node routes to its default gateway. Nothing answers there in the emulation.
    ns.addRoute(defaultRoute(), eth0, { gateway: (this.spec.nodeNetwork.net + 1) >>> 0 });
    const gateway = (spec.podCIDR.net + 1) >>> 0;
    const cni0 = new Bridge(this.sim, "cni0", podMac(gateway), this.podMTU);
    // Kubernetes nodes run with net.bridge.bridge-nf-call-iptables=1 (kube-proxy requires it).
    cni0.nfCallIptables = nodeSysctl(this.spec.nodeSettings, "net.bridge.bridge-nf-call-iptables") === 1;
    ns.addDevice(cni0);
    ns.addAddress(cni0, gateway, spec.podCIDR.prefixLen);
    this.devices.push(cni0);
    let flannel: VxlanDevice | null = null;
    if (this.spec.overlay === "vxlan") {
      flannel = new VxlanDevice(this.sim, "flannel.1", localMac(this.sim), this.spec.nodeMTU - VXLAN_OVERHEAD, FLANNEL_VNI, spec.internalIP);
      ns.addDevice(flannel);
      // flannel gives flannel.1 the network address of the node's Pod range, as a /32.
      ns.addAddress(flannel, spec.podCIDR.net, 32);
      this.devices.push(flannel);
    }
    const netfilter = new NamespaceNetfilter(ns, this.initialRules(spec), { engine: "compiled", describeRule: (_chain, rule) => printRuleSpec(rule), ...conntrackSettings(this.spec.nodeSettings) });
    // nodeCPUs: the node's receive processing runs on that many softirq CPUs (netdev/softirq.ts).
    if (this.spec.nodeSettings?.cpus !== undefined) ns.setSoftirqCpus(this.spec.nodeSettings.cpus);
    ns.nf = netfilter;
    cni0.nfHooks = netfilter;
    this.nodes.set(spec.name, { spec, ns, eth0, cni0, flannel, gateway, netfilter, pods: [] });
  }

  /** The node's rules before kube-proxy: flannel's masquerade and forward rules. */
  private initialRules(node: NodeSpec) {
    const rs = newRuleset();
    applyRestore(rs, parseRestore(flannelRulesText(this.spec, node), `flannel rules of ${node.name}`));
    return rs;
  }

  /** Routes (and for VXLAN the neighbour and FDB entries) flannel installs for every other node. */
  private wireOverlay(): void {
    for (const local of this.nodes.values()) {
      for (const remote of this.nodes.values()) {
        if (remote === local) continue;
        const cidr = remote.spec.podCIDR;
        if (local.flannel !== null && remote.flannel !== null) {
          // 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink
          local.ns.addRoute(cidr, local.flannel, { gateway: cidr.net, onlink: true, proto: "flannel" });
          local.ns.addPermanentNeighbour(local.flannel, cidr.net, remote.flannel.mac);
          local.flannel.fdb.set(remote.flannel.mac, remote.spec.internalIP);
        } else {
          // host-gw: 10.244.2.0/24 via 192.168.56.12 dev eth0
          local.ns.addRoute(cidr, local.eth0, { gateway: remote.spec.internalIP, proto: "flannel" });
        }
      }
    }
  }

  /** Sets up one Pod's sandbox (CNI ADD): its netns, veth pair and address. Runtime additions: pod-lifecycle.ts. */
  addPod(spec: PodSpec): PodRuntime {
    const node = this.nodes.get(spec.nodeName);
    if (!node) throw new Error(`pod ${spec.namespace}/${spec.name}: unknown node ${spec.nodeName}`);
    const key = `${spec.namespace}/${spec.name}`;
    if (spec.hostNetwork) {
      const rt: PodRuntime = { spec, key, ns: node.ns, node, eth0: null, hostVeth: null };
      this.pods.set(key, rt);
      node.pods.push(rt);
      return rt;
    }
    const ns = new NetworkNamespace(this.sim, key);
    const [eth0, hostVeth] = createVethPair(
      this.sim,
      { name: "eth0", mac: podMac(spec.podIP), mtu: this.podMTU },
      { name: vethName(key), mac: localMac(this.sim), mtu: this.podMTU },
    );
    ns.addDevice(eth0);
    const cidr = node.spec.podCIDR;
    ns.addAddress(eth0, spec.podIP, cidr.prefixLen);
    // The CNI config flannel writes: a route to the cluster CIDR and the default, both via cni0.
    ns.addRoute(this.spec.clusterCIDR, eth0, { gateway: node.gateway });
    ns.addRoute(defaultRoute(), eth0, { gateway: node.gateway });
    node.cni0.addPort(hostVeth);
    // The bridge CNI plugin's hairpinMode (flannel's cni-conf.json sets it): a Pod's frames
    // may come back out of its own port, as a Pod reaching itself through a Service needs.
    hostVeth.hairpin = this.spec.nodeSettings?.hairpinMode ?? true;
    node.ns.addDevice(hostVeth);
    this.devices.push(ns.lo, eth0, hostVeth);
    const rt: PodRuntime = { spec, key, ns, node, eth0, hostVeth };
    this.pods.set(key, rt);
    node.pods.push(rt);
    return rt;
  }

  private addExternal(spec: ExternalHostSpec): void {
    const ns = new NetworkNamespace(this.sim, spec.name);
    this.devices.push(ns.lo);
    const eth0 = this.attachToSwitch(ns, spec.ip, spec.name);
    this.externals.set(spec.name, { spec, ns, eth0 });
  }

  /** The Pod (or hostNetwork Pod's node) owning an address, for printing. */
  whoHas(ip: number): string | null {
    for (const p of this.pods.values()) if (p.spec.podIP === ip && !p.spec.hostNetwork) return `pod/${p.key}`;
    for (const n of this.nodes.values()) {
      if (n.spec.internalIP === ip || n.gateway === ip || n.spec.podCIDR.net === ip) return `node/${n.spec.name}`;
    }
    for (const e of this.externals.values()) if (e.spec.ip === ip) return `ext/${e.spec.name}`;
    return null;
  }

  /** Human description of an address: `10.244.2.2 (pod/default/web-1)`. */
  describe(ip: number): string {
    const who = this.whoHas(ip);
    return who ? `${formatIpv4(ip)} (${who})` : formatIpv4(ip);
  }
}

function defaultRoute(): Ipv4Cidr {
  return { net: 0, prefixLen: 0, mask: prefixMask(0) };
}

/** The CNI bridge plugin's MAC for an address: 0a:58 followed by the four IPv4 octets. */
export function podMac(ip: number): number {
  return 0x0a58 * 2 ** 32 + (ip >>> 0);
}

/** Node NICs get QEMU-style MACs 52:54:00:xx:xx:xx from the low three octets of their IP. */
export function nodeMac(ip: number): number {
  return 0x525400 * 2 ** 24 + (ip & 0xffffff);
}

/** A random locally administered unicast MAC (as the kernel gives veths and VXLAN devices). */
function localMac(sim: Simulator): number {
  const hi = (sim.rng.nextU32() & 0xfeff) | 0x0200; // clear multicast bit, set local bit
  return hi * 2 ** 32 + sim.rng.nextU32();
}

/** `veth` + 8 hex digits, stable per Pod (the CNI plugin picks random ones). */
export function vethName(podKey: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < podKey.length; i++) h = Math.imul(h ^ podKey.charCodeAt(i), 0x01000193);
  return `veth${(h >>> 0).toString(16).padStart(8, "0")}`;
}

/** The conntrack options a node's sysctls set (only those the file gives; the rest keep the kernel's defaults). */
function conntrackSettings(settings: NodeSettings | undefined): Pick<NetfilterOptions, "conntrackMax" | "conntrackTimeouts" | "tcpBeLiberal" | "kernel"> {
  if (!settings) return {};
  const timeouts: Partial<Timeouts> = {};
  if (settings.udpTimeout !== undefined) timeouts.udp = settings.udpTimeout;
  if (settings.udpTimeoutStream !== undefined) timeouts.udpStream = settings.udpTimeoutStream;
  if (settings.tcpTimeoutEstablished !== undefined) timeouts.tcpEstablished = settings.tcpTimeoutEstablished;
  return {
    ...(settings.conntrackMax !== undefined ? { conntrackMax: settings.conntrackMax } : {}),
    ...(Object.keys(timeouts).length > 0 ? { conntrackTimeouts: timeouts } : {}),
    ...(settings.tcpBeLiberal !== undefined ? { tcpBeLiberal: settings.tcpBeLiberal === 1 } : {}),
    ...(settings.kernelVersion !== undefined ? { kernel: parseKernelVersion(settings.kernelVersion)! } : {}),
  };
}
