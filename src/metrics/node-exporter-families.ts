/**
 * What node_exporter would report on each node (its conntrack, netdev and ipvs collectors:
 * names, help texts and types as node_exporter declares them), read from the emulated
 * kernel's own counters, one series per node with a `node` label. Devices are the node's
 * host namespace's (what node_exporter sees from /proc/net/dev), Pods' veth ends included.
 */
import { formatIpv4 } from "../base/index.js";
import type { Cluster } from "../cluster/build.js";
import type { ExpositionBuilder } from "./exposition.js";

/** node_exporter's conntrack collector (conntrack_linux.go): gauges, as it declares them. */
export function conntrackFamilies(b: ExpositionBuilder, cluster: Cluster): void {
  const entries = b.gauge("node_nf_conntrack_entries", "Number of currently allocated flow entries for connection tracking.");
  const limit = b.gauge("node_nf_conntrack_entries_limit", "Maximum size of connection tracking table.");
  const found = b.gauge("node_nf_conntrack_stat_found", "Number of searched entries which were successful.");
  const invalid = b.gauge("node_nf_conntrack_stat_invalid", "Number of packets seen which can not be tracked.");
  const insertFailed = b.gauge("node_nf_conntrack_stat_insert_failed", "Number of entries for which list insertion was attempted but failed.");
  const drop = b.gauge("node_nf_conntrack_stat_drop", "Number of packets dropped due to conntrack failure.");
  const earlyDrop = b.gauge("node_nf_conntrack_stat_early_drop", "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.");
  for (const node of cluster.nodes.values()) {
    const ct = node.netfilter.conntrack;
    const l = { node: node.spec.name };
    entries.add(l, ct.count);
    limit.add(l, ct.max);
    found.add(l, ct.stats.found);
    invalid.add(l, ct.stats.invalid);
    insertFailed.add(l, ct.stats.insert_failed);
    drop.add(l, ct.stats.drop);
    earlyDrop.add(l, ct.stats.early_drop);
  }
}

/** node_exporter's netdev collector: per device of the node's host namespace. */
export function netdevFamilies(b: ExpositionBuilder, cluster: Cluster): void {
  const rxBytes = b.counter("node_network_receive_bytes_total", "Network device statistic receive_bytes.");
  const rxPackets = b.counter("node_network_receive_packets_total", "Network device statistic receive_packets.");
  const rxDrop = b.counter("node_network_receive_drop_total", "Network device statistic receive_drop.");
  const txBytes = b.counter("node_network_transmit_bytes_total", "Network device statistic transmit_bytes.");
  const txPackets = b.counter("node_network_transmit_packets_total", "Network device statistic transmit_packets.");
  const txDrop = b.counter("node_network_transmit_drop_total", "Network device statistic transmit_drop.");
  for (const node of cluster.nodes.values()) {
    for (const dev of node.ns.interfaces.keys()) {
      const l = { node: node.spec.name, device: dev.name };
      const s = dev.stats;
      rxBytes.add(l, s.rxBytes);
      rxPackets.add(l, s.rxPackets);
      rxDrop.add(l, s.rxDropped);
      txBytes.add(l, s.txBytes);
      txPackets.add(l, s.txPackets);
      txDrop.add(l, s.txDropped);
    }
  }
}

const PROTO_NAMES: Record<number, string> = { 6: "TCP", 17: "UDP", 132: "SCTP" };

/** node_exporter's ipvs collector, on nodes that run IPVS (kube-proxy's IPVS mode). */
export function ipvsFamilies(b: ExpositionBuilder, cluster: Cluster): void {
  const nodes = [...cluster.nodes.values()].filter((n) => n.netfilter.ipvs !== null);
  if (nodes.length === 0) return;
  const conns = b.counter("node_ipvs_connections_total", "The total number of connections made.");
  const inPkts = b.counter("node_ipvs_incoming_packets_total", "The total number of incoming packets.");
  const outPkts = b.counter("node_ipvs_outgoing_packets_total", "The total number of outgoing packets.");
  const inBytes = b.counter("node_ipvs_incoming_bytes_total", "The total amount of incoming data.");
  const outBytes = b.counter("node_ipvs_outgoing_bytes_total", "The total amount of outgoing data.");
  const active = b.gauge("node_ipvs_backend_connections_active", "The current active connections by local and remote address.");
  const inactive = b.gauge("node_ipvs_backend_connections_inactive", "The current inactive connections by local and remote address.");
  const weight = b.gauge("node_ipvs_backend_weight", "The current backend weight by local and remote address.");
  for (const node of nodes) {
    const table = node.netfilter.ipvs!;
    const l = { node: node.spec.name };
    const t = table.totalStats;
    conns.add(l, t.conns);
    inPkts.add(l, t.inpkts);
    outPkts.add(l, t.outpkts);
    inBytes.add(l, t.inbytes);
    outBytes.add(l, t.outbytes);
    for (const svc of table.services()) {
      for (const d of svc.dests) {
        // As node_exporter labels a backend (procfs IPVSBackendStatus): a firewall-mark
        // service has no local address or port, only its mark (hex, as /proc/net/ip_vs prints it).
        const labels = {
          node: node.spec.name,
          local_address: svc.fwmark !== 0 ? "" : formatIpv4(svc.addr),
          local_port: String(svc.fwmark !== 0 ? 0 : svc.port),
          remote_address: formatIpv4(d.addr),
          remote_port: String(d.port),
          proto: svc.fwmark !== 0 ? "FWM" : (PROTO_NAMES[svc.protocol] ?? String(svc.protocol)),
          local_mark: svc.fwmark !== 0 ? svc.fwmark.toString(16).toUpperCase().padStart(8, "0") : "",
        };
        active.add(labels, d.activeConns);
        inactive.add(labels, d.inactConns);
        weight.add(labels, d.weight);
      }
    }
  }
}
