/**
 * Netfilter in a namespace: the five IPv4 hooks with the kernel's priorities —
 *
 *   PREROUTING   raw (-300), conntrack (-200), mangle (-150), nat dst (-100)
 *   INPUT        mangle, filter, nat src (100), conntrack confirm (last)
 *   FORWARD      mangle, filter
 *   OUTPUT       raw, conntrack, mangle, nat dst, filter
 *   POSTROUTING  mangle, nat src (100), conntrack confirm (last)
 *
 * (nftables/hook-stages.ts has the order, nft base chains included.) The nat table and nft's nat
 * chains are consulted only for the first packet of a connection (and for each
 * manip type once); every later packet of the flow, in both directions, is rewritten from
 * the connection's NAT binding. Bridged IPv4 frames go through the same hooks when the
 * bridge has `bridge-nf-call-iptables` on (br_netfilter), with physdev set.
 */
import { type Clock, formatIpv4 } from "../base/index.js";
import { type Conn, ConntrackTable, IPS_DST_NAT, IPS_SRC_NAT, NAT_F_PERSISTENT, NAT_F_RANDOM, NAT_F_RANDOM_FULLY, formatTuple, hasPorts } from "../conntrack/index.js";
import type { IpvsConn, IpvsTable } from "../ipvs/index.js";
import { BR_NF_CONTINUE, BR_NF_DROP, BR_NF_STOLEN, type Bridge, type BridgeNetfilterHooks, type NetDevice, type PacketBuffer, type TraceEvent, type TraceFields, type TraceFrameSide, type TraceNat, type TraceRuleStep } from "../netdev/index.js";
import { RuleEngine, Traversal, type EngineKind } from "../netfilter/engine.js";
import { type IpsetLookup, type NetfilterEnv, createEnv } from "../netfilter/env.js";
import {
  CT_STATE_DNAT,
  CT_STATE_ESTABLISHED,
  CT_STATE_INVALID,
  CT_STATE_NEW,
  CT_STATE_RELATED,
  CT_STATE_SNAT,
  CT_STATE_UNTRACKED,
  type BuiltinChain,
  type RejectWith,
  addressType,
  type Rule,
  type Ruleset,
  type TableName,
  newRuleset,
} from "../netfilter/model.js";
import { type HookName, PacketContext } from "../netfilter/packet-context.js";
import { NF_ACCEPT, NF_DROP, NF_STOLEN, type NetfilterHooks, type NfVerdict } from "./hooks.js";
import { ICMP_DST_UNREACHABLE, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, eth, ipv4 } from "../wire/index.js";
import type { KernelVersion, NatRange, Timeouts } from "../conntrack/index.js";
import { type CompiledChain, type CompiledNft, NFT_CT_INVALID, NFT_CT_UNTRACKED, NftEvaluator, NftPacket, NftResult, type NftRuleset, compileRuleset, printRule } from "../nftables/index.js";
import type { NftChanges } from "../nftables/changes.js";
import {
  NFT_HOOK,
  STAGE_CONFIRM,
  STAGE_IPT,
  STAGE_IPVS_LOCAL_IN,
  STAGE_IPVS_LOCAL_OUT,
  STAGE_IPVS_LOCAL_REPLY,
  STAGE_IPVS_REPLY,
  STAGE_NAT,
  STAGE_NFT,
  STAGE_TRACK,
  type Stage,
  buildStages,
} from "../nftables/hook-stages.js";

const NO_CHAINS: readonly CompiledChain[] = [];
/** A stage of the glue's own: a table of the other iptables backend (see NamespaceNetfilter.other). */
const STAGE_IPT_OTHER = 100;
/** bindNat's answers. */
const BIND_NONE = 0;
const BIND_DONE = 1;
const BIND_DROP = 2;
/** conntrack's CTINFO_* numbers (CtVerdict.info) → the XT_CONNTRACK_STATE bit a packet carries. */
const CTINFO_STATE = Int32Array.of(CT_STATE_ESTABLISHED, CT_STATE_RELATED, CT_STATE_NEW, CT_STATE_INVALID, CT_STATE_UNTRACKED);
import type { NetworkNamespace } from "./netns.js";

/** How REJECT answers, by --reject-with (ipt_REJECT → nf_send_unreach / nf_send_reset). */
const REJECT_CODES: Record<Exclude<RejectWith, "tcp-reset">, number> = {
  "icmp-net-unreachable": 0,
  "icmp-host-unreachable": 1,
  "icmp-proto-unreachable": 2,
  "icmp-port-unreachable": 3,
  "icmp-net-prohibited": 9,
  "icmp-host-prohibited": 10,
  "icmp-admin-prohibited": 13,
};

export interface NetfilterOptions {
  engine?: EngineKind;
  /** nf_conntrack_max. */
  conntrackMax?: number;
  /** Conntrack timeouts (seconds) other than the Linux defaults (the nf_conntrack_*_timeout* sysctls). */
  conntrackTimeouts?: Partial<Timeouts>;
  /** nf_conntrack_tcp_be_liberal. */
  tcpBeLiberal?: boolean;
  /** The node's kernel (conntrack/kernel.ts: clash resolution, NAT port search, the UDP checksum bug). */
  kernel?: KernelVersion;
  ipsets?: IpsetLookup | null;
  /** Prints a rule for traces (the iptables-save form). */
  describeRule?: (chain: string, rule: Rule) => string;
}

export class NamespaceNetfilter implements NetfilterHooks, BridgeNetfilterHooks {
  readonly conntrack: ConntrackTable;
  private current: RuleEngine;
  /** The iptables classifier in use (switched with useEngine, so each hook's plan follows it). */
  get engine(): RuleEngine {
    return this.current;
  }
  readonly env: NetfilterEnv;
  private readonly ctx = new PacketContext();
  private readonly out = new Traversal();
  private readonly describeRule: ((chain: string, rule: Rule) => string) | null;
  /** Rules evaluated by every table run so far (the modelled iptables cost). */
  rulesEvaluated = 0;
  /**
   * IPVS, when the namespace runs it (kube-proxy's IPVS mode): it takes packets for virtual
   * services at LOCAL_IN after the filter table and at LOCAL_OUT after nat, and reverses
   * the NAT of real servers' replies at FORWARD and LOCAL_IN, at the kernel's priorities.
   */
  ipvs: IpvsTable | null = null;
  /** IPVS lookups made (the modelled IPVS cost: one hash lookup per packet it examines). */
  ipvsLookups = 0;
  /** nft rules and kernel expressions evaluated so far (the modelled nftables cost). */
  nftRulesEvaluated = 0;
  nftExprsEvaluated = 0;
  private nftRuleset: NftRuleset | null = null;
  private nft: CompiledNft | null = null;
  private stages: Record<BuiltinChain, Stage[]> = buildStages(null);
  /**
   * What each hook runs per packet (made by `plan` from `stages` on first use): the stages
   * less the iptables tables without that hook's built-in chain, which accept every packet
   * (most raw and mangle ones). Dropped whenever the stages or an engine's chains change.
   */
  private readonly live: Record<BuiltinChain, HookStep[] | null> = { PREROUTING: null, INPUT: null, FORWARD: null, OUTPUT: null, POSTROUTING: null };
  /**
   * The other iptables backend's tables, when a second iptables binary wrote rules here:
   * iptables-legacy's x_tables beside iptables-nft's nf_tables chains (or the reverse). The
   * kernel runs both at the same hooks and priorities — a packet must get past each — and
   * `iptables-save` of either binary shows only its own. `first`: it runs first at an
   * equal priority — nf_hook_entries_grow puts a new hook before the existing ones of the
   * same priority, so the backend whose tables were created last runs first (a real kernel
   * does so: test/kernel/iptables-backends.test.ts).
   */
  private other: { engine: RuleEngine; name: string; first: boolean } | null = null;
  /** While the other backend's table runs: its name, for trace lines. */
  private runningOther: string | null = null;
  private readonly nftPacket = new NftPacket();
  private readonly nftResult = new NftResult();
  private readonly nftEval: NftEvaluator;

