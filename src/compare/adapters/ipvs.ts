/**
 * IPVS mode: the real servers (weight > 0) of the virtual service the flow hits on the node
 * (the node's IpvsTable), unless the node's iptables rules dropped or rejected the flow
 * before IPVS saw it (KUBE-SOURCE-RANGES-FIREWALL, KUBE-IPVS-FILTER, …): then none.
 */
import { formatIpv4 } from "../../base/index.js";
import type { NodeRuntime } from "../../cluster/build.js";
import type { FlowRun, ModeAdapter } from "./adapter.js";

export const ipvsAdapter: ModeAdapter = {
  mode: "ipvs",
  endpointSetOf(node: NodeRuntime, run: FlowRun): string[] {
    const table = run.running.services.ipvs?.table(node.spec.name) ?? null;
    if (table === null) return [];
    const vs = table.getService(run.proto, run.dst, run.port);
    if (vs === null) return [];
    if (firewalledBeforeIpvs(node.spec.name, run)) return [];
    return [...new Set(vs.dests.filter((d) => d.weight > 0).map((d) => `${formatIpv4(d.addr)}:${d.port}`))].sort();
  },
};

/** Whether the first packet met a DROP or REJECT of the node's rules before IPVS scheduled it. */
function firewalledBeforeIpvs(node: string, run: FlowRun): boolean {
  for (const e of run.result.events) {
    if (e.netns !== node || e.action !== "netfilter") continue;
    if (e.detail.startsWith("ipvs: virtual service")) return false;
    if (/⇒ (DROP|REJECT)/.test(e.detail)) return true;
  }
  return false;
}
