/**
 * kube-proxy's nftables mode as a pure function: Services + EndpointSlices + node facts +
 * flags → the `nft -f` transaction that pkg/proxy/nftables/proxier.go (syncProxyRules,
 * setupNFTables, writeServiceToEndpointRules) hands to knftables, line for line, in
 * knftables' text format (`add table ip kube-proxy { comment "rules for kube-proxy" ; }`,
 * `add chain …`, `flush chain …`, `add rule …`, `add set/map …`, `add/delete element …`,
 * `delete chain/set …`).
 *
 * Followed version: the table layout and rule text of kubernetes/kubernetes
 * pkg/proxy/nftables/proxier_test.go at commit 81810de635aa13aa0a32992f6def3aa9d6025ebc
 * (TestOverallNFTablesRules: filter-prerouting-pre-dnat and filter-output-pre-dnat at -110,
 * filter-input/forward/output at 0, the ClusterIP masquerade rule without a port match),
 * and the sync logic of proxier.go as of the nftElementStorage / partial-sync code
 * (GoogleCloudPlatform/kubernetes mirror 3a65f31d88c1f0bd79fb7c4d2800600a31aee8f1, the newest
 * proxier.go readable here; its base-chain list predates the test's, so the base chains and
 * jump rules follow the test).
 *
 * Service ports are visited in sorted order (namespace/name/port/protocol) where kube-proxy
 * walks a Go map; leftover elements and stale chains are emitted sorted.
 *
 * Sync model (mirrors proxier.go):
 * - Full sync (the first one, or when asked): setupNFTables (table, base chains — on the
 *   process's first sync each base chain is first added bare and deleted so a changed
 *   priority can be re-created —, fixed chains, sets and maps), every service chain added,
 *   flushed and rewritten. Set/map elements are diffed against what the kernel holds; when
 *   the table does not exist yet the six containers are flushed instead.
 * - Partial sync: only Services whose Service or endpoints changed get their chains
 *   rewritten; every element is still ensured (diffed against the previous state).
 * - Service chains in the kernel that are no longer used are flushed and remembered; a later
 *   sync, at least one second after, deletes them in a separate transaction run first
 *   (`cleanupText`). Unused affinity sets are deleted at once.
 */
import { cidrContains, formatCidr, formatIpv4, parseCidr } from "../base/index.js";
import { buildEndpointsMap, type EndpointInfo } from "./endpoints-map.js";
import {
  isNftAffinitySetName,
  isNftServiceChainName,
  nftEndpointNames,
  nftServicePortChains,
  type NftServicePortChains,
} from "./nftables-names.js";
import type { ProxyState } from "./objects.js";
import { resolveOptions, type IptablesProxierOptions, type ResolvedOptions } from "./proxier-options.js";
import { allServicePorts, policyChains, portExternallyAccessible, usesClusterEndpoints, usesLocalEndpoints, type ServicePortInfo } from "./service-ports.js";
import { categorizeEndpoints } from "./topology.js";

export * from "./nftables-names.js";

export const NFT_TABLE = "kube-proxy";
export const NFT_FAMILY = "ip";

// Fixed chains.
export const NFT_FILTER_PREROUTING_PRE_DNAT = "filter-prerouting-pre-dnat";
export const NFT_FILTER_OUTPUT_PRE_DNAT = "filter-output-pre-dnat";
export const NFT_FILTER_INPUT = "filter-input";
export const NFT_FILTER_FORWARD = "filter-forward";
export const NFT_FILTER_OUTPUT = "filter-output";
export const NFT_NAT_PREROUTING = "nat-prerouting";
export const NFT_NAT_OUTPUT = "nat-output";
export const NFT_NAT_POSTROUTING = "nat-postrouting";
export const NFT_SERVICES_CHAIN = "services";
export const NFT_SERVICE_ENDPOINTS_CHECK = "service-endpoints-check";
export const NFT_NODEPORT_ENDPOINTS_CHECK = "nodeport-endpoints-check";
export const NFT_CLUSTER_IPS_CHECK = "cluster-ips-check";
export const NFT_FIREWALL_CHECK = "firewall-check";
export const NFT_REJECT_CHAIN = "reject-chain";
export const NFT_MARK_MASQ_CHAIN = "mark-for-masquerade";
export const NFT_MASQUERADING_CHAIN = "masquerading";

