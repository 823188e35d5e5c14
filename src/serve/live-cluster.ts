/**
 * A cluster that keeps running: booted once, its virtual clock advanced by whoever paces it
 * (pacer.ts), with background traffic, the kernel's conntrack garbage collection, kube-proxy's
 * sync loop taking object changes (`--watch`) as kube-proxy would, and the counters the page
 * and `/metrics` read. Everything here is on the virtual clock; nothing reads the wall clock.
 */
import { formatIpv4 } from "../base/index.js";
import type { ClusterSpec } from "../cluster/spec.js";
import { KubeProxySyncLoop, type SyncRecord } from "../cluster/sync-loop.js";
import { bootObserved, clusterExposition, type ObservedCluster } from "../metrics/index.js";
import type { NetDevice, TimerTask } from "../netdev/index.js";
import { keepAllocations } from "./keep-allocations.js";
import { RateSampler } from "./rates.js";
import { TrafficGenerator, type TrafficProfile, planFlows } from "./traffic.js";

/**
 * How often the conntrack garbage collector reaps expired entries (virtual ns): the kernel's
 * gc_worker (nf_conntrack_core.c) rescans at least every GC_SCAN_INTERVAL_MIN, 1 s, while the
 * table has entries that expire soon.
 */
const CONNTRACK_GC_NS = 1_000_000_000;
/** Events the page can show (syncs, file changes), the most recent kept. */
const MAX_EVENTS = 100;

export type LiveEventKind = "sync-queued" | "sync-started" | "sync-landed" | "file-changed" | "file-error" | "file-ignored" | "halted";

export interface LiveEvent {
  /** Sequence number, from 1: the page asks for events after the last it saw. */
  seq: number;
  atNs: number;
  kind: LiveEventKind;
  text: string;
}

export class LiveCluster {
  /** The spec traces boot from: the file as loaded, with the objects as last applied. */
  spec: ClusterSpec;
  readonly observed: ObservedCluster;
  readonly loop: KubeProxySyncLoop;
  readonly traffic: TrafficGenerator;
  readonly events: LiveEvent[] = [];
  private seq = 0;
  private readonly rates: RateSampler;

  constructor(spec: ClusterSpec, profile: TrafficProfile) {
    this.spec = spec;
    this.observed = bootObserved(spec);
    const { cluster, services, dns, recorder } = this.observed;
    this.loop = new KubeProxySyncLoop(services, {
      onStart: (now) => {
        recorder.syncStarted();
        this.event(now, "sync-started", "kube-proxy sync started on every node");
      },
      onLand: (record) => {
        recorder.synced(record);
        // CoreDNS and the outside hosts' routes follow the Services, as their controllers would.
        services.publishDns(dns.values());
        services.routeExternalAddresses();
        this.event(record.landedAt, "sync-landed", syncText(record));
      },
    });
    this.traffic = new TrafficGenerator(cluster, profile, planFlows(cluster, services));
    this.rates = new RateSampler(cluster.devices);
    const gc: TimerTask = {
      fire: () => {
        for (const node of cluster.nodes.values()) node.netfilter.conntrack.gc();
        cluster.sim.schedule(CONNTRACK_GC_NS, gc);
      },
    };
    cluster.sim.schedule(CONNTRACK_GC_NS, gc);
    this.traffic.start();
    this.rates.sample(cluster.sim.now());
  }

  get nowNs(): number {
    return this.observed.cluster.sim.now();
  }

  /**
   * Runs the cluster until virtual time `ns` (or until `maxEvents` were processed, when the
   * emulation cannot keep up); returns the events processed.
   */
  advanceTo(ns: number, maxEvents = 200_000): number {
    const sim = this.observed.cluster.sim;
    const n = sim.run(ns, maxEvents);
    this.rates.sample(sim.now());
    return n;
  }

