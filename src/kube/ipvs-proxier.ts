/**
 * kube-proxy's IPVS mode as a pure function (pkg/proxy/ipvs/proxier.go syncProxyRules,
 * syncEndpoint, writeIptablesRules; v1.33): Services + EndpointSlices + node facts → the
 * virtual servers, the addresses on kube-ipvs0, the ipsets and the iptables text that
 * kube-proxy would leave on the node.
 *
 * Endpoint selection is the iptables proxier's (`categorizeEndpoints`); what differs is the
 * use: a virtual server under a Local policy takes the local endpoints, and when there are
 * none it falls back to the cluster endpoints (PR #97081) where iptables mode would DROP.
 *
 * Everything kube-proxy keeps in Go maps and sets comes out sorted: service ports by
 * `ns/name:port/PROTO`, virtual servers by address, port and protocol, real servers and set
 * entries as strings.
 */
import { LineBuffer, cidrContains, formatCidr, formatIpv4, parseCidr, parseIpv4 } from "../base/index.js";
import { buildEndpointsMap, type EndpointInfo } from "./endpoints-map.js";
import {
  IPVS_IPSETS,
  KUBE_CLUSTER_IP,
  KUBE_EXTERNAL_IP,
  KUBE_EXTERNAL_IP_LOCAL,
  KUBE_HEALTH_CHECK_NODE_PORT,
  KUBE_IPVS_IPS,
  KUBE_LOAD_BALANCER,
  KUBE_LOAD_BALANCER_FW,
  KUBE_LOAD_BALANCER_LOCAL,
  KUBE_LOAD_BALANCER_SOURCE_CIDR,
  KUBE_LOAD_BALANCER_SOURCE_IP,
  KUBE_LOOP_BACK,
  KUBE_NODE_PORT_LOCAL_SCTP,
  KUBE_NODE_PORT_LOCAL_TCP,
  KUBE_NODE_PORT_LOCAL_UDP,
  KUBE_NODE_PORT_SCTP,
  KUBE_NODE_PORT_TCP,
  KUBE_NODE_PORT_UDP,
  ipPortEntry,
  ipPortIpEntry,
  ipPortNetEntry,
  ipsetCreateLine,
  type IpvsIpsetType,
} from "./ipvs-ipsets.js";
import type { Protocol, ProxyState } from "./objects.js";
import { resolveOptions, type IptablesProxierOptions, type ResolvedOptions } from "./proxier-options.js";
import { allServicePorts, type ServicePortInfo } from "./service-ports.js";
import { categorizeEndpoints } from "./topology.js";

/** IP_VS_SVC_F_PERSISTENT: ClientIP session affinity. */
export const IPVS_FLAG_PERSISTENT = 0x1;
/** IP_VS_SVC_F_HASHED: set by the kernel on every service it lists. */
export const IPVS_FLAG_HASHED = 0x2;
/** IP_VS_SVC_F_SCHED2 (kube-proxy's FlagSourceHash): set with the `mh` scheduler. */
export const IPVS_FLAG_SOURCE_HASH = 0x10;

export const DEFAULT_IPVS_SCHEDULER = "rr";
export const KUBE_IPVS_DEVICE = "kube-ipvs0";

export interface IpvsProxierOptions extends IptablesProxierOptions {
  /** `--ipvs-scheduler`; default rr. */
  scheduler?: string;
}

export interface IpvsRealServer {
  address: string;
  port: number;
  weight: number;
}

/** Which Service address a virtual server stands for. */
export type IpvsVirtualServerKind = "clusterIP" | "externalIP" | "loadBalancer" | "nodePort";

export interface IpvsVirtualServer {
  protocol: Protocol;
  address: string;
  port: number;
  scheduler: string;
  /** Seconds of ClientIP affinity (`-p`); 0 without affinity. */
  persistentTimeout: number;
  /** IPVS_FLAG_PERSISTENT | IPVS_FLAG_SOURCE_HASH. */
  flags: number;
  realServers: IpvsRealServer[];
  /** `ns/name[:port]` of the Service port that owns it. */
  servicePort: string;
  kind: IpvsVirtualServerKind;
}

export interface IpvsIpset {
  name: string;
  type: IpvsIpsetType;
  comment: string;
  /** Sorted entry texts. */
  entries: string[];
}

