/**
 * iptables mode: the endpoints an offline trace of the node's rules can reach, over every
 * outcome of the `statistic` splits, from a fresh state (no `recent` entries, so ClientIP
 * affinity does not pin the set to the last endpoint): the `candidates` `podwire trace`
 * prints. A flow the rules drop or reject has none.
 */
import { formatIpv4 } from "../../base/index.js";
import type { NodeRuntime } from "../../cluster/build.js";
import { servicePath } from "../../cluster/service-path.js";
import type { FlowRun, ModeAdapter } from "./adapter.js";

const IP_PORT = /^\d+\.\d+\.\d+\.\d+:\d+$/;

export const iptablesAdapter: ModeAdapter = {
  mode: "iptables",
  endpointSetOf(node: NodeRuntime, run: FlowRun): string[] | null {
    const path = servicePath(run.running.cluster, run.result, run.srcIp, run.dst, run.port, run.proto);
    if (path.node !== node.spec.name) return [];
    // Without a DNAT, the destination itself comes back as the one candidate: not an endpoint.
    const self = `${formatIpv4(run.dst)}:${run.port}`;
    return [...new Set(path.candidates.map((c) => c.destination).filter((d) => IP_PORT.test(d) && d !== self))].sort();
  },
};