  /**
   * The Services and EndpointSlices are now those of `spec` (the watched file changed): they
   * reach the dataplane as kube-proxy's next sync lands. Other changes are reported, not applied.
   */
  applyObjects(next: ClusterSpec, ignored: string[]): void {
    const { services, recorder } = this.observed;
    // Running Services keep their addresses and node ports, as the API server keeps them.
    const docs = keepAllocations(next.otherDocuments, services.model.services);
    const model = services.modelFor(docs);
    const before = { services: recorder.serviceChanges, slices: recorder.endpointChanges };
    recorder.told(model, this.nowNs);
    const changed = recorder.serviceChanges - before.services + (recorder.endpointChanges - before.slices);
    this.spec = { ...this.spec, otherDocuments: docs };
    for (const what of ignored) this.event(this.nowNs, "file-ignored", what);
    if (changed === 0) {
      this.event(this.nowNs, "file-changed", "the file changed; no Service or EndpointSlice differs");
      return;
    }
    this.event(this.nowNs, "file-changed", `${recorder.serviceChanges - before.services} Service and ${recorder.endpointChanges - before.slices} EndpointSlice changes`);
    this.loop.change(docs);
    this.event(this.nowNs, "sync-queued", "kube-proxy queued a sync (minSyncPeriod 1 s after the last one)");
  }

  /** The emulation threw (a bug): said on stderr and to the page; the clock stands still from here. */
  halted(err: unknown): void {
    const text = `the emulation stopped: internal error (please report it): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
    process.stderr.write(`podwire: ${text}\n`);
    this.event(this.nowNs, "halted", text);
  }

  /** The watched file could not be read: the cluster runs on as it is. */
  fileError(message: string): void {
    this.event(this.nowNs, "file-error", message);
  }

  event(atNs: number, kind: LiveEventKind, text: string): void {
    this.events.push({ seq: ++this.seq, atNs, kind, text });
    if (this.events.length > MAX_EVENTS) this.events.shift();
  }

  metrics(): string {
    return clusterExposition(this.observed.cluster, this.observed.recorder);
  }

  /** `/api/counters`: the clock, per node its devices' counters and rates and its conntrack table, the sync loop, the traffic. */
  counters(sinceSeq = 0): Record<string, unknown> {
    const { cluster, recorder } = this.observed;
    const rates = this.rates.rates();
    const device = (d: NetDevice) => {
      const r = rates.get(d) ?? { rxPps: 0, txPps: 0, rxBps: 0, txBps: 0 };
      const s = d.stats;
      return { name: d.name, rxPackets: s.rxPackets, txPackets: s.txPackets, rxBytes: s.rxBytes, txBytes: s.txBytes, rxDropped: s.rxDropped, txDropped: s.txDropped, ...r };
    };
    const last = this.loop.syncs[this.loop.syncs.length - 1];
    return {
      virtualTimeNs: this.nowNs,
      nodes: [...cluster.nodes.values()].map((n) => {
        const ct = n.netfilter.conntrack;
        return {
          name: n.spec.name,
          conntrack: { entries: ct.count, max: ct.max, ...ct.stats },
          drops: Object.fromEntries(n.ns.stats.drops),
          devices: [...n.ns.interfaces.keys()].map(device),
          ipvs: n.netfilter.ipvs === null ? null : { connections: n.netfilter.ipvs.totalStats.conns, inPackets: n.netfilter.ipvs.totalStats.inpkts },
        };
      }),
      pods: [...cluster.pods.values()].filter((p) => p.eth0 !== null).map((p) => ({ key: p.key, node: p.node.spec.name, eth0: device(p.eth0!), drops: Object.fromEntries(p.ns.stats.drops) })),
      syncLoop: {
        busy: this.loop.busy,
        syncs: this.loop.syncs.length,
        pendingServices: recorder.pendingServices.size,
        pendingEndpointSlices: recorder.pendingEndpointSlices.size,
        last: last === undefined ? null : { requestedAtNs: last.requestedAt, startedAtNs: last.startedAt, landedAtNs: last.landedAt, lines: last.lines, conntrackDeleted: last.conntrackDeleted },
      },
      traffic: { profile: this.traffic.profile, ...this.traffic.stats, flows: this.traffic.plans.map((p) => ({ kind: p.kind, from: p.fromLabel, to: p.toLabel, destination: `${formatIpv4(p.dst)}:${p.port}` })) },
      events: this.events.filter((e) => e.seq > sinceSeq),
    };
  }
}

function syncText(r: SyncRecord): string {
  const ms = (ns: number) => `${(ns / 1e6).toFixed(1)} ms`;
  return `kube-proxy sync landed: ${r.lines} lines written (most of any node), loaded in ${ms(r.landedAt - r.startedAt)}; ${ms(r.landedAt - r.requestedAt)} after the change; ${r.conntrackDeleted} stale conntrack entries deleted`;
}