  constructor(
    readonly ns: NetworkNamespace,
    ruleset: Ruleset = newRuleset(),
    opts: NetfilterOptions = {},
  ) {
    const clock: Clock = ns.sim.clock;
    this.env = createEnv({ addrType: (ip) => this.addrType(ip), rng: ns.sim.rng.fork(), clock, ipsets: opts.ipsets ?? null });
    this.current = new RuleEngine(opts.engine ?? "compiled", ruleset, this.env);
    this.conntrack = new ConntrackTable({
      clock,
      rng: ns.sim.rng.fork(),
      ...(opts.conntrackMax !== undefined ? { max: opts.conntrackMax } : {}),
      ...(opts.conntrackTimeouts !== undefined ? { timeouts: opts.conntrackTimeouts } : {}),
      ...(opts.tcpBeLiberal !== undefined ? { tcpBeLiberal: opts.tcpBeLiberal } : {}),
      ...(opts.kernel !== undefined ? { kernel: opts.kernel } : {}),
    });
    this.describeRule = opts.describeRule ?? null;
    this.conntrackActive = needsConntrack(ruleset);
    // fib … type answers with RTN_* route types; addrType gives XT_ADDRTYPE bits (1 << RTN_*).
    this.nftEval = new NftEvaluator({ rtnType: (ip) => 31 - Math.clz32(this.addrType(ip)), rng: this.env.rng, clock });
  }

  /**
   * Whether connections are tracked in this namespace. The kernel registers conntrack in a
   * namespace only once a rule needs it (a NAT target, a conntrack or state match) and
   * keeps it from then on; before that, packets pass untracked.
   */
  conntrackActive: boolean;

  /**
   * Switches the classifier (the compiled core or the reference interpreter) on the same
   * ruleset and environment; the benchmark compares the two in place.
   */
  useEngine(kind: EngineKind): void {
    if (this.engine.kind === kind) return;
    const next = this.spareEngine?.kind === kind ? this.spareEngine : new RuleEngine(kind, this.engine.rules, this.env);
    this.spareEngine = this.engine;
    this.current = next;
    this.replan();
  }

  /** The stages or the engines' chains changed: plan every hook again on its next packet. */
  private replan(): void {
    this.live.PREROUTING = null;
    this.live.INPUT = null;
    this.live.FORWARD = null;
    this.live.OUTPUT = null;
    this.live.POSTROUTING = null;
  }

  /** `live[hook]`: the hook's stages, each iptables table only when its engine has the hook's chain. */
  private plan(hook: BuiltinChain): HookStep[] {
    const steps: HookStep[] = [];
    for (const st of this.stages[hook]) {
      if (st.kind === STAGE_IPT && !this.engine.hasChain(st.table!, hook)) continue;
      if (st.kind === STAGE_IPT_OTHER && (this.other === null || !this.other.engine.hasChain(st.table!, hook))) continue;
      // One object shape for every step (hook-stages.ts's come in several), so runHook's loads stay monomorphic.
      steps.push({ kind: st.kind, table: st.table ?? null, manip: st.manip ?? null, chain: st.chain ?? null });
    }
    this.live[hook] = steps;
    return steps;
  }

  /** The engine `useEngine` switched away from, kept while the rules stay the same. */
  private spareEngine: RuleEngine | null = null;

  /**
   * Installs (or, with null, removes) the other iptables backend's tables (see `other`):
   * `name` as the binary that writes them (`iptables-legacy`, `iptables-nft`);
   * `createdFirst`: its tables existed before this backend's (a host firewall loaded at
   * boot, before kube-proxy), so they run after them at each priority.
   */
  setOtherBackend(ruleset: Ruleset | null, name = "iptables-legacy", createdFirst = true): void {
    this.other = ruleset === null ? null : { engine: new RuleEngine(this.engine.kind, ruleset, this.env), name, first: !createdFirst };
    if (ruleset !== null && needsConntrack(ruleset)) this.conntrackActive = true;
    this.stages = this.withOtherBackend(buildStages(this.nft));
    this.replan();
  }

  /** The other backend's tables (null: none) and its binary's name. */
  get otherBackend(): { ruleset: Ruleset; name: string } | null {
    return this.other === null ? null : { ruleset: this.other.engine.rules, name: this.other.name };
  }

  /** Each iptables table stage twice when there is another backend: its own next to this one's, the backend created last first. */
  private withOtherBackend(stages: Record<BuiltinChain, Stage[]>): Record<BuiltinChain, Stage[]> {
    if (this.other === null) return stages;
    const first = this.other.first;
    for (const hook of Object.keys(stages) as BuiltinChain[]) {
      const out: Stage[] = [];
      for (const st of stages[hook]) {
        if (st.kind !== STAGE_IPT) {
          out.push(st);
          continue;
        }
        const o: Stage = { kind: STAGE_IPT_OTHER, table: st.table!, priority: st.priority };
        if (first) out.push(o, st);
        else out.push(st, o);
      }
      stages[hook] = out;
    }
    return stages;
  }

  /** Picks up an `iptables-restore --noflush` into the current ruleset that touched these chains. */
  rulesChanged(chains: Map<TableName, Set<string>>): void {
    this.spareEngine = null;
    for (const [table, names] of chains) this.engine.applyChanges(table, names);
    this.replan();
    if (!this.conntrackActive && needsConntrack(this.engine.rules)) this.conntrackActive = true;
  }

  /** Installs a new ruleset (or picks up in-place edits of the current one). */
  setRuleset(ruleset: Ruleset): void {
    this.spareEngine = null;
    this.engine.reload(ruleset);
    this.replan();
    if (needsConntrack(ruleset)) this.conntrackActive = true;
  }

  get ruleset(): Ruleset {
    return this.engine.rules;
  }

  /** XT_ADDRTYPE bits, from the namespace's addresses (inet_addr_type). */
  private readonly isLocal = (ip: number): boolean => this.ns.isLocalAddress(ip);
  private readonly isSubnetBroadcast = (ip: number): boolean => this.ns.isSubnetBroadcast(ip);

