import test from "ava";
import { formatMac, ipv4 } from "../../src/base/index.js";
import type { IcmpErrorReport } from "../../src/netns/index.js";
import { routedPair } from "./helpers.js";

function collectErrors(ns: { icmpErrorListeners: ((n: unknown, r: IcmpErrorReport) => void)[] }): IcmpErrorReport[] {
  const out: IcmpErrorReport[] = [];
  ns.icmpErrorListeners.push((_n, r) => out.push(r));
  return out;
}

test("ARP: the first packet to a neighbour triggers a real request/reply, then the queued packet goes out", (t) => {
  const { sim, a, r, b, rec } = routedPair();
  b.bindUdp(9000, { onDatagram: (_ns, pkt) => sim.pool.release(pkt) });
  t.true(a.sendUdp(40000, ipv4("10.0.2.2"), 9000, new TextEncoder().encode("hi")));
  sim.run();
  const aLines = rec.lines.filter((l) => l.startsWith("a/eth0"));
  t.deepEqual(aLines.slice(0, 3), [
    "a/eth0 tx ARP, Request who-has 10.0.1.1 tell 10.0.1.2, length 28",
    "a/eth0 rx ARP, Reply 10.0.1.1 is-at 02:00:00:00:0a:01, length 28",
    "a/eth0 tx 10.0.1.2.40000 > 10.0.2.2.9000: UDP, length 2",
  ]);
  const neigh = [...a.interfaces.values()].find((i) => i.dev.name === "eth0")!.neigh.get(ipv4("10.0.1.1"))!;
  t.is(neigh.state, "REACHABLE");
  t.is(formatMac(neigh.mac), "02:00:00:00:0a:01");
  // The router answered a request for itself and learned the asker on the way (neigh_event_ns).
  const learned = r.interfaces.get(r.device("eth1")!)!.neigh.get(ipv4("10.0.1.2"));
  t.is(learned?.state, "STALE");
  t.is(b.stats.delivered, 1);
});

test("ARP failure: three requests a second apart, then ICMP host unreachable to the sender", (t) => {
  const { sim, a, r, rec } = routedPair();
  const errors = collectErrors(a as never);
  a.sendUdp(40000, ipv4("10.0.2.99"), 9000, null);
  sim.run();
  const requests = rec.lines.filter((l) => l.startsWith("r/eth2 tx ARP, Request who-has 10.0.2.99"));
  t.is(requests.length, 3);
  t.is(r.stats.drops.get("neigh-failed"), 1);
  t.is(errors.length, 1);
  t.is(errors[0]!.type, 3);
  t.is(errors[0]!.code, 1);
  t.is(sim.now() >= 3_000_000_000, true, "the entry failed after 3 s of retries");
});

test("forwarding decrements TTL; TTL 1 gets ICMP time exceeded from the router", (t) => {
  const { sim, a, b, rec } = routedPair();
  let ttlAtB = -1;
  b.bindUdp(9000, {
    onDatagram: (_ns, pkt) => {
      ttlAtB = pkt.buf[pkt.head + 8]!;
      sim.pool.release(pkt);
    },
  });
  a.sendUdp(40000, ipv4("10.0.2.2"), 9000, null);
  sim.run();
  t.is(ttlAtB, 63);
  t.is(b.stats.delivered, 1);

  // Send one with TTL 1 by patching the packet on its way out of a.
  const errors = collectErrors(a as never);
  const aEth = a.device("eth0")!;
  const original = aEth.transmit.bind(aEth);
  aEth.transmit = (pkt) => {
    const h = pkt.head + 14;
    if (pkt.buf[h + 9] === 17) {
      pkt.buf[h + 8] = 1;
      pkt.buf[h + 10] = 0;
      pkt.buf[h + 11] = 0;
      let s = 0;
      for (let i = 0; i < 20; i += 2) s += (pkt.buf[h + i]! << 8) | pkt.buf[h + i + 1]!;
      while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
      const c = ~s & 0xffff;
      pkt.buf[h + 10] = c >>> 8;
      pkt.buf[h + 11] = c & 255;
    }
    original(pkt);
  };
  a.sendUdp(40001, ipv4("10.0.2.2"), 9000, null);
  sim.run();
  t.is(errors.length, 1);
  t.is(errors[0]!.type, 11);
  t.is(errors[0]!.from, ipv4("10.0.1.1"), "source: the router's address on the way back");
  t.is(errors[0]!.origDstPort, 9000, "the quoted datagram identifies the flow");
  t.true(rec.lines.some((l) => l.includes("ICMP time exceeded in-transit")));
});

