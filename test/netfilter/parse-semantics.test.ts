import test from "ava";
import { PodwireError } from "../../src/base/errors.js";
import { ipv4 } from "../../src/base/ipv4-int.js";
import { applyRestore } from "../../src/netfilter/apply-restore.js";
import { formatProbability, quantizeProbability, saveString } from "../../src/netfilter/extensions/values.js";
import { CT_STATE_DNAT, CT_STATE_ESTABLISHED, CT_STATE_RELATED, type Rule } from "../../src/netfilter/model.js";
import { parseRestore, parseRule, tokenizeLine } from "../../src/netfilter/restore-parse.js";
import { printRule, printRuleset } from "../../src/netfilter/save-print.js";
import { load } from "./fixtures/load.js";

test("tokenizer: blanks, quotes, escapes and columns", (t) => {
  const words = tokenizeLine('-A  X -m comment --comment "a \\"b\\" \\\\c" x"y z"w ""');
  t.deepEqual(words.map((w) => [w.text, w.column, w.quoted]), [
    ["-A", 1, false], ["X", 5, false], ["-m", 7, false], ["comment", 10, false], ["--comment", 18, false],
    ['a "b" \\c', 28, true], ["xy z", 42, true], ["w", 48, false], ["", 50, true],
  ]);
  t.deepEqual(tokenizeLine("a\\b\tc").map((w) => w.text), ["a\\b", "c"], "a backslash outside quotes is literal");
  const err = t.throws(() => tokenizeLine('-A X "open', 7, "f.rules"), { instanceOf: PodwireError });
  t.deepEqual(err.location, { file: "f.rules", line: 7, column: 6 });
});

test("saveString quotes like xtables_save_string", (t) => {
  t.is(saveString("ns1/svc1:p80"), '"ns1/svc1:p80"');
  t.is(saveString("flanneld_masq-1"), "flanneld_masq-1");
  t.is(saveString(""), '""');
  t.is(saveString(`a'b"c\\d`), `"a\\'b\\"c\\\\d"`);
});

test("probabilities are kept as the kernel's 31-bit fraction and printed with %.11f", (t) => {
  t.is(formatProbability(quantizeProbability(0.5)), "0.50000000000");
  t.is(formatProbability(quantizeProbability(0.1)), "0.10000000009");
  t.is(formatProbability(quantizeProbability(0.33333)), "0.33332999982");
  t.is(formatProbability(1), "1.00000000000");
  t.is(formatProbability(0), "0.00000000000");
  // An exact tie at the 12th decimal rounds to even, as printf does (toFixed would round up).
  t.is(formatProbability(1 / 4096), "0.00024414062");
});

test("MARK forms become the kernel's (value, mask)", (t) => {
  const mark = (opt: string): Rule["target"] => parseRule(`-j MARK ${opt}`).target;
  t.like(mark("--set-xmark 0x4000/0x4000"), { value: 0x4000, mask: 0x4000, written: "set-xmark" });
  t.like(mark("--set-xmark 0x4000"), { value: 0x4000, mask: 0xffffffff });
  t.like(mark("--set-mark 5"), { value: 5, mask: 0xffffffff, written: "set-mark" });
  t.like(mark("--set-mark 0x1/0x10"), { value: 1, mask: 0x11 });
  t.like(mark("--or-mark 0x00004000"), { value: 0x4000, mask: 0x4000, written: "or-mark" });
  t.like(mark("--and-mark 0x4000"), { value: 0, mask: 0xffffbfff, written: "and-mark" });
  t.like(mark("--xor-mark 0x4000"), { value: 0x4000, mask: 0, written: "xor-mark" });
  t.like(mark("--set-xmark 010"), { value: 8 }, "numbers read like strtoul base 0 (leading 0 is octal)");
});

