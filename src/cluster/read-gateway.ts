/**
 * Gateway API objects (gateway.networking.k8s.io v1: GatewayClass, Gateway, HTTPRoute;
 * v1beta1: ReferenceGrant) from a cluster file, with the CRDs' defaults and the checks their
 * OpenAPI schemas and CEL rules make (apis/v1/*_types.go): required fields, enums,
 * MaxItems, hostnames, path values, header names, listener uniqueness, TLS on HTTPS only,
 * a port on every Service backendRef, weights 0..1000000 — and unknown fields refused.
 */
import {
  GATEWAY_GROUP,
  type Gateway,
  type GatewayClass,
  type HeaderModifier,
  type HttpBackendRef,
  type HttpRoute,
  type HttpRouteFilter,
  type HttpRouteMatch,
  type HttpRouteRule,
  type Listener,
  type ParentRef,
  type ReferenceGrant,
  type SecretRef,
} from "../l7/objects.js";
import { compileFullMatch } from "../l7/paths.js";
import { checkTopLevel, limitedItems, readControllerName, readEnumValue, readHostname, readMeta, readPortNumber, readSelector, rejectUnknown } from "./read-l7-fields.js";
import type { KubeObject } from "./read-objects.js";
import { readName } from "./read-objects.js";
import { type Field, clip } from "./yaml-field.js";

export const GATEWAY_API_VERSIONS = ["gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1"];

export function readGatewayClass(obj: KubeObject, order: number): GatewayClass {
  const root = obj.root;
  checkTopLevel(root, "GatewayClass");
  const meta = readMeta(root, "GatewayClass", order, false);
  const spec = root.child("spec");
  rejectUnknown(spec, ["controllerName", "parametersRef", "description"], "GatewayClass spec");
  rejectUnknown(spec.child("parametersRef"), ["group", "kind", "name", "namespace"], "parametersRef");
  return { ...meta, controllerName: readControllerName(spec.child("controllerName"), 253) };
}

const LISTENER_FIELDS = ["name", "hostname", "port", "protocol", "tls", "allowedRoutes"];
const PROTOCOLS = ["HTTP", "HTTPS", "TLS", "TCP", "UDP"];

export function readGateway(obj: KubeObject, order: number): Gateway {
  const root = obj.root;
  checkTopLevel(root, "Gateway");
  const meta = readMeta(root, "Gateway", order, true);
  const spec = root.child("spec");
  rejectUnknown(spec, ["gatewayClassName", "listeners", "addresses", "infrastructure", "backendTLS", "allowedListeners", "tls", "defaultScope"], "Gateway spec");
  const className = readName(spec.child("gatewayClassName"), "subdomain", "GatewayClass");
  const listeners = limitedItems(spec.child("listeners"), 64, 1).map((l, i) => readListener(l, i, meta.namespace));
  const seen = new Map<string, string>();
  for (const [i, l] of listeners.entries()) {
    const at = spec.child("listeners").items()[i]!;
    if (seen.has(`name:${l.name}`)) at.child("name").fail("E_GATEWAY_LISTENER", `listener name ${JSON.stringify(l.name)} is used twice`, "give every listener its own name (parentRefs' sectionName refers to it)");
    seen.set(`name:${l.name}`, l.where);
    const combo = `${l.port}/${l.protocol}/${l.hostname ?? ""}`;
    const first = seen.get(combo);
    if (first !== undefined) at.fail("E_GATEWAY_LISTENER", `${l.where}: port ${l.port}, protocol ${l.protocol} and hostname ${l.hostname ?? "(none)"} are those of ${first}`, "Combination of port, protocol and hostname must be unique for each listener");
    seen.set(combo, l.where);
  }
  return { ...meta, className, listeners };
}

