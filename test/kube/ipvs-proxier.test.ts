/**
 * IPVS mode: kube-proxy's own IPVS proxier_test.go expectations (fixtures/ipvs-proxier-test-
 * cases.json), the documented differences from iptables mode, kube-ipvs0 binding, the ipset
 * and iptables text (order, formats, loading into podwire).
 */
import test from "ava";
import { applyIpsetRestore, IpsetRegistry, parseIpsetRestore, saveIpsets } from "../../src/netfilter/ipset/index.js";
import { applyRestore } from "../../src/netfilter/apply-restore.js";
import { newRuleset } from "../../src/netfilter/model.js";
import { parseRestore } from "../../src/netfilter/restore-parse.js";
import { printRuleset } from "../../src/netfilter/save-print.js";
import {
  buildKubeModel,
  IPVS_FLAG_PERSISTENT,
  IPVS_FLAG_SOURCE_HASH,
  IPVS_IPSETS,
  ipvsJumpRulesText,
  syncIptablesRules,
  syncIpvs,
  virtualServerKey,
  type IpvsSyncResult,
} from "../../src/kube/index.js";
import { slice, svc } from "./build.js";
import { FAKE_MODEL, FAKE_PROXIER, loadDocs } from "./helpers.js";
import { caseDocs, chainSummaries, fakeIpvsOptions, ipvsModel, loadCases } from "./ipvs-helpers.js";

const servers = (r: IpvsSyncResult): Record<string, string[]> =>
  Object.fromEntries(r.virtualServers.map((vs) => [virtualServerKey(vs), vs.realServers.map((rs) => `${rs.address}:${rs.port}`)]));
const entries = (r: IpvsSyncResult, set: string): string[] => r.ipsets.find((s) => s.name === set)!.entries;

for (const c of loadCases()) {
  test(`kube-proxy ${c.name}`, (t) => {
    const r = syncIpvs(ipvsModel(caseDocs(c), c.nodePortRange), fakeIpvsOptions(c.nodeIPs, c.nodePortAddresses));
    if (c.expect.virtualServers) t.deepEqual(servers(r), c.expect.virtualServers);
    for (const [set, want] of Object.entries(c.expect.ipsets ?? {})) t.deepEqual(entries(r, set), [...want].sort(), set);
    const chains = chainSummaries(r.iptablesText);
    for (const [chain, want] of Object.entries(c.expect.iptables ?? {})) t.deepEqual(chains.get(chain), want, chain);
    if (c.expect.persistent !== undefined) {
      for (const vs of r.virtualServers) {
        t.is(vs.flags & IPVS_FLAG_PERSISTENT, IPVS_FLAG_PERSISTENT);
        t.is(vs.persistentTimeout, c.expect.persistent);
      }
    }
    for (const vs of r.virtualServers) for (const rs of vs.realServers) t.is(rs.weight, 1);
  });
}

// ---------------------------------------------------------------- IPVS vs iptables

const localNodePort = (endpoints: { ip: string; node?: string; ready?: boolean; serving?: boolean; terminating?: boolean }[]) =>
  ipvsModel([
    svc("ns1", "web", {
      type: "LoadBalancer", clusterIP: "10.20.30.41", externalTrafficPolicy: "Local", healthCheckNodePort: 30000, externalIPs: ["50.60.70.81"],
      ports: [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3001 }],
    }, { loadBalancer: { ingress: [{ ip: "1.2.3.4" }] } }),
    slice("ns1", "web", [{ name: "p80", port: 80 }], endpoints),
  ]);
const NODE = fakeIpvsOptions(["100.101.102.103"]);

