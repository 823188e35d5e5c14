/**
 * `check`'s L7 cells: one per Ingress path and HTTPRoute match, through the controller's
 * external address, judged against the routing the objects define (503 for a backend without
 * endpoints is an expected failure, a regex match is skipped with the reason), and the L4
 * cells of the controller's Service counted as answered by the controller itself.
 */
import test from "ava";
import { parseClusterYaml, defaultCluster } from "../../src/cluster/load.js";
import { checkJson, formatCheck, runCheck } from "../../src/check/index.js";

test("embedded cluster: the five L7 routes answer from the right backends; the controller's Service cells are ok with a note", (t) => {
  const r = runCheck(defaultCluster());
  const l7 = r.cells.filter((c) => c.kind === "l7Route");
  t.deepEqual(
    l7.map((c) => [c.column, c.columnNote, c.outcome]),
    [
      ["http://shop.example.com/", "Ingress default/shop rules[0].http.paths[0]", "ok"],
      ["http://shop.example.com/api", "Ingress default/shop rules[0].http.paths[1]", "ok"],
      ["http://api.example.com/", "Ingress default/shop rules[1].http.paths[0]", "ok"],
      ["http://www.example.com/", "HTTPRoute default/www rules[0].matches[0]", "ok"],
      ["http://www.example.com/", "HTTPRoute default/www rules[1].matches[0]", "ok"],
    ],
  );
  t.regex(l7[1]!.endpoint!, /^pod\/default\/api-0 /);
  t.regex(l7[4]!.endpoint!, /^pod\/default\/api-0 /, "the x-canary header match was sent with its header");
  const front = r.cells.filter((c) => c.service === "ingress-nginx/ingress-nginx-controller" && c.kind !== "l7Route");
  t.true(front.length > 0 && front.every((c) => c.outcome === "ok" && /answered by the ingress controller itself/.test(c.note ?? "")));
  const text = formatCheck(r).join("\n");
  t.regex(text, /L7 routes \(from ext\/outside through the ingress controller's external address\)/);
  t.regex(text, /http:\/\/shop\.example\.com\/api +Ingress default\/shop rules\[0\]\.http\.paths\[1\] +ok api-0/);
  const j = checkJson(r) as { cells: { kind: string; route?: string }[] };
  t.true(j.cells.some((c) => c.kind === "l7Route" && c.route === "HTTPRoute default/www rules[1].matches[0]"));
});

const FILE = `apiVersion: v1
kind: Pod
metadata: {name: web-0, labels: {app: web}}
spec: {containers: [{name: web, image: nginx, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: http}]}
---
apiVersion: v1
kind: Service
metadata: {name: gone}
spec: {selector: {app: nobody}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: edge-0, namespace: edge, labels: {app: edge}, annotations: {podwire.dev/l7-controller: example.com/gateway}}
spec: {hostNetwork: true, containers: [{name: envoy, image: envoyproxy/envoy:v1.31, ports: [{name: http, containerPort: 8000}]}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: edge}
spec: {controllerName: example.com/gateway}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: edge}
spec:
  gatewayClassName: edge
  listeners: [{name: http, port: 8000, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app}
spec:
  parentRefs: [{name: edge, namespace: edge}]
  hostnames: [app.example.com]
  rules:
  - matches: [{path: {value: /}}]
    backendRefs: [{name: web, port: 80}]
  - matches: [{path: {type: Exact, value: /down}}]
    backendRefs: [{name: gone, port: 80}]
  - matches: [{path: {type: RegularExpression, value: "/v[0-9]+/.*"}}]
    backendRefs: [{name: web, port: 80}]
`;

test("a hostNetwork Gateway controller: a backend without endpoints is an expected 503, a regex match is skipped", (t) => {
  const r = runCheck(parseClusterYaml(FILE, "edge.yaml"));
  const l7 = r.cells.filter((c) => c.kind === "l7Route");
  t.deepEqual(l7.map((c) => [c.column, c.outcome]), [
    ["http://app.example.com/", "ok"],
    ["http://app.example.com/down", "expected-failure"],
  ]);
  t.regex(l7[0]!.to, /hostNetwork Pod edge\/edge-0 on node/);
  t.regex(l7[1]!.expected!, /503 \(Service default\/gone port 80 has no ready endpoints\)/);
  t.true(r.skipped.some((s) => s.target === "HTTPRoute default/app rules[2].matches[0]" && /RegularExpression/.test(s.reason)));
  t.is(r.summary.unexpected, 0, r.cells.filter((c) => c.outcome === "unexpected-failure").map((c) => `${c.column}: ${c.reason}`).join("; "));
});
