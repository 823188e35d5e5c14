/**
 * The compiled code's special forms agree with what the rules say: anonymous sets inline
 * (small lists, dense verdict maps indexed by value) and hashed (large ones), interval and
 * concatenation-with-range sets, interface names (interned strings) in matches and sets,
 * packets without a transport header, the NAT request read from the code, and `numgen inc`
 * counting on over a reload.
 */
import test from "ava";
import { Rng, VirtualClock } from "../../src/base/index.js";
import { NFT_CT_NEW, NftEvaluator, NftPacket, NftResult, compileRuleset, parseNftRuleset, type CompiledNft } from "../../src/nftables/index.js";

const ip = (s: string): number => s.split(".").reduce((n, o) => n * 256 + Number(o), 0) >>> 0;

function pkt(src: string, dst: string, proto: number, sport: number, dport: number, extra: Partial<NftPacket> = {}): NftPacket {
  const p = new NftPacket();
  const buf = new Uint8Array(24);
  buf[0] = 0x45;
  buf[9] = proto;
  buf[20] = sport >> 8;
  buf[21] = sport & 255;
  buf[22] = dport >> 8;
  buf[23] = dport & 255;
  Object.assign(p, { buf, ipOff: 0, thOff: 20, len: 24, src: ip(src), dst: ip(dst), proto, ctState: NFT_CT_NEW, iifname: "eth0", oifname: "" }, extra);
  return p;
}

function setup(text: string) {
  const rs = parseNftRuleset(text, "fast.nft");
  const nft = compileRuleset(rs);
  const ev = new NftEvaluator({ rtnType: () => 1, rng: new Rng(1), clock: new VirtualClock() });
  return { rs, nft, ev, r: new NftResult() };
}

const input = (nft: CompiledNft) => nft.filter.input[0]!;

test("anonymous sets: a short list, a long list and a prefix list answer as the list says, negated too", (t) => {
  const many = Array.from({ length: 40 }, (_, i) => `10.1.0.${i * 3}`);
  const { nft, ev, r } = setup(`table ip t { chain in { type filter hook input priority 0; policy drop;
    ip saddr { 1.1.1.1, 2.2.2.2 } tcp dport != { 22, 80 } accept
    ip saddr { ${many.join(", ")} } accept
    ip saddr != { 10.0.0.0/8, 192.168.0.0/16 } tcp dport 443 accept
  } }`);
  const go = (src: string, port: number) => ev.run(input(nft), pkt(src, "9.9.9.9", 6, 1, port), r.reset(false)).verdict;
  t.is(go("1.1.1.1", 443), "accept");
  t.is(go("1.1.1.1", 80), "drop");
  t.is(go("3.3.3.3", 8080), "drop");
  for (let i = 0; i < 130; i++) t.is(go(`10.1.0.${i}`, 1), i % 3 === 0 && i < 120 ? "accept" : "drop", `10.1.0.${i}`);
  t.is(go("8.8.8.8", 443), "accept");
  t.is(go("10.9.9.9", 443), "drop");
  t.is(go("192.168.3.3", 443), "drop");
});

test("verdict maps on a value: dense (numgen-like), sparse and large ones pick the element's verdict; a missing value ends the rule", (t) => {
  const big = Array.from({ length: 30 }, (_, i) => `${2000 + i * 11} : jump c${i % 3}`);
  const { nft, ev, r } = setup(`table ip t {
  chain in { type filter hook input priority 0; policy accept;
    tcp dport vmap { 1 : jump c0, 2 : jump c1, 4 : drop, 0 : jump c2 }
    tcp dport vmap { 60000 : drop, 30000 : jump c1 }
    tcp dport vmap { ${big.join(", ")} }
    meta mark set 0x9
  }
  chain c0 { meta mark set 0x10 }
  chain c1 { meta mark set 0x11 }
  chain c2 { meta mark set 0x12 return }
}`);
  const go = (port: number) => {
    const p = pkt("1.1.1.1", "2.2.2.2", 6, 1, port);
    const v = ev.run(input(nft), p, r.reset(true)).verdict;
    return `${v}:${p.mark.toString(16)}:${r.hits!.map((h) => `${h.chain.name}#${h.ruleIndex}`).join(",")}`;
  };
  // The jumping rule's hit, then the target chain's, as nft's trace lists them.
  t.is(go(1), "accept:9:in#0,c0#0,in#3,in#-1");
  t.is(go(0), "accept:9:in#0,c2#0,in#3,in#-1");
  t.is(go(4), "drop:0:in#0");
  t.is(go(3), "accept:9:in#3,in#-1"); // a hole of the dense map: no element
  t.is(go(60000), "drop:0:in#1");
  t.is(go(30000), "accept:9:in#1,c1#0,in#3,in#-1");
  t.is(go(2000 + 11 * 7), "accept:9:in#2,c1#0,in#3,in#-1");
  t.is(go(2001), "accept:9:in#3,in#-1");
  // No transport header (a later fragment): each vmap ends its rule, as nft_payload does.
  const frag = pkt("1.1.1.1", "2.2.2.2", 6, 1, 1, { thOff: -1 });
  t.is(ev.run(input(nft), frag, r.reset(true)).verdict, "accept");
  t.deepEqual(
    r.hits!.map((h) => h.ruleIndex),
    [3, -1],
  );
  t.is(r.rules, 4);
});