function readListener(f: Field, i: number, namespace: string): Listener {
  rejectUnknown(f, LISTENER_FIELDS, "a Gateway listener");
  const where = `listeners[${i}]`;
  const name = readName(f.child("name"), "subdomain", "listener");
  const protoField = f.child("protocol");
  const protocol = protoField.requiredString();
  if (!PROTOCOLS.includes(protocol) && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]+$/.test(protocol)) {
    const near = PROTOCOLS.find((p) => p.toLowerCase() === protocol.toLowerCase());
    protoField.fail("E_ENUM", `${protoField.path} ${JSON.stringify(clip(protocol))} is not a protocol`, near !== undefined ? `did you mean ${near}? (case-sensitive)` : `use one of ${PROTOCOLS.join(", ")}, or a domain-prefixed name`);
  }
  const hostField = f.child("hostname");
  const hostname = hostField.absent ? null : readHostname(hostField, true);
  if (hostname !== null && (protocol === "TCP" || protocol === "UDP")) hostField.fail("E_GATEWAY_LISTENER", `${hostField.path}: hostname must not be specified for protocols ['TCP', 'UDP']`, "remove hostname");
  const tlsField = f.child("tls");
  let tls: Listener["tls"] = null;
  if (!tlsField.absent) {
    if (protocol === "HTTP" || protocol === "TCP" || protocol === "UDP") tlsField.fail("E_GATEWAY_LISTENER", `${tlsField.path}: tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']`, "remove tls, or use protocol HTTPS");
    rejectUnknown(tlsField, ["mode", "certificateRefs", "options", "frontendValidation"], "listener tls");
    const mode = readEnumValue(tlsField.child("mode"), ["Terminate", "Passthrough"] as const, "Terminate");
    const refs = limitedItems(tlsField.child("certificateRefs"), 64).map((r) => readSecretRef(r, namespace));
    if (mode === "Terminate" && refs.length === 0) tlsField.child("certificateRefs").fail("E_GATEWAY_LISTENER", `${tlsField.path}: certificateRefs or options must be specified when mode is Terminate`, "add certificateRefs: [{name: my-tls-secret}]");
    tls = { mode, certificateRefs: refs };
  } else if (protocol === "HTTPS") {
    tlsField.fail("E_GATEWAY_LISTENER", `${f.path}: tls must be specified for protocols ['HTTPS']`, "add tls: {mode: Terminate, certificateRefs: [{name: my-tls-secret}]}");
  }
  const ar = f.child("allowedRoutes");
  rejectUnknown(ar, ["namespaces", "kinds"], "allowedRoutes");
  const ns = ar.child("namespaces");
  rejectUnknown(ns, ["from", "selector"], "allowedRoutes.namespaces");
  const from = readEnumValue(ns.child("from"), ["Same", "All", "Selector"] as const, "Same");
  const selector = ns.child("selector").absent ? null : readSelector(ns.child("selector"));
  if (from === "Selector" && selector === null) ns.child("selector").fail("E_GATEWAY_LISTENER", `${ns.path}: selector is required when from is Selector`, "add selector: {matchLabels: {...}}");
  const kinds = limitedItems(ar.child("kinds"), 8).map((k) => {
    rejectUnknown(k, ["group", "kind"], "a route kind");
    return { group: k.child("group").optString() ?? GATEWAY_GROUP, kind: k.child("kind").requiredString() };
  });
  return { name, hostname, port: readPortNumber(f.child("port")), protocol, tls, allowedRoutes: { from, selector, kinds }, where };
}

function readSecretRef(f: Field, namespace: string): SecretRef {
  rejectUnknown(f, ["group", "kind", "name", "namespace"], "a certificateRef");
  return {
    group: f.child("group").optString() ?? "",
    kind: f.child("kind").optString() ?? "Secret",
    name: readName(f.child("name"), "subdomain", "Secret"),
    namespace: f.child("namespace").absent ? namespace : readName(f.child("namespace"), "label", "namespace"),
  };
}

// ------------------------------------------------------------------ HTTPRoute

const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"] as const;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
const PATH_CHARS = /^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+$/;
const REDIRECT_CODES = [301, 302, 303, 307, 308];

export function readHttpRoute(obj: KubeObject, order: number): HttpRoute {
  const root = obj.root;
  checkTopLevel(root, "HTTPRoute");
  const meta = readMeta(root, "HTTPRoute", order, true);
  const spec = root.child("spec");
  rejectUnknown(spec, ["parentRefs", "hostnames", "rules", "useDefaultGateways"], "HTTPRoute spec");
  const parentRefs = limitedItems(spec.child("parentRefs"), 32).map((p, i) => readParentRef(p, i, meta.namespace));
  const hostnames = limitedItems(spec.child("hostnames"), 16).map((h) => readHostname(h, true));
  const rulesField = spec.child("rules");
  // The CRD's default: one rule matching every request (a PathPrefix / match) — with no backends.
  const rules = rulesField.absent ? [{ name: null, matches: [defaultMatch("rules[0].matches[0]")], filters: [], backendRefs: [], where: "rules[0]" }] : limitedItems(rulesField, 16, 1).map((r, i) => readRule(r, i, meta.namespace));
  const total = rules.reduce((n, r) => n + r.matches.length, 0);
  if (total > 128) rulesField.fail("E_TOO_MANY", `${rulesField.path} has ${total} matches in all`, "the total number of matches across all rules in a route must be less than 128");
  const names = rules.map((r) => r.name).filter((n) => n !== null);
  if (new Set(names).size !== names.length) rulesField.fail("E_HTTPROUTE", `${rulesField.path}: Rule name must be unique within the route`, "give each named rule its own name");
  return { ...meta, parentRefs, hostnames, rules };
}

