/**
 * `podwire check`: boots the cluster with one probe Pod per node, runs every cell of the
 * plan as a real exchange on the virtual clock (in plan order, so the same spec and seed
 * give the same report), and judges each against what Kubernetes says should happen:
 * ok, an expected failure, or an unexpected one with where and why the packet died.
 */
import type { ProxyMode } from "../cluster/spec.js";
import { formatIpv4, parseIpv4 } from "../base/index.js";
import { bootCluster, type RunningCluster } from "../cluster/boot.js";
import { type DnsTransport, type ExchangeResult, runExchange } from "../cluster/exchange.js";
import type { ClusterSpec } from "../cluster/spec.js";
import { servicePath } from "../cluster/service-path.js";
import type { TraceEvent } from "../netdev/index.js";
import { type Expectation, type FailureKind, type ModeLatitude, latitudeFor } from "./expect.js";
import { type CellKind, type PlannedCell, type SkippedTarget, planCheck } from "./plan.js";
import { type ProbePod, withProbePods } from "./probes.js";
import { planL7Cells, runL7Cell } from "./l7-cells.js";

export type CellOutcome = "ok" | "expected-failure" | "unexpected-failure";

export interface CheckCell {
  kind: CellKind;
  row: string;
  rowRank: number;
  from: string;
  column: string;
  columnNote: string;
  service: string | null;
  to: string;
  proto: PlannedCell["proto"];
  port: number;
  outcome: CellOutcome;
  /** The expected failure's Kubernetes reason; null when the cell should answer. */
  expected: string | null;
  /** Who answered, e.g. `pod/default/web-1 (10.244.2.2:8080)`; null unless ok. */
  endpoint: string | null;
  /** For failures: what happened and where the packet died; null for ok cells. */
  reason: string | null;
  /** A remark on how the cell was checked or judged (e.g. a proxy mode's documented difference). */
  note: string | null;
}

export interface CheckReport {
  cluster: string;
  source: string;
  mode: ProxyMode;
  seed: number;
  nodes: string[];
  probes: ProbePod[];
  cells: CheckCell[];
  skipped: SkippedTarget[];
  notes: string[];
  summary: { ok: number; expected: number; unexpected: number };
}

export function runCheck(spec: ClusterSpec): CheckReport {
  const { spec: probed, probes } = withProbePods(spec);
  const running = bootCluster(probed);
  const plan = planCheck(running, probes);
  const latitude = latitudeFor(running.services.mode);
  const cells = plan.cells.map((c) => runCell(running, c, latitude));
  const notes = [...plan.notes];
  // The L7 routes of every ingress controller, after the Service matrix (l7-cells.ts).
  const l7 = planL7Cells(running);
  cells.push(...l7.plans.map((p) => runL7Cell(running, p)));
  plan.skipped.push(...l7.skipped);
  notes.push(...l7.notes);
  return {
    cluster: spec.name,
    source: spec.source,
    mode: running.services.mode,
    seed: spec.seed,
    nodes: [...running.cluster.nodes.keys()],
    probes: [...probes.values()],
    cells,
    skipped: plan.skipped,
    notes,
    summary: {
      ok: cells.filter((c) => c.outcome === "ok").length,
      expected: cells.filter((c) => c.outcome === "expected-failure").length,
      unexpected: cells.filter((c) => c.outcome === "unexpected-failure").length,
    },
  };
}

