/** The loopback device `lo`: frames it transmits come straight back in on it. */
import { NetDevice } from "./device.js";
import type { PacketBuffer } from "./packet-buffer.js";
import type { Simulator } from "./simulator.js";

export const LOOPBACK_MTU = 65536;
export const LOOPBACK_LATENCY_NS = 500;

export class Loopback extends NetDevice {
  readonly kind = "loopback" as const;
  constructor(sim: Simulator) {
    // Linux gives lo an all-zero MAC; frames on it carry zero addresses (as tcpdump -i lo shows).
    super(sim, "lo", 0, LOOPBACK_MTU);
  }

  transmit(pkt: PacketBuffer): void {
    this.countTx(pkt);
    this.sim.deliverLater(this, pkt, LOOPBACK_LATENCY_NS);
  }
}
