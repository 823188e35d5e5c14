/**
 * The reverse proxy an L7 controller Pod runs, written against ByteStream so the same code
 * serves plain TCP and TLS. Per client connection: HTTP/1.1 requests one after another
 * (keep-alive, pipelined requests answered in order), each routed (decision.ts), then
 * either answered by the proxy (404 default backend, 503 no endpoints, 500 invalid backend,
 * redirects) or proxied on a second connection from the controller Pod to one endpoint —
 * or the Service's ClusterIP with ingress-nginx's `service-upstream` — carrying the
 * headers ingress-nginx's nginx.tmpl sets (X-Request-ID, X-Real-IP, X-Forwarded-For,
 * X-Forwarded-Host, X-Forwarded-Port, X-Forwarded-Proto, X-Forwarded-Scheme, X-Scheme;
 * a client's own X-Forwarded-For moves to X-Original-Forwarded-For, as with the default
 * `use-forwarded-headers: false`). The upstream request says `Connection: close`; the
 * response goes back reframed with a Content-Length. Endpoints are taken round-robin
 * (ingress-nginx's default load-balance) from a seeded start; weighted backendRefs are
 * drawn by weight. proxy-connect-timeout 5 s → 504, a refused or reset upstream → 502.
 */
import { type Rng, formatIpv4, parseIpv4 } from "../base/index.js";
import { APP_RESPONSE_NS } from "../netdev/index.js";
import type { RouteDecision, RouteRequest, WeightedBackend } from "./decision.js";
import { type HeaderList, Http1Parser, HttpParseError, type HttpRequest, type HttpResponse, header, keepsAlive, reasonPhrase, serializeRequest, serializeResponse, setHeader, withoutHeaders } from "./http1.js";
import type { HeaderModifier } from "./objects.js";
import type { ByteStream } from "./stream.js";

export interface ProxyUpstream {
  /** `NS/NAME` of the Service. */
  service: string;
  servicePort: number;
  ip: string;
  port: number;
  /** The controller's end of the second connection (its ephemeral port); 0 before it opens. */
  localPort: number;
  /** true: the ClusterIP (service-upstream), not an endpoint. */
  viaClusterIP: boolean;
}

/** One request the proxy handled, as its access log would show it, plus the routing decision. */
export interface ProxyLogEntry {
  /** `NS/NAME` of the controller Pod. */
  controller: string;
  scheme: "http" | "https";
  /** The client as the controller sees it (after any SNAT on the way). */
  clientIp: number;
  clientPort: number;
  localIp: number;
  localPort: number;
  method: string;
  target: string;
  host: string;
  decision: RouteDecision;
  upstream: ProxyUpstream | null;
  status: number;
  /** What the proxy itself said, e.g. `no ready endpoints` or `upstream refused the connection`. */
  detail: string;
  /** The request headers sent upstream (empty when nothing was proxied). */
  upstreamRequestHeaders: HeaderList;
}

export interface ProxyHost {
  /** `NS/NAME` of the controller Pod, for the log. */
  readonly name: string;
  /** `nginx` (ingress-nginx) or `podwire`: the Server header and the error pages' style. */
  readonly serverName: string;
  route(req: RouteRequest): RouteDecision;
  /** A connection from the controller Pod to ip:port; null when there is no route. */
  dial(ip: number, port: number): ByteStream | null;
  readonly rng: Rng;
  /** Runs `fn` after `delayNs` of virtual time; returns a function that cancels it. */
  schedule(delayNs: number, fn: () => void): () => void;
  /** The HTTP Date header for now (virtual clock). */
  date(): string;
  log(entry: ProxyLogEntry): void;
}

/** ingress-nginx's proxy-connect-timeout (5 s) and proxy-read-timeout (60 s). */
export const PROXY_CONNECT_TIMEOUT_NS = 5_000_000_000;
export const PROXY_READ_TIMEOUT_NS = 60_000_000_000;

/**
 * When the proxy acts on one connection because of the other: the application's response
 * time, plus a quarter of a microsecond. Every other segment the Pod's sockets send falls on
 * the 0.5 µs grid of the timing model; off it, the two connections' frames never share an
 * instant on the Pod's eth0 (a NIC sends one frame at a time; podwire serialises only one
 * socket's segments).
 */
const CROSS_SOCKET_NS = APP_RESPONSE_NS + 250;

const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "proxy"];
const SET_BY_PROXY = ["x-request-id", "x-real-ip", "x-forwarded-for", "x-forwarded-host", "x-forwarded-port", "x-forwarded-proto", "x-forwarded-scheme", "x-scheme", "x-original-forwarded-for"];
const encoder = new TextEncoder();

