/**
 * The nft evaluation engine on hand-built rulesets (parsed with applyNftScript) and packet
 * contexts: nft_do_chain's verdict semantics, set and verdict-map lookups (hash and
 * interval, checked against a linear scan), numgen on the seeded RNG, dynamic sets with
 * timeouts on the virtual clock, ct/mark expressions, and the evaluation counts.
 */
import test from "ava";
import { Rng, VirtualClock } from "../../src/base/index.js";
import { NFT_CT_ESTABLISHED, NFT_CT_NEW, NftEvaluator, NftPacket, NftResult, compileRuleset, parseNftRuleset, type CompiledNft } from "../../src/nftables/index.js";

const ip = (s: string): number => s.split(".").reduce((n, o) => n * 256 + Number(o), 0);

function setup(text: string, opts: { local?: number[]; seed?: number } = {}) {
  const rs = parseNftRuleset(text, "test.nft");
  const nft = compileRuleset(rs);
  const clock = new VirtualClock();
  const local = new Set(opts.local ?? []);
  const ev = new NftEvaluator({ rtnType: (a) => (local.has(a) ? 2 : 1), rng: new Rng(opts.seed ?? 1), clock });
  return { rs, nft, clock, ev, r: new NftResult() };
}

function pkt(src: string, dst: string, proto: number, sport: number, dport: number, extra: Partial<NftPacket> = {}): NftPacket {
  const p = new NftPacket();
  const buf = new Uint8Array(24);
  buf[0] = 0x45;
  buf[9] = proto;
  buf[20] = sport >> 8;
  buf[21] = sport & 255;
  buf[22] = dport >> 8;
  buf[23] = dport & 255;
  Object.assign(p, { buf, ipOff: 0, thOff: 20, len: 24, src: ip(src), dst: ip(dst), proto, ctState: NFT_CT_NEW }, extra);
  return p;
}

const base = (nft: CompiledNft, hook: "prerouting" | "input" | "forward" | "output" | "postrouting", kind: "filter" | "nat" = "filter") => nft[kind][hook][0]!;

test("verdicts: jump returns, goto does not, return pops, the policy ends the base chain; counters count", (t) => {
  const { nft, ev, r, rs } = setup(`table ip t {
  chain in { type filter hook input priority 0; policy drop;
    tcp dport 22 counter jump a
    tcp dport 23 goto a
    tcp dport 24 jump b
    ip saddr 10.0.0.1 accept
  }
  chain a { ip saddr 10.0.0.2 return
    ip saddr 10.0.0.3 drop
  }
  chain b { counter }
}`);
  const run = (src: string, port: number) => ev.run(base(nft, "input"), pkt(src, "10.0.0.9", 6, 1000, port), r.reset(true)).verdict;
  t.is(run("10.0.0.1", 22), "accept"); // jump a, falls off a: back, then rule 4 accepts
  t.is(run("10.0.0.2", 23), "drop"); // goto a; return in a (nothing to return to) → policy drop
  t.is(run("10.0.0.1", 23), "drop"); // goto a; falls off a → base chain's policy, rule 4 never runs
  t.is(run("10.0.0.3", 22), "drop");
  t.is(run("10.0.0.1", 24), "accept");
  t.is(run("10.0.0.5", 80), "drop"); // policy
  t.deepEqual(r.hits!.map((h) => h.ruleIndex), [-1]);
  const counter = rs.tables[0]!.chains.get("in")!.rules[0]!.stmts.find((s) => s.kind === "counter") as { packets: number; bytes: number };
  t.is(counter.packets, 2);
  t.is(counter.bytes, 48);
});

test("rules and expressions evaluated are counted as the kernel would run them", (t) => {
  const { nft, ev, r } = setup(`table ip t { chain in { type filter hook input priority 0;
    ip saddr 1.1.1.1 drop
    ip daddr . meta l4proto . th dport { 2.2.2.2 . tcp . 80 } accept
  } }`);
  ev.run(base(nft, "input"), pkt("9.9.9.9", "2.2.2.2", 6, 1, 80), r.reset(false));
  t.is(r.verdict, "accept");
  t.is(r.rules, 2);
  // rule 1: load + cmp (2, breaks); rule 2: 3 loads + lookup (4) + accept (1).
  t.is(r.exprs, 2 + 4 + 1);
});

