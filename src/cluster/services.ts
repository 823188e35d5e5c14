/**
 * Services in the emulated cluster: reads the Service and EndpointSlice documents (adding
 * the `kubernetes` and `kube-dns` Services a real cluster has), runs kube-proxy on every
 * node in the cluster's mode (proxy-modes/: iptables or IPVS, behind one interface),
 * re-syncs when objects change (a partial sync, and the deletion of stale UDP conntrack
 * entries), and gives CoreDNS its records.
 */
import { formatCidr, formatIpv4, parseIpv4 } from "../base/index.js";
import {
  type ConntrackEntryView,
  type ConntrackFilter,
  type EndpointSlice,
  type IptablesProxierOptions,
  type IptablesSyncResult,
  type KubeDocument,
  type KubeModel,
  type KubePod,
  type ProxyState,
  type Service,
  buildKubeModel,
  builtinServiceDocuments,
  changedServiceKeys,
  slicesByServiceOf,
  staleConntrackFilters,
  clusterIPOnlyConntrackFilters,
} from "../kube/index.js";
import { IpvsMode, type KubeProxyMode, createProxyMode } from "./proxy-modes/index.js";
import type { ModelChange } from "./proxy-modes/mode.js";
import type { KubeProxyConfig, ProxyMode } from "./spec.js";
import type { Cluster, NodeRuntime } from "./build.js";
import { APISERVER_PORT, type DnsServer, apiserverNode } from "./apps.js";
import { IPPROTO_UDP } from "../wire/ipv4.js";

/** What one node's kube-proxy did on a re-sync. */
export interface SyncOutcome {
  /** iptables mode: the partial sync; null in IPVS mode. */
  sync: IptablesSyncResult | null;
  /** IPVS mode: how many IPVS/ipset/address operations the change needed. */
  ipvsOperations: number;
  conntrackDeleted: number;
  /** Computing the new state (restore text, or virtual servers and their diff), ms. */
  computeMs: number;
  /** Loading it into the node's dataplane (netfilter, IPVS table, ipsets), ms. */
  applyMs: number;
}

/** The CPUs kube-proxy's detectNumCPU finds on a podwire node (a 2-CPU VM). */
export const NODE_CPUS = 2;

/**
 * The nf_conntrack_max kube-proxy sets at start, 0 for none (cmd/kube-proxy getConntrackMax:
 * maxPerCore × CPUs, at least conntrack.min, default 131072; maxPerCore 0 leaves the limit
 * alone). Only an explicit conntrack.maxPerCore applies here; without one podwire keeps the
 * nodes' sysctl.
 */
export function conntrackMaxFor(config: KubeProxyConfig): number {
  const perCore = config.conntrackMaxPerCore;
  if (perCore === undefined || perCore <= 0) return 0;
  return Math.max(perCore * NODE_CPUS, config.conntrackMin ?? 131072);
}

/** kube-proxy flags podwire mirrors (see `podwire rules --help`): the Cluster document's `kubeProxy:` names. */
export type KubeProxyFlags = KubeProxyConfig;

/** The cluster-DNS zone CoreDNS serves. */
export const CLUSTER_DOMAIN = "cluster.local";

/** A ModelChange worked out on first read. */
class LazyModelChange implements ModelChange {
  private changed: Set<string> | null = null;
  private slices: Map<string, EndpointSlice[]> | null = null;
  constructor(
    readonly from: KubeModel,
    readonly to: KubeModel,
  ) {}

  get changedServices(): ReadonlySet<string> {
    return (this.changed ??= changedServiceKeys(this.from, this.to));
  }

  get slicesByService(): ReadonlyMap<string, readonly EndpointSlice[]> {
    return (this.slices ??= slicesByServiceOf(this.to));
  }
}

export class ClusterServices {
  model: KubeModel;
  readonly mode: ProxyMode;
  /** kube-proxy's mode on every node (iptables, IPVS, …), behind one interface. */
  readonly proxy: KubeProxyMode;
  private documents: KubeDocument[];

  constructor(
    readonly cluster: Cluster,
    readonly flags: KubeProxyFlags = {},
  ) {
    const spec = cluster.spec;
    this.proxy = createProxyMode(spec.proxyMode, { cluster, options: (node) => this.options(node), config: () => ({ ...this.cluster.spec.kubeProxy, ...this.flags }) }, spec.source);
    this.mode = spec.proxyMode;
    this.documents = this.withBuiltins(spec.otherDocuments);
    this.model = this.build(this.documents);
  }

  /** The kube model for `docs` plus the built-in Services (what the informers hand kube-proxy). */
  modelFor(docs: readonly KubeDocument[]): KubeModel {
    return this.build(this.withBuiltins(docs));
  }

  private withBuiltins(docs: readonly KubeDocument[]): KubeDocument[] {
    const spec = this.cluster.spec;
    const apiserver = apiserverNode(spec);
    if (!apiserver) return [...docs];
    return [...docs, ...builtinServiceDocuments(docs, { serviceCIDR: formatCidr(spec.serviceCIDR), apiserverAddress: apiserver.internalIP, apiserverPort: APISERVER_PORT })];
  }