export interface IpvsSyncResult {
  /** Sorted by `virtualServerKey`. */
  virtualServers: IpvsVirtualServer[];
  /** Addresses kube-proxy binds to kube-ipvs0, sorted numerically. */
  dummyAddresses: string[];
  /** Every set kube-proxy ensures, in its order, with this sync's entries. */
  ipsets: IpvsIpset[];
  /** `ipset restore` input creating every set and adding its entries. */
  ipsetText: string;
  /** `iptables-restore --noflush --counters` input (`*nat` then `*filter`). */
  iptablesText: string;
  /** The node addresses NodePort virtual servers were created on. */
  nodePortAddresses: string[];
}

/** kube-proxy's VirtualServer.String(): `ip:port/PROTO`. */
export function virtualServerKey(vs: Pick<IpvsVirtualServer, "address" | "port" | "protocol">): string {
  return `${vs.address}:${vs.port}/${vs.protocol}`;
}

/** GetUniqueRSName: `ip:port/PROTO/rip:rport`, the graceful-termination list key. */
export function uniqueRealServerName(vs: Pick<IpvsVirtualServer, "address" | "port" | "protocol">, rs: Pick<IpvsRealServer, "address" | "port">): string {
  return `${virtualServerKey(vs)}/${rs.address}:${rs.port}`;
}

const LOOPBACK_NET = 127;
const quoted = (text: string): string => `"${text}"`;
const byNumber = (a: string, b: string): number => parseIpv4(a) - parseIpv4(b);
const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

interface SyncContext {
  o: ResolvedOptions;
  scheduler: string;
  sets: Map<string, Set<string>>;
  servers: Map<string, IpvsVirtualServer>;
  bound: Set<string>;
  /** Node addresses outside kube-ipvs0 (loopback excluded, as kube-proxy's netlink filter does). */
  nodeAddresses: Set<string>;
  /** LB IP, protocol and port of LoadBalancers the node itself may not reach (issue 119656). */
  noNodeAccess: { ip: string; proto: string; port: number }[];
}

/** The addresses NodePort virtual servers go on: every node address, or the --nodeport-addresses selection. */
function nodePortIPs(o: ResolvedOptions): number[] {
  const ips = [...new Set(o.localAddresses)].filter((ip) => ip >>> 24 !== LOOPBACK_NET);
  const chosen = o.nodePortMatchAll ? ips : ips.filter((ip) => o.nodePortCidrs.some((c) => cidrContains(c, ip)));
  return chosen.sort((a, b) => a - b);
}

export function syncIpvs(state: ProxyState, options: IpvsProxierOptions): IpvsSyncResult {
  const o = resolveOptions(options);
  const scheduler = options.scheduler || DEFAULT_IPVS_SCHEDULER;
  const ctx: SyncContext = {
    o,
    scheduler,
    sets: new Map(IPVS_IPSETS.map((s) => [s.name, new Set<string>()])),
    servers: new Map(),
    bound: new Set(),
    nodeAddresses: new Set(o.localAddresses.filter((ip) => ip >>> 24 !== LOOPBACK_NET).map(formatIpv4)),
    noNodeAccess: [],
  };
  const ports = allServicePorts(state.services);
  const endpoints = buildEndpointsMap(state.endpointSlices, { hostname: o.hostname, nodeHints: o.nodeHints });
  const hasNodePort = ports.some((p) => p.nodePort !== 0);
  const nodeIPs = hasNodePort ? nodePortIPs(o).map(formatIpv4) : [];
  for (const svc of ports) syncServicePort(ctx, svc, endpoints.get(svc.key) ?? [], nodeIPs);
  ctx.sets.set(KUBE_IPVS_IPS, new Set(ctx.bound));

  const ipsets: IpvsIpset[] = IPVS_IPSETS.map((info) => ({ ...info, entries: [...ctx.sets.get(info.name)!].sort(byText) }));
  return {
    virtualServers: [...ctx.servers.values()].sort((a, b) => byText(virtualServerKey(a), virtualServerKey(b))),
    dummyAddresses: [...ctx.bound].sort(byNumber),
    ipsets,
    ipsetText: ipsetRestoreText(ipsets),
    iptablesText: writeIptablesRules(o, ipsets, ctx.noNodeAccess),
    nodePortAddresses: nodeIPs,
  };
}

