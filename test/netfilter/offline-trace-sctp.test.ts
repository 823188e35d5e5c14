/** The offline walk follows an SCTP association's first packet (an INIT) through `-p sctp -m sctp` rules. */
import test from "ava";
import { applyRestore } from "../../src/netfilter/apply-restore.js";
import { newRuleset } from "../../src/netfilter/model.js";
import { packetBytes, parsePacketSpec, traceRules } from "../../src/netfilter/offline-trace.js";
import { parseRestore } from "../../src/netfilter/restore-parse.js";
import { printRule } from "../../src/netfilter/save-print.js";

const RULES = `*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SVC - [0:0]
-A PREROUTING -d 10.96.0.20/32 -p sctp -m sctp --dport 3868 -j KUBE-SVC
-A KUBE-SVC -p sctp -m statistic --mode random --probability 0.5 -j DNAT --to-destination 10.244.1.2:3868
-A KUBE-SVC -p sctp -j DNAT --to-destination 10.244.2.2:3868
COMMIT
`;

test("an sctp packet spec reads, builds an INIT, and walks -m sctp rules to both endpoints", (t) => {
  const packet = parsePacketSpec("sctp 10.244.1.5:40000 > 10.96.0.20:3868");
  t.like(packet, { proto: "sctp", sport: 40000, dport: 3868 });
  const b = packetBytes(packet);
  t.is(b[9], 132, "IPPROTO_SCTP");
  t.is(b[32], 1, "first chunk: INIT");
  const r = traceRules(applyRestore(newRuleset(), parseRestore(RULES, "t.rules"), { file: "t.rules" }), { packet, hook: "prerouting", inIface: "", outIface: "", local: [], mark: 0, ctstate: "NEW", seed: 1, ipsets: null }, (c, rule) => printRule(c, rule));
  t.deepEqual(r.candidates.map((c) => c.destination).sort(), ["10.244.1.2:3868", "10.244.2.2:3868"]);
  t.is(r.rules[0]!.chain, "PREROUTING");
  // The same rule does not match UDP to the port.
  const udp = traceRules(applyRestore(newRuleset(), parseRestore(RULES, "t.rules"), { file: "t.rules" }), { packet: parsePacketSpec("udp 10.244.1.5:40000 > 10.96.0.20:3868"), hook: "prerouting", inIface: "", outIface: "", local: [], mark: 0, ctstate: "NEW", seed: 1, ipsets: null }, (c, rule) => printRule(c, rule));
  t.is(udp.dnat, null);
});
