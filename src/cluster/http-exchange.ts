/**
 * One HTTP client exchange on the virtual clock with tracing on: a TCP connection (with TLS
 * for https) from somewhere in the cluster, one or more requests on it one after another
 * (keep-alive), then the client closes. What a controller decided for each request comes
 * from its log (l7-runtime.ts), so a trace shows both connections — client → controller and
 * controller → backend — and the routing decision between them.
 */
import { formatIpv4 } from "../base/index.js";
import { Tracer } from "../netdev/index.js";
import type { NetworkNamespace } from "../netns/index.js";
import { type HeaderList, Http1Parser, HttpParseError, type HttpResponse, serializeRequest } from "../l7/http1.js";
import type { ProxyLogEntry } from "../l7/proxy.js";
import { type ByteStream, tcpStream } from "../l7/stream.js";
import { type TlsSessionInfo, type TlsStream, runUntilSettled, tlsClient } from "../l7/tls.js";
import type { Cluster } from "./build.js";
import type { ExchangeResult } from "./exchange.js";
import type { L7Runtime } from "./l7-runtime.js";

export interface HttpRequestSpec {
  method: string;
  /** Path and query, e.g. `/cart?id=1`. */
  target: string;
  headers?: HeaderList;
}

export interface HttpExchangeSpec {
  title: string;
  from: NetworkNamespace;
  fromLabel: string;
  dst: number;
  dstPort: number;
  /** How the destination is described, e.g. `http://shop.example.com/cart via LoadBalancer IP …`. */
  to: string;
  scheme: "http" | "https";
  /** The Host header, e.g. `shop.example.com` (with `:PORT` when not the scheme's default). */
  host: string;
  requests: HttpRequestSpec[];
  /** https: the name sent as SNI and checked against the certificate (default: the Host's name). */
  servername?: string;
  /** https: certificates to trust (PEM); default: none, so only `insecure` gets past a self-signed one. */
  ca?: string[];
  /** https: do not check the certificate (curl -k). */
  insecure?: boolean;
}

export interface HttpExchangeResult extends ExchangeResult {
  responses: HttpResponse[];
  /** What the controllers logged while this exchange ran (one entry per request they handled). */
  log: ProxyLogEntry[];
  tls: TlsSessionInfo | null;
}

const EXCHANGE_TIMEOUT_NS = 10_000_000_000;
const decoder = new TextDecoder();

interface Running {
  result: HttpExchangeResult;
  finish(): void;
  until: number;
}

function begin(cluster: Cluster, l7: L7Runtime | null, spec: HttpExchangeSpec): Running {
  const sim = cluster.sim;
  const tracer = new Tracer();
  const previous = sim.tracer;
  sim.tracer = tracer;
  const startNs = sim.now();
  const logStart = l7?.log.length ?? 0;
  const result: HttpExchangeResult = {
    title: spec.title,
    proto: "tcp",
    fromLabel: spec.fromLabel,
    to: spec.to,
    ok: false,
    outcome: "no answer (timed out)",
    resolved: [],
    answer: null,
    clientPort: 0,
    events: tracer.events,
    startNs,
    endNs: startNs,
    responses: [],
    log: [],
    tls: null,
  };
  const parser = new Http1Parser<HttpResponse>("response");
  let sent = 0;
  let app: ByteStream | null = null;
  const sendNext = (s: ByteStream): void => {
    const r = spec.requests[sent++]!;
    parser.expectResponseTo(r.method);
    const headers: HeaderList = [["Host", spec.host], ["User-Agent", "podwire"], ["Accept", "*/*"], ...(r.headers ?? [])];
    s.send(serializeRequest({ method: r.method, target: r.target, version: "HTTP/1.1", headers }));
  };
  const onResponses = (s: ByteStream, list: HttpResponse[]): void => {
    for (const res of list) {
      result.responses.push(res);
      if (sent < spec.requests.length) sendNext(s);
      else s.end();
    }
  };
  try {
    const conn = spec.from.tcp.connect(spec.dst, spec.dstPort, {});
    const { stream, app: tcpApp } = tcpStream(conn);
    conn.app = tcpApp;
    result.clientPort = conn.localPort;
    app =
      spec.scheme === "https"
        ? tlsClient(stream, {
            servername: spec.servername ?? spec.host.replace(/:\d+$/, ""),
            ...(spec.ca !== undefined ? { ca: spec.ca } : {}),
            rejectUnauthorized: !(spec.insecure ?? false),
            alpn: ["http/1.1"],
            ...(l7 !== null ? { keylog: l7.keyLog.sink } : {}),
          })
        : stream;
    app.setHandler({
      onOpen: (s) => {
        if ("tls" in s) result.tls = (s as TlsStream).tls;
        sendNext(s);
      },
      onData: (s, data) => {
        try {
          onResponses(s, parser.push(data));
        } catch (err) {
          if (!(err instanceof HttpParseError)) throw err;
          result.outcome = `malformed HTTP response: ${err.message}`;
          s.end();
        }
      },
      onEnd: (s) => {
        try {
          onResponses(s, parser.end());
        } catch {
          /* a truncated response: reported below */
        }
        s.end();
      },
      onError: (_s, reason) => {
        result.outcome = reason === "connection reset" ? (result.responses.length === 0 ? "connection refused (TCP RST)" : "connection reset (TCP RST)") : reason;
      },
    });
  } catch {
    result.outcome = "no route to host";
  }
  return {
    result,
    until: startNs + EXCHANGE_TIMEOUT_NS,
    finish: () => {
      sim.tracer = previous;
      result.log = l7 === null ? [] : l7.log.slice(logStart);
      const last = result.responses[result.responses.length - 1];
      if (last !== undefined) {
        const body = decoder.decode(last.body).trim();
        const shown = body.length > 160 || body.startsWith("<html>") ? `${body.replace(/\s+/g, " ").slice(0, 100)}…` : body;
        result.ok = last.status >= 200 && last.status < 400;
        const n = result.responses.length;
        result.outcome = `${last.version} ${last.status} ${last.reason} — "${shown}"${n > 1 ? ` (${n} responses on one connection)` : ""}`;
      }
      result.endNs = result.events.length === 0 ? startNs : result.events[result.events.length - 1]!.time;
    },
  };
}

/** Plain HTTP, run synchronously (the simulator alone). */
export function runHttpExchange(cluster: Cluster, l7: L7Runtime | null, spec: HttpExchangeSpec): HttpExchangeResult {
  if (spec.scheme === "https") throw new Error("internal: https exchanges run with runHttpExchangeAsync");
  const r = begin(cluster, l7, spec);
  cluster.sim.run(r.until);
  r.finish();
  return r.result;
}

/** HTTP or HTTPS: Node's TLS works asynchronously, so the simulator is pumped (l7/tls-pump.ts). */
export async function runHttpExchangeAsync(cluster: Cluster, l7: L7Runtime | null, spec: HttpExchangeSpec): Promise<HttpExchangeResult> {
  const r = begin(cluster, l7, spec);
  try {
    await runUntilSettled(cluster.sim, { untilNs: r.until });
  } finally {
    r.finish();
  }
  return r.result;
}

/** `10.244.1.5:41234` */
export function endpointText(ip: number, port: number): string {
  return `${formatIpv4(ip)}:${port}`;
}
