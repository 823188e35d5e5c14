/**
 * `applyNftScript` as a transaction that costs what it touches: all-or-nothing without a
 * copy of the ruleset (a late failing line, or a failure found when committing, leaves
 * everything as it was: chains, their identity, set elements), identity of what a script did
 * not change, the order elements list in whatever order they were added and deleted, the
 * change log (`NftChanges`), and the incremental validation agreeing with the full one.
 */
import test from "ava";
import fc from "fast-check";
import { applyNftScript, cloneRuleset, findTable, parseNftRuleset, printRuleset, type NftRuleset, type SetElement } from "../../src/nftables/index.js";
import { newNftChanges, type NftChanges } from "../../src/nftables/changes.js";
import { sortValue } from "../../src/nftables/sort.js";

const BASE = `add table ip kube-proxy { comment "rules for kube-proxy" ; }
add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }
add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }
add chain ip kube-proxy filter-input { type filter hook input priority 0 ; }
add chain ip kube-proxy services
add chain ip kube-proxy masquerading
add chain ip kube-proxy mark-for-masquerade
add chain ip kube-proxy service-A
add chain ip kube-proxy endpoint-A1
add chain ip kube-proxy endpoint-A2
add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }
add set ip kube-proxy cluster-ips { type ipv4_addr ; }
add rule ip kube-proxy nat-prerouting jump services
add rule ip kube-proxy nat-postrouting jump masquerading
add rule ip kube-proxy masquerading masquerade fully-random
add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000
add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip kube-proxy service-A numgen random mod 2 vmap { 0 : goto endpoint-A1 , 1 : goto endpoint-A2 }
add rule ip kube-proxy endpoint-A1 ip saddr 10.0.1.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-A1 meta l4proto tcp dnat to 10.0.1.1:80
add rule ip kube-proxy endpoint-A2 meta l4proto tcp dnat to 10.0.1.2:80
add element ip kube-proxy service-ips { 172.30.0.1 . tcp . 80 : goto service-A }
add element ip kube-proxy service-ips { 172.30.0.2 . tcp . 80 : goto service-A }
add element ip kube-proxy cluster-ips { 172.30.0.1 }
add element ip kube-proxy cluster-ips { 172.30.0.2 }
`;

/** Everything a failed script must leave alone: the listing, and each chain and set object with its rules and elements. */
function snapshot(rs: NftRuleset): { printed: string; objects: unknown[]; rules: unknown[]; elements: SetElement[][] } {
  const t = findTable(rs, "ip", "kube-proxy")!;
  return {
    printed: printRuleset(rs),
    objects: [t, ...t.chains.values(), ...t.sets.values()],
    rules: [...t.chains.values()].map((c) => [...c.rules]),
    elements: [...t.sets.values()].map((s) => [...s.elements]),
  };
}

function assertUnchanged(t: import("ava").ExecutionContext, rs: NftRuleset, before: ReturnType<typeof snapshot>): void {
  const after = snapshot(rs);
  t.is(after.printed, before.printed);
  t.is(after.objects.length, before.objects.length);
  after.objects.forEach((o, i) => t.is(o, before.objects[i]));
  after.rules.forEach((r, i) => t.deepEqual(r, before.rules[i]));
  after.elements.forEach((e, i) => t.deepEqual(e, before.elements[i]));
}

const BUSY_SCRIPT = `add chain ip kube-proxy service-B
flush chain ip kube-proxy service-A
add rule ip kube-proxy service-A goto endpoint-A2
add element ip kube-proxy service-ips { 172.30.0.3 . tcp . 80 : goto service-B }
delete element ip kube-proxy service-ips { 172.30.0.1 . tcp . 80 }
add element ip kube-proxy cluster-ips { 172.30.0.3 }
flush set ip kube-proxy cluster-ips
add element ip kube-proxy cluster-ips { 172.30.0.9 }
delete chain ip kube-proxy endpoint-A1
`;

