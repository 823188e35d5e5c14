/**
 * The loopback device `lo`: frames it transmits come straight back in on it. A capture sees
 * each frame once, as it comes back in: libpcap drops the outgoing copy on `lo` (pcap-linux.c,
 * "we'll see the packet as an incoming packet as well"), so `tcpdump -i lo` lists every
 * packet once, and a second copy would look like a retransmission to Wireshark.
 */
import { NetDevice } from "./device.js";
import type { PacketBuffer } from "./packet-buffer.js";
import type { Simulator } from "./simulator.js";
import { LOOPBACK_CROSSING_NS } from "./timing.js";

export const LOOPBACK_MTU = 65536;
export const LOOPBACK_LATENCY_NS = LOOPBACK_CROSSING_NS;

export class Loopback extends NetDevice {
  readonly kind = "loopback" as const;
  constructor(sim: Simulator) {
    // Linux gives lo an all-zero MAC; frames on it carry zero addresses (as tcpdump -i lo shows).
    super(sim, "lo", 0, LOOPBACK_MTU);
  }

  transmit(pkt: PacketBuffer): void {
    // Counted as sent (ip -s link shows lo's tx), but not shown to the taps: see above.
    this.stats.txPackets++;
    this.stats.txBytes += pkt.tail - pkt.head;
    this.sim.deliverLater(this, pkt, LOOPBACK_LATENCY_NS);
  }
}