test("parseRule builds the model from words or text", (t) => {
  const r = parseRule(["-d", "172.30.0.41", "-p", "tcp", "-m", "comment", "--comment", "x y", "--dport", "80", "-j", "KUBE-SVC-X"]);
  t.deepEqual(r.dst, { net: ipv4("172.30.0.41"), mask: 0xffffffff, prefixLen: 32, invert: false });
  t.deepEqual(r.proto, { proto: 6, name: "tcp", invert: false });
  t.deepEqual(r.matches, [{ module: "comment", comment: "x y" }, { module: "tcp", dport: { min: 80, max: 80, invert: false } }]);
  t.deepEqual(r.target, { kind: "jump", chain: "KUBE-SVC-X" });
  const c = parseRule('! -s 10.0.0.1/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -m statistic --mode nth --every 3 --packet 2 -j DROP');
  t.deepEqual(c.src, { net: ipv4("10.0.0.0"), mask: 0xff000000, prefixLen: 8, invert: true });
  t.deepEqual(c.matches[0], { module: "conntrack", ctstate: { states: CT_STATE_RELATED | CT_STATE_ESTABLISHED | CT_STATE_DNAT, invert: true } });
  t.deepEqual(c.matches[1], { module: "statistic", mode: "nth", every: 3, packet: 2, invert: false });
  t.deepEqual(parseRule("-p icmp --icmp-type port-unreachable").matches[0], { module: "icmp", type: 3, codeMin: 3, codeMax: 3, typeName: "port-unreachable", invert: false });
  t.deepEqual(parseRule("-p tcp --syn").matches[0], { module: "tcp", tcpFlags: { mask: 0x17, comp: 0x02, invert: false } });
  t.deepEqual(parseRule("-p udp --sport=53").matches[0], { module: "udp", sport: { min: 53, max: 53, invert: false } }, "--opt=value works as with getopt");
  t.deepEqual(parseRule("-i eth+ -o veth1").inIface, { name: "eth+", prefix: "eth", wildcard: true, invert: false });
  t.deepEqual(parseRule("-c 10 20 -j ACCEPT").counters, { packets: 10, bytes: 20 });
});

test("options go to the most recently loaded extension that knows them", (t) => {
  // Two comment matches: each --comment belongs to the comment match just before it.
  const r = parseRule("-m comment --comment a -m comment --comment b");
  t.deepEqual(r.matches, [{ module: "comment", comment: "a" }, { module: "comment", comment: "b" }]);
  // The implicit tcp match is placed where its first option appears, and loaded once.
  const s = parseRule("-p tcp -m comment --comment x --dport 80 --sport 1");
  t.deepEqual(s.matches.map((m) => m.module), ["comment", "tcp"]);
  t.is(printRule("C", s), "-A C -p tcp -m comment --comment x -m tcp --sport 1 --dport 80");
  // An explicit -m tcp takes the options; nothing is loaded implicitly.
  t.deepEqual(parseRule("-m tcp -p tcp --dport 80").matches.map((m) => m.module), ["tcp"]);
});

test("printRule canonicalises the input forms kube-proxy and others write", (t) => {
  const p = (text: string, table?: "nat" | "filter" | "raw" | "mangle"): string => printRule("C", parseRule(text, table ? { table } : {}));
  t.is(p("-p 6 -s 1.2.3.4/255.255.255.0 -j REJECT --reject-with tcp-rst"), "-A C -s 1.2.3.0/24 -p tcp -j REJECT --reject-with tcp-reset");
  t.is(p("-j REJECT"), "-A C -j REJECT --reject-with icmp-port-unreachable");
  t.is(p("-p all -s 0.0.0.0/0 -i + -j ACCEPT"), "-A C -j ACCEPT");
  t.is(p("-p 47"), "-A C -p gre");
  t.is(p("-p udp --dport :80"), "-A C -p udp -m udp --dport 0:80");
  t.is(p("-p udp ! --dport 0:1023 ! --sport 0"), "-A C -p udp -m udp ! --sport 0 --dport 1024:65535", "iptables-nft prints ! 0:N as N+1:65535");
  t.is(p("-m mark --mark 0xffffffff/0xffffffff"), "-A C -m mark --mark 0xffffffff");
  t.is(p("-j LOG --log-level warning --log-uid --log-prefix abc"), "-A C -j LOG --log-prefix abc --log-uid");
  t.is(p("-p tcp -j DNAT --to-destination 10.0.0.1-10.0.0.3:80-81 --persistent", "nat"), "-A C -p tcp -j DNAT --to-destination 10.0.0.1-10.0.0.3:80-81 --persistent");
  t.is(p("-p tcp -j MASQUERADE --random-fully --to-ports 1024-2048", "nat"), "-A C -p tcp -j MASQUERADE --to-ports 1024-2048 --random-fully");
  t.is(p("-m addrtype --limit-iface-out ! --dst-type LOCAL,BROADCAST"), "-A C -m addrtype ! --dst-type LOCAL,BROADCAST --limit-iface-out");
  t.is(p("-m set --match-set S src ! --update-counters --return-nomatch"), "-A C -m set --match-set S src --return-nomatch ! --update-counters");
  t.is(p("-j CT --zone 3 --helper ftp --notrack", "raw"), "-A C -j CT --notrack --helper ftp --zone 3");
  t.is(p("-m physdev --physdev-is-bridged ! --physdev-out vx+ --physdev-is-in"), "-A C -m physdev --physdev-is-in ! --physdev-out vx+ --physdev-is-bridged");
});

