/**
 * The cluster's resync hands kube-proxy's iptables proxier the Services its change trackers
 * would (UpdatedServices): an endpoint change in the running cluster writes only that
 * Service's chains, the same restore text as a kube-proxy comparing every Service itself,
 * and traffic moves to the new endpoint.
 */
import test from "ava";
import { ipv4 } from "../../src/base/index.js";
import { bootCluster } from "../../src/cluster/boot.js";
import { runExchange } from "../../src/cluster/exchange.js";
import { defaultCluster } from "../../src/cluster/load.js";
import { changedServiceKeys, syncIptablesRules, type IptablesSyncResult } from "../../src/kube/index.js";
import { endpointChain, servicePortChains } from "../../src/kube/chain-names.js";
import { webAt } from "./web-endpoints.js";

function boot() {
  const spec = defaultCluster();
  spec.proxyMode = "iptables";
  return bootCluster(spec);
}

/** Where 12 new connections from the client Pod to web's ClusterIP were DNATed (from the trace's DNAT events). */
function targets(r: ReturnType<typeof boot>): string[] {
  const client = r.cluster.pod("default", "client")!;
  const vip = ipv4(r.services.service("default", "web")!.clusterIP!);
  const seen = new Set<string>();
  for (let i = 0; i < 12; i++) {
    const res = runExchange(r.cluster, { title: "t", from: client.ns, fromLabel: "client", dst: vip, dstPort: 80, proto: "tcp" });
    if (!res.ok) throw new Error(res.outcome);
    const dnat = res.events.filter((e) => /DNAT/.test(e.detail)).map((e) => /(10\.244\.\d+\.\d+:8080)/.exec(e.detail)?.[1]);
    seen.add(dnat.find((x) => x !== undefined) ?? "none");
  }
  return [...seen].sort();
}

test("an endpoint change in the cluster writes only the changed Service's chains, the same text as comparing every Service", (t) => {
  const r = boot();
  t.deepEqual(targets(r), ["10.244.1.3:8080", "10.244.2.2:8080"]);
  for (const [ips, expect] of [
    [["10.244.1.3"], ["10.244.1.3:8080"]],
    [["10.244.2.2"], ["10.244.2.2:8080"]],
    [["10.244.1.3", "10.244.2.2"], ["10.244.1.3:8080", "10.244.2.2:8080"]],
  ] as const) {
    const before = r.services.model;
    const outcomes = r.services.update(webAt(r.cluster, [...ips]));
    t.deepEqual([...changedServiceKeys(before, r.services.model)], ["default/web"]);
    for (const node of r.cluster.nodes.values()) {
      const sync = outcomes.get(node.spec.name)!.sync as IptablesSyncResult;
      t.false(sync.fullSync);
      t.deepEqual(sync.writtenServices, ["default/web"], node.spec.name);
      // kube-proxy without its change trackers' list compares every Service and writes the same text.
      const existingNatChains = sync.activeNatChains.concat(sync.staleChains);
      const diffed = syncIptablesRules(r.services.model, r.services.options(node), { previous: before, existingNatChains });
      t.is(diffed.text, sync.text, node.spec.name);
      // Only web's Service chains get rules (their comments name the Service); other service chains are stale ones deleted.
      const ruleLines = sync.text.split("\n").filter((l) => /^-A KUBE-(SVC|SEP|EXT|SVL|FW)-/.test(l));
      t.true(ruleLines.length > 0);
      const web = servicePortChains("default/web:http", "tcp");
      const webChains = new Set([web.cluster, web.local, web.external, web.firewall, ...ips.map((ip) => endpointChain("default/web:http", "tcp", `${ip}:8080`))]);
      for (const line of ruleLines) t.true(webChains.has(line.split(" ")[1]!), line);
      for (const line of sync.text.split("\n").filter((l) => /^-X /.test(l))) t.true(sync.staleChains.includes(line.slice(3)), line);
    }
    t.deepEqual(targets(r), [...expect]);
  }
});

test("a Service listed as changed that did not change is compared and skipped; one not listed is never written", (t) => {
  const r = boot();
  const node = r.cluster.nodes.values().next().value!;
  const before = r.services.model;
  const next = r.services.modelFor(webAt(r.cluster, ["10.244.1.3"]));
  const opts = r.services.options(node);
  const existingNatChains = syncIptablesRules(before, opts).activeNatChains;
  const hinted = syncIptablesRules(next, opts, { previous: before, existingNatChains, changedServices: ["default/web", "kube-system/kube-dns"] });
  t.deepEqual(hinted.writtenServices, ["default/web"]);
  t.is(hinted.text, syncIptablesRules(next, opts, { previous: before, existingNatChains }).text);
  // The trackers are the source of truth: a Service they do not list is not rewritten.
  const unlisted = syncIptablesRules(next, opts, { previous: before, existingNatChains, changedServices: [] });
  t.deepEqual(unlisted.writtenServices, []);
});
