/**
 * The restore text itself: kube-proxy's TestOverallIPTablesRules byte for byte (after its
 * own normalisation), chain-name hashes, rule counts, comments in large clusters, partial
 * syncs and stale chains, jump rules, and loading into podwire's netfilter.
 */
import test from "ava";
import { createHash } from "node:crypto";
import { applyRestore } from "../../src/netfilter/apply-restore.js";
import { newRuleset } from "../../src/netfilter/model.js";
import { parseRestore } from "../../src/netfilter/restore-parse.js";
import {
  base32,
  buildKubeModel,
  chainHash,
  endpointChain,
  goHexMark,
  jumpRulesText,
  partialSyncIptablesRules,
  probability,
  servicePortChains,
  syncIptablesRules,
  type KubeDocument,
} from "../../src/kube/index.js";
import { p80, slice, svc, svcPort80 } from "./build.js";
import { FAKE_MODEL, FAKE_PROXIER, loadDocs, referenceRules, sortIptablesRules } from "./helpers.js";
import { loadNodeRuleset } from "./trace.js";

const overall = () => buildKubeModel(loadDocs("overall-services.yaml"), [], FAKE_MODEL);

test("TestOverallIPTablesRules: byte for byte after kube-proxy's normalisation", (t) => {
  const got = sortIptablesRules(syncIptablesRules(overall(), FAKE_PROXIER).text);
  t.is(got, referenceRules().replace(/^\n+/, ""));
});

test("the reference normalisation is a fixed point on the reference itself", (t) => {
  const ref = referenceRules().replace(/^\n+/, "");
  t.is(sortIptablesRules(ref), ref);
});

test("raw output order follows kube-proxy's writes (header chains, fixed rules, per service, tail)", (t) => {
  const text = syncIptablesRules(overall(), FAKE_PROXIER).text;
  const lines = text.split("\n");
  t.deepEqual(lines.slice(0, 6), ["*filter", ":KUBE-SERVICES - [0:0]", ":KUBE-EXTERNAL-SERVICES - [0:0]", ":KUBE-FORWARD - [0:0]", ":KUBE-NODEPORTS - [0:0]", ":KUBE-PROXY-FIREWALL - [0:0]"]);
  const nat = lines.slice(lines.indexOf("*nat"));
  t.deepEqual(nat.slice(1, 5), [":KUBE-SERVICES - [0:0]", ":KUBE-NODEPORTS - [0:0]", ":KUBE-POSTROUTING - [0:0]", ":KUBE-MARK-MASQ - [0:0]"]);
  t.regex(nat.at(-3)!, /^-A KUBE-SERVICES .*must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS$/);
  t.is(text.slice(-7), "COMMIT\n");
});

test("chain-name hashes of reference/kube-proxy.md §1.3", (t) => {
  t.is(chainHash("ns1/svc1:p80tcp"), "XPGD46QRK7WJZT7O");
  t.is(chainHash("ns1/svc1:p80tcp10.180.0.1:80"), "SXIVWICOYRO3J4NJ");
  t.is(servicePortChains("default/kubernetes:https", "tcp").cluster, "KUBE-SVC-NPX46M4PTMTKRN6Y");
  t.is(endpointChain("ns1/svc1:p80", "tcp", "10.180.0.1:80"), "KUBE-SEP-SXIVWICOYRO3J4NJ");
  const names = servicePortChains("ns5/svc5:p80", "tcp");
  t.deepEqual(names, { cluster: "KUBE-SVC-NUKIZ6OKUXPJNT4C", local: "KUBE-SVL-NUKIZ6OKUXPJNT4C", external: "KUBE-EXT-NUKIZ6OKUXPJNT4C", firewall: "KUBE-FW-NUKIZ6OKUXPJNT4C" });
});

test("base32 follows the RFC 4648 test vectors", (t) => {
  const enc = (s: string) => base32(new TextEncoder().encode(s));
  t.deepEqual(["", "f", "fo", "foo", "foob", "fooba", "foobar"].map(enc), ["", "MY======", "MZXQ====", "MZXW6===", "MZXW6YQ=", "MZXW6YTB", "MZXW6YTBOI======"]);
  t.is(base32(createHash("sha256").update("x").digest()).length, 56);
});

test("probabilities and marks are formatted like Go", (t) => {
  t.is(probability(2), "0.5000000000");
  t.is(probability(3), "0.3333333333");
  t.is(probability(7), "0.1428571429");
  t.is(goHexMark(1 << 14), "0x00004000");
  const text = syncIptablesRules(overall(), { ...FAKE_PROXIER, masqueradeMark: undefined, randomFully: true }).text;
  t.true(text.includes("-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000\n"));
  t.true(text.includes('-j MASQUERADE --random-fully\n'));
  t.true(text.includes("-m mark ! --mark 0x00004000/0x00004000 -j RETURN"));
  const bit = syncIptablesRules(overall(), { ...FAKE_PROXIER, masqueradeMark: undefined, masqueradeBit: 4 }).text;
  t.true(bit.includes("--or-mark 0x00000010\n"));
});

