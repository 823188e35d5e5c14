/**
 * The compiled engine's flat tables: counters that live in the table yet read through the
 * model, chains rebuilt in place of others (old bodies forward to the new ones, the table
 * laid out again once enough is dead), rules that leave keeping their counts, two compiled
 * engines over one ruleset, and one rule object at two positions.
 */
import test from "ava";
import { Rng, VirtualClock } from "../../src/base/index.js";
import { CounterCell } from "../../src/netfilter/counter-cell.js";
import { RuleEngine, Traversal } from "../../src/netfilter/engine.js";
import { createEnv } from "../../src/netfilter/env.js";
import { ADDRTYPE_UNICAST, CT_STATE_NEW, type Chain, type Rule, type Ruleset, emptyCounters, newTable } from "../../src/netfilter/model.js";
import { PacketContext } from "../../src/netfilter/packet-context.js";

function engine(rs: Ruleset, kind: "compiled" | "reference" = "compiled"): RuleEngine {
  return new RuleEngine(kind, rs, createEnv({ addrType: () => ADDRTYPE_UNICAST, rng: new Rng(1), clock: new VirtualClock() }));
}

const accept = (dst: number): Rule => ({ dst: { net: dst, mask: 0xffffffff, prefixLen: 32, invert: false }, matches: [], target: { kind: "ACCEPT" }, counters: emptyCounters() });
const jump = (chain: string): Rule => ({ matches: [], target: { kind: "jump", chain }, counters: emptyCounters() });

/** nat PREROUTING → U1 (rules accepting 10.0.0.x for x < n), policy DROP. */
function ruleset(n: number): Ruleset {
  const table = newTable("nat");
  table.chains.get("PREROUTING")!.policy = "DROP";
  table.chains.get("PREROUTING")!.rules = [jump("U1")];
  const u1: Chain = { name: "U1", policy: null, counters: emptyCounters(), rules: Array.from({ length: n }, (_, i) => accept(0x0a000000 + i)) };
  table.chains.set("U1", u1);
  return { tables: new Map([["nat", table]]) };
}

function send(e: RuleEngine, dst: number): Traversal {
  const b = new Uint8Array(28);
  b[0] = 0x45;
  b[3] = 28;
  b[9] = 17;
  new DataView(b.buffer).setUint32(16, dst);
  const ctx = new PacketContext().load(b, 0, 28).at("PREROUTING", "eth0", "", 0, CT_STATE_NEW, 0);
  return e.run("nat", "PREROUTING", ctx, new Traversal().reset(false));
}

const u1 = (rs: Ruleset): Chain => rs.tables.get("nat")!.chains.get("U1")!;

test("counters live in the table and read through the model", (t) => {
  const rs = ruleset(3);
  const e = engine(rs);
  t.is(send(e, 0x0a000001).verdict, "ACCEPT");
  t.is(send(e, 0x0b000000).verdict, "DROP");
  const rule = u1(rs).rules[1]!;
  t.true(rule.counters instanceof CounterCell);
  t.deepEqual({ packets: rule.counters.packets, bytes: rule.counters.bytes }, { packets: 1, bytes: 28 });
  t.is(rs.tables.get("nat")!.chains.get("PREROUTING")!.counters.packets, 1, "the policy counted the dropped packet");
  rule.counters.packets = 10; // written through the cell, as iptables-restore --counters would
  send(e, 0x0a000001);
  t.is(rule.counters.packets, 11);
});

test("a rebuilt chain keeps the counts of rules it keeps; rules that leave keep theirs", (t) => {
  const rs = ruleset(3);
  const e = engine(rs);
  send(e, 0x0a000000);
  send(e, 0x0a000002);
  const [r0, , r2] = u1(rs).rules;
  u1(rs).rules = [r2!, accept(0x0a000009)];
  e.applyChanges("nat", ["U1"]);
  t.is(r0!.counters.packets, 1, "a removed rule keeps its count");
  t.is(r2!.counters.packets, 1, "a kept rule keeps its count");
  send(e, 0x0a000002);
  t.is(r2!.counters.packets, 2);
  t.is(r0!.counters.packets, 1);
  t.is(send(e, 0x0a000009).verdict, "ACCEPT", "PREROUTING, untouched, reaches the new body");
  t.is(send(e, 0x0a000000).verdict, "DROP");
});

test("enough rebuilds lay the table out again, counters carried over", (t) => {
  const rs = ruleset(5000);
  const e = engine(rs);
  send(e, 0x0a000000 + 4321);
  const kept = u1(rs).rules[4321]!;
  for (let round = 0; round < 3; round++) {
    u1(rs).rules = [...u1(rs).rules];
    e.applyChanges("nat", ["U1"]);
    t.is(send(e, 0x0a000000 + 4321).verdict, "ACCEPT");
    t.is(send(e, 0x0a000000 + 4999).rulesEvaluated, 5001);
  }
  t.is(kept.counters.packets, 4);
});

test("two compiled engines on one ruleset: both count into the same counters", (t) => {
  const rs = ruleset(2);
  const a = engine(rs);
  const b = engine(rs);
  send(a, 0x0a000001);
  send(b, 0x0a000001);
  send(a, 0x0a000001);
  t.is(u1(rs).rules[1]!.counters.packets, 3);
  const ref = engine(rs, "reference");
  send(ref, 0x0a000001);
  t.is(u1(rs).rules[1]!.counters.packets, 4, "the reference engine counts into them too");
});

test("one rule object at two positions gets counters of its own at each", (t) => {
  const rs = ruleset(1);
  const shared = accept(0x0a000005);
  u1(rs).rules = [shared, shared];
  const e = engine(rs);
  send(e, 0x0a000005);
  const [x, y] = u1(rs).rules;
  t.not(x, y, "the second position got its own rule object");
  t.is(x!.counters.packets + y!.counters.packets, 1);
});
