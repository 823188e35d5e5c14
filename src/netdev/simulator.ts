/**
 * The discrete-event core every device shares: a virtual clock, a queue of timed
 * deliveries and timers, a packet pool, a seeded RNG and an optional tracer. Frames cross a
 * link by being queued for `now + latency`; `run()` drains the queue in time order (ties in
 * the order they were queued), so the same inputs always give the same sequence of events.
 */
import { EventQueue, Rng, VirtualClock } from "../base/index.js";
import type { NetDevice } from "./device.js";
import { PacketBuffer, PacketPool } from "./packet-buffer.js";
import { type TraceAction, type TraceEvent, type TraceFields, Tracer } from "./trace.js";

/** A timer callback scheduled on the simulator. */
export interface TimerTask {
  fire(): void;
}

export class Simulator {
  readonly clock = new VirtualClock();
  readonly pool = new PacketPool();
  readonly rng: Rng;
  /** Set to record trace events; null keeps the fast path free of tracing work. */
  tracer: Tracer | null = null;
  private readonly queue = new EventQueue<PacketBuffer | TimerTask>();
  /** Events processed since creation. */
  eventsProcessed = 0;

  constructor(seed: number) {
    this.rng = new Rng(seed);
  }

  now(): number {
    return this.clock.now();
  }

  /** Hands `pkt` to `dev.receive()` after `delayNs`. The queue owns the packet until then. */
  deliverLater(dev: NetDevice, pkt: PacketBuffer, delayNs: number): void {
    pkt.deliverTo = dev;
    pkt.deliverStep = 0;
    this.queue.push(this.clock.now() + delayNs, pkt);
  }

  /**
   * Hands `pkt` back to `dev.resume(pkt, step)` after `delayNs`: a device's processing step
   * that costs virtual time (timing.ts). The queue owns the packet until then.
   */
  resumeLater(dev: NetDevice, pkt: PacketBuffer, delayNs: number, step: number): void {
    pkt.deliverTo = dev;
    pkt.deliverStep = step;
    this.queue.push(this.clock.now() + delayNs, pkt);
  }

  schedule(delayNs: number, task: TimerTask): void {
    this.queue.push(this.clock.now() + delayNs, task);
  }

  /** Number of pending events. */
  get pending(): number {
    return this.queue.size;
  }

  /** When the next pending event is due; Infinity when none is. */
  get nextEventNs(): number {
    return this.queue.peekTime();
  }

  /**
   * Processes events until the queue is empty or the next event is after `untilNs`.
   * Returns the number of events processed. `maxEvents` guards against livelock (a
   * forwarding loop, say): when reached, the run stops and the caller sees events pending.
   */
  run(untilNs = Infinity, maxEvents = 10_000_000): number {
    let n = 0;
    while (n < maxEvents) {
      const t = this.queue.peekTime();
      if (t > untilNs || t === Infinity) break;
      const ev = this.queue.pop()!;
      this.clock.advanceTo(t);
      n++;
      if (ev instanceof PacketBuffer) {
        const dev = ev.deliverTo!;
        const step = ev.deliverStep;
        ev.deliverTo = null;
        ev.deliverStep = 0;
        if (step === 0) dev.receive(ev);
        else dev.resume(ev, step);
      } else {
        ev.fire();
      }
    }
    if (untilNs !== Infinity && this.queue.peekTime() > untilNs) this.clock.advanceTo(untilNs);
    this.eventsProcessed += n;
    return n;
  }

  /**
   * Records a trace event when tracing is on (and returns it; null when off). `atIpv4`: the
   * packet's head is at its IPv4 header, else at an Ethernet frame. Callers test `sim.tracer`
   * first on hot paths.
   */
  trace(netns: string, device: string, action: TraceAction, detail: string, pkt?: PacketBuffer, atIpv4 = false, fields?: TraceFields): TraceEvent | null {
    if (this.tracer === null) return null;
    return this.tracer.add(this.clock.now(), netns, device, action, detail, pkt ?? null, pkt !== undefined && atIpv4 ? pkt.head : -1, fields ?? null);
  }

  /** Like trace, for a packet whose IPv4 header is at `ipOff` (a bridged frame's is after its Ethernet header). */
  traceIp(netns: string, device: string, action: TraceAction, detail: string, pkt: PacketBuffer, ipOff: number, fields?: TraceFields): TraceEvent | null {
    if (this.tracer === null) return null;
    return this.tracer.add(this.clock.now(), netns, device, action, detail, pkt, ipOff, fields ?? null);
  }
}
