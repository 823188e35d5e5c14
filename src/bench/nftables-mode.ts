/**
 * kube-proxy's nftables mode under benchmark: every node set up by ClusterServices in
 * nftables mode (kube-proxy's `ip kube-proxy` table loaded as `nft -f` transactions into
 * the node's nft ruleset, beside flannel's iptables rules), partial syncs for an endpoint
 * change and for a new Service, the modelled cost as nft rules evaluated plus the iptables
 * rules (flannel's) the same packets cross, and the fast core as the node's prerouting nft
 * base chains (kube-proxy's `filter-prerouting-pre-dnat` at -110, then `nat-prerouting` at
 * -100 through the NAT core) run on a prebuilt packet context for the first packet of each
 * new connection, as the iptables adapter runs its engine's nat PREROUTING.
 *
 * Object counts are read from the node's nft ruleset (kube-proxy's table as loaded), not
 * from the transaction text.
 */
import { type Clock, Rng, formatCidr, hostNowMs } from "../base/index.js";
import { Cluster, type NodeRuntime } from "../cluster/build.js";
import { ClusterServices } from "../cluster/services.js";
import { NftablesMode } from "../cluster/proxy-modes/index.js";
import { type KubeDocument, NFT_FAMILY, NFT_TABLE, syncNftablesRules } from "../kube/index.js";
import { type CompiledChain, type CompiledNft, NFT_CT_NEW, NftEvaluator, NftPacket, NftResult, type NftRuleset, type NftTable, compileRuleset } from "../nftables/index.js";
import { ipv4 } from "../wire/ipv4.js";
import { bootForBench } from "./boot.js";
import type { CoreFigures, EngineChoice, KernelRuleset, ObjectCounts, ProxyModeBench, ResyncTimes, SetupFigures } from "./modes.js";
import { type Workload, writeNewFlowPacket } from "./workload.js";

/** kube-proxy's table in a node's nft ruleset. */
export function kubeProxyTable(rs: NftRuleset | null): NftTable | null {
  return rs?.tables.find((t) => t.family === NFT_FAMILY && t.name === NFT_TABLE) ?? null;
}

/** Chains, rules and set/map elements of kube-proxy's table. */
export function countNftObjects(table: NftTable | null): { chains: number; rules: number; baseChains: number; sets: number; setElements: number } {
  const out = { chains: 0, rules: 0, baseChains: 0, sets: 0, setElements: 0 };
  if (table === null) return out;
  for (const c of table.chains.values()) {
    out.chains++;
    if (c.base) out.baseChains++;
    out.rules += c.rules.length;
  }
  for (const s of table.sets.values()) {
    out.sets++;
    out.setElements += s.elements.length;
  }
  return out;
}

/**
 * The first packet of a new connection through one node's prerouting nft base chains, on a
 * prebuilt packet: the filter chains (at their own priority) and the nat chains (through
 * the NAT core, until one binds) in priority order, as the netfilter glue runs them. No
 * conntrack, no rewrite: the classifier alone.
 */
export class NftPreroutingCore {
  private readonly chains: CompiledChain[];
  private readonly eval: NftEvaluator;
  private readonly p = new NftPacket();
  private readonly r = new NftResult();
  rules = 0;
  exprs = 0;

  constructor(
    readonly compiled: CompiledNft,
    env: { rtnType(ip: number): number; clock: Clock },
    seed: number,
    readonly inDev = "cni0",
  ) {
    this.chains = [...compiled.filter.prerouting, ...compiled.nat.prerouting].sort((a, b) => a.priority - b.priority);
    this.eval = new NftEvaluator({ rtnType: env.rtnType, rng: new Rng(seed), clock: env.clock });
  }

  /** Classifies the IPv4 datagram in `bytes` (ct state new); returns the DNAT binding's address (0 when none). */
  classify(bytes: Uint8Array, len: number): number {
    const p = this.p;
    p.buf = bytes;
    p.ipOff = 0;
    p.len = len;
    p.src = ipv4.src(bytes, 0);
    p.dst = ipv4.dst(bytes, 0);
    p.proto = ipv4.protocol(bytes, 0);
    p.thOff = ipv4.payloadOffset(bytes, 0);
    p.iifname = this.inDev;
    p.oifname = "";
    p.mark = 0;
    p.ctState = NFT_CT_NEW;
    p.hasCt = true;
    p.ctStatus = 0;
    p.ctMark = 0;
    p.ctOrigSrc = p.src;
    p.ctOrigDst = p.dst;
    p.ctReplySrc = p.dst;
    p.ctReplyDst = p.src;
    const chains = this.chains;
    for (let i = 0; i < chains.length; i++) {
      const c = chains[i]!;
      const r = this.eval.run(c, p, this.r.reset(false));
      this.rules += r.rules;
      this.exprs += r.exprs;
      if (r.verdict === "drop") return 0;
      if (c.type === "nat" && r.nat !== null) return r.nat.kind === "DNAT" && r.nat.range !== null ? r.nat.range.minIp : 0;
    }
    return 0;
  }
}