test("eTP=Local without local endpoints: IPVS falls back to the cluster endpoints where iptables mode drops", (t) => {
  const model = localNodePort([{ ip: "10.180.1.1", node: "other-node" }, { ip: "10.180.2.1", node: "third-node" }]);
  const r = syncIpvs(model, NODE);
  const all = ["10.180.1.1:80", "10.180.2.1:80"];
  t.deepEqual(servers(r), {
    "10.20.30.41:80/TCP": all,
    "1.2.3.4:80/TCP": all,
    "100.101.102.103:3001/TCP": all,
    "50.60.70.81:80/TCP": all,
  });
  const ipt = syncIptablesRules(model, { ...FAKE_PROXIER, localAddresses: ["100.101.102.103", "127.0.0.1"] }).text;
  t.regex(ipt, /-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1\/web:p80 has no local endpoints" .*-d 1\.2\.3\.4 .*-j DROP/);
  t.regex(ipt, /-A KUBE-EXTERNAL-SERVICES .*--dport 3001 -j DROP/);
});

test("eTP=Local with a local endpoint: external virtual servers take only it, the cluster IP takes all", (t) => {
  const r = syncIpvs(localNodePort([{ ip: "10.180.0.1", node: "test-node" }, { ip: "10.180.1.1", node: "other-node" }]), NODE);
  t.deepEqual(servers(r), {
    "10.20.30.41:80/TCP": ["10.180.0.1:80", "10.180.1.1:80"],
    "1.2.3.4:80/TCP": ["10.180.0.1:80"],
    "100.101.102.103:3001/TCP": ["10.180.0.1:80"],
    "50.60.70.81:80/TCP": ["10.180.0.1:80"],
  });
  t.deepEqual(entries(r, "KUBE-LOOP-BACK"), ["10.180.0.1,tcp:80,10.180.0.1"]);
  t.deepEqual(entries(r, "KUBE-EXTERNAL-IP-LOCAL"), ["50.60.70.81,tcp:80"]);
  t.deepEqual(entries(r, "KUBE-EXTERNAL-IP"), []);
  t.deepEqual(entries(r, "KUBE-HEALTH-CHECK-NODE-PORT"), ["30000"]);
});

test("no endpoints: virtual servers without real servers where iptables mode REJECTs", (t) => {
  const model = ipvsModel([svc("ns1", "empty", { type: "ClusterIP", clusterIP: "10.20.30.50", ports: [{ name: "p80", port: 80, protocol: "TCP" }] })]);
  const r = syncIpvs(model, NODE);
  t.deepEqual(servers(r), { "10.20.30.50:80/TCP": [] });
  t.deepEqual(r.dummyAddresses, ["10.20.30.50"]);
  t.regex(syncIptablesRules(model, FAKE_PROXIER).text, /has no endpoints" .* -j REJECT/);
});

test("iTP=Local ClusterIP without local endpoints: nothing to fall back to (cluster endpoints are not computed)", (t) => {
  const model = ipvsModel([
    svc("ns1", "itp", { type: "ClusterIP", clusterIP: "10.20.30.51", internalTrafficPolicy: "Local", ports: [{ name: "p80", port: 80, protocol: "TCP" }] }),
    slice("ns1", "itp", [{ name: "p80", port: 80 }], [{ ip: "10.180.1.1", node: "other-node" }]),
  ]);
  t.deepEqual(servers(syncIpvs(model, NODE)), { "10.20.30.51:80/TCP": [] });
});

test("terminating endpoints: serving+terminating ones serve when none is ready; not-serving ones never", (t) => {
  const model = ipvsModel([
    svc("ns1", "term", { type: "ClusterIP", clusterIP: "10.20.30.52", ports: [{ name: "p80", port: 80, protocol: "TCP" }] }),
    slice("ns1", "term", [{ name: "p80", port: 80 }], [
      { ip: "10.180.0.1", node: "test-node", ready: false, serving: true, terminating: true },
      { ip: "10.180.0.2", node: "test-node", ready: false, serving: false, terminating: true },
    ]),
  ]);
  const r = syncIpvs(model, NODE);
  t.deepEqual(servers(r), { "10.20.30.52:80/TCP": ["10.180.0.1:80"] });
  // Hairpin entries cover every local endpoint, whatever its state.
  t.deepEqual(entries(r, "KUBE-LOOP-BACK"), ["10.180.0.1,tcp:80,10.180.0.1", "10.180.0.2,tcp:80,10.180.0.2"]);
});

test("kube-ipvs0 holds every cluster IP and the external/LB IPs that are not on another interface", (t) => {
  const model = ipvsModel([
    svc("ns1", "a", { type: "ClusterIP", clusterIP: "10.20.30.60", externalIPs: ["100.101.102.103", "50.60.70.81"], ports: [{ name: "p80", port: 80, protocol: "TCP" }] }),
    svc("ns1", "b", { type: "LoadBalancer", clusterIP: "10.20.30.61", ports: [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3005 }] }, { loadBalancer: { ingress: [{ ip: "1.2.3.4" }, { ip: "100.101.102.104" }] } }),
  ]);
  const r = syncIpvs(model, fakeIpvsOptions(["100.101.102.103", "100.101.102.104"]));
  t.deepEqual(r.dummyAddresses, ["1.2.3.4", "10.20.30.60", "10.20.30.61", "50.60.70.81"]);
  t.deepEqual(entries(r, "KUBE-IPVS-IPS"), ["1.2.3.4", "10.20.30.60", "10.20.30.61", "50.60.70.81"]);
  t.deepEqual(r.nodePortAddresses, ["100.101.102.103", "100.101.102.104"]);
  t.true(r.virtualServers.some((vs) => vs.address === "100.101.102.103" && vs.port === 80 && vs.kind === "externalIP"));
});

test("NodePort virtual servers: loopback is never a node address; --nodeport-addresses selects", (t) => {
  const model = ipvsModel([svc("ns1", "np", { type: "NodePort", clusterIP: "10.20.30.70", ports: [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3007 }] })]);
  const two = ["192.168.0.2", "10.0.2.15"];
  const all = syncIpvs(model, fakeIpvsOptions(two));
  t.deepEqual(all.virtualServers.filter((v) => v.kind === "nodePort").map((v) => v.address), ["10.0.2.15", "192.168.0.2"]);
  const sel = syncIpvs(model, fakeIpvsOptions(two, ["192.168.0.0/24", "127.0.0.0/8"]));
  t.deepEqual(sel.virtualServers.filter((v) => v.kind === "nodePort").map((v) => v.address), ["192.168.0.2"]);
  // No node address at all: the NodePort (and its set entry) is skipped, as kube-proxy does.
  const none = syncIpvs(model, fakeIpvsOptions([]));
  t.deepEqual(none.virtualServers.map((v) => v.kind), ["clusterIP"]);
  t.deepEqual(entries(none, "KUBE-NODE-PORT-TCP"), []);
});

