/**
 * What each node's kube-proxy would have counted in its own metrics (pkg/proxy/metrics,
 * kube-proxy v1.33: names, types, buckets and the ip_family label from there), recorded on
 * the virtual clock: its syncs (the first full one at start, then each sync of the sync loop,
 * cluster/sync-loop.ts, whose duration is the modelled time to load what it wrote), the
 * Service and EndpointSlice changes it was told of, and when they were programmed.
 *
 * Every node's kube-proxy watches the same API server, so every node sees the same changes;
 * the sync loop lands a sync on all nodes together (sync-loop.ts), so their loop syncs take the
 * same time. The first sync is each node's own: its duration is what that node wrote.
 */
import type { KubeModel } from "../kube/index.js";
import type { ProxyMode } from "../cluster/spec.js";
import type { SyncRecord } from "../cluster/sync-loop.js";
import { Histogram, exponentialBuckets, linearBuckets } from "./histogram.js";
import { objectChanges } from "./object-changes.js";

/** SyncProxyRulesLatency and its full/partial variants: ExponentialBuckets(0.001, 2, 15). */
export const SYNC_DURATION_BUCKETS = exponentialBuckets(0.001, 2, 15);
/** NetworkProgrammingLatency: 0.25 s, 0.5 s, 1…59 s, 60…115 s, 2…5 min (80 bounds). */
export const NETWORK_PROGRAMMING_BUCKETS = [...linearBuckets(0.25, 0.25, 2), ...linearBuckets(1, 1, 59), ...linearBuckets(60, 5, 12), ...linearBuckets(120, 30, 7)];

const NS_PER_S = 1e9;

/** One node's kube-proxy counters. */
export interface NodeProxyMetrics {
  readonly syncDuration: Histogram;
  readonly fullSyncDuration: Histogram;
  readonly partialSyncDuration: Histogram;
  readonly networkProgramming: Histogram;
  /** Virtual seconds; null before the first sync. */
  lastSyncAt: number | null;
  /** Virtual seconds; null before any sync was queued. */
  lastQueuedAt: number | null;
  conntrackDeleted: number;
}

export class KubeProxyRecorder {
  readonly nodes = new Map<string, NodeProxyMetrics>();
  serviceChanges = 0;
  endpointChanges = 0;
  /** Objects changed since the sync that is to carry them started. */
  readonly pendingServices = new Set<string>();
  readonly pendingEndpointSlices = new Set<string>();
  /** The objects kube-proxy was last told of. */
  private known: KubeModel | null = null;

  constructor(
    readonly mode: ProxyMode,
    nodeNames: readonly string[],
    /** kube-proxy's minimizeIPTablesRestore (iptables mode): false makes every sync a full one. */
    private readonly partialSyncs = true,
  ) {
    for (const name of nodeNames) {
      this.nodes.set(name, {
        syncDuration: new Histogram(SYNC_DURATION_BUCKETS),
        fullSyncDuration: new Histogram(SYNC_DURATION_BUCKETS),
        partialSyncDuration: new Histogram(SYNC_DURATION_BUCKETS),
        networkProgramming: new Histogram(NETWORK_PROGRAMMING_BUCKETS),
        lastSyncAt: null,
        lastQueuedAt: null,
        conntrackDeleted: 0,
      });
    }
  }

  /**
   * kube-proxy starts: its informers hand it every Service and EndpointSlice (each an add
   * event), and its first sync, a full one, writes `lines[node]` lines that take
   * `nsPerLine` each to load. The first sync happens at `nowNs`.
   */
  started(model: KubeModel, lines: ReadonlyMap<string, number>, nsPerLine: number, nowNs: number): void {
    this.told(model, nowNs);
    for (const [name, m] of this.nodes) {
      const seconds = ((lines.get(name) ?? 0) * nsPerLine) / NS_PER_S;
      m.syncDuration.observe(seconds);
      m.fullSyncDuration.observe(seconds);
      m.lastSyncAt = (nowNs + (lines.get(name) ?? 0) * nsPerLine) / NS_PER_S;
    }
    this.syncStarted();
  }

  /** The objects are now `model` (kube-proxy's informers deliver the differences). */
  told(model: KubeModel, nowNs: number): void {
    const changes = objectChanges(this.known, model);
    this.known = model;
    if (changes.services.length === 0 && changes.endpointSlices.length === 0) return;
    this.serviceChanges += changes.services.length;
    this.endpointChanges += changes.endpointSlices.length;
    for (const k of changes.services) this.pendingServices.add(k);
    for (const k of changes.endpointSlices) this.pendingEndpointSlices.add(k);
    for (const m of this.nodes.values()) m.lastQueuedAt = nowNs / NS_PER_S;
  }

  /** A sync started: it takes every change told so far (kube-proxy's change trackers empty). */
  syncStarted(): void {
    this.pendingServices.clear();
    this.pendingEndpointSlices.clear();
  }

  /** A sync of the loop landed on every node. */
  synced(record: SyncRecord): void {
    const seconds = (record.landedAt - record.startedAt) / NS_PER_S;
    const programming = (record.landedAt - record.requestedAt) / NS_PER_S;
    for (const n of record.nodes) {
      const m = this.nodes.get(n.node);
      if (m === undefined) continue;
      m.syncDuration.observe(seconds);
      (this.partialSyncs ? m.partialSyncDuration : m.fullSyncDuration).observe(seconds);
      m.networkProgramming.observe(programming);
      m.lastSyncAt = record.landedAt / NS_PER_S;
      m.conntrackDeleted += n.conntrackDeleted;
    }
  }
}
