/**
 * flannel.1's tx checksum offload (`ethtool -K flannel.1 tx-checksum-ip-generic`): on, a
 * CHECKSUM_PARTIAL inner packet stays CHECKSUM_PARTIAL through encapsulation; off, the
 * checksum is done in software first. The outer UDP checksum is 0 either way.
 */
import test from "ava";
import { type PacketBuffer, Simulator, VxlanDevice } from "../../src/netdev/index.js";

function encapsulate(offload: boolean): { partial: boolean; outerCsum: number } {
  const sim = new Simulator(1);
  const dev = new VxlanDevice(sim, "flannel.1", 0x020000000001, 1450, 1, 0xc0a8380b);
  dev.txChecksumOffload = offload;
  dev.fdb.set(0x020000000002, 0xc0a8380c);
  let out: { partial: boolean; outerCsum: number } | null = null;
  dev.underlay = {
    sendIpv4(pkt: PacketBuffer) {
      const l4 = pkt.head + 20;
      out = { partial: pkt.csumPartial, outerCsum: (pkt.buf[l4 + 6]! << 8) | pkt.buf[l4 + 7]! };
      sim.pool.release(pkt);
    },
  };
  const pkt = sim.pool.acquire();
  const inner = new Uint8Array(14 + 20 + 20);
  inner.set([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00], 0);
  inner[14] = 0x45;
  pkt.setBytes(inner);
  pkt.csumPartial = true;
  dev.transmit(pkt);
  sim.run();
  return out!;
}

test("offload on: the VXLAN packet is still CHECKSUM_PARTIAL, its outer UDP checksum 0", (t) => {
  t.deepEqual(encapsulate(true), { partial: true, outerCsum: 0 });
});

test("tx-checksum-ip-generic off: checksummed in software, no longer CHECKSUM_PARTIAL", (t) => {
  t.deepEqual(encapsulate(false), { partial: false, outerCsum: 0 });
});
