/**
 * kube-proxy's iptables mode under benchmark: the restore text from `syncIptablesRules`
 * loaded into every node's netfilter with `--noflush` (as ClusterServices.syncAll does),
 * partial re-syncs for an endpoint change and for a new Service, the modelled cost as
 * `NamespaceNetfilter.rulesEvaluated`, and the fast core (the compiled classifier, or the
 * reference interpreter) on the node's own ruleset.
 */
import { Rng, formatCidr, hostNowMs } from "../base/index.js";
import { startPodApps } from "../cluster/apps.js";
import { Cluster, type NodeRuntime } from "../cluster/build.js";
import { ClusterServices } from "../cluster/services.js";
import { loadRestore } from "../cluster/proxy-modes/index.js";
import { type IptablesSyncResult, type KubeDocument, type KubeModel, changedServiceKeys, jumpRulesText, syncIptablesRules } from "../kube/index.js";
import { Traversal } from "../netfilter/engine.js";
import { CT_STATE_NEW } from "../netfilter/model.js";
import { PacketContext } from "../netfilter/packet-context.js";
import type { CoreFigures, EngineChoice, KernelRuleset, ObjectCounts, ProxyModeBench, ResyncTimes, SetupFigures } from "./modes.js";
import { type Workload, writeNewFlowPacket } from "./workload.js";

interface NodeState {
  node: NodeRuntime;
  model: KubeModel;
  result: IptablesSyncResult;
}

export class IptablesModeBench implements ProxyModeBench {
  readonly mode = "iptables" as const;
  readonly costUnit = "rules evaluated";
  private clusterRef: Cluster | null = null;
  private services: ClusterServices | null = null;
  private workload: Workload | null = null;
  private readonly nodes = new Map<string, NodeState>();
  private measured: NodeState | null = null;

  get cluster(): Cluster {
    if (!this.clusterRef) throw new Error("setup() first");
    return this.clusterRef;
  }

  setup(workload: Workload): SetupFigures {
    this.workload = workload;
    const cluster = new Cluster(workload.spec);
    this.clusterRef = cluster;
    startPodApps(cluster);
    let t0 = hostNowMs();
    // ClusterServices reads the documents (adding `kubernetes` and `kube-dns`) and builds the model.
    this.services = new ClusterServices(cluster);
    const modelBuildMs = hostNowMs() - t0;
    const model = this.services.model;
    let syncMs = 0;
    let applyMs = 0;
    for (const node of cluster.nodes.values()) {
      loadRestore(node, jumpRulesText(), "kube-proxy jump rules");
      t0 = hostNowMs();
      const result = syncIptablesRules(model, this.services.options(node));
      const t1 = hostNowMs();
      loadRestore(node, result.text, `kube-proxy sync on ${node.spec.name}`);
      const t2 = hostNowMs();
      const state = { node, model, result };
      this.nodes.set(node.spec.name, state);
      if (node.spec.name === workload.clientPod.node) {
        this.measured = state;
        syncMs = t1 - t0;
        applyMs = t2 - t1;
      }
    }
    return { modelBuildMs, syncMs, applyMs };
  }

  objects(): ObjectCounts {
    const r = this.state().result;
    return { rules: r.filterRuleLines + r.natRuleLines, filterRules: r.filterRuleLines, natRules: r.natRuleLines, virtualServers: null, realServers: null, ipsetEntries: null, chains: null, setElements: null };
  }

  updateEndpoint(): ResyncTimes {
    return this.resync(this.workload!.documentsWithEndpointChange());
  }

  addService(): ResyncTimes {
    return this.resync(this.workload!.documentsWithNewService());
  }

  restore(): ResyncTimes {
    return this.resync(this.workload!.documents());
  }

  /**
   * The model for `docs` (built outside the timing: the informers' part), then a timed
   * partial sync + load on the measured node. Only that node: the changes come after the
   * data plane was measured, and the real-kernel step reads that node's rules alone, so
   * syncing the other two would only triple the time each repetition takes.
   */
  private resync(docs: KubeDocument[]): ResyncTimes {
    const next = this.services!.modelFor(docs);
    const st = this.state();
    // What kube-proxy's change trackers hold when the sync starts (informers' work): outside the timing, as the model.
    const changedServices = changedServiceKeys(st.model, next);
    const t0 = hostNowMs();
    const result = syncIptablesRules(next, this.services!.options(st.node), { previous: st.model, existingNatChains: st.result.activeNatChains, changedServices });
    const t1 = hostNowMs();
    loadRestore(st.node, result.text, `kube-proxy partial sync on ${st.node.spec.name}`);
    const t2 = hostNowMs();
    st.model = next;
    st.result = { ...result, filterRuleLines: st.result.filterRuleLines, natRuleLines: st.result.natRuleLines };
    return { ms: t2 - t0, computeMs: t1 - t0, applyMs: t2 - t1 };
  }

  cost(node: NodeRuntime): number {
    return node.netfilter.rulesEvaluated;
  }

  core(picks: Uint32Array, packets: number, engine: EngineChoice): CoreFigures {
    const st = this.state();
    const nf = st.node.netfilter;
    const previous = nf.engine.kind;
    nf.useEngine(engine);
    const e = nf.engine;
    const w = this.workload!;
    const client = this.cluster.pod(w.clientPod.namespace, w.clientPod.name)!.spec.podIP;
    const bytes = new Uint8Array(28);
    const ctx = new PacketContext();
    const out = new Traversal();
    let rules = 0;
    const t0 = hostNowMs();
    for (let i = 0; i < packets; i++) {
      writeNewFlowPacket(bytes, client, w.clusterIP(picks[i % picks.length]!), i);
      ctx.load(bytes, 0, 28).at("PREROUTING", "cni0", "", 0, CT_STATE_NEW, 0);
      e.run("nat", "PREROUTING", ctx, out.reset(false));
      if (out.nat === null) throw new Error(`no DNAT for a new connection to Service ${picks[i % picks.length]}`);
      rules += out.rulesEvaluated;
    }
    const ms = hostNowMs() - t0;
    nf.useEngine(previous);
    return { packetsPerSec: packets / (ms / 1000), meanCost: rules / packets };
  }

  useEngine(engine: EngineChoice): boolean {
    for (const st of this.nodes.values()) st.node.netfilter.useEngine(engine);
    return true;
  }

  kernelRules(): KernelRuleset {
    const st = this.state();
    const options = this.services!.options(st.node);
    const full = syncIptablesRules(st.model, options);
    return { loader: "iptables-restore", jumpText: jumpRulesText(), restoreText: full.text, ruleLines: full.filterRuleLines + full.natRuleLines, clusterCIDR: options.clusterCIDR ?? formatCidr(this.cluster.spec.clusterCIDR) };
  }

  dispose(): void {
    this.clusterRef = null;
    this.services = null;
    this.workload = null;
    this.nodes.clear();
    this.measured = null;
  }

  private state(): NodeState {
    if (!this.measured) throw new Error("setup() first");
    return this.measured;
  }
}

/** Seeded picks of Service indices in [0, services). */
export function servicePicks(services: number, count: number, seed: number): Uint32Array {
  const rng = new Rng(seed);
  const picks = new Uint32Array(count);
  for (let i = 0; i < count; i++) picks[i] = rng.intBetween(0, services - 1);
  return picks;
}
