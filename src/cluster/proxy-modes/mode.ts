/**
 * One kube-proxy mode in the running cluster: how it compiles the Kubernetes objects into a
 * node's dataplane state (rules, virtual servers, sets), applies a full or a partial sync,
 * describes a node's state as kube-proxy's own text, and counts the modelled cost of the
 * packets it handled. iptables and IPVS live behind it, each in its own file; the registry
 * picks one by name. Nothing above this file branches on the mode.
 */
import type { EndpointSlice, IptablesProxierOptions, IptablesSyncResult, KubeModel } from "../../kube/index.js";
import type { KubeProxyConfig, ProxyMode } from "../spec.js";
import type { Cluster, NodeRuntime } from "../build.js";

/** What one node's re-sync did (timings in ms). */
export interface ModeResync {
  /** iptables mode: the partial sync result (its chains); null in other modes. */
  sync: IptablesSyncResult | null;
  /** Operations the change needed (IPVS/ipset/address operations; 0 where not counted). */
  operations: number;
  computeMs: number;
  applyMs: number;
}

/** What a mode gets from the cluster: the nodes, and kube-proxy's options on a node. */
export interface ModeContext {
  readonly cluster: Cluster;
  /** kube-proxy's options on `node` (flags and the node's addresses). */
  options(node: NodeRuntime): IptablesProxierOptions;
  /** kube-proxy's configuration (the Cluster document's kubeProxy block and the flags). */
  config?(): KubeProxyConfig;
}

/**
 * What changed from the cluster's last model (`from`) to the next: what kube-proxy's change
 * trackers and EndpointSliceCache hand a sync. Worked out once per change, on first use,
 * and shared by every node's resync.
 */
export interface ModelChange {
  readonly from: KubeModel;
  /** `ns/name` of the Services whose Service object or EndpointSlices changed, deleted ones included. */
  readonly changedServices: ReadonlySet<string>;
  /** The next model's EndpointSlices by Service (`ns/name`). */
  readonly slicesByService: ReadonlyMap<string, readonly EndpointSlice[]>;
}

export interface KubeProxyMode {
  readonly name: ProxyMode;
  /** What `cost()` counts: "rules evaluated" (iptables) or "hash lookups" (IPVS). */
  readonly costUnit: string;
  /** The Service protocols podwire's emulation of this mode carries end to end. */
  readonly protocols: ReadonlySet<"TCP" | "UDP" | "SCTP">;
  /** The first full sync on one node. Returns the time to compute and to apply it, ms. */
  setup(node: NodeRuntime, model: KubeModel): { syncMs: number; applyMs: number };
  /** Re-syncs one node to `next`, touching only what changed where the mode can (`change`: what changed since the model the node last synced, where the mode uses it). */
  resync(node: NodeRuntime, next: KubeModel, change?: ModelChange): ModeResync;
  /**
   * How much a resync to `next` would write now, without applying it: the lines of the
   * iptables-restore input or nft transaction kube-proxy would hand the kernel (what a sync
   * costs to load: sync-loop.ts). Absent where the mode does not model it.
   */
  writeSize?(node: NodeRuntime, next: KubeModel, change?: ModelChange): number;
  /** A node's kube-proxy state as the text kube-proxy (and its tools) would show and load. */
  describe(node: NodeRuntime, model: KubeModel): string;
  /** Modelled dataplane work done so far on `node` (a counter that only grows). */
  cost(node: NodeRuntime): number;
}
