/**
 * kube-proxy's IPVS mode under benchmark: every node set up by ClusterServices in IPVS mode
 * (kube-ipvs0, virtual servers, ipsets, the remaining iptables rules), incremental updates
 * for an endpoint change and for a new Service, the modelled cost as IPVS hash lookups plus
 * the rules its iptables chains evaluate, and the fast core as the IPVS lookup + scheduler.
 */
import { hostNowMs } from "../base/index.js";
import { Cluster, type NodeRuntime } from "../cluster/build.js";
import { ClusterServices } from "../cluster/services.js";
import type { IpvsTable } from "../ipvs/index.js";
import type { KubeDocument } from "../kube/index.js";
import { bootForBench } from "./boot.js";
import type { CoreFigures, EngineChoice, KernelRuleset, ObjectCounts, ProxyModeBench, ResyncTimes, SetupFigures } from "./modes.js";
import { type Workload, writeNewFlowPacket } from "./workload.js";

/** ip_vs_in looks up the connection table, then (for a new connection) the service table. */
const LOOKUPS_PER_NEW_CONNECTION = 2;
/** UDP connections expire after 5 minutes: the core benchmark lets them, every so often. */
const UDP_TIMEOUT_NS = 300_000_000_000;

export class IpvsModeBench implements ProxyModeBench {
  readonly mode = "ipvs" as const;
  readonly costUnit = "hash lookups";
  private clusterRef: Cluster | null = null;
  private services: ClusterServices | null = null;
  private workload: Workload | null = null;

  get cluster(): Cluster {
    if (!this.clusterRef) throw new Error("setup() first");
    return this.clusterRef;
  }

  setup(workload: Workload): SetupFigures {
    this.workload = workload;
    const booted = bootForBench(workload, "ipvs");
    this.clusterRef = booted.cluster;
    this.services = booted.services;
    return booted.figures;
  }

  objects(): ObjectCounts {
    const last = this.services!.ipvs!.lastSync(this.workload!.clientPod.node)!;
    const lines = (text: string, table: string) => {
      const section = text.split(/^\*/m).find((t) => t.startsWith(table)) ?? "";
      return section.split("\n").filter((l) => l.startsWith("-A ")).length;
    };
    const natRules = lines(last.iptablesText, "nat");
    const filterRules = lines(last.iptablesText, "filter");
    return {
      rules: natRules + filterRules,
      filterRules,
      natRules,
      virtualServers: last.virtualServers.length,
      realServers: last.virtualServers.reduce((n, vs) => n + vs.realServers.length, 0),
      ipsetEntries: last.ipsets.reduce((n, s) => n + s.entries.length, 0),
      chains: null,
      setElements: null,
    };
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

  /** The model (the informers' part) outside the timing; then the measured node's recompute + diff + apply. */
  private resync(docs: KubeDocument[]): ResyncTimes {
    const next = this.services!.modelFor(docs);
    const outcome = this.services!.updateTo(next).get(this.workload!.clientPod.node)!;
    this.lastApplyMs = outcome.applyMs;
    return { ms: outcome.computeMs + outcome.applyMs, computeMs: outcome.computeMs, applyMs: outcome.applyMs };
  }

  /** How long applying the last update's operations to the IPVS table and ipsets took (ms). */
  lastApplyMs = 0;

  cost(node: NodeRuntime): number {
    return node.netfilter.ipvsLookups + node.netfilter.rulesEvaluated;
  }

  core(picks: Uint32Array, packets: number, _engine: EngineChoice): CoreFigures | null {
    const w = this.workload!;
    const node = this.cluster.node(w.clientPod.node)!;
    const table: IpvsTable | null = node.netfilter.ipvs;
    if (table === null) return null;
    const client = this.cluster.pod(w.clientPod.namespace, w.clientPod.name)!.spec.podIP;
    const bytes = new Uint8Array(28);
    const clock = this.cluster.sim.clock;
    let forwarded = 0;
    const t0 = hostNowMs();
    for (let i = 0; i < packets; i++) {
      // A fresh UDP datagram each time (inbound rewrites it in place): a new connection.
      writeNewFlowPacket(bytes, client, w.clusterIP(picks[i % picks.length]!), i);
      if (table.inbound(bytes, 0, 28).verdict === "forwarded") forwarded++;
      // Keep the connection table bounded: let the UDP connections expire now and then.
      if ((i & 0x3fff) === 0x3fff) {
        clock.advanceBy(UDP_TIMEOUT_NS + 1);
        table.runTimers();
      }
    }
    const ms = hostNowMs() - t0;
    if (forwarded === 0) throw new Error("IPVS forwarded none of the core benchmark's packets");
    return { packetsPerSec: packets / (ms / 1000), meanCost: LOOKUPS_PER_NEW_CONNECTION };
  }

  useEngine(_engine: EngineChoice): boolean {
    return false;
  }

  kernelRules(): KernelRuleset | { unavailable: string } {
    return { unavailable: "this kernel has no IPVS (ip_vs)" };
  }

  dispose(): void {
    this.clusterRef = null;
    this.services = null;
    this.workload = null;
  }
}
