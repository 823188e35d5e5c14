/**
 * kube-proxy's nftables mode on a node: its `ip kube-proxy` table, loaded as kube-proxy
 * loads it (one `nft -f` transaction per sync, the stale-chain cleanup transaction first),
 * into the node's nft ruleset, which the netfilter glue runs beside the node's iptables
 * rules (flannel's) by hook priority. kube-proxy's nftables mode installs no iptables jump
 * rules: its base chains hook into netfilter directly.
 */
import { formatCidr, hostNowMs } from "../../base/index.js";
import { type KubeModel, type NftablesProxierOptions, type NftablesProxierState, type NftablesSyncOptions, type NftablesSyncResult, syncNftablesRules } from "../../kube/index.js";
import { applyNftScript, newNftChanges, newRuleset } from "../../nftables/index.js";
import type { NodeRuntime } from "../build.js";
import type { KubeProxyMode, ModeContext, ModeResync, ModelChange } from "./mode.js";

export class NftablesMode implements KubeProxyMode {
  readonly name = "nftables" as const;
  readonly costUnit = "rules evaluated";
  readonly protocols: ReadonlySet<"TCP" | "UDP" | "SCTP"> = new Set(["TCP", "UDP", "SCTP"] as const);
  /** What each node's kube-proxy last synced, for partial syncs. */
  private readonly synced = new Map<string, { state: NftablesProxierState; result: NftablesSyncResult; hinted?: boolean }>();

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

  /**
   * A partial sync to `next`. Given the cluster's `change` from the model this node last
   * synced, kube-proxy looks at the changed Services only (as its change trackers have it
   * look); without it, or when the node synced another model, it compares the models itself.
   */
  resync(node: NodeRuntime, next: KubeModel, change?: ModelChange): ModeResync {
    const prev = this.synced.get(node.spec.name);
    const t0 = hostNowMs();
    const result = syncNftablesRules(next, this.options(node), this.syncOptions(prev, change, false));
    const t1 = hostNowMs();
    this.apply(node, result);
    const t2 = hostNowMs();
    this.synced.set(node.spec.name, { state: result.state, result, hinted: this.hinted(prev, change) });
    return { sync: null, operations: 0, computeMs: t1 - t0, applyMs: t2 - t1 };
  }

  /** Whether `change` applies to a sync from `prev` (it starts from the model `prev` synced). */
  private hinted(prev: { state: NftablesProxierState } | undefined, change: ModelChange | undefined): boolean {
    return prev !== undefined && change !== undefined && change.from === prev.state.objects;
  }

  private syncOptions(prev: { state: NftablesProxierState } | undefined, change: ModelChange | undefined, dryRun: boolean): NftablesSyncOptions {
    if (!prev) return { now: this.now() };
    const o: NftablesSyncOptions = { previous: prev.state, now: Math.max(this.now(), prev.state.time) };
    if (dryRun) o.dryRun = true;
    if (this.hinted(prev, change)) {
      o.changedServices = change!.changedServices;
      o.slicesByService = change!.slicesByService;
    }
    return o;
  }

  /** Whether the node's last resync was given the changed Services (kube-proxy looked at those only). */
  lastSyncHinted(node: string): boolean {
    return this.synced.get(node)?.hinted ?? false;
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
      if (result.lineCount > 0) rs = applyNftScript(rs, result.pieces, label, { consume: true, changes });
    } finally {
      if (rs !== installed) node.netfilter.setNftRuleset(rs, changes);
    }
  }

  /** The lines of the nft transactions (cleanup and sync) a resync to `next` would run. */
  writeSize(node: NodeRuntime, next: KubeModel, change?: ModelChange): number {
    const prev = this.synced.get(node.spec.name);
    // A dry run: the kept state stays where it is, so the resync that follows is still partial.
    const result = syncNftablesRules(next, this.options(node), this.syncOptions(prev, change, true));
    const cleanup = result.cleanupText === "" ? 0 : result.cleanupText.split("\n").filter((l) => l.trim() !== "").length;
    return cleanup + result.lineCount;
  }

  describe(node: NodeRuntime, model: KubeModel): string {
    return `# kube-proxy (nftables mode) on ${node.spec.name}: load with nft -f\n` + syncNftablesRules(model, this.options(node)).text;
  }

  /** nft rules evaluated, plus the iptables rules (flannel's) the same packets went through. */
  cost(node: NodeRuntime): number {
    return node.netfilter.nftRulesEvaluated + node.netfilter.rulesEvaluated;
  }
}
