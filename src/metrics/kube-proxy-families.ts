/**
 * kube-proxy's own metrics (pkg/proxy/metrics/metrics.go, v1.33: names, help texts, types and
 * buckets as upstream declares them), one series per node's kube-proxy with a `node` label.
 * Durations and timestamps are in virtual seconds since the emulation started.
 */
import type { Cluster, NodeRuntime } from "../cluster/build.js";
import type { Rule } from "../netfilter/model.js";
import { printRuleSpec } from "../netfilter/save-print.js";
import type { ExpositionBuilder } from "./exposition.js";
import type { KubeProxyRecorder } from "./kube-proxy-recorder.js";

const IPV4 = { ip_family: "IPv4" } as const;

export function kubeProxyFamilies(b: ExpositionBuilder, cluster: Cluster, rec: KubeProxyRecorder): void {
  const withRuleSyncs = rec.mode !== "ipvs"; // full/partial: the iptables and nftables proxiers
  const duration = b.histogram("kubeproxy_sync_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds");
  const full = withRuleSyncs ? b.histogram("kubeproxy_sync_full_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds for full resyncs") : null;
  const partial = withRuleSyncs ? b.histogram("kubeproxy_sync_partial_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds for partial resyncs") : null;
  const programming = b.histogram("kubeproxy_network_programming_duration_seconds", "In Cluster Network Programming Latency in seconds");
  const last = b.gauge("kubeproxy_sync_proxy_rules_last_timestamp_seconds", "The last time proxy rules were successfully synced");
  const queued = b.gauge("kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", "The last time a sync of proxy rules was queued");
  const epChanges = b.counter("kubeproxy_sync_proxy_rules_endpoint_changes_total", "Cumulative proxy rules Endpoint changes");
  const epPending = b.gauge("kubeproxy_sync_proxy_rules_endpoint_changes_pending", "Pending proxy rules Endpoint changes");
  const svcChanges = b.counter("kubeproxy_sync_proxy_rules_service_changes_total", "Cumulative proxy rules Service changes");
  const svcPending = b.gauge("kubeproxy_sync_proxy_rules_service_changes_pending", "Pending proxy rules Service changes");
  const deleted = b.counter("kubeproxy_conntrack_reconciler_deleted_entries_total", "Cumulative conntrack flows deleted by conntrack reconciler");
  // The iptables and IPVS proxiers count the iptables rules they own (IPTablesRulesTotal).
  const iptablesTotal = rec.mode === "nftables" ? null : b.gauge("kubeproxy_sync_proxy_rules_iptables_total", "Total number of iptables rules owned by kube-proxy");
  const invalidDropped = rec.mode === "iptables" ? b.counter("kubeproxy_iptables_ct_state_invalid_dropped_packets_total", "packets dropped by iptables to work around conntrack problems") : null;

  for (const [name, m] of rec.nodes) {
    const node = { node: name };
    const fam = { node: name, ...IPV4 };
    duration.add(fam, m.syncDuration);
    full?.add(fam, m.fullSyncDuration);
    partial?.add(fam, m.partialSyncDuration);
    programming.add(fam, m.networkProgramming);
    if (m.lastSyncAt !== null) last.add(fam, m.lastSyncAt);
    if (m.lastQueuedAt !== null) queued.add(fam, m.lastQueuedAt);
    epChanges.add(node, rec.endpointChanges);
    epPending.add(node, rec.pendingEndpointSlices.size);
    svcChanges.add(node, rec.serviceChanges);
    svcPending.add(node, rec.pendingServices.size);
    deleted.add(fam, m.conntrackDeleted);
    const runtime = cluster.node(name);
    if (runtime === undefined) continue;
    if (iptablesTotal !== null) {
      for (const [table, n] of ownedRules(runtime)) iptablesTotal.add({ ...fam, table }, n);
    }
    const invalid = invalidDropRule(runtime);
    if (invalidDropped !== null && invalid !== null) invalidDropped.add(node, invalid.counters.packets);
  }
}

/**
 * The iptables rules kube-proxy owns on a node, per table: every rule in its KUBE-* chains,
 * and its jump rules from the built-in chains into them — counted in the node's ruleset as
 * it is now.
 */
export function ownedRules(node: NodeRuntime): Map<string, number> {
  const out = new Map<string, number>();
  for (const table of ["filter", "nat"] as const) {
    const t = node.netfilter.ruleset.tables.get(table);
    let n = 0;
    for (const chain of t?.chains.values() ?? []) {
      if (chain.name.startsWith("KUBE-")) n += chain.rules.length;
      else for (const r of chain.rules) if ((r.target.kind === "jump" || r.target.kind === "goto") && r.target.chain.startsWith("KUBE-")) n++;
    }
    out.set(table, n);
  }
  return out;
}

/** kube-proxy's `-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP`, when the node has it. */
function invalidDropRule(node: NodeRuntime): Rule | null {
  const chain = node.netfilter.ruleset.tables.get("filter")?.chains.get("KUBE-FORWARD");
  return chain?.rules.find((r) => r.target.kind === "DROP" && / --ctstate INVALID( |$)/.test(printRuleSpec(r))) ?? null;
}