  addrType(ip: number): number {
    return addressType(ip, this.isLocal, this.isSubnetBroadcast);
  }

  // ---------------------------------------------------------------- hooks

  prerouting(_ns: NetworkNamespace, pkt: PacketBuffer, inDev: NetDevice): NfVerdict {
    // ip_sabotage_in: a frame the bridge already ran through PREROUTING is not run again.
    if (pkt.brNfDone) return NF_ACCEPT;
    return this.runHook(this.live.PREROUTING ?? this.plan("PREROUTING"), "PREROUTING", pkt, pkt.head, inDev.name, "", "", "", null);
  }

  input(_ns: NetworkNamespace, pkt: PacketBuffer, inDev: NetDevice): NfVerdict {
    return this.runHook(this.live.INPUT ?? this.plan("INPUT"), "INPUT", pkt, pkt.head, inDev.name, "", "", "", null);
  }

  forward(_ns: NetworkNamespace, pkt: PacketBuffer, inDev: NetDevice, outDev: NetDevice): NfVerdict {
    return this.runHook(this.live.FORWARD ?? this.plan("FORWARD"), "FORWARD", pkt, pkt.head, inDev.name, outDev.name, "", "", null);
  }

  output(_ns: NetworkNamespace, pkt: PacketBuffer, outDev: NetDevice): NfVerdict {
    return this.runHook(this.live.OUTPUT ?? this.plan("OUTPUT"), "OUTPUT", pkt, pkt.head, "", outDev.name, "", "", null);
  }

  postrouting(_ns: NetworkNamespace, pkt: PacketBuffer, outDev: NetDevice): NfVerdict {
    return this.runHook(this.live.POSTROUTING ?? this.plan("POSTROUTING"), "POSTROUTING", pkt, pkt.head, "", outDev.name, "", "", outDev);
  }

  // br_netfilter: bridged frames, `pkt.head` at Ethernet; the same hooks, with physdev set.
  /**
   * br_nf_pre_routing: PREROUTING on a bridged frame; then br_nf_pre_routing_finish — when
   * the hook changed the destination address (DNAT, or a reply's de-SNAT) the frame is
   * routed again to decide whether it stays bridged (see NetworkNamespace.brNfReroute).
   */
  bridgePreRouting(bridge: Bridge, inPort: NetDevice, pkt: PacketBuffer): number {
    pkt.brNfDone = true;
    const b = pkt.buf;
    const ip = eth.payloadOffset(b, pkt.head);
    const before = ipv4.dst(b, ip);
    const v = this.runHook(this.live.PREROUTING ?? this.plan("PREROUTING"), "PREROUTING", pkt, ip, bridge.name, "", inPort.name, "", null);
    if (v === NF_STOLEN) return BR_NF_STOLEN;
    if (v !== NF_ACCEPT) return BR_NF_DROP;
    const after = ipv4.dst(b, ip);
    return after === before ? BR_NF_CONTINUE : this.ns.brNfReroute(bridge, pkt);
  }

  bridgeNeighOutput(bridge: Bridge, pkt: PacketBuffer): void {
    this.ns.brNfNeighOutput(bridge, pkt);
  }

  bridgeForward(bridge: Bridge, inPort: NetDevice, outPort: NetDevice, pkt: PacketBuffer): boolean {
    const off = eth.payloadOffset(pkt.buf, pkt.head);
    // IPVS's FORWARD hook sees bridged frames too (br_nf_forward_ip runs the IPv4 FORWARD
    // hooks): a same-node real server's reply is un-NATed there. This is why IPVS mode
    // needs bridge-nf-call-iptables. br_nf_post_routing then runs POSTROUTING.
    const v = this.runHook(this.live.FORWARD ?? this.plan("FORWARD"), "FORWARD", pkt, off, bridge.name, bridge.name, inPort.name, outPort.name, null);
    if (v !== NF_ACCEPT) return false;
    return this.runHook(this.live.POSTROUTING ?? this.plan("POSTROUTING"), "POSTROUTING", pkt, off, "", bridge.name, inPort.name, outPort.name, bridge) === NF_ACCEPT;
  }

  // ---------------------------------------------------------------- the hook walk

  /**
   * nf_hook_slow: the hook's entries in priority order (see hook-stages.ts): iptables
   * tables, conntrack, the NAT core, IPVS and nft base chains. The first verdict other
   * than ACCEPT ends the walk.
   */
  private runHook(stages: readonly HookStep[], hook: BuiltinChain, pkt: PacketBuffer, off: number, inName: string, outName: string, physIn: string, physOut: string, outDev: NetDevice | null): NfVerdict {
    if (this.ns.sim.tracer !== null) this.traceHookAt(hook, inName, outName, physIn !== "" || physOut !== "");
    for (let i = 0; i < stages.length; i++) {
      const s = stages[i]!;
      let v: NfVerdict = NF_ACCEPT;
      switch (s.kind) {
        case STAGE_IPT:
          v = this.table(s.table!, hook, pkt, off, inName, outName, physIn, physOut, this.engine);
          break;
        case STAGE_IPT_OTHER:
          if (this.other !== null) v = this.table(s.table!, hook, pkt, off, inName, outName, physIn, physOut, this.other.engine);
          break;
        case STAGE_TRACK:
          v = this.track(pkt, off);
          break;
        case STAGE_NAT:
          v = this.natHook(pkt, off, hook, s.manip!, inName, outName, physIn || null, outDev);
          break;
        case STAGE_NFT:
          v = this.nftChain(s.chain!, pkt, off, inName, outName);
          break;
        case STAGE_CONFIRM:
          v = this.confirm(pkt, physIn !== "" || physOut !== "");
          break;
        case STAGE_IPVS_LOCAL_IN:
          if (this.ipvs !== null) v = this.ipvsLocalIn(pkt, off);
          break;
        case STAGE_IPVS_REPLY:
          if (this.ipvs !== null) v = this.ipvsReply(pkt, off);
          break;
        case STAGE_IPVS_LOCAL_REPLY:
          // ip_vs_local_reply4 (NAT_DST + 1): a local real server's reply to a client of a virtual service.
          if (this.ipvs !== null && pkt.ipvs === null) v = this.ipvsReply(pkt, off);
          break;
        case STAGE_IPVS_LOCAL_OUT:
          // ip_vs_local_request4 (NAT_DST + 2): this node as a client.
          if (this.ipvs !== null && pkt.ipvs === null) v = this.ipvsLocalOut(pkt, off);
          break;
      }
      if (v !== NF_ACCEPT) return v;
    }
    return NF_ACCEPT;
  }

  // ---------------------------------------------------------------- IPVS