/** `ipset restore` input: every set's `create` line, then its `add` lines. */
export function ipsetRestoreText(ipsets: readonly IpvsIpset[]): string {
  const out = new LineBuffer();
  for (const s of ipsets) {
    out.write(ipsetCreateLine(s));
    for (const e of s.entries) out.write("add", s.name, e);
  }
  return out.toString();
}

function add(ctx: SyncContext, set: string, entry: string): void {
  ctx.sets.get(set)!.add(entry);
}

function syncServicePort(ctx: SyncContext, svc: ServicePortInfo, all: readonly EndpointInfo[], nodeIPs: readonly string[]): void {
  const { o } = ctx;
  const proto = svc.proto;
  // Hairpin: every local endpoint, whatever its state, may reach itself through the service.
  for (const ep of all) if (ep.isLocal) add(ctx, KUBE_LOOP_BACK, ipPortIpEntry(ep.ip, proto, ep.port, ep.ip));

  const cat = categorizeEndpoints(all, svc, { nodeName: o.hostname, zone: o.zone });
  const realServers = (onlyLocal: boolean): IpvsRealServer[] => {
    const chosen = onlyLocal && cat.local.length > 0 ? cat.local : cat.cluster;
    return chosen.map((ep) => ({ address: ep.ip, port: ep.port, weight: 1 }));
  };
  const server = (address: string, port: number, kind: IpvsVirtualServerKind, onlyLocal: boolean): void => {
    const vs: IpvsVirtualServer = {
      protocol: svc.protocol,
      address,
      port,
      scheduler: ctx.scheduler,
      persistentTimeout: svc.clientIPAffinity ? svc.stickySeconds : 0,
      flags: (svc.clientIPAffinity ? IPVS_FLAG_PERSISTENT : 0) | (ctx.scheduler === "mh" ? IPVS_FLAG_SOURCE_HASH : 0),
      realServers: realServers(onlyLocal),
      servicePort: svc.spn,
      kind,
    };
    // Two service ports claiming one virtual server: kube-proxy updates it in place, so the
    // later one (here: in sorted order) wins.
    ctx.servers.set(virtualServerKey(vs), vs);
  };

  // The cluster IP: always bound to kube-ipvs0; its traffic policy is the internal one.
  add(ctx, KUBE_CLUSTER_IP, ipPortEntry(svc.clusterIP, proto, svc.port));
  server(svc.clusterIP, svc.port, "clusterIP", svc.internalPolicyLocal);
  ctx.bound.add(svc.clusterIP);

  for (const ip of svc.externalIPs) {
    add(ctx, svc.externalPolicyLocal ? KUBE_EXTERNAL_IP_LOCAL : KUBE_EXTERNAL_IP, ipPortEntry(ip, proto, svc.port));
    server(ip, svc.port, "externalIP", svc.externalPolicyLocal);
    if (!ctx.nodeAddresses.has(ip)) ctx.bound.add(ip);
  }

  for (const ip of svc.loadBalancerVIPs) {
    const entry = ipPortEntry(ip, proto, svc.port);
    add(ctx, KUBE_LOAD_BALANCER, entry);
    if (svc.externalPolicyLocal) add(ctx, KUBE_LOAD_BALANCER_LOCAL, entry);
    if (svc.sourceRanges.length > 0) {
      add(ctx, KUBE_LOAD_BALANCER_FW, entry);
      let allowFromNode = false;
      for (const range of svc.sourceRanges) {
        add(ctx, KUBE_LOAD_BALANCER_SOURCE_CIDR, ipPortNetEntry(ip, proto, svc.port, range));
        const c = parseCidr(range, false);
        if (c && cidrContains(c, o.nodeIP)) allowFromNode = true;
      }
      // A VIP bound on the node makes the node's own requests arrive with the VIP as source.
      if (allowFromNode) add(ctx, KUBE_LOAD_BALANCER_SOURCE_IP, ipPortIpEntry(ip, proto, svc.port, ip));
      else ctx.noNodeAccess.push({ ip, proto, port: svc.port });
    }
    server(ip, svc.port, "loadBalancer", svc.externalPolicyLocal);
    if (!ctx.nodeAddresses.has(ip)) ctx.bound.add(ip);
  }

  if (svc.nodePort !== 0) {
    // kube-proxy gives up on the rest of this service port (health check included) when it
    // found no node address to put the NodePort on.
    if (nodeIPs.length === 0) return;
    const sctp = svc.protocol === "SCTP";
    const entries = sctp ? nodeIPs.map((ip) => ipPortEntry(ip, proto, svc.nodePort)) : [String(svc.nodePort)];
    const plain = { TCP: KUBE_NODE_PORT_TCP, UDP: KUBE_NODE_PORT_UDP, SCTP: KUBE_NODE_PORT_SCTP }[svc.protocol];
    const local = { TCP: KUBE_NODE_PORT_LOCAL_TCP, UDP: KUBE_NODE_PORT_LOCAL_UDP, SCTP: KUBE_NODE_PORT_LOCAL_SCTP }[svc.protocol];
    for (const e of entries) add(ctx, plain, e);
    if (svc.externalPolicyLocal) for (const e of entries) add(ctx, local, e);
    for (const ip of nodeIPs) server(ip, svc.nodePort, "nodePort", svc.externalPolicyLocal);
  }

  if (svc.healthCheckNodePort !== 0) add(ctx, KUBE_HEALTH_CHECK_NODE_PORT, String(svc.healthCheckNodePort));
}