// Sets and maps.
export const NFT_CLUSTER_IPS_SET = "cluster-ips";
export const NFT_NODEPORT_IPS_SET = "nodeport-ips";
export const NFT_SERVICE_IPS_MAP = "service-ips";
export const NFT_SERVICE_NODEPORTS_MAP = "service-nodeports";
export const NFT_NO_ENDPOINT_SERVICES_MAP = "no-endpoint-services";
export const NFT_NO_ENDPOINT_NODEPORTS_MAP = "no-endpoint-nodeports";
export const NFT_FIREWALL_IPS_MAP = "firewall-ips";

export interface NftBaseChain {
  name: string;
  type: "filter" | "nat";
  hook: "prerouting" | "input" | "forward" | "output" | "postrouting";
  /** knftables writes the priority as a number (ParsePriority). */
  priority: number;
}

/** nftablesBaseChains, in the newer layout (pre-DNAT filter chains at dstnat-10, the rest at filter). */
export const NFT_BASE_CHAINS: readonly NftBaseChain[] = [
  { name: NFT_FILTER_PREROUTING_PRE_DNAT, type: "filter", hook: "prerouting", priority: -110 },
  { name: NFT_FILTER_OUTPUT_PRE_DNAT, type: "filter", hook: "output", priority: -110 },
  { name: NFT_FILTER_INPUT, type: "filter", hook: "input", priority: 0 },
  { name: NFT_FILTER_FORWARD, type: "filter", hook: "forward", priority: 0 },
  { name: NFT_FILTER_OUTPUT, type: "filter", hook: "output", priority: 0 },
  { name: NFT_NAT_PREROUTING, type: "nat", hook: "prerouting", priority: -100 },
  { name: NFT_NAT_OUTPUT, type: "nat", hook: "output", priority: -100 },
  { name: NFT_NAT_POSTROUTING, type: "nat", hook: "postrouting", priority: 100 },
];

export interface NftJumpChain {
  dst: string;
  src: string;
  extra: string;
}

/** nftablesJumpChains: the regular chains jumped to from the base chains. */
export const NFT_JUMP_CHAINS: readonly NftJumpChain[] = [
  // reject is only valid in input/forward/output hooks (kernels before 5.9).
  { dst: NFT_NODEPORT_ENDPOINTS_CHECK, src: NFT_FILTER_INPUT, extra: "ct state new" },
  { dst: NFT_SERVICE_ENDPOINTS_CHECK, src: NFT_FILTER_INPUT, extra: "ct state new" },
  { dst: NFT_SERVICE_ENDPOINTS_CHECK, src: NFT_FILTER_FORWARD, extra: "ct state new" },
  { dst: NFT_SERVICE_ENDPOINTS_CHECK, src: NFT_FILTER_OUTPUT, extra: "ct state new" },
  { dst: NFT_FIREWALL_CHECK, src: NFT_FILTER_PREROUTING_PRE_DNAT, extra: "ct state new" },
  { dst: NFT_FIREWALL_CHECK, src: NFT_FILTER_OUTPUT_PRE_DNAT, extra: "ct state new" },
  { dst: NFT_SERVICES_CHAIN, src: NFT_NAT_OUTPUT, extra: "" },
  { dst: NFT_SERVICES_CHAIN, src: NFT_NAT_PREROUTING, extra: "" },
  { dst: NFT_MASQUERADING_CHAIN, src: NFT_NAT_POSTROUTING, extra: "" },
  { dst: NFT_CLUSTER_IPS_CHECK, src: NFT_FILTER_FORWARD, extra: "ct state new" },
  { dst: NFT_CLUSTER_IPS_CHECK, src: NFT_FILTER_OUTPUT, extra: "ct state new" },
];

export interface NftablesProxierOptions extends IptablesProxierOptions {
  /**
   * The ServiceCIDRs of this family (kube-proxy learns them from ServiceCIDR objects):
   * traffic to an unallocated address in them is dropped. Empty or absent: no drop rule.
   */
  serviceCIDRs?: readonly string[];
}