  /** LOCAL_IN: ip_vs_reply4 (priority 98), then ip_vs_remote_request4 (99). */
  private ipvsLocalIn(pkt: PacketBuffer, off: number): NfVerdict {
    const reply = this.ipvsReply(pkt, off);
    if (reply !== NF_ACCEPT || pkt.ipvs !== null) return reply;
    const ipvs = this.ipvs!;
    this.ipvsLookups++;
    const r = ipvs.inbound(pkt.buf, off, pkt.tail - off, pkt.mark);
    switch (r.verdict) {
      case "not-virtual":
        return NF_ACCEPT;
      case "forwarded": {
        const conn = r.conn!;
        this.adoptIpvsConn(pkt, conn, r.newConn);
        // ip_vs_nat_send_or_cont: a real server at one of this node's addresses gets the
        // packet by going on up LOCAL_IN (NF_ACCEPT: no OUTPUT, no POSTROUTING, so no
        // masquerade); any other leaves towards the real server through LOCAL_OUT.
        if (this.ns.isLocalAddress(conn.daddr)) return NF_ACCEPT;
        this.ns.ipvsTransmit(pkt);
        return NF_STOLEN;
      }
      case "no-dest":
        // ip_vs_leave: no real server available → ICMP port unreachable to the client.
        this.trace(pkt, off, "ipvs", "virtual service has no available real server: ICMP port unreachable", { verdict: "REJECT", drop: { reason: "IPVS: the virtual service has no available real server" } });
        this.ns.sendIcmpError(pkt, 3, 3, 0);
        return NF_DROP;
      default:
        this.trace(pkt, off, "ipvs", `dropped (${r.reason})`, { verdict: "DROP", drop: { reason: `IPVS: ${r.reason}` } });
        if (r.icmp === "time-exceeded") this.ns.sendIcmpError(pkt, 11, 0, 0);
        return NF_DROP;
    }
  }

  /** LOCAL_OUT after nat: ip_vs_local_request4, for this node's own connections to a virtual service. */
  private ipvsLocalOut(pkt: PacketBuffer, off: number): NfVerdict {
    this.ipvsLookups++;
    const r = this.ipvs!.inbound(pkt.buf, off, pkt.tail - off, pkt.mark);
    if (r.verdict === "forwarded") {
      this.adoptIpvsConn(pkt, r.conn!, r.newConn);
      return NF_ACCEPT; // the namespace routes again: the destination changed
    }
    if (r.verdict === "not-virtual") return NF_ACCEPT;
    // ip_vs_leave answers the local sender too.
    if (r.verdict === "no-dest") this.ns.sendIcmpError(pkt, 3, 3, 0);
    return NF_DROP;
  }

  /** ip_vs_out: a real server's reply, its source rewritten back to the virtual address. */
  private ipvsReply(pkt: PacketBuffer, off: number): NfVerdict {
    if (pkt.ipvs !== null) return NF_ACCEPT;
    this.ipvsLookups++;
    const r = this.ipvs!.outbound(pkt.buf, off, pkt.tail - off);
    if (r.verdict === "forwarded") {
      pkt.ipvs = r.conn;
      if (this.ns.sim.tracer) this.traceIpvsReply(pkt, off, r.conn!);
      return NF_ACCEPT;
    }
    return r.verdict === "not-virtual" ? NF_ACCEPT : NF_DROP;
  }

  /**
   * Marks the packet as IPVS's (skb->ipvs_property) and, with `vs/conntrack=1`, points the
   * conntrack entry's reply tuple at the real server (ip_vs_update_conntrack) so its
   * replies are recognised and masquerade can be undone.
   */
  private adoptIpvsConn(pkt: PacketBuffer, conn: IpvsConn, isNew: boolean): void {
    pkt.ipvs = conn;
    const ct = pkt.ct as Conn | null;
    if (ct !== null && this.ipvs!.sysctl.conntrack !== 0 && pkt.ctDir === 0) {
      this.conntrack.alterReply(ct, { src: conn.daddr, dst: conn.caddr, proto: ct.original.proto, sport: conn.dport, dport: conn.cport });
    }
    if (this.ns.sim.tracer) this.traceIpvs(pkt, conn, isNew);
  }

  /** nf_conntrack_in: find or create the connection (unless raw said NOTRACK). */
  private track(pkt: PacketBuffer, off: number): NfVerdict {
    if (!this.conntrackActive || pkt.ctState === CT_STATE_UNTRACKED) return NF_ACCEPT;
    if (pkt.ct !== null) return NF_ACCEPT; // already tracked in this namespace (e.g. bridged then routed)
    const v = this.conntrack.inspectPacket(pkt.buf, off, pkt.tail - off);
    if (v.drop) {
      this.trace(pkt, off, "conntrack", "table full: dropping packet", { verdict: "DROP", conntrack: { state: "table full", tuple: "", direction: null }, drop: { reason: "conntrack table full" } });
      return NF_DROP;
    }
    pkt.ct = v.conn;
    v.conn?.ctGet(); // the packet's reference (nf_ct_set); PacketBuffer puts it back
    pkt.ctDir = v.dir;
    pkt.ctState = CTINFO_STATE[v.info]!;
    if (v.conn !== null) pkt.ctState |= natBits(v.conn.status);
    // Established packets are the common case; trace the interesting states only.
    if (v.ctinfo !== "ESTABLISHED" && this.ns.sim.tracer) this.traceConntrack(pkt, off, v.ctinfo, v.conn, v.dir);
    return NF_ACCEPT;
  }

  private confirm(pkt: PacketBuffer, bridged: boolean): NfVerdict {
    const conn = pkt.ct as Conn | null;
    // Confirmed already (every packet after a flow's first): nothing to do (__nf_conntrack_confirm's own first check).
    if (conn === null || conn.confirmed) return NF_ACCEPT;
    // In a softirq pass (netdev/softirq.ts) the entry is confirmed as the packet leaves the
    // stack; a bridged frame leaves from the bridge right after this hook.
    if (!bridged && pkt.softirq !== null && pkt.softirq === this.ns.softirq && pkt.passEnd > this.ns.sim.now() && !conn.confirmed) {
      pkt.confirmLate = true;
      return NF_ACCEPT;
    }
    return this.confirmNow(pkt, conn);
  }

  /** NetfilterHooks.confirmLate: the confirmation put off to the end of the softirq pass. */
  confirmLate(_ns: NetworkNamespace, pkt: PacketBuffer): NfVerdict {
    const conn = pkt.ct as Conn | null;
    return conn === null ? NF_ACCEPT : this.confirmNow(pkt, conn);
  }

  /** __nf_conntrack_confirm; a clash the kernel resolves sends the packet on with the winner's entry. */
  private confirmNow(pkt: PacketBuffer, conn: Conn): NfVerdict {
    const kept = this.conntrack.confirmPacket(conn);
    if (kept === null) {
      this.trace(pkt, pkt.head, "conntrack", "insert failed: dropping packet", { verdict: "DROP", conntrack: { state: "insert failed", tuple: formatTuple(conn.original), direction: "original" }, drop: { reason: "conntrack insert failed" }, describe: false });
      return NF_DROP;
    }
    if (kept !== conn) {
      // nf_ct_set to the winner: the packet takes its reference and lets go of the loser's.
      kept.ctGet();
      pkt.ct = kept;
      conn.ctPut();
    }
    return NF_ACCEPT;
  }