test("verdict maps on concatenations and interval sets agree with a linear scan", (t) => {
  const { nft, ev, r } = setup(`table ip t {
  map m { type ipv4_addr . inet_proto . inet_service : verdict
    elements = { 10.96.0.1 . tcp . 443 : goto svc, 10.96.0.10 . udp . 53 : drop }
  }
  set nets { type ipv4_addr; flags interval; elements = { 10.0.0.0/8, 172.16.0.0/12, 192.168.1.10-192.168.1.20 } }
  chain pre { type filter hook prerouting priority 0;
    ip daddr . meta l4proto . th dport vmap @m
    ip saddr @nets accept
    drop
  }
  chain svc { meta mark set 0x1 accept }
}`);
  const p1 = pkt("1.2.3.4", "10.96.0.1", 6, 5, 443);
  t.is(ev.run(base(nft, "prerouting"), p1, r.reset(false)).verdict, "accept");
  t.is(p1.mark, 1);
  t.is(ev.run(base(nft, "prerouting"), pkt("1.2.3.4", "10.96.0.10", 17, 5, 53), r.reset(false)).verdict, "drop");
  const ranges: [number, number][] = [
    [ip("10.0.0.0"), ip("10.255.255.255")],
    [ip("172.16.0.0"), ip("172.31.255.255")],
    [ip("192.168.1.10"), ip("192.168.1.20")],
  ];
  const rng = new Rng(7);
  const probes = [ip("9.255.255.255"), ip("10.0.0.0"), ip("11.0.0.0"), ip("172.31.255.255"), ip("172.32.0.0"), ip("192.168.1.9"), ip("192.168.1.10"), ip("192.168.1.20"), ip("192.168.1.21")];
  for (let i = 0; i < 300; i++) probes.push(rng.nextU32());
  for (let i = 0; i < 300; i++) probes.push(ip("192.168.1.0") + (rng.nextU32() % 40));
  for (const a of probes) {
    const p = pkt("0.0.0.0", "8.8.8.8", 6, 1, 1);
    p.src = a;
    const want = ranges.some(([lo, hi]) => a >= lo && a <= hi) ? "accept" : "drop";
    t.is(ev.run(base(nft, "prerouting"), p, r.reset(false)).verdict, want);
  }
});

test("numgen random mod N draws from the seeded RNG: reproducible, every branch reached", (t) => {
  const text = `table ip t { chain out { type nat hook output priority -100;
    numgen random mod 3 vmap { 0 : goto e0, 1 : goto e1, 2 : goto e2 }
  }
  chain e0 { meta l4proto tcp dnat to 10.0.0.1:80 }
  chain e1 { meta l4proto tcp dnat to 10.0.0.2:80 }
  chain e2 { meta l4proto tcp dnat to 10.0.0.3:80 }
}`;
  const draw = (seed: number) => {
    const { nft, ev, r } = setup(text, { seed });
    const out: number[] = [];
    for (let i = 0; i < 60; i++) out.push(ev.run(base(nft, "output", "nat"), pkt("1.1.1.1", "10.96.0.5", 6, 1, 80), r.reset(false)).nat!.range!.minIp & 255);
    return out;
  };
  const a = draw(1);
  t.deepEqual(a, draw(1));
  t.notDeepEqual(a, draw(2));
  t.deepEqual([...new Set(a)].sort(), [1, 2, 3]);
});