function runCell(running: RunningCluster, cell: PlannedCell, latitude: ModeLatitude): CheckCell {
  const out: CheckCell = {
    kind: cell.kind,
    row: cell.row,
    rowRank: cell.rowRank,
    from: cell.from,
    column: cell.column,
    columnNote: cell.columnNote,
    service: cell.service,
    to: cell.to,
    proto: cell.proto,
    port: cell.port,
    outcome: "ok",
    expected: null,
    endpoint: null,
    reason: null,
    note: null,
  };
  let dst = cell.dst;
  let port = cell.port;
  if (cell.lookup) {
    const l = cell.lookup;
    const lookup = exchange(running, cell, l.server, 53, "dns", l.name, "udp");
    const stageExpectation = cell.expectStage === "lookup" ? cell.expectation : null;
    if (!lookup.ok) {
      judge(out, lookup, stageExpectation, latitude, `DNS lookup of ${l.name} from ${cell.source.label}`);
      return out;
    }
    if (stageExpectation !== null) {
      out.outcome = "unexpected-failure";
      out.expected = stageExpectation.reason;
      out.reason = `expected ${stageExpectation.reason}, but the lookup answered: ${lookup.outcome}`;
      return out;
    }
    dst = lookup.resolved[0]!;
    if (l.headless) port = l.endpoints.find((e) => e.address === formatIpv4(dst))?.port ?? l.defaultPort;
    out.to = `${cell.to} → ${formatIpv4(dst)}`;
    out.port = port;
  }
  const result = exchange(running, cell, dst, port, cell.proto, cell.queryName, cell.dnsTransport);
  judge(out, result, cell.expectStage === "exchange" ? cell.expectation : null, latitude, null);
  if (cell.l7Front !== undefined && out.outcome === "ok" && !/hello from /.test(result.outcome)) {
    // An ingress controller answers a request without a routed Host itself: the Service path works.
    out.endpoint = `pod/${cell.l7Front} (${result.outcome.slice(0, result.outcome.indexOf(" —"))})`;
    out.note = "answered by the ingress controller itself (no route for a bare address; its routes are the L7 cells)";
    return out;
  }
  if (out.outcome === "ok") out.endpoint = endpointOf(running, cell, result, dst, port);
  else if (out.outcome === "unexpected-failure" && cell.kind !== "podPort") {
    // Where kube-proxy sent it: the answer to "which endpoint is broken?".
    const dnat = dnatInTrace(running, result.events);
    if (dnat !== null) out.reason = `${out.reason} (kube-proxy sent it to ${dnat})`;
  }
  return out;
}

function exchange(
  running: RunningCluster,
  cell: PlannedCell,
  dst: number,
  port: number,
  proto: PlannedCell["proto"],
  dnsName: string | undefined,
  dnsTransport: DnsTransport | undefined,
): ExchangeResult {
  const title = `check ${cell.from} → ${cell.column}`;
  return runExchange(running.cluster, {
    title,
    from: cell.source.ns,
    fromLabel: cell.source.label,
    dst,
    dstPort: port,
    proto,
    ...(dnsName !== undefined ? { dnsName } : {}),
    ...(dnsTransport !== undefined ? { dnsTransport } : {}),
  });
}

/** Sorts a result into ok / expected / unexpected against the expectation, with the reason. */
function judge(out: CheckCell, result: ExchangeResult, expectation: Expectation | null, latitude: ModeLatitude, step: string | null): void {
  const prefix = step === null ? "" : `${step}: `;
  if (result.ok) {
    if (expectation === null) {
      out.outcome = "ok";
      return;
    }
    const note = latitude.maySucceed[expectation.rule];
    if (note !== undefined) {
      out.outcome = "ok";
      out.note = note;
      return;
    }
    out.outcome = "unexpected-failure";
    out.expected = expectation.reason;
    out.reason = `expected ${expectation.reason}, but it answered: ${result.outcome}`;
    return;
  }
  const where = whereItDied(result.events);
  const observed = `${prefix}${result.outcome}${where ? `; ${where}` : ""}`;
  if (expectation === null) {
    out.outcome = "unexpected-failure";
    out.reason = observed;
    return;
  }
  out.expected = expectation.reason;
  const kind = failureKind(result);
  const accepted = kind === expectation.kind || (kind !== null && (latitude.alsoAccept[expectation.rule] ?? []).includes(kind));
  if (accepted) {
    out.outcome = "expected-failure";
    out.reason = observed;
  } else {
    out.outcome = "unexpected-failure";
    out.reason = `expected ${expectation.reason}, but: ${observed}`;
  }
}

/** How a failed exchange failed: refused (REJECT), no answer (DROP), an empty DNS answer, or something else. */
function failureKind(result: ExchangeResult): FailureKind | null {
  const o = result.outcome;
  if (o === "connection refused (TCP RST)" || o.startsWith("ICMP port unreachable") || o.startsWith("association refused (SCTP ABORT)")) return "reject";
  if (o === "no answer (timed out)") return "drop";
  if (result.proto === "dns" && o.includes("(no A records)")) return "no-dns-answer";
  return null;
}

