import test from "ava";
import { parseRestore } from "../../src/netfilter/restore-parse.js";
import { printRuleset } from "../../src/netfilter/save-print.js";
import { canonicalFixtures, fixture, load, roundTrip } from "./fixtures/load.js";

for (const name of canonicalFixtures()) {
  test(`round trip is byte-identical: ${name}`, (t) => {
    const text = fixture(name);
    t.is(roundTrip(text), text);
  });
}

test("kube-proxy's restore input parses and prints in iptables-save form", (t) => {
  const rs = load(fixture("kube-proxy-overall-input.rules"));
  const out = printRuleset(rs);
  const lines = new Set(out.split("\n"));
  for (const expected of [
    '-A KUBE-SERVICES -d 172.30.0.41/32 -p tcp -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O',
    '-A KUBE-SERVICES -d 172.30.0.46/32 -p tcp -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable',
    '-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
    "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000",
    "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0",
    '-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC',
    '-A KUBE-SEP-I77PXRDZVX7PMWMN -p tcp -m comment --comment "ns5/svc5:p80" -m recent --set --name KUBE-SEP-I77PXRDZVX7PMWMN --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.180.0.3:80',
    '-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-I77PXRDZVX7PMWMN --mask 255.255.255.255 --rsource -j KUBE-SEP-I77PXRDZVX7PMWMN',
    '-A KUBE-NODEPORTS -d 127.0.0.0/8 -p tcp -m comment --comment "ns2/svc2:p80" -m tcp --dport 3001 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-GNZBNJ2PO5MGZ6GT',
    "-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP",
    '-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "other traffic to ns5/svc5:p80 will be dropped by KUBE-PROXY-FIREWALL"',
  ]) {
    t.true(lines.has(expected), expected);
  }
  // iptables-save order: filter before nat, built-ins first, user chains sorted by name.
  t.true(out.startsWith("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:KUBE-EXTERNAL-SERVICES - [0:0]\n"));
  t.regex(out, /\n:KUBE-SEP-UKSFD7AGPMPPLUHC - \[0:0\]\n:KUBE-SERVICES - \[0:0\]\n/);
});

test("the canonical kube-proxy node dump is a fixed point of print∘apply∘parse after the input form", (t) => {
  const canonical = roundTrip(fixture("kube-proxy-overall-input.rules"));
  t.is(roundTrip(canonical), canonical);
  // Every line of kube-proxy's own output is in the full node dump (which adds the jump rules).
  const node = new Set(fixture("kube-proxy-node.rules").split("\n"));
  for (const line of canonical.split("\n")) if (line.startsWith("-A ")) t.true(node.has(line), line);
});

test("parse keeps lines, chain declarations and counters", (t) => {
  const doc = parseRestore(fixture("counters.rules"), "counters.rules");
  t.deepEqual(doc.tables.map((x) => [x.name, x.line]), [["filter", 1], ["nat", 15]]);
  const filter = doc.tables[0]!;
  t.deepEqual(filter.chainDecls[0], { name: "INPUT", policy: "DROP", counters: { packets: 1843, bytes: 221904 }, line: 2, policyColumn: 8 });
  t.deepEqual(filter.chainDecls[3]!.policy, null);
  const first = filter.commands[0]!;
  t.is(first.op, "append");
  t.is(first.line, 6);
  if (first.op === "append") {
    t.deepEqual(first.rule.counters, { packets: 12, bytes: 3456 });
    t.is(first.rule.inIface?.name, "lo");
  }
});