test("scheduler option: mh adds the source-hash flag; affinity sets persistence", (t) => {
  const model = ipvsModel([
    svc("ns1", "s", { type: "ClusterIP", clusterIP: "10.20.30.80", sessionAffinity: "ClientIP", sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } }, ports: [{ name: "p80", port: 80, protocol: "UDP" }] }),
  ]);
  const [vs] = syncIpvs(model, { ...NODE, scheduler: "mh" }).virtualServers;
  t.is(vs!.scheduler, "mh");
  t.is(vs!.flags, IPVS_FLAG_PERSISTENT | IPVS_FLAG_SOURCE_HASH);
  t.is(vs!.persistentTimeout, 600);
  t.is(syncIpvs(model, NODE).virtualServers[0]!.scheduler, "rr");
});

// ---------------------------------------------------------------- ipset and iptables text

const overall = () => buildKubeModel(loadDocs("overall-services.yaml"), [], FAKE_MODEL);

test("ipset text: every set created as kube-proxy's ipset util creates it, entries sorted", (t) => {
  const r = syncIpvs(overall(), FAKE_PROXIER);
  const creates = r.ipsetText.split("\n").filter((l) => l.startsWith("create "));
  t.is(creates.length, IPVS_IPSETS.length);
  t.true(creates.includes("create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536"));
  t.true(creates.includes("create KUBE-NODE-PORT-TCP bitmap:port range 0-65535"));
  t.true(creates.includes("create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536"));
  t.false(r.ipsetText.includes("comment"));
  t.true(r.ipsetText.includes("add KUBE-LOAD-BALANCER-SOURCE-CIDR 5.6.7.8,tcp:80,203.0.113.0/25\n"));
});

test("ipset text loads into podwire's ipset and saves back in canonical form", (t) => {
  const r = syncIpvs(overall(), FAKE_PROXIER);
  const reg = new IpsetRegistry();
  applyIpsetRestore(reg, parseIpsetRestore(r.ipsetText));
  const saved = saveIpsets(reg);
  t.true(saved.includes("create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12\n"));
  t.true(saved.includes("create KUBE-NODE-PORT-TCP bitmap:port range 0-65535\n"));
  for (const s of r.ipsets) {
    const got = saved.split("\n").filter((l) => l.startsWith(`add ${s.name} `)).map((l) => l.slice(`add ${s.name} `.length)).sort();
    t.deepEqual(got, [...s.entries].sort(), s.name);
  }
  // Re-applying the same text with -exist is a no-op, as kube-proxy's resyncs are.
  applyIpsetRestore(reg, parseIpsetRestore(r.ipsetText), { exist: true });
  t.is(saveIpsets(reg), saved);
});

