/**
 * ──────────────────────────────────────────────────────────────────────────────────────
 *  IPVS MODE ADAPTER — PLACEHOLDER. To be filled in when src/ipvs and
 *  src/kube/ipvs-proxier land. Until then every call throws E_MODE_UNAVAILABLE and the
 *  runner reports "ipvs: not available yet" with null figures.
 * ──────────────────────────────────────────────────────────────────────────────────────
 *
 * What the filled-in adapter must do (the contract is `ProxyModeBench` in ./modes.ts):
 *  - setup(workload): build `new Cluster(workload.spec)` (the spec says proxyMode iptables;
 *    set `spec.proxyMode = "ipvs"` if the IPVS cluster code checks it), `startPodApps`,
 *    build the kube model from `workload.documents()` (+ builtinServiceDocuments), then on
 *    every node run the IPVS proxier's full sync: kube-ipvs0 addresses, virtual servers and
 *    real servers, ipsets, and its remaining iptables rules. Return { modelBuildMs,
 *    syncMs (generating the IPVS/ipset/iptables state for the client's node, worker-1),
 *    applyMs (loading it into that node's emulated IPVS, ipsets and netfilter) }.
 *  - objects(): { rules: its iptables rule lines (filter+nat), filterRules, natRules,
 *    virtualServers, realServers, ipsetEntries } on worker-1.
 *  - updateEndpoint() / addService(): the IPVS proxier's incremental update for
 *    `workload.documentsWithEndpointChange()` / `documentsWithNewService()` on worker-1,
 *    timed in ms (target: ≤ 1 ms for one endpoint at 50,000 Services); other nodes untimed.
 *  - cost(node): a monotonic counter of modelled work on the node — IPVS hash lookups
 *    (service table + connection table) plus the rules its iptables chains evaluated
 *    (`node.netfilter.rulesEvaluated`), so first vs later packets can be compared.
 *  - core(picks, packets, engine): the first packet of new connections to
 *    `workload.clusterIP(picks[i])`:80/UDP through the IPVS service lookup + scheduler
 *    alone, { packetsPerSec, meanCost }; return null if there is nothing to compare.
 *  - useEngine(engine): false (IPVS has one engine) unless its iptables part should swap.
 *  - kernelRules(): { unavailable: "IPVS is not in this kernel" } (or a real ipvsadm
 *    restore where the kernel has ip_vs).
 *  - dispose(): drop references.
 */
import { PodwireError } from "../base/index.js";
import type { Cluster, NodeRuntime } from "../cluster/build.js";
import type { EngineChoice, KernelRuleset, ObjectCounts, ProxyModeBench, SetupFigures } from "./modes.js";
import type { Workload } from "./workload.js";

export const IPVS_UNAVAILABLE = "not available yet (IPVS mode is being built: src/ipvs, src/kube/ipvs-proxier)";

function unavailable(): never {
  throw new PodwireError("E_MODE_UNAVAILABLE", `ipvs: ${IPVS_UNAVAILABLE}`, { field: "--modes" }, "benchmark --modes iptables until IPVS mode lands");
}

export class IpvsModeBench implements ProxyModeBench {
  readonly mode = "ipvs" as const;
  readonly costUnit = "hash lookups";
  get cluster(): Cluster {
    return unavailable();
  }
  setup(_workload: Workload): SetupFigures {
    return unavailable();
  }
  objects(): ObjectCounts {
    return unavailable();
  }
  updateEndpoint(): number {
    return unavailable();
  }
  addService(): number {
    return unavailable();
  }
  cost(_node: NodeRuntime): number {
    return unavailable();
  }
  core(_picks: Uint32Array, _packets: number, _engine: EngineChoice): { packetsPerSec: number; meanCost: number } | null {
    return unavailable();
  }
  useEngine(_engine: EngineChoice): boolean {
    return false;
  }
  kernelRules(): KernelRuleset | { unavailable: string } {
    return { unavailable: "IPVS is not in this kernel" };
  }
  dispose(): void {}
}