test("interface names in matches, anonymous sets and named sets", (t) => {
  const { nft, ev, r } = setup(`table ip t {
  set ifs { type ifname; elements = { "cni0", "flannel.1" } }
  chain in { type filter hook input priority 0; policy drop;
    iifname "lo" accept
    iifname @ifs oifname != "eth0" accept
    iifname { "veth1", "veth2" } accept
  }
}`);
  const go = (inName: string, outName = "") => ev.run(input(nft), pkt("1.1.1.1", "2.2.2.2", 6, 1, 1, { iifname: inName, oifname: outName }), r.reset(false)).verdict;
  t.is(go("lo"), "accept");
  t.is(go("cni0", "eth1"), "accept");
  t.is(go("cni0", "eth0"), "drop");
  t.is(go("flannel.1"), "accept");
  t.is(go("veth2"), "accept");
  t.is(go("veth3"), "drop");
  t.is(go(""), "drop");
});

test("concatenations with ranges and interval maps", (t) => {
  const { nft, ev, r } = setup(`table ip t {
  set pairs { type ipv4_addr . inet_service; flags interval; elements = { 10.0.0.0/8 . 80-90, 192.168.0.0/16 . 22 } }
  map nets { type ipv4_addr : verdict; flags interval; elements = { 10.0.0.0/8 : accept, 172.16.0.0/12 : drop } }
  chain in { type filter hook input priority 0; policy drop;
    ip saddr . tcp dport @pairs accept
    ip daddr vmap @nets
    meta l4proto . th dport { tcp . 1000-2000, udp . 53 } accept
  }
}`);
  const go = (src: string, dst: string, proto: number, port: number) => ev.run(input(nft), pkt(src, dst, proto, 1, port), r.reset(false)).verdict;
  t.is(go("10.2.3.4", "1.1.1.1", 6, 85), "accept");
  t.is(go("10.2.3.4", "1.1.1.1", 6, 91), "drop");
  t.is(go("192.168.9.9", "1.1.1.1", 6, 22), "accept");
  t.is(go("1.1.1.1", "10.9.9.9", 6, 5), "accept");
  t.is(go("1.1.1.1", "172.20.0.1", 6, 1500), "drop");
  t.is(go("1.1.1.1", "8.8.8.8", 6, 1500), "accept");
  t.is(go("1.1.1.1", "8.8.8.8", 17, 53), "accept");
  t.is(go("1.1.1.1", "8.8.8.8", 17, 54), "drop");
});

test("NAT requests come from the code: dnat, snat ranges, masquerade; a traversal without one leaves none", (t) => {
  const { nft, ev, r } = setup(`table ip t {
  chain n { type nat hook postrouting priority 100;
    ip daddr 1.1.1.1 meta l4proto tcp snat to 192.168.9.1-192.168.9.10:1000-2000 random,persistent
    ip daddr 2.2.2.2 masquerade fully-random
  }
  chain d { type nat hook prerouting priority -100; ip daddr 3.3.3.3 meta l4proto tcp dnat to 10.244.1.5:8080; }
}`);
  const run = (dst: string) => ev.run(dst === "3.3.3.3" ? nft.nat.prerouting[0]! : nft.nat.postrouting[0]!, pkt("9.9.9.9", dst, 6, 1, 1), r.reset(false)).nat;
  t.deepEqual(run("1.1.1.1"), { kind: "SNAT", range: { minIp: ip("192.168.9.1"), maxIp: ip("192.168.9.10"), minPort: 1000, maxPort: 2000 }, random: true, randomFully: false, persistent: true });
  t.deepEqual(run("2.2.2.2"), { kind: "MASQUERADE", range: null, random: false, randomFully: true, persistent: false });
  t.deepEqual(run("3.3.3.3"), { kind: "DNAT", range: { minIp: ip("10.244.1.5"), maxIp: ip("10.244.1.5"), minPort: 8080, maxPort: 8080 }, random: false, randomFully: false, persistent: false });
  t.is(run("4.4.4.4"), null);
});

test("numgen inc counts on over a reload of the same rule, as the kernel's expression does; a new rule starts at 0", (t) => {
  const text = `table ip t {
  chain in { type filter hook input priority 0; numgen inc mod 3 vmap { 0 : jump a, 1 : jump b, 2 : jump c } }
  chain a { meta mark set 0x1 }
  chain b { meta mark set 0x2 }
  chain c { meta mark set 0x3 }
}`;
  const rs = parseNftRuleset(text, "inc.nft");
  const ev = new NftEvaluator({ rtnType: () => 1, rng: new Rng(1), clock: new VirtualClock() });
  const r = new NftResult();
  const marks = (nft: CompiledNft, n: number) =>
    Array.from({ length: n }, () => {
      const p = pkt("1.1.1.1", "2.2.2.2", 6, 1, 1);
      ev.run(input(nft), p, r.reset(false));
      return p.mark;
    });
  let nft = compileRuleset(rs);
  t.deepEqual(marks(nft, 4), [1, 2, 3, 1]);
  nft = compileRuleset(rs, nft, 0);
  t.deepEqual(marks(nft, 2), [2, 3]);
  t.deepEqual(marks(compileRuleset(parseNftRuleset(text, "inc.nft")), 2), [1, 2]);
});
