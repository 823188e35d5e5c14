/**
 * Ingress routing against the Ingress API documentation's own tables (Examples of path
 * matching; Hostname wildcards) and ingress-nginx's merge rules (oldest Ingress first, one
 * server per host, the exact host before a wildcard).
 */
import test from "ava";
import fc from "fast-check";
import { ingressHostMatches } from "../../src/l7/hostnames.js";
import { buildIngressTable, ingressPathMatches, routeIngress } from "../../src/l7/route-ingress.js";
import { l7, outcome, proxyState, request } from "./helpers.js";

/** One Ingress on host foo.bar.com with the given paths, each to its own Service svc-0, svc-1, … */
function ingressWith(paths: [string, "Exact" | "Prefix" | "ImplementationSpecific"][]): string {
  const items = paths
    .map(([p, t], i) => `      - {path: "${p}", pathType: ${t}, backend: {service: {name: svc-${i}, port: {number: 80}}}}`)
    .join("\n");
  return `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: paths, namespace: default}
spec:
  ingressClassName: nginx
  rules:
  - host: foo.bar.com
    http:
      paths:
${items}
`;
}

const STATE = proxyState(Array.from({ length: 4 }, (_, i) => ({ name: `svc-${i}` })));

// The Ingress concept page's "Examples" table: Kind, Path(s), Request path(s), Matches?
// For several paths, the expected winner is the index of the path that should match.
const DOC_TABLE: { paths: [string, "Exact" | "Prefix"][]; request: string; match: number | null }[] = [
  { paths: [["/", "Prefix"]], request: "/anything/at/all", match: 0 },
  { paths: [["/foo", "Exact"]], request: "/foo", match: 0 },
  { paths: [["/foo", "Exact"]], request: "/bar", match: null },
  { paths: [["/foo", "Exact"]], request: "/foo/", match: null },
  { paths: [["/foo/", "Exact"]], request: "/foo", match: null },
  { paths: [["/foo", "Prefix"]], request: "/foo", match: 0 },
  { paths: [["/foo", "Prefix"]], request: "/foo/", match: 0 },
  { paths: [["/foo/", "Prefix"]], request: "/foo", match: 0 },
  { paths: [["/foo/", "Prefix"]], request: "/foo/", match: 0 },
  { paths: [["/aaa/bb", "Prefix"]], request: "/aaa/bbb", match: null },
  { paths: [["/aaa/bbb", "Prefix"]], request: "/aaa/bbb", match: 0 },
  { paths: [["/aaa/bbb/", "Prefix"]], request: "/aaa/bbb", match: 0 }, // ignores trailing slash
  { paths: [["/aaa/bbb", "Prefix"]], request: "/aaa/bbb/", match: 0 }, // matches trailing slash
  { paths: [["/aaa/bbb", "Prefix"]], request: "/aaa/bbb/ccc", match: 0 }, // matches subpath
  { paths: [["/aaa/bbb", "Prefix"]], request: "/aaa/bbbxyz", match: null }, // does not match string prefix
  { paths: [["/", "Prefix"], ["/aaa", "Prefix"]], request: "/aaa/ccc", match: 1 }, // matches /aaa prefix
  { paths: [["/", "Prefix"], ["/aaa", "Prefix"], ["/aaa/bbb", "Prefix"]], request: "/aaa/bbb", match: 2 },
  { paths: [["/", "Prefix"], ["/aaa", "Prefix"], ["/aaa/bbb", "Prefix"]], request: "/ccc", match: 0 }, // matches / prefix
  { paths: [["/aaa", "Prefix"]], request: "/ccc", match: null }, // uses default backend
  { paths: [["/foo", "Prefix"], ["/foo", "Exact"]], request: "/foo", match: 1 }, // Mixed: prefers Exact
  { paths: [["/foo", "Exact"], ["/foo", "Prefix"]], request: "/foo", match: 0 }, // the same, the other way round
];

