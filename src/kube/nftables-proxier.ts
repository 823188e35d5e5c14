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
 *
 * Cost: like servicePortInfo and endpointInfo upstream, the names of a Service port's and an
 * endpoint's chains are worked out once and kept (nftables-names.ts). A sync's state keeps
 * what every Service port put in the kernel (its chains, affinity sets and element keys), so
 * a partial sync looks at the changed Services only — given them (`changedServices`, as the
 * change trackers give upstream's sync its UpdatedServices), or finding them by comparing
 * signatures — and writes exactly what the walk over every Service writes: an unchanged
 * Service writes nothing there either (ensuring elements that are already there), unless it
 * shares an element key or chain with a changed one, and then the sync does walk them all.
 * Where upstream's partial sync still visits every Service (the element loop, listing the
 * kernel's chains), this one does not; the text is the same.
 */
import { cidrContains, formatCidr, formatIpv4, parseCidr } from "../base/index.js";
import { buildEndpointsMap, type EndpointInfo } from "./endpoints-map.js";
import { changedServiceKeys } from "./nftables-change-tracker.js";
import { isNftAffinitySetName, isNftServiceChainName, nftEndpointNamesOf, nftPortNames, type NftEndpointNames, type NftPortNames } from "./nftables-names.js";
import type { EndpointSlice, ProxyState } from "./objects.js";
import { resolveOptions, type IptablesProxierOptions, type ResolvedOptions } from "./proxier-options.js";
import { allServicePorts, policyChains, portExternallyAccessible, servicePortInfos, usesClusterEndpoints, usesLocalEndpoints, type ServicePortInfo } from "./service-ports.js";
import { categorizeEndpoints } from "./topology.js";

export * from "./nftables-names.js";
export * from "./nftables-change-tracker.js";

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
  /**
   * With `previous`: the Services (`ns/name`) whose Service or EndpointSlices changed since,
   * as kube-proxy's change trackers hand them to a sync (UpdatedServices), deleted ones
   * included. The sync then looks at these Services only. Absent: it compares `previous`'s
   * objects with these to find them. Either way a Service is rewritten only when what its
   * chains are made of changed, so the transaction is the same. With it, the Services of
   * both models must be sorted by `ns/name`, as buildKubeModel sorts them.
   */
  changedServices?: Iterable<string>;
  /**
   * The model's EndpointSlices by Service (`ns/name`), as kube-proxy's EndpointSliceCache
   * holds them: with it a sync given `changedServices` reads those Services' slices only
   * (without it, it picks them out of the model's list). It must hold every slice of the
   * model that names a Service.
   */
  slicesByService?: ReadonlyMap<string, readonly EndpointSlice[]>;
  /**
   * Work out the transactions without keeping anything: the result's `state` is `previous`
   * (a later sync from it is the real one). For a look at what a sync would write.
   */
  dryRun?: boolean;
}

export interface NftablesSyncResult {
  /**
   * The transaction kube-proxy runs before the sync: `delete chain` for service chains that
   * have been stale (flushed) for at least a second. "" when there are none.
   */
  cleanupText: string;
  /** The sync transaction (`nft -f` input). */
  text: string;
  /** The same transaction as lines (without their newlines), as `applyNftScript` also takes it (split from `pieces` when first read). */
  lines: readonly string[];
  /**
   * The same transaction in pieces of whole lines joined by newlines (no newline after a
   * piece's last line): what `applyNftScript` reads with the fewest strings.
   */
  pieces: readonly string[];
  /** Lines of the sync transaction. */
  lineCount: number;
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

/** The chain or set names a transaction adds and deletes (plain sets, or the kept state through its journal). */
interface NameSet {
  has(name: string): boolean;
  add(name: string): void;
  delete(name: string): void;
}

const PREFIX = ` ${NFT_FAMILY} ${NFT_TABLE} `;
const ADD_CHAIN = "add chain" + PREFIX;
const FLUSH_CHAIN = "flush chain" + PREFIX;
const ADD_RULE = "add rule" + PREFIX;
const ADD_ELEMENT = "add element" + PREFIX;
const DELETE_ELEMENT = "delete element" + PREFIX;

/** Lines per piece of a transaction's text (see `Tx`). */
const PIECE_LINES = 2048;

/**
 * A knftables transaction being written, tracking which chains and sets exist after it. Its
 * text is kept in pieces of many whole lines joined by newlines (`pieces`): a few thousand
 * strings for a sync of millions of lines, not one string per line. A line is written as its
 * parts (`w`, then `eol`), which one join per piece copies into place: no string is built
 * per line.
 */
class Tx {
  private readonly done: string[] = [];
  /** The open piece's parts, newlines between its lines. */
  private open: string[] = [];
  private openLines = 0;
  lineCount = 0;
  constructor(
    readonly chains: NameSet,
    readonly sets: NameSet,
  ) {}

  /** Appends a part of the current line. */
  w(part: string): void {
    this.open.push(part);
  }

  /** Ends the current line. */
  eol(): void {
    this.lineCount++;
    if (++this.openLines === PIECE_LINES) this.close();
    else this.open.push("\n");
  }

  private close(): void {
    if (this.openLines === 0) return;
    if (this.open[this.open.length - 1] === "\n") this.open.pop();
    this.done.push(this.open.join(""));
    this.open = [];
    this.openLines = 0;
  }

  /** The transaction as whole lines joined by newlines, in pieces (no newline after a piece's last line). */
  pieces(): string[] {
    this.close();
    return this.done;
  }

  private push(line: string): void {
    this.w(line);
    this.eol();
  }

  private op(verb: string, kind: string, rest: string): void {
    this.push(`${verb} ${kind} ${NFT_FAMILY} ${NFT_TABLE}${rest === "" ? "" : " " + rest}`);
  }

  addTable(comment: string): void {
    this.push(`add table ${NFT_FAMILY} ${NFT_TABLE} { comment ${q(comment)} ; }`);
  }

  addChain(name: string, base?: NftBaseChain, comment?: string): void {
    let props = "";
    if (base || comment !== undefined) {
      props = " {";
      if (base) props += ` type ${base.type} hook ${base.hook} priority ${base.priority} ;`;
      if (comment !== undefined) props += ` comment ${q(comment)} ;`;
      props += " }";
    }
    this.w(ADD_CHAIN);
    this.w(name);
    if (props !== "") this.w(props);
    this.eol();
    this.chains.add(name);
  }

