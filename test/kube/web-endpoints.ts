/** The embedded cluster's documents with `web`'s endpoints replaced: for the cluster-resync tests. */
import type { Cluster } from "../../src/cluster/build.js";
import type { KubeDocument } from "../../src/kube/index.js";

/** The cluster's documents with `web`'s endpoints given by one EndpointSlice of these Pod IPs. */
export function webAt(cluster: Cluster, ips: string[]): KubeDocument[] {
  return [
    ...cluster.spec.otherDocuments,
    {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      body: {
        metadata: { name: "web-manual", namespace: "default", labels: { "kubernetes.io/service-name": "web" } },
        addressType: "IPv4",
        endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
        ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      },
      location: { file: "test" },
    } as KubeDocument,
  ];
}
