/**
 * The sync loop tells who listens when a sync starts and when it lands, and its record has
 * each node's share: what that node's kube-proxy wrote and the stale conntrack entries it
 * deleted (what kube-proxy's metrics count per node).
 */
import test from "ava";
import { DEFAULT_CLUSTER_SOURCE, DEFAULT_CLUSTER_YAML } from "../../src/cluster/default-cluster.js";
import { bootCluster } from "../../src/cluster/boot.js";
import { parseClusterYaml } from "../../src/cluster/load.js";
import { KubeProxySyncLoop, type SyncRecord } from "../../src/cluster/sync-loop.js";

test("onStart and onLand are told in order, with each node's lines and deletions in the record", (t) => {
  const { cluster, services } = bootCluster(parseClusterYaml(DEFAULT_CLUSTER_YAML, DEFAULT_CLUSTER_SOURCE));
  const told: string[] = [];
  let landed: SyncRecord | null = null;
  const loop = new KubeProxySyncLoop(services, {
    nsPerLine: 1_000_000,
    onStart: (now) => told.push(`start ${now}`),
    onLand: (r) => {
      told.push(`land ${r.landedAt}`);
      landed = r;
    },
  });
  cluster.sim.run(3_000_000_000);
  // web loses its selector: its EndpointSlice goes, every node rewrites its chains.
  const docs = cluster.spec.otherDocuments.map((d) => (d.kind === "Service" ? { ...d, body: { ...d.body, spec: { ...(d.body.spec as object), selector: { app: "nothing" } } } } : d));
  loop.change(docs);
  const next = services.modelFor(docs);
  const expectedLines = new Map([...cluster.nodes.values()].map((n) => [n.spec.name, services.proxy.writeSize!(n, next)]));
  cluster.sim.run(10_000_000_000);
  const r = landed as SyncRecord | null;
  t.truthy(r);
  t.deepEqual(told, [`start ${r!.startedAt}`, `land ${r!.landedAt}`]);
  t.deepEqual(r!.nodes.map((n) => n.node), [...cluster.nodes.keys()]);
  for (const n of r!.nodes) t.is(n.lines, expectedLines.get(n.node)!, n.node);
  t.is(r!.lines, Math.max(...r!.nodes.map((n) => n.lines)));
  t.is(r!.conntrackDeleted, r!.nodes.reduce((a, n) => a + n.conntrackDeleted, 0));
  t.is(r!.landedAt - r!.startedAt, r!.lines * 1_000_000);
});
