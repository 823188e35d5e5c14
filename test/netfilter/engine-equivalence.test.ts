/**
 * The reference interpreter and the compiled engine must agree on every packet: verdict,
 * NAT target, mark, the rules hit, the modelled rule count, every counter, and the
 * random draws (same seed). Rulesets are random, and kube-proxy-shaped.
 */
import { fc, testProp } from "@fast-check/ava";
import test from "ava";
import { Rng, VirtualClock, prefixMask } from "../../src/base/index.js";
import { RuleEngine, Traversal } from "../../src/netfilter/engine.js";
import { createEnv } from "../../src/netfilter/env.js";
import {
  ADDRTYPE_LOCAL,
  ADDRTYPE_UNICAST,
  CT_STATE_ESTABLISHED,
  CT_STATE_NEW,
  type Chain,
  type MatchSpec,
  type Rule,
  type Ruleset,
  type TargetSpec,
  emptyCounters,
  newTable,
} from "../../src/netfilter/model.js";
import { PacketContext } from "../../src/netfilter/packet-context.js";

const ADDRS = [0x0a000001, 0x0a000002, 0x0a600001, 0x0a600002, 0x0a600003, 0xc0a80101, 0x7f000001];
const PORTS = [53, 80, 443, 8080, 30001];
const CIDRS: [number, number][] = [
  [0x0a000000, 8],
  [0x0a600001, 32],
  [0x0a600002, 32],
  [0xc0a80100, 24],
  [0x7f000000, 8],
];

const arbAddr = fc.record({ c: fc.constantFrom(...CIDRS), invert: fc.boolean() }).map(({ c, invert }) => ({ net: c[0], prefixLen: c[1], mask: prefixMask(c[1]), invert }));
const arbPort = fc.constantFrom(...PORTS);

const arbMatch: fc.Arbitrary<MatchSpec> = fc.oneof(
  fc.record({ module: fc.constantFrom("tcp" as const, "udp" as const, "sctp" as const), dport: fc.option(fc.record({ p: arbPort, invert: fc.boolean() }).map(({ p, invert }) => ({ min: p, max: p, invert })), { nil: undefined }), sport: fc.option(fc.constant({ min: 1024, max: 65535, invert: false }), { nil: undefined }) }),
  fc.record({ module: fc.constant("comment" as const), comment: fc.constant("x") }),
  fc.record({ module: fc.constant("statistic" as const), mode: fc.constant("random" as const), probability: fc.constantFrom(0.5, 0.33333333349, 0.25, 1), invert: fc.boolean() }),
  fc.record({ module: fc.constant("statistic" as const), mode: fc.constant("nth" as const), every: fc.integer({ min: 1, max: 4 }), packet: fc.constant(0), invert: fc.boolean() }),
  fc.record({ module: fc.constant("mark" as const), value: fc.constantFrom(0, 0x4000), mask: fc.constant(0x4000), invert: fc.boolean() }),
  fc.record({ module: fc.constant("conntrack" as const), ctstate: fc.record({ states: fc.constantFrom(CT_STATE_NEW, CT_STATE_ESTABLISHED), invert: fc.boolean() }) }),
  fc.record({ module: fc.constant("addrtype" as const), dstType: fc.record({ types: fc.constant(ADDRTYPE_LOCAL), invert: fc.boolean() }), limitIfaceIn: fc.constant(false), limitIfaceOut: fc.constant(false) }),
  fc.record({ module: fc.constant("nfacct" as const), name: fc.constantFrom("a", "b") }),
  fc.record({ module: fc.constant("multiport" as const), kind: fc.constantFrom("dports" as const, "ports" as const), ports: fc.constant([{ min: 80, max: 80 }, { min: 440, max: 450 }] as { min: number; max: number }[]), invert: fc.boolean() }),
);

