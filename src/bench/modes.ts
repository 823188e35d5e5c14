/**
 * One kube-proxy mode under benchmark. The runner is mode-agnostic: it asks a mode to build
 * the cluster with its objects and sync every node, to report what it generated, to apply
 * one endpoint change and to add one Service on one node, and to say how much modelled
 * work (rules evaluated, hash lookups) a node's dataplane has done so far. The data-plane
 * measurements then drive the mode's cluster the same way for every mode.
 */
import type { Cluster, NodeRuntime } from "../cluster/build.js";
import type { Workload } from "./workload.js";

export type ProxyModeName = "iptables" | "ipvs" | "nftables";
export const PROXY_MODES: readonly ProxyModeName[] = ["iptables", "ipvs", "nftables"];

/** What a mode generated for the workload, on one node. Null where the mode has no such thing. */
export interface ObjectCounts {
  /**
   * iptables rule lines kube-proxy writes (filter + nat). In IPVS mode: its remaining
   * iptables rules. In nftables mode: the rules of kube-proxy's `ip kube-proxy` table.
   */
  rules: number | null;
  filterRules: number | null;
  natRules: number | null;
  /** IPVS virtual servers and real servers (destinations). */
  virtualServers: number | null;
  realServers: number | null;
  /** ipset entries over all sets. */
  ipsetEntries: number | null;
  /** nftables mode: chains in kube-proxy's table (base and regular). */
  chains: number | null;
  /** nftables mode: elements over every set and map of kube-proxy's table. */
  setElements: number | null;
}

/** One timed re-sync on the measured node (ms): the total, and where the mode can tell, its two halves. */
export interface ResyncTimes {
  ms: number;
  /** kube-proxy computing the change (restore text, nft transaction, or IPVS diff). */
  computeMs: number | null;
  /** Loading it into podwire's dataplane on the node. */
  applyMs: number | null;
}

/** Control-plane timings of the first full sync, on the measured node (the client's). */
export interface SetupFigures {
  /** Building the kube model (Services + EndpointSlices → service ports and endpoints), ms. */
  modelBuildMs: number;
  /** kube-proxy's full sync: generating its output (restore text, or IPVS/ipset specs), ms. */
  syncMs: number;
  /** Loading that output into podwire's dataplane on the node (parse, apply, compile), ms. */
  applyMs: number;
}

/** Inputs for the real-kernel experiment (the text kube-proxy would load, and with what). */
export interface KernelRuleset {
  /** How the text is loaded: `iptables-restore` (iptables mode) or `nft -f` (nftables mode). */
  loader: "iptables-restore" | "nft";
  /** kube-proxy's jump rules from the built-in chains (`jumpRulesText()`); "" for nft. */
  jumpText: string;
  /** The full sync's restore text, or its `nft -f` transaction. */
  restoreText: string;
  /** Rule lines in restoreText (`-A …` lines, or `add rule …` lines for nft). */
  ruleLines: number;
  /** The cluster CIDR kube-proxy was given (traffic from outside it is masqueraded). */
  clusterCIDR: string;
}

export type EngineChoice = "compiled" | "reference";

/** The fast core's rate and its modelled cost per classified packet (in the mode's unit; nft expressions too where counted). */
export interface CoreFigures {
  packetsPerSec: number;
  meanCost: number;
  meanExprs?: number;
}

export interface ProxyModeBench {
  readonly mode: ProxyModeName;
  /** What `cost()` counts: "rules evaluated" (iptables, nftables) or "hash lookups" (IPVS). */
  readonly costUnit: string;
  /**
   * Builds the cluster for `workload` (namespaces, devices, Pod servers) and runs the first
   * full sync on every node. Throws PodwireError E_MODE_UNAVAILABLE when the mode is not built.
   */
  setup(workload: Workload): SetupFigures;
  /** The running cluster (after setup). */
  readonly cluster: Cluster;
  /** What the last sync generated on the measured node. */
  objects(): ObjectCounts;
  /**
   * Applies `workload.documentsWithEndpointChange()` on the measured node (timed); other
   * nodes untimed, or not at all (the data plane is measured before any change).
   */
  updateEndpoint(): ResyncTimes;
  /** Applies `workload.documentsWithNewService()` on the measured node (timed), as updateEndpoint(). */
  addService(): ResyncTimes;
  /**
   * Undoes the last updateEndpoint() or addService(): the measured node back to
   * `workload.documents()`, so that the change can be timed again; returns the undo's own
   * timing (after updateEndpoint() it is one endpoint change too). A mode without it gets
   * one timing of each change (n = 1).
   */
  restore?(): ResyncTimes;
  /** Modelled dataplane work done so far on `node` (a counter that only grows). */
  cost(node: NodeRuntime): number;
  /** nftables mode: kernel expressions evaluated so far on `node` (nft_do_chain's per-expression work); absent elsewhere. */
  exprCost?(node: NodeRuntime): number;
  /**
   * The fast core alone: classify the first packet of `packets` new UDP connections from the
   * client Pod to Services `picks[i % picks.length]`, without the rest of the stack.
   * Returns null when the mode has no such engine choice.
   */
  core(picks: Uint32Array, packets: number, engine: EngineChoice): CoreFigures | null;
  /** Switches every node's classifier (returns false when the mode has only one). */
  useEngine(engine: EngineChoice): boolean;
  /** Real-kernel inputs for this mode, or a reason why the kernel cannot run it. */
  kernelRules(): KernelRuleset | { unavailable: string };
  /** Drops references so the next size starts from a clean heap. */
  dispose(): void;
}