// ---------------------------------------------------------------- iptables

export const KUBE_SERVICES = "KUBE-SERVICES";
export const KUBE_POSTROUTING = "KUBE-POSTROUTING";
export const KUBE_NODE_PORT = "KUBE-NODE-PORT";
export const KUBE_LOAD_BALANCER_CHAIN = "KUBE-LOAD-BALANCER";
export const KUBE_MARK_MASQ = "KUBE-MARK-MASQ";
export const KUBE_FORWARD = "KUBE-FORWARD";
export const KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL";
export const KUBE_SOURCE_RANGES_FIREWALL = "KUBE-SOURCE-RANGES-FIREWALL";
export const KUBE_IPVS_FILTER = "KUBE-IPVS-FILTER";
export const KUBE_IPVS_OUT_FILTER = "KUBE-IPVS-OUT-FILTER";

/** The chains IPVS mode declares on every sync (iptablesChains), per table. */
export const IPVS_NAT_CHAINS = [KUBE_SERVICES, KUBE_POSTROUTING, KUBE_NODE_PORT, KUBE_LOAD_BALANCER_CHAIN, KUBE_MARK_MASQ] as const;
export const IPVS_FILTER_CHAINS = [KUBE_FORWARD, KUBE_NODE_PORT, KUBE_PROXY_FIREWALL, KUBE_SOURCE_RANGES_FIREWALL, KUBE_IPVS_FILTER, KUBE_IPVS_OUT_FILTER] as const;

interface SetRule {
  set: string;
  table: "nat" | "filter";
  from: string;
  to: string;
  dirs: string;
  proto: string;
}

/**
 * ipsetWithIptablesChain: one rule per non-empty set, in this order. The LOCAL node-port
 * sets come before their plain sets so that Local traffic RETURNs before being marked.
 */
