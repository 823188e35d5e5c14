/**
 * Every frame the scenario's devices see, numbered exactly as the pcapng capture numbers
 * them: the log taps the same devices in the same order as the CaptureSession, so frame N
 * here is frame N in Wireshark. Scenarios find their evidence in it (the SYN that was
 * dropped, the reply that came back from the wrong address).
 */
import type { CaptureDirection, CaptureTap, NetDevice, PacketBuffer } from "../netdev/index.js";

export interface LoggedFrame {
  /** 1-based, as Wireshark's frame.number. */
  number: number;
  device: NetDevice;
  /** `owner/name`, the capture's interface name. */
  where: string;
  direction: CaptureDirection;
  timeNs: number;
  /** The frame's bytes from the Ethernet header on. */
  bytes: Uint8Array;
}

export class FrameLog implements CaptureTap {
  readonly frames: LoggedFrame[] = [];
  private readonly devices: NetDevice[];

  constructor(devices: readonly NetDevice[]) {
    this.devices = [...devices];
    for (const dev of this.devices) dev.taps.push(this);
  }

  /** Logs devices created after the log started too (in the order the capture adds them). */
  addDevices(devices: readonly NetDevice[]): void {
    for (const dev of devices) {
      if (this.devices.includes(dev)) continue;
      this.devices.push(dev);
      dev.taps.push(this);
    }
  }

  capture(dev: NetDevice, direction: CaptureDirection, pkt: PacketBuffer): void {
    this.frames.push({
      number: this.frames.length + 1,
      device: dev,
      where: dev.qualifiedName,
      direction,
      timeNs: dev.sim.now(),
      bytes: pkt.buf.slice(pkt.head, pkt.tail),
    });
  }

  /** The first frame from `after` on (a frame number) that `match` accepts, or null. */
  find(match: (f: LoggedFrame) => boolean, after = 0): LoggedFrame | null {
    for (let i = after; i < this.frames.length; i++) if (match(this.frames[i]!)) return this.frames[i]!;
    return null;
  }

  filter(match: (f: LoggedFrame) => boolean): LoggedFrame[] {
    return this.frames.filter(match);
  }

  close(): void {
    for (const dev of this.devices) {
      const i = dev.taps.indexOf(this);
      if (i >= 0) dev.taps.splice(i, 1);
    }
  }
}
