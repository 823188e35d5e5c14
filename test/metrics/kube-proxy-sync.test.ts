/**
 * kube-proxy's metrics through a sync of the sync loop: a Service added while the cluster runs
 * is one Service change and one EndpointSlice change, pending until the sync starts; the sync
 * is observed in the duration histograms with the time the loop modelled, network programming
 * from the change to the landing, the last-sync timestamp moves, and the rule count follows
 * the node's ruleset.
 */
import test from "ava";
import { DEFAULT_CLUSTER_SOURCE, DEFAULT_CLUSTER_YAML } from "../../src/cluster/default-cluster.js";
import { parseClusterYaml } from "../../src/cluster/load.js";
import { printRuleset } from "../../src/netfilter/save-print.js";
import { LiveCluster } from "../../src/serve/live-cluster.js";
import { parseExposition, valueOf } from "./parse-exposition.js";

export const EXTRA_SERVICE = `---
apiVersion: v1
kind: Service
metadata:
  name: web-alt
  namespace: default
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 8080
    targetPort: http
`;

/** Rules kube-proxy owns in `table`, counted in iptables-save's text: KUBE-* chains' rules and the jumps into them. */
function ownedInSaveText(text: string, table: string): number {
  const section = text.split(/^\*/m).find((s) => s.startsWith(`${table}\n`)) ?? "";
  return section.split("\n").filter((l) => /^-A KUBE-/.test(l) || /^-A [A-Z]+ .*-j KUBE-/.test(l)).length;
}

test.serial("a Service added while running: change counts, pending, the sync's durations and the rule count", (t) => {
  const live = new LiveCluster(parseClusterYaml(DEFAULT_CLUSTER_YAML, DEFAULT_CLUSTER_SOURCE), "idle");
  live.advanceTo(5e9);
  const node = { node: "worker-1" };
  const fam = { node: "worker-1", ip_family: "IPv4" };
  const before = parseExposition(live.metrics());
  const services = live.observed.services.model.services.length;
  t.is(valueOf(before, "kubeproxy_sync_proxy_rules_service_changes_total", node), services, "every Service at start (kubernetes, kube-dns, web, …)");
  t.is(valueOf(before, "kubeproxy_sync_proxy_rules_duration_seconds_count", fam), 1, "the first, full sync");
  t.is(valueOf(before, "kubeproxy_sync_full_proxy_rules_duration_seconds_count", fam), 1);
  const natBefore = valueOf(before, "kubeproxy_sync_proxy_rules_iptables_total", { ...fam, table: "nat" });
  t.is(natBefore, ownedInSaveText(printRuleset(live.observed.cluster.node("worker-1")!.netfilter.ruleset), "nat"));

  const next = parseClusterYaml(DEFAULT_CLUSTER_YAML + EXTRA_SERVICE, DEFAULT_CLUSTER_SOURCE);
  live.applyObjects(next, []);
  const queued = parseExposition(live.metrics());
  t.is(valueOf(queued, "kubeproxy_sync_proxy_rules_service_changes_total", node), services + 1);
  t.is(valueOf(queued, "kubeproxy_sync_proxy_rules_endpoint_changes_total", node), valueOf(before, "kubeproxy_sync_proxy_rules_endpoint_changes_total", node) + 1, "the Service's derived EndpointSlice");
  t.is(valueOf(queued, "kubeproxy_sync_proxy_rules_service_changes_pending", node), 1);
  t.is(valueOf(queued, "kubeproxy_sync_proxy_rules_endpoint_changes_pending", node), 1);
  t.is(valueOf(queued, "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", fam), 5);

  live.advanceTo(7e9);
  const after = parseExposition(live.metrics());
  const sync = live.loop.syncs[0]!;
  t.truthy(sync, "the sync landed");
  t.is(live.loop.syncs.length, 1);
  const seconds = (sync.landedAt - sync.startedAt) / 1e9;
  t.true(seconds > 0, "loading the lines took virtual time");
  t.is(sync.landedAt - sync.startedAt, sync.lines * live.loop.nsPerLine);
  t.is(valueOf(after, "kubeproxy_sync_proxy_rules_service_changes_pending", node), 0);
  t.is(valueOf(after, "kubeproxy_sync_proxy_rules_endpoint_changes_pending", node), 0);
  t.is(valueOf(after, "kubeproxy_sync_proxy_rules_duration_seconds_count", fam), 2);
  t.is(valueOf(after, "kubeproxy_sync_partial_proxy_rules_duration_seconds_count", fam), 1);
  t.is(valueOf(after, "kubeproxy_sync_partial_proxy_rules_duration_seconds_sum", fam), seconds);
  t.is(valueOf(after, "kubeproxy_sync_proxy_rules_duration_seconds_sum", fam), valueOf(before, "kubeproxy_sync_proxy_rules_duration_seconds_sum", fam) + seconds);
  t.is(valueOf(after, "kubeproxy_network_programming_duration_seconds_count", fam), 1);
  t.is(valueOf(after, "kubeproxy_network_programming_duration_seconds_sum", fam), (sync.landedAt - sync.requestedAt) / 1e9);
  t.is(valueOf(after, "kubeproxy_sync_proxy_rules_last_timestamp_seconds", fam), sync.landedAt / 1e9);
  // The observation sits in the right bucket: the first bound it does not exceed.
  const bound = [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128].find((b) => seconds <= b)!;
  t.is(valueOf(after, "kubeproxy_sync_partial_proxy_rules_duration_seconds_bucket", { ...fam, le: String(bound) }), 1);
  const natAfter = valueOf(after, "kubeproxy_sync_proxy_rules_iptables_total", { ...fam, table: "nat" });
  t.true(natAfter > natBefore, `${natBefore} → ${natAfter} nat rules`);
  t.is(natAfter, ownedInSaveText(printRuleset(live.observed.cluster.node("worker-1")!.netfilter.ruleset), "nat"));
  t.deepEqual(live.events.map((e) => e.kind), ["file-changed", "sync-queued", "sync-started", "sync-landed"]);
});
