/**
 * Services in the emulated cluster: reads the Service and EndpointSlice documents (adding
 * the `kubernetes` and `kube-dns` Services a real cluster has), runs kube-proxy's iptables
 * mode on every node — its jump rules and its restore text loaded with `--noflush` into the
 * node's netfilter, as kube-proxy does — re-syncs when objects change (a partial sync, and
 * the deletion of stale UDP conntrack entries), and gives CoreDNS its records.
 */
import { PodwireError, formatCidr, formatIpv4, hostNowMs, parseIpv4 } from "../base/index.js";
import {
  type ConntrackEntryView,
  type IpvsOperation,
  type IpvsProxierOptions,
  type IpvsRealServer,
  type IpvsSyncResult,
  KUBE_IPVS_DEVICE,
  diffIpvs,
  ipvsJumpRulesText,
  syncIpvs,
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
import { IpvsTable } from "../ipvs/index.js";
import { Dummy } from "../netdev/index.js";
import { applyRestore } from "../netfilter/apply-restore.js";
import { IpsetRegistry, applyIpsetRestore, parseIpsetRestore } from "../netfilter/ipset/index.js";
import type { TableName } from "../netfilter/model.js";
import { type RestoreDocument, parseRestore } from "../netfilter/restore-parse.js";
import type { Cluster, NodeRuntime } from "./build.js";
import { APISERVER_PORT, type DnsServer } from "./apps.js";

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
  readonly mode: "iptables" | "ipvs";
  /** Per node, in IPVS mode: the IPVS table, the ipsets and the last sync. */
  private readonly ipvsNodes = new Map<string, { table: IpvsTable; ipsets: IpsetRegistry; dummy: Dummy; last: IpvsSyncResult }>();
  private documents: KubeDocument[];
  /** What each node's kube-proxy last synced, for partial syncs. */
  private readonly synced = new Map<string, { state: ProxyState; result: IptablesSyncResult }>();

  constructor(
    readonly cluster: Cluster,
    readonly flags: KubeProxyFlags = {},
  ) {
    const spec = cluster.spec;
    if (spec.proxyMode === "nftables") {
      throw new PodwireError(
        "E_PROXY_MODE",
        "proxyMode nftables is not emulated yet",
        { file: spec.source, field: "spec.proxyMode" },
        "use proxyMode: iptables (the default) or ipvs",
      );
    }
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

  /** kube-proxy's IPVS-mode state for `node`: virtual servers, ipsets and iptables rules. */
  ipvsSync(node: NodeRuntime): IpvsSyncResult {
    return syncIpvs(this.model, this.ipvsOptions(node));
  }

  /** The IPVS table of a node (IPVS mode only). */
  ipvsTable(node: string): IpvsTable | null {
    return this.ipvsNodes.get(node)?.table ?? null;
  }

  /** The ipsets of a node (IPVS mode only). */
  ipsets(node: string): IpsetRegistry | null {
    return this.ipvsNodes.get(node)?.ipsets ?? null;
  }

  private ipvsOptions(node: NodeRuntime): IpvsProxierOptions {
    // In IPVS mode NodePorts listen on the node's addresses outside kube-ipvs0.
    return { ...this.options(node), localAddresses: [formatIpv4(node.spec.internalIP), formatIpv4(node.gateway)] };
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
    if (this.mode === "ipvs") {
      for (const node of this.cluster.nodes.values()) this.setupIpvs(node);
      return;
    }
    for (const node of this.cluster.nodes.values()) {
      this.load(node, jumpRulesText(), "kube-proxy jump rules");
      const result = syncIptablesRules(this.model, this.options(node));
      this.load(node, result.text, `kube-proxy sync on ${node.spec.name}`);
      this.synced.set(node.spec.name, { state: this.model, result });
    }
  }

  /**
   * IPVS mode on one node, as kube-proxy sets it up: the dummy device kube-ipvs0 holding
   * the virtual addresses, the sysctls it sets (vs/conntrack, expire_nodest_conn,
   * expire_quiescent_template), the virtual servers, the ipsets, then the iptables rules.
   */
  private setupIpvs(node: NodeRuntime): void {
    const t0 = hostNowMs();
    const sync = this.ipvsSync(node);
    const t1 = hostNowMs();
    const dummy = new Dummy(this.cluster.sim, KUBE_IPVS_DEVICE, 0x02_00_00_00_00_00 + (node.spec.internalIP & 0xffffff));
    node.ns.addDevice(dummy);
    this.cluster.devices.push(dummy);
    for (const a of sync.dummyAddresses) node.ns.addAddress(dummy, parseIpv4(a), 32, { noPrefixRoute: true });
    const table = new IpvsTable({ clock: this.cluster.sim.clock, sysctl: { conntrack: 1, expireNodestConn: 1, expireQuiescentTemplate: 1 } });
    for (const vs of sync.virtualServers) applyIpvsOperation(table, node, dummy, null, { op: "addVirtualServer", virtualServer: vs }, vs.realServers);
    const ipsets = new IpsetRegistry(this.cluster.sim.clock);
    applyIpsetRestore(ipsets, parseIpsetRestore(sync.ipsetText, `kube-proxy ipsets on ${node.spec.name}`));
    node.netfilter.env.ipsets = ipsets;
    node.netfilter.ipvs = table;
    this.load(node, ipvsJumpRulesText(), "kube-proxy jump rules (IPVS mode)");
    this.load(node, sync.iptablesText, `kube-proxy sync on ${node.spec.name} (IPVS mode)`);
    this.ipvsNodes.set(node.spec.name, { table, ipsets, dummy, last: sync });
    this.setupTimes.set(node.spec.name, { syncMs: t1 - t0, applyMs: hostNowMs() - t1 });
  }

  /** Per node: how long the first sync took to compute (syncMs) and to load (applyMs). */
  readonly setupTimes = new Map<string, { syncMs: number; applyMs: number }>();

  /** The last IPVS-mode sync of a node (IPVS mode only). */
  lastIpvsSync(node: string): IpvsSyncResult | null {
    return this.ipvsNodes.get(node)?.last ?? null;
  }

  /**
   * Objects changed (Services or EndpointSlices replaced by `docs`, e.g. an endpoint
   * removed): every node's kube-proxy re-syncs only what changed and deletes the stale UDP
   * conntrack entries (kube-proxy's conntrack cleanup). Returns the partial-sync results.
   * In IPVS mode only the changed virtual servers, real servers, ipset entries and
   * addresses are touched.
   */
  update(docs: readonly KubeDocument[]): Map<string, SyncOutcome> {
    this.documents = this.withBuiltins(docs);
    return this.updateTo(this.build(this.documents));
  }

  /** Re-syncs every node to an already built model (see `update`). */
  updateTo(next: KubeModel): Map<string, SyncOutcome> {
    if (this.mode === "ipvs") return this.updateIpvs(next);
    const out = new Map<string, SyncOutcome>();
    for (const node of this.cluster.nodes.values()) {
      const prev = this.synced.get(node.spec.name);
      // A partial sync (kube-proxy v1.26+): only changed Services' chains are written; the
      // chains the last sync created tell which ones became stale.
      const t0 = hostNowMs();
      const result = prev
        ? syncIptablesRules(next, this.options(node), { previous: prev.state, existingNatChains: prev.result.activeNatChains })
        : syncIptablesRules(next, this.options(node));
      const t1 = hostNowMs();
      this.load(node, result.text, `kube-proxy partial sync on ${node.spec.name}`);
      const t2 = hostNowMs();
      this.synced.set(node.spec.name, { state: next, result });
      out.set(node.spec.name, { sync: result, ipvsOperations: 0, conntrackDeleted: this.cleanConntrack(node, next), computeMs: t1 - t0, applyMs: t2 - t1 });
    }
    this.model = next;
    return out;
  }

  private updateIpvs(next: KubeModel): Map<string, SyncOutcome> {
    this.model = next;
    const out = new Map<string, SyncOutcome>();
    for (const node of this.cluster.nodes.values()) {
      const state = this.ipvsNodes.get(node.spec.name);
      if (!state) continue;
      const t0 = hostNowMs();
      const sync = this.ipvsSync(node);
      const diff = diffIpvs(state.last, sync);
      const t1 = hostNowMs();
      for (const op of diff.operations) applyIpvsOperation(state.table, node, state.dummy, state.ipsets, op, []);
      if (diff.iptablesChanged) this.load(node, sync.iptablesText, `kube-proxy sync on ${node.spec.name} (IPVS mode)`);
      const t2 = hostNowMs();
      state.last = sync;
      out.set(node.spec.name, { sync: null, ipvsOperations: diff.operations.length, conntrackDeleted: this.cleanConntrack(node, next), computeMs: t1 - t0, applyMs: t2 - t1 });
    }
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

  private load(node: NodeRuntime, text: string, label: string): void {
    loadRestore(node, text, label);
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

/** `iptables-restore --noflush` of `text` into a node's netfilter, relinking only the chains it touched. */
export function loadRestore(node: NodeRuntime, text: string, label: string): void {
  const doc = parseRestore(text, label);
  applyRestore(node.netfilter.ruleset, doc, { noflush: true, file: label });
  node.netfilter.rulesChanged(changedChains(doc));
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

/** Carries out one of kube-proxy's IPVS operations on a node (what its netlink calls do). */
function applyIpvsOperation(table: IpvsTable, node: NodeRuntime, dummy: Dummy, ipsets: IpsetRegistry | null, op: IpvsOperation, realServers: readonly IpvsRealServer[]): void {
  const key = (vs: { protocol: string; address: string; port: number }) => ({ protocol: vs.protocol.toLowerCase() as "tcp" | "udp", addr: parseIpv4(vs.address), port: vs.port });
  const keyOf = (name: string) => {
    const m = /^(.+):(\d+)\/(\w+)$/.exec(name);
    if (!m) throw new Error(`bad virtual server name ${name}`);
    return key({ protocol: m[3]!, address: m[1]!, port: Number(m[2]) });
  };
  const dest = (rs: IpvsRealServer) => ({ addr: parseIpv4(rs.address), port: rs.port, weight: rs.weight, fwd: "masq" as const });
  switch (op.op) {
    case "addVirtualServer":
    case "editVirtualServer": {
      const vs = op.virtualServer;
      const opts = { scheduler: vs.scheduler, persistent: vs.persistentTimeout > 0 ? vs.persistentTimeout : (false as const) };
      if (op.op === "addVirtualServer") table.addService(key(vs), opts);
      else table.editService(key(vs), opts);
      for (const rs of realServers) table.addDest(key(vs), dest(rs));
      return;
    }
    case "deleteVirtualServer":
      table.deleteService(key(op.virtualServer));
      return;
    case "addRealServer":
      table.addDest(keyOf(op.virtualServer), dest(op.realServer));
      return;
    case "editRealServer":
      table.editDest(keyOf(op.virtualServer), dest(op.realServer));
      return;
    case "deleteRealServer":
      table.deleteDest(keyOf(op.virtualServer), parseIpv4(op.realServer.address), op.realServer.port);
      return;
    case "addIpsetEntry":
      ipsets?.add(op.set, op.entry, {}, true);
      return;
    case "deleteIpsetEntry":
      ipsets?.del(op.set, op.entry, true);
      return;
    case "addAddress":
      node.ns.addAddress(dummy, parseIpv4(op.address), 32, { noPrefixRoute: true });
      return;
    case "deleteAddress":
      node.ns.removeAddress(dummy, parseIpv4(op.address));
      return;
  }
}