const SET_RULES: readonly SetRule[] = [
  { set: KUBE_LOOP_BACK, table: "nat", from: KUBE_POSTROUTING, to: "MASQUERADE", dirs: "dst,dst,src", proto: "" },
  { set: KUBE_LOAD_BALANCER, table: "nat", from: KUBE_SERVICES, to: KUBE_LOAD_BALANCER_CHAIN, dirs: "dst,dst", proto: "" },
  { set: KUBE_LOAD_BALANCER_LOCAL, table: "nat", from: KUBE_LOAD_BALANCER_CHAIN, to: "RETURN", dirs: "dst,dst", proto: "" },
  { set: KUBE_NODE_PORT_LOCAL_TCP, table: "nat", from: KUBE_NODE_PORT, to: "RETURN", dirs: "dst", proto: "tcp" },
  { set: KUBE_NODE_PORT_TCP, table: "nat", from: KUBE_NODE_PORT, to: KUBE_MARK_MASQ, dirs: "dst", proto: "tcp" },
  { set: KUBE_NODE_PORT_LOCAL_UDP, table: "nat", from: KUBE_NODE_PORT, to: "RETURN", dirs: "dst", proto: "udp" },
  { set: KUBE_NODE_PORT_UDP, table: "nat", from: KUBE_NODE_PORT, to: KUBE_MARK_MASQ, dirs: "dst", proto: "udp" },
  { set: KUBE_NODE_PORT_LOCAL_SCTP, table: "nat", from: KUBE_NODE_PORT, to: "RETURN", dirs: "dst,dst", proto: "sctp" },
  { set: KUBE_NODE_PORT_SCTP, table: "nat", from: KUBE_NODE_PORT, to: KUBE_MARK_MASQ, dirs: "dst,dst", proto: "sctp" },
  { set: KUBE_LOAD_BALANCER_FW, table: "filter", from: KUBE_PROXY_FIREWALL, to: KUBE_SOURCE_RANGES_FIREWALL, dirs: "dst,dst", proto: "" },
  { set: KUBE_LOAD_BALANCER_SOURCE_CIDR, table: "filter", from: KUBE_SOURCE_RANGES_FIREWALL, to: "RETURN", dirs: "dst,dst,src", proto: "" },
  { set: KUBE_LOAD_BALANCER_SOURCE_IP, table: "filter", from: KUBE_SOURCE_RANGES_FIREWALL, to: "RETURN", dirs: "dst,dst,src", proto: "" },
];

/**
 * writeIptablesRules plus the chain declarations of createAndLinkKubeChain, as the restore
 * text kube-proxy writes: `*nat`, its chains and rules, `COMMIT`, then the same for
 * `*filter`. Set rules are only written for non-empty sets; the KUBE-IPVS-FILTER and
 * health-check rules name their sets whether or not they are empty, so every set must exist
 * before this text is loaded.
 */
