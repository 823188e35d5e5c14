/**
 * Services in the emulated cluster: reads the Service and EndpointSlice documents (adding
 * the `kubernetes` and `kube-dns` Services a real cluster has), runs kube-proxy's iptables
 * mode on every node — its jump rules and its restore text loaded with `--noflush` into the
 * node's netfilter, as kube-proxy does — re-syncs when objects change (a partial sync, and
 * the deletion of stale UDP conntrack entries), and gives CoreDNS its records.
 */
import { PodwireError, formatCidr, formatIpv4, parseIpv4 } from "../base/index.js";
import {
  type ConntrackEntryView,
  type IptablesProxierOptions,
  type IptablesSyncResult,
  type KubeDocument,
  type KubeModel,
  type KubePod,
  type ProxyState,
  type Service,
  buildKubeModel,
  builtinServiceDocuments,
  jumpRulesText,
  staleConntrackFilters,
  syncIptablesRules,
} from "../kube/index.js";
import { applyRestore } from "../netfilter/apply-restore.js";
import type { TableName } from "../netfilter/model.js";
import { type RestoreDocument, parseRestore } from "../netfilter/restore-parse.js";
import type { Cluster, NodeRuntime } from "./build.js";
import { APISERVER_PORT, type DnsServer } from "./apps.js";

/** kube-proxy flags podwire mirrors (see `podwire rules --help`). */
export interface KubeProxyFlags {
  /** `--cluster-cidr` (the local-traffic detector); null for none. Default: the cluster's. */
  clusterCIDR?: string | null;
  masqueradeAll?: boolean;
  masqueradeBit?: number;
  nodePortAddresses?: string[];
  localhostNodePorts?: boolean;
  randomFully?: boolean;
  nfacct?: boolean;
}

/** The cluster-DNS zone CoreDNS serves. */
export const CLUSTER_DOMAIN = "cluster.local";

export class ClusterServices {
  model: KubeModel;
  private documents: KubeDocument[];
  /** What each node's kube-proxy last synced, for partial syncs. */
  private readonly synced = new Map<string, { state: ProxyState; result: IptablesSyncResult }>();

  constructor(
    readonly cluster: Cluster,
    readonly flags: KubeProxyFlags = {},
  ) {
    const spec = cluster.spec;
    if (spec.proxyMode !== "iptables") {
      throw new PodwireError(
        "E_PROXY_MODE",
        `proxyMode ${spec.proxyMode} is not emulated yet`,
        { file: spec.source, field: "spec.proxyMode" },
        "use proxyMode: iptables (the default)",
      );
    }
    this.documents = this.withBuiltins(spec.otherDocuments);
    this.model = this.build(this.documents);
  }

  private withBuiltins(docs: readonly KubeDocument[]): KubeDocument[] {
    const spec = this.cluster.spec;
    const apiserver = spec.nodes.find((n) => n.controlPlane) ?? spec.nodes[0];
    if (!apiserver) return [...docs];
    return [...docs, ...builtinServiceDocuments(docs, { serviceCIDR: formatCidr(spec.serviceCIDR), apiserverAddress: apiserver.internalIP, apiserverPort: APISERVER_PORT })];
  }

  private build(docs: readonly KubeDocument[]): KubeModel {
    const spec = this.cluster.spec;
    const pods: KubePod[] = spec.pods.map((p) => ({ namespace: p.namespace, name: p.name, nodeName: p.nodeName, podIP: p.podIP, labels: p.labels, containers: p.containers }));
    const nodes = spec.nodes.map((n) => ({ name: n.name, internalIP: n.internalIP, podCIDR: n.podCIDR }));
    return buildKubeModel(docs, pods, { serviceCIDR: formatCidr(spec.serviceCIDR) }, nodes);
  }

  /** kube-proxy's options on one node. */
  options(node: NodeRuntime): IptablesProxierOptions {
    const f = this.flags;
    const clusterCIDR = f.clusterCIDR === undefined ? formatCidr(this.cluster.spec.clusterCIDR) : f.clusterCIDR;
    const o: IptablesProxierOptions = {
      hostname: node.spec.name,
      nodeIP: formatIpv4(node.spec.internalIP),
      nodeLabels: node.spec.labels,
      clusterCIDR,
      localAddresses: [formatIpv4(node.spec.internalIP), formatIpv4(node.gateway), "127.0.0.1"],
    };
    if (f.masqueradeAll !== undefined) o.masqueradeAll = f.masqueradeAll;
    if (f.masqueradeBit !== undefined) o.masqueradeBit = f.masqueradeBit;
    if (f.nodePortAddresses !== undefined) o.nodePortAddresses = f.nodePortAddresses;
    if (f.localhostNodePorts !== undefined) o.localhostNodePorts = f.localhostNodePorts;
    if (f.randomFully !== undefined) o.randomFully = f.randomFully;
    if (f.nfacct !== undefined) o.nfacct = f.nfacct;
    return o;
  }