/** What the kernel's `ip kube-proxy` table holds, as kube-proxy would list it. */
export interface NftablesKernelState {
  chains: readonly string[];
  sets: readonly string[];
  /** Elements of the six element containers: container name → key text → value text. */
  elements: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

/** What a sync leaves behind for the next one: the kernel view plus kube-proxy's memory. */
export interface NftablesProxierState extends NftablesKernelState {
  objects: ProxyState;
  /** Service chains flushed as stale, with the time (ms) they were last flushed. */
  staleChains: Readonly<Record<string, number>>;
  /** The time (ms) of this sync. */
  time: number;
}

export interface NftablesSyncOptions {
  /** The previous sync's state: a partial sync (only changed Services are rewritten). */
  previous?: NftablesProxierState;
  /** Force a full sync even with `previous` (kube-proxy's needFullSync / hourly resync). */
  fullSync?: boolean;
  /**
   * Without `previous`: what the kernel already holds (kube-proxy restarting onto an existing
   * table). Absent: the table does not exist yet.
   */
  existing?: NftablesKernelState;
  /** Time of this sync in ms; default: 60 s after the previous sync, or 0. */
  now?: number;
}

export interface NftablesSyncResult {
  /**
   * The transaction kube-proxy runs before the sync: `delete chain` for service chains that
   * have been stale (flushed) for at least a second. "" when there are none.
   */
  cleanupText: string;
  /** The sync transaction (`nft -f` input). */
  text: string;
  fullSync: boolean;
  /** `ns/name` of the Services whose chains were written (all of them in a full sync). */
  writtenServices: string[];
  /** Service chains deleted by `cleanupText`, sorted. */
  deletedStaleChains: string[];
  /** Service chains flushed as stale by `text`, sorted. */
  flushedStaleChains: string[];
  /** Affinity sets deleted by `text`, sorted. */
  deletedAffinitySets: string[];
  /** Service and endpoint chains this sync uses, sorted. */
  activeChains: string[];
  state: NftablesProxierState;
}

const q = (s: string): string => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

/** A knftables transaction being written, tracking which chains and sets exist after it. */
class Tx {
  readonly lines: string[] = [];
  constructor(
    readonly chains: Set<string>,
    readonly sets: Set<string>,
  ) {}

  private op(verb: string, kind: string, rest: string): void {
    this.lines.push(`${verb} ${kind} ${NFT_FAMILY} ${NFT_TABLE}${rest === "" ? "" : " " + rest}`);
  }

  addTable(comment: string): void {
    this.lines.push(`add table ${NFT_FAMILY} ${NFT_TABLE} { comment ${q(comment)} ; }`);
  }

  addChain(name: string, base?: NftBaseChain, comment?: string): void {
    let props = "";
    if (base || comment !== undefined) {
      props = " {";
      if (base) props += ` type ${base.type} hook ${base.hook} priority ${base.priority} ;`;
      if (comment !== undefined) props += ` comment ${q(comment)} ;`;
      props += " }";
    }
    this.op("add", "chain", name + props);
    this.chains.add(name);
  }

  flushChain(name: string): void {
    this.op("flush", "chain", name);
  }

  deleteChain(name: string): void {
    this.op("delete", "chain", name);
    this.chains.delete(name);
  }

  addRule(chain: string, rule: string, comment?: string): void {
    this.op("add", "rule", `${chain} ${rule}${comment === undefined ? "" : ` comment ${q(comment)}`}`);
  }

  addSet(name: string, type: string, opts: { flags?: string[]; timeoutSeconds?: number; comment?: string } = {}): void {
    let props = ` { type ${type} ;`;
    if (opts.flags && opts.flags.length > 0) props += ` flags ${opts.flags.join(",")} ;`;
    if (opts.timeoutSeconds !== undefined) props += ` timeout ${opts.timeoutSeconds}s ;`;
    if (opts.comment !== undefined) props += ` comment ${q(opts.comment)} ;`;
    this.op("add", "set", name + props + " }");
    this.sets.add(name);
  }

  addMap(name: string, type: string, comment: string): void {
    this.op("add", "map", `${name} { type ${type} ; comment ${q(comment)} ; }`);
  }

  flush(kind: "set" | "map", name: string): void {
    this.op("flush", kind, name);
  }

  deleteSet(name: string): void {
    this.op("delete", "set", name);
    this.sets.delete(name);
  }

  addElement(container: string, key: string, value: string, comment?: string): void {
    this.op("add", "element", `${container} { ${key}${comment === undefined ? "" : ` comment ${q(comment)}`}${value === "" ? "" : ` : ${value}`} }`);
  }

  deleteElement(container: string, key: string): void {
    this.op("delete", "element", `${container} { ${key} }`);
  }

  text(): string {
    return this.lines.length === 0 ? "" : this.lines.join("\n") + "\n";
  }
}

/** nftElementStorage: the elements kube-proxy believes a set or map holds. */
class ElementStorage {
  readonly elements = new Map<string, string>();
  private leftover = new Set<string>();

  constructor(
    readonly kind: "set" | "map",
    readonly name: string,
    initial?: Readonly<Record<string, string>>,
  ) {
    if (initial) for (const [k, v] of Object.entries(initial)) this.elements.set(k, v);
    this.resetLeftover();
  }

