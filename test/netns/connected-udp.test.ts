/**
 * Connected UDP sockets (connect() after bind, as glibc's resolver uses one per query): a
 * datagram from the peer is delivered, one from any other address or port finds no socket
 * and is answered with ICMP port unreachable (__udp4_lib_lookup's compute_score).
 */
import test from "ava";
import { ipv4 } from "../../src/base/index.js";
import { routedPair } from "./helpers.js";

test("a connected UDP socket takes datagrams from its peer only; others get ICMP port unreachable", (t) => {
  const { sim, a, b, rec } = routedPair();
  const got: number[] = [];
  a.connectUdp(40000, ipv4("10.0.2.2"), 53, {
    onDatagram: (_ns, pkt) => {
      got.push(pkt.buf[pkt.head + 15]!);
      sim.pool.release(pkt);
    },
  });
  b.sendUdp(53, ipv4("10.0.1.2"), 40000, new Uint8Array(4));
  sim.run();
  t.deepEqual(got, [2], "from the peer: delivered");
  b.sendUdp(5353, ipv4("10.0.1.2"), 40000, new Uint8Array(4));
  sim.run();
  t.deepEqual(got, [2], "another source port: not delivered");
  t.is(a.stats.drops.get("udp-no-socket"), 1);
  t.true(rec.lines.some((l) => /^a\/eth0 tx .*ICMP 10\.0\.1\.2 udp port 40000 unreachable/.test(l)), rec.lines.join("\n"));
  a.unbindUdp(40000);
  a.bindUdp(40000, { onDatagram: (_ns, pkt) => (got.push(0), sim.pool.release(pkt)) });
  b.sendUdp(5353, ipv4("10.0.1.2"), 40000, new Uint8Array(4));
  sim.run();
  t.deepEqual(got, [2, 0], "unbinding forgets the peer: an unconnected socket takes anything");
});
