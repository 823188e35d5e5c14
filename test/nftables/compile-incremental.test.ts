/**
 * The incremental compile (compileRuleset with the NftChanges of the transaction) against a
 * full compile of the same ruleset: random transactions (rules added, inserted and deleted,
 * chains added, flushed and deleted, set and map elements added, deleted and flushed, now
 * and then a change only a full compile follows) applied by the real loader to two copies
 * of a ruleset; after each, random packets through every base chain of both must give the
 * same verdicts, traces, counts, NAT requests, marks and dynamic-set state, and the two
 * rulesets must list the same (counters included).
 */
import test from "ava";
import { Rng, VirtualClock } from "../../src/base/index.js";
import { newNftChanges } from "../../src/nftables/changes.js";
import { NftProgram } from "../../src/nftables/compile.js";
import {
  type CompiledNft,
  NftEvaluator,
  NftPacket,
  NftResult,
  type NftRuleset,
  applyNftScript,
  compileRuleset,
  parseNftRuleset,
  printRule,
  printRuleset,
} from "../../src/nftables/index.js";

const IPS = ["10.0.0.1", "10.0.0.2", "10.96.0.10", "10.96.0.11", "192.168.1.15", "172.16.5.5", "10.244.1.2"];
const PORTS = [22, 53, 80, 443, 8080];
const REGULAR = ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"];

const ipn = (s: string): number => s.split(".").reduce((n, o) => n * 256 + Number(o), 0) >>> 0;

class Gen {
  constructor(readonly r: Rng) {}
  pick<T>(xs: readonly T[]): T {
    return xs[this.r.intBetween(0, xs.length - 1)]!;
  }
  /** Chains a rule in chain index `ci` may jump to (later ones: no loops). */
  targets(ci: number, extra: readonly string[]): string[] {
    return [...REGULAR.slice(ci + 1), ...(ci < 0 ? extra : [])];
  }
  match(): string {
    const { pick } = this;
    const p = pick.bind(this);
    return p([
      `ip saddr ${p(IPS)}`,
      `ip daddr != ${p(IPS)}`,
      "ip saddr 10.0.0.0/8",
      `tcp dport ${p(PORTS)}`,
      "th dport 1-1000",
      "meta mark 0x1",
      "mark and 0x4000 == 0",
      "ct state new",
      "ct state established,related",
      `ip daddr . tcp dport ${p(IPS)} . ${p(PORTS)}`,
      `ip saddr { ${p(IPS)}, ${p(IPS)} }`,
      "ip saddr @s1",
      "ip daddr . meta l4proto . th dport @s3",
      "ip saddr != @s2",
      "ip saddr @aff",
    ]);
  }
  rule(ci: number, nat: boolean, extra: readonly string[]): string {
    const p = this.pick.bind(this);
    const parts: string[] = [];
    for (let i = this.r.intBetween(0, 2); i > 0; i--) parts.push(this.match());
    if (this.r.nextU32() % 3 === 0) parts.push(p(["counter", "meta mark set meta mark | 0x4000", "update @aff { ip saddr }", "ct mark set 0x3"]));
    const t = this.targets(ci, extra);
    const k = this.r.nextU32() % 8;
    if (k < 4) parts.push(p(["accept", "drop", "return", "continue", ...t.flatMap((c) => [`jump ${c}`, `goto ${c}`])]));
    else if (k === 4 && t.length >= 2) parts.push(`numgen random mod 3 vmap { 0 : jump ${t[0]}, 1 : goto ${t[1]}, 2 : drop }`);
    else if (k === 5 && ci < 4) parts.push("ip daddr . meta l4proto . th dport vmap @m1");
    else if (k === 6 && nat) parts.push(`meta l4proto tcp dnat to ${p(IPS)}:${p(PORTS)}`);
    else if (k === 6) parts.push("numgen inc mod 2 vmap { 0 : accept, 1 : continue }");
    if (parts.length === 0) parts.push("counter");
    return parts.join(" ");
  }
  element(m1: boolean, extra: readonly string[]): string {
    const p = this.pick.bind(this);
    const key = `${p(IPS)} . ${p(["tcp", "udp"])} . ${p(PORTS)}`;
    if (!m1) return key;
    return `${key} : ${p(["drop", "accept", "goto c4", "jump c5", "goto c6", ...extra.map((c) => `goto ${c}`)])}`;
  }
}

