/**
 * The published scaling numbers the report sets beside podwire's figures
 * (shared/reference/service-networking-problems.md, "Published scaling numbers"; and
 * kube-proxy.md §5), with the podwire figure from this run that each one is comparable to.
 */
import type { BenchRun } from "./results.js";

export interface PublishedRow {
  source: string;
  finding: string;
  /** This run's comparable figure, in words; "—" when the run did not measure it. */
  podwire: string;
}

const fmt = (n: number, d = 0): string => n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: 0 });

function at(runs: readonly BenchRun[], mode: string, services: number): BenchRun | undefined {
  return runs.find((r) => r.mode === mode && r.services === services && r.available);
}

function nearest(runs: readonly BenchRun[], mode: string, services: number): BenchRun | undefined {
  const rs = runs.filter((r) => r.mode === mode && r.available);
  return rs.sort((a, b) => Math.abs(Math.log(a.services / services)) - Math.abs(Math.log(b.services / services)))[0];
}

export function publishedComparison(runs: readonly BenchRun[]): PublishedRow[] {
  const rows: PublishedRow[] = [];
  const t10k = nearest(runs, "iptables", 10_000);
  rows.push({
    source: "Tigera, “Comparing kube-proxy modes: iptables or IPVS?”",
    finding: "10 backends per Service, up to 10,000 Services: the modes differ only above ~1,000 Services and only without keepalive; at 10,000 Services ≈20,000 rules evaluated per new connection in iptables mode; extra CPU ≈35% of a core (iptables) vs ≈8% (IPVS) at 1,000 req/s",
    podwire: t10k && t10k.firstPacketCost !== null
      ? `${fmt(t10k.services)} Services: ${fmt(t10k.firstPacketCost)} rules evaluated on the client's node for a new connection's first packet (${fmt(t10k.firstPacketCostPath ?? 0)} over the whole path), ${fmt(t10k.laterPacketCost ?? 0, 1)} for a later packet; per request ${fmt(t10k.perRequestCostNoKeepalive ?? 0)} without keepalive vs ${fmt(t10k.perRequestCostKeepalive ?? 0, 1)} with keepalive ${t10k.keepalive}` +
        (t10k.kernelFirstPacketUs !== null ? `; kernel: ${fmt(t10k.kernelFirstPacketUs, 1)} µs extra per new connection → ≈${fmt(t10k.kernelFirstPacketUs / 10, 1)}% of a core at 1,000 new connections/s` : "")
      : "—",
  });
  const t5k = at(runs, "iptables", 5000);
  const t1 = nearest(runs, "iptables", 100);
  rows.push({
    source: "Huawei, KubeCon EU 2017, “Scale Kubernetes to Support 50,000 Services”",
    finding: "iptables: 1 Service = 8 rules, 2 ms to add a rule; 5,000 Services = 40k rules, 11 min; 20,000 Services = 160k rules, 5 h. IPVS add latency flat",
    podwire: t5k && t5k.objects?.rules != null
      ? `5,000 Services × ${t5k.endpoints} endpoints: ${fmt(t5k.objects.rules)} rule lines (${fmt((t5k.objects.rules - 5) / 5000, 1)} per Service); adding one Service: ${fmt(t5k.addServiceMs ?? 0, 1)} ms in podwire (partial sync + load)` +
        (t5k.kernelRestoreMs !== null ? `, the whole ruleset loads into this kernel in ${fmt(t5k.kernelRestoreMs)} ms` : "")
      : t1 && t1.objects?.rules != null ? `${fmt(t1.services)} Services: ${fmt(t1.objects.rules)} rule lines` : "—",
  });
  const kernelRows = runs.filter((r) => r.mode === "iptables" && r.kernelFirstPacketUs !== null);
  const nftKernelRows = runs.filter((r) => r.mode === "nftables" && r.kernelFirstPacketUs !== null);
  const nftModel = runs.filter((r) => r.mode === "nftables" && r.available && r.firstPacketCost !== null);
  const iptModel = runs.filter((r) => r.mode === "iptables" && r.available && r.firstPacketCost !== null);
  const parts: string[] = [];
  if (kernelRows.length > 0) parts.push("iptables, this kernel, new-flow round trip minus established round trip (median): " + kernelRows.map((r) => `${fmt(r.services)}: ${fmt(r.kernelFirstPacketUs!, 1)} µs`).join(", "));
  if (nftKernelRows.length > 0) parts.push("nftables, the same experiment: " + nftKernelRows.map((r) => `${fmt(r.services)}: ${fmt(r.kernelFirstPacketUs!, 1)} µs`).join(", "));
  if (nftModel.length > 0) {
    parts.push(
      "modelled rules evaluated for a new connection's first packet on the client's node: nftables " + nftModel.map((r) => `${fmt(r.services)}: ${fmt(r.firstPacketCost!)}`).join(", ") +
        (iptModel.length > 0 ? "; iptables " + iptModel.map((r) => `${fmt(r.services)}: ${fmt(r.firstPacketCost!)}`).join(", ") : ""),
    );
  }
  rows.push({
    source: "Kubernetes blog, “NFTables mode for kube-proxy” (2025-02-28)",
    finding: "iptables first-packet latency grows O(n): p50 ≈0.05 ms at 5k, ≈0.06 ms at 10k, ≈0.27 ms at 30k Services; nftables roughly constant (verdict-map lookups instead of a rule walk)",
    podwire: parts.length > 0 ? parts.join("; ") : "— (kernel not measured)",
  });
  const kr = runs.filter((r) => r.mode === "iptables" && r.kernelRestoreMs !== null && r.objects?.rules != null).sort((a, b) => b.services - a.services)[0];
  rows.push({
    source: "kubernetes/kubernetes #96018",
    finding: "a 695,992-line ruleset took 12.8 s to load with iptables-restore (≈54k lines/s)",
    podwire: kr ? `${fmt(kr.kernelRuleLines ?? kr.objects!.rules!)} rule lines loaded in ${fmt(kr.kernelRestoreMs! / 1000, 2)} s (${fmt((kr.kernelRuleLines ?? kr.objects!.rules!) / (kr.kernelRestoreMs! / 1000))} lines/s) by this machine's iptables-restore` : "— (kernel not measured)",
  });
  const small = runs.filter((r) => r.mode === "iptables" && r.available && r.objects?.natRules != null);
  rows.push({
    source: "kube-proxy rule-count test (number_generated_rules_test.go)",
    finding: "ClusterIP-only: nat rules = 5 + Σ(2 + 3·endpoints); 10 Services × 10 endpoints = 325",
    podwire: small.length > 0
      ? small.map((r) => `${fmt(r.services)}: ${fmt(r.objects!.natRules!)} nat rules (formula: ${fmt(5 + r.services * (2 + 3 * r.endpoints) + 5)}, counting the kubernetes Service's one endpoint; kube-dns has none here)`).join("; ")
      : "—",
  });
  rows.push({
    source: "Cilium 1.8 release notes",
    finding: "one Service, kernel 5.7: iptables ≈2.1M req/s forwarded, eBPF ≈3.6M, XDP ≥10M",
    podwire: (() => {
      const r = nearest(runs, "iptables", 100);
      return r && r.establishedPps !== null ? `podwire is an emulator, not a forwarding plane: ${fmt(r.establishedPps)} established packets/s end to end at ${fmt(r.services)} Services (context, not a comparison)` : "—";
    })(),
  });
  return rows;
}