  /**
   * nf_nat_inet_fn: for a new connection, run the hook's nat chains — iptables' nat table
   * and the nft nat chains, in priority order (at equal priority the nft chains first: they
   * were registered after the iptables table, and nf_hook_entries_grow puts the newer first) — until
   * one binds, per manip type once; no binding from any of them is a null binding. Then
   * rewrite this packet from the binding.
   */
  private natHook(pkt: PacketBuffer, off: number, hook: BuiltinChain, manip: "src" | "dst", inName: string, outName: string, physIn: string | null, outDev: NetDevice | null = null): NfVerdict {
    const conn = pkt.ct as Conn | null;
    if (conn === null) return NF_ACCEPT;
    // RELATED packets (ICMP errors) belong to a flow whose bindings already exist.
    const isNew = (pkt.ctState & CT_STATE_NEW) !== 0;
    let natEvent: TraceEvent | null = null;
    if (isNew && !this.conntrack.isNatDone(conn, manip)) {
      this.lastRuleEvent = null;
      const nftChains = this.nft === null ? NO_CHAINS : this.nft.nat[NFT_HOOK[hook]];
      const iptPriority = manip === "dst" ? -100 : 100;
      let bound = BIND_NONE;
      let iptDone = false;
      for (let i = 0; i <= nftChains.length && bound === BIND_NONE; i++) {
        const chain = i < nftChains.length ? nftChains[i]! : null;
        if (!iptDone && (chain === null || chain.priority > iptPriority)) {
          iptDone = true;
          // Both iptables backends' nat tables hang off the NAT core at this priority, in registration order.
          const other = this.other !== null && this.other.engine.hasChain("nat", hook) ? this.other : null;
          for (let k = 0; k < (other === null ? 1 : 2) && bound === BIND_NONE; k++) {
            const engine = other === null || (k === 0) !== other.first ? this.engine : other.engine;
            const out = this.runTable("nat", hook, pkt, off, inName, outName, physIn ?? "", "", engine);
            if (out.verdict === "DROP") return NF_DROP;
            const nat = out.nat;
            if (nat !== null) {
              const random = nat.random ? NAT_F_RANDOM : 0;
              bound =
                nat.kind === "MASQUERADE"
                  ? this.bindNat(conn, manip, "MASQUERADE", null, nat.toPorts === null ? 0 : nat.toPorts.min, nat.toPorts === null ? 0 : nat.toPorts.max, random | (nat.randomFully ? NAT_F_RANDOM_FULLY : 0), outDev, pkt, off)
                  : this.bindNat(conn, manip, nat.kind, nat.range, 0, 0, random | (nat.kind === "SNAT" && nat.randomFully ? NAT_F_RANDOM_FULLY : 0) | (nat.persistent ? NAT_F_PERSISTENT : 0), outDev, pkt, off);
              if (bound === BIND_DROP) return NF_DROP;
            }
          }
          if (bound !== BIND_NONE) break;
        }
        if (chain === null) break;
        const r = this.evalNft(chain, pkt, off, inName, outName);
        if (r.verdict === "drop") {
          if (r.reject !== null) this.rejectCode(pkt, off, r.reject.tcpReset, r.reject.code);
          return NF_DROP;
        }
        if (r.nat !== null) {
          const n = r.nat;
          const flags = (n.random ? NAT_F_RANDOM : 0) | (n.randomFully ? NAT_F_RANDOM_FULLY : 0) | (n.persistent ? NAT_F_PERSISTENT : 0);
          bound = this.bindNat(conn, manip, n.kind, n.range, n.range?.minPort ?? 0, n.range?.maxPort ?? 0, flags, outDev, pkt, off);
          if (bound === BIND_DROP) return NF_DROP;
        }
      }
      if (bound === BIND_NONE) this.conntrack.setupNatBits(conn, manip, null, 0);
      pkt.ctState = (pkt.ctState & ~(CT_STATE_SNAT | CT_STATE_DNAT)) | natBits(conn.status);
      if (this.ns.sim.tracer && (conn.status & (manip === "dst" ? IPS_DST_NAT : IPS_SRC_NAT)) !== 0) natEvent = this.traceNatBinding(pkt, off, conn, manip);
    }
    // A flow without NAT bindings has nothing to rewrite (nf_nat_packet checks the same bits).
    if ((conn.status & (IPS_SRC_NAT | IPS_DST_NAT)) === 0) return NF_ACCEPT;
    // Every later packet, and every reply, is rewritten from the binding: a line says so while tracing.
    if (natEvent === null && this.ns.sim.tracer !== null && (pkt.ctState & CT_STATE_RELATED) === 0) natEvent = this.traceNatApplied(pkt, off, conn, manip);
    // false: an ICMP redirect about a NATed flow, or a header too short to rewrite.
    const rewritten = this.conntrack.manipPacket(conn, pkt.ctDir as 0 | 1, manip, pkt.buf, off, pkt.tail - off, pkt.csumPartial);
    // On the way out the hop shows the packet as it leaves: rewritten, as its frame on the egress device is.
    if (natEvent !== null && (manip === "src" || hook === "OUTPUT")) this.ns.sim.tracer?.redescribe(natEvent, pkt, off, nfFrameSide(hook, this.traceBridged));
    return rewritten ? NF_ACCEPT : NF_DROP;
  }

  /**
   * The one binding path of iptables' DNAT/SNAT/MASQUERADE targets and nft's dnat/snat/
   * masquerade statements (nf_nat_setup_info; nf_nat_masquerade_ipv4 picks the address).
   * A request of the other manip type binds nothing (BIND_NONE). `flags`: NAT_F_* bits;
   * `minPort`/`maxPort`: MASQUERADE's --to-ports (0: not given).
   */
  private bindNat(conn: Conn, manip: "src" | "dst", kind: "DNAT" | "SNAT" | "MASQUERADE", range: NatRange | null, minPort: number, maxPort: number, flags: number, outDev: NetDevice | null, pkt: PacketBuffer, off: number): number {
    if (kind === "DNAT") {
      if (manip !== "dst") return BIND_NONE;
      // DNAT has no --random-fully.
      this.conntrack.setupNatBits(conn, "dst", range, flags & (NAT_F_RANDOM | NAT_F_PERSISTENT));
      return BIND_DONE;
    }
    if (manip !== "src") return BIND_NONE;
    if (kind === "SNAT") {
      this.conntrack.setupNatBits(conn, "src", range!, flags);
      return BIND_DONE;
    }
    if (outDev === null) return BIND_NONE;
    const dst = ipv4.dst(pkt.buf, off);
    const addr = this.masqueradeAddress(outDev, dst);
    if (addr === 0) return BIND_DROP; // nf_nat_masquerade_ipv4: no address on the device
    this.conntrack.setupNatTo(conn, "src", addr, addr, minPort, maxPort, flags & (NAT_F_RANDOM | NAT_F_RANDOM_FULLY));
    return BIND_DONE;
  }

