/**
 * kube-proxy's iptables mode as a pure function: Services + EndpointSlices + node facts +
 * flags → the `iptables-restore --noflush` input that pkg/proxy/iptables/proxier.go
 * (syncProxyRules, writeServiceToEndpointRules; v1.33) would write, line for line.
 *
 * Text is built in four line buffers (filter chains, filter rules, nat chains, nat rules; see
 * restore-lines.ts) joined as `*filter … COMMIT` then `*nat … COMMIT`. Service ports are visited in sorted
 * order (namespace/name/port/protocol) where kube-proxy walks a Go map in random order.
 *
 * The jump rules from the built-in chains are not part of this text (kube-proxy installs
 * them with EnsureRule): see jump-rules.ts.
 */
import { cidrContains, formatCidr, formatIpv4, parseCidr } from "../base/index.js";
import { endpointChain, isServiceChainName } from "./chain-names.js";
import { buildEndpointsMap, type EndpointInfo } from "./endpoints-map.js";
import type { ProxyState } from "./objects.js";
import { resolveOptions, type IptablesProxierOptions, type ResolvedOptions } from "./proxier-options.js";
import { allServicePorts, policyChains, type ServicePortInfo } from "./service-ports.js";
import { categorizeEndpoints } from "./topology.js";
import { LineCounter, RestoreLines } from "./restore-lines.js";

export const KUBE_SERVICES = "KUBE-SERVICES";
export const KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES";
export const KUBE_NODEPORTS = "KUBE-NODEPORTS";
export const KUBE_POSTROUTING = "KUBE-POSTROUTING";
export const KUBE_MARK_MASQ = "KUBE-MARK-MASQ";
export const KUBE_FORWARD = "KUBE-FORWARD";
export const KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL";
export const KUBE_FIREWALL = "KUBE-FIREWALL";
export const KUBE_PROXY_CANARY = "KUBE-PROXY-CANARY";

/** Above this many endpoints, SVC→SEP and SEP rules lose their comments (PR #65755). */
export const LARGE_CLUSTER_ENDPOINTS = 1000;

/** nfacct counter names (pkg/proxy/metrics). */
export const NFACCT_LOCALHOST_NODEPORTS = "localhost_nps_accepted_pkts";
export const NFACCT_INVALID_DROPPED = "ct_state_invalid_dropped_pkts";

export interface IptablesSyncOptions {
  /**
   * The objects of the previous sync: only Services whose Service or endpoints changed get
   * their KUBE-SVC/SVL/EXT/FW/SEP chains rewritten (kube-proxy's partial sync, v1.26+).
   * Absent: a full sync.
   */
  previous?: ProxyState;
  /**
   * The nat chains currently in the kernel; chains with a service prefix that are no longer
   * used are flushed and deleted. For a partial sync this defaults to the previous sync's
   * active chains.
   */
  existingNatChains?: Iterable<string>;
  /**
   * With `previous`: the Services (`ns/name`) whose Service object or EndpointSlices changed
   * since it, as kube-proxy's change trackers hand them to a sync (UpdatedServices). Only
   * these are compared; without it every Service is (the same result, slower).
   */
  changedServices?: Iterable<string>;
}

export interface IptablesSyncResult {
  /** `iptables-restore --noflush --counters` input. */
  text: string;
  /** nat chains this sync uses (header chains and every service chain), sorted. */
  activeNatChains: string[];
  /** Service chains flushed and deleted by this text (`:CHAIN - [0:0]` + `-X CHAIN`), sorted. */
  staleChains: string[];
  /** `ns/name` of the Services whose chains were written (all of them in a full sync). */
  writtenServices: string[];
  fullSync: boolean;
  largeClusterMode: boolean;
  /** Rule lines in the filter / nat sections (kube-proxy's sync_proxy_rules_iptables_total). */
  filterRuleLines: number;
  natRuleLines: number;
}

const chainLine = (name: string): string => `:${name} - [0:0]`;
const quoted = (text: string): string => `"${text}"`;

/** `%0.10f` of 1/n. */
export function probability(n: number): string {
  return (1 / n).toFixed(10);
}

/** Where lines go: kept (RestoreLines) or only counted (LineCounter). */
type Lines = RestoreLines | LineCounter;

class Buffers {
  readonly filterChains = new RestoreLines();
  readonly filterRules = new RestoreLines();
  readonly natChains = new RestoreLines();
  readonly natRules = new RestoreLines();
  /** Where per-service chains go for skipped services: counted, not kept. */
  readonly skippedChains = new LineCounter();
  readonly skippedRules = new LineCounter();