const INITIAL = `table ip t {
  set s1 { type ipv4_addr; elements = { 10.0.0.1, 10.96.0.10 } }
  set s2 { type ipv4_addr; flags interval; elements = { 10.0.0.0/8 } }
  set s3 { type ipv4_addr . inet_proto . inet_service; elements = { 10.96.0.10 . tcp . 80 } }
  set aff { type ipv4_addr; flags dynamic,timeout; timeout 10s }
  map m1 { type ipv4_addr . inet_proto . inet_service : verdict; elements = { 10.96.0.10 . tcp . 80 : goto c5, 10.96.0.11 . udp . 53 : drop } }
  chain pre { type filter hook prerouting priority -10; policy accept; ct state new jump c0; }
  chain natpre { type nat hook prerouting priority -100; policy accept; ip daddr . meta l4proto . th dport vmap @m1; }
  chain input { type filter hook input priority 0; policy accept; }
${REGULAR.map((c) => `  chain ${c} { }`).join("\n")}
}
table inet u {
  chain f { type filter hook prerouting priority -5; policy accept; ct state new counter }
}
`;

/** One random transaction as nft -f text, against the current ruleset (for handles and extra chains). */
function transaction(g: Gen, rs: NftRuleset, step: number): string {
  const t = rs.tables.find((x) => x.name === "t")!;
  const extra = [...t.chains.keys()].filter((n) => n.startsWith("x"));
  const lines: string[] = [];
  for (let n = g.r.intBetween(1, 4); n > 0; n--) {
    const k = g.r.nextU32() % 16;
    const ci = g.r.intBetween(-1, REGULAR.length - 1);
    const chain = ci < 0 ? g.pick(["pre", "natpre", "input"]) : REGULAR[ci]!;
    const nat = chain === "natpre";
    const c = t.chains.get(chain)!;
    if (k < 4) lines.push(`add rule ip t ${chain} ${g.rule(ci, nat, ci < 0 ? extra : [])}`);
    else if (k === 4) lines.push(`insert rule ip t ${chain} ${g.rule(ci, nat, ci < 0 ? extra : [])}`);
    else if (k === 5 && c.rules.length > 0) lines.push(`delete rule ip t ${chain} handle ${g.pick(c.rules).handle}`);
    else if (k === 6) lines.push(`flush chain ip t ${chain}`);
    else if (k === 7) {
      // A new chain, with a rule, that the base chains and m1 may name from now on.
      const name = `x${step}_${n}`;
      lines.push(`add chain ip t ${name}`, `add rule ip t ${name} ${g.pick(["meta l4proto tcp dnat to 10.244.1.2:8080", "accept", "counter drop", "jump c7"])}`);
      lines.push(`add element ip t m1 { ${g.element(false, [])} : goto ${name} }`);
    } else if (k === 8 && extra.length > 0) {
      // Deleting a chain something still names fails (EBUSY): the whole transaction is refused then.
      lines.push(`delete chain ip t ${g.pick(extra)}`);
    } else if (k === 9) lines.push(`add element ip t m1 { ${g.element(true, extra)} }`);
    else if (k === 10) {
      const els = t.sets.get("m1")!.elements;
      if (els.length > 0) {
        const [a, proto, port] = g.pick(els).key.map((x) => (x as { v: number }).v);
        lines.push(`delete element ip t m1 { ${[a! >>> 24, (a! >>> 16) & 255, (a! >>> 8) & 255, a! & 255].join(".")} . ${proto === 6 ? "tcp" : "udp"} . ${port} }`);
      }
    } else if (k === 11) lines.push(`add element ip t s1 { ${g.pick(IPS)} }`);
    else if (k === 12) lines.push(g.r.nextU32() % 2 ? "flush set ip t s1" : `add element ip t s3 { ${g.element(false, [])} }`);
    else if (k === 13) lines.push(g.r.nextU32() % 2 ? `add element ip t s2 { 172.16.0.0/12 }` : `flush set ip t s2`);
    else if (k === 14 && g.r.nextU32() % 4 === 0) lines.push(`add chain ip t input { type filter hook input priority 0; policy ${g.pick(["accept", "drop"])}; }`);
    else lines.push(`add rule ip t ${chain} counter`);
  }
  return lines.join("\n") + "\n";
}

function randomPacket(r: Rng): NftPacket & { advance: number } {
  const p = new NftPacket() as NftPacket & { advance: number };
  const proto = r.nextU32() % 2 ? 6 : 17;
  const buf = new Uint8Array(28);
  buf[0] = 0x45;
  buf[9] = proto;
  const sport = PORTS[r.intBetween(0, PORTS.length - 1)]!;
  const dport = PORTS[r.intBetween(0, PORTS.length - 1)]!;
  buf[20] = sport >> 8;
  buf[21] = sport & 255;
  buf[22] = dport >> 8;
  buf[23] = dport & 255;
  Object.assign(p, {
    buf,
    ipOff: 0,
    thOff: 20,
    len: 28,
    proto,
    src: ipn(IPS[r.intBetween(0, IPS.length - 1)]!),
    dst: ipn(IPS[r.intBetween(0, IPS.length - 1)]!),
    iifname: "eth0",
    mark: r.nextU32() % 3 === 0 ? 0x4000 : r.intBetween(0, 1),
    ctState: r.nextU32() % 3 === 0 ? 2 : 8,
    hasCt: true,
    advance: r.intBetween(0, 4) * 1e9,
  });
  return p;
}