  /** The address MASQUERADE uses: the out device's address on the next hop's subnet, else its first. */
  private masqueradeAddress(outDev: NetDevice, dst: number): number {
    const iface = this.ns.interfaces.get(outDev);
    if (!iface || iface.addrs.length === 0) return 0;
    const route = this.ns.routes.lookup(dst);
    const nextHop = route && route.gateway !== 0 ? route.gateway : dst;
    for (const a of iface.addrs) {
      const mask = a.prefixLen === 0 ? 0 : (0xffffffff << (32 - a.prefixLen)) >>> 0;
      if (((a.ip & mask) >>> 0) === ((nextHop & mask) >>> 0)) return a.ip;
    }
    return route?.prefSrc || iface.addrs[0]!.ip;
  }

  /** Runs a filtering table (raw, mangle, filter) that has `hook`'s chain (see plan) and turns its verdict into the stack's. */
  private table(table: TableName, hook: BuiltinChain, pkt: PacketBuffer, off: number, inName: string, outName: string, physIn: string, physOut: string, engine: RuleEngine): NfVerdict {
    const out = this.runTable(table, hook, pkt, off, inName, outName, physIn, physOut, engine);
    if (out.untrack && pkt.ct === null) pkt.ctState = CT_STATE_UNTRACKED;
    if (out.verdict === "ACCEPT") return NF_ACCEPT;
    if (out.verdict === "REJECT") {
      this.reject(pkt, off, out.rejectWith);
      return NF_DROP;
    }
    return NF_DROP;
  }

  private runTable(table: TableName, hook: BuiltinChain, pkt: PacketBuffer, off: number, inName: string, outName: string, physIn: string, physOut: string, engine: RuleEngine = this.engine): Traversal {
    const ctx = this.ctx.load(pkt.buf, off, pkt.tail - off);
    const conn = pkt.ct as Conn | null;
    const ctState = pkt.ctState === 0 ? CT_STATE_INVALID : pkt.ctState;
    ctx.at(hook as HookName, inName, outName, pkt.mark, ctState, conn === null ? 0 : conn.status);
    ctx.physIn = physIn;
    ctx.physOut = physOut;
    ctx.bridged = physIn !== "" || physOut !== "";
    const vc = pkt.ipvs as IpvsConn | null;
    if (vc !== null) {
      // xt_ipvs finds the connection with conn_out_get on the inverted header: only a packet
      // going from the client to the real server (after DNAT) has one; a reply keeps
      // ipvs_property but matches no --vaddr/--vport.
      const toRealServer = ctx.src === vc.caddr && ctx.sport === vc.cport && ctx.dst === vc.daddr && ctx.dport === vc.dport;
      ctx.setIpvs(toRealServer ? "MASQ" : "none", vc.vaddr, vc.vport, conn === null ? "none" : pkt.ctDir === 0 ? "ORIGINAL" : "REPLY");
    }
    const tracing = this.ns.sim.tracer !== null;
    const out = engine.run(table, hook, ctx, this.out.reset(tracing));
    pkt.mark = ctx.mark;
    this.rulesEvaluated += out.rulesEvaluated;
    if (tracing && out.hits !== null) {
      this.runningOther = engine === this.engine || this.other === null ? null : this.other.name;
      this.traceHits(table, hook, out, pkt, off, inName, outName, physIn !== "" || physOut !== "");
      this.runningOther = null;
    }
    return out;
  }

  /**
   * One trace line per table traversal that did something: the chain path of matched rules
   * (`KUBE-SERVICES#3 → KUBE-SVC-…#2 → KUBE-SEP-…#2`), the deciding rule, and the verdict.
   * A traversal that only fell through to an ACCEPT policy is not worth a line.
   */
  private traceHits(table: TableName, hook: BuiltinChain, out: Traversal, pkt: PacketBuffer, off: number, inName: string, outName: string, bridged: boolean): void {
    const hits = out.hits!;
    if (hits.length === 1 && hits[0]!.rule === null && out.verdict === "ACCEPT") return;
    const path = hits.map((h) => (h.rule === null ? `${h.chain} policy` : `${h.chain}#${h.ruleIndex + 1}`)).join(" → ");
    const last = [...hits].reverse().find((h) => h.rule !== null);
    const rule = last && this.describeRule ? `: ${this.describeRule(last.chain, last.rule!).trim()}` : "";
    const verdict = out.nat ? `${out.nat.kind}` : out.verdict;
    const rules: TraceRuleStep[] = hits.map((h) => ({
      table,
      chain: h.chain,
      position: h.rule === null ? null : h.ruleIndex + 1,
      rule: h.rule === null ? `policy ${out.verdict}` : this.describeRule ? this.describeRule(h.chain, h.rule).trim() : "",
    }));
    // The other backend's tables are named with their binary (`filter (iptables-legacy)`).
    const tname = this.runningOther === null ? table : `${table} (${this.runningOther})`;
    const fields: TraceFields = { hook, stage: `${tname} ${hook}`, rules, verdict, side: nfFrameSide(hook, bridged) };
    if (verdict === "DROP" || verdict === "REJECT") fields.drop = { reason: `${verdict} by ${tname} ${stepName(rules[rules.length - 1]!)}` };
    this.lastRuleEvent = this.ns.sim.traceIp(this.ns.name, nfTraceDevice(hook, inName, outName), "netfilter", `${tname} ${hook} ${path}${rule} ⇒ ${verdict}`, pkt, off, fields);
  }

  // ---------------------------------------------------------------- nftables

  /**
   * Installs (or re-installs after a transaction) the namespace's nft ruleset; null removes it.
   * `changes`: what the transactions since the installed ruleset changed (applyNftScript's
   * change log), so only that is recompiled.
   */
  setNftRuleset(ruleset: NftRuleset | null, changes?: NftChanges): void {
    this.nftRuleset = ruleset;
    this.nft = ruleset === null ? null : compileRuleset(ruleset, this.nft, this.ns.sim.clock.now(), changes);
    this.stages = this.withOtherBackend(buildStages(this.nft));
    this.replan();
    if (this.nft !== null && this.nft.needsConntrack) this.conntrackActive = true;
  }

  /** The nft ruleset the namespace runs (null: none). */
  get nftables(): NftRuleset | null {
    return this.nftRuleset;
  }

  /** A filter/route base chain at its own priority: its verdict is the hook's. */
  private nftChain(chain: CompiledChain, pkt: PacketBuffer, off: number, inName: string, outName: string): NfVerdict {
    const r = this.evalNft(chain, pkt, off, inName, outName);
    if (r.verdict === "accept") return NF_ACCEPT;
    if (r.reject !== null) this.rejectCode(pkt, off, r.reject.tcpReset, r.reject.code);
    return NF_DROP;
  }