  flushChain(name: string): void {
    this.w(FLUSH_CHAIN);
    this.w(name);
    this.eol();
  }

  deleteChain(name: string): void {
    this.op("delete", "chain", name);
    this.chains.delete(name);
  }

  addRule(chain: string, rule: string, comment?: string): void {
    this.beginRule(chain);
    this.w(rule);
    if (comment !== undefined) this.w(` comment ${q(comment)}`);
    this.eol();
  }

  /** `add rule ip kube-proxy CHAIN ` (the rule's parts and `eol` follow). */
  beginRule(chain: string): void {
    this.w(ADD_RULE);
    this.w(chain);
    this.w(" ");
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
    this.w(ADD_ELEMENT);
    this.w(container);
    this.w(" { ");
    this.w(key);
    if (comment !== undefined) this.w(` comment ${q(comment)}`);
    if (value !== "") {
      this.w(" : ");
      this.w(value);
    }
    this.w(" }");
    this.eol();
  }

  deleteElement(container: string, key: string): void {
    this.w(DELETE_ELEMENT);
    this.w(container);
    this.w(" { ");
    this.w(key);
    this.w(" }");
    this.eol();
  }

  text(): string {
    const pieces = this.pieces();
    return pieces.length === 0 ? "" : pieces.join("\n") + "\n";
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
const CLUSTER_IPS = 0;
const SERVICE_IPS = 1;
const FIREWALL_IPS = 2;
const NO_ENDPOINT_SERVICES = 3;
const NO_ENDPOINT_NODEPORTS = 4;
const SERVICE_NODEPORTS = 5;

/** An element container as the service loop fills it: a key (`a . b . c`) and its value (`goto X`, `drop`, or "" in a set). */
interface Storage {
  ensure(tx: Tx, key: string, value: string, comment?: string): void;
}

/** nftElementStorage: the elements kube-proxy believes a set or map holds. */
class ElementStorage implements Storage {
  readonly elements: Map<string, string>;
  private leftover = new Set<string>();

  constructor(
    readonly kind: "set" | "map",
    readonly name: string,
    initial?: ReadonlyMap<string, string>,
  ) {
    this.elements = new Map(initial ?? []);
    this.resetLeftover();
  }

  /** readOrReset: read the kernel's elements, or flush the container when they cannot be read. */
  readOrReset(tx: Tx, kernel: ReadonlyMap<string, string> | undefined): void {
    this.elements.clear();
    if (kernel === undefined) tx.flush(this.kind, this.name);
    else for (const [k, v] of kernel) this.elements.set(k, v);
    this.resetLeftover();
  }

  private resetLeftover(): void {
    this.leftover = new Set(this.elements.keys());
  }

  ensure(tx: Tx, k: string, value: string, comment?: string): void {
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
}

interface NftResolved extends ResolvedOptions {
  serviceCIDRs: string;
  /** ` ip saddr != CLUSTER-CIDR jump mark-for-masquerade` (with a local-traffic detector). */
  notFromCluster: string;
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
  return { ...o, serviceCIDRs: cidrs.join(","), nodePortIPs, notFromCluster: o.detector ? ` ip saddr != ${formatCidr(o.detector)}${JUMP_MASQ}` : "" };
}

/** A signature of everything about one Service port that shapes its chains (UpdatedServices). */
function portSignature(p: ServicePortInfo, endpoints: readonly EndpointInfo[]): string {
  const { chains: _chains, ...rest } = p;
  const eps = endpoints.map((e) => ({ ...e, zoneHints: e.zoneHints && [...e.zoneHints], nodeHints: e.nodeHints && [...e.nodeHints] }));
  return JSON.stringify([rest, eps]);
}

/** Signatures per Service (`ns/name`): its ports' signatures in port order. */
function serviceSignatures(state: ProxyState, o: ResolvedOptions): Map<string, string> {
  const eps = buildEndpointsMap(state.endpointSlices, { hostname: o.hostname, nodeHints: o.nodeHints });
  const sigs = new Map<string, string>();
  for (const p of allServicePorts(state.services)) sigs.set(p.serviceKey, (sigs.get(p.serviceKey) ?? "") + portSignature(p, eps.get(p.key) ?? []));
  return sigs;
}

// ---------------------------------------------------------------- kept state

/**
 * What one Service port put in the kernel at the last sync: its chains, affinity sets and
 * elements (container index and key). A partial sync releases these for a changed Service
 * and records the new ones, so it never walks the other Services.
 */
interface PortRecord {
  key: string;
  chains: string[];
  affinitySets: string[];
  elements: [number, string][];
}

const ABSENT = Symbol("absent");
type UndoEntry = [Map<string, unknown> | Set<string>, string, unknown];

/** The owner of an element key or affinity set that more than one Service uses. */
const SHARED = "\u0000shared";

/**
 * kube-proxy's memory between syncs, as mutable maps: the kernel's chains, sets and elements,
 * the stale chains, and per Service what its ports put there; which chains are in use (and
 * which of them more than one port ensures), and the Service owning each element key and
 * affinity set (SHARED when several do). A partial sync changes it in place and leaves an
 * undo journal on the version it started from (so an older state still reads, and syncs, as
 * it was: see `materialize`).
 */
class Core {
  head: Version;
  constructor(
    readonly chains: Set<string>,
    readonly sets: Set<string>,
    readonly elements: Map<string, string>[],
    readonly stale: Map<string, number>,
    readonly services: Map<string, PortRecord[]>,
    /** Signatures of Services as of the last sync that looked at them ("" for none: no ports); absent when not known. */
    readonly sigs: Map<string, string>,
    /** Chains some Service port ensures, and those more than one port ensures. */
    readonly active: Set<string>,
    readonly sharedChains: Set<string>,
    /** Affinity set → owning Service (or SHARED); element key → owning Service per container. */
    readonly affinity: Map<string, string>,
    readonly owners: Map<string, string>[],
    readonly fingerprint: string,
  ) {
    this.head = new Version(this);
  }

  /** A deep copy, with how each map of this core maps to the copy's. */
  clone(): { core: Core; map: Map<unknown, Map<string, unknown> | Set<string>> } {
    const map = new Map<unknown, Map<string, unknown> | Set<string>>();
    const c = <T extends Map<string, unknown> | Set<string>>(x: T): T => {
      const y = (x instanceof Set ? new Set(x) : new Map(x)) as T;
      map.set(x, y);
      return y;
    };
    const core = new Core(
      c(this.chains),
      c(this.sets),
      this.elements.map(c),
      c(this.stale),
      c(this.services),
      c(this.sigs),
      c(this.active),
      c(this.sharedChains),
      c(this.affinity),
      this.owners.map(c),
      this.fingerprint,
    );
    return { core, map };
  }
}

class Version {
  /** The version synced from this one, and the journal that turns its view back into this one's. */
  next: Version | null = null;
  undo: UndoEntry[] | null = null;
  constructor(readonly core: Core) {}
}

/** The core as `v` saw it: the core itself for its newest version, else a copy with the later journals undone. */
function materialize(v: Version): Core {
  const core = v.core;
  if (core.head === v) return core;
  const path: Version[] = [];
  for (let x: Version = v; x !== core.head; x = x.next!) path.push(x);
  const { core: copy, map } = core.clone();
  for (let i = path.length - 1; i >= 0; i--) {
    const undo = path[i]!.undo!;
    for (let j = undo.length - 1; j >= 0; j--) {
      const [orig, key, old] = undo[j]!;
      const target = map.get(orig)!;
      if (target instanceof Set) {
        if (old === ABSENT) target.delete(key);
        else target.add(key);
      } else if (old === ABSENT) target.delete(key);
      else target.set(key, old);
    }
  }
  return copy;
}

/** Changes to a core, each with what it replaced. */
class Journal {
  readonly entries: UndoEntry[] = [];

  set<V>(m: Map<string, V>, key: string, value: V): void {
    this.entries.push([m as Map<string, unknown>, key, m.has(key) ? m.get(key) : ABSENT]);
    m.set(key, value);
  }

  delete<V>(m: Map<string, V>, key: string): void {
    if (!m.has(key)) return;
    this.entries.push([m as Map<string, unknown>, key, m.get(key)]);
    m.delete(key);
  }

  add(s: Set<string>, key: string): void {
    if (s.has(key)) return;
    this.entries.push([s, key, ABSENT]);
    s.add(key);
  }

  remove(s: Set<string>, key: string): void {
    if (!s.has(key)) return;
    this.entries.push([s, key, true]);
    s.delete(key);
  }

  rollback(): void {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const [c, key, old] = this.entries[i]!;
      if (c instanceof Set) {
        if (old === ABSENT) c.delete(key);
        else c.add(key);
      } else if (old === ABSENT) c.delete(key);
      else c.set(key, old);
    }
    this.entries.length = 0;
  }

  names(s: Set<string>): NameSet {
    return { has: (n) => s.has(n), add: (n) => this.add(s, n), delete: (n) => this.remove(s, n) };
  }
}

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const sortedRecord = <V>(m: ReadonlyMap<string, V>): Record<string, V> => Object.fromEntries([...m].sort(([a], [b]) => byString(a, b)));

/** A sync's state: reads (sorted lists and records) come from the kept core as this sync left it. */
class ProxierState implements NftablesProxierState {
  private view: Core | null = null;
  private cache: { chains?: string[]; sets?: string[]; elements?: Record<string, Record<string, string>>; staleChains?: Record<string, number> } = {};

  constructor(
    readonly version: Version,
    readonly objects: ProxyState,
    readonly time: number,
    /** `slicesByService` of the sync that made this state (for the next one's look at the previous objects). */
    readonly slicesByService: ReadonlyMap<string, readonly EndpointSlice[]> | null,
  ) {}

  core(): Core {
    if (this.version.core.head === this.version) return this.version.core;
    return (this.view ??= materialize(this.version));
  }

  get chains(): string[] {
    return (this.cache.chains ??= [...this.core().chains].sort(byString));
  }

  get sets(): string[] {
    return (this.cache.sets ??= [...this.core().sets].sort(byString));
  }

  get elements(): Record<string, Record<string, string>> {
    if (!this.cache.elements) {
      const core = this.core();
      const out: Record<string, Record<string, string>> = {};
      CONTAINERS.forEach((c, i) => (out[c.name] = sortedRecord(core.elements[i]!)));
      this.cache.elements = out;
    }
    return this.cache.elements;
  }

  get staleChains(): Record<string, number> {
    return (this.cache.staleChains ??= sortedRecord(this.core().stale));
  }
}

/** The options a kept core was built with (a partial sync on other options starts over). */
const fingerprintOf = (o: NftResolved): string => JSON.stringify(o);

// ---------------------------------------------------------------- the sync

function ensureChain(tx: Tx, chain: string, ctx: PortContext): void {
  ctx.record.chains.push(chain);
  // (One hash of the name: added, or already there.)
  const created = ctx.created;
  const had = created.size;
  created.add(chain);
  if (created.size === had) {
    // Another port ensured it first (one port's chains all differ).
    ctx.shared.add(chain);
    return;
  }
  if (ctx.guard) ctx.guard(chain);
  if (ctx.skip) return;
  tx.addChain(chain);
  tx.flushChain(chain);
}

function setupNFTables(tx: Tx, o: NftResolved, firstSync: boolean, kernel: ReadonlyMap<string, string>[] | undefined, st: ElementStorage[]): void {
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
  const fixed = (chain: string): void => {
    if (created.has(chain)) return;
    created.add(chain);
    tx.addChain(chain);
    tx.flushChain(chain);
  };
  for (const jc of NFT_JUMP_CHAINS) {
    fixed(jc.dst);
    tx.addRule(jc.src, [jc.extra, "jump", jc.dst].filter((w) => w !== "").join(" "));
  }
  for (const c of [NFT_SERVICES_CHAIN, NFT_CLUSTER_IPS_CHECK, NFT_MASQUERADING_CHAIN, NFT_MARK_MASQ_CHAIN]) fixed(c);

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
  fixed(NFT_FIREWALL_CHECK);
  tx.addRule(NFT_FIREWALL_CHECK, `ip daddr . meta l4proto . th dport vmap @${NFT_FIREWALL_IPS_MAP}`);

  tx.addMap(NFT_SERVICE_IPS_MAP, "ipv4_addr . inet_proto . inet_service : verdict", "ClusterIP, ExternalIP and LoadBalancer IP traffic");
  tx.addMap(NFT_SERVICE_NODEPORTS_MAP, "inet_proto . inet_service : verdict", "NodePort traffic");
  tx.addRule(NFT_SERVICES_CHAIN, `ip daddr . meta l4proto . th dport vmap @${NFT_SERVICE_IPS_MAP}`);
  if (o.nodePortMatchAll) {
    tx.addRule(NFT_SERVICES_CHAIN, `fib daddr type local ${noLocalhost} meta l4proto . th dport vmap @${NFT_SERVICE_NODEPORTS_MAP}`);
  } else {
    tx.addRule(NFT_SERVICES_CHAIN, `ip daddr @${NFT_NODEPORT_IPS_SET} meta l4proto . th dport vmap @${NFT_SERVICE_NODEPORTS_MAP}`);
  }

  st.forEach((s, i) => s.readOrReset(tx, kernel?.[i]));
}

/** What the kernel held before a sync, read from a kept core or from a listing (`existing`). */
interface Kernel {
  chains: Set<string>;
  sets: Set<string>;
  elements: ReadonlyMap<string, string>[];
  stale: Map<string, number>;
}

function kernelOf(prev: NftablesProxierState | undefined, existing: NftablesKernelState | undefined): Kernel | undefined {
  if (prev instanceof ProxierState) {
    const core = prev.core();
    return { chains: new Set(core.chains), sets: new Set(core.sets), elements: core.elements, stale: new Map(core.stale) };
  }
  const k = prev ?? existing;
  if (!k) return undefined;
  return {
    chains: new Set(k.chains),
    sets: new Set(k.sets),
    elements: CONTAINERS.map((c) => new Map(Object.entries(k.elements[c.name] ?? {}))),
    stale: new Map(Object.entries(prev?.staleChains ?? {})),
  };
}

export function syncNftablesRules(objects: ProxyState, options: NftablesProxierOptions, sync: NftablesSyncOptions = {}): NftablesSyncResult {
  const o = resolveNftOptions(options);
  const prev = sync.previous;
  const now = sync.now ?? (prev ? prev.time + 60_000 : 0);
  if (prev instanceof ProxierState && sync.fullSync !== true) {
    const fast = partialSync(prev, objects, o, now, sync.changedServices, sync.slicesByService ?? null, sync.dryRun === true);
    if (fast) return fast;
  }
  const r = fullOrSlowSync(objects, o, sync, now);
  if (sync.dryRun && prev) r.state = prev;
  return r;
}

/** kube-proxy's partial sync: only the Services that changed since `previous` are rewritten. */
export function partialSyncNftablesRules(previous: NftablesProxierState, next: ProxyState, options: NftablesProxierOptions, now?: number): NftablesSyncResult {
  return syncNftablesRules(next, options, { previous, ...(now === undefined ? {} : { now }) });
}

interface ResultParts {
  cleanup: Tx;
  tx: Tx;
  fullSync: boolean;
  written: string[];
  deletedStale: string[];
  flushedStale: string[];
  deletedSets: string[];
  state: ProxierState;
}

function result(p: ResultParts): NftablesSyncResult {
  let text: string | undefined;
  let lines: string[] | undefined;
  let active: string[] | undefined;
  const pieces = p.tx.pieces();
  return {
    cleanupText: p.cleanup.text(),
    get text(): string {
      return (text ??= p.tx.text());
    },
    get lines(): string[] {
      return (lines ??= pieces.flatMap((piece) => piece.split("\n")));
    },
    pieces,
    lineCount: p.tx.lineCount,
    fullSync: p.fullSync,
    writtenServices: p.written,
    deletedStaleChains: p.deletedStale,
    flushedStaleChains: p.flushedStale,
    deletedAffinitySets: p.deletedSets,
    get activeChains(): string[] {
      return (active ??= [...p.state.core().active].sort(byString));
    },
    state: p.state,
  };
}

/** Owners of element keys and affinity sets from the port records. */
function ownersOf(services: Map<string, PortRecord[]>): { affinity: Map<string, string>; owners: Map<string, string>[] } {
  const affinity = new Map<string, string>();
  const owners = CONTAINERS.map(() => new Map<string, string>());
  for (const [k, ports] of services) {
    for (const r of ports) {
      for (const a of r.affinitySets) {
        const o = affinity.get(a);
        affinity.set(a, o === undefined || o === k ? k : SHARED);
      }
      for (const [i, key] of r.elements) {
        const m = owners[i]!;
        const o = m.get(key);
        if (o === undefined) m.set(key, k);
        else if (o !== k) m.set(key, SHARED);
      }
    }
  }
  return { affinity, owners };
}

/**
 * A model's Service ports and endpoints (per node: its hostname decides which are local),
 * worked out once and kept with the model, as kube-proxy keeps its svcPortMap and
 * endpointsMap between syncs and updates them from its change trackers rather than build
 * them again per sync. (A model is not changed once synced: the cluster makes a new one per change.)
 */
const MODEL_PORTS = new WeakMap<ProxyState["services"], ServicePortInfo[]>();
const MODEL_ENDPOINTS = new WeakMap<ProxyState["endpointSlices"], Map<string, Map<string, EndpointInfo[]>>>();

function portsOfModel(objects: ProxyState): ServicePortInfo[] {
  let ports = MODEL_PORTS.get(objects.services);
  if (ports === undefined) MODEL_PORTS.set(objects.services, (ports = allServicePorts(objects.services)));
  return ports;
}

function endpointsOfModel(objects: ProxyState, o: ResolvedOptions): Map<string, EndpointInfo[]> {
  let byNode = MODEL_ENDPOINTS.get(objects.endpointSlices);
  if (byNode === undefined) MODEL_ENDPOINTS.set(objects.endpointSlices, (byNode = new Map()));
  const key = `${o.hostname}\u0000${o.nodeHints === true}`;
  let eps = byNode.get(key);
  if (eps === undefined) byNode.set(key, (eps = buildEndpointsMap(objects.endpointSlices, { hostname: o.hostname, nodeHints: o.nodeHints })));
  return eps;
}

/** Endpoint names by endpoint (kept with the endpoints, like kube-proxy's endpointInfo keeps its chain name). */
const ENDPOINT_NAMES = new WeakMap<EndpointInfo, NftEndpointNames>();

function endpointNames(names: NftPortNames, ep: EndpointInfo): NftEndpointNames {
  let n = ENDPOINT_NAMES.get(ep);
  if (n === undefined) ENDPOINT_NAMES.set(ep, (n = nftEndpointNamesOf(names, ep.ip, ep.port)));
  return n;
}

/** A full sync, or a partial one that walks every Service (when the kept state cannot be used). */
function fullOrSlowSync(objects: ProxyState, o: NftResolved, sync: NftablesSyncOptions, now: number): NftablesSyncResult {
  const prev = sync.previous;
  const doFullSync = prev === undefined || sync.fullSync === true;
  const firstSync = prev === undefined;

  // What the kernel holds before this sync (undefined: no table yet).
  const kernel = kernelOf(prev, sync.existing);
  const staleChains = kernel?.stale ?? new Map<string, number>();

  // 1. Delete sufficiently stale chains in their own transaction.
  const kernelChains = kernel?.chains ?? new Set<string>();
  const kernelSets = kernel?.sets ?? new Set<string>();
  const cleanup = new Tx(kernelChains, kernelSets);
  const deletedStale: string[] = [];
  for (const [chain, modtime] of [...staleChains].sort(([a], [b]) => byString(a, b))) {
    if (modtime < now - 1000) {
      cleanup.deleteChain(chain);
      staleChains.delete(chain);
      deletedStale.push(chain);
    }
  }

  // What kube-proxy's List("chains") / List("sets") return during the sync (before it runs).
  const listedChains = [...kernelChains].sort(byString);
  const listedSets = [...kernelSets].sort(byString);

  // 2. The sync transaction.
  const tx = new Tx(kernelChains, kernelSets);
  const st = CONTAINERS.map((c, i) => new ElementStorage(c.kind, c.name, prev ? kernel?.elements[i] : undefined));
  if (doFullSync) setupNFTables(tx, o, firstSync, kernel?.elements, st);

  let changed: Set<string> | null = null;
  if (!doFullSync && prev) {
    const before = serviceSignatures(prev.objects, o);
    const after = serviceSignatures(objects, o);
    changed = new Set();
    for (const [k, v] of after) if (before.get(k) !== v) changed.add(k);
  }

  const endpointsMap = endpointsOfModel(objects, o);
  const created = new Set<string>();
  const shared = new Set<string>();
  const activeAffinitySets = new Set<string>();
  const written = new Set<string>();
  const services = new Map<string, PortRecord[]>();
  for (const svc of portsOfModel(objects)) {
    const skip = changed !== null && !changed.has(svc.serviceKey);
    if (!skip) written.add(svc.serviceKey);
    const record: PortRecord = { key: svc.key, chains: [], affinitySets: [], elements: [] };
    let ports = services.get(svc.serviceKey);
    if (!ports) services.set(svc.serviceKey, (ports = []));
    ports.push(record);
    writeServicePort(tx, o, st, svc, endpointsMap.get(svc.key) ?? [], { skip, created, shared, activeAffinitySets, record, guard: null });
  }

  // 3. Stale service chains are flushed now and deleted by a later sync; stale affinity
  // sets are deleted at once. (kube-proxy lists the table; before the first sync there is none.)
  const flushedStale: string[] = [];
  if (kernel) {
    for (const chain of listedChains) {
      if (!isNftServiceChainName(chain)) continue;
      if (!created.has(chain)) {
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
  for (const s of st) s.cleanup(tx);

  const owners = ownersOf(services);
  const core = new Core(kernelChains, kernelSets, st.map((s) => s.elements), staleChains, services, new Map(), created, shared, owners.affinity, owners.owners, fingerprintOf(o));
  return result({
    cleanup,
    tx,
    fullSync: doFullSync,
    written: [...written].sort(byString),
    deletedStale,
    flushedStale,
    deletedSets,
    state: new ProxierState(core.head, objects, now, sync.slicesByService ?? null),
  });
}

/** Thrown inside a partial sync that cannot stay on the changed Services (it is rolled back and redone walking all of them). */
class NeedsFullWalk extends Error {}

/** The storage of a partial sync: the kept element map, changed through the journal; keys another Service owns stop the fast path. */
class JournaledStorage implements Storage {
  readonly ensured = new Set<string>();
  constructor(
    readonly name: string,
    private readonly elements: Map<string, string>,
    private readonly owners: Map<string, string>,
    private readonly journal: Journal,
  ) {}

  ensure(tx: Tx, k: string, value: string, comment?: string): void {
    if (this.owners.has(k)) throw new NeedsFullWalk();
    this.ensured.add(k);
    const existing = this.elements.get(k);
    if (existing !== undefined) {
      if (existing === value) return;
      tx.deleteElement(this.name, k);
      tx.addElement(this.name, k, value, comment);
    } else tx.addElement(this.name, k, value, comment);
    this.journal.set(this.elements, k, value);
  }
}

/**
 * A Service of the model by `ns/name`: a binary search, the model's Services being sorted by
 * `ns/name` as buildKubeModel sorts them (see `changedServices`).
 */
function findService(services: ProxyState["services"], key: string): ProxyState["services"][number] | undefined {
  let lo = 0;
  let hi = services.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = services[mid]!;
    const k = `${s.namespace}/${s.name}`;
    if (k === key) return s;
    if (k < key) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

/** Are the Services sorted by `ns/name` (as buildKubeModel returns them)? Checked once per list. */
const SORTED = new WeakMap<readonly unknown[], boolean>();
function sortedByName(services: ProxyState["services"]): boolean {
  let known = SORTED.get(services);
  if (known === undefined) {
    known = true;
    let prev = "";
    for (const s of services) {
      const k = `${s.namespace}/${s.name}`;
      if (k < prev) {
        known = false;
        break;
      }
      prev = k;
    }
    SORTED.set(services, known);
  }
  return known;
}

/** The EndpointSlices of some Services (a plain comparison of each slice's Service name with a few names). */
function slicesOf(slices: ProxyState["endpointSlices"], keys: ReadonlySet<string>): ProxyState["endpointSlices"][number][] {
  const names = [...keys].map((k) => k.slice(k.indexOf("/") + 1));
  const out: ProxyState["endpointSlices"][number][] = [];
  const few = names.length <= 8;
  const nameSet = few ? null : new Set(names);
  for (const sl of slices) {
    const sn = sl.serviceName;
    if (sn === null) continue;
    let hit = false;
    if (nameSet !== null) hit = nameSet.has(sn);
    else for (let i = 0; i < names.length && !hit; i++) hit = sn === names[i];
    if (hit && keys.has(`${sl.namespace}/${sn}`)) out.push(sl);
  }
  return out;
}

/** The Service ports and endpoints of some Services. */
function portsOf(
  state: ProxyState,
  keys: ReadonlySet<string>,
  o: ResolvedOptions,
  sorted: boolean,
  slicesByService: ReadonlyMap<string, readonly EndpointSlice[]> | null,
): { ports: ServicePortInfo[]; endpoints: Map<string, EndpointInfo[]> } {
  const ports: ServicePortInfo[] = [];
  if (sorted) {
    for (const k of keys) {
      const s = findService(state.services, k);
      if (s) ports.push(...servicePortInfos(s));
    }
  } else {
    for (const s of state.services) if (keys.has(`${s.namespace}/${s.name}`)) ports.push(...servicePortInfos(s));
  }
  if (keys.size === 0) return { ports, endpoints: new Map() };
  let slices: readonly EndpointSlice[];
  if (slicesByService !== null) {
    const picked: EndpointSlice[] = [];
    for (const k of keys) for (const sl of slicesByService.get(k) ?? []) picked.push(sl);
    slices = picked;
  } else slices = slicesOf(state.endpointSlices, keys);
  return { ports, endpoints: buildEndpointsMap(slices, { hostname: o.hostname, nodeHints: o.nodeHints }) };
}

/** Per Service, the signature of its ports (as `serviceSignatures`). */
function signaturesOf(ports: readonly ServicePortInfo[], endpoints: ReadonlyMap<string, EndpointInfo[]>): Map<string, string> {
  const sigs = new Map<string, string>();
  for (const p of [...ports].sort((a, b) => byString(a.key, b.key))) sigs.set(p.serviceKey, (sigs.get(p.serviceKey) ?? "") + portSignature(p, endpoints.get(p.key) ?? []));
  return sigs;
}

/**
 * A partial sync that looks at the changed Services only, changing the kept core in place
 * (journaled on `prev`'s version). It writes what the walk over every Service would write:
 * an unchanged Service writes nothing there either, as long as no element key or chain is
 * shared with a changed one; when one is, or the kept state cannot be used, it returns null
 * (having changed nothing) and the caller walks every Service.
 */
function partialSync(
  prev: ProxierState,
  objects: ProxyState,
  o: NftResolved,
  now: number,
  hint: Iterable<string> | undefined,
  slicesByService: ReadonlyMap<string, readonly EndpointSlice[]> | null,
  dryRun: boolean,
): NftablesSyncResult | null {
  const core = prev.version.core;
  if (core.head !== prev.version || core.fingerprint !== fingerprintOf(o)) return null;

  // Which Services changed: the hint (or a comparison of the objects), each confirmed by its signature.
  let candidates: Set<string>;
  if (hint !== undefined) candidates = new Set(hint);
  else candidates = changedServiceKeys(prev.objects, objects);
  // Old signatures: kept from the sync that last looked at a Service, else read from the previous objects.
  const unknown = new Set<string>();
  for (const k of candidates) if (!core.sigs.has(k)) unknown.add(k);
  // (Given the hint, the models are sorted by contract; else they were just walked anyway.)
  const old = portsOf(prev.objects, unknown, o, hint !== undefined || sortedByName(prev.objects.services), prev.slicesByService);
  const oldSigs = signaturesOf(old.ports, old.endpoints);
  const next = portsOf(objects, candidates, o, hint !== undefined || sortedByName(objects.services), slicesByService);
  const newSigs = signaturesOf(next.ports, next.endpoints);
  const changed = new Set<string>();
  for (const k of candidates) if ((core.sigs.get(k) ?? oldSigs.get(k) ?? "") !== (newSigs.get(k) ?? "")) changed.add(k);

  const journal = new Journal();
  try {
    for (const k of candidates) journal.set(core.sigs, k, newSigs.get(k) ?? "");
    return partialSyncOn(prev, core, journal, objects, o, now, changed, next, slicesByService, dryRun);
  } catch (err) {
    journal.rollback();
    if (err instanceof NeedsFullWalk) return null;
    throw err;
  }
}

function partialSyncOn(
  prev: ProxierState,
  core: Core,
  journal: Journal,
  objects: ProxyState,
  o: NftResolved,
  now: number,
  changed: ReadonlySet<string>,
  next: { ports: ServicePortInfo[]; endpoints: Map<string, EndpointInfo[]> },
  slicesByService: ReadonlyMap<string, readonly EndpointSlice[]> | null,
  dryRun: boolean,
): NftablesSyncResult {
  // 1. Delete sufficiently stale chains in their own transaction.
  const chains = journal.names(core.chains);
  const sets = journal.names(core.sets);
  const cleanup = new Tx(chains, sets);
  const deletedStale: string[] = [];
  for (const [chain, modtime] of [...core.stale].sort(([a], [b]) => byString(a, b))) {
    if (modtime < now - 1000) {
      cleanup.deleteChain(chain);
      journal.delete(core.stale, chain);
      deletedStale.push(chain);
    }
  }

  // 2. Release what the changed Services had: their chains, affinity sets and element keys
  // become candidates for staleness. Anything another Service also holds needs the full walk.
  const releasedChains = new Set<string>();
  const releasedSets = new Set<string>();
  const releasedKeys = CONTAINERS.map(() => new Set<string>());
  for (const k of changed) {
    for (const r of core.services.get(k) ?? []) {
      for (const c of r.chains) {
        if (core.sharedChains.has(c)) throw new NeedsFullWalk();
        journal.remove(core.active, c);
        releasedChains.add(c);
      }
      for (const a of r.affinitySets) {
        if (core.affinity.get(a) !== k) throw new NeedsFullWalk();
        journal.delete(core.affinity, a);
        releasedSets.add(a);
      }
      for (const [i, key] of r.elements) {
        const owner = core.owners[i]!.get(key);
        if (owner === undefined) continue; // (a second port of the Service with the same key)
        if (owner !== k) throw new NeedsFullWalk();
        journal.delete(core.owners[i]!, key);
        releasedKeys[i]!.add(key);
      }
    }
    journal.delete(core.services, k);
  }

  // 3. The changed Services' ports, in the order the full walk visits them.
  const tx = new Tx(chains, sets);
  const st = CONTAINERS.map((c, i) => new JournaledStorage(c.name, core.elements[i]!, core.owners[i]!, journal));
  const created = new Set<string>();
  const shared = new Set<string>();
  const activeAffinitySets = new Set<string>();
  const records = new Map<string, PortRecord[]>();
  const guard = (chain: string): void => {
    if (core.active.has(chain)) throw new NeedsFullWalk();
  };
  const ports = next.ports.filter((p) => changed.has(p.serviceKey)).sort((a, b) => byString(a.key, b.key));
  const written = new Set<string>();
  for (const svc of ports) {
    written.add(svc.serviceKey);
    const record: PortRecord = { key: svc.key, chains: [], affinitySets: [], elements: [] };
    let list = records.get(svc.serviceKey);
    if (!list) records.set(svc.serviceKey, (list = []));
    list.push(record);
    writeServicePort(tx, o, st, svc, next.endpoints.get(svc.key) ?? [], { skip: false, created, shared, activeAffinitySets, record, guard });
  }
  for (const c of created) journal.add(core.active, c);
  for (const c of shared) journal.add(core.sharedChains, c);
  for (const [k, list] of records) {
    journal.set(core.services, k, list);
    for (const r of list) {
      for (const a of r.affinitySets) {
        const o = core.affinity.get(a);
        if (o !== k) journal.set(core.affinity, a, o === undefined ? k : SHARED);
      }
      for (const [i, key] of r.elements) {
        const m = core.owners[i]!;
        const o = m.get(key);
        if (o !== k) journal.set(m, key, o === undefined ? k : SHARED);
      }
    }
  }

  // 4. Stale chains (released ones nothing uses now, and those still waiting to be deleted)
  // are flushed again; stale affinity sets deleted; leftover elements deleted.
  const flushedStale: string[] = [];
  // (Every such chain was in the kernel before this sync: released ones were in use, stale ones wait for deletion.)
  const staleCandidates = new Set<string>(releasedChains);
  for (const c of core.stale.keys()) staleCandidates.add(c);
  for (const chain of [...staleCandidates].sort(byString)) {
    if (!isNftServiceChainName(chain) || !core.chains.has(chain)) continue;
    if (!core.active.has(chain)) {
      tx.flushChain(chain);
      journal.set(core.stale, chain, now);
      flushedStale.push(chain);
    } else journal.delete(core.stale, chain);
  }
  const deletedSets: string[] = [];
  for (const set of [...releasedSets].sort(byString)) {
    if (core.sets.has(set) && !core.affinity.has(set) && isNftAffinitySetName(set)) {
      tx.deleteSet(set);
      deletedSets.push(set);
    }
  }
  CONTAINERS.forEach((c, i) => {
    const elements = core.elements[i]!;
    for (const key of [...releasedKeys[i]!].sort(byString)) {
      if (st[i]!.ensured.has(key) || !elements.has(key)) continue;
      tx.deleteElement(c.name, key);
      journal.delete(elements, key);
    }
  });

  // 5. The new version: the core is now its view; `prev`'s version keeps the journal back.
  let state = prev;
  if (dryRun) journal.rollback();
  else {
    const version = new Version(core);
    prev.version.next = version;
    prev.version.undo = journal.entries;
    core.head = version;
    state = new ProxierState(version, objects, now, slicesByService);
  }
  return result({
    cleanup,
    tx,
    fullSync: false,
    written: [...written].sort(byString),
    deletedStale,
    flushedStale,
    deletedSets,
    state,
  });
}

const JUMP_MASQ = ` jump ${NFT_MARK_MASQ_CHAIN}`;
const DNAT_TO: Record<string, string> = { tcp: "meta l4proto tcp dnat to ", udp: "meta l4proto udp dnat to ", sctp: "meta l4proto sctp dnat to " };

function ensureElement(tx: Tx, st: readonly Storage[], record: PortRecord, i: number, key: string, value: string, comment?: string): void {
  st[i]!.ensure(tx, key, value, comment);
  record.elements.push([i, key]);
}

interface PortContext {
  skip: boolean;
  /** Chains ensured so far in this sync (written at most once), and those ensured by more than one port. */
  created: Set<string>;
  shared: Set<string>;
  activeAffinitySets: Set<string>;
  /** What this port puts in the kernel. */
  record: PortRecord;
  /** Called for each chain the first time it is ensured (a partial sync checks it is not another Service's). */
  guard: ((chain: string) => void) | null;
}

function writeServicePort(tx: Tx, o: NftResolved, st: readonly Storage[], svc: ServicePortInfo, all: readonly EndpointInfo[], ctx: PortContext): void {
  const { proto, spn } = svc;
  const names = nftPortNames(svc);
  const chains = names.chains;
  const { cluster, local, allReachable, hasAnyEndpoints: hasEndpoints } = categorizeEndpoints(all, svc, { nodeName: o.hostname, zone: o.zone });
  const skip = ctx.skip;
  const record = ctx.record;

  // Each reachable endpoint's names, looked up once.
  const epNames: NftEndpointNames[] = new Array<NftEndpointNames>(allReachable.length);
  for (let i = 0; i < allReachable.length; i++) epNames[i] = endpointNames(names, allReachable[i]!);
  for (const n of epNames) {
    ensureChain(tx, n.chain, ctx);
    if (svc.clientIPAffinity) {
      const a = n.affinitySet;
      ctx.activeAffinitySets.add(a);
      record.affinitySets.push(a);
    }
  }

  const usesClusterPolicyChain = cluster.length > 0 && usesClusterEndpoints(svc);
  if (usesClusterPolicyChain) ensureChain(tx, chains.cluster, ctx);
  const usesLocalPolicyChain = local.length > 0 && usesLocalEndpoints(svc);
  if (usesLocalPolicyChain) ensureChain(tx, chains.local, ctx);

  const policy = policyChains(svc, chains.cluster, chains.local, hasEndpoints, local.length);
  const internalTrafficChain = policy.internal;
  const hasInternalEndpoints = policy.hasInternal;
  const externalPolicyChain = policy.externalPolicy;
  const hasExternalEndpoints = policy.hasExternal;
  const externalTrafficChain = chains.external;
  const usesExternalTrafficChain = hasEndpoints && portExternallyAccessible(svc);
  if (usesExternalTrafficChain) ensureChain(tx, externalTrafficChain, ctx);

  let internalVerdict = "";
  let externalVerdict = "";
  if (!hasEndpoints) {
    internalVerdict = externalVerdict = `goto ${NFT_REJECT_CHAIN}`;
  } else {
    if (!hasInternalEndpoints) internalVerdict = "drop";
    if (!hasExternalEndpoints) externalVerdict = "drop";
  }

  const port = svc.port;
  const tail = ` . ${proto} . ${port}`;
  // The cluster IP.
  ensureElement(tx, st, record, CLUSTER_IPS, svc.clusterIP, "");
  if (hasInternalEndpoints) {
    ensureElement(tx, st, record, SERVICE_IPS, svc.clusterIP + tail, `goto ${internalTrafficChain}`);
  } else {
    ensureElement(tx, st, record, NO_ENDPOINT_SERVICES, svc.clusterIP + tail, internalVerdict, spn);
  }
  // External IPs.
  for (const ip of svc.externalIPs) {
    if (hasEndpoints) ensureElement(tx, st, record, SERVICE_IPS, ip + tail, `goto ${externalTrafficChain}`);
    if (!hasExternalEndpoints) ensureElement(tx, st, record, NO_ENDPOINT_SERVICES, ip + tail, externalVerdict, spn);
  }
  // Load balancer VIPs.
  const usesFWChain = svc.loadBalancerVIPs.length > 0 && svc.sourceRanges.length > 0;
  if (usesFWChain) ensureChain(tx, chains.firewall, ctx);
  for (const ip of svc.loadBalancerVIPs) {
    if (hasEndpoints) ensureElement(tx, st, record, SERVICE_IPS, ip + tail, `goto ${externalTrafficChain}`);
    if (usesFWChain) ensureElement(tx, st, record, FIREWALL_IPS, ip + tail, `goto ${chains.firewall}`);
  }
  if (!hasExternalEndpoints) {
    for (const ip of svc.loadBalancerVIPs) ensureElement(tx, st, record, NO_ENDPOINT_SERVICES, ip + tail, externalVerdict, spn);
  }
  // The node port (loadBalancerSourceRanges do not apply to it).
  if (svc.nodePort !== 0) {
    if (hasEndpoints) ensureElement(tx, st, record, SERVICE_NODEPORTS, `${proto} . ${svc.nodePort}`, `goto ${externalTrafficChain}`);
    if (!hasExternalEndpoints) ensureElement(tx, st, record, NO_ENDPOINT_NODEPORTS, `${proto} . ${svc.nodePort}`, externalVerdict, spn);
  }

  if (skip) return;

  // Internal traffic: masquerade off-cluster traffic to the cluster IP.
  if (hasInternalEndpoints) {
    if (o.masqueradeAll) {
      tx.addRule(internalTrafficChain, `ip daddr ${svc.clusterIP} jump ${NFT_MARK_MASQ_CHAIN}`);
    } else if (o.detector) {
      tx.beginRule(internalTrafficChain);
      tx.w("ip daddr ");
      tx.w(svc.clusterIP);
      tx.w(o.notFromCluster);
      tx.eol();
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
    for (const n of epNames) tx.addSet(n.affinitySet, "ipv4_addr", { flags: ["dynamic", "timeout"], timeoutSeconds: svc.stickySeconds });
  }

  const namesOf = (eps: readonly EndpointInfo[]): readonly NftEndpointNames[] => (eps === allReachable ? epNames : eps.map((ep) => endpointNames(names, ep)));
  if (usesClusterPolicyChain) writeServiceToEndpointRules(tx, svc, chains.cluster, namesOf(cluster));
  if (usesLocalPolicyChain) writeServiceToEndpointRules(tx, svc, chains.local, namesOf(local));

  const dnat = DNAT_TO[proto] ?? `meta l4proto ${proto} dnat to `;
  for (let i = 0; i < allReachable.length; i++) {
    const ep = allReachable[i]!;
    const n = epNames[i]!;
    // hairpin
    tx.beginRule(n.chain);
    tx.w("ip saddr ");
    tx.w(ep.ip);
    tx.w(JUMP_MASQ);
    tx.eol();
    if (svc.clientIPAffinity) tx.addRule(n.chain, `update @${n.affinitySet} { ip saddr }`);
    tx.beginRule(n.chain);
    tx.w(dnat);
    tx.w(ep.ip);
    tx.w(":");
    tx.w(String(ep.port));
    tx.eol();
  }
}

/** The policy chain's rules: affinity, then `numgen` over the endpoints (`names`: the endpoints' names, in order). */
function writeServiceToEndpointRules(tx: Tx, svc: ServicePortInfo, chain: string, names: readonly NftEndpointNames[]): void {
  if (svc.clientIPAffinity) {
    for (const n of names) tx.addRule(chain, `ip saddr @${n.affinitySet} goto ${n.chain}`);
  }
  tx.beginRule(chain);
  tx.w(`numgen random mod ${names.length} vmap { `);
  for (let i = 0; i < names.length; i++) {
    if (i > 0) tx.w(" , ");
    tx.w(String(i));
    tx.w(" : goto ");
    tx.w(names[i]!.chain);
  }
  tx.w(" }");
  tx.eol();
}