for (const consume of [false, true]) {
  test(`a failing line late in a script leaves rules, elements and identities as they were (consume: ${consume})`, (t) => {
    const rs = parseNftRuleset(BASE);
    const before = snapshot(rs);
    const changes = newNftChanges();
    const err = t.throws(() => applyNftScript(rs, BUSY_SCRIPT + "add rule ip kube-proxy nope accept\n", "late.nft", { consume, changes }))!;
    t.regex(err.message, /no such chain nope/);
    assertUnchanged(t, rs, before);
    t.deepEqual(changes, newNftChanges());
    // The same ruleset still takes the script without the bad line.
    const after = applyNftScript(rs, BUSY_SCRIPT, "good.nft", { consume });
    t.true(findTable(after, "ip", "kube-proxy")!.chains.has("service-B"));
  });

  test(`a failure found when committing (masquerade reached from a filter chain) changes nothing and points at the statement (consume: ${consume})`, (t) => {
    const rs = parseNftRuleset(BASE);
    const before = snapshot(rs);
    const script = BUSY_SCRIPT + "add rule ip kube-proxy filter-input jump masquerading\n";
    const err = t.throws(() => applyNftScript(rs, script, "commit.nft", { consume })) as Error & { location?: { line: number; column: number } };
    t.regex(err.message, /masquerade is only valid in nat chains at postrouting/);
    assertUnchanged(t, rs, before);
    // The same error as when locations are kept from the start.
    const located = t.throws(() => applyNftScript(rs, script, "commit.nft", { consume, ruleLocs: new Map() }))!;
    t.is(err.message, located.message);
    // A statement the script added is located at its line and column.
    const own = t.throws(() => applyNftScript(rs, BUSY_SCRIPT + "add rule ip kube-proxy endpoint-A2 ip saddr 1.2.3.4 masquerade\n", "own.nft", { consume }))!;
    t.regex(own.message, /^own\.nft:10:53: masquerade is only valid in nat chains at postrouting/);
    assertUnchanged(t, rs, before);
  });

  test(`a jump loop found when committing changes nothing (consume: ${consume})`, (t) => {
    const rs = parseNftRuleset(BASE);
    const before = snapshot(rs);
    t.throws(() => applyNftScript(rs, BUSY_SCRIPT + "add rule ip kube-proxy endpoint-A2 jump services\n", "loop.nft", { consume }), { message: /Too many links/ });
    assertUnchanged(t, rs, before);
  });
}

test("what a script does not change keeps its identity; without consume the input stays as it was", (t) => {
  const rs = parseNftRuleset(BASE);
  const table = findTable(rs, "ip", "kube-proxy")!;
  const printed = printRuleset(rs);
  const next = applyNftScript(rs, "flush chain ip kube-proxy endpoint-A2\nadd rule ip kube-proxy endpoint-A2 meta l4proto tcp dnat to 10.0.1.3:80\nadd element ip kube-proxy cluster-ips { 172.30.0.7 }\n");
  const nt = findTable(next, "ip", "kube-proxy")!;
  t.not(nt, table);
  for (const [name, c] of table.chains) {
    if (name === "endpoint-A2") t.not(nt.chains.get(name), c);
    else t.is(nt.chains.get(name), c, name);
  }
  t.is(nt.sets.get("service-ips"), table.sets.get("service-ips"));
  t.not(nt.sets.get("cluster-ips"), table.sets.get("cluster-ips"));
  t.is(printRuleset(rs), printed);
  t.deepEqual(
    nt.sets.get("cluster-ips")!.elements.map((e) => e.key[0]),
    [0xac1e0001, 0xac1e0002, 0xac1e0007].map((v) => ({ kind: "value", v })),
  );
  // A script that changes nothing returns the same table.
  const same = applyNftScript(next, "add table ip kube-proxy\nadd chain ip kube-proxy services\nflush chain ip kube-proxy mark-for-masquerade-missing\n".replace(/flush.*\n/, "destroy chain ip kube-proxy gone\n"));
  t.is(findTable(same, "ip", "kube-proxy"), nt);
});