  /** Runs one nft base chain on the packet and applies what it changed (mark, ct mark, notrack). */
  private evalNft(chain: CompiledChain, pkt: PacketBuffer, off: number, inName: string, outName: string): NftResult {
    const p = this.nftPacket;
    const buf = pkt.buf;
    p.buf = buf;
    p.ipOff = off;
    p.len = pkt.tail - off;
    p.src = ipv4.src(buf, off);
    p.dst = ipv4.dst(buf, off);
    p.proto = ipv4.protocol(buf, off);
    p.thOff = ipv4.fragOffset(buf, off) !== 0 ? -1 : ipv4.payloadOffset(buf, off);
    p.iifname = inName;
    p.oifname = outName;
    p.mark = pkt.mark;
    const st = pkt.ctState;
    // XT_CONNTRACK_STATE bits → nft's (untracked is bit 8 here, bit 6 in nft).
    p.ctState = st === 0 ? NFT_CT_INVALID : (st & 0xf) | ((st & CT_STATE_UNTRACKED) !== 0 ? NFT_CT_UNTRACKED : 0);
    const conn = pkt.ct as Conn | null;
    p.hasCt = conn !== null;
    if (conn !== null) {
      p.ctStatus = conn.status;
      p.ctMark = conn.mark;
      p.ctOrigSrc = conn.original.src;
      p.ctOrigDst = conn.original.dst;
      p.ctReplySrc = conn.reply.src;
      p.ctReplyDst = conn.reply.dst;
    } else p.ctStatus = 0;
    const tracing = this.ns.sim.tracer !== null;
    const r = this.nftEval.run(chain, p, this.nftResult.reset(tracing));
    const markChanged = pkt.mark !== p.mark;
    pkt.mark = p.mark;
    if (r.ctMarkSet && conn !== null) conn.mark = p.ctMark;
    if (r.notrack && pkt.ct === null) pkt.ctState = CT_STATE_UNTRACKED;
    this.nftRulesEvaluated += r.rules;
    this.nftExprsEvaluated += r.exprs;
    if (tracing && r.hits !== null) this.traceNft(chain, r, pkt, off, inName, outName, markChanged);
    return r;
  }

  /**
   * One trace line per nft base-chain traversal that did something, like traceHits: the
   * path of rules whose statements all ran (`services#1 → service-…#2 → endpoint-…#2`), the
   * last of them as `nft list` prints it, and the verdict.
   */
  private traceNft(base: CompiledChain, r: NftResult, pkt: PacketBuffer, off: number, inName: string, outName: string, markChanged: boolean): void {
    const hits = r.hits!;
    // Fell through to an accept policy without changing anything (jumps that returned, a
    // `ct state new jump …` whose checks passed): nothing worth a line.
    if (hits.length === 0 || (r.verdict === "accept" && r.nat === null && !markChanged && !r.ctMarkSet && hits[hits.length - 1]!.ruleIndex < 0)) return;
    const path = hits.map((h) => (h.ruleIndex < 0 ? `${h.chain.name} policy` : `${h.chain.name}#${h.ruleIndex + 1}`)).join(" → ");
    const last = [...hits].reverse().find((h) => h.ruleIndex >= 0);
    const rule = last ? `: ${printRule(last.chain.table.family, last.chain.rules[last.ruleIndex]!.src).trim()}` : "";
    const verdict = r.nat !== null ? r.nat.kind : r.reject !== null ? "REJECT" : r.verdict.toUpperCase();
    const t = base.table;
    const policy = r.reject !== null ? "REJECT" : r.verdict.toUpperCase();
    const rules: TraceRuleStep[] = hits.map((h) => ({
      table: `${t.family} ${t.name}`,
      chain: h.chain.name,
      position: h.ruleIndex < 0 ? null : h.ruleIndex + 1,
      rule: h.ruleIndex < 0 ? `policy ${policy}` : printRule(h.chain.table.family, h.chain.rules[h.ruleIndex]!.src).trim(),
    }));
    const hook = (base.hook ?? "").toUpperCase();
    const stage = `nft ${t.family} ${t.name} ${base.name} (${base.hook} ${base.priority})`;
    // A bridged frame (br_netfilter) has the bridge as both its in and out device.
    const fields: TraceFields = { hook, stage, rules, verdict, side: nfFrameSide(hook, inName !== "" && inName === outName) };
    if (verdict === "DROP" || verdict === "REJECT") fields.drop = { reason: `${verdict} by nft ${t.family} ${t.name} ${stepName(rules[rules.length - 1]!)}` };
    this.lastRuleEvent = this.ns.sim.traceIp(this.ns.name, nfTraceDevice(hook, inName, outName), "netfilter", `${stage} ${path}${rule} ⇒ ${verdict}`, pkt, off, fields);
  }

  /** REJECT: an ICMP error or a TCP RST back to the sender (ipt_REJECT). */
  private reject(pkt: PacketBuffer, off: number, how: RejectWith): void {
    this.rejectCode(pkt, off, how === "tcp-reset", how === "tcp-reset" ? 3 : REJECT_CODES[how]);
  }

  /** nf_send_reset / nf_send_unreach (shared by ipt_REJECT and nft_reject). */
  private rejectCode(pkt: PacketBuffer, off: number, tcpReset: boolean, code: number): void {
    const head = pkt.head;
    pkt.head = off;
    if (tcpReset) {
      if (ipv4.protocol(pkt.buf, off) === IPPROTO_TCP) this.ns.tcp.sendResetFor(pkt);
    } else {
      this.ns.sendIcmpError(pkt, ICMP_DST_UNREACHABLE, code, 0);
    }
    pkt.head = head;
  }

  // ---------------------------------------------------------------- trace lines (only while tracing)

  /** The hook being run, for the conntrack, IPVS and NAT trace lines. */
  private traceHook: BuiltinChain = "PREROUTING";
  private traceIn = "";
  private traceOut = "";
  private traceBridged = false;
  /** The last rule walk's trace line: a NAT binding made after the walk is added to it. */
  private lastRuleEvent: TraceEvent | null = null;

  private traceHookAt(hook: BuiltinChain, inName: string, outName: string, bridged: boolean): void {
    this.traceHook = hook;
    this.traceIn = inName;
    this.traceOut = outName;
    this.traceBridged = bridged;
  }

  /** A conntrack, IPVS or NAT line at the hook being run, on its device (the way out for FORWARD, OUTPUT and POSTROUTING). */
  private trace(pkt: PacketBuffer, off: number, what: string, detail: string, fields: TraceFields = {}): TraceEvent | null {
    if (this.ns.sim.tracer === null) return null;
    const hook = this.traceHook;
    const device = nfTraceDevice(hook, this.traceIn, this.traceOut);
    return this.ns.sim.traceIp(this.ns.name, device, "netfilter", `${what}: ${detail}`, pkt, off, { hook, stage: what, side: nfFrameSide(hook, this.traceBridged), ...fields });
  }

