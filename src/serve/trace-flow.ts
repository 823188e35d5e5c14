/**
 * One traced exchange for the dashboard and `/api/trace`: the same exchange `podwire trace
 * --json --pcap` runs, on a fresh boot of the cluster as it is configured now (same seed, same
 * objects), so the hops and the capture's bytes equal the command's for the same flow — the
 * live cluster and its background traffic are left alone. The capture is kept in memory.
 */
import { PodwireError, formatIpv4 } from "../base/index.js";
import { bootCluster } from "../cluster/boot.js";
import { CaptureSession } from "../cluster/capture.js";
import { defaultPort, parseDestination, parseSource } from "../cluster/endpoints.js";
import { DEFAULT_DNS_QUERY, type ExchangeProto, runExchange } from "../cluster/exchange.js";
import { TRACE_JSON_SCHEMA_VERSION, traceHopJson } from "../cluster/report.js";
import { servicePath, servicePorts } from "../cluster/service-path.js";
import type { ClusterSpec } from "../cluster/spec.js";
import { MemorySink } from "../pcap/index.js";
import { DNS_PORT, dnsNameProblem } from "../wire/index.js";

export const TRACE_PROTOS = ["tcp", "udp", "icmp"] as const;
export type TraceProto = (typeof TRACE_PROTOS)[number];

export interface TraceRequest {
  /** pod/NS/NAME, node/NAME or ext/NAME|IP. */
  from: string;
  /** pod/NS/NAME[:PORT], svc/NS/NAME[:PORT], node/NAME[:PORT] or IP[:PORT]. */
  to: string;
  proto: TraceProto;
  /** The name a DNS trace (port 53) asks for. */
  query?: string;
}

export interface TraceOutcome {
  /** The `trace --json` object (schemaVersion 1), `capture` not yet filled in. */
  json: Record<string, unknown>;
  /** The exchange's frames as a pcapng file. */
  pcapng: Uint8Array;
}

/** Runs the exchange `request` names on a fresh boot of `spec`; bad names are PodwireErrors naming the parameter. */
export function traceFlow(spec: ClusterSpec, request: TraceRequest): TraceOutcome {
  const { cluster, services } = bootCluster(spec);
  const src = parseSource(cluster, request.from, "from");
  const dst = parseDestination(cluster, request.to, "to", services);
  const proto = request.proto;
  const protocol = proto === "tcp" ? "TCP" : "UDP";
  let port = dst.port;
  // As `trace`: a Service named without a port gets its first port of the protocol.
  if (proto !== "icmp" && dst.label.startsWith("svc/") && !/:[0-9]+$/.test(request.to)) {
    const ports = servicePorts(services, dst.label);
    port = ports.find((p) => p.protocol === protocol)?.port ?? 0;
    if (port === 0) {
      const list = ports.map((p) => `${p.port}/${p.protocol}`).join(", ") || "none";
      throw new PodwireError("E_ARG", `${request.to} names no port and the Service has no ${protocol} port (its ports: ${list})`, { field: "to" }, `pick a proto to match one, or name a port, e.g. ${request.to}:${ports[0]?.port ?? 80}`);
    }
  }
  if (proto !== "icmp" && port === 0) {
    port = dst.podKey ? defaultPort(cluster, dst.podKey, protocol) : 0;
    if (port === 0) throw new PodwireError("E_ARG", `${request.to} names no port and the target has no ${protocol} container port`, { field: "to" }, `add one, e.g. ${request.to}:8080`);
  }
  const dnsTransport = proto !== "icmp" && port === DNS_PORT ? proto : null;
  if (request.query !== undefined && dnsTransport === null) {
    throw new PodwireError("E_ARG", `a DNS question, but this trace goes to ${proto === "icmp" ? "ICMP" : `port ${port}/${proto}`}`, { field: "query" }, "trace to port 53 over udp or tcp");
  }
  const query = request.query ?? DEFAULT_DNS_QUERY;
  const nameProblem = dnsTransport === null ? null : dnsNameProblem(query);
  if (nameProblem !== null) throw new PodwireError("E_ARG", `${JSON.stringify(query)} is not a DNS name: ${nameProblem}`, { field: "query" }, `e.g. ${DEFAULT_DNS_QUERY}`);

  const sink = new MemorySink();
  const capture = new CaptureSession(sink, cluster.devices, { numberTraceFrames: true });
  let result;
  try {
    const title = `${dnsTransport ? `dns/${dnsTransport}` : proto} ${src.label} → ${dst.label}`;
    const exchange = { title, from: src.ns, fromLabel: src.label, dst: dst.ip, dstPort: port };
    result = runExchange(cluster, dnsTransport ? { ...exchange, proto: "dns", dnsName: query, dnsTransport } : { ...exchange, proto: proto as ExchangeProto });
  } catch (err) {
    capture.abort();
    throw err;
  }
  capture.close();
  const srcIp = src.ns.selectSource(src.ns.routeOutput(dst.ip) ?? src.ns.loRouteFor());
  const path = servicePath(cluster, result, srcIp, dst.ip, port, proto);
  const answer = result.answer;
  const json: Record<string, unknown> = {
    schemaVersion: TRACE_JSON_SCHEMA_VERSION,
    from: src.label,
    to: dst.label,
    destination: proto === "icmp" ? formatIpv4(dst.ip) : `${formatIpv4(dst.ip)}:${port}`,
    proto,
    ok: result.ok,
    outcome: result.outcome,
    answer: answer ? { name: answer.name, rcode: answer.rcode, addresses: answer.addresses.map(formatIpv4) } : null,
    node: path.node,
    verdict: path.verdict,
    endpoint: path.endpoint,
    candidates: path.candidates,
    masquerade: path.masquerade,
    hops: result.events.map((e) => traceHopJson(e, result.startNs)),
    capture: null,
  };
  return { json, pcapng: sink.bytes() };
}
