/**
 * Gateway API routing against the API's own examples: the conformance tests
 * HTTPRouteMatchingAcrossRoutes, HTTPRouteHostnameIntersection, HTTPRouteMethodMatching and
 * the match precedence list of HTTPRouteRule.Matches (apis/v1/httproute_types.go), plus
 * listener isolation, weights, invalid references and redirects.
 */
import test from "ava";
import fc from "fast-check";
import { gatewayHostMatches, intersectHostnames } from "../../src/l7/hostnames.js";
import { buildGatewayTable, routeGateway } from "../../src/l7/route-gateway.js";
import { l7, outcome, proxyState, request } from "./helpers.js";

const NS = "gateway-conformance-infra";
const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: same-namespace, namespace: ${NS}}
spec:
  gatewayClassName: podwire
  listeners:
  - {name: http, port: 80, protocol: HTTP}
`;
const BACKENDS = proxyState(["infra-backend-v1", "infra-backend-v2", "infra-backend-v3"].map((name) => ({ ns: NS, name, port: 8080 })));

function table(yaml: string) {
  const o = l7(yaml);
  return { table: buildGatewayTable({ gateways: o.gateways, routes: o.httpRoutes, namespaceLabels: o.namespaceLabels, localPortOf: (p) => p }), grants: o.referenceGrants };
}

function backendOf(t: ReturnType<typeof table>, host: string, path: string, extra: Parameters<typeof request>[2] = {}): string {
  const d = routeGateway(t.table, request(host, path, extra), BACKENDS, t.grants);
  if (d === null) return "no listener";
  const o = outcome(d);
  return o.startsWith(`${NS}/`) ? o.slice(NS.length + 1) : o;
}

test("conformance HTTPRouteMatchingAcrossRoutes: path and header precedence across two routes", (t) => {
  const tb = table(`${GATEWAY}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: matching-part1, namespace: ${NS}}
spec:
  parentRefs: [{name: same-namespace}]
  hostnames: [example.com, example.net]
  rules:
  - matches:
    - path: {type: PathPrefix, value: /}
    - headers: [{name: version, value: one}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: matching-part2, namespace: ${NS}}
spec:
  hostnames: ["*.com"]
  parentRefs: [{name: same-namespace}]
  rules:
  - matches:
    - path: {type: PathPrefix, value: /v2}
    - headers: [{name: version, value: two}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
`);
  const version = (v: string) => ({ headers: [["version", v]] as [string, string][] });
  t.is(backendOf(tb, "example.com", "/"), "infra-backend-v1");
  t.is(backendOf(tb, "example.com", "/example"), "infra-backend-v1");
  t.is(backendOf(tb, "example.net", "/example"), "infra-backend-v1");
  t.is(backendOf(tb, "example.com", "/example", version("one")), "infra-backend-v1");
  t.is(backendOf(tb, "example.com", "/v2"), "infra-backend-v2");
  t.is(backendOf(tb, "example.net", "/v2"), "infra-backend-v1", "v2 matches are limited to example.com");
  t.is(backendOf(tb, "example.com", "/v2/example"), "infra-backend-v2");
  t.is(backendOf(tb, "example.com", "/", version("two")), "infra-backend-v2");
});

test("conformance HTTPRouteHostnameIntersection: routes attach where hostnames intersect, and only for the intersection", (t) => {
  const route = (name: string, hostnames: string[], prefix: string, backend: string) => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ${name}, namespace: ${NS}}
spec:
  parentRefs: [{name: httproute-hostname-intersection, namespace: ${NS}}]
  hostnames: [${hostnames.map((h) => `"${h}"`).join(", ")}]
  rules:
  - matches: [{path: {type: PathPrefix, value: ${prefix}}}]
    backendRefs: [{name: ${backend}, port: 8080}]
`;
  const tb = table(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: httproute-hostname-intersection, namespace: ${NS}}
spec:
  gatewayClassName: podwire
  listeners:
  - {name: listener-1, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: Same}}, hostname: very.specific.com}
  - {name: listener-2, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: Same}}, hostname: "*.wildcard.io"}
  - {name: listener-3, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: Same}}, hostname: "*.anotherwildcard.io"}
