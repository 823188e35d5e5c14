/** A veth pair: what one end transmits, the other end receives (after a small latency). */
import { NetDevice } from "./device.js";
import type { LinkImpairment } from "./impair.js";
import type { PacketBuffer } from "./packet-buffer.js";
import type { Simulator } from "./simulator.js";
import { VETH_CROSSING_NS } from "./timing.js";

/** Latency of a veth crossing; small and fixed so captures show the order of hops. */
export const VETH_LATENCY_NS = VETH_CROSSING_NS;

export class Veth extends NetDevice {
  readonly kind = "veth" as const;
  peer!: Veth;
  latencyNs = VETH_LATENCY_NS;
  /** Loss and duplication on the way out (impair.ts); null for a perfect link. */
  impairment: LinkImpairment | null = null;

  transmit(pkt: PacketBuffer): void {
    if (this.impairment !== null && !this.impairment.apply(this, pkt, (copy) => this.send(copy))) return;
    this.send(pkt);
  }

  private send(pkt: PacketBuffer): void {
    this.countTx(pkt);
    const peer = this.peer;
    if (!this.up || !peer.up) {
      this.drop(pkt, "carrier-down", "tx");
      return;
    }
    // veth_xmit → __dev_forward_skb → skb_scrub_packet: the peer's namespace sees a packet
    // with no conntrack entry (nf_reset_ct), and across namespaces no mark or IPVS state.
    // Keeping them let one node's conntrack entry ride into another node's stack.
    pkt.scrub();
    if (this.owner !== peer.owner) pkt.mark = 0;
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
