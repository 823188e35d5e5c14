/**
 * The cluster a mode's benchmark runs on: the workload's spec in that mode, Pod servers
 * started, kube-proxy's model built (timed) and its first full sync on every node.
 */
import { hostNowMs } from "../base/index.js";
import { startPodApps } from "../cluster/apps.js";
import { Cluster } from "../cluster/build.js";
import { ClusterServices } from "../cluster/services.js";
import type { ProxyMode } from "../cluster/spec.js";
import type { SetupFigures } from "./modes.js";
import type { Workload } from "./workload.js";

export function bootForBench(workload: Workload, mode: ProxyMode): { cluster: Cluster; services: ClusterServices; figures: SetupFigures } {
  const cluster = new Cluster({ ...workload.spec, proxyMode: mode });
  startPodApps(cluster);
  const t0 = hostNowMs();
  const services = new ClusterServices(cluster);
  const modelBuildMs = hostNowMs() - t0;
  services.syncAll();
  const times = services.setupTimes.get(workload.clientPod.node)!;
  return { cluster, services, figures: { modelBuildMs, syncMs: times.syncMs, applyMs: times.applyMs } };
}
