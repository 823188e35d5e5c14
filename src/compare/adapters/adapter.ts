/**
 * The per-mode seam of `podwire compare-modes`: which endpoints a kube-proxy mode may send
 * a flow to on the node that handled it. Which single endpoint answered is a random draw
 * (iptables' `statistic`, IPVS's scheduler), so compare-modes compares these sets instead.
 * Each mode answers from its own state on that node: iptables mode from an offline trace of
 * the node's rules, IPVS mode from the node's virtual service. A mode joins by adding one
 * adapter to the registry (registry.ts).
 */
import type { RunningCluster } from "../../cluster/boot.js";
import type { NodeRuntime } from "../../cluster/build.js";
import type { ExchangeResult } from "../../cluster/exchange.js";
import type { ProxyMode } from "../../cluster/spec.js";
import type { Flow } from "../flows.js";

/** One flow as it ran in one mode's cluster. */
export interface FlowRun {
  running: RunningCluster;
  flow: Flow;
  result: ExchangeResult;
  /** The client's source address as its stack picked it for the destination. */
  srcIp: number;
  /** The destination and port sent to. */
  dst: number;
  port: number;
  /** The transport (a DNS flow's `udp` or `tcp`). */
  proto: "tcp" | "udp" | "sctp";
}

export interface ModeAdapter {
  readonly mode: ProxyMode;
  /**
   * `IP:PORT` of every endpoint the mode may send `run`'s flow to on `node` (the node whose
   * dataplane handled its first packet), sorted; empty when the mode drops or refuses the
   * flow there before choosing an endpoint; null when the adapter cannot tell for this
   * flow (its endpoint set is then shown as unknown and not compared).
   */
  endpointSetOf(node: NodeRuntime, run: FlowRun): string[] | null;
}
