/**
 * The reverse proxy on in-memory streams: keep-alive and pipelined requests, the forwarding
 * headers ingress-nginx sets, the answers it gives itself (400, 404, 500, 502, 503),
 * round-robin endpoints and weighted backends.
 */
import test from "ava";
import { Rng, parseIpv4 } from "../../src/base/index.js";
import type { RouteDecision, RouteRequest, WeightedBackend } from "../../src/l7/decision.js";
import { type HttpRequest, Http1Parser, type HttpResponse, header } from "../../src/l7/http1.js";
import { type ProxyHost, type ProxyLogEntry, ReverseProxy } from "../../src/l7/proxy.js";
import { MemoryNet, type MemoryStream } from "./memory-stream.js";

const CLIENT = { ip: parseIpv4("192.168.56.100"), port: 40000 };
const CONTROLLER = { ip: parseIpv4("10.244.1.4"), port: 80 };
const enc = new TextEncoder();
const dec = new TextDecoder();

function backend(service: string, endpoints: string[], problem: string | null = null, weight = 1, invalid: string | null = null): WeightedBackend {
  return { backend: { namespace: "default", service, port: 80, clusterIP: "10.96.0.50", endpoints: endpoints.map((ip) => ({ ip, port: 8080, nodeName: null })), problem, missing: false }, weight, invalid };
}

function proxyTo(backends: WeightedBackend[], serviceUpstream = false): RouteDecision {
  return { kind: "Ingress", namespace: "default", name: "shop", rule: "rules[0].http.paths[0]", matched: "x", action: { type: "proxy", backends, serviceUpstream, requestHeaders: null, responseHeaders: null, rewrite: null }, notChosen: [] };
}

interface Rig {
  net: MemoryNet;
  client: MemoryStream;
  log: ProxyLogEntry[];
  /** Requests the backends received, with the address they were sent to. */
  upstream: { to: string; req: HttpRequest }[];
  responses(): HttpResponse[];
  proxy: ReverseProxy;
}

function rig(route: (req: RouteRequest) => RouteDecision, opts: { refuse?: boolean } = {}): Rig {
  const net = new MemoryNet();
  const log: ProxyLogEntry[] = [];
  const upstream: Rig["upstream"] = [];
  let nextPort = 50000;
  const host: ProxyHost = {
    name: "ingress-nginx/controller-0",
    serverName: "nginx",
    rng: new Rng(7),
    route,
    dial: (ip, port) => {
      const [mine, theirs] = net.pair({ ip: CONTROLLER.ip, port: nextPort++ }, { ip, port });
      const parser = new Http1Parser<HttpRequest>("request");
      const to = `${[ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join(".")}:${port}`;
      if (opts.refuse) {
        theirs.fail("connection reset");
        return mine;
      }
      theirs.setHandler({
        onData: (s, d) => {
          for (const req of parser.push(d)) {
            upstream.push({ to, req });
            const body = enc.encode(`backend ${to} got ${req.method} ${req.target}`);
            s.send(enc.encode(`HTTP/1.1 200 OK\r\nServer: backend\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nX-Backend: ${to}\r\nConnection: close\r\n\r\n`));
            s.send(body);
            s.end();
          }
        },
      });
      return mine;
    },
    // Short delays (the proxy's response time) run in order; the long timeouts never fire here.
    schedule: (delayNs, fn) => {
      let live = true;
      if (delayNs < 1e9) net.post(() => live && fn());
      return () => {
        live = false;
      };
    },
    date: () => "Mon, 01 Jan 2024 00:00:00 GMT",
    log: (e) => log.push(e),
  };
  const proxy = new ReverseProxy(host);
  const [client, server] = net.pair(CLIENT, CONTROLLER);
  proxy.serve(server, "http");
  const parser = new Http1Parser<HttpResponse>("response");
  const got: HttpResponse[] = [];
  client.setHandler({ onData: (_s, d) => got.push(...parser.push(d)) });
  return { net, client, log, upstream, responses: () => got, proxy };
}

const get = (path: string, extra = "") => enc.encode(`GET ${path} HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: test\r\n${extra}\r\n`);

test("keep-alive: three requests one after another on one connection, each on its own upstream connection", (t) => {
  const r = rig(() => proxyTo([backend("web", ["10.244.1.3", "10.244.2.2"])]));
  for (const p of ["/a", "/b", "/c"]) {
    r.client.send(get(p));
    r.net.flush();
  }
  const res = r.responses();
  t.deepEqual(res.map((x) => x.status), [200, 200, 200]);
  t.true(res.every((x) => header(x.headers, "connection") === "keep-alive"));
  t.is(header(res[0]!.headers, "server"), "nginx", "the proxy's Server header, not the backend's");
  t.is(header(res[0]!.headers, "x-backend") !== null, true, "other upstream headers pass");
  t.false(r.client.peer.sentEnd, "the connection stays open");
  t.deepEqual(r.upstream.map((u) => u.req.target), ["/a", "/b", "/c"]);
  // Round robin from a seeded start: consecutive requests alternate between the two endpoints.
  t.not(r.upstream[0]!.to, r.upstream[1]!.to);
  t.is(r.upstream[0]!.to, r.upstream[2]!.to);
  r.client.end();
  r.net.flush();
  t.true(r.client.peer.sentEnd, "the proxy closes once the client has");
});