  /** The restore text kube-proxy would pass to `iptables-restore --noflush` on `node`. */
  restoreText(node: NodeRuntime): string {
    return syncIptablesRules(this.model, this.options(node)).text;
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

  /** First sync on every node: the jump rules, then the full restore text. */
  syncAll(): void {
    this.routeExternalAddresses();
    for (const node of this.cluster.nodes.values()) {
      this.load(node, jumpRulesText(), "kube-proxy jump rules");
      const result = syncIptablesRules(this.model, this.options(node));
      this.load(node, result.text, `kube-proxy sync on ${node.spec.name}`);
      this.synced.set(node.spec.name, { state: this.model, result });
    }
  }

  /**
   * Objects changed (Services or EndpointSlices replaced by `docs`, e.g. an endpoint
   * removed): every node's kube-proxy re-syncs only what changed and deletes the stale UDP
   * conntrack entries (kube-proxy's conntrack cleanup). Returns the partial-sync results.
   */
  update(docs: readonly KubeDocument[]): Map<string, { sync: IptablesSyncResult; conntrackDeleted: number }> {
    this.documents = this.withBuiltins(docs);
    const next = this.build(this.documents);
    const out = new Map<string, { sync: IptablesSyncResult; conntrackDeleted: number }>();
    for (const node of this.cluster.nodes.values()) {
      const prev = this.synced.get(node.spec.name);
      // A partial sync (kube-proxy v1.26+): only changed Services' chains are written; the
      // chains the last sync created tell which ones became stale.
      const result = prev
        ? syncIptablesRules(next, this.options(node), { previous: prev.state, existingNatChains: prev.result.activeNatChains })
        : syncIptablesRules(next, this.options(node));
      this.load(node, result.text, `kube-proxy partial sync on ${node.spec.name}`);
      this.synced.set(node.spec.name, { state: next, result });
      out.set(node.spec.name, { sync: result, conntrackDeleted: this.cleanConntrack(node, next) });
    }
    this.model = next;
    return out;
  }

  /** kube-proxy's stale UDP conntrack cleanup on one node; returns the entries deleted. */
  private cleanConntrack(node: NodeRuntime, state: ProxyState): number {
    const ct = node.netfilter.conntrack;
    const entries: ConntrackEntryView[] = [];
    for (const c of ct.entries()) {
      if (c.original.proto !== 17) continue;
      entries.push({ protocol: "udp", origDst: formatIpv4(c.original.dst), origDstPort: c.original.dport, replySrc: formatIpv4(c.reply.src) });
    }
    let deleted = 0;
    for (const f of staleConntrackFilters(state, entries)) {
      const filter: Parameters<typeof ct.delete>[0] = { proto: 17, replySrc: parseIpv4(f.replySrc) };
      if ("origDst" in f) filter.origDst = parseIpv4(f.origDst);
      else filter.origDport = f.origDstPort;
      deleted += ct.delete(filter);
    }
    return deleted;
  }

  /** `iptables-restore --noflush` of `text` into the node's netfilter. */
  private load(node: NodeRuntime, text: string, label: string): void {
    const doc = parseRestore(text, label);
    applyRestore(node.netfilter.ruleset, doc, { noflush: true, file: label });
    node.netfilter.rulesChanged(changedChains(doc));
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

/** The chains a restore document touches, per table (for an incremental relink). */
function changedChains(doc: RestoreDocument): Map<TableName, Set<string>> {
  const out = new Map<TableName, Set<string>>();
  for (const t of doc.tables) {
    const set = out.get(t.name) ?? new Set<string>();
    for (const d of t.chainDecls) set.add(d.name);
    for (const c of t.commands) if ("chain" in c && c.chain) set.add(c.chain);
    out.set(t.name, set);
  }
  return out;
}
