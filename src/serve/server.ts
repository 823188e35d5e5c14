/**
 * `podwire serve`'s HTTP server (node:http only): the dashboard page and its assets, the JSON
 * API the page uses (and scripts may), and `/metrics`. Read-only: GET and HEAD, no endpoint
 * writes anything. On a loopback address it answers only requests whose Host header names a
 * loopback host (a web page elsewhere cannot reach it through DNS rebinding).
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { PodwireError } from "../base/index.js";
import { EXPOSITION_CONTENT_TYPE } from "../metrics/index.js";
import { readParams } from "./api-params.js";
import { type Asset, loadAssets } from "./assets.js";
import type { LiveCluster } from "./live-cluster.js";
import { isLoopback } from "./listen.js";
import type { Pacer } from "./pacer.js";
import { topologyJson } from "./topology.js";
import { TRACE_PROTOS, type TraceProto, traceFlow } from "./trace-flow.js";

/** Captures of recent traces kept for download, oldest dropped first. */
const MAX_CAPTURES = 32;

/** The endpoints, for `/api` and the README. */
export const API_ENDPOINTS = [
  { path: "/api/cluster", about: "the topology: networks, nodes with their devices and Pods, outside hosts, Services with their endpoints" },
  { path: "/api/counters?since=SEQ", about: "virtual time, per node device counters and packet rates, conntrack table, drops; the sync loop; traffic; events after SEQ" },
  { path: "/api/trace?from=SRC&to=DST[&proto=tcp|udp|icmp][&query=NAME]", about: "trace one exchange: the `podwire trace --json` object (schemaVersion 1); capture names its pcapng" },
  { path: "/api/capture/ID.pcapng", about: "the pcapng of a recent trace" },
  { path: "/metrics", about: "Prometheus text exposition 0.0.4" },
] as const;

export interface ServeState {
  live: LiveCluster;
  pacer: Pacer;
  /** Whether requests must name a loopback host. */
  loopbackOnly: boolean;
}

export class DashboardServer {
  private readonly server: Server;
  private readonly assets: Map<string, Asset>;
  private readonly captures = new Map<number, Uint8Array>();
  private nextCapture = 1;

  constructor(readonly state: ServeState) {
    this.assets = loadAssets();
    this.server = createServer((req, res) => this.handle(req, res));
    // A slow or idle client does not hold the server forever.
    this.server.requestTimeout = 30_000;
    this.server.headersTimeout = 10_000;
  }

  /** Listens; resolves with the address actually bound (port 0 picks a free one). */
  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(new PodwireError("E_LISTEN", `cannot listen on ${host}:${port}: ${err.code ?? err.message}`, { field: "--listen" }, err.code === "EADDRINUSE" ? "another program uses the port: pick another, or port 0 for any free one" : "pick another address"));
      };
      this.server.once("error", onError);
      this.server.listen(port, host, () => {
        this.server.off("error", onError);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    try {
      this.route(req, res);
    } catch (err) {
      if (err instanceof PodwireError) {
        sendJson(res, 400, apiError(err));
        return;
      }
      sendJson(res, 500, { error: `internal error (please report it): ${err instanceof Error ? err.message : String(err)}` });
    }
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    if (this.state.loopbackOnly && !loopbackHost(req.headers.host)) {
      sendJson(res, 403, { error: `Host ${JSON.stringify(req.headers.host ?? "")} is not a loopback name: this server answers 127.0.0.1, localhost and [::1] only` });
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD");
      sendJson(res, 405, { error: `${req.method} is not allowed: every endpoint is read-only (GET, HEAD)` });
      return;
    }
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname;
    const asset = this.assets.get(path === "/" ? "/index.html" : path);
    if (asset !== undefined) {
      readParams(url.searchParams, {});
      send(res, 200, asset.type, asset.body, { "Cache-Control": "no-cache" });
      return;
    }
    const live = this.state.live;
    if (path === "/metrics") {
      readParams(url.searchParams, {});
      send(res, 200, EXPOSITION_CONTENT_TYPE, live.metrics());
      return;
    }
    if (path === "/api" || path === "/api/") {
      readParams(url.searchParams, {});
      sendJson(res, 200, { endpoints: API_ENDPOINTS });
      return;
    }
    if (path === "/api/cluster") {
      readParams(url.searchParams, {});
      sendJson(res, 200, { ...topologyJson(live.observed.cluster, live.observed.services), virtualTimeNs: live.nowNs });
      return;
    }
    if (path === "/api/counters") {
      const p = readParams(url.searchParams, { since: { pattern: { re: /^[0-9]{1,9}$/, what: "a whole number" }, example: "0" } });
      sendJson(res, 200, { ...live.counters(Number(p.since ?? 0)), lagNs: this.state.pacer.lagNs, speed: this.state.pacer.speed });
      return;
    }
    if (path === "/api/trace") {
      this.trace(url, res);
      return;
    }
    const capture = /^\/api\/capture\/([0-9]{1,9})\.pcapng$/.exec(path);
    if (capture !== null) {
      readParams(url.searchParams, {});
      const bytes = this.captures.get(Number(capture[1]));
      if (bytes === undefined) {
        sendJson(res, 404, { error: `no capture ${capture[1]}: only the last ${MAX_CAPTURES} traces' captures are kept`, parameter: null });
        return;
      }
      send(res, 200, "application/vnd.tcpdump.pcap", bytes, { "Content-Disposition": `attachment; filename="podwire-trace-${capture[1]}.pcapng"` });
      return;
    }
    sendJson(res, 404, { error: `no such page: ${path}`, endpoints: API_ENDPOINTS.map((e) => e.path) });
  }

  private trace(url: URL, res: ServerResponse): void {
    const p = readParams(url.searchParams, {
      from: { required: true, example: "pod/default/client" },
      to: { required: true, example: "svc/default/web" },
      proto: { choices: TRACE_PROTOS, example: "tcp" },
      query: { example: "kubernetes.default.svc.cluster.local" },
    });
    const request = { from: p.from!, to: p.to!, proto: (p.proto ?? "tcp") as TraceProto, ...(p.query !== undefined ? { query: p.query } : {}) };
    const outcome = traceFlow(this.state.live.spec, request);
    const id = this.nextCapture++;
    this.captures.set(id, outcome.pcapng);
    if (this.captures.size > MAX_CAPTURES) this.captures.delete(this.captures.keys().next().value!);
    sendJson(res, 200, { ...outcome.json, capture: `/api/capture/${id}.pcapng` });
  }
}

/** A bad request's answer: `parameter NAME: what is wrong (hint: what to do)`, and the parameter's name. */
export function apiError(err: PodwireError): { error: string; parameter: string | null } {
  const field = err.location?.field ?? null;
  return { error: `${field !== null ? `parameter ${field}: ` : ""}${err.detail}${err.hint ? ` (hint: ${err.hint})` : ""}`, parameter: field };
}

/** The Host header names 127.x.x.x, localhost or [::1] (any port). */
function loopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::[0-9]+)?$/.exec(host);
  return m !== null && isLoopback(m[1] ?? m[2]!);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, "application/json; charset=utf-8", JSON.stringify(body, null, 2) + "\n");
}

function send(res: ServerResponse, status: number, type: string, body: string | Uint8Array, headers: Record<string, string> = {}): void {
  const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  res.writeHead(status, {
    "Content-Type": type,
    "Content-Length": String(bytes.length),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    // The page loads only its own script and style; nothing from elsewhere.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    ...headers,
  });
  res.end(res.req.method === "HEAD" ? undefined : bytes);
}
