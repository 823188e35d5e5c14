/**
 * `node --max-old-space-size=8192 --import=tsx bench/large-cluster.ts [--nodes 1000] [--services 100000]`:
 * how loading and building scale with cluster size (issue 11, large clusters): a file of N
 * Nodes loaded and built into namespaces and devices, and a file of M Services loaded,
 * modelled and compiled by every node's kube-proxy (iptables mode). Prints wall times and
 * the heap, and writes bench/results/large-cluster.json.
 */
import { bootCluster } from "../src/cluster/boot.js";
import { Cluster } from "../src/cluster/build.js";
import { parseClusterYaml } from "../src/cluster/load.js";
import { machineInfo, writeResult } from "./util.js";

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const nodes = arg("--nodes", 1000);
const services = arg("--services", 100_000);

function timed<T>(f: () => T): { value: T; ms: number } {
  const t0 = performance.now();
  const value = f();
  return { value, ms: performance.now() - t0 };
}
const heapMB = (): number => Math.round(process.memoryUsage().heapUsed / 2 ** 20);

const nodeDocs = [`apiVersion: podwire.dev/v1alpha1\nkind: Cluster\nmetadata: {name: big}\nspec:\n  nodeNetwork: 10.128.0.0/16\n  clusterCIDR: 10.0.0.0/14\n`];
for (let i = 0; i < nodes; i++) nodeDocs.push(`apiVersion: v1\nkind: Node\nmetadata: {name: n${i}}`);
const load = timed(() => parseClusterYaml(nodeDocs.join("\n---\n") + "\n", "nodes.yaml"));
const build = timed(() => new Cluster(load.value));
const nodesHeap = heapMB();
console.log(`${nodes} nodes: load ${load.ms.toFixed(0)} ms, build ${build.ms.toFixed(0)} ms, heap ${nodesHeap} MB`);

const svcDocs: string[] = [];
for (let i = 0; i < services; i++) svcDocs.push(`apiVersion: v1\nkind: Service\nmetadata: {name: s${i}}\nspec:\n  ports: [{port: 80}]`);
const svcLoad = timed(() => parseClusterYaml(svcDocs.join("\n---\n") + "\n", "services.yaml"));
const boot = timed(() => bootCluster(svcLoad.value));
const svcHeap = heapMB();
console.log(`${services} Services: load ${svcLoad.ms.toFixed(0)} ms, boot with kube-proxy on ${boot.value.cluster.nodes.size} nodes ${boot.ms.toFixed(0)} ms, heap ${svcHeap} MB`);

writeResult("large-cluster", {
  machine: machineInfo(),
  nodes: { count: nodes, loadMs: Math.round(load.ms), buildMs: Math.round(build.ms), heapMB: nodesHeap },
  services: { count: services, loadMs: Math.round(svcLoad.ms), bootMs: Math.round(boot.ms), heapMB: svcHeap },
});