test("dynamic sets: update @set { ip saddr } adds with the timeout on the virtual clock, and refreshes it", (t) => {
  const { nft, ev, r, clock } = setup(`table ip t {
  set aff { type ipv4_addr; flags dynamic,timeout; timeout 10s }
  chain pre { type filter hook prerouting priority 0;
    ip saddr @aff accept
    tcp dport 80 update @aff { ip saddr }
    drop
  }
}`);
  const go = (src: string, port = 80) => ev.run(base(nft, "prerouting"), pkt(src, "10.0.0.1", 6, 1, port), r.reset(false)).verdict;
  t.is(go("1.1.1.1"), "drop"); // added now, expires at 10 s
  t.is(go("1.1.1.1", 81), "accept");
  clock.advanceTo(9e9);
  t.is(go("1.1.1.1", 81), "accept");
  clock.advanceTo(10e9);
  t.is(go("1.1.1.1", 81), "drop"); // expired
  t.is(go("1.1.1.1"), "drop"); // re-added until 20 s
  clock.advanceTo(19e9);
  t.is(go("1.1.1.1", 81), "accept");
  // A reload keeps what the packet path added.
  const again = compileRuleset(parseNftRuleset("table ip t { set aff { type ipv4_addr; flags dynamic,timeout; timeout 10s }\n chain pre { type filter hook prerouting priority 0; ip saddr @aff accept; drop; } }"), nft, clock.now());
  t.is(ev.run(again.filter.prerouting[0]!, pkt("1.1.1.1", "10.0.0.1", 6, 1, 81), r.reset(false)).verdict, "accept");
});

test("ct state, mark arithmetic, fib daddr type local, reject and masquerade", (t) => {
  const { nft, ev, r } = setup(
    `table ip t {
  chain fwd { type filter hook forward priority 0;
    ct state established,related accept
    mark and 0x4000 == 0x4000 reject with icmp host-unreachable
    fib daddr type local tcp dport 30080 meta mark set meta mark | 0x4000
    ct state new tcp dport 22 reject with tcp reset
  }
  chain post { type nat hook postrouting priority 100;
    mark and 0x4000 == 0 return
    masquerade fully-random
  }
}`,
    { local: [ip("192.168.56.11")] },
  );
  const fwd = base(nft, "forward");
  t.is(ev.run(fwd, pkt("1.1.1.1", "2.2.2.2", 6, 1, 22, { ctState: NFT_CT_ESTABLISHED }), r.reset(false)).verdict, "accept");
  ev.run(fwd, pkt("1.1.1.1", "2.2.2.2", 6, 1, 22), r.reset(false));
  t.is(r.verdict, "drop");
  t.deepEqual(r.reject, { tcpReset: true, code: 3 });
  t.deepEqual(ev.run(fwd, pkt("1.1.1.1", "2.2.2.2", 6, 1, 80, { mark: 0x4001 }), r.reset(false)).reject, { tcpReset: false, code: 1 });
  const np = pkt("1.1.1.1", "192.168.56.11", 6, 1, 30080, { mark: 1 });
  t.is(ev.run(fwd, np, r.reset(false)).verdict, "accept");
  t.is(np.mark, 0x4001);
  t.is(ev.run(base(nft, "postrouting", "nat"), np, r.reset(false)).nat?.kind, "MASQUERADE");
  t.true(r.nat!.randomFully);
  t.is(ev.run(base(nft, "postrouting", "nat"), pkt("1.1.1.1", "2.2.2.2", 6, 1, 1), r.reset(false)).nat, null);
});

test("ip6 tables are kept but not evaluated; base chains sort by priority per hook", (t) => {
  const { nft } = setup(`table ip6 six { chain c { type filter hook input priority -500; } }
table inet a {
  chain late { type filter hook input priority 10; }
  chain early { type filter hook input priority -10; }
}
table ip b {
  chain mid { type filter hook input priority 0; }
  chain n { type nat hook prerouting priority -100; }
}`);
  t.deepEqual(nft.filter.input.map((c) => `${c.table.name}/${c.name}`), ["a/early", "b/mid", "a/late"]);
  t.deepEqual(nft.nat.prerouting.map((c) => c.name), ["n"]);
  t.true(nft.needsConntrack);
});
