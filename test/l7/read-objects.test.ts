/**
 * Reading Ingress, IngressClass and Gateway API objects from a cluster file: the API
 * server's defaults, and every refusal a located error naming the file, line, field and what
 * to do.
 */
import test from "ava";
import { PodwireError } from "../../src/base/index.js";
import { parseClusterYaml } from "../../src/cluster/load.js";
import { l7 } from "./helpers.js";

const CLASS = `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: nginx
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec: {controller: k8s.io/ingress-nginx}
`;

function refused(t: import("ava").ExecutionContext, yaml: string, code: string, line: number, field: RegExp | null, message: RegExp): void {
  const err = t.throws(() => l7(yaml), { instanceOf: PodwireError }, yaml) as PodwireError;
  t.is(err.code, code, err.message);
  t.is(err.location?.line, line, err.message);
  if (field !== null) t.regex(err.location?.field ?? "", field, err.message);
  t.regex(err.message, message);
  t.truthy(err.hint, "every refusal says what to do");
}

test("defaults: the default IngressClass for Ingresses without a class, pathType and backend read, service-upstream", (t) => {
  const o = l7(`${CLASS}---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
  annotations: {nginx.ingress.kubernetes.io/service-upstream: "true"}
spec:
  rules:
  - host: "*.example.com"
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {name: http}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: legacy, annotations: {kubernetes.io/ingress.class: other}}
spec: {defaultBackend: {service: {name: web, port: {number: 80}}}}
`);
  t.like(o.ingresses[0], { namespace: "default", name: "shop", className: "nginx", classSource: "default class", serviceUpstream: true });
  t.deepEqual(o.ingresses[0]!.rules[0]!.paths![0]!.backend.service, { name: "web", port: { name: "http" } });
  t.like(o.ingresses[1], { className: "other", classSource: "annotation", serviceUpstream: false });
  t.like(o.ingressClasses[0], { name: "nginx", controller: "k8s.io/ingress-nginx", isDefault: true });
});