${route("specific-host-matches-listener-specific-host", ["non.matching.com", "*.nonmatchingwildcard.io", "very.specific.com"], "/s1", "infra-backend-v1")}${route("specific-host-matches-listener-wildcard-host", ["non.matching.com", "wildcard.io", "foo.wildcard.io", "bar.wildcard.io", "foo.bar.wildcard.io"], "/s2", "infra-backend-v2")}${route("wildcard-host-matches-listener-specific-host", ["non.matching.com", "*.specific.com"], "/s3", "infra-backend-v3")}${route("wildcard-host-matches-listener-wildcard-host", ["*.anotherwildcard.io"], "/s4", "infra-backend-v1")}${route("no-intersecting-hosts", ["specific.but.wrong.com", "wildcard.io"], "/s5", "infra-backend-v2")}`);
  const cases: [string, string, string][] = [
    ["very.specific.com", "/s1", "infra-backend-v1"],
    ["very.specific.com:1234", "/s1", "infra-backend-v1"], // the port in Host is not considered
    ["non.matching.com", "/s1", "no listener"],
    ["foo.nonmatchingwildcard.io", "/s1", "no listener"],
    ["foo.wildcard.io", "/s1", "404"],
    ["very.specific.com", "/non-matching-prefix", "404"],
    ["foo.wildcard.io", "/s2", "infra-backend-v2"],
    ["bar.wildcard.io", "/s2", "infra-backend-v2"],
    ["foo.bar.wildcard.io", "/s2", "infra-backend-v2"],
    ["non.matching.com", "/s2", "no listener"],
    ["wildcard.io", "/s2", "no listener"],
    ["very.specific.com", "/s2", "404"],
    ["foo.wildcard.io", "/non-matching-prefix", "404"],
    ["very.specific.com", "/s3", "infra-backend-v3"],
    ["non.matching.com", "/s3", "no listener"],
    ["foo.specific.com", "/s3", "no listener"],
    ["foo.wildcard.io", "/s3", "404"],
    ["very.specific.com", "/non-matching-prefix", "404"],
    ["foo.anotherwildcard.io", "/s4", "infra-backend-v1"],
    ["bar.anotherwildcard.io", "/s4", "infra-backend-v1"],
    ["foo.bar.anotherwildcard.io", "/s4", "infra-backend-v1"],
    ["anotherwildcard.io", "/s4", "no listener"],
    ["foo.wildcard.io", "/s4", "404"],
    ["very.specific.com", "/s4", "404"],
    ["foo.anotherwildcard.io", "/non-matching-prefix", "404"],
    ["specific.but.wrong.com", "/s5", "no listener"],
    ["wildcard.io", "/s5", "no listener"],
  ];
  // "no listener": no listener takes the Host, the Gateway answers 404 (the proxy falls back to its default server).
  for (const [host, path, want] of cases) t.is(backendOf(tb, host, path), want, `${host}${path}`);
  t.true(tb.table.notes.some((n) => n.includes("no-intersecting-hosts") && n.includes("NoMatchingListenerHostname")));
  const attached = (l: string) => tb.table.attachments.filter((a) => a.entry.listener.name === l).length;
  t.deepEqual([attached("listener-1"), attached("listener-2"), attached("listener-3")], [2, 1, 1]);
});

test("conformance HTTPRouteMethodMatching (the user guide's rules): method, and method ANDed with path and headers", (t) => {
  const tb = table(`${GATEWAY}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: method-matching, namespace: ${NS}}
spec:
  parentRefs: [{name: same-namespace}]
  rules:
  - matches: [{method: POST}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{method: GET}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /path1}, method: GET}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{headers: [{name: version, value: one}], method: PUT}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /path2}, headers: [{name: version, value: two}], method: POST}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches:
    - {path: {type: PathPrefix, value: /path3}, method: PATCH}
    - {path: {type: PathPrefix, value: /path4}, headers: [{name: version, value: three}], method: DELETE}
    backendRefs: [{name: infra-backend-v1, port: 8080}]
