/**
 * The standalone JS limit (src/bench/limit.ts) does the work it claims: its DNAT rewrite
 * leaves checksums a full recomputation accepts (UDP and TCP, and a UDP checksum of 0 stays
 * 0); its first-packet lookup finds every Service and picks endpoints as kube-proxy's
 * statistic chain does (uniformly); its conntrack table finds every flow. And the repetition
 * helpers (src/bench/stats.ts) summarize, interleave and pair as documented.
 */
import test from "ava";
import { ConntrackLimit, FirstPacketLimit, dnatRewrite, tcpTemplate, udpTemplate } from "../../src/bench/limit.js";
import { interleave, median, pairedRatio, summarize } from "../../src/bench/stats.js";
import { finishChecksum, pseudoHeaderSum, sumBytes } from "../../src/wire/checksum.js";

const read32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

/** Both checksums recomputed from scratch over the rewritten bytes: 0 when they verify. */
function verify(b: Uint8Array, proto: number): { ip: number; l4: number } {
  const ip = finishChecksum(sumBytes(b, 0, 20));
  const l4 = finishChecksum(sumBytes(b, 20, b.length - 20, pseudoHeaderSum(read32(b, 12), read32(b, 16), proto, b.length - 20)));
  return { ip, l4 };
}

test("dnatRewrite keeps the IPv4 and UDP/TCP checksums valid, and a UDP checksum of 0 stays 0", (t) => {
  for (const [addr, port] of [[0x0af40203, 8080], [0xffffffff, 65535], [0, 1], [0x0a000001, 0]] as const) {
    const u = udpTemplate(0x0af40102, 0x0a600105, 40000, 80, 33);
    t.deepEqual(verify(u, 17), { ip: 0, l4: 0 }, "the template verifies");
    dnatRewrite(u, 0, 20, 6, addr, port);
    t.is(read32(u, 16), addr >>> 0);
    t.is((u[22]! << 8) | u[23]!, port);
    t.deepEqual(verify(u, 17), { ip: 0, l4: 0 }, `UDP to ${addr.toString(16)}:${port}`);

    const tcp = tcpTemplate(0x0af40102, 0x0a600001, 20001, 443, 100);
    t.deepEqual(verify(tcp, 6), { ip: 0, l4: 0 });
    dnatRewrite(tcp, 0, 20, 16, addr, port);
    t.deepEqual(verify(tcp, 6), { ip: 0, l4: 0 }, `TCP to ${addr.toString(16)}:${port}`);
  }
  const none = udpTemplate(0x0af40102, 0x0a600105, 40000, 80, 8);
  none[26] = 0;
  none[27] = 0;
  dnatRewrite(none, 0, 20, 6, 0x0af40203, 8080);
  t.is((none[26]! << 8) | none[27]!, 0, "no UDP checksum: none after NAT either");
  t.is(finishChecksum(sumBytes(none, 0, 20)), 0);
});

test("the first-packet limit finds every Service and picks its endpoints uniformly, as the statistic chain does", (t) => {
  const services = 1000;
  const endpoints = [0x0af40202, 0x0af40203, 0x0af40302, 0x0af40303, 0x0af40304];
  const picks = new Uint32Array(4096).map((_, i) => (i * 7919) % services);
  const limit = new FirstPacketLimit({ services, clusterIP: (i) => 0x0a600100 + i, endpointIPs: endpoints, client: 0x0af40102, picks, seed: 1 });
  const counts = new Map<number, number>();
  const n = 50_000;
  const ns = limit.run(n, (dst) => counts.set(dst, (counts.get(dst) ?? 0) + 1));
  t.true(Number.isFinite(ns) && ns > 0);
  t.is([...counts.values()].reduce((a, b) => a + b, 0), n, "every packet found its Service");
  t.deepEqual([...counts.keys()].sort(), [...endpoints].sort());
  // χ² against uniform, 4 degrees of freedom: 18.5 is the 0.1% point.
  const expected = n / endpoints.length;
  const chi2 = [...counts.values()].reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
  t.true(chi2 < 18.5, `χ² = ${chi2.toFixed(2)}`);
});

test("the conntrack limit finds every flow in its table of 100,000 entries", (t) => {
  const limit = new ConntrackLimit({ flows: 1000, entries: 100_000 });
  t.is(limit.entries, 100_000);
  const ns = limit.run(5000);
  t.true(Number.isFinite(ns) && ns > 0, "no packet missed (a miss throws)");
});

test("median, summarize, interleave and pairedRatio", (t) => {
  t.is(median([3, 1, 2]), 2);
  t.is(median([4, 1, 3, 2]), 2.5);
  t.deepEqual(summarize([5, 1, 3, Number.NaN]), { median: 3, min: 1, max: 5, n: 3 });
  t.is(summarize([]), null);
  const order: string[] = [];
  let x = 0;
  const out = interleave(3, {
    a: () => (order.push("a"), ++x),
    b: () => (order.push("b"), null),
    c: () => (order.push("c"), 10 * ++x),
  });
  t.deepEqual(order, ["a", "b", "c", "b", "c", "a", "c", "a", "b"], "each round starts one job later");
  t.deepEqual(out, { a: [1, 4, 6], b: [], c: [20, 30, 50] });
  t.deepEqual(pairedRatio([10, 30, 20], [5, 10, 4]), { median: 3, min: 2, max: 5, n: 3 });
});