/** A published figure the charts plot as hollow markers, on the chart and panel it is comparable with. */
export interface PublishedSeries {
  chart: "rules" | "sync" | "first-packet" | "kernel";
  /** The mode whose family it is drawn in. */
  mode: "iptables" | "ipvs" | "nftables";
  /** The source, short (legend and caption). */
  source: string;
  label: string;
  shape: "circle" | "square" | "triangle" | "diamond";
  points: { x: number; y: number }[];
}

/** The published numbers of the table above that are points on one of the charts (x: Services). */
export const PUBLISHED_SERIES: readonly PublishedSeries[] = [
  {
    chart: "rules",
    mode: "iptables",
    source: "Huawei, KubeCon EU 2017",
    label: "Huawei 2017: iptables rules (1 endpoint per Service)",
    shape: "triangle",
    points: [
      { x: 5000, y: 40_000 },
      { x: 20_000, y: 160_000 },
    ],
  },
  {
    chart: "rules",
    mode: "iptables",
    source: "kube-proxy's rule-count test (number_generated_rules_test.go)",
    label: "kube-proxy test: nat rules, 10 Services × 10 endpoints",
    shape: "circle",
    points: [{ x: 10, y: 325 }],
  },
  {
    chart: "sync",
    mode: "iptables",
    source: "Huawei, KubeCon EU 2017",
    label: "Huawei 2017: add one rule (iptables calls)",
    shape: "triangle",
    points: [
      { x: 5000, y: 11 * 60_000 },
      { x: 20_000, y: 5 * 3_600_000 },
    ],
  },
  {
    chart: "first-packet",
    mode: "iptables",
    source: "Tigera, “Comparing kube-proxy modes: iptables or IPVS?”",
    label: "Tigera: iptables rules per new connection",
    shape: "square",
    points: [{ x: 10_000, y: 20_000 }],
  },
  {
    chart: "kernel",
    mode: "iptables",
    source: "Kubernetes blog, “NFTables mode for kube-proxy” (2025-02-28)",
    label: "Kubernetes blog: iptables first packet, p50",
    shape: "diamond",
    points: [
      { x: 5000, y: 50 },
      { x: 10_000, y: 60 },
      { x: 30_000, y: 270 },
    ],
  },
];