`);
  const m = (method: string, headers: [string, string][] = []) => ({ method, headers });
  t.is(backendOf(tb, "x", "/", m("POST")), "infra-backend-v1");
  t.is(backendOf(tb, "x", "/", m("GET")), "infra-backend-v2");
  t.is(backendOf(tb, "x", "/", m("HEAD")), "404");
  t.is(backendOf(tb, "x", "/path1", m("GET")), "infra-backend-v1");
  t.is(backendOf(tb, "x", "/", m("PUT", [["version", "one"]])), "infra-backend-v2");
  t.is(backendOf(tb, "x", "/path2", m("POST", [["version", "two"]])), "infra-backend-v3");
  t.is(backendOf(tb, "x", "/path3", m("PATCH")), "infra-backend-v1");
  t.is(backendOf(tb, "x", "/path4", m("DELETE", [["version", "three"]])), "infra-backend-v1");
  t.is(backendOf(tb, "x", "/", m("PUT")), "404");
  t.is(backendOf(tb, "x", "/path4", m("DELETE")), "404");
});

test("Gateway API wildcards are suffix matches of one or more labels; intersections as HTTPRouteSpec.Hostnames describes", (t) => {
  t.true(gatewayHostMatches("*.example.com", "test.example.com"));
  t.true(gatewayHostMatches("*.example.com", "foo.test.example.com"));
  t.false(gatewayHostMatches("*.example.com", "example.com"));
  t.deepEqual(intersectHostnames("test.example.com", ["*.example.com"]), ["test.example.com"]);
  t.deepEqual(intersectHostnames("*.example.com", ["*.example.com", "test.example.com", "foo.test.example.com", "example.com", "test.example.net"]), ["*.example.com", "test.example.com", "foo.test.example.com"]);
  t.deepEqual(intersectHostnames(null, ["a.com"]), ["a.com"]);
  t.is(intersectHostnames(null, []), null);
  t.deepEqual(intersectHostnames("*.example.com", []), ["*.example.com"]);
  t.deepEqual(intersectHostnames("*.example.com", ["*.foo.example.com"]), ["*.foo.example.com"]);
  t.deepEqual(intersectHostnames("*.foo.example.com", ["*.example.com"]), ["*.foo.example.com"]);
});

/** A route with one rule of the given matches, to backend v1; routes built in the order given. */
const PRECEDENCE = `${GATEWAY}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: b-prefix, namespace: ${NS}, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  parentRefs: [{name: same-namespace}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /foo}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /foo/bar}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches: [{path: {type: Exact, value: /foo/bar}}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /m}, headers: [{name: a, value: "1"}, {name: b, value: "2"}]}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /m}, method: GET}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /q}, queryParams: [{name: x, value: "1"}]}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /q}, headers: [{name: a, value: "1"}]}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: a-younger, namespace: ${NS}, creationTimestamp: "2024-06-01T00:00:00Z"}
spec:
  parentRefs: [{name: same-namespace}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /tie}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: z-older, namespace: ${NS}, creationTimestamp: "2024-03-01T00:00:00Z"}
spec:
  parentRefs: [{name: same-namespace}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /tie}}]
    backendRefs: [{name: infra-backend-v3, port: 8080}]
`;

test("HTTPRouteRule.Matches precedence: Exact, longest PathPrefix, method, most headers, most query params, oldest route", (t) => {
  const tb = table(PRECEDENCE);
  t.is(backendOf(tb, "x", "/foo/bar"), "infra-backend-v3", "Exact beats every prefix");
  t.is(backendOf(tb, "x", "/foo/bar/baz"), "infra-backend-v2", "the longer prefix");
  t.is(backendOf(tb, "x", "/foo/x"), "infra-backend-v1");
  t.is(backendOf(tb, "x", "/m", { headers: [["a", "1"], ["b", "2"]] }), "infra-backend-v2", "a method match ranks above two header matches");
  t.is(backendOf(tb, "x", "/m", { method: "POST", headers: [["A", "1"], ["B", "2"]] }), "infra-backend-v1", "header names are case-insensitive");
  t.is(backendOf(tb, "x", "/q?x=1", { headers: [["a", "1"]] }), "infra-backend-v2", "a header match ranks above a query param match");
  t.is(backendOf(tb, "x", "/q?x=1"), "infra-backend-v1");
  t.is(backendOf(tb, "x", "/tie"), "infra-backend-v3", "on a full tie the older route wins, whatever its name");
  const d = routeGateway(tb.table, request("x", "/foo/bar"), BACKENDS, tb.grants)!;
  t.true(d.notChosen.some((n) => n.includes("rules[1].matches[0]") && n.includes("ranks above")));
});

test("property: the winning match does not depend on the order routes and rules are listed in", (t) => {
  const matchArb = fc.record({
    path: fc.constantFrom("/", "/a", "/a/b"),
    exact: fc.boolean(),
    method: fc.boolean(),
    headers: fc.integer({ min: 0, max: 2 }),
    query: fc.integer({ min: 0, max: 2 }),
  });
  fc.assert(
    fc.property(fc.array(matchArb, { minLength: 1, maxLength: 5 }), fc.integer({ min: 0, max: 1000 }), (matches, rot) => {
      const rule = (m: (typeof matches)[number], i: number) => {
        const parts = [`path: {type: ${m.exact ? "Exact" : "PathPrefix"}, value: "${m.path}"}`];
        if (m.method) parts.push("method: GET");
        if (m.headers > 0) parts.push(`headers: [${["h1", "h2"].slice(0, m.headers).map((h) => `{name: ${h}, value: "1"}`).join(", ")}]`);
        if (m.query > 0) parts.push(`queryParams: [${["q1", "q2"].slice(0, m.query).map((q) => `{name: ${q}, value: "1"}`).join(", ")}]`);
        return `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r${i}, namespace: ${NS}, creationTimestamp: "2024-01-${String(1 + i).padStart(2, "0")}T00:00:00Z"}