  private build(docs: readonly KubeDocument[]): KubeModel {
    const spec = this.cluster.spec;
    const pods: KubePod[] = spec.pods.map((p) => ({ namespace: p.namespace, name: p.name, nodeName: p.nodeName, podIP: p.podIP, labels: p.labels, containers: p.containers }));
    const nodes = spec.nodes.map((n) => ({ name: n.name, internalIP: n.internalIP, podCIDR: n.podCIDR }));
    const opts = spec.serviceNodePortRange === undefined ? { serviceCIDR: formatCidr(spec.serviceCIDR) } : { serviceCIDR: formatCidr(spec.serviceCIDR), nodePortRange: spec.serviceNodePortRange };
    return buildKubeModel(docs, pods, opts, nodes);
  }

  /** kube-proxy's options on one node. */
  options(node: NodeRuntime): IptablesProxierOptions {
    // The Cluster document's kubeProxy block, overridden by command-line flags.
    const f: KubeProxyConfig = { ...this.cluster.spec.kubeProxy, ...this.flags };
    const nft = this.mode === "nftables";
    const clusterCIDR =
      f.detectLocalMode === "NodeCIDR" ? formatCidr(node.spec.podCIDR) : f.clusterCIDR === undefined ? formatCidr(this.cluster.spec.clusterCIDR) : f.clusterCIDR;
    const o: IptablesProxierOptions = {
      hostname: node.spec.name,
      nodeIP: formatIpv4(node.spec.internalIP),
      nodeLabels: node.spec.labels,
      clusterCIDR,
      localAddresses: [formatIpv4(node.spec.internalIP), formatIpv4(node.gateway), "127.0.0.1"],
    };
    const masqueradeAll = nft ? f.nftablesMasqueradeAll : f.masqueradeAll;
    const masqueradeBit = nft ? f.nftablesMasqueradeBit : f.masqueradeBit;
    if (masqueradeAll !== undefined) o.masqueradeAll = masqueradeAll;
    if (masqueradeBit !== undefined) o.masqueradeBit = masqueradeBit;
    if (f.nodePortAddresses !== undefined) o.nodePortAddresses = f.nodePortAddresses;
    if (f.localhostNodePorts !== undefined) o.localhostNodePorts = f.localhostNodePorts;
    if (f.randomFully !== undefined) o.randomFully = f.randomFully;
    if (f.unmarkBeforeMasquerade !== undefined) o.unmarkBeforeMasquerade = f.unmarkBeforeMasquerade;
    if (f.dropInvalid !== undefined) o.dropInvalid = f.dropInvalid;
    if (f.nfacct !== undefined) o.nfacct = f.nfacct;
    if (f.conntrackTCPLiberal !== undefined) o.conntrackTCPLiberal = f.conntrackTCPLiberal;
    return o;
  }

  /** The IPVS mode's state, when the cluster runs IPVS mode (its table, ipsets and last sync per node). */
  get ipvs(): IpvsMode | null {
    return this.proxy instanceof IpvsMode ? this.proxy : null;
  }

  /**
   * Hosts outside the cluster reach Service external IPs and LoadBalancer IPs through a node,
   * as a router or a layer-2 load balancer (one node answering for the address) would send
   * them: a /32 route via the first schedulable node.
   */
  routeExternalAddresses(): void {
    const via = this.cluster.spec.nodes.find((n) => n.schedulable) ?? this.cluster.spec.nodes[0];
    if (!via) return;
    for (const ext of this.cluster.externals.values()) {
      for (const s of this.model.services) {
        for (const text of [...s.externalIPs, ...s.loadBalancerIPs]) {
          const ip = parseIpv4(text);
          if (ip < 0 || ext.ns.routes.routes().some((r) => r.dst.prefixLen === 32 && r.dst.net === ip)) continue;
          ext.ns.addRoute({ net: ip, prefixLen: 32, mask: 0xffffffff }, ext.eth0, { gateway: via.internalIP });
        }
      }
    }
  }

  /** First sync on every node (kube-proxy's first full sync in the cluster's mode). */
  syncAll(): void {
    this.routeExternalAddresses();
    // conntrack.tcpBeLiberal: kube-proxy sets net.netfilter.nf_conntrack_tcp_be_liberal=1.
    if ({ ...this.cluster.spec.kubeProxy, ...this.flags }.conntrackTCPLiberal) {
      for (const node of this.cluster.nodes.values()) node.netfilter.conntrack.tcpBeLiberal = true;
    }
    // conntrack.maxPerCore / min: kube-proxy sets nf_conntrack_max at start (getConntrackMax).
    const max = conntrackMaxFor({ ...this.cluster.spec.kubeProxy, ...this.flags });
    if (max > 0) for (const node of this.cluster.nodes.values()) node.netfilter.conntrack.max = max;
    for (const node of this.cluster.nodes.values()) this.setupTimes.set(node.spec.name, this.proxy.setup(node, this.model));
  }