  text(): string {
    return RestoreLines.join(["*filter\n", this.filterChains, this.filterRules, "COMMIT\n*nat\n", this.natChains, this.natRules, "COMMIT\n"]);
  }
}

/** A signature of everything about one Service that shapes its chains (`only`: of these Services alone). */
function serviceSignatures(state: ProxyState, o: ResolvedOptions, only: ReadonlySet<string> | null): Map<string, string> {
  const services = only === null ? state.services : state.services.filter((s) => only.has(`${s.namespace}/${s.name}`));
  const slices = only === null ? state.endpointSlices : state.endpointSlices.filter((sl) => sl.serviceName !== null && only.has(`${sl.namespace}/${sl.serviceName}`));
  const eps = buildEndpointsMap(slices, { hostname: o.hostname, nodeHints: o.nodeHints });
  const sigs = new Map<string, string>();
  for (const p of allServicePorts(services)) {
    const { chains: _chains, ...rest } = p;
    const endpoints = (eps.get(p.key) ?? []).map((e) => ({ ...e, zoneHints: e.zoneHints && [...e.zoneHints], nodeHints: e.nodeHints && [...e.nodeHints] }));
    sigs.set(p.serviceKey, (sigs.get(p.serviceKey) ?? "") + JSON.stringify([rest, endpoints]));
  }
  return sigs;
}

export function syncIptablesRules(state: ProxyState, options: IptablesProxierOptions, sync: IptablesSyncOptions = {}): IptablesSyncResult {
  const o = resolveOptions(options);
  const b = new Buffers();
  const ports = allServicePorts(state.services);
  const endpointsMap = buildEndpointsMap(state.endpointSlices, { hostname: o.hostname, nodeHints: o.nodeHints });
  const fullSync = sync.previous === undefined;
  let changed: Set<string> | null = null;
  if (sync.previous) {
    const only = sync.changedServices === undefined ? null : new Set(sync.changedServices);
    const before = serviceSignatures(sync.previous, o, only);
    const after = serviceSignatures(state, o, only);
    changed = new Set();
    for (const [k, v] of after) if (before.get(k) !== v) changed.add(k);
  }

  for (const c of [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL]) b.filterChains.write(chainLine(c));
  for (const c of [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ]) b.natChains.write(chainLine(c));
  const activeNat = new Set<string>([KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ]);
  writeFixedRules(b, o);

  let totalEndpoints = 0;
  for (const p of ports) totalEndpoints += endpointsMap.get(p.key)?.length ?? 0;
  const largeCluster = totalEndpoints > LARGE_CLUSTER_ENDPOINTS;

  const written = new Set<string>();
  for (const svc of ports) {
    const skip = changed !== null && !changed.has(svc.serviceKey);
    if (!skip) written.add(svc.serviceKey);
    writeServicePort(b, o, svc, endpointsMap.get(svc.key) ?? [], { skip, largeCluster, activeNat });
  }

  const existing = sync.existingNatChains ?? (sync.previous ? syncIptablesRules(sync.previous, options).activeNatChains : []);
  const stale = [...new Set(existing)].filter((c) => !activeNat.has(c) && isServiceChainName(c)).sort();
  for (const c of stale) {
    b.natChains.write(chainLine(c));
    b.natRules.write("-X", c);
  }

  writeNodePortsTail(b, o);
  writeForwardRules(b, o);

  return {
    text: b.text(),
    activeNatChains: [...activeNat].sort(),
    staleChains: stale,
    writtenServices: [...written].sort(),
    fullSync,
    largeClusterMode: largeCluster,
    filterRuleLines: b.filterRules.length,
    natRuleLines: b.natRules.length,
  };
}

/** kube-proxy's partial sync: only the Services that changed between `previous` and `next`. */
export function partialSyncIptablesRules(previous: ProxyState, next: ProxyState, options: IptablesProxierOptions): IptablesSyncResult {
  return syncIptablesRules(next, options, { previous });
}

