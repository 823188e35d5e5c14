/**
 * kube-proxy's sync loop on the virtual clock: when the Services or EndpointSlices change,
 * the rules do not change at that instant. kube-proxy's BoundedFrequencyRunner starts a sync
 * at once if the last one started at least minSyncPeriod ago (else when that much time has
 * passed), never two at a time; the sync computes the rules and hands them to the kernel
 * (iptables-restore, nft -f), which takes time to load them; the new rules take effect when
 * the load commits. Changes that arrive meanwhile wait for the next sync, which takes them
 * all at once.
 *
 * The load time is modelled from what the sync writes: the lines of its iptables-restore
 * input or nft transaction (the mode's `writeSize`) times a cost per line. The default cost
 * is the real kernel's, measured by `bench/kube-iptables.ts` on this project's 2-CPU VM
 * (bench/results/kube-iptables.json: `iptables-restore --noflush` of kube-proxy's full text
 * for 1,000 Services × 10 endpoints, 32,005 lines, took 4.0 s with iptables-nft 1.8.9, so
 * 125 µs a line). The cost per line grows with the table (3,205 lines loaded at 22 µs a line),
 * so the model overstates small loads; kubernetes/kubernetes#96018 reports 12.8 s for a
 * 695,992-line restore in flush mode (18 µs a line) on its reporter's machine.
 */
import type { KubeDocument, KubeModel } from "../kube/index.js";
import type { TimerTask } from "../netdev/index.js";
import type { ClusterServices } from "./services.js";

/** ns per line of restore input or nft transaction (bench/results/kube-iptables.json: 4,001 ms / 32,005 lines). */
export const RESTORE_NS_PER_LINE = 125_000;
/** kube-proxy's default iptables.minSyncPeriod and nftables.minSyncPeriod. */
export const DEFAULT_MIN_SYNC_PERIOD_NS = 1_000_000_000;

/** One sync of the loop. */
export interface SyncRecord {
  /** When the first change it carries arrived (virtual ns). */
  requestedAt: number;
  /** When the sync started (the BoundedFrequencyRunner ran it). */
  startedAt: number;
  /** When its rules took effect (the load committed). */
  landedAt: number;
  /** Lines written, the most of any node. */
  lines: number;
  /** Stale UDP conntrack entries kube-proxy deleted after it, all nodes. */
  conntrackDeleted: number;
  /** Each node's share: the lines its kube-proxy wrote and the conntrack entries it deleted. */
  nodes: { node: string; lines: number; conntrackDeleted: number }[];
}

export interface SyncLoopOptions {
  minSyncPeriodNs?: number;
  nsPerLine?: number;
  /** Told when a sync starts (it has taken every change that arrived before `now`). */
  onStart?: (now: number) => void;
  /** Told when a sync has landed, with its record. */
  onLand?: (record: SyncRecord) => void;
}

/**
 * Every node's kube-proxy watches the same API server, so every node syncs at the same
 * moments; a sync lands on all nodes together, after the node that writes the most.
 */
export class KubeProxySyncLoop implements TimerTask {
  readonly syncs: SyncRecord[] = [];
  readonly minSyncPeriodNs: number;
  readonly nsPerLine: number;
  private readonly onStart: ((now: number) => void) | null;
  private readonly onLand: ((record: SyncRecord) => void) | null;
  private pending: { docs: readonly KubeDocument[]; since: number } | null = null;
  /** The sync in progress: its model, when it started, when it lands. */
  private running: { next: KubeModel; requestedAt: number; startedAt: number; landsAt: number; lines: number; nodeLines: Map<string, number> } | null = null;
  private timerAt: number | null = null;
  private lastStart = -Infinity;

  constructor(
    readonly services: ClusterServices,
    opts: SyncLoopOptions = {},
  ) {
    this.minSyncPeriodNs = opts.minSyncPeriodNs ?? DEFAULT_MIN_SYNC_PERIOD_NS;
    this.nsPerLine = opts.nsPerLine ?? RESTORE_NS_PER_LINE;
    this.onStart = opts.onStart ?? null;
    this.onLand = opts.onLand ?? null;
  }

  private get now(): number {
    return this.services.cluster.sim.now();
  }

  /** The objects are now `docs` (a Service created, an EndpointSlice changed): a sync is due. */
  change(docs: readonly KubeDocument[]): void {
    this.pending = { docs, since: this.pending?.since ?? this.now };
    this.arm();
  }

  /** True while a change has not landed yet. */
  get busy(): boolean {
    return this.pending !== null || this.running !== null;
  }

  /** The BoundedFrequencyRunner: the next sync starts when the last has landed and minSyncPeriod has passed since it started. */
  private arm(): void {
    if (this.running !== null || this.pending === null) return;
    const at = Math.max(this.now, this.lastStart + this.minSyncPeriodNs);
    if (this.timerAt !== null && this.timerAt <= at) return;
    this.timerAt = at;
    this.services.cluster.sim.schedule(at - this.now, this);
  }

  fire(): void {
    const now = this.now;
    if (this.running !== null && now >= this.running.landsAt) {
      this.land();
      return;
    }
    if (this.timerAt === null || now < this.timerAt) return; // a superseded timer
    this.timerAt = null;
    if (this.running !== null || this.pending === null) return;
    const { docs, since } = this.pending;
    this.pending = null;
    const next = this.services.modelFor(docs);
    let lines = 0;
    const nodeLines = new Map<string, number>();
    for (const node of this.services.cluster.nodes.values()) {
      const n = this.services.proxy.writeSize?.(node, next, this.services.changeTo(next)) ?? 0;
      nodeLines.set(node.spec.name, n);
      lines = Math.max(lines, n);
    }
    const duration = lines * this.nsPerLine;
    this.lastStart = now;
    this.running = { next, requestedAt: since, startedAt: now, landsAt: now + duration, lines, nodeLines };
    this.onStart?.(now);
    this.services.cluster.sim.schedule(duration, this);
  }

  /** The load commits: the new rules are in; the conntrack cleanup follows. */
  private land(): void {
    const r = this.running!;
    this.running = null;
    let deleted = 0;
    const nodes: SyncRecord["nodes"] = [];
    for (const [node, outcome] of this.services.updateTo(r.next)) {
      deleted += outcome.conntrackDeleted;
      nodes.push({ node, lines: r.nodeLines.get(node) ?? 0, conntrackDeleted: outcome.conntrackDeleted });
    }
    const record: SyncRecord = { requestedAt: r.requestedAt, startedAt: r.startedAt, landedAt: this.now, lines: r.lines, conntrackDeleted: deleted, nodes };
    this.syncs.push(record);
    this.onLand?.(record);
    this.arm();
  }
}
