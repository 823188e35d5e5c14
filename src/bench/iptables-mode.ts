/**
 * kube-proxy's iptables mode under benchmark: the restore text from `syncIptablesRules`
 * loaded into every node's netfilter with `--noflush` (as ClusterServices.syncAll does),
 * partial re-syncs for an endpoint change and for a new Service, the modelled cost as
 * `NamespaceNetfilter.rulesEvaluated`, and the fast core (the compiled classifier, or the
 * reference interpreter) on the node's own ruleset.
 */
import { Rng, formatCidr, hostNowMs } from "../base/index.js";
import { startPodApps } from "../cluster/apps.js";
import { APISERVER_PORT } from "../cluster/apps.js";
import { Cluster, type NodeRuntime } from "../cluster/build.js";
import { ClusterServices } from "../cluster/services.js";
import {
  type IptablesSyncResult,
  type KubeDocument,
  type KubeModel,
  type KubePod,
  buildKubeModel,
  builtinServiceDocuments,
  jumpRulesText,
  partialSyncIptablesRules,
  syncIptablesRules,
} from "../kube/index.js";
import { applyRestore } from "../netfilter/apply-restore.js";
import { RuleEngine, Traversal } from "../netfilter/engine.js";
import { CT_STATE_NEW, type TableName } from "../netfilter/model.js";
import { PacketContext } from "../netfilter/packet-context.js";
import { type RestoreDocument, parseRestore } from "../netfilter/restore-parse.js";
import type { EngineChoice, KernelRuleset, ObjectCounts, ProxyModeBench, SetupFigures } from "./modes.js";
import { SERVICE_PORT, type Workload } from "./workload.js";

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
  private compiledEngines = new Map<string, RuleEngine>();

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
      load(node, jumpRulesText(), "kube-proxy jump rules");
      t0 = hostNowMs();
      const result = syncIptablesRules(model, this.services.options(node));
      const t1 = hostNowMs();
      load(node, result.text, `kube-proxy sync on ${node.spec.name}`);
      const t2 = hostNowMs();
      const state = { node, model, result };
      this.nodes.set(node.spec.name, state);
      if (node.spec.name === workload.clientPod.node) {
        this.measured = state;
        syncMs = t1 - t0;
        applyMs = t2 - t1;
      }
      this.compiledEngines.set(node.spec.name, node.netfilter.engine);
    }
    return { modelBuildMs, syncMs, applyMs };
  }

  objects(): ObjectCounts {
    const r = this.state().result;
    return { rules: r.filterRuleLines + r.natRuleLines, filterRules: r.filterRuleLines, natRules: r.natRuleLines, virtualServers: null, realServers: null, ipsetEntries: null };
  }

  updateEndpoint(): number {
    return this.resync(this.workload!.documentsWithEndpointChange());
  }

  addService(): number {
    return this.resync(this.workload!.documentsWithNewService());
  }

  /** The model for `docs` (built outside the timing: the informers' part), then a timed partial sync + load on the measured node. */
  private resync(docs: KubeDocument[]): number {
    const next = this.buildModel(docs);
    let ms = 0;
    for (const st of this.nodes.values()) {
      const t0 = hostNowMs();
      const result = partialSyncIptablesRules(st.model, next, this.services!.options(st.node));
      load(st.node, result.text, `kube-proxy partial sync on ${st.node.spec.name}`);
      if (st === this.measured) ms = hostNowMs() - t0;
      st.model = next;
      st.result = { ...result, filterRuleLines: st.result.filterRuleLines, natRuleLines: st.result.natRuleLines };
    }
    return ms;
  }

  private buildModel(docs: readonly KubeDocument[]): KubeModel {
    const spec = this.cluster.spec;
    const apiserver = spec.nodes.find((n) => n.controlPlane) ?? spec.nodes[0]!;
    const all = [...docs, ...builtinServiceDocuments(docs, { serviceCIDR: formatCidr(spec.serviceCIDR), apiserverAddress: apiserver.internalIP, apiserverPort: APISERVER_PORT })];
    const pods: KubePod[] = spec.pods.map((p) => ({ namespace: p.namespace, name: p.name, nodeName: p.nodeName, podIP: p.podIP, labels: p.labels, containers: p.containers }));
    const nodes = spec.nodes.map((n) => ({ name: n.name, internalIP: n.internalIP, podCIDR: n.podCIDR }));
    return buildKubeModel(all, pods, { serviceCIDR: formatCidr(spec.serviceCIDR) }, nodes);
  }

  cost(node: NodeRuntime): number {
    return node.netfilter.rulesEvaluated;
  }

  core(picks: Uint32Array, packets: number, engine: EngineChoice): { packetsPerSec: number; meanCost: number } {
    const st = this.state();
    const nf = st.node.netfilter;
    const e = engine === "compiled" ? this.compiledEngines.get(st.node.spec.name)! : new RuleEngine("reference", nf.ruleset, nf.env);
    const w = this.workload!;
    const client = this.cluster.pod(w.clientPod.namespace, w.clientPod.name)!.spec.podIP;
    const bytes = new Uint8Array(28);
    bytes[0] = 0x45;
    bytes[3] = 28;
    bytes[8] = 64;
    bytes[9] = 17;
    bytes[12] = client >>> 24;
    bytes[13] = (client >>> 16) & 255;
    bytes[14] = (client >>> 8) & 255;
    bytes[15] = client & 255;
    bytes[22] = SERVICE_PORT >>> 8;
    bytes[23] = SERVICE_PORT & 255;
    bytes[25] = 8;
    const ctx = new PacketContext();
    const out = new Traversal();
    let rules = 0;
    const t0 = hostNowMs();
    for (let i = 0; i < packets; i++) {
      const vip = w.clusterIP(picks[i % picks.length]!);
      bytes[16] = vip >>> 24;
      bytes[17] = (vip >>> 16) & 255;
      bytes[18] = (vip >>> 8) & 255;
      bytes[19] = vip & 255;
      bytes[20] = 0x80 | ((i >>> 8) & 0x3f);
      bytes[21] = i & 255;
      ctx.load(bytes, 0, 28).at("PREROUTING", "cni0", "", 0, CT_STATE_NEW, 0);
      e.run("nat", "PREROUTING", ctx, out.reset(false));
      if (out.nat === null) throw new Error(`no DNAT for a new connection to Service ${picks[i % picks.length]}`);
      rules += out.rulesEvaluated;
    }
    const ms = hostNowMs() - t0;
    return { packetsPerSec: packets / (ms / 1000), meanCost: rules / packets };
  }

  useEngine(engine: EngineChoice): boolean {
    for (const st of this.nodes.values()) {
      const nf = st.node.netfilter;
      const e = engine === "compiled" ? this.compiledEngines.get(st.node.spec.name)! : new RuleEngine("reference", nf.ruleset, nf.env);
      // The engine is fixed at construction in NamespaceNetfilter; the benchmark swaps it in place.
      (nf as unknown as { engine: RuleEngine }).engine = e;
    }
    return true;
  }

  kernelRules(): KernelRuleset {
    const st = this.state();
    const options = this.services!.options(st.node);
    const full = syncIptablesRules(st.model, options);
    return { jumpText: jumpRulesText(), restoreText: full.text, ruleLines: full.filterRuleLines + full.natRuleLines, clusterCIDR: options.clusterCIDR ?? formatCidr(this.cluster.spec.clusterCIDR) };
  }

  dispose(): void {
    this.clusterRef = null;
    this.services = null;
    this.workload = null;
    this.nodes.clear();
    this.measured = null;
    this.compiledEngines.clear();
  }

  private state(): NodeState {
    if (!this.measured) throw new Error("setup() first");
    return this.measured;
  }
}

/** `iptables-restore --noflush` of `text` into the node's netfilter (what ClusterServices does). */
function load(node: NodeRuntime, text: string, label: string): void {
  const doc = parseRestore(text, label);
  applyRestore(node.netfilter.ruleset, doc, { noflush: true, file: label });
  node.netfilter.rulesChanged(changedChains(doc));
}

function changedChains(doc: RestoreDocument): Map<TableName, Set<string>> {
  const out = new Map<TableName, Set<string>>();
  for (const t of doc.tables) {
    const set = out.get(t.name) ?? new Set<string>();
    for (const d of t.chainDecls) set.add(d.name);
    for (const c of t.commands) if ("chain" in c && c.chain) set.add(c.chain);
    out.set(t.name, set);
  }
  return out;
}

/** Seeded picks of Service indices in [0, services). */
export function servicePicks(services: number, count: number, seed: number): Uint32Array {
  const rng = new Rng(seed);
  const picks = new Uint32Array(count);
  for (let i = 0; i < count; i++) picks[i] = rng.intBetween(0, services - 1);
  return picks;
}