function writeFixedRules(b: Buffers, o: ResolvedOptions): void {
  b.natRules.write("-A", KUBE_POSTROUTING, "-m", "mark", "!", "--mark", `${o.mark}/${o.mark}`, "-j", "RETURN");
  // Clear the mark so a packet that goes through the stack again is not masqueraded twice
  // (kubernetes/kubernetes#92035; older kube-proxy did not).
  if (o.unmarkBeforeMasquerade) b.natRules.write("-A", KUBE_POSTROUTING, "-j", "MARK", "--xor-mark", o.mark);
  const masq = ["-A", KUBE_POSTROUTING, "-m", "comment", "--comment", quoted("kubernetes service traffic requiring SNAT"), "-j", "MASQUERADE"];
  if (o.randomFully) masq.push("--random-fully");
  b.natRules.write(masq);
  b.natRules.write("-A", KUBE_MARK_MASQ, "-j", "MARK", "--or-mark", o.mark);
  if (o.localhostNodePorts) {
    // route_localnet opens 127.0.0.0/8 to the outside (issue 90259); kubelet's rule closes it.
    b.filterChains.write(chainLine(KUBE_FIREWALL));
    b.filterRules.write(
      "-A", KUBE_FIREWALL, "-m", "comment", "--comment", quoted("block incoming localnet connections"),
      "-d", "127.0.0.0/8", "!", "-s", "127.0.0.0/8", "-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP",
    );
  }
}

interface PortWriteContext {
  skip: boolean;
  largeCluster: boolean;
  activeNat: Set<string>;
}