spec:
  parentRefs: [{name: same-namespace}]
  rules: [{matches: [{${parts.join(", ")}}], backendRefs: [{name: infra-backend-v${1 + (i % 3)}, port: 8080}]}]
`;
      };
      const docs = matches.map(rule);
      const rotated = docs.map((_, i) => docs[(i + rot) % docs.length]!);
      const req = request("x", "/a/b?q1=1&q2=1", { headers: [["h1", "1"], ["h2", "1"]] });
      const a = routeGateway(table(GATEWAY + docs.join("")).table, req, BACKENDS, []);
      const b = routeGateway(table(GATEWAY + rotated.join("")).table, req, BACKENDS, []);
      return a !== null && b !== null && a.name === b.name && a.rule === b.rule;
    }),
    { numRuns: 100, seed: 14 },
  );
  t.pass();
});

test("weights, invalid backendRefs (500), ReferenceGrant, no endpoints (503 at the proxy), redirects", (t) => {
  const tb = table(`${GATEWAY}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: ${NS}}
spec:
  parentRefs: [{name: same-namespace}]
  rules:
  - matches: [{path: {value: /split}}]
    backendRefs: [{name: infra-backend-v1, port: 8080, weight: 3}, {name: infra-backend-v2, port: 8080, weight: 1}]
  - matches: [{path: {value: /other-ns}}]
    backendRefs: [{name: app, namespace: elsewhere, port: 80}]
  - matches: [{path: {value: /granted}}]
    backendRefs: [{name: app, namespace: granted, port: 80}]
  - matches: [{path: {value: /redirect}}]
    filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: 301}}]
  - matches: [{path: {value: /old}}]
    filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}}]
  - matches: [{path: {value: /zero}}]
    backendRefs: [{name: infra-backend-v1, port: 8080, weight: 0}]
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: allow, namespace: granted}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: ${NS}}]
  to: [{group: "", kind: Service}]
`);
  const state = proxyState([...["infra-backend-v1", "infra-backend-v2"].map((name) => ({ ns: NS, name, port: 8080 })), { ns: "elsewhere", name: "app" }, { ns: "granted", name: "app", endpoints: [] }]);
  const route = (path: string) => routeGateway(tb.table, request("x", path), state, tb.grants)!;
  const split = route("/split").action;
  t.true(split.type === "proxy" && split.backends.map((b) => b.weight).join() === "3,1");
  const other = route("/other-ns").action;
  t.true(other.type === "proxy" && /RefNotPermitted/.test(other.backends[0]!.invalid ?? ""));
  const granted = route("/granted").action;
  t.true(granted.type === "proxy" && granted.backends[0]!.invalid === null && /no ready endpoints/.test(granted.backends[0]!.backend.problem ?? ""));
  t.deepEqual(route("/redirect").action, { type: "redirect", status: 301, location: "https://x/redirect" });
  t.deepEqual(route("/old/page?q=1").action, { type: "redirect", status: 302, location: "http://x/new/page?q=1" });
  const zero = route("/zero").action;
  t.true(zero.type === "proxy" && zero.backends[0]!.weight === 0);
});
