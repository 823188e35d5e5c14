/**
 * kube-proxy's sync loop on the virtual clock: a change lands after its modelled load time
 * (lines written × cost per line), no sooner than minSyncPeriod after the last sync began,
 * one sync at a time, changes arriving meanwhile batched into the next; iptables mode writes
 * the whole table per sync with MinimizeIPTablesRestore off, only the change with it on.
 */
import test from "ava";
import { ipv4 } from "../../src/base/index.js";
import { bootCluster } from "../../src/cluster/boot.js";
import { runExchange } from "../../src/cluster/exchange.js";
import { parseClusterYaml } from "../../src/cluster/load.js";
import type { RawDocument } from "../../src/cluster/spec.js";
import { KubeProxySyncLoop } from "../../src/cluster/sync-loop.js";

const YAML = `apiVersion: podwire.dev/v1alpha1
kind: Cluster
metadata: {name: sync-loop}
spec: {}
---
apiVersion: v1
kind: Node
metadata: {name: node-1}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default}
spec: {nodeName: node-1, containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web}}
spec: {nodeName: node-1, containers: [{name: web, ports: [{name: http, containerPort: 8080}]}]}
`;

function service(name: string, clusterIP: string): RawDocument {
  return {
    apiVersion: "v1",
    kind: "Service",
    body: { apiVersion: "v1", kind: "Service", metadata: { name, namespace: "default" }, spec: { clusterIP, selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: "http" }] } },
    location: { file: "test" },
  };
}

function boot(mode: "iptables" | "nftables", flags = {}, extraServices = 0) {
  const spec = parseClusterYaml(YAML, "sync-loop.yaml");
  spec.proxyMode = mode;
  for (let i = 0; i < extraServices; i++) spec.otherDocuments.push(service(`bulk-${i}`, `10.96.1.${i + 1}`));
  return bootCluster(spec, flags);
}

const MS = 1_000_000;

test("a change lands after its lines × the cost per line; until then the new Service does not answer", (t) => {
  const r = boot("iptables");
  const loop = new KubeProxySyncLoop(r.services, { nsPerLine: 1 * MS });
  const sim = r.cluster.sim;
  const client = r.cluster.pod("default", "client")!;
  sim.run(2000 * MS);
  loop.change([...r.cluster.spec.otherDocuments, service("hello", "10.96.0.50")]);
  sim.run(2001 * MS);
  t.true(loop.busy);
  const early = runExchange(r.cluster, { title: "early", from: client.ns, fromLabel: "client", dst: ipv4("10.96.0.50"), dstPort: 80, proto: "tcp" });
  t.false(early.ok, "the rules are not in yet");
  sim.run(60_000 * MS);
  t.false(loop.busy);
  t.is(loop.syncs.length, 1);
  const s = loop.syncs[0]!;
  t.is(s.requestedAt, 2000 * MS);
  t.is(s.startedAt, 2000 * MS, "idle for more than minSyncPeriod: the sync starts at once");
  t.true(s.lines > 0);
  t.is(s.landedAt - s.startedAt, s.lines * MS);
  const late = runExchange(r.cluster, { title: "late", from: client.ns, fromLabel: "client", dst: ipv4("10.96.0.50"), dstPort: 80, proto: "tcp" });
  t.true(late.ok, late.outcome);
});

test("minSyncPeriod spaces sync starts, and changes during a sync are batched into the next", (t) => {
  const r = boot("iptables");
  const loop = new KubeProxySyncLoop(r.services, { nsPerLine: 0.01 * MS });
  const sim = r.cluster.sim;
  const docs = [...r.cluster.spec.otherDocuments];
  sim.run(5000 * MS);
  loop.change([...docs, service("a", "10.96.0.51")]);
  sim.run(5100 * MS);
  loop.change([...docs, service("a", "10.96.0.51"), service("b", "10.96.0.52")]);
  sim.run(5200 * MS);
  loop.change([...docs, service("a", "10.96.0.51"), service("b", "10.96.0.52"), service("c", "10.96.0.53")]);
  sim.run(20_000 * MS);
  t.is(loop.syncs.length, 2, "b and c ride in one sync");
  t.is(loop.syncs[1]!.startedAt - loop.syncs[0]!.startedAt, 1000 * MS, "the default minSyncPeriod, 1 s");
  t.is(loop.syncs[1]!.requestedAt, 5100 * MS);
  t.deepEqual(r.services.names().filter((n) => n.startsWith("default/") && n.length === 9).sort(), ["default/a", "default/b", "default/c"]);
});

test("iptables mode writes the whole table per sync without MinimizeIPTablesRestore, a few lines with it; nftables a few lines", (t) => {
  const next = (r: ReturnType<typeof boot>) => r.services.modelFor([...r.cluster.spec.otherDocuments, service("hello", "10.96.0.50")]);
  const full = boot("iptables", { minimizeIPTablesRestore: false }, 50);
  const partial = boot("iptables", {}, 50);
  const nft = boot("nftables", {}, 50);
  const node = (r: ReturnType<typeof boot>) => r.cluster.node("node-1")!;
  const fullLines = full.services.proxy.writeSize!(node(full), next(full));
  const partialLines = partial.services.proxy.writeSize!(node(partial), next(partial));
  const nftLines = nft.services.proxy.writeSize!(node(nft), next(nft));
  t.true(fullLines > 3 * partialLines, `${fullLines} vs ${partialLines}`);
  t.true(full.services.proxy.writeSize!(node(full), full.services.model) < fullLines, "a full sync without hello writes less: every Service's chains are in it");
  t.true(nftLines > 0 && nftLines < partialLines, `${nftLines}: nftables writes hello's elements and chains only`);
  // The dry run changes nothing: the same resync afterwards writes the same.
  t.is(partial.services.proxy.writeSize!(node(partial), next(partial)), partialLines);
});

test("nftables' dry run is repeatable and leaves the real sync to write the same", (t) => {
  const r = boot("nftables", {}, 20);
  const node = r.cluster.node("node-1")!;
  const next = r.services.modelFor([...r.cluster.spec.otherDocuments, service("hello", "10.96.0.50")]);
  const a = r.services.proxy.writeSize!(node, next);
  const b = r.services.proxy.writeSize!(node, next);
  t.is(a, b);
  r.services.updateTo(next);
  const client = r.cluster.pod("default", "client")!;
  const ok = runExchange(r.cluster, { title: "after", from: client.ns, fromLabel: "client", dst: ipv4("10.96.0.50"), dstPort: 80, proto: "tcp" });
  t.true(ok.ok, ok.outcome);
  t.true(r.services.proxy.writeSize!(node, next) < a, "nothing left to write but the sync's bookkeeping");
});
