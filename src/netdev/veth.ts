/** A veth pair: what one end transmits, the other end receives (after a small latency). */
import { NetDevice } from "./device.js";
import type { PacketBuffer } from "./packet-buffer.js";
import type { Simulator } from "./simulator.js";

/** Latency of a veth crossing; small and fixed so captures show the order of hops. */
export const VETH_LATENCY_NS = 1_000;

export class Veth extends NetDevice {
  readonly kind = "veth" as const;
  peer!: Veth;
  latencyNs = VETH_LATENCY_NS;

  transmit(pkt: PacketBuffer): void {
    this.countTx(pkt);
    const peer = this.peer;
    if (!this.up || !peer.up) {
      this.drop(pkt, "carrier-down");
      return;
    }
    this.sim.deliverLater(peer, pkt, this.latencyNs);
  }
}

/** Creates a connected pair (`ip link add A type veth peer name B`). */
export function createVethPair(
  sim: Simulator,
  a: { name: string; mac: number; mtu?: number },
  b: { name: string; mac: number; mtu?: number },
): [Veth, Veth] {
  const va = new Veth(sim, a.name, a.mac, a.mtu ?? 1500);
  const vb = new Veth(sim, b.name, b.mac, b.mtu ?? 1500);
  va.peer = vb;
  vb.peer = va;
  return [va, vb];
}
