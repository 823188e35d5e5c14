/**
 * The exposition of a running cluster against what happened in it: device and rule counters
 * after known traffic equal what the traces of that traffic say; kube-proxy's metrics follow a
 * sync of the sync loop; and promtool, Prometheus's own parser and linter, reads
 * `podwire metrics` in every mode.
 */
import { spawnSync } from "node:child_process";
import test from "ava";
import { parseIpv4 } from "../../src/base/index.js";
import { runExchange } from "../../src/cluster/exchange.js";
import { DEFAULT_CLUSTER_SOURCE, DEFAULT_CLUSTER_YAML } from "../../src/cluster/default-cluster.js";
import { defaultCluster, parseClusterYaml } from "../../src/cluster/load.js";
import type { ProxyMode } from "../../src/cluster/spec.js";
import type { TraceEvent } from "../../src/netdev/index.js";
import { printRuleset } from "../../src/netfilter/save-print.js";
import { bootObserved, clusterExposition } from "../../src/metrics/index.js";
import { LiveCluster } from "../../src/serve/live-cluster.js";
import { podwire } from "../helpers/run-cli.js";
import { type ParsedExposition, parseExposition, valueOf } from "./parse-exposition.js";

const haveTool = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: "ignore" }).status === 0;
const havePromtool = haveTool("promtool", ["--version"]);
if (!havePromtool) console.log("test/metrics/cluster-metrics.test.ts: skipping the promtool checks: promtool is not installed (apt-get install -y prometheus)");

/**
 * Gauges whose upstream names end in _total (kube-proxy declares them so): promtool's linter
 * flags the suffix, and podwire keeps upstream's names. Anything else it says is a failure.
 */
const UPSTREAM_GAUGES_NAMED_TOTAL = ["kubeproxy_sync_proxy_rules_iptables_total"];

for (const mode of ["iptables", "ipvs", "nftables"] as ProxyMode[]) {
  (havePromtool ? test.serial : test.skip)(`promtool check metrics reads \`podwire metrics --mode ${mode}\` and finds nothing but upstream's names`, async (t) => {
    const r = await podwire("metrics", "--mode", mode);
    t.is(r.code, 0, r.stderr);
    const p = spawnSync("promtool", ["check", "metrics"], { input: r.stdout, encoding: "utf8" });
    // Exit 1: the text does not parse; 3: lint problems only.
    t.not(p.status, 1, p.stderr + p.stdout);
    const problems = (p.stdout + p.stderr).split("\n").filter((l) => l.trim() !== "");
    const unexpected = problems.filter((l) => !UPSTREAM_GAUGES_NAMED_TOTAL.some((name) => l === `${name} non-counter metrics should not have "_total" suffix`));
    t.deepEqual(unexpected, []);
    // The families the issue names are there.
    const parsed = parseExposition(r.stdout);
    for (const name of ["kubeproxy_sync_proxy_rules_duration_seconds", "kubeproxy_sync_proxy_rules_endpoint_changes_total", "kubeproxy_sync_proxy_rules_service_changes_total", "kubeproxy_sync_proxy_rules_last_timestamp_seconds", "node_nf_conntrack_entries", "node_nf_conntrack_entries_limit", "node_nf_conntrack_stat_found", "node_network_receive_packets_total", "node_network_transmit_drop_total", "podwire_iptables_rule_packets_total"]) {
      t.truthy(parsed.types.get(name), name);
    }
    if (mode === "iptables") t.is(parsed.types.get("kubeproxy_sync_proxy_rules_iptables_total"), "gauge");
    if (mode === "ipvs") {
      t.is(parsed.types.get("node_ipvs_connections_total"), "counter");
      t.is(parsed.types.get("node_ipvs_backend_connections_active"), "gauge");
      // The demo reached web through IPVS: some backend of 10.96.0.2:80 had connections.
      const web = [...parsed.samples].filter(([k]) => k.startsWith("node_ipvs_backend_connections_inactive{") && k.includes('local_address="10.96.0.2"'));
      t.true(web.length >= 2, "one series per backend of the web Service, on every node");
    }
  });
}

/** (node, table, chain, position) of every rule step the trace events walked, counted. */
function ruleHits(events: readonly TraceEvent[], nodes: ReadonlySet<string>): Map<string, number> {
  const hits = new Map<string, number>();
  for (const e of events) {
    if (e.rules === null || e.stage === "ipvs" || !nodes.has(e.netns)) continue;
    for (const r of e.rules) {
      const key = r.position === null ? `policy|${e.netns}|${r.table}|${r.chain}` : `rule|${e.netns}|${r.table}|${r.chain}|${r.position}`;
      hits.set(key, (hits.get(key) ?? 0) + 1);
    }
  }
  return hits;
}