function writeServicePort(b: Buffers, o: ResolvedOptions, svc: ServicePortInfo, all: readonly EndpointInfo[], ctx: PortWriteContext): void {
  const { proto, spn, chains } = svc;
  const port = String(svc.port);
  const { cluster, local, allReachable, hasAnyEndpoints } = categorizeEndpoints(all, svc, { nodeName: o.hostname, zone: o.zone });
  const externallyAccessible = svc.nodePort !== 0 || svc.loadBalancerVIPs.length > 0 || svc.externalIPs.length > 0;
  const usesClusterChain = cluster.length > 0 && (!svc.internalPolicyLocal || externallyAccessible);
  const usesLocalChain = local.length > 0 && (svc.internalPolicyLocal || (svc.externalPolicyLocal && externallyAccessible));

  const policy = policyChains(svc, chains.cluster, chains.local, hasAnyEndpoints, local.length);
  const internalChain = policy.internal;
  const hasInternal = policy.hasInternal;
  const externalPolicyChain = policy.externalPolicy;
  const hasExternal = policy.hasExternal;
  const usesExtChain = hasAnyEndpoints && externallyAccessible;
  const usesFwChain = hasAnyEndpoints && svc.loadBalancerVIPs.length > 0 && svc.sourceRanges.length > 0;
  const lbChain = usesFwChain ? chains.firewall : chains.external;

  let internalTarget = "";
  let internalComment = "";
  let externalTarget = "";
  let externalComment = "";
  if (!hasAnyEndpoints) {
    internalTarget = externalTarget = "REJECT";
    internalComment = externalComment = quoted(`${spn} has no endpoints`);
  } else {
    if (!hasInternal) {
      internalTarget = "DROP";
      internalComment = quoted(`${spn} has no local endpoints`);
    }
    if (!hasExternal) {
      externalTarget = "DROP";
      externalComment = quoted(`${spn} has no local endpoints`);
    }
  }
  const match = (dst: string): string[] => ["-m", proto, "-p", proto, "-d", dst, "--dport", port];

  // 1. The cluster IP.
  if (hasInternal) {
    b.natRules.write("-A", KUBE_SERVICES, "-m", "comment", "--comment", quoted(`${spn} cluster IP`), match(svc.clusterIP), "-j", internalChain);
  } else {
    b.filterRules.write("-A", KUBE_SERVICES, "-m", "comment", "--comment", internalComment, match(svc.clusterIP), "-j", internalTarget);
  }
  // 2. External IPs.
  for (const ip of svc.externalIPs) {
    if (hasAnyEndpoints) {
      b.natRules.write("-A", KUBE_SERVICES, "-m", "comment", "--comment", quoted(`${spn} external IP`), match(ip), "-j", chains.external);
    }
    if (!hasExternal) {
      b.filterRules.write("-A", KUBE_EXTERNAL_SERVICES, "-m", "comment", "--comment", externalComment, match(ip), "-j", externalTarget);
    }
  }
  // 3. Load balancer VIPs.
  for (const ip of svc.loadBalancerVIPs) {
    if (hasAnyEndpoints) {
      b.natRules.write("-A", KUBE_SERVICES, "-m", "comment", "--comment", quoted(`${spn} loadbalancer IP`), match(ip), "-j", lbChain);
    }
    if (usesFwChain) {
      b.filterRules.write("-A", KUBE_PROXY_FIREWALL, "-m", "comment", "--comment", quoted(`${spn} traffic not accepted by ${chains.firewall}`), match(ip), "-j", "DROP");
    }
  }
  if (!hasExternal) {
    for (const ip of svc.loadBalancerVIPs) {
      b.filterRules.write("-A", KUBE_EXTERNAL_SERVICES, "-m", "comment", "--comment", externalComment, match(ip), "-j", externalTarget);
    }
  }
  // 4. The node port (loadBalancerSourceRanges do not apply to it).
  if (svc.nodePort !== 0) {
    const np = String(svc.nodePort);
    if (hasAnyEndpoints) {
      if (o.localhostNodePorts && o.nfacct) {
        b.natRules.write(
          "-A", KUBE_NODEPORTS, "-m", "comment", "--comment", spn, "-m", proto, "-p", proto, "-d", "127.0.0.0/8", "--dport", np,
          "-m", "nfacct", "--nfacct-name", NFACCT_LOCALHOST_NODEPORTS, "-j", chains.external,
        );
      }
      b.natRules.write("-A", KUBE_NODEPORTS, "-m", "comment", "--comment", spn, "-m", proto, "-p", proto, "--dport", np, "-j", chains.external);
    }
    if (!hasExternal) {
      b.filterRules.write(
        "-A", KUBE_EXTERNAL_SERVICES, "-m", "comment", "--comment", externalComment, "-m", "addrtype", "--dst-type", "LOCAL",
        "-m", proto, "-p", proto, "--dport", np, "-j", externalTarget,
      );
    }
  }
  // 5. The health check node port, whether or not there are local endpoints.
  if (svc.healthCheckNodePort !== 0) {
    b.filterRules.write(
      "-A", KUBE_NODEPORTS, "-m", "comment", "--comment", quoted(`${spn} health check node port`), "-m", "tcp", "-p", "tcp",
      "--dport", String(svc.healthCheckNodePort), "-j", "ACCEPT",
    );
  }

  // The service's own chains: written only when it changed (partial sync), always counted.
  const natChains: Lines = ctx.skip ? b.skippedChains : b.natChains;
  const natRules: Lines = ctx.skip ? b.skippedRules : b.natRules;

  // 6. Masquerade in the internal chain.
  if (hasInternal) {
    const args = ["-m", "comment", "--comment", quoted(`${spn} cluster IP`), ...match(svc.clusterIP)];
    if (o.masqueradeAll) natRules.write("-A", internalChain, args, "-j", KUBE_MARK_MASQ);
    else if (o.detector) natRules.write("-A", internalChain, args, "!", "-s", formatCidr(o.detector), "-j", KUBE_MARK_MASQ);
  }
  // 7. The EXT chain.
  if (usesExtChain) {
    natChains.write(chainLine(chains.external));
    ctx.activeNat.add(chains.external);
    if (!svc.externalPolicyLocal) {
      natRules.write("-A", chains.external, "-m", "comment", "--comment", quoted(`masquerade traffic for ${spn} external destinations`), "-j", KUBE_MARK_MASQ);
    } else {
      if (o.detector) {
        natRules.write("-A", chains.external, "-m", "comment", "--comment", quoted(`pod traffic for ${spn} external destinations`), "-s", formatCidr(o.detector), "-j", chains.cluster);
      }
      natRules.write("-A", chains.external, "-m", "comment", "--comment", quoted(`masquerade LOCAL traffic for ${spn} external destinations`), "-m", "addrtype", "--src-type", "LOCAL", "-j", KUBE_MARK_MASQ);
      natRules.write("-A", chains.external, "-m", "comment", "--comment", quoted(`route LOCAL traffic for ${spn} external destinations`), "-m", "addrtype", "--src-type", "LOCAL", "-j", chains.cluster);
    }
    if (hasExternal) natRules.write("-A", chains.external, "-j", externalPolicyChain);
  }
  // 8. The FW chain.
  if (usesFwChain) {
    natChains.write(chainLine(chains.firewall));
    ctx.activeNat.add(chains.firewall);
    const args = ["-A", chains.firewall, "-m", "comment", "--comment", quoted(`${spn} loadbalancer IP`)];
    let allowFromNode = false;
    for (const range of svc.sourceRanges) {
      natRules.write(args, "-s", range, "-j", chains.external);
      const c = parseCidr(range, false);
      if (c && cidrContains(c, o.nodeIP)) allowFromNode = true;
    }
    // A VIP bound locally makes the node's own requests arrive with the VIP as source.
    if (allowFromNode) for (const ip of svc.loadBalancerVIPs) natRules.write(args, "-s", ip, "-j", chains.external);
    natRules.write("-A", chains.firewall, "-m", "comment", "--comment", quoted(`other traffic to ${spn} will be dropped by KUBE-PROXY-FIREWALL`));
  }
  // 9. SVC and SVL bodies.
  if (usesClusterChain) {
    natChains.write(chainLine(chains.cluster));
    ctx.activeNat.add(chains.cluster);
    writeEndpointRules(natRules, svc, chains.cluster, cluster, ctx.largeCluster);
  }
  if (usesLocalChain) {
    natChains.write(chainLine(chains.local));
    ctx.activeNat.add(chains.local);
    writeEndpointRules(natRules, svc, chains.local, local, ctx.largeCluster);
  }
  // 10. One chain per reachable endpoint.
  for (const ep of allReachable) {
    const sep = endpointChain(spn, proto, ep.text);
    natChains.write(chainLine(sep));
    ctx.activeNat.add(sep);
    const head = ["-A", sep, ...(ctx.largeCluster ? [] : ["-m", "comment", "--comment", spn])];
    natRules.write(head, "-s", ep.ip, "-j", KUBE_MARK_MASQ); // hairpin: a Pod reaching itself
    const dnat = [...head];
    if (svc.clientIPAffinity) dnat.push("-m", "recent", "--name", sep, "--set");
    dnat.push("-m", proto, "-p", proto, "-j", "DNAT", "--to-destination", ep.text);
    natRules.write(dnat);
  }
}