function readParentRef(f: Field, i: number, namespace: string): ParentRef {
  rejectUnknown(f, ["group", "kind", "namespace", "name", "sectionName", "port"], "a parentRef");
  return {
    group: f.child("group").optString() ?? GATEWAY_GROUP,
    kind: f.child("kind").optString() ?? "Gateway",
    namespace: f.child("namespace").absent ? namespace : readName(f.child("namespace"), "label", "namespace"),
    name: readName(f.child("name"), "subdomain", "parent"),
    sectionName: f.child("sectionName").absent ? null : readName(f.child("sectionName"), "subdomain", "section"),
    port: f.child("port").absent ? null : readPortNumber(f.child("port")),
    where: `parentRefs[${i}]`,
  };
}

function defaultMatch(where: string): HttpRouteMatch {
  return { path: { type: "PathPrefix", value: "/" }, headers: [], queryParams: [], method: null, where };
}

function readRule(f: Field, i: number, namespace: string): HttpRouteRule {
  rejectUnknown(f, ["name", "matches", "filters", "backendRefs", "timeouts", "retry", "sessionPersistence"], "an HTTPRoute rule");
  const where = `rules[${i}]`;
  const matchesField = f.child("matches");
  const matches = matchesField.absent ? [defaultMatch(`${where}.matches[0]`)] : limitedItems(matchesField, 64).map((m, j) => readMatch(m, `${where}.matches[${j}]`));
  const filters = limitedItems(f.child("filters"), 16).map((x) => readFilter(x));
  const backendRefs = limitedItems(f.child("backendRefs"), 16).map((b, j) => readBackendRef(b, `${where}.backendRefs[${j}]`, namespace));
  if (backendRefs.length > 0 && filters.some((x) => x.type === "RequestRedirect")) f.fail("E_HTTPROUTE", `${where}: RequestRedirect filter must not be used together with backendRefs`, "remove the backendRefs or the redirect");
  for (const t of ["RequestRedirect", "URLRewrite", "RequestHeaderModifier", "ResponseHeaderModifier"]) {
    if (filters.filter((x) => x.type === t).length > 1) f.child("filters").fail("E_HTTPROUTE", `${where}: ${t} filter cannot be repeated`, "merge them into one");
  }
  if (filters.some((x) => x.type === "RequestRedirect") && filters.some((x) => x.type === "URLRewrite")) f.child("filters").fail("E_HTTPROUTE", `${where}: May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both`, "keep one");
  for (const x of filters) {
    const p = x.type === "RequestRedirect" || x.type === "URLRewrite" ? x.path : null;
    if (p?.type === "ReplacePrefixMatch" && (matches.length !== 1 || matches[0]!.path.type !== "PathPrefix")) {
      f.child("filters").fail("E_HTTPROUTE", `${where}: When using ${x.type} filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified`, "give the rule one match with a PathPrefix path");
    }
  }
  const nameField = f.child("name");
  return { name: nameField.absent ? null : readName(nameField, "subdomain", "rule"), matches, filters, backendRefs, where };
}

function readMatch(f: Field, where: string): HttpRouteMatch {
  rejectUnknown(f, ["path", "headers", "queryParams", "method"], "an HTTPRoute match");
  const p = f.child("path");
  rejectUnknown(p, ["type", "value"], "a path match");
  const type = readEnumValue(p.child("type"), ["Exact", "PathPrefix", "RegularExpression"] as const, "PathPrefix");
  const valueField = p.child("value");
  const value = valueField.absent ? "/" : valueField.requiredString();
  if (value.length > 1024) valueField.fail("E_HTTPROUTE_PATH", `${valueField.path} is longer than 1024 characters`, "shorten it");
  if (type === "RegularExpression") {
    if (compileFullMatch(value) === null) valueField.fail("E_REGEX", `${valueField.path} ${JSON.stringify(clip(value))} is not a regular expression podwire can compile`, "podwire matches RegularExpression paths with JavaScript's RegExp (close to RE2 for common patterns)");
  } else {
    const rule = !value.startsWith("/") ? "value must be an absolute path and start with '/'" : ["//", "/./", "/../", "%2f", "%2F", "#"].find((s) => value.includes(s)) !== undefined ? `must not contain '${["//", "/./", "/../", "%2f", "%2F", "#"].find((s) => value.includes(s))}'` : value.endsWith("/..") ? "must not end with '/..'" : value.endsWith("/.") ? "must not end with '/.'" : !PATH_CHARS.test(value) ? "must only contain valid characters (matching ^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$)" : null;
    if (rule !== null) valueField.fail("E_HTTPROUTE_PATH", `${valueField.path} ${JSON.stringify(clip(value))}: ${rule} when type one of ['Exact', 'PathPrefix']`, "write an absolute path in normal form, e.g. /cart");
  }
  const headers = limitedItems(f.child("headers"), 16).map((h) => readValueMatch(h, "header", true));
  const queryParams = limitedItems(f.child("queryParams"), 16).map((q) => readValueMatch(q, "query param", false));
  uniqueNames(f.child("headers"), headers.map((h) => h.name));
  uniqueNames(f.child("queryParams"), queryParams.map((q) => q.name));
  const methodField = f.child("method");
  const method = methodField.absent ? null : readEnumValue(methodField, METHODS, undefined);
  return { path: { type, value }, headers, queryParams, method, where };
}

