/** The network device: what every veth, bridge, VXLAN and loopback device has in common. */
import type { PacketBuffer } from "./packet-buffer.js";
import type { Simulator } from "./simulator.js";
import type { SoftirqCpus } from "./softirq.js";
import { STACK_RX_NS, STEP_HANDLER } from "./timing.js";

/** Receives frames arriving on a device: a network namespace, or a bridge for its ports. */
export interface RxHandler {
  handleFrame(dev: NetDevice, pkt: PacketBuffer): void;
  /**
   * Virtual time between a frame arriving on the device and this handler acting on it.
   * Absent: STACK_RX_NS, the IPv4 stack's receive path. A bridge takes frames at once
   * (it schedules its own forwarding step).
   */
  readonly rxDelayNs?: number;
  /**
   * With softirq CPUs (softirq.ts): how long the pass of a frame arriving on `dev` holds a
   * CPU. Absent: STACK_RX_NS.
   */
  softirqPassNs?(dev: NetDevice, pkt: PacketBuffer): number;
}

export type CaptureDirection = "rx" | "tx";

/** A capture tap sees every frame a device sends or receives, at the virtual time it happens. */
export interface CaptureTap {
  capture(dev: NetDevice, direction: CaptureDirection, pkt: PacketBuffer, note?: string): void;
}

export class DeviceStats {
  rxPackets = 0;
  rxBytes = 0;
  txPackets = 0;
  txBytes = 0;
  /** Frames dropped on the way in and on the way out (the kernel's rx_dropped and tx_dropped). */
  rxDropped = 0;
  txDropped = 0;
  /** Frames this device dropped, by reason (e.g. `carrier-down`, `no-fdb-entry`). */
  readonly drops = new Map<string, number>();

  countDrop(reason: string, direction: CaptureDirection = "rx"): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
    if (direction === "rx") this.rxDropped++;
    else this.txDropped++;
  }
}

export type DeviceKind = "veth" | "bridge" | "vxlan" | "loopback" | "dummy";

export abstract class NetDevice {
  abstract readonly kind: DeviceKind;
  readonly stats = new DeviceStats();
  /** Who receives frames that arrive on this device (a netns, or the bridge this is a port of). */
  rxHandler: RxHandler | null = null;
  /** The name of the netns (or switch) the device lives in, for traces and captures. */
  owner = "";
  up = true;
  /** Capture taps; empty in the fast path. */
  taps: CaptureTap[] = [];
  /** Hairpin mode when this device is a bridge port (`bridge link set … hairpin on`). */
  hairpin = false;
  /** The IPv4 configuration the owning namespace keeps for this device (the kernel's dev->ip_ptr). */
  ipConfig: object | null = null;
  /** The owning namespace's softirq CPUs when it models them (softirq.ts); null: every pass at once. */
  softirq: SoftirqCpus | null = null;

  constructor(
    readonly sim: Simulator,
    public name: string,
    /** 48-bit MAC address. */
    public mac: number,
    public mtu: number,
  ) {}

  /** `owner/name`, as capture interface names and traces show it. */
  get qualifiedName(): string {
    return this.owner ? `${this.owner}/${this.name}` : this.name;
  }

  /** Sends a complete Ethernet frame out of this device. Takes ownership of `pkt`. */
  abstract transmit(pkt: PacketBuffer): void;

  /** A frame has arrived on this device: count it, tap it and hand it to the rx handler. */
  receive(pkt: PacketBuffer): void {
    if (!this.up) {
      this.drop(pkt, "device-down");
      return;
    }
    this.stats.rxPackets++;
    this.stats.rxBytes += pkt.tail - pkt.head;
    if (this.taps.length !== 0) this.tap("rx", pkt);
    pkt.ingress = this;
    this.handUp(pkt);
  }

  /**
   * Gives a received frame to the rx handler after its delay (the stack's receive path takes
   * STACK_RX_NS: see timing.ts). `pkt.ingress` must be set.
   */
  handUp(pkt: PacketBuffer): void {
    const h = this.rxHandler;
    if (h === null) {
      this.drop(pkt, "no-handler");
      return;
    }
    let delay = h.rxDelayNs ?? STACK_RX_NS;
    const cpus = this.softirq;
    if (cpus !== null) {
      if (pkt.softirq === cpus) {
        delay = 0; // the same pass goes on (a bridge handing a frame up to its stack)
      } else {
        // A new pass: it starts when a CPU is free; the handler runs at its start and the
        // stack lets the packet leave at pkt.passEnd.
        const now = this.sim.now();
        const duration = h.softirqPassNs?.(this, pkt) ?? STACK_RX_NS;
        const start = cpus.reserve(now, duration);
        pkt.softirq = cpus;
        pkt.passEnd = start + duration;
        delay = start - now;
      }
    }
    if (delay > 0) this.sim.resumeLater(this, pkt, delay, STEP_HANDLER);
    else h.handleFrame(this, pkt);
  }

  /** A processing step scheduled with `sim.resumeLater` is due. Subclasses add their own steps. */
  resume(pkt: PacketBuffer, step: number): void {
    if (step !== STEP_HANDLER) throw new Error(`${this.qualifiedName}: unknown step ${step}`);
    const h = this.rxHandler;
    if (h === null) {
      this.drop(pkt, "no-handler");
      return;
    }
    h.handleFrame(this, pkt);
  }

  /** Counts a transmitted frame and shows it to the taps. */
  protected countTx(pkt: PacketBuffer): void {
    this.stats.txPackets++;
    this.stats.txBytes += pkt.tail - pkt.head;
    if (this.taps.length !== 0) this.tap("tx", pkt);
  }

  tap(direction: CaptureDirection, pkt: PacketBuffer, note?: string): void {
    for (const t of this.taps) t.capture(this, direction, pkt, note);
  }

  /** Drops a frame: counts the reason (and the direction it was going), traces it and returns the buffer to the pool. */
  drop(pkt: PacketBuffer, reason: string, direction: CaptureDirection = "rx"): void {
    this.stats.countDrop(reason, direction);
    if (this.sim.tracer) this.sim.trace(this.owner, this.name, "drop", reason, pkt, false, { drop: { reason } });
    this.sim.pool.release(pkt);
  }
}
