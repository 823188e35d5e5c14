/**
 * `podwire compare-modes`: boots the same cluster (same spec, same seed, one probe Pod per
 * node) once per runnable kube-proxy mode, runs the flows of `podwire check` in each, and
 * compares every flow's outcome across the modes: the verdict class, the endpoint set the
 * mode may send it to on its node (adapters/), and the source the endpoint saw. A flow that
 * differs from the baseline mode (iptables) is documented when the table of known
 * kube-proxy differences (known-differences.ts) explains it, else undocumented.
 */
import { parseIpv4 } from "../base/index.js";
import type { RunningCluster } from "../cluster/boot.js";
import { bootCluster } from "../cluster/boot.js";
import type { NodeRuntime } from "../cluster/build.js";
import { runExchange } from "../cluster/exchange.js";
import { RUNNABLE_MODES } from "../cluster/proxy-modes/index.js";
import type { ClusterSpec, ProxyMode } from "../cluster/spec.js";
import { withProbePods } from "../check/index.js";
import type { FlowRun } from "./adapters/adapter.js";
import { adapterFor } from "./adapters/registry.js";
import { type Flow, planFlows } from "./flows.js";
import { type KnownDifference, type ModeOutcome, explain } from "./known-differences.js";
import { endpointPlace, seenByEndpoint, sourceClass, verdictOf } from "./observe.js";

/** What can differ between two modes' outcomes of a flow. */
export type Aspect = "verdict" | "endpoints" | "source";

export interface FlowComparison {
  flow: Flow;
  outcomes: Partial<Record<ProxyMode, ModeOutcome>>;
  /** What differs from the baseline mode, in any mode; empty when every mode agrees. */
  differs: Aspect[];
  /** Whether every mode's difference from the baseline is a documented one (true when nothing differs). */
  documented: boolean;
  /** The documented reasons, or what is undocumented; null when nothing differs. */
  reason: string | null;
  /** The ids of the documented differences that explain it. */
  known: string[];
}

export interface CompareReport {
  cluster: string;
  source: string;
  seed: number;
  modes: ProxyMode[];
  /** The mode the others are compared with. */
  baseline: ProxyMode;
  nodes: string[];
  /** Short names of the endpoints in the report (`web-1`, `control-plane`), by `IP:PORT`. */
  endpointNames: Record<string, string>;
  comparisons: FlowComparison[];
  differences: FlowComparison[];
  summary: { flows: number; differ: number; documented: number; undocumented: number };
  notes: string[];
}

export interface CompareOptions {
  /** The modes to compare (default: every runnable mode, from the proxy-mode registry). */
  modes?: readonly ProxyMode[];
}

export function runCompare(spec: ClusterSpec, opts: CompareOptions = {}): CompareReport {
  const modes = [...(opts.modes ?? RUNNABLE_MODES)];
  const baseline: ProxyMode = modes.includes("iptables") ? "iptables" : modes[0]!;
  const notes: string[] = [];
  const runs = new Map<ProxyMode, Map<string, { flow: Flow; outcome: ModeOutcome }>>();
  let flows: Flow[] = [];
  let nodes: string[] = [];
  const endpointNames: Record<string, string> = {};
  for (const mode of modes) {
    const adapter = adapterFor(mode);
    if (adapter === null) notes.push(`${mode} mode has no endpoint-set adapter (src/compare/adapters/): its endpoint sets are not compared`);
    const { spec: probed, probes } = withProbePods({ ...spec, proxyMode: mode });
    const running = bootCluster(probed);
    const planned = planFlows(running, probes);
    if (mode === modes[0]) {
      flows = planned;
      nodes = [...running.cluster.nodes.keys()];
    }
    const out = new Map<string, { flow: Flow; outcome: ModeOutcome }>();
    for (const flow of planned) {
      const outcome = runFlow(running, flow, adapter);
      for (const e of [...(outcome.endpoints ?? []), ...(outcome.answeredBy !== null ? [outcome.answeredBy] : [])]) endpointNames[e] ??= shortName(running, e);
      out.set(flow.key, { flow, outcome });
    }
    runs.set(mode, out);
  }

  const comparisons: FlowComparison[] = [];
  for (const flow of flows) {
    const outcomes: Partial<Record<ProxyMode, ModeOutcome>> = {};
    for (const mode of modes) {
      const r = runs.get(mode)!.get(flow.key);
      if (r) outcomes[mode] = r.outcome;
    }
    comparisons.push(compareFlow(flow, outcomes, modes, baseline));
  }
  for (const mode of modes) {
    const missing = [...runs.get(mode)!.keys()].filter((k) => !flows.some((f) => f.key === k));
    if (missing.length > 0) notes.push(`${mode} mode planned ${missing.length} flow(s) the ${modes[0]} mode did not: ${missing.slice(0, 3).join("; ")}`);
    // A mode that does not carry a protocol (KubeProxyMode.protocols) plans none of its flows.
    const absent = flows.filter((f) => !runs.get(mode)!.has(f.key)).map((f) => f.key);
    if (absent.length > 0) notes.push(`${mode} mode did not plan ${absent.length} flow(s) the ${modes[0]} mode did (not compared there): ${absent.slice(0, 3).join("; ")}`);
    // An adapter that cannot tell a flow's endpoints (null) leaves them out of the comparison.
    const unknown = flows.filter((f) => runs.get(mode)!.get(f.key)?.outcome.endpoints === null);
    if (unknown.length > 0 && adapterFor(mode) !== null) {
      const protos = [...new Set(unknown.map((f) => f.proto.toUpperCase()))].join(", ");
      notes.push(`${mode} mode's endpoint-set adapter cannot tell the endpoints of ${unknown.length} ${protos} flow(s): their verdicts and sources are compared, not their endpoint sets`);
    }
  }
  const differences = comparisons.filter((c) => c.differs.length > 0);
  return {
    cluster: spec.name,
    source: spec.source,
    seed: spec.seed,
    modes,
    baseline,
    nodes,
    endpointNames,
    comparisons,
    differences,
    summary: {
      flows: comparisons.length,
      differ: differences.length,
      documented: differences.filter((c) => c.documented).length,
      undocumented: differences.filter((c) => !c.documented).length,
    },
    notes,
  };
}