function writeEndpointRules(rules: Lines, svc: ServicePortInfo, chain: string, endpoints: readonly EndpointInfo[], largeCluster: boolean): void {
  const comment = (ep: EndpointInfo): string[] => (largeCluster ? [] : ["-m", "comment", "--comment", quoted(`${svc.spn} -> ${ep.text}`)]);
  if (svc.clientIPAffinity) {
    for (const ep of endpoints) {
      const sep = endpointChain(svc.spn, svc.proto, ep.text);
      rules.write("-A", chain, comment(ep), "-m", "recent", "--name", sep, "--rcheck", "--seconds", String(svc.stickySeconds), "--reap", "-j", sep);
    }
  }
  const n = endpoints.length;
  endpoints.forEach((ep, i) => {
    const sep = endpointChain(svc.spn, svc.proto, ep.text);
    const stat = i < n - 1 ? ["-m", "statistic", "--mode", "random", "--probability", probability(n - i)] : [];
    rules.write("-A", chain, comment(ep), stat, "-j", sep);
  });
}

function writeNodePortsTail(b: Buffers, o: ResolvedOptions): void {
  const comment = quoted("kubernetes service nodeports; NOTE: this must be the last rule in this chain");
  if (o.nodePortMatchAll) {
    const dst = ["-m", "addrtype", "--dst-type", "LOCAL"];
    if (!o.localhostNodePorts) dst.push("!", "-d", "127.0.0.0/8");
    b.natRules.write("-A", KUBE_SERVICES, "-m", "comment", "--comment", comment, dst, "-j", KUBE_NODEPORTS);
    return;
  }
  const seen = new Set<number>();
  for (const c of o.nodePortCidrs) {
    for (const ip of o.localAddresses) {
      if (seen.has(ip) || !cidrContains(c, ip)) continue;
      seen.add(ip);
      if (ip >>> 24 === 127 && !o.localhostNodePorts) continue; // kube-proxy logs and skips it
      b.natRules.write("-A", KUBE_SERVICES, "-m", "comment", "--comment", comment, "-d", formatIpv4(ip), "-j", KUBE_NODEPORTS);
    }
  }
}

function writeForwardRules(b: Buffers, o: ResolvedOptions): void {
  if (!o.conntrackTCPLiberal && o.dropInvalid) {
    const rule = ["-A", KUBE_FORWARD, "-m", "conntrack", "--ctstate", "INVALID"];
    if (o.nfacct) rule.push("-m", "nfacct", "--nfacct-name", NFACCT_INVALID_DROPPED);
    rule.push("-j", "DROP");
    b.filterRules.write(rule);
  }
  b.filterRules.write("-A", KUBE_FORWARD, "-m", "comment", "--comment", quoted("kubernetes forwarding rules"), "-m", "mark", "--mark", `${o.mark}/${o.mark}`, "-j", "ACCEPT");
  b.filterRules.write("-A", KUBE_FORWARD, "-m", "comment", "--comment", quoted("kubernetes forwarding conntrack rule"), "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT");
}

