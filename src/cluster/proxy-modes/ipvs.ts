/**
 * kube-proxy's IPVS mode on a node, as kube-proxy sets it up: the dummy device kube-ipvs0
 * holding the virtual addresses, the sysctls it sets (vs/conntrack, expire_nodest_conn,
 * expire_quiescent_template), the virtual servers, the ipsets, then its iptables rules.
 * Re-syncs apply only the diff (virtual and real servers, ipset entries, addresses).
 */
import { formatIpv4, hostNowMs, parseIpv4 } from "../../base/index.js";
import { IpvsTable, formatIpvsadmSave } from "../../ipvs/index.js";
import {
  type IpvsOperation,
  type IpvsProxierOptions,
  type IpvsRealServer,
  type IpvsSyncResult,
  KUBE_IPVS_DEVICE,
  type KubeModel,
  diffIpvs,
  ipvsJumpRulesText,
  syncIpvs,
} from "../../kube/index.js";
import { Dummy } from "../../netdev/index.js";
import { IpsetRegistry, applyIpsetRestore, parseIpsetRestore, saveIpsets } from "../../netfilter/ipset/index.js";
import { DEFAULT_KERNEL, parseKernelVersion } from "../../conntrack/index.js";
import type { IpvsSysctl, ReuseBehaviour } from "../../ipvs/index.js";
import type { NodeRuntime } from "../build.js";
import type { NodeSettings } from "../spec.js";
import { loadRestore } from "./load-restore.js";
import type { KubeProxyMode, ModeContext, ModeResync } from "./mode.js";

interface IpvsNode {
  table: IpvsTable;
  ipsets: IpsetRegistry;
  dummy: Dummy;
  last: IpvsSyncResult;
}

export class IpvsMode implements KubeProxyMode {
  readonly name = "ipvs" as const;
  readonly costUnit = "hash lookups";
  /** kube-proxy creates TCP, UDP and SCTP virtual services, and podwire's IPVS carries all three. */
  readonly protocols: ReadonlySet<"TCP" | "UDP" | "SCTP"> = new Set(["TCP", "UDP", "SCTP"] as const);
  private readonly nodes = new Map<string, IpvsNode>();

  constructor(private readonly ctx: ModeContext) {}

  /** kube-proxy's IPVS-mode state for `node`: virtual servers, ipsets and iptables rules. */
  sync(node: NodeRuntime, model: KubeModel): IpvsSyncResult {
    return syncIpvs(model, this.options(node));
  }

  /** The IPVS table of a node. */
  table(node: string): IpvsTable | null {
    return this.nodes.get(node)?.table ?? null;
  }

  /** The ipsets of a node. */
  ipsets(node: string): IpsetRegistry | null {
    return this.nodes.get(node)?.ipsets ?? null;
  }

  /** The last sync of a node. */
  lastSync(node: string): IpvsSyncResult | null {
    return this.nodes.get(node)?.last ?? null;
  }

  private options(node: NodeRuntime): IpvsProxierOptions {
    // In IPVS mode NodePorts listen on the node's addresses outside kube-ipvs0.
    return { ...this.ctx.options(node), localAddresses: [formatIpv4(node.spec.internalIP), formatIpv4(node.gateway)] };
  }

  setup(node: NodeRuntime, model: KubeModel): { syncMs: number; applyMs: number } {
    const t0 = hostNowMs();
    const sync = this.sync(node, model);
    const t1 = hostNowMs();
    const cluster = this.ctx.cluster;
    const dummy = new Dummy(cluster.sim, KUBE_IPVS_DEVICE, 0x02_00_00_00_00_00 + (node.spec.internalIP & 0xffffff));
    node.ns.addDevice(dummy);
    cluster.devices.push(dummy);
    for (const a of sync.dummyAddresses) node.ns.addAddress(dummy, parseIpv4(a), 32, { noPrefixRoute: true });
    const table = new IpvsTable({ clock: cluster.sim.clock, ...ipvsSysctls(cluster.spec.nodeSettings) });
    for (const vs of sync.virtualServers) applyIpvsOperation(table, node, dummy, null, { op: "addVirtualServer", virtualServer: vs }, vs.realServers);
    const ipsets = new IpsetRegistry(cluster.sim.clock);
    applyIpsetRestore(ipsets, parseIpsetRestore(sync.ipsetText, `kube-proxy ipsets on ${node.spec.name}`));
    node.netfilter.env.ipsets = ipsets;
    node.netfilter.ipvs = table;
    loadRestore(node, ipvsJumpRulesText(), "kube-proxy jump rules (IPVS mode)");
    loadRestore(node, sync.iptablesText, `kube-proxy sync on ${node.spec.name} (IPVS mode)`);
    this.nodes.set(node.spec.name, { table, ipsets, dummy, last: sync });
    return { syncMs: t1 - t0, applyMs: hostNowMs() - t1 };
  }