export class ReverseProxy {
  /** Round-robin position per backend (`NS/NAME:PORT`). */
  private readonly rr = new Map<string, number>();
  requests = 0;

  constructor(readonly host: ProxyHost) {}

  /** Takes over an accepted client stream (plain TCP, or TLS already wrapped around it). */
  serve(stream: ByteStream, scheme: "http" | "https"): void {
    new ClientConnection(this, stream, scheme).start();
  }

  /** Picks one of the weighted backends (by weight), or null when every weight is 0. */
  pickWeighted(list: readonly WeightedBackend[]): WeightedBackend | null {
    const total = list.reduce((s, b) => s + b.weight, 0);
    if (total <= 0) return null;
    if (list.length === 1) return list[0]!;
    let r = this.host.rng.nextU32() % total;
    for (const b of list) {
      if (r < b.weight) return b;
      r -= b.weight;
    }
    return list[list.length - 1]!;
  }

  /** The next endpoint of a backend in round-robin order, starting at a seeded random one. */
  pickEndpoint<T>(key: string, endpoints: readonly T[]): T {
    let i = this.rr.get(key);
    if (i === undefined) i = this.host.rng.nextU32() % endpoints.length;
    this.rr.set(key, (i + 1) % endpoints.length);
    return endpoints[i % endpoints.length]!;
  }

  requestId(): string {
    let s = "";
    for (let i = 0; i < 4; i++) s += this.host.rng.nextU32().toString(16).padStart(8, "0");
    return s;
  }
}

class ClientConnection {
  private readonly parser = new Http1Parser<HttpRequest>("request");
  private readonly queue: HttpRequest[] = [];
  private busy = false;
  private peerEnded = false;
  private closed = false;

  constructor(
    private readonly proxy: ReverseProxy,
    private readonly stream: ByteStream,
    private readonly scheme: "http" | "https",
  ) {}

  start(): void {
    this.stream.setHandler({
      onData: (_s, data) => this.onData(data),
      onEnd: () => {
        this.peerEnded = true;
        if (!this.busy && this.queue.length === 0) this.close();
      },
      onError: () => {
        this.closed = true;
      },
    });
  }

  private onData(data: Uint8Array): void {
    if (this.closed) return;
    try {
      this.queue.push(...this.parser.push(data));
    } catch (err) {
      if (!(err instanceof HttpParseError)) throw err;
      // nginx: 400 Bad Request and the connection closed.
      this.send(this.errorResponse(400, err.message, "GET"), false);
      this.close();
      return;
    }
    this.next();
  }

  private next(): void {
    if (this.busy || this.closed) return;
    const req = this.queue.shift();
    if (req === undefined) {
      if (this.peerEnded) this.close();
      return;
    }
    this.busy = true;
    this.handle(req);
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stream.end();
  }

  /** Sends a response; `keep` false closes the connection after it. */
  private send(res: HttpResponse, keep: boolean): void {
    if (this.closed) return;
    res.headers = setHeader(res.headers, "Connection", keep ? "keep-alive" : "close");
    this.stream.send(serializeResponse(res));
  }

  private finish(req: HttpRequest, res: HttpResponse): void {
    const keep = keepsAlive(req.version, req.headers) && !this.peerEnded;
    this.send(res, keep);
    this.busy = false;
    if (!keep) this.close();
    else this.next();
  }