export class NftablesModeBench implements ProxyModeBench {
  readonly mode = "nftables" as const;
  readonly costUnit = "rules evaluated";
  private clusterRef: Cluster | null = null;
  private services: ClusterServices | null = null;
  private workload: Workload | null = null;
  private coreState: { ruleset: NftRuleset; core: NftPreroutingCore } | null = null;

  get cluster(): Cluster {
    if (!this.clusterRef) throw new Error("setup() first");
    return this.clusterRef;
  }

  private get proxy(): NftablesMode {
    return this.services!.proxy as NftablesMode;
  }

  setup(workload: Workload): SetupFigures {
    this.workload = workload;
    const booted = bootForBench(workload, "nftables");
    this.clusterRef = booted.cluster;
    this.services = booted.services;
    return booted.figures;
  }

  private measuredNode(): NodeRuntime {
    return this.cluster.node(this.workload!.clientPod.node)!;
  }

  objects(): ObjectCounts {
    const n = countNftObjects(kubeProxyTable(this.measuredNode().netfilter.nftables));
    return { rules: n.rules, filterRules: null, natRules: null, virtualServers: null, realServers: null, ipsetEntries: null, chains: n.chains, setElements: n.setElements };
  }

  updateEndpoint(): ResyncTimes {
    return this.resync(this.workload!.documentsWithEndpointChange());
  }

  addService(): ResyncTimes {
    return this.resync(this.workload!.documentsWithNewService());
  }

  /** The model (the informers' part) outside the timing; then the measured node's partial sync (compute) and `nft -f` into podwire (apply). */
  private resync(docs: KubeDocument[]): ResyncTimes {
    const next = this.services!.modelFor(docs);
    const outcome = this.services!.updateTo(next).get(this.workload!.clientPod.node)!;
    return { ms: outcome.computeMs + outcome.applyMs, computeMs: outcome.computeMs, applyMs: outcome.applyMs };
  }

  cost(node: NodeRuntime): number {
    return node.netfilter.nftRulesEvaluated + node.netfilter.rulesEvaluated;
  }

  exprCost(node: NodeRuntime): number {
    return node.netfilter.nftExprsEvaluated;
  }

  /** The prerouting core on the measured node's current ruleset (compiled once per ruleset, outside any timing). */
  private core0(): NftPreroutingCore {
    const node = this.measuredNode();
    const rs = node.netfilter.nftables;
    if (rs === null) throw new Error("the node has no nft ruleset");
    if (this.coreState?.ruleset !== rs) {
      const nf = node.netfilter;
      const compiled = compileRuleset(rs, null, this.cluster.sim.clock.now());
      this.coreState = { ruleset: rs, core: new NftPreroutingCore(compiled, { rtnType: (ip) => 31 - Math.clz32(nf.addrType(ip)), clock: this.cluster.sim.clock }, this.workload!.seed) };
    }
    return this.coreState.core;
  }

  core(picks: Uint32Array, packets: number, engine: EngineChoice): CoreFigures | null {
    if (engine !== "compiled") return null; // podwire's nft engine has one (compiled) evaluator
    const w = this.workload!;
    const core = this.core0();
    const client = this.cluster.pod(w.clientPod.namespace, w.clientPod.name)!.spec.podIP;
    const bytes = new Uint8Array(28);
    core.rules = 0;
    core.exprs = 0;
    const t0 = hostNowMs();
    for (let i = 0; i < packets; i++) {
      writeNewFlowPacket(bytes, client, w.clusterIP(picks[i % picks.length]!), i);
      if (core.classify(bytes, 28) === 0) throw new Error(`no DNAT for a new connection to Service ${picks[i % picks.length]}`);
    }
    const ms = hostNowMs() - t0;
    return { packetsPerSec: packets / (ms / 1000), meanCost: core.rules / packets, meanExprs: core.exprs / packets };
  }

  useEngine(_engine: EngineChoice): boolean {
    return false;
  }

  kernelRules(): KernelRuleset {
    const node = this.measuredNode();
    const options = this.proxy.options(node);
    // The full sync as kube-proxy writes it on its first sync (the table does not exist yet).
    const full = syncNftablesRules(this.services!.model, options, { now: 0 });
    const ruleLines = full.text.split("\n").filter((l) => l.startsWith("add rule ")).length;
    return { loader: "nft", jumpText: "", restoreText: full.text, ruleLines, clusterCIDR: options.clusterCIDR ?? formatCidr(this.cluster.spec.clusterCIDR) };
  }

  dispose(): void {
    this.clusterRef = null;
    this.services = null;
    this.workload = null;
    this.coreState = null;
  }
}