test("nfacct off: no nfacct matches; conntrack liberal: no INVALID drop", (t) => {
  const text = syncIptablesRules(overall(), { ...FAKE_PROXIER, nfacct: false }).text;
  t.false(text.includes("nfacct"));
  t.true(text.includes("-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n"));
  const liberal = syncIptablesRules(overall(), { ...FAKE_PROXIER, conntrackTCPLiberal: true }).text;
  t.false(liberal.includes("INVALID"));
});

function clusterIPServices(services: number, endpoints: number): KubeDocument[] {
  const docs: KubeDocument[] = [];
  for (let s = 0; s < services; s++) {
    docs.push(svc("ns", `svc${s}`, { clusterIP: `172.30.${s >> 8}.${(s & 255) + 1}`, ports: svcPort80() }));
    const eps = Array.from({ length: endpoints }, (_, e) => ({ ip: `10.${(s >> 8) + 1}.${s & 255}.${e + 1}` }));
    if (endpoints > 0) docs.push(slice("ns", `svc${s}`, p80, eps));
  }
  return docs;
}

test("rule counts: ClusterIP-only rulesets have 5 + Σ(2 + 3·endpoints) nat rules", (t) => {
  // number_generated_rules_test.go counts nat rule lines: 4 fixed (KUBE-POSTROUTING ×3,
  // KUBE-MARK-MASQ) + the nodeports tail; per Service the KUBE-SERVICES jump and the
  // masquerade rule; per endpoint the SVC→SEP jump, the hairpin rule and the DNAT.
  for (const [services, endpoints] of [[1, 1], [10, 10], [3, 7], [20, 1]] as const) {
    const r = syncIptablesRules(buildKubeModel(clusterIPServices(services, endpoints), [], FAKE_MODEL), FAKE_PROXIER);
    t.is(r.natRuleLines, 5 + services * (2 + 3 * endpoints), `${services}×${endpoints}`);
    t.is(r.filterRuleLines, 4, "KUBE-FIREWALL + 3 KUBE-FORWARD");
  }
  const r = syncIptablesRules(buildKubeModel(clusterIPServices(10, 10), [], FAKE_MODEL), FAKE_PROXIER);
  t.is(r.natRuleLines, 325);
});

test("more than 1000 endpoints: SVC→SEP and SEP rules lose their comments", (t) => {
  const small = syncIptablesRules(buildKubeModel(clusterIPServices(10, 100), [], FAKE_MODEL), FAKE_PROXIER);
  t.false(small.largeClusterMode);
  t.true(small.text.includes('-m comment --comment "ns/svc0:p80 -> 10.1.0.1:80"'));
  const large = syncIptablesRules(buildKubeModel(clusterIPServices(11, 100), [], FAKE_MODEL), FAKE_PROXIER);
  t.true(large.largeClusterMode);
  const sep = large.text.split("\n").filter((l) => l.startsWith("-A KUBE-SEP-") || (l.startsWith("-A KUBE-SVC-") && !l.includes("cluster IP")));
  t.is(sep.length, 1100 * 3);
  t.true(sep.every((l) => !l.includes("--comment")));
  t.true(large.text.includes('"ns/svc0:p80 cluster IP"'), "service-level comments stay");
});

test("the generated text and the jump rules load into podwire's netfilter", (t) => {
  const rs = loadNodeRuleset(syncIptablesRules(overall(), FAKE_PROXIER).text);
  const filter = rs.tables.get("filter")!;
  const nat = rs.tables.get("nat")!;
  t.deepEqual(filter.chains.get("INPUT")!.rules.map((r) => r.target.kind === "jump" || r.target.kind === "goto" ? r.target.chain : r.target.kind), ["KUBE-FIREWALL", "KUBE-PROXY-FIREWALL", "KUBE-NODEPORTS", "KUBE-EXTERNAL-SERVICES"]);
  t.is(nat.chains.get("PREROUTING")!.rules.length, 1);
  t.is(nat.chains.get("KUBE-SVC-4SW47YFZTEDKD3PK")!.rules.length, 3);
  t.true(rs.tables.has("mangle"));
});

