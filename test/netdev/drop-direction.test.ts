/**
 * A device counts each frame it drops in the direction the frame was going (the kernel's
 * rx_dropped / tx_dropped, node_exporter's receive_drop / transmit_drop) beside the reason.
 */
import test from "ava";
import { LinkImpairment, type NetDevice, type PacketBuffer, Simulator, VxlanDevice, createVethPair } from "../../src/netdev/index.js";

function frame(sim: Simulator): PacketBuffer {
  const pkt = sim.pool.acquire();
  pkt.buf.fill(0, pkt.head, pkt.head + 60);
  pkt.tail = pkt.head + 60;
  return pkt;
}

test("a veth whose peer is down drops on the way out; a device that is down drops on the way in", (t) => {
  const sim = new Simulator(1);
  const [a, b] = createVethPair(sim, { name: "a", mac: 0x020000000001 }, { name: "b", mac: 0x020000000002 });
  b.rxHandler = { handleFrame: (_d: NetDevice, p: PacketBuffer) => sim.pool.release(p), rxDelayNs: 0 };
  b.up = false;
  a.transmit(frame(sim));
  sim.run();
  t.is(a.stats.txDropped, 1);
  t.is(a.stats.rxDropped, 0);
  t.is(a.stats.drops.get("carrier-down"), 1);
  b.up = true;
  a.up = true;
  b.up = false;
  b.receive(frame(sim));
  t.is(b.stats.rxDropped, 1);
  t.is(b.stats.txDropped, 0);
  t.is(b.stats.drops.get("device-down"), 1);
});

test("VXLAN without an FDB entry and link loss count as transmit drops", (t) => {
  const sim = new Simulator(1);
  const vx = new VxlanDevice(sim, "flannel.1", 0x020000000003, 1450, 1, 0x0a000001);
  vx.transmit(frame(sim));
  t.is(vx.stats.txDropped, 1);
  t.is(vx.stats.drops.get("vxlan-no-fdb-entry"), 1);
  const [a, b] = createVethPair(sim, { name: "a", mac: 0x020000000001 }, { name: "b", mac: 0x020000000002 });
  b.rxHandler = { handleFrame: (_d: NetDevice, p: PacketBuffer) => sim.pool.release(p), rxDelayNs: 0 };
  a.impairment = new LinkImpairment({ loss: 1 });
  a.transmit(frame(sim));
  sim.run();
  t.is(a.stats.txDropped, 1);
  t.is(a.stats.drops.get("impairment-loss"), 1);
  t.is(b.stats.rxPackets, 0);
});
