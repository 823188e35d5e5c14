/**
 * kube-proxy's nftables mode running in the cluster: kube-proxy's `ip kube-proxy` table on
 * every node, evaluated by podwire's nft engine beside flannel's iptables rules, with real
 * traffic: `check` on the embedded cluster and on two real inputs, the demo, traces that
 * name nft rules, and a partial re-sync that moves traffic.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import test from "ava";
import { ipv4 } from "../../src/base/index.js";
import { runCheck } from "../../src/check/index.js";
import { bootCluster } from "../../src/cluster/boot.js";
import { runDemo } from "../../src/cluster/demo.js";
import { runExchange } from "../../src/cluster/exchange.js";
import { defaultCluster, loadClusterFile } from "../../src/cluster/load.js";
import type { KubeDocument } from "../../src/kube/index.js";

const real = (name: string): string => fileURLToPath(new URL(`../fixtures/real/${name}`, import.meta.url));
const problems = (r: ReturnType<typeof runCheck>) => r.cells.filter((c) => c.outcome !== "ok").map((c) => `${c.from} → ${c.to}: ${c.reason}`);

function nftCluster() {
  const spec = defaultCluster();
  spec.proxyMode = "nftables";
  return spec;
}

test("embedded cluster: check answers every cell, as in iptables mode", (t) => {
  const r = runCheck(nftCluster());
  t.deepEqual(problems(r), []);
  // As in iptables mode (test/check/check.test.ts): Service ports, NodePorts, the LoadBalancer IP, Pod ports, L7 routes.
  t.is(r.summary.ok, 8 * 7 + 3 * 3 + 2 + 9 + 5);
});

test("the Online Boutique manifests and a kind dump pass check in nftables mode", (t) => {
  for (const [file, ok] of [["online-boutique.yaml", 132], ["kind-dump.yaml", 46]] as const) {
    const spec = loadClusterFile(real(file));
    spec.proxyMode = "nftables";
    const r = runCheck(spec);
    t.deepEqual(problems(r), [], file);
    t.is(r.summary.ok, ok, file);
  }
});

test("the demo runs in nftables mode, every step ok", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-nft-demo-"));
  try {
    const run = runDemo(nftCluster(), { capturePath: join(dir, "demo.pcapng") });
    t.is(run.results.length, 9);
    t.deepEqual(run.results.filter((r) => !r.ok).map((r) => `${r.title}: ${r.outcome}`), []);
    t.true(run.capture!.frames > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function toWeb(r: ReturnType<typeof bootCluster>) {
  const client = r.cluster.pod("default", "client")!;
  const vip = ipv4(r.services.service("default", "web")!.clusterIP!);
  return runExchange(r.cluster, { title: "t", from: client.ns, fromLabel: "client", dst: vip, dstPort: 80, proto: "tcp" });
}

/** The endpoint an exchange's DNAT chose, from the nft trace line of the endpoint chain. */
const dnatTarget = (events: readonly { detail: string }[]): string | undefined =>
  events.map((e) => /dnat to (\d+\.\d+\.\d+\.\d+:\d+) ⇒ DNAT/.exec(e.detail)?.[1]).find((x) => x !== undefined);

test("a trace names the nft table, chains and rules, and no iptables KUBE-* chain takes part", (t) => {
  const r = bootCluster(nftCluster());
  const res = toWeb(r);
  t.true(res.ok, res.outcome);
  const nat = res.events.find((e) => e.detail.startsWith("nft ip kube-proxy nat-prerouting"));
  t.truthy(nat, "a line for the nat-prerouting traversal");
  t.regex(nat!.detail, /nat-prerouting#1 → services#1 → service-\w+-default\/web\/tcp\/http#\d → endpoint-\w+-default\/web\/tcp\/http__10\.244\.\d+\.\d+\/8080#2: meta l4proto tcp dnat to 10\.244\.\d+\.\d+:8080 ⇒ DNAT/);
  // No iptables KUBE-* chain took part: kube-proxy's nftables mode installs no iptables rules.
  t.false(res.events.some((e) => /KUBE-/.test(e.detail)));
  const worker1 = r.cluster.node("worker-1")!;
  t.true(worker1.netfilter.nftRulesEvaluated > 0);
  t.true(worker1.netfilter.nftExprsEvaluated > worker1.netfilter.nftRulesEvaluated);
  t.true(r.services.proxy.cost(worker1) > 0);
  t.regex(r.services.proxy.describe(worker1, r.services.model), /^# kube-proxy \(nftables mode\)[^\n]*\nadd table ip kube-proxy/);
});

test("a partial re-sync (an endpoint removed) changes where traffic goes", (t) => {
  const r = bootCluster(nftCluster());
  const seen = new Set<string>();
  for (let i = 0; i < 12; i++) seen.add(dnatTarget(toWeb(r).events) ?? "none");
  t.deepEqual([...seen].sort(), ["10.244.1.3:8080", "10.244.2.2:8080"]);
  const docs: KubeDocument[] = [
    ...r.cluster.spec.otherDocuments,
    {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      body: {
        metadata: { name: "web-manual", namespace: "default", labels: { "kubernetes.io/service-name": "web" } },
        addressType: "IPv4",
        endpoints: [{ addresses: ["10.244.2.2"], conditions: { ready: true } }],
        ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      },
      location: { file: "test" },
    } as KubeDocument,
  ];
  r.services.update(docs);
  const after = new Set<string>();
  for (let i = 0; i < 12; i++) {
    const res = toWeb(r);
    t.true(res.ok, res.outcome);
    after.add(dnatTarget(res.events) ?? "none");
  }
  t.deepEqual([...after], ["10.244.2.2:8080"]);
});