test("every jump target exists and every service chain is used (assertIPTablesRulesEqual's checks)", (t) => {
  const text = syncIptablesRules(overall(), FAKE_PROXIER).text;
  const rs = newRuleset();
  applyRestore(rs, parseRestore(text), { noflush: true });
  for (const table of rs.tables.values()) {
    const referenced = new Set<string>([ "KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-FORWARD", "KUBE-EXTERNAL-SERVICES", "KUBE-PROXY-FIREWALL", "KUBE-FIREWALL"]);
    for (const c of table.chains.values()) {
      for (const r of c.rules) {
        if (r.target.kind === "jump" || r.target.kind === "goto") {
          t.true(table.chains.has(r.target.chain), `${r.target.chain} exists`);
          referenced.add(r.target.chain);
          if (r.target.chain !== "KUBE-MARK-MASQ") t.true(table.chains.get(r.target.chain)!.rules.length > 0, `${r.target.chain} is not empty`);
        }
      }
    }
    for (const c of table.chains.keys()) if (c.startsWith("KUBE-")) t.true(referenced.has(c) || c === "KUBE-MARK-MASQ", `${c} is used`);
  }
});

test("jumpRulesText installs kube-proxy's jumps like EnsureRule(Prepend)", (t) => {
  const text = jumpRulesText();
  t.true(text.includes('-I FORWARD 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES\n'));
  t.true(text.includes('-I PREROUTING 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n'));
  t.true(text.includes("-I INPUT 1 -j KUBE-FIREWALL\n"));
  const rs = newRuleset();
  applyRestore(rs, parseRestore(text), { noflush: true });
  const forward = rs.tables.get("filter")!.chains.get("FORWARD")!.rules.map((r) => (r.target.kind === "jump" ? r.target.chain : ""));
  t.deepEqual(forward, ["KUBE-PROXY-FIREWALL", "KUBE-FORWARD", "KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES"]);
});

test("partial sync rewrites only the changed Service's chains, plus the shared chains and filter", (t) => {
  const before = overall();
  const docs = loadDocs("overall-services.yaml").map((d) => {
    const meta = d.body["metadata"] as { name: string };
    if (d.kind === "EndpointSlice" && meta.name === "svc4-ndwnj") {
      const body = structuredClone(d.body) as { endpoints: unknown[] };
      body.endpoints = body.endpoints.slice(1); // 10.180.0.4 goes away
      return { ...d, body };
    }
    return d;
  });
  const after = buildKubeModel(docs, [], FAKE_MODEL);
  const r = partialSyncIptablesRules(before, after, FAKE_PROXIER);
  t.false(r.fullSync);
  t.deepEqual(r.writtenServices, ["ns4/svc4"]);
  t.deepEqual(r.staleChains, ["KUBE-SEP-UKSFD7AGPMPPLUHC"]);
  const lines = r.text.split("\n");
  t.true(lines.includes(":KUBE-SEP-UKSFD7AGPMPPLUHC - [0:0]"));
  t.true(lines.includes("-X KUBE-SEP-UKSFD7AGPMPPLUHC"));
  t.true(lines.includes(":KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]"));
  t.false(lines.includes(":KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]"), "unchanged svc1 is not rewritten");
  t.true(lines.some((l) => l.startsWith("-A KUBE-SERVICES") && l.includes("ns1/svc1:p80 cluster IP")), "KUBE-SERVICES is always complete");
  t.true(lines.includes("-A KUBE-PROXY-FIREWALL -m comment --comment \"ns5/svc5:p80 traffic not accepted by KUBE-FW-NUKIZ6OKUXPJNT4C\" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP"));
  // Applied on top of the full sync, the result equals a full sync of the new state.
  const node = loadNodeRuleset(syncIptablesRules(before, FAKE_PROXIER).text);
  applyRestore(node, parseRestore(r.text), { noflush: true });
  const fresh = loadNodeRuleset(syncIptablesRules(after, FAKE_PROXIER).text);
  t.deepEqual([...node.tables.get("nat")!.chains.keys()].sort(), [...fresh.tables.get("nat")!.chains.keys()].sort());
  for (const [name, chain] of fresh.tables.get("nat")!.chains) {
    t.is(node.tables.get("nat")!.chains.get(name)!.rules.length, chain.rules.length, name);
  }
});

test("a full sync deletes stale chains it is told exist", (t) => {
  const r = syncIptablesRules(overall(), FAKE_PROXIER, { existingNatChains: ["KUBE-SVC-AAAAAAAAAAAAAAAA", "KUBE-SVC-XPGD46QRK7WJZT7O", "DOCKER", "KUBE-MARK-DROP"] });
  t.deepEqual(r.staleChains, ["KUBE-SVC-AAAAAAAAAAAAAAAA"]);
  t.true(r.fullSync);
});