for (const row of DOC_TABLE) {
  const title = `Ingress docs: ${row.paths.map(([p, t]) => `${t} ${p}`).join(", ")} for ${row.request} → ${row.match === null ? "no match (default backend)" : `${row.paths[row.match]![1]} ${row.paths[row.match]![0]}`}`;
  test(title, (t) => {
    const table = buildIngressTable(l7(ingressWith(row.paths)).ingresses);
    const d = routeIngress(table, request("foo.bar.com", row.request), STATE);
    if (row.match === null) {
      t.is(d.kind, "default");
      t.is(outcome(d), "404");
    } else {
      t.is(d.kind, "Ingress");
      t.is(d.rule, `rules[0].http.paths[${row.match}]`);
      t.is(outcome(d), `default/svc-${row.match}`);
    }
  });
}

test("Ingress docs hostname wildcards: *.foo.com covers exactly one label", (t) => {
  t.true(ingressHostMatches("*.foo.com", "bar.foo.com")); // matches based on shared suffix
  t.false(ingressHostMatches("*.foo.com", "baz.bar.foo.com")); // wildcard only covers a single DNS label
  t.false(ingressHostMatches("*.foo.com", "foo.com")); // wildcard only covers a single DNS label
  t.true(ingressHostMatches("foo.bar.com", "foo.bar.com"));
  t.false(ingressHostMatches("foo.bar.com", "bar.com"));
});

const TWO_INGRESSES = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: wild, namespace: default, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  ingressClassName: nginx
  rules:
  - host: "*.example.com"
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: svc-0, port: {number: 80}}}}]}
  - http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: svc-3, port: {number: 80}}}}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: exact, namespace: default, creationTimestamp: "2024-02-01T00:00:00Z"}
spec:
  ingressClassName: nginx
  rules:
  - host: foo.example.com
    http: {paths: [{path: /bar, pathType: Prefix, backend: {service: {name: svc-1, port: {number: 80}}}}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: younger, namespace: default, creationTimestamp: "2024-03-01T00:00:00Z"}
spec:
  ingressClassName: nginx
  rules:
  - host: "*.example.com"
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: svc-2, port: {number: 80}}}}]}
`;

test("the exact host's server wins over a wildcard, and does not fall back to the wildcard's paths", (t) => {
  const table = buildIngressTable(l7(TWO_INGRESSES).ingresses);
  t.is(outcome(routeIngress(table, request("foo.example.com", "/bar/1"), STATE)), "default/svc-1");
  const miss = routeIngress(table, request("foo.example.com", "/other"), STATE);
  t.is(outcome(miss), "404", "foo.example.com's server has no /other: its root is the default backend");
  t.true(miss.notChosen.some((n) => n.includes("*.example.com") && n.includes("more specific")));
  t.is(outcome(routeIngress(table, request("bar.example.com", "/"), STATE)), "default/svc-0");
  t.is(outcome(routeIngress(table, request("a.b.example.com", "/"), STATE)), "default/svc-3", "two labels: not the wildcard, the catch-all rule");
  t.is(outcome(routeIngress(table, request("BAR.Example.com:8080", "/"), STATE)), "default/svc-0", "Host is case-insensitive and its port ignored");
});

test("the same host, path and pathType in two Ingresses: the older keeps it", (t) => {
  const table = buildIngressTable(l7(TWO_INGRESSES).ingresses);
  const d = routeIngress(table, request("zzz.example.com", "/x"), STATE);
  t.like(d, { kind: "Ingress", name: "wild" });
  t.true(table.notes.some((n) => n.includes("default/younger") && n.includes("the older one keeps it")));
});

test("defaultBackend: the root of the Ingress's hosts, and the catch-all when it has no rules", (t) => {
  const yaml = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: a, namespace: default}
spec:
  ingressClassName: nginx
  defaultBackend: {service: {name: svc-2, port: {number: 80}}}
  rules:
  - host: shop.example.com
    http: {paths: [{path: /cart, pathType: Exact, backend: {service: {name: svc-0, port: {number: 80}}}}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: catch, namespace: default}
spec:
  ingressClassName: nginx
  defaultBackend: {service: {name: svc-3, port: {number: 80}}}
`;
  const table = buildIngressTable(l7(yaml).ingresses);
  t.is(outcome(routeIngress(table, request("shop.example.com", "/cart"), STATE)), "default/svc-0");
  const root = routeIngress(table, request("shop.example.com", "/cart/x"), STATE);
  t.like(root, { kind: "Ingress", name: "a", rule: "defaultBackend" });
  t.is(outcome(root), "default/svc-2");
  t.is(outcome(routeIngress(table, request("other.example.com", "/"), STATE)), "default/svc-3");
});