test("without noflush a table is replaced; with noflush kube-proxy's partial restore keeps other chains", (t) => {
  const rs = load("*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-OLD - [0:0]\n:OTHER - [0:0]\n-A PREROUTING -j KUBE-SERVICES\n-A KUBE-SERVICES -j KUBE-OLD\n-A OTHER -j RETURN\nCOMMIT\n");
  applyRestore(rs, parseRestore("*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-NEW - [0:0]\n-A KUBE-SERVICES -j KUBE-NEW\n-X KUBE-OLD\nCOMMIT\n"), { noflush: true });
  t.is(printRuleset(rs), [
    "*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
    ":KUBE-NEW - [0:0]", ":KUBE-SERVICES - [0:0]", ":OTHER - [0:0]",
    "-A PREROUTING -j KUBE-SERVICES", "-A KUBE-SERVICES -j KUBE-NEW", "-A OTHER -j RETURN", "COMMIT", "",
  ].join("\n"));
  applyRestore(rs, parseRestore("*nat\n:POSTROUTING DROP [1:2]\nCOMMIT\n"));
  t.is(printRuleset(rs), "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING DROP [1:2]\nCOMMIT\n");
});

test("commands -I, -R, -D, -F, -Z, -P, -N and -X", (t) => {
  const rs = load(
    "*filter\n:INPUT ACCEPT [5:6]\n-A INPUT -s 1.1.1.1 -j DROP\n[3:4] -A INPUT -s 2.2.2.2 -j DROP\n-I INPUT -j ACCEPT\n-I INPUT 3 -p udp -j ACCEPT\n" +
      "-R INPUT 1 -p tcp -j ACCEPT\n-D INPUT -s 1.1.1.1/32 -j DROP\n-N EXTRA\n-A EXTRA -j RETURN\n-F EXTRA\n-X EXTRA\n-P INPUT DROP\nCOMMIT\n",
  );
  t.is(printRuleset(rs, { counters: true }), "*filter\n:INPUT DROP [5:6]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n[0:0] -A INPUT -p tcp -j ACCEPT\n[0:0] -A INPUT -p udp -j ACCEPT\n[3:4] -A INPUT -s 2.2.2.2/32 -j DROP\nCOMMIT\n");
  applyRestore(rs, parseRestore("*filter\n-Z\n-D INPUT 2\nCOMMIT\n"), { noflush: true });
  t.is(printRuleset(rs, { counters: true }), "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n[0:0] -A INPUT -p tcp -j ACCEPT\n[0:0] -A INPUT -s 2.2.2.2/32 -j DROP\nCOMMIT\n");
  const noCounters = load("*filter\n:INPUT ACCEPT [5:6]\nCOMMIT\n");
  applyRestore(noCounters, parseRestore("*filter\n:INPUT ACCEPT [5:6]\n[1:2] -A INPUT\nCOMMIT\n"), { counters: false });
  t.is(printRuleset(noCounters, { counters: true }), "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n[0:0] -A INPUT\nCOMMIT\n");
});

test("rules keep their source line; applied rules are copies", (t) => {
  const doc = parseRestore("# c\n*filter\n\n-A INPUT -j ACCEPT\nCOMMIT\n");
  const rs = applyRestore(load("*filter\nCOMMIT\n"), doc);
  const rule = rs.tables.get("filter")!.chains.get("INPUT")!.rules[0]!;
  t.deepEqual(rule.source, { line: 4 });
  t.not(rule, doc.tables[0]!.commands[0]!.op === "append" ? (doc.tables[0]!.commands[0] as { rule: Rule }).rule : undefined);
});
