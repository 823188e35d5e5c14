import test from "ava";
import { testProp, fc } from "@fast-check/ava";
import { formatTuple, invertTuple, reply, tupleEquals, tupleKey, hash5, isInvertible, IPPROTO_ICMP, IPPROTO_TCP } from "../../src/conntrack/index.js";
import type { Tuple } from "../../src/conntrack/index.js";
import { ipv4 } from "../../src/base/ipv4-int.js";

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const port = fc.integer({ min: 0, max: 0xffff });
const portTuple = fc.record({ src: u32, dst: u32, proto: fc.constantFrom(6, 17), sport: port, dport: port });
const icmpTuple = fc.record({ src: u32, dst: u32, proto: fc.constant(1), sport: port, dport: fc.constantFrom(0, 8, 13, 14, 15, 16, 17, 18) });

testProp("reply(reply(t)) = t", [fc.oneof(portTuple, icmpTuple)], (t, tu: Tuple) => {
  t.deepEqual(reply(reply(tu)), tu);
});

testProp("equal tuples hash equal; the hash is a u32", [fc.oneof(portTuple, icmpTuple)], (t, tu: Tuple) => {
  const k = tupleKey(tu);
  t.is(k, tupleKey({ ...tu }));
  t.is(k, hash5(tu.src, tu.dst, tu.proto, tu.sport, tu.dport));
  t.true(Number.isInteger(k) && k >= 0 && k <= 0xffffffff);
});

test("hash separates direction and fields", (t) => {
  const a: Tuple = { src: ipv4("10.244.1.2"), dst: ipv4("10.96.0.1"), proto: IPPROTO_TCP, sport: 40000, dport: 443 };
  const keys = new Set([a, invertTuple(a), { ...a, sport: 40001 }, { ...a, proto: 17 }, { ...a, dst: a.dst + 1 }].map((x) => tupleKey(x)));
  t.is(keys.size, 5);
  t.false(tupleEquals(a, invertTuple(a)));
});

test("ICMP echo: the identifier stays, the type becomes its answer", (t) => {
  const req: Tuple = { src: ipv4("10.244.1.2"), dst: ipv4("8.8.8.8"), proto: IPPROTO_ICMP, sport: 0x1234, dport: 8 };
  const rep = invertTuple(req);
  t.deepEqual(rep, { src: ipv4("8.8.8.8"), dst: ipv4("10.244.1.2"), proto: IPPROTO_ICMP, sport: 0x1234, dport: 0 });
  t.deepEqual(invertTuple({ ...req, dport: 13 }).dport, 14);
  t.false(isInvertible({ ...req, dport: 3 }));
  t.throws(() => invertTuple({ ...req, dport: 3 }), { instanceOf: RangeError });
  t.is(formatTuple(req), "src=10.244.1.2 dst=8.8.8.8 type=8 code=0 id=4660");
  t.is(formatTuple({ ...req, proto: 6, dport: 443 }), "src=10.244.1.2 dst=8.8.8.8 sport=4660 dport=443");
});
