/**
 * Which cells `podwire check` runs: every (source, target) pair of the connectivity matrix,
 * each with what Kubernetes says should happen (expect.ts). Sources are one probe Pod per
 * node, every node's host namespace, one probe Pod asking by DNS name, and the first host
 * outside the cluster; targets are every Service port (ClusterIP, DNS name, NodePort on every
 * node, externalIPs, LoadBalancer IPs) and every Pod container port.
 */
import { formatIpv4, parseIpv4 } from "../base/index.js";
import type { RunningCluster } from "../cluster/boot.js";
import type { DnsTransport, ExchangeProto } from "../cluster/exchange.js";
import { CLUSTER_DOMAIN } from "../cluster/services.js";
import type { Service, ServicePort } from "../kube/index.js";
import type { NetworkNamespace } from "../netns/index.js";
import {
  type Expectation,
  type PortEndpoint,
  asDnsLookup,
  externalExpectation,
  headlessExpectation,
  internalExpectation,
  portEndpoints,
  usable,
} from "./expect.js";
import type { ProbePod } from "./probes.js";

export type CellKind = "clusterIP" | "dns" | "nodePort" | "externalIP" | "loadBalancerIP" | "podPort" | "l7Route";

export interface CellSource {
  ns: NetworkNamespace;
  /** How runExchange and servicePath name it: `pod/NS/NAME`, `node/NAME`, `ext/NAME`. */
  label: string;
  /** The node the source sits on; null for a host outside the cluster. */
  node: string | null;
}

export interface PlannedCell {
  kind: CellKind;
  /** The table row: `pod@worker-1`, `node/worker-1`, `dns@worker-1`, `ext/outside→worker-1`, … */
  row: string;
  /** Sort key of the row (probe Pods, nodes, DNS, NodePorts, externalIPs, LoadBalancer IPs). */
  rowRank: number;
  /** The source as the report names it: `pod@worker-1`, `node/worker-1`, `dns@worker-1`, `ext/outside`. */
  from: string;
  source: CellSource;
  /** The table column: `default/web:80/TCP`, or `pod/default/web-0:8080/TCP`. */
  column: string;
  /** `NS/NAME` of the Service; null for Pod ports. */
  service: string | null;
  /** Extra column heading, e.g. `http` or `np 30080`. */
  columnNote: string;
  to: string;
  /** 0 for DNS cells until the name is resolved. */
  dst: number;
  port: number;
  proto: ExchangeProto;
  /** proto dns: the name asked, and over which transport (TCP port 53: DNS over TCP). */
  queryName?: string;
  dnsTransport?: DnsTransport;
  /** kind dns: the lookup that comes first. */
  lookup?: { name: string; server: number; headless: boolean; endpoints: PortEndpoint[]; defaultPort: number };
  expectation: Expectation | null;
  /** The L7 controller Pod behind the Service (`NS/NAME`): any HTTP answer from it shows the path works. */
  l7Front?: string;
  /** kind dns: whether the expectation is about the lookup or the exchange after it. */
  expectStage: "lookup" | "exchange";
}

export interface SkippedTarget {
  target: string;
  reason: string;
}

export interface CheckPlan {
  cells: PlannedCell[];
  skipped: SkippedTarget[];
  notes: string[];
}

const RANK = { pod: 0, node: 1000, dns: 2000, nodePort: 3000, externalIP: 4000, loadBalancerIP: 5000 } as const;