test("pipelined requests in one segment are answered in order; HTTP/1.0 and Connection: close end the connection", (t) => {
  const r = rig(() => proxyTo([backend("web", ["10.244.1.3"])]));
  const two = new Uint8Array([...get("/one"), ...get("/two", "Connection: close\r\n")]);
  r.client.send(two);
  r.net.flush();
  t.deepEqual(r.responses().map((x) => dec.decode(x.body)), ["backend 10.244.1.3:8080 got GET /one", "backend 10.244.1.3:8080 got GET /two"]);
  t.is(header(r.responses()[1]!.headers, "connection"), "close");
  t.true(r.client.peer.sentEnd);
  const old = rig(() => proxyTo([backend("web", ["10.244.1.3"])]));
  old.client.send(enc.encode("GET / HTTP/1.0\r\nHost: x\r\n\r\n"));
  old.net.flush();
  t.is(header(old.responses()[0]!.headers, "connection"), "close");
  t.true(old.client.peer.sentEnd);
});

test("the upstream request carries ingress-nginx's forwarding headers and no hop-by-hop ones", (t) => {
  const r = rig(() => proxyTo([backend("web", ["10.244.1.3"])]));
  r.client.send(get("/cart?x=1", "X-Forwarded-For: 1.2.3.4\r\nConnection: keep-alive, X-Drop\r\nKeep-Alive: timeout=5\r\nAccept: */*\r\n"));
  r.net.flush();
  const h = r.upstream[0]!.req.headers;
  t.is(header(h, "host"), "shop.example.com");
  t.is(header(h, "x-forwarded-for"), "192.168.56.100", "use-forwarded-headers false: the client's own value is replaced");
  t.is(header(h, "x-original-forwarded-for"), "1.2.3.4");
  t.is(header(h, "x-real-ip"), "192.168.56.100");
  t.is(header(h, "x-forwarded-proto"), "http");
  t.is(header(h, "x-forwarded-host"), "shop.example.com");
  t.is(header(h, "x-forwarded-port"), "80");
  t.regex(header(h, "x-request-id")!, /^[0-9a-f]{32}$/);
  t.is(header(h, "connection"), "close");
  t.is(header(h, "keep-alive"), null);
  t.is(header(h, "accept"), "*/*");
  t.is(r.upstream[0]!.req.target, "/cart?x=1");
  t.is(r.log[0]!.upstream!.ip, "10.244.1.3");
});

test("service-upstream proxies to the ClusterIP instead of an endpoint", (t) => {
  const r = rig(() => proxyTo([backend("web", ["10.244.1.3"])], true));
  r.client.send(get("/"));
  r.net.flush();
  t.is(r.upstream[0]!.to, "10.96.0.50:80");
  t.true(r.log[0]!.upstream!.viaClusterIP);
});

test("answers of the proxy itself: 404 default backend, 503 no endpoints, 500 invalid or zero-weight backends, 502 refused, 400 malformed", (t) => {
  const respond = (status: number): RouteDecision => ({ kind: "default", namespace: null, name: null, rule: "", matched: "", action: { type: "respond", status, why: "default backend" }, notChosen: [] });
  const cases: [RouteDecision, number, { refuse?: boolean }?][] = [
    [respond(404), 404],
    [proxyTo([backend("web", [], "Service default/web port 80 has no ready endpoints")]), 503],
    [proxyTo([backend("web", ["10.244.1.3"], null, 1, "not a Service (InvalidKind)")]), 500],
    [proxyTo([backend("web", ["10.244.1.3"], null, 0)]), 500],
    [proxyTo([backend("web", ["10.244.1.3"])]), 502, { refuse: true }],
  ];
  for (const [decision, status, opts] of cases) {
    const r = rig(() => decision, opts);
    r.client.send(get("/"));
    r.net.flush();
    t.is(r.responses()[0]?.status, status);
    t.regex(dec.decode(r.responses()[0]!.body), new RegExp(`<title>${status} `));
    t.is(r.log[0]!.status, status);
  }
  const bad = rig(() => respond(404));
  bad.client.send(enc.encode("GARBAGE\r\n\r\n"));
  bad.net.flush();
  t.is(bad.responses()[0]?.status, 400);
  t.true(bad.client.peer.sentEnd);
  const head = rig(() => respond(404));
  const p = new Http1Parser<HttpResponse>("response");
  p.expectResponseTo("HEAD");
  p.expectResponseTo("GET");
  const got: HttpResponse[] = [];
  head.client.setHandler({ onData: (_s, d) => got.push(...p.push(d)) });
  head.client.send(enc.encode("HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  head.net.flush();
  t.deepEqual(got.map((x) => [x.body.length > 0, header(x.headers, "content-length")]), [[false, "146"], [true, "146"]], "a HEAD answer has no body but the GET's Content-Length");
});

test("weighted backendRefs are drawn in proportion to their weights (seeded)", (t) => {
  const r = rig(() => proxyTo([backend("web", ["10.244.1.3"], null, 3), backend("api", ["10.244.2.3"], null, 1)]));
  const n = 400;
  for (let i = 0; i < n; i++) {
    r.client.send(get(`/${i}`));
    r.net.flush();
  }
  const toWeb = r.upstream.filter((u) => u.to.startsWith("10.244.1.3")).length;
  t.true(toWeb > n * 0.68 && toWeb < n * 0.82, `${toWeb} of ${n} to the weight-3 backend`);
});
