/**
 * kube-proxy's nftables mode on a node: its `ip kube-proxy` table, loaded as kube-proxy
 * loads it (one `nft -f` transaction per sync, the stale-chain cleanup transaction first),
 * into the node's nft ruleset, which the netfilter glue runs beside the node's iptables
 * rules (flannel's) by hook priority. kube-proxy's nftables mode installs no iptables jump
 * rules: its base chains hook into netfilter directly.
 */
import { formatCidr, hostNowMs } from "../../base/index.js";
import { type KubeModel, type NftablesProxierOptions, type NftablesProxierState, type NftablesSyncResult, syncNftablesRules } from "../../kube/index.js";
import { newNftChanges } from "../../nftables/changes.js";
import { applyNftScript, newRuleset } from "../../nftables/index.js";
import type { NodeRuntime } from "../build.js";
import type { KubeProxyMode, ModeContext, ModeResync } from "./mode.js";

export class NftablesMode implements KubeProxyMode {
  readonly name = "nftables" as const;
  readonly costUnit = "rules evaluated";
  readonly protocols: ReadonlySet<"TCP" | "UDP" | "SCTP"> = new Set(["TCP", "UDP", "SCTP"] as const);
  /** What each node's kube-proxy last synced, for partial syncs. */
  private readonly synced = new Map<string, { state: NftablesProxierState; result: NftablesSyncResult }>();

  constructor(private readonly ctx: ModeContext) {}

  /** kube-proxy's options on `node`: the iptables-mode flags plus the cluster's ServiceCIDR. */
  options(node: NodeRuntime): NftablesProxierOptions {
    return { ...this.ctx.options(node), serviceCIDRs: [formatCidr(this.ctx.cluster.spec.serviceCIDR)] };
  }

  /** The node's last sync (its transaction text and state). */
  lastSync(node: string): NftablesSyncResult | null {
    return this.synced.get(node)?.result ?? null;
  }

  /** Virtual time in ms: kube-proxy deletes a stale chain only a second after flushing it. */
  private now(): number {
    return this.ctx.cluster.sim.clock.now() / 1e6;
  }

  setup(node: NodeRuntime, model: KubeModel): { syncMs: number; applyMs: number } {
    const t0 = hostNowMs();
    const result = syncNftablesRules(model, this.options(node), { now: this.now() });
    const t1 = hostNowMs();
    this.apply(node, result);
    this.synced.set(node.spec.name, { state: result.state, result });
    return { syncMs: t1 - t0, applyMs: hostNowMs() - t1 };
  }

  resync(node: NodeRuntime, next: KubeModel): ModeResync {
    const prev = this.synced.get(node.spec.name);
    const t0 = hostNowMs();
    const result = syncNftablesRules(next, this.options(node), prev ? { previous: prev.state, now: Math.max(this.now(), prev.state.time) } : { now: this.now() });
    const t1 = hostNowMs();
    this.apply(node, result);
    const t2 = hostNowMs();
    this.synced.set(node.spec.name, { state: result.state, result });
    return { sync: null, operations: 0, computeMs: t1 - t0, applyMs: t2 - t1 };
  }

  /**
   * `nft -f` of the cleanup transaction (when due), then of the sync; each is all-or-nothing
   * (a failing sync leaves the cleanup applied, as in the kernel). Each transaction costs what
   * it changes (the node's ruleset is handed over, not copied), and the node recompiles what
   * the two changed.
   */
  private apply(node: NodeRuntime, result: NftablesSyncResult): void {
    const installed = node.netfilter.nftables;
    let rs = installed ?? newRuleset();
    const label = `kube-proxy nftables sync on ${node.spec.name}`;
    const changes = newNftChanges();
    try {
      if (result.cleanupText !== "") rs = applyNftScript(rs, result.cleanupText, `${label} (cleanup)`, { consume: true, changes });
      if (result.lines.length > 0) rs = applyNftScript(rs, result.lines, label, { consume: true, changes });
    } finally {
      if (rs !== installed) node.netfilter.setNftRuleset(rs, changes);
    }
  }

  /** The lines of the nft transactions (cleanup and sync) a resync to `next` would run. */
  writeSize(node: NodeRuntime, next: KubeModel): number {
    const prev = this.synced.get(node.spec.name);
    // A dry run: the kept state stays where it is, so the resync that follows is still partial.
    const result = syncNftablesRules(next, this.options(node), prev ? { previous: prev.state, now: Math.max(this.now(), prev.state.time), dryRun: true } : { now: this.now() });
    const cleanup = result.cleanupText === "" ? 0 : result.cleanupText.split("\n").filter((l) => l.trim() !== "").length;
    return cleanup + result.lines.length;
  }

  describe(node: NodeRuntime, model: KubeModel): string {
    return `# kube-proxy (nftables mode) on ${node.spec.name}: load with nft -f\n` + syncNftablesRules(model, this.options(node)).text;
  }

  /** nft rules evaluated, plus the iptables rules (flannel's) the same packets went through. */
  cost(node: NodeRuntime): number {
    return node.netfilter.nftRulesEvaluated + node.netfilter.rulesEvaluated;
  }
}
