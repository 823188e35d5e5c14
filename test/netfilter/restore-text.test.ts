/**
 * restoreText (parse and apply in one pass, as loadRestore does) against
 * applyRestore(parseRestore(…)): the same rulesets from every fixture, flush and --noflush,
 * with and without --counters, the chains it reports as touched, and rules that are the
 * parser's own (not copies) but never shared between two restores.
 */
import test from "ava";
import { applyRestore, restoreText } from "../../src/netfilter/apply-restore.js";
import { newRuleset, type TableName } from "../../src/netfilter/model.js";
import { parseRestore } from "../../src/netfilter/restore-parse.js";
import { printRuleset } from "../../src/netfilter/save-print.js";
import { canonicalFixtures, fixture, load } from "./fixtures/load.js";

const BASE = "*filter\n:INPUT DROP [3:4]\n:KEEP - [0:0]\n-A INPUT -j KEEP\n-A KEEP -s 10.0.0.1/32 -j ACCEPT\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n:OLD - [0:0]\nCOMMIT\n";

for (const name of [...canonicalFixtures(), "kube-proxy-overall-input.rules"]) {
  test(`one-pass restore of ${name} gives what parse + apply gives`, (t) => {
    const text = fixture(name);
    for (const counters of [true, false]) {
      t.is(printRuleset(restoreText(newRuleset(), text, { counters }), { counters: true }), printRuleset(applyRestore(newRuleset(), parseRestore(text), { counters }), { counters: true }));
      const a = restoreText(load(BASE), text, { noflush: true, counters });
      const b = applyRestore(load(BASE), parseRestore(text), { noflush: true, counters });
      t.is(printRuleset(a, { counters: true }), printRuleset(b, { counters: true }), "--noflush on top of other tables");
    }
  });
}

test("one-pass restore reports the chains it touched, and every chain for -F/-X/-Z without a name", (t) => {
  const touched = new Map<TableName, Set<string>>();
  const rs = restoreText(load(BASE), "*filter\n:NEW - [0:0]\n-A NEW -j ACCEPT\n-I INPUT 1 -j NEW\nCOMMIT\n", { noflush: true }, touched);
  t.deepEqual([...touched.get("filter")!].sort(), ["INPUT", "NEW"]);
  t.false(touched.has("nat"));
  const all = new Map<TableName, Set<string>>();
  restoreText(rs, "*nat\n-F\n-X\nCOMMIT\n", { noflush: true }, all);
  t.deepEqual([...all.get("nat")!].sort(), ["INPUT", "OLD", "OUTPUT", "POSTROUTING", "PREROUTING"]);
});

test("one-pass restore keeps the parsed rule objects; two restores of one text share none", (t) => {
  const text = "*filter\n-A INPUT -s 10.0.0.2/32 -j DROP\nCOMMIT\n";
  const a = restoreText(newRuleset(), text);
  const b = restoreText(newRuleset(), text);
  const ra = a.tables.get("filter")!.chains.get("INPUT")!.rules[0]!;
  const rb = b.tables.get("filter")!.chains.get("INPUT")!.rules[0]!;
  t.not(ra, rb);
  t.not(ra.counters, rb.counters);
  ra.counters.packets = 5;
  t.is(rb.counters.packets, 0);
});

test("jump targets name their declared chains", (t) => {
  const rs = restoreText(newRuleset(), "*nat\n:KUBE-SVC-ABCDEFGHIJKLMNOP - [0:0]\n:KUBE-SEP-ABCDEFGHIJKLMNOP - [0:0]\n-A PREROUTING -j KUBE-SVC-ABCDEFGHIJKLMNOP\n-A KUBE-SVC-ABCDEFGHIJKLMNOP -j KUBE-SEP-ABCDEFGHIJKLMNOP\nCOMMIT\n");
  const nat = rs.tables.get("nat")!;
  const jump = nat.chains.get("PREROUTING")!.rules[0]!.target;
  t.is(jump.kind, "jump");
  t.true(jump.kind === "jump" && jump.chain === nat.chains.get("KUBE-SVC-ABCDEFGHIJKLMNOP")!.name);
});