  private traceConntrack(pkt: PacketBuffer, off: number, ctinfo: string, conn: Conn | null, dir: number): void {
    const direction = dir === 0 ? "original" : "reply";
    const tuple = conn === null ? "" : formatTuple(dir === 0 ? conn.original : conn.reply);
    this.trace(pkt, off, "conntrack", `${ctinfo}${conn ? ` ${direction} direction` : ""}`, { conntrack: { state: ctinfo, tuple, direction: conn === null ? null : direction } });
  }

  /** The NAT binding just made, added to the rule walk's line that asked for it (else a line of its own). */
  private traceNatBinding(pkt: PacketBuffer, off: number, conn: Conn, manip: "src" | "dst"): TraceEvent | null {
    const o = conn.original;
    const r = conn.reply;
    const ports = hasPorts(o.proto);
    const at = (ip: number, port: number) => (ports ? `${formatIpv4(ip)}:${port}` : formatIpv4(ip));
    const walk = this.lastRuleEvent;
    const asked = walk?.verdict;
    const kind = asked === "DNAT" || asked === "SNAT" || asked === "MASQUERADE" ? asked : manip === "dst" ? "DNAT" : "SNAT";
    const nat: TraceNat = manip === "dst" ? { kind, from: at(o.dst, o.dport), to: at(r.src, r.sport), reply: false } : { kind, from: at(o.src, o.sport), to: at(r.dst, r.dport), reply: false };
    if (walk !== null && walk.nat === null) {
      walk.nat = nat;
      return walk;
    }
    return this.trace(pkt, off, "nat", `${manip === "dst" ? "DNAT" : "SNAT"} binding: reply tuple ${formatTuple(r)}`, { verdict: kind, nat });
  }

  /**
   * A packet of a translated flow rewritten from the binding: the original direction gets the
   * translation (DNAT a → b), a reply gets it undone (un-DNAT b → a), each at the manip type's
   * hook. Null when this manip type leaves the packet alone.
   */
  private traceNatApplied(pkt: PacketBuffer, off: number, conn: Conn, manip: "src" | "dst"): TraceEvent | null {
    const o = conn.original;
    const r = conn.reply;
    const ports = hasPorts(o.proto);
    const at = (ip: number, port: number) => (ports ? `${formatIpv4(ip)}:${port}` : formatIpv4(ip));
    const reply = pkt.ctDir === 1;
    // The binding this manip type applies: DNAT's at dst in the original direction and at src in the reply.
    const dnat = (manip === "dst") !== reply;
    if ((conn.status & (dnat ? IPS_DST_NAT : IPS_SRC_NAT)) === 0) return null;
    const kind = dnat ? "DNAT" : "SNAT";
    const nat: TraceNat = dnat
      ? reply
        ? { kind, from: at(r.src, r.sport), to: at(o.dst, o.dport), reply }
        : { kind, from: at(o.dst, o.dport), to: at(r.src, r.sport), reply }
      : reply
        ? { kind, from: at(r.dst, r.dport), to: at(o.src, o.sport), reply }
        : { kind, from: at(o.src, o.sport), to: at(r.dst, r.dport), reply };
    return this.trace(pkt, off, "nat", `${reply ? `reply: ${kind} undone` : `${kind} from the connection's binding`}: ${nat.from} → ${nat.to}`, { nat });
  }

  /** IPVS sent a packet to a real server: the virtual service, the real server it picked, the DNAT. */
  private traceIpvs(pkt: PacketBuffer, conn: IpvsConn, isNew: boolean): void {
    const svc = conn.service;
    const how = isNew ? `scheduled by ${svc?.schedName ?? "?"}` : "existing connection";
    const vs = `${formatIpv4(conn.vaddr)}:${conn.vport}`;
    const rs = `${formatIpv4(conn.daddr)}:${conn.dport}`;
    const proto = conn.protocol === IPPROTO_TCP ? "TCP" : conn.protocol === IPPROTO_UDP ? "UDP" : conn.protocol === IPPROTO_SCTP ? "SCTP" : `proto ${conn.protocol}`;
    const chain = svc !== null && svc.fwmark !== 0 ? `FWM ${svc.fwmark}` : `${proto} ${vs}`;
    const position = svc !== null && conn.dest !== null ? svc.dests.indexOf(conn.dest) + 1 : 0;
    const rule = conn.dest !== null ? `-> ${rs} weight ${conn.dest.weight} (${how})` : `-> ${rs} (${how})`;
    this.trace(pkt, pkt.head, "ipvs", `virtual service ${vs} → real server ${rs} (${how})`, {
      rules: [{ table: "ipvs", chain, position: position > 0 ? position : null, rule }],
      verdict: "DNAT",
      nat: { kind: "DNAT", from: vs, to: rs, reply: false },
    });
  }

  /** IPVS gave a real server's reply the virtual service's address back. */
  private traceIpvsReply(pkt: PacketBuffer, off: number, conn: IpvsConn): void {
    const rs = `${formatIpv4(conn.daddr)}:${conn.dport}`;
    const vs = `${formatIpv4(conn.vaddr)}:${conn.vport}`;
    this.trace(pkt, off, "ipvs", `reply from real server ${rs}: source rewritten to ${vs}`, { verdict: "DNAT", nat: { kind: "DNAT", from: rs, to: vs, reply: true } });
  }
}

/**
 * A hook stage as runHook walks it: every step has the same fields (one hidden class,
 * where hook-stages.ts's stages come in several).
 */
interface HookStep {
  kind: number;
  table: TableName | null;
  manip: "src" | "dst" | null;
  chain: CompiledChain | null;
}

/**
 * The device a netfilter trace line names: the way in at PREROUTING and INPUT, the way out
 * at FORWARD, OUTPUT and POSTROUTING (where a source NAT happens).
 */
function nfTraceDevice(hook: string, inName: string, outName: string): string {
  return hook === "PREROUTING" || hook === "INPUT" ? inName || outName : outName || inName;
}

/** Which frame of the packet on that device the line is about: the one it came in as, or the one it leaves as. */
function nfFrameSide(hook: string, bridged: boolean): TraceFrameSide {
  if (bridged) return "either"; // a bridged frame is captured on the bridge as it enters
  return hook === "PREROUTING" || hook === "INPUT" ? "before" : "after";
}

/** `KUBE-SEP-…#2`, or `FORWARD policy`. */
function stepName(s: TraceRuleStep): string {
  return s.position === null ? `${s.chain} policy` : `${s.chain}#${s.position}`;
}

/** Does any rule need connection tracking (NAT targets, conntrack/state matches)? */
function needsConntrack(rs: Ruleset): boolean {
  for (const t of rs.tables.values()) {
    for (const c of t.chains.values()) {
      for (const r of c.rules) {
        const k = r.target.kind;
        if (k === "DNAT" || k === "SNAT" || k === "MASQUERADE") return true;
        if (r.matches.some((m) => m.module === "conntrack" || m.module === "state")) return true;
      }
    }
  }
  return false;
}

function natBits(status: number): number {
  return ((status & IPS_SRC_NAT) !== 0 ? CT_STATE_SNAT : 0) | ((status & IPS_DST_NAT) !== 0 ? CT_STATE_DNAT : 0);
}
