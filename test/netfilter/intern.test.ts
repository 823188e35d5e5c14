/** Equal rule parts are one object (intern.ts); parts with state or free text are not shared. */
import test from "ava";
import { Rng, VirtualClock } from "../../src/base/index.js";
import { RuleEngine, Traversal } from "../../src/netfilter/engine.js";
import { createEnv } from "../../src/netfilter/env.js";
import { ADDRTYPE_UNICAST, CT_STATE_NEW } from "../../src/netfilter/model.js";
import { PacketContext } from "../../src/netfilter/packet-context.js";
import { parseRule } from "../../src/netfilter/restore-parse.js";
import { load } from "./fixtures/load.js";

test("equal parts of rules parsed apart are one object", (t) => {
  const a = parseRule("-s 10.244.1.2/32 -p udp -m udp -m statistic --mode random --probability 0.1000000000 -j DNAT --to-destination 10.244.1.2:8080", { table: "nat", line: 7 });
  const b = parseRule("-s 10.244.1.2/32 -p udp -m udp -m statistic --mode random --probability 0.1000000000 -j DNAT --to-destination 10.244.1.2:8080", { table: "nat", line: 7 });
  t.not(a, b);
  t.is(a.src, b.src);
  t.is(a.proto, b.proto);
  t.is(a.matches, b.matches);
  t.is(a.target, b.target);
  t.is(a.source, b.source);
  t.not(a.counters, b.counters, "counters are each rule's own");
});

test("comments and nth statistics are not shared", (t) => {
  const a = parseRule('-m comment --comment "x" -m statistic --mode nth --every 2 --packet 0 -j ACCEPT');
  const b = parseRule('-m comment --comment "x" -m statistic --mode nth --every 2 --packet 0 -j ACCEPT');
  t.not(a.matches, b.matches);
  t.not(a.matches[0], b.matches[0]);
  t.not(a.matches[1], b.matches[1], "the environment counts nth matches per object");
});

test("two rules with the same nth match keep separate counts", (t) => {
  const rs = load("*filter\n:INPUT DROP [0:0]\n-A INPUT -m statistic --mode nth --every 2 --packet 0 -j ACCEPT\n-A INPUT -m statistic --mode nth --every 2 --packet 0 -j ACCEPT\nCOMMIT\n");
  const e = new RuleEngine("compiled", rs, createEnv({ addrType: () => ADDRTYPE_UNICAST, rng: new Rng(1), clock: new VirtualClock() }));
  const b = new Uint8Array(20);
  b[0] = 0x45;
  b[3] = 20;
  const verdicts: string[] = [];
  for (let i = 0; i < 4; i++) verdicts.push(e.run("filter", "INPUT", new PacketContext().load(b, 0, 20).at("INPUT", "eth0", "", 0, CT_STATE_NEW, 0), new Traversal().reset(false)).verdict);
  // Each rule matches every other packet it sees, starting with its first; one shared count
  // would accept all four.
  t.deepEqual(verdicts, ["ACCEPT", "ACCEPT", "ACCEPT", "DROP"]);
});
