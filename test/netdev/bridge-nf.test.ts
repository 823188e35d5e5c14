/**
 * The bridge's side of br_netfilter: bridgePreRouting's answers (drop, go on by the —
 * possibly rewritten — destination MAC, or the neighbour output for a bridged DNAT whose
 * next hop is not at hand), the capture point after PREROUTING, and the frame that comes
 * back through the bridge's own xmit with its source MAC restored. The hook here is a
 * stand-in; test/kernel/bridge-dnat.test.ts runs the real glue against a real kernel.
 */
import test from "ava";
import { BR_NF_CONTINUE, BR_NF_DROP, BR_NF_NEIGH, Bridge, type BridgeNetfilterHooks, type NetDevice, type PacketBuffer, Simulator, createVethPair, macAt, writeMacAt } from "../../src/netdev/index.js";
import { prependEthernet } from "../../src/wire/index.js";

function setup(answer: (pkt: PacketBuffer) => number) {
  const sim = new Simulator(1);
  const br = new Bridge(sim, "br0", 0x02000000ff00);
  br.nfCallIptables = true;
  const got: { port: number; dst: number; src: number }[] = [];
  const ends: NetDevice[] = [];
  for (let i = 0; i < 2; i++) {
    const [port, end] = createVethPair(sim, { name: `p${i}`, mac: 0x020000000100 + i }, { name: `h${i}`, mac: 0x020000000200 + i });
    br.addPort(port);
    end.rxHandler = {
      handleFrame(_dev, pkt) {
        got.push({ port: i, dst: macAt(pkt.buf, pkt.head), src: macAt(pkt.buf, pkt.head + 6) });
        sim.pool.release(pkt);
      },
    };
    ends.push(end);
  }
  const neighOut: PacketBuffer[] = [];
  const hooks: BridgeNetfilterHooks = {
    bridgePreRouting: (_b, _in, pkt) => answer(pkt),
    bridgeForward: () => true,
    bridgeNeighOutput: (_b, pkt) => neighOut.push(pkt),
  };
  br.nfHooks = hooks;
  const taps: string[] = [];
  br.taps.push({ capture: (_d, dir, pkt) => taps.push(`${dir} dst=${macAt(pkt.buf, pkt.head).toString(16)} src=${macAt(pkt.buf, pkt.head + 6).toString(16)}`) });
  const send = (from: number, dstMac: number) => {
    const pkt = sim.pool.acquire();
    pkt.tail = pkt.head + 40;
    pkt.buf.fill(0, pkt.head, pkt.tail);
    pkt.buf[pkt.head] = 0x45; // an IPv4 header, enough for the bridge to call the hook
    prependEthernet(pkt, dstMac, ends[from]!.mac, 0x0800);
    ends[from]!.transmit(pkt);
    sim.run();
  };
  return { sim, br, ends, got, neighOut, taps, send };
}

test("BR_NF_DROP drops the frame before the capture point; BR_NF_CONTINUE bridges by the MAC the hook wrote", (t) => {
  const drop = setup(() => BR_NF_DROP);
  drop.send(0, 0x020000000201);
  t.deepEqual(drop.got, []);
  t.deepEqual(drop.taps, [], "dropped in PREROUTING: a capture on the bridge never sees it");
  t.is(drop.br.stats.drops.get("netfilter-prerouting"), 1);
  // Learn h1's MAC first, then "DNAT" h0's frame (sent to the bridge's own MAC) to h1.
  const dnat = setup((pkt) => {
    if (macAt(pkt.buf, pkt.head) === 0x02000000ff00) writeMacAt(pkt.buf, pkt.head, 0x020000000201);
    return BR_NF_CONTINUE;
  });
  dnat.send(1, 0xffffffffffff);
  dnat.got.length = 0;
  dnat.taps.length = 0;
  dnat.send(0, 0x02000000ff00);
  t.deepEqual(dnat.got, [{ port: 1, dst: 0x020000000201, src: 0x020000000200 }], "bridged to h1, not up to the bridge's stack");
  t.deepEqual(dnat.taps, ["rx dst=20000000201 src=20000000200"], "captured as it is after PREROUTING");
});

test("BR_NF_NEIGH: the frame waits for the neighbour output, then the bridge's xmit restores its source MAC and bridges it from its ingress port", (t) => {
  const s = setup((pkt) => {
    pkt.brNfSrcMac = macAt(pkt.buf, pkt.head + 6);
    pkt.brNfBridgedDnat = true;
    return BR_NF_NEIGH;
  });
  s.send(0, 0x02000000ff00);
  t.is(s.neighOut.length, 1, "handed to the neighbour output at the forwarding step");
  t.deepEqual(s.taps, [], "not captured on the way in");
  // The neighbour layer resolved h1: Ethernet from the bridge's own MAC, out through the bridge.
  const pkt = s.neighOut[0]!;
  pkt.head += 14;
  prependEthernet(pkt, 0x020000000201, s.br.mac, 0x0800);
  s.br.transmit(pkt);
  s.sim.run();
  t.deepEqual(s.got, [{ port: 1, dst: 0x020000000201, src: 0x020000000200 }], "h0's own source MAC again");
  t.deepEqual(s.taps, ["tx dst=20000000201 src=20000000200"]);
  t.false(pkt.brNfBridgedDnat);
});

test("a bridged DNAT back to the ingress port is refused without hairpin mode and reflected with it", (t) => {
  for (const hairpin of [false, true]) {
    const s = setup((pkt) => {
      writeMacAt(pkt.buf, pkt.head, 0x020000000200); // DNATed to the sender itself
      return BR_NF_CONTINUE;
    });
    s.br.ports[0]!.hairpin = hairpin;
    s.send(0, 0x02000000ff00);
    t.deepEqual(s.got.map((g) => g.port), hairpin ? [0] : [], `hairpin ${hairpin}`);
    t.is(s.br.stats.drops.get("same-port-no-hairpin") ?? 0, hairpin ? 0 : 1);
  }
});
