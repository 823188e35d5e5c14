/**
 * Link impairments on a veth: loss and delayed duplicates, seeded, seen by a capture when
 * the frame (or its copy) actually leaves.
 */
import test from "ava";
import { type CaptureTap, LinkImpairment, type NetDevice, type PacketBuffer, Simulator, createVethPair } from "../../src/netdev/index.js";

function pair(settings: ConstructorParameters<typeof LinkImpairment>[0]) {
  const sim = new Simulator(3);
  const [a, b] = createVethPair(sim, { name: "a", mac: 0x020000000001 }, { name: "b", mac: 0x020000000002 });
  a.impairment = new LinkImpairment(settings);
  const arrived: { at: number; tag: number }[] = [];
  b.rxHandler = {
    handleFrame: (_dev: NetDevice, pkt: PacketBuffer) => {
      arrived.push({ at: sim.now(), tag: pkt.buf[pkt.head + 14]! });
      sim.pool.release(pkt);
    },
    rxDelayNs: 0,
  };
  const sentTaps: number[] = [];
  const tap: CaptureTap = { capture: (_d, dir) => dir === "tx" && sentTaps.push(sim.now()) };
  a.taps.push(tap);
  const send = (tag: number) => {
    const pkt = sim.pool.acquire();
    pkt.buf.fill(0, pkt.head, pkt.head + 60);
    pkt.buf[pkt.head + 14] = tag;
    pkt.tail = pkt.head + 60;
    a.transmit(pkt);
  };
  return { sim, a, b, arrived, sentTaps, send };
}

test("a duplicated frame arrives twice, the copy duplicateDelayNs later, after the frames sent in between", (t) => {
  const { sim, a, arrived, sentTaps, send } = pair({ duplicate: 1, duplicateDelayNs: 5_000_000, match: (buf, off) => buf[off + 14] === 1 });
  send(1);
  sim.run(1_000_000);
  send(2);
  sim.run();
  t.deepEqual(arrived.map((x) => x.tag), [1, 2, 1]);
  t.is(arrived[2]!.at - arrived[0]!.at, 5_000_000);
  t.is(a.impairment!.duplicated, 1);
  t.is(sentTaps.length, 3, "the capture sees the copy when it leaves");
});

test("loss drops frames before they are captured; the draws are seeded", (t) => {
  const run = () => {
    const p = pair({ loss: 0.5, seed: 42 });
    for (let i = 0; i < 200; i++) p.send(i & 255);
    p.sim.run();
    return { got: p.arrived.map((x) => x.tag), lost: p.a.impairment!.lost, drops: p.a.stats.drops.get("impairment-loss"), taps: p.sentTaps.length };
  };
  const r1 = run();
  const r2 = run();
  t.deepEqual(r1, r2);
  t.true(r1.lost > 60 && r1.lost < 140);
  t.is(r1.got.length + r1.lost, 200);
  t.is(r1.drops, r1.lost);
  t.is(r1.taps, r1.got.length);
});
