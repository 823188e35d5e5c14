/**
 * trace-rules' statistic candidates: enumerated depth first with O(rules) memory and a cap on
 * the paths walked, so 2,000 non-terminal statistic rules finish quickly and say they are
 * partial instead of running out of memory.
 */
import test from "ava";
import { applyRestore } from "../../src/netfilter/apply-restore.js";
import { newRuleset } from "../../src/netfilter/model.js";
import { parsePacketSpec, traceRules } from "../../src/netfilter/offline-trace.js";
import { parseRestore } from "../../src/netfilter/restore-parse.js";
import { printRule } from "../../src/netfilter/save-print.js";

const trace = (text: string) =>
  traceRules(applyRestore(newRuleset(), parseRestore(text, "t.rules"), { file: "t.rules" }), { packet: parsePacketSpec("tcp 10.0.0.1:1000 > 10.96.0.10:80"), hook: "prerouting", inIface: "", outIface: "", local: [], mark: 0, ctstate: "NEW", seed: 1, ipsets: null }, (c, r) => printRule(c, r));

test("2,000 non-terminal statistic rules: bounded work, candidates marked partial with their coverage", (t) => {
  const lines = ["*mangle", ":PREROUTING ACCEPT [0:0]"];
  for (let i = 0; i < 2000; i++) lines.push(`-A PREROUTING -m statistic --mode random --probability 0.5 -j MARK --set-xmark 0x${(i % 16).toString(16)}/0xf`);
  lines.push("COMMIT");
  const r = trace(lines.join("\n") + "\n");
  t.false(r.candidatesComplete);
  t.true(r.candidatesCovered < 1e-6);
  t.is(r.rulesEvaluated, 2000);
});

test("kube-proxy-shaped splits are enumerated completely, probabilities summing to 1", (t) => {
  const text = `*nat
:PREROUTING ACCEPT [0:0]
:SVC - [0:0]
:A - [0:0]
:B - [0:0]
:C - [0:0]
-A PREROUTING -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j SVC
-A SVC -m statistic --mode random --probability 0.3333333333 -j A
-A SVC -m statistic --mode random --probability 0.5000000000 -j B
-A SVC -j C
-A A -p tcp -j DNAT --to-destination 10.244.1.2:8080
-A B -p tcp -j DNAT --to-destination 10.244.1.3:8080
-A C -p tcp -j DNAT --to-destination 10.244.2.2:8080
COMMIT
`;
  const r = trace(text);
  t.true(r.candidatesComplete);
  t.is(r.candidatesCovered, 1);
  t.deepEqual(r.candidates.map((c) => c.destination).sort(), ["10.244.1.2:8080", "10.244.1.3:8080", "10.244.2.2:8080"]);
  t.true(Math.abs(r.candidates.reduce((s, c) => s + c.probability, 0) - 1) < 1e-9);
});