test("consume: the result lists what a fresh load lists, chain by chain in creation order", (t) => {
  let rs = parseNftRuleset(BASE);
  t.throws(() => applyNftScript(rs, "delete chain ip kube-proxy endpoint-A1\n", "x", { consume: true }), { message: /still referenced by chain service-A/ });
  rs = applyNftScript(rs, "flush chain ip kube-proxy service-A\nadd rule ip kube-proxy service-A goto endpoint-A2\n", "x", { consume: true });
  rs = applyNftScript(rs, "delete chain ip kube-proxy endpoint-A1\nadd chain ip kube-proxy endpoint-A1\nadd chain ip kube-proxy z\n", "x", { consume: true });
  const fresh = parseNftRuleset(
    BASE.replace("add rule ip kube-proxy service-A numgen random mod 2 vmap { 0 : goto endpoint-A1 , 1 : goto endpoint-A2 }\n", "")
      .replace(/add rule ip kube-proxy endpoint-A1 .*\n/g, "")
      .replace("add chain ip kube-proxy endpoint-A1\n", "") + "add rule ip kube-proxy service-A goto endpoint-A2\nadd chain ip kube-proxy endpoint-A1\nadd chain ip kube-proxy z\n",
  );
  t.is(printRuleset(rs), printRuleset(fresh));
});

// ---------------------------------------------------------------- elements

const ELEMENT_TYPES: { decl: string; value: fc.Arbitrary<string> }[] = [
  { decl: "ipv4_addr", value: fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 255 })).map(([a, b]) => `10.${a}.0.${b}`) },
  { decl: "inet_proto . inet_service", value: fc.tuple(fc.constantFrom("tcp", "udp", "sctp"), fc.integer({ min: 1, max: 2000 })).map(([p, n]) => `${p} . ${n}`) },
  {
    decl: "ipv4_addr . inet_proto . inet_service",
    value: fc.tuple(fc.integer({ min: 0, max: 255 }), fc.constantFrom("tcp", "udp"), fc.integer({ min: 1, max: 65535 })).map(([a, p, n]) => `172.30.${a % 3}.${a} . ${p} . ${n}`),
  },
  { decl: "mark", value: fc.integer({ min: 0, max: 0xffffff }).map((n) => `0x${n.toString(16)}`) },
];

for (const { decl, value } of ELEMENT_TYPES) {
  test(`elements added and deleted in any order, one line or one script at a time, list sorted as nft sorts them: ${decl}`, (t) => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), value), { minLength: 1, maxLength: 60 }), fc.integer({ min: 1, max: 7 }), fc.boolean(), (ops, batch, consume) => {
        let rs = parseNftRuleset(`add table ip t\nadd set ip t s { type ${decl} ; }\n`);
        const present = new Set<string>();
        let lines: string[] = [];
        const flush = (): void => {
          if (lines.length === 0) return;
          rs = applyNftScript(rs, lines.join("\n") + "\n", "e.nft", { consume });
          lines = [];
        };
        for (const [add, v] of ops) {
          if (add && !present.has(v)) {
            lines.push(`add element ip t s { ${v} }`);
            present.add(v);
          } else if (!add && present.has(v)) {
            lines.push(`delete element ip t s { ${v} }`);
            present.delete(v);
          }
          if (lines.length >= batch) flush();
          // Reading in between sorts what is there so far (later reads merge the changes).
          if (ops.length % 3 === 0) void findTable(rs, "ip", "t")!.sets.get("s")!.elements;
        }
        flush();
        const set = findTable(rs, "ip", "t")!.sets.get("s")!;
        // One declaration with the surviving elements, sorted with the reference sort value.
        const fresh = parseNftRuleset(`add table ip t\nadd set ip t s { type ${decl} ; }\n${[...present].map((v) => `add element ip t s { ${v} }\n`).join("")}`);
        const expected = [...findTable(fresh, "ip", "t")!.sets.get("s")!.elements].sort((a, b) => {
          const x = sortValue(set.keyType, a.key);
          const y = sortValue(set.keyType, b.key);
          return x < y ? -1 : x > y ? 1 : 0;
        });
        t.deepEqual(set.elements, expected);
        t.is(printRuleset(rs), printRuleset(fresh));
      }),
      { numRuns: 60, seed: 7 },
    );
  });
}

