/** The parser and `applyNftScript`: both input forms, flush/delete, partial syncs, the model's typed values. */
import test from "ava";
import { applyNftScript, findTable, parseNftRuleset, printRuleset } from "../../src/nftables/index.js";
import { goodFixtures } from "./fixtures/corpus.js";

const FLAT = `add table ip kube-proxy { comment "rules for kube-proxy" ; }
add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }
add chain ip kube-proxy services
add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }
add rule ip kube-proxy nat-prerouting jump services
add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 meta l4proto tcp dnat to 10.180.0.1:80
add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }
`;

const NESTED = `table ip kube-proxy {
	comment "rules for kube-proxy"
	map service-ips {
		type ipv4_addr . inet_proto . inet_service : verdict
		elements = { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }
	}

	chain nat-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		jump services
	}

	chain services {
		ip daddr . meta l4proto . th dport vmap @service-ips
	}

	chain service-ULMVA6XW-ns1/svc1/tcp/p80 {
		meta l4proto tcp dnat to 10.180.0.1:80
	}
}
`;

test("the knftables transaction and the nft list form give the same ruleset", (t) => {
  const a = parseNftRuleset(FLAT);
  const b = parseNftRuleset(NESTED);
  t.is(printRuleset(a), NESTED);
  t.is(printRuleset(b), NESTED);
  // Same model (chains are created in another order, so compare per name).
  const ta = findTable(a, "ip", "kube-proxy")!;
  const tb = findTable(b, "ip", "kube-proxy")!;
  for (const [name, c] of ta.chains) t.deepEqual(c.rules.map((r) => r.stmts), tb.chains.get(name)!.rules.map((r) => r.stmts), name);
  t.deepEqual(ta.sets.get("service-ips")!.elements, tb.sets.get("service-ips")!.elements);
});

test("values are decoded once: addresses and ports are numbers, keys are typed tuples", (t) => {
  const rs = parseNftRuleset(FLAT);
  const set = findTable(rs, "ip", "kube-proxy")!.sets.get("service-ips")!;
  t.deepEqual(set.keyType, ["ipv4_addr", "inet_proto", "inet_service"]);
  t.deepEqual(set.elements[0]!.key, [
    { kind: "value", v: (172 << 24 >>> 0) + (30 << 16) + 41 },
    { kind: "value", v: 6 },
    { kind: "value", v: 80 },
  ]);
  t.deepEqual(set.elements[0]!.data, { kind: "verdict", verdict: { kind: "goto", chain: "service-ULMVA6XW-ns1/svc1/tcp/p80" } });
  const rule = findTable(rs, "ip", "kube-proxy")!.chains.get("service-ULMVA6XW-ns1/svc1/tcp/p80")!.rules[0]!;
  t.deepEqual(rule.stmts[1], { kind: "nat", type: "dnat", addr: { kind: "value", v: 0x0ab40001 }, port: { kind: "value", v: 80 }, flags: [] });
});

test("a partial sync applies on top of a full one: flush chain, delete element, delete chain", (t) => {
  const full = parseNftRuleset(FLAT);
  const partial = `add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
flush chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
delete element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 }
delete chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
`;
  const after = applyNftScript(full, partial, "partial.nft");
  const table = findTable(after, "ip", "kube-proxy")!;
  t.false(table.chains.has("service-ULMVA6XW-ns1/svc1/tcp/p80"));
  t.is(table.sets.get("service-ips")!.elements.length, 0);
  // The input ruleset is untouched.
  t.true(findTable(full, "ip", "kube-proxy")!.chains.has("service-ULMVA6XW-ns1/svc1/tcp/p80"));
});

test("a failing script leaves the ruleset as it was (one transaction)", (t) => {
  const full = parseNftRuleset(FLAT);
  const before = printRuleset(full);
  t.throws(() => applyNftScript(full, "flush map ip kube-proxy service-ips\nadd rule ip kube-proxy nope accept\n"));
  t.is(printRuleset(full), before);
});

test("flush set, flush table, delete table, flush ruleset", (t) => {
  let rs = parseNftRuleset(FLAT);
  rs = applyNftScript(rs, "flush map ip kube-proxy service-ips\n");
  t.is(findTable(rs, "ip", "kube-proxy")!.sets.get("service-ips")!.elements.length, 0);
  rs = applyNftScript(rs, "flush table ip kube-proxy\n");
  t.true([...findTable(rs, "ip", "kube-proxy")!.chains.values()].every((c) => c.rules.length === 0));
  t.is(applyNftScript(rs, "delete table ip kube-proxy\n").tables.length, 0);
  t.is(applyNftScript(rs, "flush ruleset\n").tables.length, 0);
});

test("insert rule goes first; position and index place rules; handles come from the table", (t) => {
  let rs = parseNftRuleset("add table ip t\nadd chain ip t c\nadd rule ip t c accept\nadd rule ip t c drop\n");
  const c = (): string[] => findTable(rs, "ip", "t")!.chains.get("c")!.rules.map((r) => JSON.stringify(r.stmts[0]));
  rs = applyNftScript(rs, "insert rule ip t c return\n");
  t.deepEqual(c(), ['{"kind":"verdict","verdict":{"kind":"return"}}', '{"kind":"verdict","verdict":{"kind":"accept"}}', '{"kind":"verdict","verdict":{"kind":"drop"}}']);
  const accept = findTable(rs, "ip", "t")!.chains.get("c")!.rules[1]!;
  t.is(accept.handle, 2); // chain c has handle 1
  rs = applyNftScript(rs, `add rule ip t c position ${accept.handle} counter\ndelete rule ip t c handle ${accept.handle}\n`);
  t.is(findTable(rs, "ip", "t")!.chains.get("c")!.rules.map((r) => r.stmts[0]!.kind).join(","), "verdict,counter,verdict");
});

test("priorities print by name within ±10 of a standard one allowed at the hook", (t) => {
  const rs = parseNftRuleset(
    "add table ip t\nadd chain ip t a { type filter hook prerouting priority -110 ; }\nadd chain ip t b { type filter hook output priority -110 ; }\nadd chain ip t c { type filter hook input priority 10 ; }\nadd chain ip t d { type filter hook input priority -301 ; }\n",
  );
  const text = printRuleset(rs);
  t.regex(text, /chain a \{\n\t\ttype filter hook prerouting priority dstnat - 10; policy accept;/);
  t.regex(text, /chain b \{\n\t\ttype filter hook output priority -110; policy accept;/);
  t.regex(text, /priority filter \+ 10;/);
  t.regex(text, /priority raw - 1;/);
});

test("dependencies nft leaves out are left out (meta l4proto tcp th dport → tcp dport)", (t) => {
  const rs = parseNftRuleset("add table ip t\nadd chain ip t c\nadd rule ip t c meta l4proto tcp th dport 80\nadd rule ip t c meta l4proto tcp dnat to 1.2.3.4\n");
  t.is(printRuleset(rs), "table ip t {\n\tchain c {\n\t\ttcp dport 80\n\t\tmeta l4proto tcp dnat to 1.2.3.4\n\t}\n}\n");
});

for (const [name, text] of goodFixtures()) {
  test(`print is stable on the corpus: ${name}`, (t) => {
    const once = printRuleset(parseNftRuleset(text, name));
    t.is(printRuleset(parseNftRuleset(once, `${name} (printed)`)), once);
  });
}
