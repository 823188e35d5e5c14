/**
 * A running cluster whose kube-proxies keep the metrics kube-proxy keeps: booted like any
 * other (cluster/boot.ts), with what each node's first sync writes measured before it runs.
 */
import { type RunningCluster, bootCluster } from "../cluster/boot.js";
import type { KubeProxyFlags } from "../cluster/services.js";
import type { ClusterSpec } from "../cluster/spec.js";
import { RESTORE_NS_PER_LINE } from "../cluster/sync-loop.js";
import { KubeProxyRecorder } from "./kube-proxy-recorder.js";

export interface ObservedCluster extends RunningCluster {
  recorder: KubeProxyRecorder;
}

export function bootObserved(spec: ClusterSpec, flags: KubeProxyFlags = {}): ObservedCluster {
  let recorder: KubeProxyRecorder | null = null;
  const running = bootCluster(spec, flags, {
    beforeFirstSync(services) {
      const config = { ...spec.kubeProxy, ...flags };
      // iptables mode with MinimizeIPTablesRestore off writes everything every sync.
      const partial = !(spec.proxyMode === "iptables" && config.minimizeIPTablesRestore === false);
      recorder = new KubeProxyRecorder(spec.proxyMode, [...services.cluster.nodes.keys()], partial);
      const lines = new Map<string, number>();
      for (const node of services.cluster.nodes.values()) lines.set(node.spec.name, services.proxy.writeSize?.(node, services.model) ?? 0);
      recorder.started(services.model, lines, RESTORE_NS_PER_LINE, services.cluster.sim.now());
    },
  });
  return { ...running, recorder: recorder! };
}