function arbTarget(chainIndex: number, chainCount: number): fc.Arbitrary<TargetSpec> {
  const later = Array.from({ length: chainCount - chainIndex - 1 }, (_, k) => `U${chainIndex + 1 + k}`);
  const simple: fc.Arbitrary<TargetSpec>[] = [
    fc.constant({ kind: "ACCEPT" } as TargetSpec),
    fc.constant({ kind: "DROP" } as TargetSpec),
    fc.constant({ kind: "RETURN" } as TargetSpec),
    fc.constant({ kind: "NONE" } as TargetSpec),
    fc.constant({ kind: "REJECT", with: "icmp-port-unreachable" } as TargetSpec),
    fc.constantFrom(...ADDRS).map((ip) => ({ kind: "DNAT", range: { minIp: ip, maxIp: ip, minPort: 8080, maxPort: 8080 }, random: false, persistent: false }) as TargetSpec),
    fc.constant({ kind: "MASQUERADE", toPorts: null, random: false, randomFully: true } as TargetSpec),
    fc.constantFrom(0x4000, 0x1).map((v) => ({ kind: "MARK", value: v, mask: v, written: "or-mark" }) as TargetSpec),
  ];
  if (later.length > 0) {
    simple.push(fc.constantFrom(...later).map((c) => ({ kind: "jump", chain: c }) as TargetSpec));
    simple.push(fc.constantFrom(...later).map((c) => ({ kind: "goto", chain: c }) as TargetSpec));
  }
  return fc.oneof(...simple);
}

function arbRule(chainIndex: number, chainCount: number): fc.Arbitrary<Rule> {
  return fc
    .record({
      src: fc.option(arbAddr, { nil: undefined }),
      dst: fc.option(arbAddr, { nil: undefined }),
      proto: fc.option(fc.record({ proto: fc.constantFrom(6, 17, 132, 1), invert: fc.boolean() }), { nil: undefined }),
      matches: fc.array(arbMatch, { maxLength: 3 }),
      target: arbTarget(chainIndex, chainCount),
    })
    .map((r) => {
      const rule: Rule = { matches: r.matches, target: r.target, counters: emptyCounters() };
      if (r.src) rule.src = r.src;
      if (r.dst) rule.dst = r.dst;
      if (r.proto) rule.proto = { ...r.proto, name: String(r.proto.proto) };
      return rule;
    });
}

const L4_NAME: Record<number, "tcp" | "udp" | "sctp"> = { 6: "tcp", 17: "udp", 132: "sctp" };

/** A keyed rule like KUBE-SERVICES': -d VIP/32 -p tcp -m comment -m tcp --dport P -j X. */
function arbKeyedRule(chainIndex: number, chainCount: number): fc.Arbitrary<Rule> {
  return fc.record({ dst: fc.constantFrom(...ADDRS), wide: fc.boolean(), port: arbPort, proto: fc.constantFrom(6, 17, 132), extra: fc.array(arbMatch, { maxLength: 1 }), target: arbTarget(chainIndex, chainCount) }).map((r) => ({
    dst: r.wide ? { net: 0x0a000000, prefixLen: 8, mask: prefixMask(8), invert: false } : { net: r.dst, prefixLen: 32, mask: 0xffffffff, invert: false },
    proto: { proto: r.proto, name: L4_NAME[r.proto]!, invert: false },
    matches: [{ module: "comment", comment: "svc" } as MatchSpec, { module: L4_NAME[r.proto]!, dport: { min: r.port, max: r.port, invert: false } } as MatchSpec, ...r.extra],
    target: r.target,
    counters: emptyCounters(),
  }));
}

const CHAINS = 4;
const arbRuleset: fc.Arbitrary<Ruleset> = fc
  .tuple(
    ...Array.from({ length: CHAINS + 1 }, (_, ci) => fc.array(fc.oneof({ weight: 1, arbitrary: arbRule(ci, CHAINS + 1) }, { weight: 2, arbitrary: arbKeyedRule(ci, CHAINS + 1) }), { maxLength: 14 })),
    fc.constantFrom("ACCEPT" as const, "DROP" as const),
  )
  .map((parts) => {
    const policy = parts[parts.length - 1] as "ACCEPT" | "DROP";
    const chainsRules = parts.slice(0, -1) as Rule[][];
    const table = newTable("nat");
    table.chains.get("PREROUTING")!.policy = policy;
    table.chains.get("PREROUTING")!.rules = chainsRules[0]!;
    for (let c = 1; c <= CHAINS; c++) {
      const chain: Chain = { name: `U${c}`, policy: null, counters: emptyCounters(), rules: chainsRules[c]! };
      table.chains.set(chain.name, chain);
    }
    return { tables: new Map([["nat", table]]) } as Ruleset;
  });