test("iptables text: nat then filter, kube-proxy's chain list, rules in writeIptablesRules order", (t) => {
  const text = syncIpvs(overall(), FAKE_PROXIER).iptablesText;
  const lines = text.split("\n");
  t.deepEqual(lines.slice(0, 7), ["*nat", ":KUBE-SERVICES - [0:0]", ":KUBE-POSTROUTING - [0:0]", ":KUBE-NODE-PORT - [0:0]", ":KUBE-LOAD-BALANCER - [0:0]", ":KUBE-MARK-MASQ - [0:0]", "-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN"]);
  const filterAt = lines.indexOf("*filter");
  t.deepEqual(lines.slice(filterAt + 1, filterAt + 7), [
    ":KUBE-FORWARD - [0:0]", ":KUBE-NODE-PORT - [0:0]", ":KUBE-PROXY-FIREWALL - [0:0]", ":KUBE-SOURCE-RANGES-FIREWALL - [0:0]", ":KUBE-IPVS-FILTER - [0:0]", ":KUBE-IPVS-OUT-FILTER - [0:0]",
  ]);
  t.true(text.includes('-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ\n'));
  t.true(text.includes("-A KUBE-IPVS-OUT-FILTER -s 5.6.7.8 -m ipvs --vaddr 5.6.7.8 --vproto tcp --vport 80 -j DROP\n"));
  t.true(text.includes("-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT\nCOMMIT\n"));
  const nat = text.slice(0, text.indexOf("*filter"));
  const order = ["KUBE-LOOP-BACK dst,dst,src", "KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER", "KUBE-NODE-PORT-LOCAL-TCP", "KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ", "KUBE-CLUSTER-IP dst,dst !", "KUBE-EXTERNAL-IP dst,dst -j", "-j KUBE-NODE-PORT\n", "-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ", "KUBE-CLUSTER-IP dst,dst -j ACCEPT", "-j MARK --or-mark 0x4000"];
  const at = order.map((s) => nat.indexOf(s));
  t.false(at.includes(-1), String(at));
  t.deepEqual([...at].sort((a, b) => a - b), at);
});

test("masquerade variants for the cluster-IP set: masqueradeAll, detector, neither (src,dst)", (t) => {
  const line = (o: object) => syncIpvs(overall(), { ...FAKE_PROXIER, ...o }).iptablesText.split("\n").find((l) => l.includes("--match-set KUBE-CLUSTER-IP") && l.includes("KUBE-MARK-MASQ"));
  t.regex(line({ masqueradeAll: true })!, /KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ$/);
  t.regex(line({})!, /KUBE-CLUSTER-IP dst,dst ! -s 10\.0\.0\.0\/8 -j KUBE-MARK-MASQ$/);
  t.regex(line({ clusterCIDR: null })!, /KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ$/);
});

test("a source range containing the node IP adds the LB IP to SOURCE-IP instead of an OUT-FILTER drop", (t) => {
  const model = ipvsModel([
    svc("ns1", "fw", { type: "LoadBalancer", clusterIP: "10.20.30.90", loadBalancerSourceRanges: ["100.101.0.0/16"], ports: [{ name: "p80", port: 80, protocol: "TCP" }] }, { loadBalancer: { ingress: [{ ip: "1.2.3.4" }] } }),
  ]);
  const r = syncIpvs(model, NODE);
  t.deepEqual(entries(r, "KUBE-LOAD-BALANCER-SOURCE-IP"), ["1.2.3.4,tcp:80,1.2.3.4"]);
  t.false(r.iptablesText.includes("KUBE-IPVS-OUT-FILTER -s"));
  t.deepEqual(chainSummaries(r.iptablesText).get("KUBE-SOURCE-RANGES-FIREWALL"), ["RETURN KUBE-LOAD-BALANCER-SOURCE-CIDR", "RETURN KUBE-LOAD-BALANCER-SOURCE-IP", "DROP"]);
});

test("jump rules and sync text load into podwire's netfilter (ipvs match included) and print back", (t) => {
  const rs = newRuleset();
  applyRestore(rs, parseRestore(ipvsJumpRulesText()), { noflush: true });
  const text = syncIpvs(overall(), FAKE_PROXIER).iptablesText;
  applyRestore(rs, parseRestore(text), { noflush: true });
  const saved = printRuleset(rs);
  t.true(saved.includes("-A KUBE-IPVS-OUT-FILTER -s 5.6.7.8/32 -m ipvs --vproto 6 --vaddr 5.6.7.8 --vport 80 -j DROP"));
  t.true(saved.includes('-A OUTPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-OUT-FILTER'));
  const input = rs.tables.get("filter")!.chains.get("INPUT")!.rules.map((r) => (r.target.kind === "jump" ? r.target.chain : ""));
  t.deepEqual(input, ["KUBE-IPVS-FILTER", "KUBE-PROXY-FIREWALL", "KUBE-NODE-PORT"]);
  // Re-applying a sync is idempotent.
  applyRestore(rs, parseRestore(text), { noflush: true });
  t.is(printRuleset(rs), saved);
});