export function writeIptablesRules(o: ResolvedOptions, ipsets: readonly IpvsIpset[], noNodeAccess: readonly { ip: string; proto: string; port: number }[]): string {
  const set = (name: string): IpvsIpset => ipsets.find((s) => s.name === name)!;
  const empty = (name: string): boolean => set(name).entries.length === 0;
  const comment = (name: string): string[] => ["-m", "comment", "--comment", quoted(set(name).comment)];
  const nat = new LineBuffer();
  const filter = new LineBuffer();
  const mark = `${o.mark}/${o.mark}`;

  nat.write("-A", KUBE_SERVICES, "-s", "127.0.0.0/8", "-j", "RETURN");
  for (const r of SET_RULES) {
    if (empty(r.set)) continue;
    (r.table === "filter" ? filter : nat).write("-A", r.from, r.proto ? ["-p", r.proto] : [], comment(r.set), "-m", "set", "--match-set", r.set, r.dirs, "-j", r.to);
  }

  if (!empty(KUBE_CLUSTER_IP)) {
    const head = ["-A", KUBE_SERVICES, ...comment(KUBE_CLUSTER_IP), "-m", "set", "--match-set", KUBE_CLUSTER_IP];
    if (o.masqueradeAll) nat.write(head, "dst,dst", "-j", KUBE_MARK_MASQ);
    else if (o.detector) nat.write(head, "dst,dst", "!", "-s", formatCidr(o.detector), "-j", KUBE_MARK_MASQ);
    // Without a detector: masquerade node-originated traffic whose source is a VIP itself.
    else nat.write(head, "src,dst", "-j", KUBE_MARK_MASQ);
  }
  const externalAccept = (head: string[]): void => {
    // Off-node traffic (not from a bridge port, not from a local address), and traffic to
    // external IPs that are local addresses of this node, is accepted here.
    nat.write(head, "-m", "physdev", "!", "--physdev-is-in", "-m", "addrtype", "!", "--src-type", "LOCAL", "-j", "ACCEPT");
    nat.write(head, "-m", "addrtype", "--dst-type", "LOCAL", "-j", "ACCEPT");
  };
  if (!empty(KUBE_EXTERNAL_IP)) {
    const head = ["-A", KUBE_SERVICES, ...comment(KUBE_EXTERNAL_IP), "-m", "set", "--match-set", KUBE_EXTERNAL_IP, "dst,dst"];
    nat.write(head, "-j", KUBE_MARK_MASQ);
    externalAccept(head);
  }
  if (!empty(KUBE_EXTERNAL_IP_LOCAL)) {
    externalAccept(["-A", KUBE_SERVICES, ...comment(KUBE_EXTERNAL_IP_LOCAL), "-m", "set", "--match-set", KUBE_EXTERNAL_IP_LOCAL, "dst,dst"]);
  }
  nat.write("-A", KUBE_SERVICES, "-m", "addrtype", "--dst-type", "LOCAL", "-j", KUBE_NODE_PORT);
  nat.write("-A", KUBE_LOAD_BALANCER_CHAIN, "-j", KUBE_MARK_MASQ);
  filter.write("-A", KUBE_SOURCE_RANGES_FIREWALL, "-j", "DROP");
  // The node would reach a LoadBalancer VIP bound on kube-ipvs0 with the VIP as source,
  // bypassing the source ranges: drop it unless the node's IP is in a range (issue 119656).
  for (const e of noNodeAccess) {
    filter.write("-A", KUBE_IPVS_OUT_FILTER, "-s", e.ip, "-m", "ipvs", "--vaddr", e.ip, "--vproto", e.proto, "--vport", String(e.port), "-j", "DROP");
  }
  // acceptIPVSTraffic: at the end of KUBE-SERVICES, so other rules cannot undo IPVS.
  for (const name of [KUBE_CLUSTER_IP, KUBE_LOAD_BALANCER]) {
    if (!empty(name)) nat.write("-A", KUBE_SERVICES, "-m", "set", "--match-set", name, "dst,dst", "-j", "ACCEPT");
  }
  filter.write("-A", KUBE_FORWARD, "-m", "comment", "--comment", quoted("kubernetes forwarding rules"), "-m", "mark", "--mark", mark, "-j", "ACCEPT");
  filter.write("-A", KUBE_FORWARD, "-m", "comment", "--comment", quoted("kubernetes forwarding conntrack rule"), "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT");
  filter.write("-A", KUBE_NODE_PORT, comment(KUBE_HEALTH_CHECK_NODE_PORT), "-m", "set", "--match-set", KUBE_HEALTH_CHECK_NODE_PORT, "dst", "-j", "ACCEPT");
  // KUBE-IPVS-FILTER: a VIP on kube-ipvs0 must not expose the node's own ports (issue 72236).
  for (const name of [KUBE_LOAD_BALANCER, KUBE_CLUSTER_IP, KUBE_EXTERNAL_IP, KUBE_EXTERNAL_IP_LOCAL]) {
    filter.write("-A", KUBE_IPVS_FILTER, "-m", "set", "--match-set", name, "dst,dst", "-j", "RETURN");
  }
  filter.write("-A", KUBE_IPVS_FILTER, "-m", "set", "--match-set", KUBE_HEALTH_CHECK_NODE_PORT, "dst", "-j", "RETURN");
  filter.write("-A", KUBE_IPVS_FILTER, "-m", "conntrack", "--ctstate", "NEW", "-m", "set", "--match-set", KUBE_IPVS_IPS, "dst", "-j", "REJECT");

  nat.write("-A", KUBE_POSTROUTING, "-m", "mark", "!", "--mark", mark, "-j", "RETURN");
  if (o.unmarkBeforeMasquerade) nat.write("-A", KUBE_POSTROUTING, "-j", "MARK", "--xor-mark", o.mark);
  const masq = ["-A", KUBE_POSTROUTING, "-m", "comment", "--comment", quoted("kubernetes service traffic requiring SNAT"), "-j", "MASQUERADE"];
  if (o.randomFully) masq.push("--random-fully");
  nat.write(masq);
  nat.write("-A", KUBE_MARK_MASQ, "-j", "MARK", "--or-mark", o.mark);

  const chains = (names: readonly string[]): string => names.map((c) => `:${c} - [0:0]\n`).join("");
  return `*nat\n${chains(IPVS_NAT_CHAINS)}${nat}COMMIT\n*filter\n${chains(IPVS_FILTER_CHAINS)}${filter}COMMIT\n`;
}
