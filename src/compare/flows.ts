/**
 * The flows `podwire compare-modes` runs: the Service cells of `podwire check` (every Service
 * port from the probe Pod and the host network of every node to the ClusterIP, and from the
 * first outside host to every NodePort on every node, every externalIP and every
 * LoadBalancer IP), without its Pod-port and by-name (DNS) cells. Each carries the
 * Kubernetes facts the table of documented differences needs: what Kubernetes says should
 * happen (check's expectation) and the Service port's cluster endpoints.
 */
import type { RunningCluster } from "../cluster/boot.js";
import { type Expectation, type PlannedCell, type ProbePod, planCheck, portEndpoints, usable } from "../check/index.js";
import type { Service } from "../kube/index.js";

export type FlowKind = "clusterIP" | "nodePort" | "externalIP" | "loadBalancerIP";

export interface Flow {
  /** Identity across modes: from, to, port and protocol. */
  key: string;
  kind: FlowKind;
  /** `pod@worker-1`, `node/worker-1`, `ext/outside`. */
  from: string;
  /** `svc/default/web (10.96.0.7)`, `svc/default/web nodePort on node/worker-1 (192.168.56.11)`, … */
  to: string;
  /** The Service port's column, `default/web:80/TCP`. */
  column: string;
  /** `tcp`, `udp`, `sctp`, or `dns` (a DNS query to a port 53 served by CoreDNS). */
  proto: PlannedCell["proto"];
  port: number;
  cell: PlannedCell;
  /** What Kubernetes says should happen (null: it should answer). */
  expectation: Expectation | null;
  /**
   * `IP:PORT` of the Service port's cluster endpoints (the usable ones, when the Service
   * uses cluster endpoints at all: kube-proxy's UsesClusterEndpoints), sorted.
   */
  clusterEndpoints: string[];
}

const FLOW_KINDS: ReadonlySet<string> = new Set<FlowKind>(["clusterIP", "nodePort", "externalIP", "loadBalancerIP"]);

export function planFlows(running: RunningCluster, probes: ReadonlyMap<string, ProbePod>): Flow[] {
  const model = running.services.model;
  const flows: Flow[] = [];
  for (const cell of planCheck(running, probes).cells) {
    // Every mode carries TCP, UDP and SCTP; a mode that did not (KubeProxyMode.protocols)
    // would plan none of that protocol's cells, and run.ts notes the flows it lacks.
    if (!FLOW_KINDS.has(cell.kind) || cell.service === null) continue;
    const svc = model.services.find((s) => `${s.namespace}/${s.name}` === cell.service);
    const sp = svc?.ports.find((p) => `${cell.service}:${p.port}/${p.protocol}` === cell.column);
    const cluster = svc && sp && usesClusterEndpoints(svc) ? usable(portEndpoints(model, svc, sp)).map((e) => `${e.address}:${e.port}`) : [];
    flows.push({
      key: `${cell.from} → ${cell.to} ${cell.port}/${cell.column.slice(cell.column.lastIndexOf("/") + 1)}`,
      kind: cell.kind as FlowKind,
      from: cell.from,
      to: cell.to,
      column: cell.column,
      proto: cell.proto,
      port: cell.port,
      cell,
      expectation: cell.expectation,
      clusterEndpoints: [...new Set(cluster)].sort(),
    });
  }
  return flows;
}

/**
 * kube-proxy's UsesClusterEndpoints (pkg/proxy/serviceport.go): a Service port uses cluster
 * endpoints when its internal traffic policy is Cluster, or when it accepts external
 * traffic at all ("Even if the external traffic policy is Local, we need Cluster endpoints
 * to implement short circuiting").
 */
function usesClusterEndpoints(svc: Service): boolean {
  const external = svc.type === "LoadBalancer" || svc.type === "NodePort" || (svc.type === "ClusterIP" && svc.externalIPs.length > 0);
  return svc.internalTrafficPolicy !== "Local" || external;
}