  /** Per node: how long the first sync took to compute (syncMs) and to load (applyMs). */
  readonly setupTimes = new Map<string, { syncMs: number; applyMs: number }>();

  /**
   * Objects changed (Services or EndpointSlices replaced by `docs`, e.g. an endpoint
   * removed): every node's kube-proxy re-syncs only what changed and deletes the stale UDP
   * conntrack entries (kube-proxy's conntrack cleanup). Returns the partial-sync results.
   */
  update(docs: readonly KubeDocument[]): Map<string, SyncOutcome> {
    this.documents = this.withBuiltins(docs);
    return this.updateTo(this.build(this.documents));
  }

  /** Re-syncs every node to an already built model (see `update`). */
  updateTo(next: KubeModel): Map<string, SyncOutcome> {
    const out = new Map<string, SyncOutcome>();
    const change = this.changeTo(next);
    for (const node of this.cluster.nodes.values()) {
      const r = this.proxy.resync(node, next, change);
      out.set(node.spec.name, { sync: r.sync, ipvsOperations: r.operations, conntrackDeleted: this.cleanConntrack(node, this.model, next), computeMs: r.computeMs, applyMs: r.applyMs });
    }
    this.model = next;
    return out;
  }

  private lastChange: LazyModelChange | null = null;

  /**
   * What changed from the current model to `next` (kube-proxy's change trackers), for the
   * modes' resyncs: worked out when a mode first reads it, once for every node (and kept for
   * the same pair of models, e.g. the sync loop's write-size estimate and then its resync).
   */
  changeTo(next: KubeModel): ModelChange {
    const from = this.model;
    const last = this.lastChange;
    if (last !== null && last.from === from && last.to === next) return last;
    const change = new LazyModelChange(from, next);
    this.lastChange = change;
    return change;
  }

  /**
   * kube-proxy's stale UDP conntrack cleanup on one node after a sync from `before` to
   * `state`, as the configured version does it (`udpConntrackCleanup`, default the v1.32+
   * reconciler); returns the entries deleted.
   */
  private cleanConntrack(node: NodeRuntime, before: ProxyState, state: ProxyState): number {
    const ct = node.netfilter.conntrack;
    const cleanup = { ...this.cluster.spec.kubeProxy, ...this.flags }.udpConntrackCleanup ?? "reconciler";
    let filters: ConntrackFilter[];
    if (cleanup === "cluster-ip-only") {
      filters = clusterIPOnlyConntrackFilters(before, state);
    } else {
      const entries: ConntrackEntryView[] = [];
      for (const c of ct.entries()) {
        if (c.original.proto !== IPPROTO_UDP) continue;
        entries.push({ protocol: "udp", origDst: formatIpv4(c.original.dst), origDstPort: c.original.dport, replySrc: formatIpv4(c.reply.src) });
      }
      filters = staleConntrackFilters(state, entries, "", cleanup === "reconciler-skip-no-endpoints");
    }
    let deleted = 0;
    for (const f of filters) {
      const filter: Parameters<typeof ct.delete>[0] = { proto: 17 };
      if ("replySrc" in f) filter.replySrc = parseIpv4(f.replySrc);
      if ("origDst" in f) filter.origDst = parseIpv4(f.origDst);
      else filter.origDport = f.origDstPort;
      deleted += ct.delete(filter);
    }
    return deleted;
  }



  service(namespace: string, name: string): Service | undefined {
    return this.model.services.find((s) => s.namespace === namespace && s.name === name);
  }

  names(): string[] {
    return this.model.services.map((s) => `${s.namespace}/${s.name}`);
  }

  /** `<svc>.<ns>.svc.cluster.local` A records: the ClusterIP, or for headless Services the ready endpoints. */
  dnsRecords(): Map<string, number[]> {
    const records = new Map<string, number[]>();
    for (const s of this.model.services) {
      if (s.type === "ExternalName") continue;
      const name = `${s.name}.${s.namespace}.svc.${CLUSTER_DOMAIN}`;
      if (s.clusterIP !== null && !s.headless) {
        records.set(name, [parseIpv4(s.clusterIP)]);
        continue;
      }
      const ips: number[] = [];
      for (const slice of this.model.endpointSlices) {
        if (slice.namespace !== s.namespace || slice.serviceName !== s.name) continue;
        for (const ep of slice.endpoints) {
          if (ep.conditions.ready === false) continue;
          for (const a of ep.addresses) if (!ips.includes(parseIpv4(a))) ips.push(parseIpv4(a));
        }
      }
      records.set(name, ips);
    }
    return records;
  }

  /** Gives every CoreDNS server the Service records. */
  publishDns(servers: Iterable<DnsServer>): void {
    const records = this.dnsRecords();
    for (const server of servers) {
      server.clearServices();
      for (const [name, ips] of records) server.setRecords(name, ips);
    }
  }
}
