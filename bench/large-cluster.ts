/**
 * `node --max-old-space-size=8192 --import=tsx bench/large-cluster.ts [--nodes 1000] [--services 100000]`:
 * how loading and building scale with cluster size (issue 11, large clusters): a file of N
 * Nodes loaded and built into namespaces and devices, and a file of M Services loaded,
 * modelled and compiled by every node's kube-proxy (iptables mode). Prints wall times and
 * the heap, and writes bench/results/large-cluster.json.
 *
 * `… bench/large-cluster.ts --services 50000 --endpoints 10`: instead, the benchmark's
 * iptables-mode cluster (three workers, `podwire bench`'s workload) with M Services of E
 * endpoints each, every node's kube-proxy syncing the full ruleset (1.6 million rules a node
 * at 50,000 × 10). Prints and writes (large-cluster-iptables.json) the time to build it, wall
 * and CPU, worker-1's sync and load, the heap after a collection and the process's peak RSS.
 * Run it alone in its process: the peak is the process's.
 */
import { bootForBench } from "../src/bench/boot.js";
import { makeWorkload } from "../src/bench/workload.js";
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
const endpoints = arg("--endpoints", 0);

function timed<T>(f: () => T): { value: T; ms: number } {
  const t0 = performance.now();
  const value = f();
  return { value, ms: performance.now() - t0 };
}
const heapMB = (): number => Math.round(process.memoryUsage().heapUsed / 2 ** 20);
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

if (endpoints > 0) {
  const cpu0 = cpuMs();
  const built = timed(() => bootForBench(makeWorkload(services, endpoints, 1), "iptables"));
  const cpu = cpuMs() - cpu0;
  (globalThis as { gc?: () => void }).gc?.();
  const heap = heapMB();
  const peakRssMB = Math.round(process.resourceUsage().maxRSS / 1024);
  const f = built.value.figures;
  let rules = 0;
  for (const node of built.value.cluster.nodes.values()) for (const t of node.netfilter.ruleset.tables.values()) for (const c of t.chains.values()) rules += c.rules.length;
  console.log(
    `${services} Services × ${endpoints} endpoints, iptables mode, ${built.value.cluster.nodes.size} nodes, ${rules} rules in all: built in ${(built.ms / 1000).toFixed(1)} s (CPU ${(cpu / 1000).toFixed(1)} s); ` +
      `worker-1: sync ${f.syncMs.toFixed(0)} ms, load ${f.applyMs.toFixed(0)} ms; heap ${heap} MB after a collection${(globalThis as { gc?: unknown }).gc ? "" : " (no --expose-gc: before one)"}; peak RSS ${peakRssMB} MB`,
  );
  writeResult("large-cluster-iptables", {
    machine: machineInfo(),
    services,
    endpoints,
    nodes: built.value.cluster.nodes.size,
    rules,
    buildMs: Math.round(built.ms),
    buildCpuMs: Math.round(cpu),
    syncMs: Math.round(f.syncMs),
    loadMs: Math.round(f.applyMs),
    heapMB: heap,
    peakRssMB,
  });
} else {
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
}
