/**
 * A dummy device (`ip link add kube-ipvs0 type dummy`): it holds addresses so they count as
 * local, and silently drops whatever is sent through it, as the kernel's dummy driver does.
 */
import { NetDevice } from "./device.js";
import type { PacketBuffer } from "./packet-buffer.js";
import type { Simulator } from "./simulator.js";

export class Dummy extends NetDevice {
  readonly kind = "dummy" as const;

  constructor(sim: Simulator, name: string, mac: number) {
    super(sim, name, mac, 1500);
  }

  transmit(pkt: PacketBuffer): void {
    this.countTx(pkt);
    this.sim.pool.release(pkt);
  }
}
