/**
 * Packet and byte rates of devices over the last second of virtual time: each sample keeps
 * the devices' counters at a virtual instant, and a rate is the difference to the newest
 * sample at least a window older, over the time between them.
 */
import type { NetDevice } from "../netdev/index.js";

const WINDOW_NS = 1_000_000_000;
/** Samples kept beyond the window: enough for any tick rate down to 10 per second. */
const MAX_SAMPLES = 64;

interface Sample {
  atNs: number;
  /** rxPackets, txPackets, rxBytes, txBytes per device, in `devices` order. */
  counters: Float64Array;
}

export interface DeviceRate {
  rxPps: number;
  txPps: number;
  rxBps: number;
  txBps: number;
}

export class RateSampler {
  private readonly samples: Sample[] = [];

  constructor(private devices: readonly NetDevice[]) {}

  /** Devices added since (a Pod created at run time): rates start over. */
  setDevices(devices: readonly NetDevice[]): void {
    this.devices = devices;
    this.samples.length = 0;
  }

  sample(atNs: number): void {
    const last = this.samples[this.samples.length - 1];
    if (last !== undefined && last.atNs === atNs) this.samples.pop();
    const c = new Float64Array(this.devices.length * 4);
    this.devices.forEach((d, i) => {
      c[i * 4] = d.stats.rxPackets;
      c[i * 4 + 1] = d.stats.txPackets;
      c[i * 4 + 2] = d.stats.rxBytes;
      c[i * 4 + 3] = d.stats.txBytes;
    });
    this.samples.push({ atNs, counters: c });
    // Keep one sample older than the window as the base; drop what is older still.
    while (this.samples.length > 2 && this.samples[1]!.atNs <= atNs - WINDOW_NS) this.samples.shift();
    if (this.samples.length > MAX_SAMPLES) this.samples.shift();
  }

  /** Per device (by identity), the rates per virtual second; zero before two samples exist. */
  rates(): Map<NetDevice, DeviceRate> {
    const out = new Map<NetDevice, DeviceRate>();
    const newest = this.samples[this.samples.length - 1];
    const base = this.samples[0];
    const dt = newest !== undefined && base !== undefined ? (newest.atNs - base.atNs) / 1e9 : 0;
    this.devices.forEach((d, i) => {
      if (dt <= 0) {
        out.set(d, { rxPps: 0, txPps: 0, rxBps: 0, txBps: 0 });
        return;
      }
      const diff = (k: number) => (newest!.counters[i * 4 + k]! - base!.counters[i * 4 + k]!) / dt;
      out.set(d, { rxPps: diff(0), txPps: diff(1), rxBps: diff(2), txBps: diff(3) });
    });
    return out;
  }
}
