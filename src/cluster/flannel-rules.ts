/**
 * The iptables rules flanneld installs on every node with `--ip-masq` (flannel's
 * pkg/trafficmngr/iptables: MasqRules and ForwardRules): Pod traffic leaving the cluster
 * network is masqueraded to the node's address, traffic inside it is not, and the FORWARD
 * chain accepts Pod-network traffic.
 */
import { formatCidr } from "../base/index.js";
import type { ClusterSpec, NodeSpec } from "./spec.js";

/** flannel leaves packets kube-proxy marked for masquerade to kube-proxy (no double NAT). */
const KUBE_PROXY_MARK = "0x4000/0x4000";

export function flannelRulesText(cluster: ClusterSpec, node: NodeSpec): string {
  const all = formatCidr(cluster.clusterCIDR);
  const local = formatCidr(node.podCIDR);
  const c = '-m comment --comment "flanneld masq"';
  const f = '-m comment --comment "flanneld forward"';
  return [
    "*nat",
    ":PREROUTING ACCEPT [0:0]",
    ":INPUT ACCEPT [0:0]",
    ":OUTPUT ACCEPT [0:0]",
    ":POSTROUTING ACCEPT [0:0]",
    ":FLANNEL-POSTRTG - [0:0]",
    `-A POSTROUTING ${c} -j FLANNEL-POSTRTG`,
    `-A FLANNEL-POSTRTG -m mark --mark ${KUBE_PROXY_MARK} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${local} -d ${all} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${all} -d ${local} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG ! -s ${all} -d ${local} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${all} ! -d 224.0.0.0/4 ${c} -j MASQUERADE --random-fully`,
    `-A FLANNEL-POSTRTG ! -s ${all} -d ${all} ${c} -j MASQUERADE --random-fully`,
    "COMMIT",
    "*filter",
    ":INPUT ACCEPT [0:0]",
    ":FORWARD ACCEPT [0:0]",
    ":OUTPUT ACCEPT [0:0]",
    ":FLANNEL-FWD - [0:0]",
    `-A FORWARD ${f} -j FLANNEL-FWD`,
    `-A FLANNEL-FWD -s ${all} ${f} -j ACCEPT`,
    `-A FLANNEL-FWD -d ${all} ${f} -j ACCEPT`,
    "COMMIT",
    "",
  ].join("\n");
}