test("Gateway API defaults: parentRef group/kind/namespace, match PathPrefix /, header type Exact, weight 1, listener allowedRoutes Same", (t) => {
  const o = l7(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: podwire
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: apps}
spec:
  parentRefs: [{name: gw, namespace: infra, sectionName: http}]
  rules:
  - matches: [{headers: [{name: x, value: "1"}]}]
    backendRefs: [{name: web, port: 80}]
`);
  t.like(o.gateways[0]!.listeners[0], { hostname: null, allowedRoutes: { from: "Same", selector: null, kinds: [] }, tls: null });
  const r = o.httpRoutes[0]!;
  t.like(r.parentRefs[0], { group: "gateway.networking.k8s.io", kind: "Gateway", namespace: "infra", name: "gw", sectionName: "http", port: null });
  t.deepEqual(r.rules[0]!.matches[0]!.path, { type: "PathPrefix", value: "/" });
  t.deepEqual(r.rules[0]!.matches[0]!.headers, [{ type: "Exact", name: "x", value: "1" }]);
  t.like(r.rules[0]!.backendRefs[0], { group: "", kind: "Service", namespace: "apps", weight: 1, port: 80 });
});

test("Ingress refusals as the API server words them, located", (t) => {
  const ing = (spec: string, meta = "{name: x}") => `apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: ${meta}\nspec:\n${spec}`;
  refused(t, ing("  rules:\n  - http:\n      paths:\n      - {path: /, backend: {service: {name: web, port: {number: 80}}}}\n"), "E_MISSING_FIELD", 8, /pathType/, /pathType must be specified/);
  refused(t, ing("  rules:\n  - http:\n      paths:\n      - {path: foo, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}\n"), "E_INGRESS_PATH", 8, /path$/, /must be an absolute path/);
  refused(t, ing("  rules:\n  - http:\n      paths:\n      - {path: /a//b, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}\n"), "E_INGRESS_PATH", 8, /path$/, /must not contain '\/\/'/);
  refused(t, ing("  rules:\n  - http:\n      paths:\n      - {path: /a, pathType: prefix, backend: {service: {name: web, port: {number: 80}}}}\n"), "E_ENUM", 8, /pathType/, /not a supported value.*did you mean Prefix/);
  refused(t, ing("  rules:\n  - host: 10.0.0.1\n"), "E_HOSTNAME", 6, /host/, /must be a DNS name, not an IP address/);
  refused(t, ing("  rules:\n  - host: foo.*.com\n"), "E_HOSTNAME", 6, /host/, /not a valid wildcard host name/);
  refused(t, ing("  rules:\n  - host: a.com\n    http:\n      paths:\n      - {path: /, pathType: Exact, backend: {service: {name: web, port: {number: 80, name: http}}}}\n"), "E_INGRESS_BACKEND", 9, /port/, /cannot set both port name & port number/);
  refused(t, ing("  tls: []\n"), "E_INGRESS", 5, null, /either `defaultBackend` or `rules` must be specified/);
  refused(t, ing("  ingressClassName: nginx\n  defaultBackend: {service: {name: web, port: {number: 80}}}\n", "{name: x, annotations: {kubernetes.io/ingress.class: nginx}}"), "E_INGRESS_CLASS", 3, /ingress\.class/, /can not be set when the class field is also set/);
  refused(t, ing("  defaultBackend: {service: {name: web, port: {number: 80}}}\n  rulez: []\n"), "E_UNKNOWN_FIELD", 6, /spec\.rulez/, /unknown field "spec\.rulez"/);
  refused(t, ing("  defaultBackend: {servise: {name: web}}\n"), "E_UNKNOWN_FIELD", 5, /servise/, /unknown field/);
  refused(t, "apiVersion: networking.k8s.io/v1beta1\nkind: Ingress\nmetadata: {name: x}\nspec: {}\n", "E_API_VERSION", 1, /apiVersion/, /removed in Kubernetes 1\.22/);
  refused(t, `${CLASS}---\n${CLASS.replace("name: nginx", "name: other")}---\n${ing("  defaultBackend: {service: {name: web, port: {number: 80}}}\n")}`, "E_INGRESS_CLASS", 19, /ingressClassName/, /2 IngressClasses are marked default/);
});

test("Gateway API refusals (the CRDs' schema and CEL rules), located", (t) => {
  const gw = (listeners: string) => `apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec:\n  gatewayClassName: podwire\n  listeners:\n${listeners}`;
  refused(t, gw("  - {name: a, port: 443, protocol: HTTPS}\n"), "E_GATEWAY_LISTENER", 7, null, /tls must be specified for protocols \['HTTPS'\]/);
  refused(t, gw("  - {name: a, port: 80, protocol: HTTP, tls: {certificateRefs: [{name: s}]}}\n"), "E_GATEWAY_LISTENER", 7, /tls/, /tls must not be specified/);
  refused(t, gw("  - {name: a, port: 80, protocol: HTTP}\n  - {name: a, port: 81, protocol: HTTP}\n"), "E_GATEWAY_LISTENER", 8, /name/, /used twice/);
  refused(t, gw("  - {name: a, port: 80, protocol: HTTP}\n  - {name: b, port: 80, protocol: HTTP}\n"), "E_GATEWAY_LISTENER", 8, null, /must be unique for each listener/);
  refused(t, gw("  - {name: a, port: 80, protocol: http}\n"), "E_ENUM", 7, /protocol/, /did you mean HTTP/);
  refused(t, gw("  - {name: a, port: 70000, protocol: HTTP}\n"), "E_PORT", 7, /port/, /not a port number/);
  const route = (rules: string) => `apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec:\n  parentRefs: [{name: g}]\n  rules:\n${rules}`;
  refused(t, route("  - backendRefs: [{name: web}]\n"), "E_HTTPROUTE", 7, null, /Must have port for Service reference/);
  refused(t, route("  - matches: [{path: {type: PathPrefix, value: foo}}]\n"), "E_HTTPROUTE_PATH", 7, /value/, /must be an absolute path/);
  refused(t, route("  - matches: [{path: {type: RegularExpression, value: \"(\"}}]\n"), "E_REGEX", 7, /value/, /not a regular expression/);
  refused(t, route("  - matches: [{headers: [{name: x, value: a}, {name: x, value: b}]}]\n"), "E_DUPLICATE", 7, /headers/, /lists "x" twice/);
  refused(t, route("  - matches: [{method: FETCH}]\n"), "E_ENUM", 7, /method/, /not a supported value/);
  refused(t, route("  - backendRefs: [{name: web, port: 80}]\n    filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}]\n"), "E_HTTPROUTE", 7, null, /must not be used together with backendRefs/);
  refused(t, route("  - filters: [{type: RequestHeaderModifier}]\n"), "E_HTTPROUTE", 7, null, /must be specified for RequestHeaderModifier/);
  refused(t, route("  - backendRefs: [{name: web, port: 80, weight: -1}]\n"), "E_RANGE", 7, /weight/, /out of range/);
});

test("a kubernetes.io/tls Secret is read into a certificate; a broken one is refused where it is broken", (t) => {
  const secret = `apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: bm90IGEgY2VydA==\n`;
  const err = t.throws(() => l7(secret), { instanceOf: PodwireError }) as PodwireError;
  t.regex(err.message, /Secret default\/s: data\.tls\.(crt|key)/);
  t.is(l7(`apiVersion: v1\nkind: Secret\nmetadata: {name: opaque}\ndata: {x: eA==}\n`).tlsSecrets.length, 0, "other Secrets are not podwire's business");
});

test("a cluster file's load summary counts the L7 objects as read, and --strict no longer refuses an Ingress", (t) => {
  const yaml = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx, ports: [{containerPort: 8080}]}]}
---
${CLASS}---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec: {defaultBackend: {service: {name: web, port: {number: 80}}}}
`;
  const spec = parseClusterYaml(yaml, "app.yaml", { strict: true });
  t.regex(spec.summary!.text, /1 IngressClass, 1 Ingress/);
  t.is(spec.l7?.ingresses[0]?.className, "nginx");
});