/** `+listType=map +listMapKey=name`: the API server refuses two entries with the same name. */
function uniqueNames(f: Field, names: string[]): void {
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) f.fail("E_DUPLICATE", `${f.path} lists ${JSON.stringify(dup)} twice`, "the API keys this list by name: keep one entry per name");
}

function readValueMatch(f: Field, what: string, isHeader: boolean): { type: "Exact" | "RegularExpression"; name: string; value: string } {
  rejectUnknown(f, ["type", "name", "value"], `a ${what} match`);
  const type = readEnumValue(f.child("type"), ["Exact", "RegularExpression"] as const, "Exact");
  const nameField = f.child("name");
  const name = nameField.requiredString();
  if (name.length > 256 || !HEADER_NAME.test(name)) nameField.fail("E_HTTPROUTE", `${nameField.path} ${JSON.stringify(clip(name))} is not a valid ${what} name`, isHeader ? "a header name is letters, digits and !#$%&'*+-.^_`|~ (no ':' pseudo-headers)" : "use the parameter's name as it appears in the query");
  const valueField = f.child("value");
  const value = valueField.requiredString();
  if (type === "RegularExpression" && compileFullMatch(value) === null) valueField.fail("E_REGEX", `${valueField.path} ${JSON.stringify(clip(value))} is not a regular expression podwire can compile`, "podwire uses JavaScript's RegExp");
  return { type, name, value };
}

function readModifier(f: Field): HeaderModifier {
  rejectUnknown(f, ["set", "add", "remove"], "a header modifier");
  const pairs = (list: Field) =>
    limitedItems(list, 16).map((h) => {
      rejectUnknown(h, ["name", "value"], "a header");
      const name = h.child("name").requiredString();
      if (!HEADER_NAME.test(name)) h.child("name").fail("E_HTTPROUTE", `${h.child("name").path} ${JSON.stringify(clip(name))} is not a valid header name`, "use letters, digits and -");
      return { name, value: h.child("value").optString() ?? "" };
    });
  return { set: pairs(f.child("set")), add: pairs(f.child("add")), remove: limitedItems(f.child("remove"), 16).map((r) => r.requiredString()) };
}

const FILTER_FIELD: Record<string, string> = {
  RequestHeaderModifier: "requestHeaderModifier",
  ResponseHeaderModifier: "responseHeaderModifier",
  RequestMirror: "requestMirror",
  RequestRedirect: "requestRedirect",
  URLRewrite: "urlRewrite",
  CORS: "cors",
  ExternalAuth: "externalAuth",
  ExtensionRef: "extensionRef",
};

