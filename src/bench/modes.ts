/**
 * One kube-proxy mode under benchmark. The runner is mode-agnostic: it asks a mode to build
 * the cluster with its objects and sync every node, to report what it generated, to apply
 * one endpoint change and to add one Service on one node, and to say how much modelled
 * work (rules evaluated, hash lookups) a node's dataplane has done so far. The data-plane
 * measurements then drive the mode's cluster the same way for every mode.
 */
import type { Cluster, NodeRuntime } from "../cluster/build.js";
import type { Workload } from "./workload.js";

export type ProxyModeName = "iptables" | "ipvs";
export const PROXY_MODES: readonly ProxyModeName[] = ["iptables", "ipvs"];

/** What a mode generated for the workload, on one node. Null where the mode has no such thing. */
export interface ObjectCounts {
  /** iptables rule lines kube-proxy writes (filter + nat). In IPVS mode: its remaining iptables rules. */
  rules: number | null;
  filterRules: number | null;
  natRules: number | null;
  /** IPVS virtual servers and real servers (destinations). */
  virtualServers: number | null;
  realServers: number | null;
  /** ipset entries over all sets. */
  ipsetEntries: number | null;
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

/** Inputs for the real-kernel experiment (iptables-restore text kube-proxy would load). */
export interface KernelRuleset {
  /** kube-proxy's jump rules from the built-in chains (`jumpRulesText()`). */
  jumpText: string;
  /** The full sync's restore text. */
  restoreText: string;
  /** Rule lines in restoreText. */
  ruleLines: number;
  /** The cluster CIDR kube-proxy was given (traffic from outside it is masqueraded). */
  clusterCIDR: string;
}

export type EngineChoice = "compiled" | "reference";

export interface ProxyModeBench {
  readonly mode: ProxyModeName;
  /** What `cost()` counts: "rules evaluated" (iptables) or "hash lookups" (IPVS). */
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
  /** Applies `workload.documentsWithEndpointChange()` on the measured node (timed, ms); other nodes untimed. */
  updateEndpoint(): number;
  /** Applies `workload.documentsWithNewService()` on the measured node (timed, ms); other nodes untimed. */
  addService(): number;
  /** Modelled dataplane work done so far on `node` (a counter that only grows). */
  cost(node: NodeRuntime): number;
  /**
   * The fast core alone: classify the first packet of `packets` new UDP connections from the
   * client Pod to Services `picks[i % picks.length]`, without the rest of the stack.
   * Returns null when the mode has no such engine choice.
   */
  core(picks: Uint32Array, packets: number, engine: EngineChoice): { packetsPerSec: number; meanCost: number } | null;
  /** Switches every node's classifier (returns false when the mode has only one). */
  useEngine(engine: EngineChoice): boolean;
  /** Real-kernel inputs for this mode, or a reason why the kernel cannot run it. */
  kernelRules(): KernelRuleset | { unavailable: string };
  /** Drops references so the next size starts from a clean heap. */
  dispose(): void;
}