const arbPacket = fc.record({
  src: fc.constantFrom(...ADDRS),
  dst: fc.constantFrom(...ADDRS),
  proto: fc.constantFrom(6, 17, 132, 1),
  sport: fc.constantFrom(1000, 40000),
  dport: arbPort,
  mark: fc.constantFrom(0, 0x4000),
  ct: fc.constantFrom(CT_STATE_NEW, CT_STATE_ESTABLISHED),
});

function packetBytes(p: { src: number; dst: number; proto: number; sport: number; dport: number }): Uint8Array {
  const b = new Uint8Array(40);
  b[0] = 0x45;
  b[3] = 40;
  b[8] = 64;
  b[9] = p.proto;
  new DataView(b.buffer).setUint32(12, p.src);
  new DataView(b.buffer).setUint32(16, p.dst);
  if (p.proto === 1) {
    b[20] = 8;
  } else {
    new DataView(b.buffer).setUint16(20, p.sport);
    new DataView(b.buffer).setUint16(22, p.dport);
    b[33] = 0x02;
  }
  return b;
}

function makeEngine(kind: "reference" | "compiled", rs: Ruleset, seed: number) {
  const env = createEnv({ addrType: (ip) => (ip === 0x0a000001 || ip >>> 24 === 127 ? ADDRTYPE_LOCAL : ADDRTYPE_UNICAST), rng: new Rng(seed), clock: new VirtualClock() });
  return { engine: new RuleEngine(kind, rs, env, 2), env };
}

function outcome(t: Traversal, ctx: PacketContext) {
  return {
    verdict: t.verdict,
    rejectWith: t.verdict === "REJECT" ? t.rejectWith : null,
    nat: t.nat,
    mark: ctx.mark,
    rulesEvaluated: t.rulesEvaluated,
    hits: t.hits!.map((h) => `${h.chain}#${h.ruleIndex}`),
  };
}

function counters(rs: Ruleset): string[] {
  const out: string[] = [];
  for (const t of rs.tables.values()) {
    for (const c of t.chains.values()) {
      out.push(`${c.name}:${c.counters.packets}/${c.counters.bytes}`);
      for (const r of c.rules) out.push(`${r.counters.packets}/${r.counters.bytes}`);
    }
  }
  return out;
}

testProp(
  "reference and compiled engines agree on verdicts, NAT, marks, rule counts, counters and draws",
  [arbRuleset, fc.array(arbPacket, { minLength: 1, maxLength: 30 }), fc.integer({ min: 0, max: 1000 })],
  (t, rs, packets, seed) => {
    const a = makeEngine("reference", structuredClone(rs), seed);
    const b = makeEngine("compiled", structuredClone(rs), seed);
    const ctxA = new PacketContext();
    const ctxB = new PacketContext();
    const outA = new Traversal();
    const outB = new Traversal();
    for (const p of packets) {
      const bytes = packetBytes(p);
      ctxA.load(bytes, 0, bytes.length).at("PREROUTING", "eth0", "", p.mark, p.ct, 0);
      ctxB.load(bytes, 0, bytes.length).at("PREROUTING", "eth0", "", p.mark, p.ct, 0);
      a.engine.run("nat", "PREROUTING", ctxA, outA.reset(true));
      b.engine.run("nat", "PREROUTING", ctxB, outB.reset(true));
      t.deepEqual(outcome(outB, ctxB), outcome(outA, ctxA));
    }
    t.deepEqual(counters(b.engine.rules), counters(a.engine.rules));
    t.deepEqual([...b.env.nfacct], [...a.env.nfacct]);
    t.is(b.env.rng.nextU32(), a.env.rng.nextU32(), "same number of random draws");
  },
  { numRuns: 300 },
);

