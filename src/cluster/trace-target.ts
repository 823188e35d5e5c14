/**
 * What `podwire trace` and the dashboard's `/api/trace` both work out before they run an
 * exchange: the destination port (a Service or Pod named without one gets its first port of
 * the protocol), whether the exchange speaks DNS (port 53), and the question it asks; and,
 * after it, the trace JSON document. Errors name the argument as the caller spells it.
 */
import { PodwireError, formatIpv4 } from "../base/index.js";
import { DNS_PORT, dnsNameProblem } from "../wire/index.js";
import type { Cluster } from "./build.js";
import { type Destination, type Source, defaultPort } from "./endpoints.js";
import { DEFAULT_DNS_QUERY, type ExchangeProto, type ExchangeResult, runExchange } from "./exchange.js";
import { TRACE_JSON_SCHEMA_VERSION, traceHopJson } from "./report.js";
import { type ServicePath, servicePath, servicePorts } from "./service-path.js";
import type { ClusterServices } from "./services.js";

export type TraceProtoName = "tcp" | "udp" | "icmp";

/** How errors spell the arguments: the command line's `--to X`, or the API's parameters. */
export interface TraceArgSpelling {
  /** The field an error names for `to` or `query`. */
  field(arg: "to" | "query"): string;
  /** An argument with its value, as a message shows it (`--to X`, or `X`). */
  show(arg: "to" | "query", value: string): string;
  /** How a hint says "choose the protocol" (`--proto`, or `a proto`). */
  proto: string;
  /** How the wrong-port DNS error starts, and its hint. */
  queryLead: string;
  queryHint: string;
}

export interface TraceTarget {
  port: number;
  /** The DNS transport when the exchange goes to port 53 over udp or tcp, else null. */
  dnsTransport: "udp" | "tcp" | null;
  query: string;
}

/** The port, DNS transport and question of a trace to `dst` (named `to`); bad combinations are PodwireErrors. */
export function resolveTraceTarget(
  cluster: Cluster,
  services: ClusterServices,
  dst: Destination,
  to: string,
  proto: TraceProtoName,
  query: string | undefined,
  say: TraceArgSpelling,
): TraceTarget {
  const protocol = proto === "tcp" ? "TCP" : "UDP";
  let port = dst.port;
  // A Service named without a port: its first port of the protocol (kube-dns: UDP 53 or TCP 53).
  if (proto !== "icmp" && dst.label.startsWith("svc/") && !/:[0-9]+$/.test(to)) {
    const ports = servicePorts(services, dst.label);
    port = ports.find((p) => p.protocol === protocol)?.port ?? 0;
    if (port === 0) {
      const list = ports.map((p) => `${p.port}/${p.protocol}`).join(", ") || "none";
      throw new PodwireError("E_ARG", `${say.show("to", to)} names no port and the Service has no ${protocol} port (its ports: ${list})`, { field: say.field("to") }, `pick ${say.proto} to match one, or name a port, e.g. ${say.show("to", `${to}:${ports[0]?.port ?? 80}`)}`);
    }
  }
  if (proto !== "icmp" && port === 0) {
    port = dst.podKey ? defaultPort(cluster, dst.podKey, protocol) : 0;
    if (port === 0) throw new PodwireError("E_ARG", `${say.show("to", to)} names no port and the target has no ${protocol} container port`, { field: say.field("to") }, `add one, e.g. ${say.show("to", `${to}:8080`)}`);
  }
  // Port 53 speaks DNS (RFC 1035 §4.2): over UDP, or over TCP with the length prefix.
  const dnsTransport = proto !== "icmp" && port === DNS_PORT ? proto : null;
  if (query !== undefined && dnsTransport === null) {
    throw new PodwireError("E_ARG", `${say.queryLead}, but this trace goes to ${proto === "icmp" ? "ICMP" : `port ${port}/${proto}`}`, { field: say.field("query") }, say.queryHint);
  }
  const question = query ?? DEFAULT_DNS_QUERY;
  const nameProblem = dnsTransport === null ? null : dnsNameProblem(question);
  if (nameProblem !== null) throw new PodwireError("E_ARG", `${say.show("query", JSON.stringify(question))} is not a DNS name: ${nameProblem}`, { field: say.field("query") }, `e.g. ${say.show("query", DEFAULT_DNS_QUERY)}`);
  return { port, dnsTransport, query: question };
}

/**
 * Runs the traced exchange from `src` to `dst` and works out the kube-proxy path it took.
 * `capture` (if any) is closed after it, or aborted when the exchange throws, so an earlier
 * capture file at its path stays as it was.
 */
export function runTrace(cluster: Cluster, src: Source, dst: Destination, proto: TraceProtoName, target: TraceTarget, capture: { close(): void; abort(): void } | null): { result: ExchangeResult; path: ServicePath } {
  const { port, dnsTransport, query } = target;
  let result: ExchangeResult;
  try {
    const title = `${dnsTransport ? `dns/${dnsTransport}` : proto} ${src.label} → ${dst.label}`;
    const exchange = { title, from: src.ns, fromLabel: src.label, dst: dst.ip, dstPort: port };
    result = runExchange(cluster, dnsTransport ? { ...exchange, proto: "dns", dnsName: query, dnsTransport } : { ...exchange, proto: proto as ExchangeProto });
  } catch (err) {
    capture?.abort();
    throw err;
  }
  capture?.close();
  const srcIp = src.ns.selectSource(src.ns.routeOutput(dst.ip) ?? src.ns.loRouteFor());
  return { result, path: servicePath(cluster, result, srcIp, dst.ip, port, proto) };
}

/** The `trace --json` document (schemaVersion 1; see the README's "Trace JSON schema"). */
export function traceJsonDocument(from: string, to: string, dstIp: number, port: number, proto: TraceProtoName, result: ExchangeResult, path: ServicePath, capture: string | null): Record<string, unknown> {
  const answer = result.answer;
  return {
    schemaVersion: TRACE_JSON_SCHEMA_VERSION,
    from,
    to,
    destination: proto === "icmp" ? formatIpv4(dstIp) : `${formatIpv4(dstIp)}:${port}`,
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
    capture,
  };
}