const HOOKS = ["prerouting", "input", "forward", "output", "postrouting"] as const;
const bases = (c: CompiledNft) => HOOKS.flatMap((h) => [...c.filter[h], ...c.nat[h]]);

interface Lineage {
  rs: NftRuleset;
  nft: CompiledNft;
  clock: VirtualClock;
  ev: NftEvaluator;
  r: NftResult;
}

function lineage(seed: number): Lineage {
  const rs = parseNftRuleset(INITIAL, "initial.nft");
  const clock = new VirtualClock();
  return { rs, nft: compileRuleset(rs, null, 0), clock, ev: new NftEvaluator({ rtnType: (a) => (a === ipn("10.0.0.1") ? 2 : 1), rng: new Rng(seed), clock }), r: new NftResult() };
}

/** What one traversal shows: verdict, trace, counts, NAT, marks. */
function outcome(l: Lineage, base: CompiledNft["filter"]["input"][number], p: NftPacket): string {
  const r = l.ev.run(base, p, l.r.reset(true));
  const hits = r.hits!.map((h) => `${h.chain.table.name}/${h.chain.name}#${h.ruleIndex}${h.ruleIndex >= 0 ? `=${printRule(h.chain.table.family, h.chain.rules[h.ruleIndex]!.src).trim()}` : ""}`);
  return JSON.stringify({ v: r.verdict, nat: r.nat, rej: r.reject, rules: r.rules, exprs: r.exprs, hits, mark: p.mark, ctMark: p.ctMark, cms: r.ctMarkSet });
}

function run(t: { is: (a: unknown, b: unknown, m?: string) => void; true: (a: boolean, m?: string) => void }, seed: number, steps: number): { incremental: number; full: number } {
  const g = new Gen(new Rng(seed));
  const pr = new Rng(seed + 1000);
  const inc = lineage(seed);
  const full = lineage(seed);
  let incremental = 0;
  let fulls = 0;
  for (let step = 0; step < steps; step++) {
    const text = transaction(g, inc.rs, step);
    const changes = newNftChanges();
    let nextInc: NftRuleset;
    try {
      nextInc = applyNftScript(inc.rs, text, `tx${step}.nft`, { changes, consume: true });
    } catch {
      continue; // refused (e.g. EBUSY): nothing changed
    }
    inc.rs = nextInc;
    full.rs = applyNftScript(full.rs, text, `tx${step}.nft`);
    const gen = inc.nft.program.generation;
    const prog = inc.nft.program;
    inc.nft = compileRuleset(inc.rs, inc.nft, inc.clock.now(), changes);
    if (inc.nft.program === prog && inc.nft.generation === gen + 1) incremental++;
    else fulls++;
    full.nft = compileRuleset(full.rs, full.nft, full.clock.now());
    t.is(inc.nft.ruleCount, full.nft.ruleCount, `step ${step}: rule count`);
    t.is(inc.nft.needsConntrack, full.nft.needsConntrack, `step ${step}: needsConntrack`);
    const bi = bases(inc.nft);
    const bf = bases(full.nft);
    t.is(bi.map((c) => `${c.table.name}/${c.name}`).join(), bf.map((c) => `${c.table.name}/${c.name}`).join(), `step ${step}: base chains`);
    for (let i = 0; i < 12; i++) {
      const p = randomPacket(pr);
      inc.clock.advanceTo(inc.clock.now() + p.advance);
      full.clock.advanceTo(full.clock.now() + p.advance);
      for (let b = 0; b < bi.length; b++) {
        const a = outcome(inc, bi[b]!, Object.assign(new NftPacket(), p));
        const f = outcome(full, bf[b]!, Object.assign(new NftPacket(), p));
        if (a !== f) t.is(a, f, `step ${step}, packet ${i}, base chain ${bi[b]!.name}\n${text}`);
      }
    }
    const dyn = (l: Lineage) => [...l.nft.sets.get("ip t")!.get("aff")!.dynamicKeys(l.clock.now())].map((k) => k.join(".")).sort().join();
    t.is(dyn(inc), dyn(full), `step ${step}: dynamic elements`);
    t.is(printRuleset(inc.rs), printRuleset(full.rs), `step ${step}: listings (counters)`);
  }
  return { incremental, full: fulls };
}

