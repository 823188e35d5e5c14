/** The whole exposition of a running cluster: kube-proxy's, node_exporter's and podwire's metrics. */
import type { Cluster } from "../cluster/build.js";
import { ExpositionBuilder } from "./exposition.js";
import type { KubeProxyRecorder } from "./kube-proxy-recorder.js";
import { kubeProxyFamilies } from "./kube-proxy-families.js";
import { conntrackFamilies, ipvsFamilies, netdevFamilies } from "./node-exporter-families.js";
import { podwireFamilies } from "./podwire-families.js";

export function clusterExposition(cluster: Cluster, recorder: KubeProxyRecorder): string {
  const b = new ExpositionBuilder();
  kubeProxyFamilies(b, cluster, recorder);
  conntrackFamilies(b, cluster);
  netdevFamilies(b, cluster);
  ipvsFamilies(b, cluster);
  podwireFamilies(b, cluster);
  return b.text();
}