function runFlow(running: RunningCluster, flow: Flow, adapter: ReturnType<typeof adapterFor>): ModeOutcome {
  const cell = flow.cell;
  const result = runExchange(running.cluster, {
    title: `compare-modes ${cell.from} → ${cell.column}`,
    from: cell.source.ns,
    fromLabel: cell.source.label,
    dst: cell.dst,
    dstPort: cell.port,
    proto: cell.proto,
    ...(cell.queryName !== undefined ? { dnsName: cell.queryName } : {}),
    ...(cell.dnsTransport !== undefined ? { dnsTransport: cell.dnsTransport } : {}),
  });
  const ns = cell.source.ns;
  const route = ns.routeOutput(cell.dst) ?? ns.loRouteFor();
  const run: FlowRun = {
    running,
    flow,
    result,
    srcIp: ns.selectSource(route),
    dst: cell.dst,
    port: cell.port,
    proto: cell.proto === "tcp" || cell.dnsTransport === "tcp" ? "tcp" : cell.proto === "sctp" ? "sctp" : "udp",
  };
  const node = entryNode(running, flow);
  const seen = seenByEndpoint(result);
  return {
    verdict: verdictOf(result),
    endpoints: adapter === null ? null : node === null ? [] : adapter.endpointSetOf(node, run),
    sourceSeen: seen === null ? null : sourceClass(running.cluster, cell.source.label, seen.peer),
    answeredBy: seen?.endpoint ?? null,
    answeredFrom: seen === null ? null : endpointPlace(running.cluster, seen.endpoint),
  };
}

/** `10.244.2.2:8080` → `web-1` (a Pod), `control-plane` (a node's address), or the address itself. */
function shortName(running: RunningCluster, endpoint: string): string {
  const who = running.cluster.whoHas(parseIpv4(endpoint.slice(0, endpoint.lastIndexOf(":"))));
  if (who === null) return endpoint;
  return who.slice(who.lastIndexOf("/") + 1);
}

/**
 * The node whose dataplane handles the flow's first packet: the client's own node; from
 * outside, the node owning the address (a NodePort), or the node the outside host routes
 * external and LoadBalancer IPs through.
 */
function entryNode(running: RunningCluster, flow: Flow): NodeRuntime | null {
  const cluster = running.cluster;
  const source = flow.cell.source;
  if (source.node !== null) return cluster.node(source.node) ?? null;
  for (const n of cluster.nodes.values()) if (n.spec.internalIP === flow.cell.dst) return n;
  const route = source.ns.routes.lookup(flow.cell.dst);
  if (route && route.gateway !== 0) for (const n of cluster.nodes.values()) if (n.spec.internalIP === route.gateway) return n;
  return null;
}

function compareFlow(flow: Flow, outcomes: Partial<Record<ProxyMode, ModeOutcome>>, modes: readonly ProxyMode[], baseline: ProxyMode): FlowComparison {
  const base = outcomes[baseline];
  const differs = new Set<Aspect>();
  const reasons: string[] = [];
  const known: KnownDifference[] = [];
  let documented = true;
  for (const mode of modes) {
    const other = outcomes[mode];
    if (mode === baseline || base === undefined || other === undefined) continue;
    const aspects = aspectsDiffering(base, other);
    if (aspects.length === 0) continue;
    for (const a of aspects) differs.add(a);
    const entry = explain(mode, base, other, flow);
    if (entry !== null) {
      if (!known.includes(entry)) {
        known.push(entry);
        reasons.push(`${mode}: ${entry.reason}`);
      }
    } else {
      documented = false;
      reasons.push(`${mode}: undocumented (${aspects.join(", ")} differ${aspects.length === 1 ? "s" : ""} from ${baseline} mode${flow.expectation ? `; Kubernetes: ${flow.expectation.reason}` : ""})`);
    }
  }
  const order: Aspect[] = ["verdict", "endpoints", "source"];
  return {
    flow,
    outcomes,
    differs: order.filter((a) => differs.has(a)),
    documented,
    reason: reasons.length > 0 ? reasons.join("; ") : null,
    known: known.map((k) => k.id),
  };
}

/**
 * What differs between two outcomes. Endpoint sets are compared when both modes have an
 * adapter. Sources are compared when the endpoints that answered sit in the same place
 * (node, and Pod or host network): which endpoint answers is a random draw, and a Pod on
 * another node may rightly see another source.
 */
export function aspectsDiffering(a: ModeOutcome, b: ModeOutcome): Aspect[] {
  const out: Aspect[] = [];
  if (a.verdict !== b.verdict) out.push("verdict");
  if (a.endpoints !== null && b.endpoints !== null && (a.endpoints.length !== b.endpoints.length || a.endpoints.some((e, i) => e !== b.endpoints![i]))) out.push("endpoints");
  if (a.sourceSeen !== b.sourceSeen && (a.sourceSeen === null || b.sourceSeen === null || a.answeredFrom === b.answeredFrom)) out.push("source");
  return out;
}