test("no route: the router answers ICMP network unreachable", (t) => {
  const { sim, a, r } = routedPair();
  const errors = collectErrors(a as never);
  a.sendUdp(40000, ipv4("192.0.2.1"), 9000, null);
  sim.run();
  t.is(r.stats.drops.get("no-route"), 1);
  t.is(errors[0]?.type, 3);
  t.is(errors[0]?.code, 0);
});

test("UDP to a closed port: ICMP port unreachable from the destination host", (t) => {
  const { sim, a, b } = routedPair();
  const errors = collectErrors(a as never);
  a.sendUdp(40000, ipv4("10.0.2.2"), 9999, null);
  sim.run();
  t.is(b.stats.drops.get("udp-no-socket"), 1);
  t.is(errors[0]?.code, 3);
  t.is(errors[0]?.from, ipv4("10.0.2.2"));
});

test("DF set and too big for the next hop: ICMP fragmentation needed with the next-hop MTU", (t) => {
  const { sim, a, r, b } = routedPair({ mtuToB: 1450 });
  const errors = collectErrors(a as never);
  b.bindUdp(9000, { onDatagram: (_ns, pkt) => sim.pool.release(pkt) });
  a.sendUdp(40000, ipv4("10.0.2.2"), 9000, new Uint8Array(1472)); // 1500-byte datagram
  sim.run();
  t.is(r.stats.drops.get("frag-needed"), 1);
  t.is(errors[0]?.type, 3);
  t.is(errors[0]?.code, 4);
  t.is(errors[0]?.mtu, 1450);
  a.sendUdp(40000, ipv4("10.0.2.2"), 9000, new Uint8Array(1422)); // exactly 1450
  sim.run();
  t.is(b.stats.delivered, 1);
});

test("ping: echo request answered by the kernel, reply delivered to the ping socket", (t) => {
  const { sim, a } = routedPair();
  let seqSeen = -1;
  a.bindPing(77, { onEchoReply: (_ns, _pkt, seq) => (seqSeen = seq) });
  a.sendPing(ipv4("10.0.2.2"), 77, 5);
  sim.run();
  t.is(seqSeen, 5);
});

test("TCP: handshake, data both ways, FIN both ways; RST for a closed port", (t) => {
  const { sim, a, b } = routedPair();
  const got: string[] = [];
  b.tcp.listen(80, () => ({
    onData: (c, d) => {
      got.push(`server:${new TextDecoder().decode(d)}`);
      c.send(new TextEncoder().encode("pong"));
    },
    onPeerClosed: (c) => c.close(),
  }));
  const conn = a.tcp.connect(ipv4("10.0.2.2"), 80, {
    onConnected: (c) => c.send(new TextEncoder().encode("ping")),
    onData: (c, d) => {
      got.push(`client:${new TextDecoder().decode(d)}`);
      c.close();
    },
  });
  sim.run();
  t.deepEqual(got, ["server:ping", "client:pong"]);
  t.is(conn.state, "CLOSED");
  t.is(b.tcp.connections().length, 0);
  let reset = false;
  a.tcp.connect(ipv4("10.0.2.2"), 81, { onReset: () => (reset = true) });
  sim.run();
  t.true(reset);
  t.is(b.stats.drops.get("tcp-no-socket"), 1);
});

test("forwarding disabled: a host that is not a router refuses with host unreachable", (t) => {
  const { sim, a, r } = routedPair();
  r.ipForward = false;
  const errors = collectErrors(a as never);
  a.sendUdp(40000, ipv4("10.0.2.2"), 9000, null);
  sim.run();
  t.is(r.stats.drops.get("forwarding-disabled"), 1);
  t.is(errors[0]?.code, 1);
});

test("deleting a device takes its addresses and routes with it: the router answers network unreachable for that side", (t) => {
  const { sim, a, r, b, rEth2, rec } = routedPair();
  const errors: IcmpErrorReport[] = [];
  a.icmpErrorListeners.push((_ns, e) => errors.push(e));
  r.removeDevice(rEth2);
  t.false(r.interfaces.has(rEth2));
  t.false(r.isLocalAddress(ipv4("10.0.2.1")));
  t.false(r.routeLines().some((l) => l.includes("eth2")));
  t.false(rEth2.up);
  a.sendUdp(40000, ipv4("10.0.2.2"), 7, new Uint8Array(8));
  sim.run();
  t.is(errors.length, 1);
  t.is(errors[0]!.code, 0, "ICMP network unreachable");
  t.false(rec.lines.some((l) => l.startsWith("b/")), "nothing reaches b");
  void b;
});