test("ImplementationSpecific is ingress-nginx's string prefix: /foo matches /foobar, where Prefix does not", (t) => {
  t.true(ingressPathMatches("ImplementationSpecific", "/foo", "/foobar"));
  t.false(ingressPathMatches("Prefix", "/foo", "/foobar"));
  const table = buildIngressTable(l7(ingressWith([["/foo", "ImplementationSpecific"], ["/foo", "Prefix"]])).ingresses);
  t.is(routeIngress(table, request("foo.bar.com", "/foo/x"), STATE).rule, "rules[0].http.paths[1]", "Prefix beats ImplementationSpecific on a tie");
  t.is(routeIngress(table, request("foo.bar.com", "/foobar"), STATE).rule, "rules[0].http.paths[0]");
});

test("a backend Service without endpoints, or missing, is routed to and answers 503 at the proxy", (t) => {
  const table = buildIngressTable(l7(ingressWith([["/", "Prefix"]])).ingresses);
  const none = proxyState([{ name: "svc-0", endpoints: [] }]);
  const d = routeIngress(table, request("foo.bar.com", "/"), none);
  t.is(d.action.type, "proxy");
  if (d.action.type === "proxy") t.regex(d.action.backends[0]!.backend.problem!, /no ready endpoints/);
  const missing = routeIngress(table, request("foo.bar.com", "/"), proxyState([]));
  if (missing.action.type === "proxy") t.regex(missing.action.backends[0]!.backend.problem!, /does not exist/);
});

test("property: among matching Exact/Prefix paths the chosen one is the longest, Exact on a tie, whatever the order", (t) => {
  const segment = fc.constantFrom("a", "b", "aa", "ab");
  const pathArb = fc.array(segment, { minLength: 0, maxLength: 3 }).map((s) => `/${s.join("/")}`);
  fc.assert(
    fc.property(fc.array(fc.tuple(pathArb, fc.constantFrom<"Exact" | "Prefix">("Exact", "Prefix")), { minLength: 1, maxLength: 4 }), pathArb, (raw, reqPath) => {
      const paths = raw.filter(([p, ty], i) => raw.findIndex(([q, u]) => q === p && u === ty) === i);
      const state = proxyState(paths.map((_, i) => ({ name: `svc-${i}` })));
      const d = routeIngress(buildIngressTable(l7(ingressWith(paths)).ingresses), request("foo.bar.com", reqPath), state);
      const matching = paths.map((p, i) => ({ p, i })).filter(({ p }) => ingressPathMatches(p[1], p[0], reqPath));
      if (matching.length === 0) return d.kind === "default";
      const len = (p: [string, string]) => (p[1] === "Prefix" && p[0].length > 1 ? p[0].replace(/\/+$/, "").length : p[0].length);
      const best = Math.max(...matching.map(({ p }) => len(p)));
      const top = matching.filter(({ p }) => len(p) === best);
      const winner = top.find(({ p }) => p[1] === "Exact") ?? top[0]!;
      return d.rule === `rules[0].http.paths[${winner.i}]`;
    }),
    { numRuns: 300, seed: 14 },
  );
  t.pass();
});