/** The same keys, from the rule counters of an exposition. */
function ruleCounters(p: ParsedExposition): Map<string, number> {
  const out = new Map<string, number>();
  for (const [key, v] of p.samples) {
    const rule = /^podwire_iptables_rule_packets_total\{chain="([^"]*)",node="([^"]*)",rule="([0-9]+)",table="([^"]*)",target="[^"]*"\}$/.exec(key);
    if (rule) out.set(`rule|${rule[2]}|${rule[4]}|${rule[1]}|${rule[3]}`, v);
    const policy = /^podwire_iptables_policy_packets_total\{chain="([^"]*)",node="([^"]*)",policy="[A-Z]+",table="([^"]*)"\}$/.exec(key);
    if (policy) out.set(`policy|${policy[2]}|${policy[3]}|${policy[1]}`, v);
  }
  return out;
}

/** The policy counters the test above saw change, and those its traces walked, for the test below. */
let policyDeltas: { counted: Map<string, number>; expected: Map<string, number> } | null = null;

test.serial("after N pings and an HTTP request to a Service, device and rule counters are what the traces say", (t) => {
  const spec = defaultCluster();
  const running = bootObserved(spec);
  const { cluster } = running;
  const client = cluster.pod("default", "client")!;
  const web1 = cluster.pod("default", "web-1")!;
  const ping = () => runExchange(cluster, { title: "ping", from: client.ns, fromLabel: "pod/default/client", dst: web1.spec.podIP, dstPort: 0, proto: "icmp" });
  t.true(ping().ok, "the first ping resolves the neighbours");
  const before = parseExposition(clusterExposition(cluster, running.recorder));
  const N = 5;
  const events: TraceEvent[] = [];
  for (let i = 0; i < N; i++) {
    const r = ping();
    t.true(r.ok, r.outcome);
    events.push(...r.events);
  }
  const mid = parseExposition(clusterExposition(cluster, running.recorder));
  const http = runExchange(cluster, { title: "http", from: client.ns, fromLabel: "pod/default/client", dst: parseIpv4(running.services.service("default", "web")!.clusterIP!), dstPort: 80, proto: "tcp" });
  t.true(http.ok, http.outcome);
  events.push(...http.events);
  const after = parseExposition(clusterExposition(cluster, running.recorder));

  // Devices: N echo requests out of worker-1 over VXLAN to web-1 on worker-2, N replies back.
  const delta = (name: string, node: string, device: string) => valueOf(mid, name, { node, device }) - valueOf(before, name, { node, device });
  const pings = (node: string, device: string) => ({ rx: delta("node_network_receive_packets_total", node, device), tx: delta("node_network_transmit_packets_total", node, device) });
  t.deepEqual(pings("worker-1", client.hostVeth!.name), { rx: N, tx: N }, "the client's veth: requests in, replies out");
  t.deepEqual(pings("worker-1", "flannel.1"), { rx: N, tx: N });
  t.deepEqual(pings("worker-1", "eth0"), { rx: N, tx: N });
  t.deepEqual(pings("worker-2", "eth0"), { rx: N, tx: N });
  t.deepEqual(pings("worker-2", "flannel.1"), { rx: N, tx: N });
  t.deepEqual(pings("worker-2", web1.hostVeth!.name), { rx: N, tx: N }, "web-1's veth: replies in, requests out");
  t.deepEqual(pings("control-plane", "eth0"), { rx: 0, tx: 0 }, "nothing went to the control plane");
  const exposed = (name: string, node: string, device: string) => valueOf(after, name, { node, device });
  t.is(exposed("node_network_receive_bytes_total", "worker-1", "eth0"), cluster.node("worker-1")!.eth0.stats.rxBytes, "the exposition shows the device's own counter");

  // Rules: every rule the traces walked counted once per walk, and no other rule counted.
  const nodes = new Set(cluster.nodes.keys());
  const expected = ruleHits(events, nodes);
  const counted = new Map<string, number>();
  const b = ruleCounters(before);
  for (const [key, v] of ruleCounters(after)) {
    const d = v - (b.get(key) ?? 0);
    if (d !== 0) counted.set(key, d);
  }
  const rules = (m: Map<string, number>) => Object.fromEntries([...m].filter(([k]) => k.startsWith("rule|")).sort());
  t.true(Object.keys(rules(expected)).length > 10, `${Object.keys(rules(expected)).length} rules walked`);
  t.deepEqual(rules(counted), rules(expected));
  policyDeltas = { counted, expected };
  // The HTTP request was DNATed by a KUBE-SEP rule: a nat rule that counted exactly once.
  t.true([...counted].some(([k, v]) => k.startsWith("rule|worker-1|nat|KUBE-SEP-") && v === 1));
});

// Built-in chains' policy counters (`:INPUT ACCEPT [p:b]`) in the tables kube-proxy loads
// into: an `iptables-restore --noflush` replaces the table's chain objects, and the engine must
// count policies on the ones the ruleset shows, not on the ones it linked before the restore.
test.serial("policy counters of filter and nat are what the traces say", (t) => {
  t.truthy(policyDeltas, "runs after the test above");
  const policies = (m: Map<string, number>) => Object.fromEntries([...m].filter(([k]) => /^policy\|[^|]+\|(filter|nat)\|/.test(k)).sort());
  t.true(Object.keys(policies(policyDeltas!.expected)).length > 0);
  t.deepEqual(policies(policyDeltas!.counted), policies(policyDeltas!.expected));
});