export function planCheck(running: RunningCluster, probes: ReadonlyMap<string, ProbePod>): CheckPlan {
  const { cluster, services } = running;
  const model = services.model;
  const cells: PlannedCell[] = [];
  const skipped: SkippedTarget[] = [];
  const notes: string[] = [];
  const nodes = [...cluster.nodes.values()];
  const probeKeys = new Set([...probes.values()].map((p) => p.key));
  const probeSource = (node: string): CellSource => {
    const pod = cluster.pods.get(probes.get(node)!.key)!;
    return { ns: pod.ns, label: `pod/${pod.key}`, node };
  };
  const dnsServerIps = new Set([...running.dns.keys()].map((k) => cluster.pods.get(k)!.spec.podIP));
  const queryName = dnsQueryName(model.services);

  const kubeDns = model.services.find((s) => s.namespace === "kube-system" && s.name === "kube-dns");
  const kubeDnsPort = kubeDns?.ports.find((p) => p.port === 53 && p.protocol === "UDP");
  const dnsOk = kubeDns !== undefined && kubeDnsPort !== undefined && kubeDns.clusterIP !== null && !kubeDns.headless;
  if (!dnsOk) notes.push("no kube-system/kube-dns Service with a ClusterIP and port 53/UDP: the by-name (dns@) cells are skipped");
  const dnsNode = (nodes.find((n) => n.spec.schedulable) ?? nodes[0])?.spec.name;

  const ext = [...cluster.externals.values()][0];
  if (!ext) notes.push("no host outside the cluster (the Cluster document's spec.externalHosts is empty): NodePort, externalIP and LoadBalancer IP cells are skipped");
  // Outside hosts reach external and LoadBalancer IPs through the first schedulable node (services.ts routeExternalAddresses).
  const landing = (cluster.spec.nodes.find((n) => n.schedulable) ?? cluster.spec.nodes[0])?.name ?? "";

  // Services in front of an L7 controller: the controller answers a bare request itself (404, or 400 on its TLS port).
  const l7Fronts = new Map<string, string>();
  for (const c of running.l7.controllers) for (const s of running.l7.servicesOf(c.pod)) l7Fronts.set(`${s.namespace}/${s.name}`, c.pod.key);
  for (const svc of model.services) {
    const svcKey = `${svc.namespace}/${svc.name}`;
    if (svc.type === "ExternalName") {
      skipped.push({ target: `svc/${svcKey}`, reason: "ExternalName Service: CoreDNS answers a CNAME, kube-proxy has no rules for it" });
      continue;
    }
    for (const sp of svc.ports) {
      const column = `${svcKey}:${sp.port}/${sp.protocol}`;
      if (!running.services.proxy.protocols.has(sp.protocol)) {
        skipped.push({ target: `svc/${column}`, reason: `${sp.protocol} port: podwire's ${running.services.mode} mode does not carry ${sp.protocol} yet` });
        continue;
      }
      const endpoints = portEndpoints(model, svc, sp);
      const dnsProto = sp.port === 53 && usable(endpoints).every((e) => dnsServerIps.has(parseIpv4(e.address)));
      const proto: ExchangeProto = dnsProto ? "dns" : sp.protocol === "UDP" ? "udp" : sp.protocol === "SCTP" ? "sctp" : "tcp";
      const front = l7Fronts.get(svcKey);
      const base = {
        ...(front !== undefined ? { l7Front: front } : {}),
        column,
        service: svcKey,
        columnNote: [sp.name, sp.nodePort !== 0 ? `np ${sp.nodePort}` : ""].filter((s) => s !== "").join(" "),
        proto,
        expectStage: "exchange" as const,
        ...(proto === "dns" ? { queryName, dnsTransport: sp.protocol === "TCP" ? ("tcp" as const) : ("udp" as const) } : {}),
      };
      if (svc.clusterIP !== null && !svc.headless) {
        const vip = parseIpv4(svc.clusterIP);
        const to = `svc/${svcKey} (${svc.clusterIP})`;
        for (const [i, n] of nodes.entries()) {
          const node = n.spec.name;
          cells.push({ ...base, kind: "clusterIP", row: `pod@${node}`, rowRank: RANK.pod + i, from: `pod@${node}`, source: probeSource(node), to, dst: vip, port: sp.port, expectation: internalExpectation(svc, endpoints, node) });
        }
        for (const [i, n] of nodes.entries()) {
          const node = n.spec.name;
          cells.push({ ...base, kind: "clusterIP", row: `node/${node}`, rowRank: RANK.node + i, from: `node/${node}`, source: { ns: n.ns, label: `node/${node}`, node }, to, dst: vip, port: sp.port, expectation: internalExpectation(svc, endpoints, node) });
        }
      }
      if (dnsOk && dnsNode !== undefined) {
        cells.push(dnsCell(base, svc, sp, endpoints, dnsNode, probeSource(dnsNode), kubeDns!, kubeDnsPort!, model));
      }
      if (!ext) continue;
      const extLabel = `ext/${ext.spec.name}`;
      const extSource: CellSource = { ns: ext.ns, label: extLabel, node: null };
      if (sp.nodePort !== 0) {
        for (const [i, n] of nodes.entries()) {
          const node = n.spec.name;
          cells.push({
            ...base,
            kind: "nodePort",
            row: `${extLabel}→${node}`,
            rowRank: RANK.nodePort + i,
            from: extLabel,
            source: extSource,
            to: `svc/${svcKey} nodePort on node/${node} (${formatIpv4(n.spec.internalIP)})`,
            dst: n.spec.internalIP,
            port: sp.nodePort,
            expectation: externalExpectation(svc, endpoints, node, null),
          });
        }
      }
      for (const text of svc.externalIPs) {
        cells.push({
          ...base,
          kind: "externalIP",
          row: `${extLabel}→externalIP ${text}`,
          rowRank: RANK.externalIP + (parseIpv4(text) >>> 8) / 2 ** 24,
          from: extLabel,
          source: extSource,
          to: `svc/${svcKey} externalIP (${text})`,
          dst: parseIpv4(text),
          port: sp.port,
          expectation: externalExpectation(svc, endpoints, landing, null),
        });
      }
      for (const text of svc.loadBalancerIPs) {
        cells.push({
          ...base,
          kind: "loadBalancerIP",
          row: `${extLabel}→LB ${text}`,
          rowRank: RANK.loadBalancerIP + (parseIpv4(text) >>> 8) / 2 ** 24,
          from: extLabel,
          source: extSource,
          to: `svc/${svcKey} LoadBalancer IP (${text})`,
          dst: parseIpv4(text),
          port: sp.port,
          expectation: externalExpectation(svc, endpoints, landing, ext.spec.ip),
        });
      }
    }
  }

  for (const pod of cluster.pods.values()) {
    if (probeKeys.has(pod.key)) continue;
    const from = (nodes.find((n) => n !== pod.node) ?? pod.node).spec.name;
    for (const c of pod.spec.containers) {
      for (const p of c.ports) {
        const column = `pod/${pod.key}:${p.containerPort}/${p.protocol}`;
        const dnsProto = p.containerPort === 53 && running.dns.has(pod.key);
        const ip = formatIpv4(pod.spec.podIP);
        cells.push({
          ...(running.l7.controllers.some((c) => c.pod === pod) && p.protocol === "TCP" ? { l7Front: pod.key } : {}),
          kind: "podPort",
          row: `pod@${from}`,
          rowRank: RANK.pod + nodes.findIndex((n) => n.spec.name === from),
          from: `pod@${from}`,
          source: probeSource(from),
          column,
          service: null,
          columnNote: [c.name, p.name ?? ""].filter((s) => s !== "").join(" "),
          to: pod.spec.hostNetwork ? `pod/${pod.key} (hostNetwork on node/${pod.node.spec.name}, ${ip})` : `pod/${pod.key} (${ip})`,
          dst: pod.spec.podIP,
          port: p.containerPort,
          proto: dnsProto ? "dns" : p.protocol === "UDP" ? "udp" : p.protocol === "SCTP" ? "sctp" : "tcp",
          ...(dnsProto ? { queryName, dnsTransport: p.protocol === "TCP" ? ("tcp" as const) : ("udp" as const) } : {}),
          expectation: null,
          expectStage: "exchange",
        });
      }
    }
  }
  return { cells, skipped, notes };
}