  private handle(req: HttpRequest): void {
    this.proxy.requests++;
    const host = this.proxy.host;
    const hostHeader = header(req.headers, "host") ?? "";
    const routeReq: RouteRequest = { host: hostHeader, target: req.target, method: req.method, headers: req.headers, port: this.stream.localPort, scheme: this.scheme };
    const decision = host.route(routeReq);
    const entry: ProxyLogEntry = {
      controller: host.name,
      scheme: this.scheme,
      clientIp: this.stream.remoteIp,
      clientPort: this.stream.remotePort,
      localIp: this.stream.localIp,
      localPort: this.stream.localPort,
      method: req.method,
      target: req.target,
      host: hostHeader,
      decision,
      upstream: null,
      status: 0,
      detail: "",
      upstreamRequestHeaders: [],
    };
    const done = (res: HttpResponse, detail: string): void => {
      entry.status = res.status;
      entry.detail = detail;
      host.log(entry);
      this.finish(req, res);
    };
    const action = decision.action;
    if (action.type === "respond") {
      done(this.errorResponse(action.status, action.why, req.method), action.why);
      return;
    }
    if (action.type === "redirect") {
      done({ version: "HTTP/1.1", status: action.status, reason: reasonPhrase(action.status), headers: [["Server", host.serverName], ["Date", host.date()], ["Location", action.location], ["Content-Length", "0"]], body: new Uint8Array(0) }, `redirect to ${action.location}`);
      return;
    }
    const chosen = this.proxy.pickWeighted(action.backends);
    if (chosen === null) {
      done(this.errorResponse(500, "every backendRef has weight 0", req.method), "every backendRef has weight 0");
      return;
    }
    if (chosen.invalid !== null) {
      done(this.errorResponse(500, chosen.invalid, req.method), chosen.invalid);
      return;
    }
    const b = chosen.backend;
    if (b.problem !== null) {
      done(this.errorResponse(503, b.problem, req.method), b.problem);
      return;
    }
    const svcKey = `${b.namespace}/${b.service}`;
    let target: { ip: string; port: number };
    if (action.serviceUpstream && b.clusterIP !== null) target = { ip: b.clusterIP, port: b.port };
    else target = this.proxy.pickEndpoint(`${svcKey}:${b.port}`, b.endpoints);
    const upstream: ProxyUpstream = { service: svcKey, servicePort: b.port, ip: target.ip, port: target.port, localPort: 0, viaClusterIP: action.serviceUpstream && b.clusterIP !== null };
    entry.upstream = upstream;
    const upstreamReq = this.upstreamRequest(req, hostHeader, action.requestHeaders, action.rewrite);
    entry.upstreamRequestHeaders = upstreamReq.headers;
    // What one socket's event makes the proxy do on another socket happens after the
    // application's response time (as TCP delays an answer on the same socket): the upstream
    // connect() after the request arrived, the answer to the client after the upstream's.
    const later = (fn: () => void): void => void host.schedule(CROSS_SOCKET_NS, fn);
    later(() =>
      this.forward(
        req,
        upstreamReq,
        upstream,
        (res, detail) => later(() => done(this.clientResponse(res, action.responseHeaders, req.method), detail)),
        (status, detail) => later(() => done(this.errorResponse(status, detail, req.method), detail)),
      ),
    );
  }

  /** The request as the upstream gets it: hop-by-hop headers gone, the forwarding headers set. */
  private upstreamRequest(req: HttpRequest, hostHeader: string, mods: HeaderModifier | null, rewrite: { hostname: string | null; path: string | null } | null): HttpRequest {
    const s = this.stream;
    const clientIp = formatIpv4(s.remoteIp);
    const theirXff = header(req.headers, "x-forwarded-for");
    const forwardedHost = rewrite?.hostname ?? hostHeader;
    const headers: HeaderList = [
      ["Host", forwardedHost],
      ["X-Request-ID", this.proxy.requestId()],
      ["X-Real-IP", clientIp],
      ["X-Forwarded-For", clientIp],
      ["X-Forwarded-Host", hostHeader],
      ["X-Forwarded-Port", String(s.localPort)],
      ["X-Forwarded-Proto", this.scheme],
      ["X-Forwarded-Scheme", this.scheme],
      ["X-Scheme", this.scheme],
    ];
    if (theirXff !== null) headers.push(["X-Original-Forwarded-For", theirXff]);
    headers.push(["Connection", "close"]);
    const rest = withoutHeaders(req.headers, ["host", ...HOP_BY_HOP, ...SET_BY_PROXY, "content-length"]);
    let out: HeaderList = [...headers, ...rest];
    if (req.body.length > 0) out.push(["Content-Length", String(req.body.length)]);
    if (mods !== null) out = applyModifier(out, mods);
    return { method: req.method, target: rewrite?.path ?? req.target, version: "HTTP/1.1", headers: out, body: req.body };
  }

  /** The upstream's response as the client gets it: the proxy's Server and Date, hop-by-hop headers gone. */
  private clientResponse(res: HttpResponse, mods: HeaderModifier | null, method: string): HttpResponse {
    const host = this.proxy.host;
    const ct = header(res.headers, "content-type");
    let headers: HeaderList = [["Server", host.serverName], ["Date", host.date()]];
    if (ct !== null) headers.push(["Content-Type", ct]);
    headers.push(["Content-Length", String(res.body.length)]);
    headers.push(...withoutHeaders(res.headers, [...HOP_BY_HOP, "server", "date", "content-type", "content-length"]));
    if (this.scheme === "https" && host.serverName === "nginx") headers.push(["Strict-Transport-Security", "max-age=31536000; includeSubDomains"]);
    if (mods !== null) headers = applyModifier(headers, mods);
    return { version: "HTTP/1.1", status: res.status, reason: res.reason || reasonPhrase(res.status), headers, body: method === "HEAD" ? new Uint8Array(0) : res.body };
  }

