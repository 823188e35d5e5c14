/**
 * Paces the virtual clock to the wall clock: every tick, the cluster runs until the virtual
 * time that corresponds to the real time elapsed since the start, times `speed`. When the
 * emulation cannot keep up (more events due than a tick may process), virtual time falls
 * behind and `lagNs` says by how much; it catches up when the load drops.
 */
import { hostNowMs } from "../base/index.js";
import type { LiveCluster } from "./live-cluster.js";

const TICK_MS = 100;
/** Events one tick may process before it yields to the HTTP server. */
const MAX_EVENTS_PER_TICK = 100_000;

export class Pacer {
  private timer: NodeJS.Timeout | null = null;
  private startReal = 0;
  private startVirtual = 0;
  /** Virtual ns the cluster is behind where the wall clock says it should be. */
  lagNs = 0;

  constructor(
    readonly live: LiveCluster,
    readonly speed: number,
  ) {}

  start(): void {
    this.startReal = hostNowMs();
    this.startVirtual = this.live.nowNs;
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  tick(): void {
    const target = this.startVirtual + Math.floor((hostNowMs() - this.startReal) * 1e6 * this.speed);
    try {
      this.live.advanceTo(target, MAX_EVENTS_PER_TICK);
    } catch (err) {
      // A bug in the emulation: the clock stops, the page keeps showing the state it reached.
      this.stop();
      this.live.halted(err);
      return;
    }
    this.lagNs = Math.max(0, target - this.live.nowNs);
  }
}