test("random transactions: the incremental compile behaves as a full compile of the same ruleset", (t) => {
  let incremental = 0;
  for (let seed = 1; seed <= 12; seed++) incremental += run(t, seed, 30).incremental;
  t.true(incremental > 200, `the incremental path was taken (${incremental} times)`);
});

test("with compaction after every few changes, entries renamed in code and maps keep working", (t) => {
  const saved = NftProgram.compactMin;
  NftProgram.compactMin = 16;
  try {
    for (let seed = 100; seed <= 105; seed++) run(t, seed, 30);
  } finally {
    NftProgram.compactMin = saved;
  }
  t.pass();
});

test("a recompiled chain that outgrows its code is forwarded; callers and maps are not recompiled", (t) => {
  const rs0 = parseNftRuleset(
    `table ip t {
  map svc { type ipv4_addr . inet_proto . inet_service : verdict; elements = { 10.96.0.1 . tcp . 80 : goto s1 } }
  chain nat { type nat hook prerouting priority -100; ip daddr . meta l4proto . th dport vmap @svc; }
  chain s1 { numgen random mod 1 vmap { 0 : goto e1 } }
  chain e1 { meta l4proto tcp dnat to 10.244.1.1:8080 }
}`,
    "svc.nft",
  );
  const clock = new VirtualClock();
  const ev = new NftEvaluator({ rtnType: () => 1, rng: new Rng(1), clock });
  const r = new NftResult();
  let nft = compileRuleset(rs0, null, 0);
  const p = randomPacket(new Rng(1));
  p.dst = ipn("10.96.0.1");
  p.buf[22] = 0;
  p.buf[23] = 80;
  p.proto = 6;
  t.is(ev.run(nft.nat.prerouting[0]!, p, r.reset(false)).nat!.range!.minIp, ipn("10.244.1.1"));
  // A second endpoint: s1 grows (forwarded), e2 is new; the map and nat chain stay as they are.
  const changes = newNftChanges();
  const rs1 = applyNftScript(rs0, "add chain ip t e2\nadd rule ip t e2 meta l4proto tcp dnat to 10.244.1.2:8080\nflush chain ip t s1\nadd rule ip t s1 numgen random mod 2 vmap { 0 : goto e1, 1 : goto e2 }\n", "ep.nft", { changes, consume: true });
  t.deepEqual([...changes.chains.get("ip t")!].sort(), ["e2", "s1"]);
  const prog = nft.program;
  nft = compileRuleset(rs1, nft, 0, changes);
  t.is(nft.program, prog, "the incremental path");
  const seen = new Set<number>();
  for (let i = 0; i < 64; i++) seen.add(ev.run(nft.nat.prerouting[0]!, Object.assign(new NftPacket(), p), r.reset(true)).nat!.range!.minIp);
  t.deepEqual([...seen].sort(), [ipn("10.244.1.1"), ipn("10.244.1.2")]);
  t.deepEqual(
    r.hits!.map((h) => h.chain.name),
    ["nat", "s1", r.nat!.range!.minIp === ipn("10.244.1.1") ? "e1" : "e2"],
  );
  t.is(nft.ruleCount, 4);
  // Deleting the endpoint again (s1 first, then e2: nothing may name a deleted chain).
  const c2 = newNftChanges();
  const rs2 = applyNftScript(rs1, "flush chain ip t s1\nadd rule ip t s1 numgen random mod 1 vmap { 0 : goto e1 }\ndelete chain ip t e2\n", "ep2.nft", { changes: c2, consume: true });
  nft = compileRuleset(rs2, nft, 0, c2);
  t.is(nft.program, prog);
  t.is(nft.ruleCount, 3);
  for (let i = 0; i < 16; i++) t.is(ev.run(nft.nat.prerouting[0]!, Object.assign(new NftPacket(), p), r.reset(false)).nat!.range!.minIp, ipn("10.244.1.1"));
});

test("a change the incremental path does not follow (a base chain's policy) falls back to a full compile", (t) => {
  const rs0 = parseNftRuleset("table ip t { chain in { type filter hook input priority 0; policy accept; } }", "a.nft");
  const nft0 = compileRuleset(rs0, null, 0);
  const changes = newNftChanges();
  const rs1 = applyNftScript(rs0, "add chain ip t in { type filter hook input priority 0; policy drop; }\n", "b.nft", { changes, consume: true });
  const nft1 = compileRuleset(rs1, nft0, 0, changes);
  t.is(nft1.filter.input[0]!.policy, 3); // NFT_DROP
  const ev = new NftEvaluator({ rtnType: () => 1, rng: new Rng(1), clock: new VirtualClock() });
  t.is(ev.run(nft1.filter.input[0]!, randomPacket(new Rng(2)), new NftResult().reset(false)).verdict, "drop");
});
