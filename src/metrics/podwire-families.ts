/**
 * podwire's own metrics: what `iptables -L -v` and `nft list ruleset` show per rule (packet
 * and byte counters, with table, chain and rule number), and why packets were dropped (each
 * namespace's and each device's drop counters, by reason) — all from the emulated kernel's
 * counters, with a `node` label.
 */
import type { Cluster, NodeRuntime } from "../cluster/build.js";
import type { NetDevice } from "../netdev/index.js";
import type { NetworkNamespace } from "../netns/index.js";
import type { TargetSpec } from "../netfilter/model.js";
import type { ExpositionBuilder } from "./exposition.js";

export function podwireFamilies(b: ExpositionBuilder, cluster: Cluster): void {
  b.gauge("podwire_virtual_time_seconds", "The emulation's virtual clock: timestamps in these metrics are on it").add({}, cluster.sim.now() / 1e9);
  ruleFamilies(b, cluster);
  nftFamilies(b, cluster);
  dropFamilies(b, cluster);
}

/** iptables rule counters, every rule of every chain, in iptables-save order. */
function ruleFamilies(b: ExpositionBuilder, cluster: Cluster): void {
  const packets = b.counter("podwire_iptables_rule_packets_total", "Packets that matched an iptables rule (iptables -L -v pkts); rule is its 1-based number in the chain");
  const bytes = b.counter("podwire_iptables_rule_bytes_total", "Bytes of the packets that matched an iptables rule (iptables -L -v bytes)");
  const policyPackets = b.counter("podwire_iptables_policy_packets_total", "Packets that fell through to a built-in chain's policy");
  const evaluated = b.counter("podwire_iptables_rules_evaluated_total", "iptables rules the kernel would have evaluated (the modelled cost of a linear walk)");
  for (const node of cluster.nodes.values()) {
    for (const table of node.netfilter.ruleset.tables.values()) {
      for (const chain of table.chains.values()) {
        chain.rules.forEach((rule, i) => {
          const l = { node: node.spec.name, table: table.name, chain: chain.name, rule: String(i + 1), target: targetName(rule.target) };
          packets.add(l, rule.counters.packets);
          bytes.add(l, rule.counters.bytes);
        });
        if (chain.policy !== null) policyPackets.add({ node: node.spec.name, table: table.name, chain: chain.name, policy: chain.policy }, chain.counters.packets);
      }
    }
    evaluated.add({ node: node.spec.name }, node.netfilter.rulesEvaluated);
  }
}

/** nft rules with a `counter` statement (nft list ruleset's `counter packets N bytes M`). */
function nftFamilies(b: ExpositionBuilder, cluster: Cluster): void {
  const withNft = [...cluster.nodes.values()].filter((n) => n.netfilter.nftables !== null);
  if (withNft.length === 0) return;
  const packets = b.counter("podwire_nft_rule_packets_total", "Packets counted by an nft rule's counter statement; rule is its 1-based number in the chain");
  const bytes = b.counter("podwire_nft_rule_bytes_total", "Bytes counted by an nft rule's counter statement");
  const evaluated = b.counter("podwire_nft_rules_evaluated_total", "nft rules evaluated (the modelled cost)");
  for (const node of withNft) {
    for (const table of node.netfilter.nftables!.tables) {
      for (const chain of table.chains.values()) {
        chain.rules.forEach((rule, i) => {
          rule.stmts.forEach((s, j) => {
            if (s.kind !== "counter") return;
            const l = { node: node.spec.name, table: `${table.family} ${table.name}`, chain: chain.name, rule: String(i + 1), counter: String(j + 1) };
            packets.add(l, s.packets);
            bytes.add(l, s.bytes);
          });
        });
      }
    }
    evaluated.add({ node: node.spec.name }, node.netfilter.nftRulesEvaluated);
  }
}

/** Every namespace on a node (its own, then its Pods'), each with the devices in it. */
function namespacesOf(node: NodeRuntime): { netns: NetworkNamespace; label: string }[] {
  const out = [{ netns: node.ns, label: node.spec.name }];
  for (const p of node.pods) if (p.eth0 !== null) out.push({ netns: p.ns, label: p.key });
  return out;
}

function dropFamilies(b: ExpositionBuilder, cluster: Cluster): void {
  const stack = b.counter("podwire_netns_drops_total", "Packets the IPv4 stack of a namespace dropped, by reason (netfilter: a rule's verdict)");
  const handled = b.counter("podwire_netns_packets_total", "Packets a namespace's IPv4 stack delivered locally, forwarded or sent");
  const device = b.counter("podwire_device_drops_total", "Frames a device dropped, by reason");
  for (const node of cluster.nodes.values()) {
    for (const { netns, label } of namespacesOf(node)) {
      const base = { node: node.spec.name, netns: label };
      for (const [reason, n] of [...netns.stats.drops].sort(byKey)) stack.add({ ...base, reason }, n);
      handled.add({ ...base, path: "delivered" }, netns.stats.delivered);
      handled.add({ ...base, path: "forwarded" }, netns.stats.forwarded);
      handled.add({ ...base, path: "sent" }, netns.stats.sent);
      for (const dev of netns.interfaces.keys()) deviceDrops(device, base, dev);
    }
  }
}

function deviceDrops(sink: ReturnType<ExpositionBuilder["counter"]>, base: { node: string; netns: string }, dev: NetDevice): void {
  for (const [reason, n] of [...dev.stats.drops].sort(byKey)) sink.add({ ...base, device: dev.name, reason }, n);
}

function byKey(a: [string, number], b: [string, number]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/** The rule's target as iptables prints it after -j/-g. */
function targetName(t: TargetSpec): string {
  if (t.kind === "jump" || t.kind === "goto") return t.chain;
  return t.kind === "NONE" ? "" : t.kind;
}