  /** nginx's error pages (or podwire's plain text ones), with the proxy's headers. */
  private errorResponse(status: number, why: string, method: string): HttpResponse {
    const host = this.proxy.host;
    const reason = reasonPhrase(status);
    const text =
      host.serverName === "nginx"
        ? `<html>\r\n<head><title>${status} ${reason}</title></head>\r\n<body>\r\n<center><h1>${status} ${reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`
        : `${status} ${reason}: ${why}\n`;
    const body = encoder.encode(text);
    return {
      version: "HTTP/1.1",
      status,
      reason,
      headers: [["Server", host.serverName], ["Date", host.date()], ["Content-Type", host.serverName === "nginx" ? "text/html" : "text/plain"], ["Content-Length", String(body.length)]],
      body: method === "HEAD" ? new Uint8Array(0) : body,
    };
  }

  /** The second connection: sends the request upstream and hands back its response (or an error status). */
  private forward(orig: HttpRequest, req: HttpRequest, up: ProxyUpstream, ok: (res: HttpResponse, detail: string) => void, fail: (status: number, detail: string) => void): void {
    const host = this.proxy.host;
    const ip = parseIpv4(up.ip);
    const stream = ip < 0 ? null : host.dial(ip, up.port);
    if (stream === null) {
      fail(502, `no route to upstream ${up.ip}:${up.port}`);
      return;
    }
    const parser = new Http1Parser<HttpResponse>("response");
    parser.expectResponseTo(orig.method);
    let settled = false;
    let opened = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      cancelConnect();
      cancelRead();
      return true;
    };
    const cancelConnect = host.schedule(PROXY_CONNECT_TIMEOUT_NS, () => {
      if (opened || !settle()) return;
      stream.end();
      fail(504, `upstream ${up.ip}:${up.port} did not accept the connection within proxy-connect-timeout (5 s)`);
    });
    let cancelRead: () => void = () => {};
    const take = (list: HttpResponse[]): void => {
      const res = list[0];
      if (res === undefined || !settle()) return;
      stream.end();
      ok(res, `proxied to ${up.ip}:${up.port}`);
    };
    stream.setHandler({
      onOpen: (s) => {
        opened = true;
        up.localPort = s.localPort;
        s.send(serializeRequest(req));
        cancelRead = host.schedule(PROXY_READ_TIMEOUT_NS, () => {
          if (!settle()) return;
          stream.end();
          fail(504, `upstream ${up.ip}:${up.port} sent no response within proxy-read-timeout (60 s)`);
        });
      },
      onData: (_s, data) => {
        try {
          take(parser.push(data));
        } catch (err) {
          if (!(err instanceof HttpParseError) || !settle()) return;
          stream.end();
          fail(502, `upstream sent an invalid response: ${err.message}`);
        }
      },
      onEnd: () => {
        try {
          take(parser.end());
        } catch {
          /* handled below */
        }
        if (settle()) {
          stream.end();
          fail(502, `upstream ${up.ip}:${up.port} closed the connection without a complete response`);
        }
      },
      onError: (_s, reason) => {
        if (!settle()) return;
        fail(502, `upstream ${up.ip}:${up.port}: ${reason}`);
      },
    });
  }
}

/** RequestHeaderModifier / ResponseHeaderModifier: set replaces, add appends, remove deletes (case-insensitive names). */
export function applyModifier(headers: HeaderList, m: HeaderModifier): HeaderList {
  let out = headers;
  for (const s of m.set) out = replaceInPlace(out, s.name, s.value);
  for (const a of m.add) {
    const existing = out.findIndex(([k]) => k.toLowerCase() === a.name.toLowerCase());
    if (existing >= 0) out = out.map((h, i) => (i === existing ? [h[0], `${h[1]},${a.value}`] : h));
    else out = [...out, [a.name, a.value]];
  }
  if (m.remove.length > 0) out = withoutHeaders(out, m.remove);
  return out;
}

function replaceInPlace(headers: HeaderList, name: string, value: string): HeaderList {
  const i = headers.findIndex(([k]) => k.toLowerCase() === name.toLowerCase());
  if (i < 0) return [...headers, [name, value]];
  return headers.filter(([k], j) => j === i || k.toLowerCase() !== name.toLowerCase()).map((h) => (h[0].toLowerCase() === name.toLowerCase() ? [name, value] : h));
}