function dnsCell(
  base: Omit<PlannedCell, "kind" | "row" | "rowRank" | "from" | "source" | "to" | "dst" | "port" | "expectation" | "expectStage"> & { expectStage: "exchange" },
  svc: Service,
  sp: ServicePort,
  endpoints: PortEndpoint[],
  node: string,
  source: CellSource,
  kubeDns: Service,
  kubeDnsPort: ServicePort,
  model: RunningCluster["services"]["model"],
): PlannedCell {
  const name = `${svc.name}.${svc.namespace}.svc.${CLUSTER_DOMAIN}`;
  const lookupExpectation = internalExpectation(kubeDns, portEndpoints(model, kubeDns, kubeDnsPort), node);
  let expectation: Expectation | null;
  let stage: "lookup" | "exchange" = "lookup";
  if (lookupExpectation !== null) expectation = asDnsLookup(lookupExpectation);
  else if (svc.headless) expectation = headlessExpectation(endpoints);
  else {
    expectation = internalExpectation(svc, endpoints, node);
    stage = "exchange";
  }
  return {
    ...base,
    kind: "dns",
    row: `dns@${node}`,
    rowRank: RANK.dns,
    from: `dns@${node}`,
    source,
    to: `svc/${svc.namespace}/${svc.name} by name ${name}`,
    dst: 0,
    port: sp.port,
    lookup: {
      name,
      server: parseIpv4(kubeDns.clusterIP!),
      headless: svc.headless,
      endpoints,
      defaultPort: typeof sp.targetPort === "number" ? sp.targetPort : sp.port,
    },
    expectation,
    expectStage: stage,
  };
}

/** The name DNS cells ask for: the `kubernetes` Service's (it always has a ClusterIP), else any Service's. */
function dnsQueryName(services: readonly Service[]): string {
  const svc =
    services.find((s) => s.namespace === "default" && s.name === "kubernetes" && s.clusterIP !== null && !s.headless) ??
    services.find((s) => s.type !== "ExternalName" && s.clusterIP !== null && !s.headless);
  return svc ? `${svc.name}.${svc.namespace}.svc.${CLUSTER_DOMAIN}` : `kube-dns.kube-system.svc.${CLUSTER_DOMAIN}`;
}
