/**
 * Two iptables backends in one namespace (iptables-legacy's x_tables and iptables-nft's
 * nf_tables chains): the kernel runs both at the same hooks, so a packet must get past
 * each; an ACCEPT in one does not spare it the other's DROP; each `iptables-save` shows
 * only its own rules; at an equal priority the backend whose tables were created last runs
 * first (nf_hook_entries_grow; test/kernel/iptables-backends.test.ts checks it on a kernel).
 */
import test from "ava";
import { ipv4 } from "../../src/base/index.js";
import { applyRestore } from "../../src/netfilter/apply-restore.js";
import { newRuleset } from "../../src/netfilter/model.js";
import { parseRestore } from "../../src/netfilter/restore-parse.js";
import { printRuleset } from "../../src/netfilter/save-print.js";
import { NamespaceNetfilter } from "../../src/netns/netfilter-glue.js";
import { routedPair } from "./helpers.js";

const NFT_SIDE = `*filter
:FORWARD ACCEPT [0:0]
-A FORWARD -s 10.0.1.0/24 -j ACCEPT
COMMIT
`;
const LEGACY_SIDE = `*filter
:FORWARD DROP [0:0]
COMMIT
`;

function setup(createdFirst: boolean, legacy = LEGACY_SIDE) {
  const p = routedPair();
  const main = newRuleset();
  applyRestore(main, parseRestore(NFT_SIDE, "iptables-nft"));
  const other = newRuleset();
  applyRestore(other, parseRestore(legacy, "iptables-legacy"));
  const nf = new NamespaceNetfilter(p.r, main);
  p.r.nf = nf;
  nf.setOtherBackend(other, "iptables-legacy", createdFirst);
  return { ...p, nf, main, other };
}

function ping(p: ReturnType<typeof setup>): boolean {
  let ok = false;
  p.a.bindPing(7, { onEchoReply: () => (ok = true) });
  p.a.sendPing(ipv4("10.0.2.2"), 7, 1);
  p.sim.run();
  p.a.unbindPing(7);
  return ok;
}

test("a DROP policy in the other backend drops what this backend's rules accept; each save shows only its own", (t) => {
  const p = setup(true);
  t.false(ping(p));
  t.is(p.main.tables.get("filter")!.chains.get("FORWARD")!.rules[0]!.counters.packets, 1, "created later, the nft chain ran first and accepted it");
  t.is(p.other.tables.get("filter")!.chains.get("FORWARD")!.counters.packets, 1, "the legacy FORWARD policy dropped it after all");
  t.notRegex(printRuleset(p.main), /DROP/, "iptables-nft-save shows no DROP");
  t.regex(printRuleset(p.other), /:FORWARD DROP/, "iptables-legacy-save shows it");
});

test("created last, the other backend runs first: its DROP leaves this backend's rules uncounted", (t) => {
  const p = setup(false);
  t.false(ping(p));
  t.is(p.other.tables.get("filter")!.chains.get("FORWARD")!.counters.packets, 1);
  t.is(p.main.tables.get("filter")!.chains.get("FORWARD")!.rules[0]!.counters.packets, 0);
});

test("with an accepting other backend the packet passes both; removing it restores one backend", (t) => {
  const p = setup(true, "*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n");
  t.true(ping(p));
  const q = setup(true);
  q.nf.setOtherBackend(null);
  t.true(ping(q));
  t.is(q.nf.otherBackend, null);
});

test("the other backend's nat table takes part in NAT: its DNAT binds when this backend has none", (t) => {
  const p = setup(true, "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -d 10.96.0.9/32 -p icmp -j DNAT --to-destination 10.0.2.2\nCOMMIT\n");
  p.a.addRoute({ net: ipv4("10.96.0.9"), prefixLen: 32, mask: 0xffffffff }, p.aEth, { gateway: ipv4("10.0.1.1") });
  let from = 0;
  p.a.bindPing(8, { onEchoReply: (_ns, pkt) => (from = ((pkt.buf[pkt.head + 12]! << 24) | (pkt.buf[pkt.head + 13]! << 16) | (pkt.buf[pkt.head + 14]! << 8) | pkt.buf[pkt.head + 15]!) >>> 0) });
  p.a.sendPing(ipv4("10.96.0.9"), 8, 1);
  p.sim.run();
  t.is(from, ipv4("10.96.0.9"), "DNATed to b and un-NATed back");
});
