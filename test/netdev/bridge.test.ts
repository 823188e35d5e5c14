import test from "ava";
import { Bridge, type CaptureTap, type NetDevice, type PacketBuffer, Simulator, createVethPair, macAt } from "../../src/netdev/index.js";
import { prependEthernet } from "../../src/wire/index.js";

/** A bridge with `n` veth ports; each port's far end records the frames it receives. */
function setup(n: number) {
  const sim = new Simulator(1);
  const br = new Bridge(sim, "br0", 0x02000000ff00);
  const received: number[][] = [];
  const ends: NetDevice[] = [];
  for (let i = 0; i < n; i++) {
    const [port, end] = createVethPair(sim, { name: `p${i}`, mac: 0x020000000100 + i }, { name: `h${i}`, mac: 0x020000000200 + i });
    br.addPort(port);
    const got: number[] = [];
    received.push(got);
    end.rxHandler = {
      handleFrame(_dev, pkt) {
        got.push(macAt(pkt.buf, pkt.head + 6));
        sim.pool.release(pkt);
      },
    };
    ends.push(end);
  }
  const send = (from: number, dstMac: number) => {
    const pkt = sim.pool.acquire();
    pkt.tail = pkt.head + 46; // some payload
    prependEthernet(pkt, dstMac, ends[from]!.mac, 0x88b5);
    ends[from]!.transmit(pkt);
    sim.run();
  };
  return { sim, br, ends, received, send };
}

test("unknown unicast is flooded to every other port, then the reply is forwarded by the learned entry", (t) => {
  const { br, ends, received, send } = setup(3);
  send(0, ends[2]!.mac);
  t.deepEqual(received.map((r) => r.length), [0, 1, 1], "flooded to ports 1 and 2, not back to 0");
  t.is(br.lookup(ends[0]!.mac)?.name, "p0", "source MAC learned on its port");
  send(2, ends[0]!.mac);
  t.deepEqual(received.map((r) => r.length), [1, 1, 1], "known unicast goes to port 0 only");
  send(0, ends[2]!.mac);
  t.deepEqual(received.map((r) => r.length), [1, 1, 2], "port 2 was learned from its reply");
});

test("broadcast reaches every other port and the bridge's own stack", (t) => {
  const { br, received, send } = setup(3);
  let up = 0;
  br.rxHandler = {
    handleFrame(_d, pkt) {
      up++;
      br.sim.pool.release(pkt);
    },
  };
  send(1, 0xffffffffffff);
  t.deepEqual(received.map((r) => r.length), [1, 0, 1]);
  t.is(up, 1);
});

test("a frame for a MAC learned on the ingress port is dropped unless hairpin is on", (t) => {
  const { br, ends, received, send } = setup(2);
  // h1 sends to its own MAC (as a hairpinned Service connection looks after DNAT); the
  // source is learned on p1 before the lookup, so the destination is "on the ingress port".
  send(1, ends[1]!.mac);
  send(1, ends[1]!.mac);
  t.is(br.stats.drops.get("same-port-no-hairpin"), 2);
  t.deepEqual(received.map((r) => r.length), [0, 0]);
  br.ports[1]!.hairpin = true;
  send(1, ends[1]!.mac);
  t.deepEqual(received.map((r) => r.length), [0, 1], "hairpin mode reflects the frame back out of its port");
});

test("FDB entries age out after ageing_time and the bridge floods again", (t) => {
  const { sim, br, ends, received, send } = setup(3);
  send(0, 0xffffffffffff);
  t.truthy(br.lookup(ends[0]!.mac));
  sim.clock.advanceBy(br.ageingNs + 1);
  t.is(br.lookup(ends[0]!.mac), null);
  const before = received.map((r) => r.length);
  send(2, ends[0]!.mac);
  t.deepEqual(received.map((r, i) => r.length - before[i]!), [1, 1, 0], "unknown again: flooded");
});

test("capture taps on the bridge see frames entering from ports (promiscuous, like tcpdump -i cni0)", (t) => {
  const { br, ends, send } = setup(2);
  const seen: string[] = [];
  const tap: CaptureTap = { capture: (dev: NetDevice, dir, _pkt: PacketBuffer) => seen.push(`${dev.name}:${dir}`) };
  br.taps.push(tap);
  send(0, ends[1]!.mac);
  t.deepEqual(seen, ["br0:rx"]);
});

test("a removed port is forgotten: its FDB entries go (br_fdb_delete_by_port), frames for its MAC are flooded to the rest", (t) => {
  const { br, ends, received, send } = setup(3);
  send(0, ends[2]!.mac);
  send(2, ends[0]!.mac);
  t.is(br.lookup(ends[0]!.mac)?.name, "p0");
  const p0 = br.ports[0]!;
  br.removePort(p0);
  t.false(br.ports.includes(p0));
  t.is(br.lookup(ends[0]!.mac), null);
  t.is(p0.rxHandler, null);
  const before = received.map((r) => r.length);
  send(2, ends[0]!.mac);
  t.deepEqual(received.map((r, i) => r.length - before[i]!), [0, 1, 0], "unknown unicast again: flooded to p1 only");
});