test("the compiled engine skips keyed runs but reports the kernel's rule count", (t) => {
  const table = newTable("nat");
  const rules: Rule[] = [];
  for (let i = 0; i < 1000; i++) {
    rules.push({
      dst: { net: 0x0a600000 + i, prefixLen: 32, mask: 0xffffffff, invert: false },
      proto: { proto: 6, name: "tcp", invert: false },
      matches: [{ module: "tcp", dport: { min: 80, max: 80, invert: false } }],
      target: { kind: "ACCEPT" },
      counters: emptyCounters(),
    });
  }
  table.chains.get("PREROUTING")!.rules = rules;
  table.chains.get("PREROUTING")!.policy = "DROP";
  const rs: Ruleset = { tables: new Map([["nat", table]]) };
  const { engine } = makeEngine("compiled", rs, 1);
  const ctx = new PacketContext();
  const bytes = packetBytes({ src: 0x0a000001, dst: 0x0a600000 + 700, proto: 6, sport: 1000, dport: 80 });
  const out = engine.run("nat", "PREROUTING", ctx.load(bytes, 0, 40).at("PREROUTING", "eth0", "", 0, CT_STATE_NEW, 0), new Traversal().reset(false));
  t.is(out.verdict, "ACCEPT");
  t.is(out.rulesEvaluated, 701);
  t.is(rules[700]!.counters.packets, 1);
  const miss = packetBytes({ src: 0x0a000001, dst: 0x0b000000, proto: 6, sport: 1000, dport: 80 });
  const out2 = engine.run("nat", "PREROUTING", ctx.load(miss, 0, 40).at("PREROUTING", "eth0", "", 0, CT_STATE_NEW, 0), new Traversal().reset(false));
  t.is(out2.verdict, "DROP");
  t.is(out2.rulesEvaluated, 1000);
});

/** A change to chain U`k`: new rules (jumping only to later chains, so no loops). */
const arbUpdate = fc.integer({ min: 1, max: CHAINS }).chain((k) =>
  fc.record({ chain: fc.constant(k), rules: fc.array(fc.oneof({ weight: 1, arbitrary: arbRule(k, CHAINS + 1) }, { weight: 2, arbitrary: arbKeyedRule(k, CHAINS + 1) }), { maxLength: 14 }) }),
);

testProp(
  "after partial updates (only the touched chains rebuilt) the engines still agree, counters included",
  [arbRuleset, fc.array(fc.tuple(fc.array(arbUpdate, { minLength: 1, maxLength: 3 }), fc.array(arbPacket, { minLength: 1, maxLength: 8 })), { minLength: 1, maxLength: 5 }), fc.integer({ min: 0, max: 1000 })],
  (t, rs, rounds, seed) => {
    const a = makeEngine("reference", structuredClone(rs), seed);
    const b = makeEngine("compiled", structuredClone(rs), seed);
    const ctxA = new PacketContext();
    const ctxB = new PacketContext();
    const outA = new Traversal();
    const outB = new Traversal();
    for (const [updates, packets] of rounds) {
      for (const u of updates) {
        for (const e of [a, b]) e.engine.rules.tables.get("nat")!.chains.get(`U${u.chain}`)!.rules = structuredClone(u.rules);
      }
      const names = updates.map((u) => `U${u.chain}`);
      a.engine.applyChanges("nat", names);
      b.engine.applyChanges("nat", names);
      for (const p of packets) {
        const bytes = packetBytes(p);
        ctxA.load(bytes, 0, bytes.length).at("PREROUTING", "eth0", "", p.mark, p.ct, 0);
        ctxB.load(bytes, 0, bytes.length).at("PREROUTING", "eth0", "", p.mark, p.ct, 0);
        a.engine.run("nat", "PREROUTING", ctxA, outA.reset(true));
        b.engine.run("nat", "PREROUTING", ctxB, outB.reset(true));
        t.deepEqual(outcome(outB, ctxB), outcome(outA, ctxA));
      }
    }
    t.deepEqual(counters(b.engine.rules), counters(a.engine.rules));
    t.is(b.env.rng.nextU32(), a.env.rng.nextU32(), "same number of random draws");
  },
  { numRuns: 200 },
);