function readFilter(f: Field): HttpRouteFilter {
  rejectUnknown(f, ["type", ...Object.values(FILTER_FIELD)], "an HTTPRoute filter");
  const type = readEnumValue(f.child("type"), Object.keys(FILTER_FIELD), undefined);
  for (const [t, key] of Object.entries(FILTER_FIELD)) {
    const present = !f.child(key).absent;
    if (present && t !== type) f.child(key).fail("E_HTTPROUTE", `filter.${key} must be nil if the filter.type is not ${t}`, `remove ${key}, or set type: ${t}`);
    if (!present && t === type) f.fail("E_HTTPROUTE", `filter.${key} must be specified for ${t} filter.type`, `add ${key}`);
  }
  const body = f.child(FILTER_FIELD[type]!);
  switch (type) {
    case "RequestHeaderModifier":
      return { type, modifier: readModifier(body) };
    case "ResponseHeaderModifier":
      return { type, modifier: readModifier(body) };
    case "RequestRedirect": {
      rejectUnknown(body, ["scheme", "hostname", "path", "port", "statusCode"], "requestRedirect");
      const code = body.child("statusCode").optInt() ?? 302;
      if (!REDIRECT_CODES.includes(code)) body.child("statusCode").fail("E_ENUM", `${body.child("statusCode").path} ${code} is not a redirect status`, `use one of ${REDIRECT_CODES.join(", ")}`);
      return {
        type,
        scheme: body.child("scheme").absent ? null : readEnumValue(body.child("scheme"), ["http", "https"] as const, undefined),
        hostname: body.child("hostname").absent ? null : readHostname(body.child("hostname"), false),
        port: body.child("port").absent ? null : readPortNumber(body.child("port")),
        statusCode: code,
        path: readPathModifier(body.child("path")),
      };
    }
    case "URLRewrite":
      rejectUnknown(body, ["hostname", "path"], "urlRewrite");
      return { type, hostname: body.child("hostname").absent ? null : readHostname(body.child("hostname"), false), path: readPathModifier(body.child("path")) };
    default:
      return { type: "Unsupported", name: type };
  }
}

function readPathModifier(f: Field): { type: "ReplaceFullPath" | "ReplacePrefixMatch"; value: string } | null {
  if (f.absent) return null;
  rejectUnknown(f, ["type", "replaceFullPath", "replacePrefixMatch"], "a path modifier");
  const type = readEnumValue(f.child("type"), ["ReplaceFullPath", "ReplacePrefixMatch"] as const, undefined);
  const key = type === "ReplaceFullPath" ? "replaceFullPath" : "replacePrefixMatch";
  const other = type === "ReplaceFullPath" ? "replacePrefixMatch" : "replaceFullPath";
  if (!f.child(other).absent) f.child(other).fail("E_HTTPROUTE", `${other} must not be set when type is ${type}`, `remove ${other}`);
  const value = f.child(key).requiredString();
  if (!value.startsWith("/")) f.child(key).fail("E_HTTPROUTE_PATH", `${f.child(key).path} must start with /`, "write an absolute path");
  return { type, value };
}

function readBackendRef(f: Field, where: string, namespace: string): HttpBackendRef {
  rejectUnknown(f, ["group", "kind", "name", "namespace", "port", "weight", "filters"], "a backendRef");
  const group = f.child("group").optString() ?? "";
  const kind = f.child("kind").optString() ?? "Service";
  const port = f.child("port").absent ? null : readPortNumber(f.child("port"));
  if (port === null && group === "" && kind === "Service") f.fail("E_HTTPROUTE", `${where}: Must have port for Service reference`, "add port: the Service port to send to");
  const weight = f.child("weight").optInt() ?? 1;
  if (weight < 0 || weight > 1_000_000) f.child("weight").fail("E_RANGE", `${f.child("weight").path} ${weight} is out of range`, "use a weight from 0 to 1000000");
  if (!f.child("filters").absent) f.child("filters").fail("E_NOT_EMULATED", `${where}.filters: per-backend filters are not emulated`, "move the filter to the rule's filters");
  return {
    group,
    kind,
    namespace: f.child("namespace").absent ? namespace : readName(f.child("namespace"), "label", "namespace"),
    name: readName(f.child("name"), "subdomain", "backend"),
    port,
    weight,
    where,
  };
}

export function readReferenceGrant(obj: KubeObject, order: number): ReferenceGrant {
  const root = obj.root;
  checkTopLevel(root, "ReferenceGrant", ["spec"]);
  const meta = readMeta(root, "ReferenceGrant", order, true);
  const spec = root.child("spec");
  rejectUnknown(spec, ["from", "to"], "ReferenceGrant spec");
  const from = limitedItems(spec.child("from"), 16, 1).map((x) => {
    rejectUnknown(x, ["group", "kind", "namespace"], "a ReferenceGrant from");
    return { group: x.child("group").optString() ?? "", kind: x.child("kind").requiredString(), namespace: readName(x.child("namespace"), "label", "namespace") };
  });
  const to = limitedItems(spec.child("to"), 16, 1).map((x) => {
    rejectUnknown(x, ["group", "kind", "name"], "a ReferenceGrant to");
    return { group: x.child("group").optString() ?? "", kind: x.child("kind").requiredString(), name: x.child("name").absent ? null : x.child("name").requiredString() };
  });
  return { ...meta, from, to };
}