  /** readOrReset: read the kernel's elements, or flush the container when they cannot be read. */
  readOrReset(tx: Tx, kernel: Readonly<Record<string, string>> | undefined): void {
    this.elements.clear();
    if (kernel === undefined) tx.flush(this.kind, this.name);
    else for (const [k, v] of Object.entries(kernel)) this.elements.set(k, v);
    this.resetLeftover();
  }

  private resetLeftover(): void {
    this.leftover = new Set(this.elements.keys());
  }

  ensure(tx: Tx, key: readonly (string | number)[], value: string, comment?: string): void {
    const k = key.join(" . ");
    const existing = this.elements.get(k);
    if (existing !== undefined) {
      if (existing !== value) {
        tx.deleteElement(this.name, k);
        tx.addElement(this.name, k, value, comment);
        this.elements.set(k, value);
      }
      this.leftover.delete(k);
    } else {
      tx.addElement(this.name, k, value, comment);
      this.elements.set(k, value);
    }
  }

  cleanup(tx: Tx): void {
    for (const k of [...this.leftover].sort()) {
      tx.deleteElement(this.name, k);
      this.elements.delete(k);
    }
    this.resetLeftover();
  }

  toRecord(): Record<string, string> {
    return Object.fromEntries([...this.elements].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
}

const CONTAINERS: readonly { kind: "set" | "map"; name: string }[] = [
  { kind: "set", name: NFT_CLUSTER_IPS_SET },
  { kind: "map", name: NFT_SERVICE_IPS_MAP },
  { kind: "map", name: NFT_FIREWALL_IPS_MAP },
  { kind: "map", name: NFT_NO_ENDPOINT_SERVICES_MAP },
  { kind: "map", name: NFT_NO_ENDPOINT_NODEPORTS_MAP },
  { kind: "map", name: NFT_SERVICE_NODEPORTS_MAP },
];

interface Storages {
  clusterIPs: ElementStorage;
  serviceIPs: ElementStorage;
  firewallIPs: ElementStorage;
  noEndpointServices: ElementStorage;
  noEndpointNodePorts: ElementStorage;
  serviceNodePorts: ElementStorage;
}

function storages(from?: NftablesKernelState["elements"]): Storages {
  const [c, s, f, nes, nen, sn] = CONTAINERS.map((x) => new ElementStorage(x.kind, x.name, from?.[x.name]));
  return { clusterIPs: c!, serviceIPs: s!, firewallIPs: f!, noEndpointServices: nes!, noEndpointNodePorts: nen!, serviceNodePorts: sn! };
}

const storageList = (s: Storages): ElementStorage[] => [s.clusterIPs, s.serviceIPs, s.firewallIPs, s.noEndpointServices, s.noEndpointNodePorts, s.serviceNodePorts];

interface NftResolved extends ResolvedOptions {
  serviceCIDRs: string;
  /** nodePortAddresses.GetNodeIPs, loopback addresses left out. */
  nodePortIPs: string[];
}

function resolveNftOptions(options: NftablesProxierOptions): NftResolved {
  const o = resolveOptions(options);
  const cidrs = (options.serviceCIDRs ?? []).map((t) => t.trim()).filter((t) => t !== "" && !t.includes(":"));
  const nodePortIPs: string[] = [];
  if (!o.nodePortMatchAll) {
    for (const ip of o.localAddresses) {
      if (!o.nodePortCidrs.some((c) => cidrContains(c, ip))) continue;
      if (ip >>> 24 === 127) continue; // "localhost NodePorts are not supported"
      const text = formatIpv4(ip);
      if (!nodePortIPs.includes(text)) nodePortIPs.push(text);
    }
  }
  return { ...o, serviceCIDRs: cidrs.join(","), nodePortIPs };
}

/** A signature of everything about one Service that shapes its chains (UpdatedServices). */
function serviceSignatures(state: ProxyState, o: ResolvedOptions): Map<string, string> {
  const eps = buildEndpointsMap(state.endpointSlices, { hostname: o.hostname, nodeHints: o.nodeHints });
  const sigs = new Map<string, string>();
  for (const p of allServicePorts(state.services)) {
    const { chains: _chains, ...rest } = p;
    const endpoints = (eps.get(p.key) ?? []).map((e) => ({ ...e, zoneHints: e.zoneHints && [...e.zoneHints], nodeHints: e.nodeHints && [...e.nodeHints] }));
    sigs.set(p.serviceKey, (sigs.get(p.serviceKey) ?? "") + JSON.stringify([rest, endpoints]));
  }
  return sigs;
}

function ensureChain(tx: Tx, chain: string, created: Set<string>, skip: boolean): void {
  if (created.has(chain)) return;
  created.add(chain);
  if (skip) return;
  tx.addChain(chain);
  tx.flushChain(chain);
}

function setupNFTables(tx: Tx, o: NftResolved, firstSync: boolean, kernel: NftablesKernelState | undefined, st: Storages): void {
  const noLocalhost = "ip daddr != 127.0.0.0/8";
  tx.addTable("rules for kube-proxy");
  if (firstSync) {
    // Re-create the base chains once per process, so a changed priority can be applied.
    for (const bc of NFT_BASE_CHAINS) {
      tx.addChain(bc.name);
      tx.deleteChain(bc.name);
    }
  }
  for (const bc of NFT_BASE_CHAINS) {
    tx.addChain(bc.name, bc);
    tx.flushChain(bc.name);
  }
  const created = new Set<string>();
  for (const jc of NFT_JUMP_CHAINS) {
    ensureChain(tx, jc.dst, created, false);
    tx.addRule(jc.src, [jc.extra, "jump", jc.dst].filter((w) => w !== "").join(" "));
  }
  for (const c of [NFT_SERVICES_CHAIN, NFT_CLUSTER_IPS_CHECK, NFT_MASQUERADING_CHAIN, NFT_MARK_MASQ_CHAIN]) ensureChain(tx, c, created, false);

  tx.addRule(NFT_MARK_MASQ_CHAIN, `mark set mark or ${o.mark}`);
  tx.addRule(NFT_MASQUERADING_CHAIN, `mark and ${o.mark} == 0 return`);
  tx.addRule(NFT_MASQUERADING_CHAIN, `mark set mark xor ${o.mark}`);
  tx.addRule(NFT_MASQUERADING_CHAIN, "masquerade fully-random");

  tx.addSet(NFT_CLUSTER_IPS_SET, "ipv4_addr", { comment: "Active ClusterIPs" });
  tx.addRule(NFT_CLUSTER_IPS_CHECK, `ip daddr @${NFT_CLUSTER_IPS_SET} reject`, "Reject traffic to invalid ports of ClusterIPs");
  if (o.serviceCIDRs.length > 0) {
    tx.addRule(NFT_CLUSTER_IPS_CHECK, `ip daddr { ${o.serviceCIDRs} } drop`, "Drop traffic to unallocated ClusterIPs");
  }

  // nodeport-ips: add+delete to make sure it does not exist, or fill it.
  tx.addSet(NFT_NODEPORT_IPS_SET, "ipv4_addr", { comment: "IPs that accept NodePort traffic" });
  if (o.nodePortMatchAll) {
    tx.deleteSet(NFT_NODEPORT_IPS_SET);
  } else {
    tx.flush("set", NFT_NODEPORT_IPS_SET);
    for (const ip of o.nodePortIPs) tx.addElement(NFT_NODEPORT_IPS_SET, ip, "");
  }

  tx.addMap(NFT_NO_ENDPOINT_SERVICES_MAP, "ipv4_addr . inet_proto . inet_service : verdict", "vmap to drop or reject packets to services with no endpoints");
  tx.addMap(NFT_NO_ENDPOINT_NODEPORTS_MAP, "inet_proto . inet_service : verdict", "vmap to drop or reject packets to service nodeports with no endpoints");

  tx.addChain(NFT_REJECT_CHAIN, undefined, "helper for @no-endpoint-services / @no-endpoint-nodeports");
  tx.flushChain(NFT_REJECT_CHAIN);
  tx.addRule(NFT_REJECT_CHAIN, "reject");

  tx.addRule(NFT_SERVICE_ENDPOINTS_CHECK, `ip daddr . meta l4proto . th dport vmap @${NFT_NO_ENDPOINT_SERVICES_MAP}`);
  if (o.nodePortMatchAll) {
    tx.addRule(NFT_NODEPORT_ENDPOINTS_CHECK, `${noLocalhost} meta l4proto . th dport vmap @${NFT_NO_ENDPOINT_NODEPORTS_MAP}`);
  } else {
    tx.addRule(NFT_NODEPORT_ENDPOINTS_CHECK, `ip daddr @${NFT_NODEPORT_IPS_SET} meta l4proto . th dport vmap @${NFT_NO_ENDPOINT_NODEPORTS_MAP}`);
  }

  tx.addMap(NFT_FIREWALL_IPS_MAP, "ipv4_addr . inet_proto . inet_service : verdict", "destinations that are subject to LoadBalancerSourceRanges");
  ensureChain(tx, NFT_FIREWALL_CHECK, created, false);
  tx.addRule(NFT_FIREWALL_CHECK, `ip daddr . meta l4proto . th dport vmap @${NFT_FIREWALL_IPS_MAP}`);

  tx.addMap(NFT_SERVICE_IPS_MAP, "ipv4_addr . inet_proto . inet_service : verdict", "ClusterIP, ExternalIP and LoadBalancer IP traffic");
  tx.addMap(NFT_SERVICE_NODEPORTS_MAP, "inet_proto . inet_service : verdict", "NodePort traffic");
  tx.addRule(NFT_SERVICES_CHAIN, `ip daddr . meta l4proto . th dport vmap @${NFT_SERVICE_IPS_MAP}`);
  if (o.nodePortMatchAll) {
    tx.addRule(NFT_SERVICES_CHAIN, `fib daddr type local ${noLocalhost} meta l4proto . th dport vmap @${NFT_SERVICE_NODEPORTS_MAP}`);
  } else {
    tx.addRule(NFT_SERVICES_CHAIN, `ip daddr @${NFT_NODEPORT_IPS_SET} meta l4proto . th dport vmap @${NFT_SERVICE_NODEPORTS_MAP}`);
  }

  for (const s of storageList(st)) s.readOrReset(tx, kernel?.elements[s.name]);
}

export function syncNftablesRules(objects: ProxyState, options: NftablesProxierOptions, sync: NftablesSyncOptions = {}): NftablesSyncResult {
  const o = resolveNftOptions(options);
  const prev = sync.previous;
  const now = sync.now ?? (prev ? prev.time + 60_000 : 0);
  const doFullSync = prev === undefined || sync.fullSync === true;
  const firstSync = prev === undefined;

  // What the kernel holds before this sync (undefined: no table yet).
  const kernel: NftablesKernelState | undefined = prev ?? sync.existing;
  const staleChains = new Map<string, number>(Object.entries(prev?.staleChains ?? {}));

  // 1. Delete sufficiently stale chains in their own transaction.
  const kernelChains = new Set(kernel?.chains ?? []);
  const kernelSets = new Set(kernel?.sets ?? []);
  const cleanup = new Tx(kernelChains, kernelSets);
  const deletedStale: string[] = [];
  for (const [chain, modtime] of [...staleChains].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (modtime < now - 1000) {
      cleanup.deleteChain(chain);
      staleChains.delete(chain);
      deletedStale.push(chain);
    }
  }

  // What kube-proxy's List("chains") / List("sets") return during the sync (before it runs).
  const listedChains = [...kernelChains].sort();
  const listedSets = [...kernelSets].sort();

  // 2. The sync transaction.
  const tx = new Tx(kernelChains, kernelSets);
  const st = storages(prev?.elements);
  if (doFullSync) setupNFTables(tx, o, firstSync, kernel, st);

  let changed: Set<string> | null = null;
  if (!doFullSync && prev) {
    const before = serviceSignatures(prev.objects, o);
    const after = serviceSignatures(objects, o);
    changed = new Set();
    for (const [k, v] of after) if (before.get(k) !== v) changed.add(k);
  }

  const endpointsMap = buildEndpointsMap(objects.endpointSlices, { hostname: o.hostname, nodeHints: o.nodeHints });
  const activeChains = new Set<string>();
  const activeAffinitySets = new Set<string>();
  const written = new Set<string>();
  for (const svc of allServicePorts(objects.services)) {
    const skip = changed !== null && !changed.has(svc.serviceKey);
    if (!skip) written.add(svc.serviceKey);
    writeServicePort(tx, o, st, svc, endpointsMap.get(svc.key) ?? [], { skip, activeChains, activeAffinitySets });
  }

  // 3. Stale service chains are flushed now and deleted by a later sync; stale affinity
  // sets are deleted at once. (kube-proxy lists the table; before the first sync there is none.)
  const flushedStale: string[] = [];
  if (kernel) {
    for (const chain of listedChains) {
      if (!isNftServiceChainName(chain)) continue;
      if (!activeChains.has(chain)) {
        tx.flushChain(chain);
        staleChains.set(chain, now);
        flushedStale.push(chain);
      } else {
        staleChains.delete(chain);
      }
    }
  }
  const deletedSets: string[] = [];
  if (kernel) {
    for (const set of listedSets) {
      if (isNftAffinitySetName(set) && !activeAffinitySets.has(set)) {
        tx.deleteSet(set);
        deletedSets.push(set);
      }
    }
  }
  for (const s of storageList(st)) s.cleanup(tx);

  const elements: Record<string, Record<string, string>> = {};
  for (const s of storageList(st)) elements[s.name] = s.toRecord();
  return {
    cleanupText: cleanup.text(),
    text: tx.text(),
    fullSync: doFullSync,
    writtenServices: [...written].sort(),
    deletedStaleChains: deletedStale,
    flushedStaleChains: flushedStale,
    deletedAffinitySets: deletedSets,
    activeChains: [...activeChains].sort(),
    state: {
      objects,
      chains: [...tx.chains].sort(),
      sets: [...tx.sets].sort(),
      elements,
      staleChains: Object.fromEntries([...staleChains].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
      time: now,
    },
  };
}

/** kube-proxy's partial sync: only the Services that changed since `previous` are rewritten. */
export function partialSyncNftablesRules(previous: NftablesProxierState, next: ProxyState, options: NftablesProxierOptions, now?: number): NftablesSyncResult {
  return syncNftablesRules(next, options, { previous, ...(now === undefined ? {} : { now }) });
}

interface PortContext {
  skip: boolean;
  activeChains: Set<string>;
  activeAffinitySets: Set<string>;
}

function writeServicePort(tx: Tx, o: NftResolved, st: Storages, svc: ServicePortInfo, all: readonly EndpointInfo[], ctx: PortContext): void {
  const { proto, spn } = svc;
  const chains: NftServicePortChains = nftServicePortChains(svc);
  const { cluster, local, allReachable, hasAnyEndpoints: hasEndpoints } = categorizeEndpoints(all, svc, { nodeName: o.hostname, zone: o.zone });
  const epNames = (ep: EndpointInfo) => nftEndpointNames(svc, ep.ip, ep.port);
  const skip = ctx.skip;

  for (const ep of allReachable) {
    const n = epNames(ep);
    ensureChain(tx, n.chain, ctx.activeChains, skip);
    if (svc.clientIPAffinity) ctx.activeAffinitySets.add(n.affinitySet);
  }

  const usesClusterPolicyChain = cluster.length > 0 && usesClusterEndpoints(svc);
  if (usesClusterPolicyChain) ensureChain(tx, chains.cluster, ctx.activeChains, skip);
  const usesLocalPolicyChain = local.length > 0 && usesLocalEndpoints(svc);
  if (usesLocalPolicyChain) ensureChain(tx, chains.local, ctx.activeChains, skip);

  const policy = policyChains(svc, chains.cluster, chains.local, hasEndpoints, local.length);
  const internalTrafficChain = policy.internal;
  const hasInternalEndpoints = policy.hasInternal;
  const externalPolicyChain = policy.externalPolicy;
  const hasExternalEndpoints = policy.hasExternal;
  const externalTrafficChain = chains.external;
  const usesExternalTrafficChain = hasEndpoints && portExternallyAccessible(svc);
  if (usesExternalTrafficChain) ensureChain(tx, externalTrafficChain, ctx.activeChains, skip);

  let internalVerdict = "";
  let externalVerdict = "";
  if (!hasEndpoints) {
    internalVerdict = externalVerdict = `goto ${NFT_REJECT_CHAIN}`;
  } else {
    if (!hasInternalEndpoints) internalVerdict = "drop";
    if (!hasExternalEndpoints) externalVerdict = "drop";
  }

  const port = svc.port;
  // The cluster IP.
  st.clusterIPs.ensure(tx, [svc.clusterIP], "");
  if (hasInternalEndpoints) {
    st.serviceIPs.ensure(tx, [svc.clusterIP, proto, port], `goto ${internalTrafficChain}`);
  } else {
    st.noEndpointServices.ensure(tx, [svc.clusterIP, proto, port], internalVerdict, spn);
  }
  // External IPs.
  for (const ip of svc.externalIPs) {
    if (hasEndpoints) st.serviceIPs.ensure(tx, [ip, proto, port], `goto ${externalTrafficChain}`);
    if (!hasExternalEndpoints) st.noEndpointServices.ensure(tx, [ip, proto, port], externalVerdict, spn);
  }
  // Load balancer VIPs.
  const usesFWChain = svc.loadBalancerVIPs.length > 0 && svc.sourceRanges.length > 0;
  if (usesFWChain) ensureChain(tx, chains.firewall, ctx.activeChains, skip);
  for (const ip of svc.loadBalancerVIPs) {
    if (hasEndpoints) st.serviceIPs.ensure(tx, [ip, proto, port], `goto ${externalTrafficChain}`);
    if (usesFWChain) st.firewallIPs.ensure(tx, [ip, proto, port], `goto ${chains.firewall}`);
  }
  if (!hasExternalEndpoints) {
    for (const ip of svc.loadBalancerVIPs) st.noEndpointServices.ensure(tx, [ip, proto, port], externalVerdict, spn);
  }
  // The node port (loadBalancerSourceRanges do not apply to it).
  if (svc.nodePort !== 0) {
    if (hasEndpoints) st.serviceNodePorts.ensure(tx, [proto, svc.nodePort], `goto ${externalTrafficChain}`);
    if (!hasExternalEndpoints) st.noEndpointNodePorts.ensure(tx, [proto, svc.nodePort], externalVerdict, spn);
  }

  if (skip) return;

  // Internal traffic: masquerade off-cluster traffic to the cluster IP.
  if (hasInternalEndpoints) {
    if (o.masqueradeAll) {
      tx.addRule(internalTrafficChain, `ip daddr ${svc.clusterIP} jump ${NFT_MARK_MASQ_CHAIN}`);
    } else if (o.detector) {
      tx.addRule(internalTrafficChain, `ip daddr ${svc.clusterIP} ip saddr != ${formatCidr(o.detector)} jump ${NFT_MARK_MASQ_CHAIN}`);
    }
  }

  // External traffic.
  if (usesExternalTrafficChain) {
    if (!svc.externalPolicyLocal) {
      tx.addRule(externalTrafficChain, `jump ${NFT_MARK_MASQ_CHAIN}`);
    } else {
      if (o.detector) {
        tx.addRule(externalTrafficChain, `ip saddr ${formatCidr(o.detector)} goto ${chains.cluster}`, "short-circuit pod traffic");
      }
      tx.addRule(externalTrafficChain, `fib saddr type local jump ${NFT_MARK_MASQ_CHAIN}`, "masquerade local traffic");
      tx.addRule(externalTrafficChain, `fib saddr type local goto ${chains.cluster}`, "short-circuit local traffic");
    }
    if (hasExternalEndpoints) tx.addRule(externalTrafficChain, `goto ${externalPolicyChain}`);
  }

  // loadBalancerSourceRanges.
  if (usesFWChain) {
    const sources: string[] = [];
    let allowFromNode = false;
    for (const range of svc.sourceRanges) {
      const c = parseCidr(range, false);
      sources.push(c ? formatCidr(c) : range);
      if (c && cidrContains(c, o.nodeIP)) allowFromNode = true;
    }
    // A VIP bound locally makes the node's own requests arrive with the VIP as source.
    if (allowFromNode) for (const ip of svc.loadBalancerVIPs) sources.push(ip);
    tx.addRule(chains.firewall, `ip saddr != { ${sources.join(" , ")} } drop`);
  }

  // Affinity sets, one per reachable endpoint.
  if (svc.clientIPAffinity) {
    for (const ep of allReachable) {
      tx.addSet(epNames(ep).affinitySet, "ipv4_addr", { flags: ["dynamic", "timeout"], timeoutSeconds: svc.stickySeconds });
    }
  }

  if (usesClusterPolicyChain) writeServiceToEndpointRules(tx, svc, chains.cluster, cluster);
  if (usesLocalPolicyChain) writeServiceToEndpointRules(tx, svc, chains.local, local);

  for (const ep of allReachable) {
    const n = epNames(ep);
    tx.addRule(n.chain, `ip saddr ${ep.ip} jump ${NFT_MARK_MASQ_CHAIN}`); // hairpin
    if (svc.clientIPAffinity) tx.addRule(n.chain, `update @${n.affinitySet} { ip saddr }`);
    tx.addRule(n.chain, `meta l4proto ${proto} dnat to ${ep.ip}:${ep.port}`);
  }
}

function writeServiceToEndpointRules(tx: Tx, svc: ServicePortInfo, chain: string, endpoints: readonly EndpointInfo[]): void {
  if (svc.clientIPAffinity) {
    for (const ep of endpoints) {
      const n = nftEndpointNames(svc, ep.ip, ep.port);
      tx.addRule(chain, `ip saddr @${n.affinitySet} goto ${n.chain}`);
    }
  }
  const elements = endpoints.map((ep, i) => `${i} : goto ${nftEndpointNames(svc, ep.ip, ep.port).chain}`);
  tx.addRule(chain, `numgen random mod ${endpoints.length} vmap { ${elements.join(" , ")} }`);
}
