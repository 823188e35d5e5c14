/**
 * kube-proxy's iptables mode on a node: its jump rules and its restore text, loaded with
 * `iptables-restore --noflush`; re-syncs are partial (only changed Services' chains).
 */
import { hostNowMs } from "../../base/index.js";
import { type IptablesSyncResult, type KubeModel, type ProxyState, jumpRulesText, syncIptablesRules } from "../../kube/index.js";
import type { NodeRuntime } from "../build.js";
import { loadRestore } from "./load-restore.js";
import type { KubeProxyMode, ModeContext, ModeResync, ModelChange } from "./mode.js";

export class IptablesMode implements KubeProxyMode {
  readonly name = "iptables" as const;
  readonly costUnit = "rules evaluated";
  readonly protocols: ReadonlySet<"TCP" | "UDP" | "SCTP"> = new Set(["TCP", "UDP", "SCTP"] as const);
  /**
   * What each node's kube-proxy last synced, for partial syncs. Not its text (150 MB a node
   * at 50,000 Services) nor its chain list: the chains that exist are read from the node's
   * nat table, as kube-proxy reads them from iptables-save.
   */
  private readonly synced = new Map<string, ProxyState>();

  constructor(private readonly ctx: ModeContext) {}

  setup(node: NodeRuntime, model: KubeModel): { syncMs: number; applyMs: number } {
    const t0 = hostNowMs();
    const result = syncIptablesRules(model, this.ctx.options(node));
    const t1 = hostNowMs();
    loadRestore(node, jumpRulesText(), "kube-proxy jump rules");
    loadRestore(node, result.text, `kube-proxy sync on ${node.spec.name}`);
    this.synced.set(node.spec.name, model);
    return { syncMs: t1 - t0, applyMs: hostNowMs() - t1 };
  }

  resync(node: NodeRuntime, next: KubeModel, change?: ModelChange): ModeResync {
    const t0 = hostNowMs();
    const result = this.compile(node, next, change);
    const t1 = hostNowMs();
    loadRestore(node, result.text, `kube-proxy partial sync on ${node.spec.name}`);
    const t2 = hostNowMs();
    this.synced.set(node.spec.name, next);
    return { sync: result, operations: 0, computeMs: t1 - t0, applyMs: t2 - t1 };
  }

  /** The lines of the iptables-restore input a resync to `next` would load. */
  writeSize(node: NodeRuntime, next: KubeModel, change?: ModelChange): number {
    return lineCount(this.compile(node, next, change).text);
  }

  /**
   * A partial sync (kube-proxy v1.26+, the MinimizeIPTablesRestore gate, on by default from
   * v1.27): only changed Services' chains are written; the chains the last sync created tell
   * which ones became stale. With the gate off, every sync writes the whole table (as every
   * kube-proxy before v1.26 did), still deleting the chains no Service needs any more.
   */
  private compile(node: NodeRuntime, next: KubeModel, change?: ModelChange): IptablesSyncResult {
    const prev = this.synced.get(node.spec.name);
    if (!prev) return syncIptablesRules(next, this.ctx.options(node));
    const existingNatChains = node.netfilter.ruleset.tables.get("nat")?.chains.keys() ?? [];
    if (this.ctx.config?.().minimizeIPTablesRestore === false) return syncIptablesRules(next, this.ctx.options(node), { existingNatChains });
    // The change trackers' Services hold only for the model this node last synced.
    const changedServices = change !== undefined && change.from === prev ? change.changedServices : undefined;
    return syncIptablesRules(next, this.ctx.options(node), { previous: prev, existingNatChains, changedServices });
  }

  describe(node: NodeRuntime, model: KubeModel): string {
    return `# kube-proxy (iptables mode) on ${node.spec.name}: load with iptables-restore --noflush\n` + jumpRulesText() + syncIptablesRules(model, this.ctx.options(node)).text;
  }

  cost(node: NodeRuntime): number {
    return node.netfilter.rulesEvaluated;
  }
}

function lineCount(text: string): number {
  let n = 0;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) n++;
  return text.length > 0 && !text.endsWith("\n") ? n + 1 : n;
}