// ---------------------------------------------------------------- the change log

test("the change log: chains per table, element deltas per set, full for what the incremental path does not follow", (t) => {
  let rs = parseNftRuleset(BASE);
  const changes: NftChanges = newNftChanges();
  rs = applyNftScript(rs, BUSY_SCRIPT, "sync.nft", { consume: true, changes });
  t.false(changes.full);
  t.deepEqual([...changes.chains.keys()], ["ip kube-proxy"]);
  t.deepEqual([...changes.chains.get("ip kube-proxy")!].sort(), ["endpoint-A1", "service-A", "service-B"]);
  const sets = changes.sets.get("ip kube-proxy")!;
  const svc = sets.get("service-ips")!;
  t.false(svc.flushed);
  t.deepEqual(
    svc.added.map((e) => e.key[0]),
    [{ kind: "value", v: 0xac1e0003 }],
  );
  t.deepEqual(
    svc.deleted.map((e) => e.key[0]),
    [{ kind: "value", v: 0xac1e0001 }],
  );
  const cips = sets.get("cluster-ips")!;
  t.true(cips.flushed);
  t.deepEqual(
    cips.added.map((e) => e.key[0]),
    [{ kind: "value", v: 0xac1e0009 }],
  );
  // A second script adds to the same log: an element added then deleted is in neither list.
  applyNftScript(rs, "delete element ip kube-proxy service-ips { 172.30.0.3 . tcp . 80 }\nadd element ip kube-proxy service-ips { 172.30.0.5 . tcp . 80 : goto service-A }\n", "more.nft", { consume: true, changes });
  t.deepEqual(
    changes.sets.get("ip kube-proxy")!.get("service-ips")!.added.map((e) => e.key[0]),
    [{ kind: "value", v: 0xac1e0005 }],
  );
  t.deepEqual(
    changes.sets.get("ip kube-proxy")!.get("service-ips")!.deleted.map((e) => e.key[0]),
    [{ kind: "value", v: 0xac1e0001 }],
  );
  t.false(changes.full);

  const full = (script: string): boolean => {
    const c = newNftChanges();
    applyNftScript(parseNftRuleset(BASE), script, "f.nft", { changes: c });
    return c.full;
  };
  t.false(full("add chain ip kube-proxy x\nadd rule ip kube-proxy x accept\n"));
  t.false(full("add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }\n"), "a base chain re-added as it is");
  t.true(full("add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -90 ; }\n"), "a base chain's priority");
  t.true(full("add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; policy drop ; }\n"), "a base chain's policy");
  t.true(full("add chain ip kube-proxy out { type nat hook output priority -100 ; }\n"), "a new base chain");
  t.true(full("add set ip kube-proxy aff { type ipv4_addr ; flags dynamic,timeout ; timeout 3h ; }\n"), "a set declared");
  t.false(full("add set ip kube-proxy cluster-ips { type ipv4_addr ; }\n"), "an existing set declared again");
  t.true(full("delete set ip kube-proxy cluster-ips\n"), "a set deleted");
  t.true(full("flush table ip kube-proxy\n"));
  t.true(full("add table ip other\n"));
  t.true(full("delete table ip kube-proxy\n"));
  t.true(full("flush ruleset\n"));
});

// ---------------------------------------------------------------- validation and reference counts, incremental vs from scratch