  resync(node: NodeRuntime, next: KubeModel): ModeResync {
    const state = this.nodes.get(node.spec.name);
    if (!state) return { sync: null, operations: 0, computeMs: 0, applyMs: 0 };
    const t0 = hostNowMs();
    const sync = this.sync(node, next);
    const diff = diffIpvs(state.last, sync);
    const t1 = hostNowMs();
    for (const op of diff.operations) applyIpvsOperation(state.table, node, state.dummy, state.ipsets, op, []);
    if (diff.iptablesChanged) loadRestore(node, sync.iptablesText, `kube-proxy sync on ${node.spec.name} (IPVS mode)`);
    const t2 = hostNowMs();
    state.last = sync;
    return { sync: null, operations: diff.operations.length, computeMs: t1 - t0, applyMs: t2 - t1 };
  }

  describe(node: NodeRuntime, model: KubeModel): string {
    const sync = this.sync(node, model);
    const table = this.table(node.spec.name);
    const ipsets = this.ipsets(node.spec.name);
    return [
      `# kube-proxy (IPVS mode) on ${node.spec.name}\n`,
      `# --- ipvsadm-save -n (load with ipvsadm-restore)\n`,
      table ? formatIpvsadmSave(table.services()) : "",
      `# --- ipset save (load with ipset restore); kube-ipvs0 holds ${sync.dummyAddresses.join(", ")}\n`,
      ipsets ? saveIpsets(ipsets) : "",
      `# --- iptables rules (load with iptables-restore --noflush, after the ipsets exist)\n`,
      ipvsJumpRulesText(),
      sync.iptablesText,
    ].join("");
  }

  cost(node: NodeRuntime): number {
    return node.netfilter.ipvsLookups + node.netfilter.rulesEvaluated;
  }
}

/** Carries out one of kube-proxy's IPVS operations on a node (what its netlink calls do). */
function applyIpvsOperation(table: IpvsTable, node: NodeRuntime, dummy: Dummy, ipsets: IpsetRegistry | null, op: IpvsOperation, realServers: readonly IpvsRealServer[]): void {
  // kube-proxy's stringToProtocol: "TCP"/"UDP"/"SCTP" → IPPROTO_TCP/UDP/SCTP.
  const key = (vs: { protocol: string; address: string; port: number }) => ({ protocol: vs.protocol.toLowerCase() as "tcp" | "udp" | "sctp", addr: parseIpv4(vs.address), port: vs.port });
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

/**
 * The net.ipv4.vs.* values a node's IPVS table runs with. kube-proxy (pkg/proxy/ipvs/
 * proxier.go NewProxier) sets conntrack=1, expire_nodest_conn=1 and
 * expire_quiescent_template=1, and conn_reuse_mode=0 on kernels before 5.9
 * (IPVSConnReuseModeFixedKernelVersion; kubernetes/kubernetes#81775, #93297); the Cluster
 * document's sysctls are the values the node ends up with, over kube-proxy's. The node's
 * kernel also picks ip_vs_in's port-reuse logic ("legacy" before 5.9, see ipvs/sysctl.ts).
 */
function ipvsSysctls(settings: NodeSettings | undefined): { sysctl: Partial<IpvsSysctl>; reuseBehaviour: ReuseBehaviour } {
  const kernel = (settings?.kernelVersion !== undefined ? parseKernelVersion(settings.kernelVersion) : null) ?? DEFAULT_KERNEL;
  const before59 = kernel.major < 5 || (kernel.major === 5 && kernel.minor < 9);
  const sysctl: Partial<IpvsSysctl> = { conntrack: 1, expireNodestConn: 1, expireQuiescentTemplate: 1 };
  if (before59) sysctl.connReuseMode = 0;
  if (settings?.ipvsConnReuseMode !== undefined) sysctl.connReuseMode = settings.ipvsConnReuseMode;
  if (settings?.ipvsExpireNodestConn !== undefined) sysctl.expireNodestConn = settings.ipvsExpireNodestConn;
  return { sysctl, reuseBehaviour: before59 ? "legacy" : "modern" };
}
