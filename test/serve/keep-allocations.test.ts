/**
 * A Service added to a watched file must not move the addresses of the Services already
 * running (podwire allocates in name order; the API server would have stored them).
 */
import test from "ava";
import { DEFAULT_CLUSTER_SOURCE, DEFAULT_CLUSTER_YAML } from "../../src/cluster/default-cluster.js";
import { parseClusterYaml } from "../../src/cluster/load.js";
import { bootCluster } from "../../src/cluster/boot.js";
import { keepAllocations } from "../../src/serve/keep-allocations.js";

const addService = (name: string) => `---
apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: default
spec:
  type: NodePort
  selector:
    app: web
  ports:
  - port: 8081
    targetPort: http
`;

test("running Services keep their ClusterIPs and node ports when one sorting before them is added", (t) => {
  const { services } = bootCluster(parseClusterYaml(DEFAULT_CLUSTER_YAML, DEFAULT_CLUSTER_SOURCE));
  const before = new Map(services.model.services.map((s) => [`${s.namespace}/${s.name}`, { ip: s.clusterIP, ports: s.ports.map((p) => p.nodePort) }]));
  // "default/a-first" sorts before every Service of the file: allocated afresh, it would take their addresses.
  const next = parseClusterYaml(DEFAULT_CLUSTER_YAML + addService("a-first"), DEFAULT_CLUSTER_SOURCE);
  const fresh = services.modelFor(next.otherDocuments);
  const moved = fresh.services.filter((s) => before.has(`${s.namespace}/${s.name}`) && before.get(`${s.namespace}/${s.name}`)!.ip !== s.clusterIP);
  t.true(moved.length > 0, "without keeping them, addresses move (the reason for keepAllocations)");
  const kept = services.modelFor(keepAllocations(next.otherDocuments, services.model.services));
  for (const s of kept.services) {
    const was = before.get(`${s.namespace}/${s.name}`);
    if (was === undefined) continue;
    t.deepEqual({ ip: s.clusterIP, ports: s.ports.map((p) => p.nodePort) }, was, `${s.namespace}/${s.name}`);
  }
  const added = kept.services.find((s) => s.name === "a-first")!;
  t.truthy(added.clusterIP);
  t.false([...before.values()].some((b) => b.ip === added.clusterIP), "the new Service gets a free address");
  t.true(added.ports[0]!.nodePort > 0);
});

test("what the file sets itself wins", (t) => {
  const { services } = bootCluster(parseClusterYaml(DEFAULT_CLUSTER_YAML, DEFAULT_CLUSTER_SOURCE));
  const next = parseClusterYaml(DEFAULT_CLUSTER_YAML.replace("nodePort: 30080", "nodePort: 30090"), DEFAULT_CLUSTER_SOURCE);
  const kept = services.modelFor(keepAllocations(next.otherDocuments, services.model.services));
  t.is(kept.services.find((s) => s.name === "web")!.ports[0]!.nodePort, 30090);
  t.is(kept.services.find((s) => s.name === "web")!.clusterIP, services.service("default", "web")!.clusterIP);
});
