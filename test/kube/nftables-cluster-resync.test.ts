/**
 * The cluster's resync hands kube-proxy's nftables proxier what its change trackers would:
 * the Services that changed and the EndpointSlices by Service. An endpoint change in the
 * running cluster then writes only that Service's chains and elements, the same text as a
 * kube-proxy comparing the models itself, and traffic moves to the new endpoint, through
 * `ClusterServices.update` and through the sync loop.
 */
import test from "ava";
import { ipv4 } from "../../src/base/index.js";
import { bootCluster } from "../../src/cluster/boot.js";
import { runExchange } from "../../src/cluster/exchange.js";
import { defaultCluster } from "../../src/cluster/load.js";
import { NftablesMode } from "../../src/cluster/proxy-modes/index.js";
import { KubeProxySyncLoop } from "../../src/cluster/sync-loop.js";
import { changedServiceKeys, slicesByServiceOf, syncNftablesRules } from "../../src/kube/index.js";
import { webAt } from "./web-endpoints.js";

function boot() {
  const spec = defaultCluster();
  spec.proxyMode = "nftables";
  const r = bootCluster(spec);
  return { ...r, mode: r.services.proxy as NftablesMode };
}

/** Where 12 new connections from the client Pod to web's ClusterIP were DNATed (from the nft trace of the endpoint chain). */
function targets(r: ReturnType<typeof boot>): string[] {
  const client = r.cluster.pod("default", "client")!;
  const vip = ipv4(r.services.service("default", "web")!.clusterIP!);
  const seen = new Set<string>();
  for (let i = 0; i < 12; i++) {
    const res = runExchange(r.cluster, { title: "t", from: client.ns, fromLabel: "client", dst: vip, dstPort: 80, proto: "tcp" });
    if (!res.ok) throw new Error(res.outcome);
    seen.add(res.events.map((e) => /dnat to (\d+\.\d+\.\d+\.\d+:\d+) ⇒ DNAT/.exec(e.detail)?.[1]).find((x) => x !== undefined) ?? "none");
  }
  return [...seen].sort();
}

/** The chain a line names (after `ip kube-proxy`), or the map/set for element lines. */
const objectOf = (line: string): string => line.split(" ")[4]!;

test("an endpoint change in the cluster writes only the changed Service's chains and elements, with the changed Services handed over", (t) => {
  const r = boot();
  t.deepEqual(targets(r), ["10.244.1.3:8080", "10.244.2.2:8080"]);

  // One endpoint (web-1) removed, then web-0 replaced by web-1: each a one-Service change.
  for (const [ips, expect] of [
    [["10.244.1.3"], ["10.244.1.3:8080"]],
    [["10.244.2.2"], ["10.244.2.2:8080"]],
  ] as const) {
    const before = new Map([...r.cluster.nodes.keys()].map((n) => [n, r.mode.lastSync(n)!.state] as const));
    const model = r.services.model;
    const outcomes = r.services.update(webAt(r.cluster, [...ips]));
    t.deepEqual([...changedServiceKeys(model, r.services.model)], ["default/web"]);
    for (const node of r.cluster.nodes.values()) {
      const name = node.spec.name;
      t.true(r.mode.lastSyncHinted(name), `${name}: the resync was given the changed Services`);
      const sync = r.mode.lastSync(name)!;
      t.false(sync.fullSync);
      t.deepEqual(sync.writtenServices, ["default/web"], name);
      const lines = sync.text.trimEnd().split("\n");
      // Only web's service and endpoint chains: no table, base chain, set or other Service's line.
      for (const line of lines) t.regex(objectOf(line), /^(service|endpoint|external|local)-[A-Z0-9]{8}-default\/web\/tcp\/http/, `${name}: ${line}`);
      t.true(lines.some((l) => l.startsWith("add rule") && /numgen random mod 1 vmap/.test(l)), name);
      t.true(lines.some((l) => l.startsWith("flush chain ip kube-proxy endpoint-")), `${name}: the old endpoint's chain is flushed as stale`);
      t.false(lines.some((l) => / (add|flush|delete) (set|map|table) /.test(l)), name);
      t.true(outcomes.get(name)!.computeMs >= 0);
      // The new endpoint's chain, web's service and external chains rewritten; the old endpoint's chain flushed as stale.
      const oldIp = ips[0] === "10.244.1.3" ? "10.244.2.2" : "10.244.1.3";
      t.deepEqual(
        lines.map((l) => `${l.split(" ")[0]} ${l.split(" ")[1]} ${objectOf(l).replace(/-[A-Z0-9]{8}-default\/web\/tcp\/http/, "")}`),
        [
          `add chain endpoint__${ips[0]}/8080`,
          `flush chain endpoint__${ips[0]}/8080`,
          "add chain service",
          "flush chain service",
          "add chain external",
          "flush chain external",
          "add rule service",
          "add rule external",
          "add rule external",
          "add rule service",
          `add rule endpoint__${ips[0]}/8080`,
          `add rule endpoint__${ips[0]}/8080`,
          `flush chain endpoint__${oldIp}/8080`,
        ],
        name,
      );
      // A kube-proxy comparing the models itself (from the same previous state) writes the same text.
      const diffed = syncNftablesRules(r.services.model, r.mode.options(node), { previous: before.get(name)!, now: sync.state.time, dryRun: true });
      t.is(diffed.text, sync.text, name);
      t.is(diffed.cleanupText, sync.cleanupText, name);
    }
    t.deepEqual(targets(r), [...expect]);
  }
});

test("the cluster's change lists changed, added and deleted Services, and slices by Service", (t) => {
  const r = boot();
  const before = r.services.model;
  const next = r.services.modelFor(webAt(r.cluster, ["10.244.2.2"]));
  const change = r.services.changeTo(next);
  t.is(change.from, before);
  t.deepEqual([...change.changedServices], ["default/web"]);
  t.is(r.services.changeTo(next), change, "kept for the same pair of models");
  t.deepEqual(change.slicesByService.get("default/web")!.map((s) => s.name), ["web-manual"]);
  t.deepEqual(slicesByServiceOf(next), change.slicesByService);
  // A Service deleted and one added are changed Services too.
  const dropped = { ...before, services: before.services.filter((s) => s.name !== "web") };
  t.deepEqual([...changedServiceKeys(before, dropped)], ["default/web"]);
  t.deepEqual([...changedServiceKeys(dropped, before)], ["default/web"]);
});

test("through the sync loop: the write-size estimate and the landed sync use the change, and traffic moves", (t) => {
  const r = boot();
  const loop = new KubeProxySyncLoop(r.services, { nsPerLine: 1_000 });
  const sim = r.cluster.sim;
  sim.run(2_000_000_000);
  loop.change(webAt(r.cluster, ["10.244.2.2"]));
  sim.run(sim.now() + 1_000_000_000);
  t.is(loop.syncs.length, 1);
  let most = 0;
  for (const name of r.cluster.nodes.keys()) {
    t.true(r.mode.lastSyncHinted(name), name);
    const sync = r.mode.lastSync(name)!;
    t.deepEqual(sync.writtenServices, ["default/web"], name);
    most = Math.max(most, sync.lines.length + (sync.cleanupText === "" ? 0 : sync.cleanupText.trimEnd().split("\n").length));
  }
  // The loop's estimate (a dry run before the sync) is what the landed syncs wrote.
  t.is(loop.syncs[0]!.lines, most);
  t.deepEqual(targets(r), ["10.244.2.2:8080"]);
});