const CHAINS = ["a", "b", "c", "d"];
const chainArb = fc.constantFrom(...CHAINS);
const anyChain = fc.constantFrom(...CHAINS, "pre", "post", "fin");
const stmtArb = fc.oneof(
  chainArb.map((c) => `jump ${c}`),
  chainArb.map((c) => `goto ${c}`),
  fc.constant("masquerade"),
  fc.constant("meta l4proto tcp dnat to 10.0.0.1:80"),
  fc.constant("snat to 10.0.0.9"),
  fc.constant("tcp dport vmap @m"),
  fc.tuple(chainArb, chainArb).map(([x, y]) => `tcp dport vmap { 1 : jump ${x} , 2 : goto ${y} }`),
  fc.constant("accept"),
);
const lineArb = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(anyChain, stmtArb).map(([c, s]) => `add rule ip t ${c} ${s}`) },
  { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 1, max: 5 }), chainArb).map(([p, c]) => `add element ip t m { ${p} : goto ${c} }`) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 5 }).map((p) => `delete element ip t m { ${p} }`) },
  { weight: 1, arbitrary: anyChain.map((c) => `flush chain ip t ${c}`) },
  { weight: 1, arbitrary: chainArb.map((c) => `delete chain ip t ${c}`) },
  { weight: 1, arbitrary: chainArb.map((c) => `add chain ip t ${c}`) },
  { weight: 1, arbitrary: fc.constant("flush map ip t m") },
);
const HEAD = [
  "add table ip t",
  ...CHAINS.map((c) => `add chain ip t ${c}`),
  "add map ip t m { type inet_service : verdict ; }",
  "add chain ip t pre { type nat hook prerouting priority -100 ; }",
  "add chain ip t post { type nat hook postrouting priority 100 ; }",
  "add chain ip t fin { type filter hook input priority 0 ; }",
].join("\n");

const outcome = (f: () => NftRuleset): string => {
  try {
    return printRuleset(f());
  } catch (e) {
    return `error: ${(e as Error).message}`;
  }
};

test("scripts on a loaded ruleset (kept validation and reference counts) and on a fresh copy (checked from scratch) agree", (t) => {
  fc.assert(
    fc.property(fc.array(fc.array(lineArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 10 }), (scripts) => {
      let rs = parseNftRuleset(HEAD + "\n");
      for (const lines of scripts) {
        const text = lines.join("\n") + "\n";
        const fromScratch = outcome(() => applyNftScript(cloneRuleset(rs), text, "s.nft"));
        let next: NftRuleset | null = null;
        const kept = outcome(() => (next = applyNftScript(rs, text, "s.nft", { consume: true })));
        if (kept !== fromScratch) return false;
        if (next) rs = next;
      }
      return true;
    }),
    { numRuns: 400, seed: 11 },
  );
  t.pass();
});

test("a script given as lines reads as the same text (line numbers in errors too)", (t) => {
  const lines = BASE.trimEnd().split("\n");
  t.is(printRuleset(applyNftScript({ tables: [] }, lines, "l.nft")), printRuleset(parseNftRuleset(BASE, "l.nft")));
  // Lines may hold several lines (a nested block), and a line may continue with a backslash.
  const nested = ["table ip t {\n\tchain c {\n\t\taccept\n\t}\n}", "add rule ip t c \\", "drop"];
  t.is(printRuleset(applyNftScript({ tables: [] }, nested, "n.nft")), printRuleset(parseNftRuleset(nested.join("\n") + "\n", "n.nft")));
  const bad = [...lines.slice(0, 5), "add rule ip kube-proxy services bogus"];
  const fromLines = t.throws(() => applyNftScript({ tables: [] }, bad, "b.nft"))!;
  const fromText = t.throws(() => applyNftScript({ tables: [] }, bad.join("\n") + "\n", "b.nft"))!;
  t.is(fromLines.message, fromText.message);
  t.regex(fromLines.message, /^b\.nft:6:/);
});