/**
 * Where and why the packet died, from the exchange's trace, most telling first: a netfilter
 * DROP or REJECT verdict or an IPVS refusal; a TCP reset; a drop (no socket, no neighbour,
 * no route, conntrack INVALID …); an ICMP error; else the last hop seen.
 */
export function whereItDied(events: readonly TraceEvent[]): string {
  const at = (e: TraceEvent) => `${e.netns}${e.device ? ` ${e.device}` : ""}`;
  const last = (pred: (e: TraceEvent) => boolean) => {
    for (let i = events.length - 1; i >= 0; i--) if (pred(events[i]!)) return events[i]!;
    return undefined;
  };
  const verdict = last((e) => e.action === "netfilter" && (/⇒ (DROP|REJECT)/.test(e.detail) || /^ipvs: (dropped|virtual service has no)/.test(e.detail)));
  if (verdict) return `at ${at(verdict)}: ${verdict.detail}`;
  const rst = last((e) => e.action === "reply" && /RST/.test(e.detail));
  if (rst) return `${rst.netns} answered ${rst.detail}`;
  const drop = last((e) => (e.action === "drop" && e.detail !== "netfilter") || (e.action === "netfilter" && /INVALID|insert failed|table full/.test(e.detail)));
  if (drop) return drop.action === "drop" ? `dropped at ${at(drop)}: ${drop.detail}` : `at ${at(drop)}: ${drop.detail}`;
  const icmp = last((e) => e.action === "icmp-error");
  if (icmp) return `${icmp.netns} sent ${icmp.detail}`;
  const end = events[events.length - 1];
  return end ? `last seen at ${at(end)}: ${end.action} ${end.detail}` : "nothing was sent";
}

/** Who answered an ok exchange: the HTTP body names the Pod; for UDP, the connection's DNAT in conntrack. */
function endpointOf(running: RunningCluster, cell: PlannedCell, result: ExchangeResult, dst: number, port: number): string | null {
  const cluster = running.cluster;
  // The HTTP and SCTP servers name themselves in their answer.
  if (cell.proto === "tcp" || cell.proto === "sctp") {
    const m = /hello from (\S+) \(container [^)]*\) at (\S+),/.exec(result.outcome);
    if (m) return `${m[1]!.startsWith("node/") ? m[1] : `pod/${m[1]}`} (${m[2]})`;
  }
  const dnat = dnatTarget(running, cell, result, dst, port);
  if (dnat !== null) return dnat;
  if (cell.kind === "podPort" || cell.kind === "dns") {
    const who = cluster.whoHas(dst);
    if (who) return `${who} (${formatIpv4(dst)}:${port})`;
  }
  return null;
}

/** The endpoint kube-proxy's DNAT chose for the exchange (from the entry node's conntrack), e.g. `pod/default/a (10.244.1.10:8080)`. */
function dnatTarget(running: RunningCluster, cell: PlannedCell, result: ExchangeResult, dst: number, port: number): string | null {
  const cluster = running.cluster;
  const ns = cell.source.ns;
  const srcIp = ns.selectSource(ns.routeOutput(dst) ?? ns.loRouteFor());
  const path = servicePath(cluster, result, srcIp, dst, port, cell.proto === "tcp" || cell.dnsTransport === "tcp" ? "tcp" : "udp");
  if (path.endpoint === null) return null;
  const who = cluster.whoHas(parseIpv4(path.endpoint.slice(0, path.endpoint.indexOf(":"))));
  return who ? `${who} (${path.endpoint})` : path.endpoint;
}

/** The first DNAT of the exchange, from its trace (a conntrack NAT binding, or IPVS's real server). */
function dnatInTrace(running: RunningCluster, events: readonly TraceEvent[]): string | null {
  for (const e of events) {
    if (e.nat === null || e.nat.kind !== "DNAT" || e.nat.reply) continue;
    const to = e.nat.to;
    const who = running.cluster.whoHas(parseIpv4(to.replace(/:\d+$/, "")));
    return who ? `${who} (${to})` : to;
  }
  return null;
}
