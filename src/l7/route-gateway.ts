/**
 * Gateway API HTTP routing (gateway.networking.k8s.io/v1), as the API's documentation and
 * conformance tests define it:
 *
 * - An HTTPRoute attaches to a Gateway's listeners through its parentRefs (sectionName and
 *   port narrow them), if the listener's allowedRoutes admit its namespace and kind and its
 *   hostnames intersect the listener's (HTTPRouteSpec.Hostnames); otherwise it is not
 *   Accepted (NotAllowedByListeners, NoMatchingListenerHostname, NoMatchingParent).
 * - A request goes to the most specific listener on its port whose hostname matches the
 *   Host (listener isolation: an exact hostname over a wildcard, a longer wildcard over a
 *   shorter, no hostname last); only routes attached to that listener apply.
 * - Across all matching rules of those routes, the match with precedence wins (HTTPRouteRule
 *   .Matches): an Exact path, then the longest PathPrefix (then RegularExpression paths,
 *   longest first: podwire's choice, the API leaves regex precedence to implementations), a
 *   method match, the most header matches, the most query param matches; then the route
 *   with the most characters in a matching non-wildcard hostname, then in a matching
 *   hostname; then the oldest route, then `{namespace}/{name}` alphabetically; then the
 *   first rule and match in list order. (The conformance test HTTPRouteMatchingAcrossRoutes
 *   requires path and header precedence to come before the hostname tie-break.)
 * - A backendRef that is invalid (not a Service, a missing Service or port, another
 *   namespace without a ReferenceGrant) gets 500 for its share of requests; a Service with
 *   no ready endpoints gets 503; all weights 0 → 500; no matching rule → 404.
 */
import type { ProxyState } from "../kube/index.js";
import { resolveBackend } from "./backends.js";
import type { RouteDecision, RouteRequest, WeightedBackend } from "./decision.js";
import { gatewayHostMatches, hostSpecificity, intersectHostnames, isWildcard, requestHost } from "./hostnames.js";
import { selectorMatches } from "./labels.js";
import { GATEWAY_GROUP, type Gateway, type HeaderModifier, type HttpBackendRef, type HttpRoute, type HttpRouteMatch, type HttpRouteRule, type Listener, type ParentRef, type ReferenceGrant, byAge } from "./objects.js";
import { compileFullMatch, exactMatches, prefixMatches, queryParams, requestPath } from "./paths.js";

export interface ListenerEntry {
  gateway: Gateway;
  listener: Listener;
  /** The controller Pod's port this listener's traffic arrives on. */
  localPort: number;
}

export interface Attachment {
  route: HttpRoute;
  parent: ParentRef;
  entry: ListenerEntry;
  /** The route's hostnames on this listener (intersected); null: every host the listener takes. */
  hostnames: string[] | null;
}

export interface GatewayTable {
  entries: ListenerEntry[];
  attachments: Attachment[];
  /** Why routes or listeners were left out (not Accepted, protocols not emulated). */
  notes: string[];
}

export interface GatewayInputs {
  gateways: readonly Gateway[];
  routes: readonly HttpRoute[];
  namespaceLabels: ReadonlyMap<string, Record<string, string>>;
  /** The controller Pod port a listener port arrives on (through the controller's Service). */
  localPortOf: (listenerPort: number) => number;
}

const HTTP_PROTOCOLS = ["HTTP", "HTTPS"];

export function buildGatewayTable(inputs: GatewayInputs): GatewayTable {
  const notes: string[] = [];
  const entries: ListenerEntry[] = [];
  for (const gw of [...inputs.gateways].sort(byAge)) {
    for (const l of gw.listeners) {
      if (!HTTP_PROTOCOLS.includes(l.protocol)) {
        notes.push(`Gateway ${gw.namespace}/${gw.name} listener ${l.name}: protocol ${l.protocol} is not emulated (HTTP and HTTPS are)`);
        continue;
      }
      if (l.protocol === "HTTPS" && l.tls?.mode === "Passthrough") {
        notes.push(`Gateway ${gw.namespace}/${gw.name} listener ${l.name}: TLS Passthrough is not emulated`);
        continue;
      }
      entries.push({ gateway: gw, listener: l, localPort: inputs.localPortOf(l.port) });
    }
  }
  const attachments: Attachment[] = [];
  for (const route of [...inputs.routes].sort(byAge)) {
    const key = `HTTPRoute ${route.namespace}/${route.name}`;
    for (const parent of route.parentRefs) {
      if (parent.group !== GATEWAY_GROUP || parent.kind !== "Gateway") continue;
      const gw = inputs.gateways.find((g) => g.namespace === parent.namespace && g.name === parent.name);
      if (!gw) continue; // another controller's Gateway, or none at all: not this controller's business
      const named = gw.listeners.filter((l) => (parent.sectionName === null || l.name === parent.sectionName) && (parent.port === null || l.port === parent.port));
      if (named.length === 0) {
        notes.push(`${key} ${parent.where}: not Accepted (NoMatchingParent): Gateway ${gw.namespace}/${gw.name} has no listener${parent.sectionName ? ` named ${parent.sectionName}` : ""}${parent.port !== null ? ` on port ${parent.port}` : ""}`);
        continue;
      }
      const allowed = named.filter((l) => admits(l, gw, route, inputs.namespaceLabels));
      if (allowed.length === 0) {
        notes.push(`${key} ${parent.where}: not Accepted (NotAllowedByListeners): the listeners' allowedRoutes do not admit an HTTPRoute from namespace ${route.namespace}`);
        continue;
      }
      let attached = 0;
      for (const l of allowed) {
        const hostnames = intersectHostnames(l.hostname, route.hostnames);
        if (hostnames !== null && hostnames.length === 0) continue;
        const entry = entries.find((e) => e.gateway === gw && e.listener === l);
        if (!entry) continue;
        attachments.push({ route, parent, entry, hostnames });
        attached++;
      }
      if (attached === 0 && allowed.some((l) => { const h = intersectHostnames(l.hostname, route.hostnames); return h !== null && h.length === 0; })) {
        notes.push(`${key} ${parent.where}: not Accepted (NoMatchingListenerHostname): none of ${route.hostnames.join(", ")} intersects the listeners' hostnames`);
      }
    }
  }
  return { entries, attachments, notes };
}

/** allowedRoutes: the route's kind and namespace. */
function admits(l: Listener, gw: Gateway, route: HttpRoute, nsLabels: ReadonlyMap<string, Record<string, string>>): boolean {
  if (l.allowedRoutes.kinds.length > 0 && !l.allowedRoutes.kinds.some((k) => k.group === GATEWAY_GROUP && k.kind === "HTTPRoute")) return false;
  if (!HTTP_PROTOCOLS.includes(l.protocol)) return false;
  const from = l.allowedRoutes.from;
  if (from === "All") return true;
  if (from === "Same") return route.namespace === gw.namespace;
  const labels = nsLabels.get(route.namespace) ?? { "kubernetes.io/metadata.name": route.namespace };
  return l.allowedRoutes.selector !== null && selectorMatches(l.allowedRoutes.selector, labels);
}

/** The listener a request goes to: on its port and scheme, the most specific hostname that matches. */
export function selectListener(table: GatewayTable, port: number, scheme: "http" | "https", host: string): ListenerEntry | null {
  let best: ListenerEntry | null = null;
  for (const e of table.entries) {
    if (e.localPort !== port || (e.listener.protocol === "HTTPS") !== (scheme === "https")) continue;
    if (e.listener.hostname !== null && !gatewayHostMatches(e.listener.hostname, host)) continue;
    if (best === null || hostSpecificity(e.listener.hostname) > hostSpecificity(best.listener.hostname)) best = e;
  }
  return best;
}

/** One match that matched a request, with everything its precedence depends on. */
interface Candidate {
  att: Attachment;
  rule: HttpRouteRule;
  ruleIndex: number;
  match: HttpRouteMatch;
  matchIndex: number;
  /** The route hostname that matched the Host ("" when the route has none). */
  hostname: string;
}

const PATH_RANK = { Exact: 3, PathPrefix: 2, RegularExpression: 1 } as const;

/** Negative when `a` has precedence over `b`. */
export function comparePrecedence(a: Candidate, b: Candidate): number {
  const pa = PATH_RANK[a.match.path.type];
  const pb = PATH_RANK[b.match.path.type];
  if (pa !== pb) return pb - pa;
  if (a.match.path.value.length !== b.match.path.value.length) return b.match.path.value.length - a.match.path.value.length;
  const ma = a.match.method !== null ? 1 : 0;
  const mb = b.match.method !== null ? 1 : 0;
  if (ma !== mb) return mb - ma;
  if (a.match.headers.length !== b.match.headers.length) return b.match.headers.length - a.match.headers.length;
  if (a.match.queryParams.length !== b.match.queryParams.length) return b.match.queryParams.length - a.match.queryParams.length;
  const na = isWildcard(a.hostname) ? 0 : a.hostname.length;
  const nb = isWildcard(b.hostname) ? 0 : b.hostname.length;
  if (na !== nb) return nb - na;
  if (a.hostname.length !== b.hostname.length) return b.hostname.length - a.hostname.length;
  if (a.att.route !== b.att.route) return byAge(a.att.route, b.att.route);
  if (a.ruleIndex !== b.ruleIndex) return a.ruleIndex - b.ruleIndex;
  return a.matchIndex - b.matchIndex;
}

/** Why a match does not match the request; null when it does. */
export function matchProblem(m: HttpRouteMatch, req: RouteRequest): string | null {
  const path = requestPath(req.target);
  const p = m.path;
  const pathOk = p.type === "Exact" ? exactMatches(p.value, path) : p.type === "PathPrefix" ? prefixMatches(p.value, path) : (compileFullMatch(p.value)?.test(path) ?? false);
  if (!pathOk) return `path ${path} does not match ${p.type} ${p.value}`;
  if (m.method !== null && m.method !== req.method) return `method ${req.method} is not ${m.method}`;
  const seen = new Set<string>();
  for (const h of m.headers) {
    const name = h.name.toLowerCase();
    if (seen.has(name)) continue; // only the first entry of a name counts
    seen.add(name);
    const values = req.headers.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);
    const value = values.length === 0 ? null : values.join(",");
    const ok = value !== null && (h.type === "Exact" ? value === h.value : (compileFullMatch(h.value)?.test(value) ?? false));
    if (!ok) return value === null ? `no header ${h.name}` : `header ${h.name}: ${JSON.stringify(value)} does not match ${h.type === "Exact" ? JSON.stringify(h.value) : `/${h.value}/`}`;
  }
  const params = queryParams(req.target);
  const seenQ = new Set<string>();
  for (const q of m.queryParams) {
    if (seenQ.has(q.name)) continue;
    seenQ.add(q.name);
    const first = params.find((x) => x.name === q.name);
    const ok = first !== undefined && (q.type === "Exact" ? first.value === q.value : (compileFullMatch(q.value)?.test(first.value) ?? false));
    if (!ok) return first === undefined ? `no query parameter ${q.name}` : `query ${q.name}=${first.value} does not match ${q.value}`;
  }
  return null;
}

function describeMatch(m: HttpRouteMatch): string {
  const parts = [`${m.path.type} ${m.path.value}`];
  if (m.method !== null) parts.push(`method ${m.method}`);
  for (const h of m.headers) parts.push(`header ${h.name}${h.type === "Exact" ? "=" : "~"}${h.value}`);
  for (const q of m.queryParams) parts.push(`query ${q.name}${q.type === "Exact" ? "=" : "~"}${q.value}`);
  return parts.join(", ");
}

function routeKey(r: HttpRoute): string {
  return `HTTPRoute ${r.namespace}/${r.name}`;
}

/**
 * Routes one request through the Gateway API table. Returns null when no listener on the
 * port takes the Host (the request is not the Gateway's to answer).
 */
export function routeGateway(table: GatewayTable, req: RouteRequest, state: ProxyState, grants: readonly ReferenceGrant[]): RouteDecision | null {
  const host = requestHost(req.host);
  const entry = selectListener(table, req.port, req.scheme, host);
  if (entry === null) return null;
  const gwText = `Gateway ${entry.gateway.namespace}/${entry.gateway.name} listener ${entry.listener.name}`;
  const notChosen: string[] = [];
  const candidates: Candidate[] = [];
  for (const att of table.attachments) {
    if (att.entry.localPort !== req.port || (att.entry.listener.protocol === "HTTPS") !== (req.scheme === "https")) continue;
    if (att.entry !== entry) {
      for (const [i] of att.route.rules.entries()) notChosen.push(`${routeKey(att.route)} rules[${i}]: attached to ${att.entry.gateway.namespace}/${att.entry.gateway.name} listener ${att.entry.listener.name}, and the request goes to the more specific listener ${entry.listener.name}`);
      continue;
    }
    let hostname = "";
    if (att.hostnames !== null) {
      const matching = att.hostnames.filter((h) => gatewayHostMatches(h, host)).sort((a, b) => hostSpecificity(b) - hostSpecificity(a));
      if (matching.length === 0) {
        notChosen.push(`${routeKey(att.route)}: hostnames ${att.hostnames.join(", ")} do not match ${host}`);
        continue;
      }
      hostname = originalHostname(att.route, matching[0]!);
    }
    for (const [ri, rule] of att.route.rules.entries()) {
      for (const [mi, match] of rule.matches.entries()) {
        const problem = matchProblem(match, req);
        if (problem === null) candidates.push({ att, rule, ruleIndex: ri, match, matchIndex: mi, hostname });
        else notChosen.push(`${routeKey(att.route)} ${match.where} (${describeMatch(match)}): ${problem}`);
      }
    }
  }
  candidates.sort(comparePrecedence);
  const best = candidates[0];
  for (const c of candidates.slice(1)) notChosen.push(`${routeKey(c.att.route)} ${c.match.where} (${describeMatch(c.match)}): matches, but ${whyLost(best!, c)}`);
  if (best === undefined) {
    return { kind: "default", namespace: entry.gateway.namespace, name: entry.gateway.name, rule: "", matched: `${gwText}: no HTTPRoute rule matched`, action: { type: "respond", status: 404, why: "no matching HTTPRoute rule" }, notChosen };
  }
  const route = best.att.route;
  return {
    kind: "HTTPRoute",
    namespace: route.namespace,
    name: route.name,
    rule: best.match.where,
    matched: `${gwText}, ${best.hostname ? `hostname ${best.hostname}, ` : ""}${describeMatch(best.match)}`,
    action: ruleAction(route, best.rule, best.match, req, host, entry, state, grants),
    notChosen,
  };
}

/** The route's own hostname behind an intersected one (precedence uses the route's, GatewayRouteHostnameIntersectionPrecedence). */
function originalHostname(route: HttpRoute, intersected: string): string {
  return route.hostnames.find((h) => h.toLowerCase() === intersected) ?? route.hostnames.find((h) => isWildcard(h) && gatewayHostMatches(h, intersected.replace(/^\*\./, "x."))) ?? intersected;
}

function whyLost(best: Candidate, c: Candidate): string {
  const b = best.match;
  const m = c.match;
  if (PATH_RANK[b.path.type] !== PATH_RANK[m.path.type]) return `${b.path.type} ${b.path.value} ranks above ${m.path.type}`;
  if (b.path.value.length !== m.path.value.length) return `${b.path.value} is a longer path`;
  if ((b.method !== null) !== (m.method !== null)) return "the winner also matches the method";
  if (b.headers.length !== m.headers.length) return `the winner matches more headers (${b.headers.length})`;
  if (b.queryParams.length !== m.queryParams.length) return `the winner matches more query parameters (${b.queryParams.length})`;
  if (best.hostname !== c.hostname) return `the winner's hostname ${best.hostname} is more specific`;
  if (best.att.route !== c.att.route) return `${routeKey(best.att.route)} is older (or first by namespace/name)`;
  return "an earlier rule or match of the same route comes first";
}

function ruleAction(route: HttpRoute, rule: HttpRouteRule, match: HttpRouteMatch, req: RouteRequest, host: string, entry: ListenerEntry, state: ProxyState, grants: readonly ReferenceGrant[]): RouteDecision["action"] {
  let requestHeaders: HeaderModifier | null = null;
  let responseHeaders: HeaderModifier | null = null;
  let rewrite: { hostname: string | null; path: string | null } | null = null;
  for (const f of rule.filters) {
    if (f.type === "Unsupported") return { type: "respond", status: 500, why: `filter ${f.name} is not supported by this controller` };
    if (f.type === "RequestHeaderModifier") requestHeaders = f.modifier;
    else if (f.type === "ResponseHeaderModifier") responseHeaders = f.modifier;
    else if (f.type === "RequestRedirect") {
      const scheme = f.scheme ?? req.scheme;
      const port = f.port ?? (f.scheme !== null ? (scheme === "https" ? 443 : 80) : entry.listener.port);
      const defaultPort = scheme === "https" ? 443 : 80;
      const path = f.path === null ? req.target : replacePath(f.path, match, req.target);
      const location = `${scheme}://${f.hostname ?? host}${port === defaultPort ? "" : `:${port}`}${path}`;
      return { type: "redirect", status: f.statusCode, location };
    } else if (f.type === "URLRewrite") {
      rewrite = { hostname: f.hostname, path: f.path === null ? null : replacePath(f.path, match, req.target) };
    }
  }
  if (rule.backendRefs.length === 0) return { type: "respond", status: 500, why: "the rule has no backendRefs" };
  const backends: WeightedBackend[] = rule.backendRefs.map((ref) => weighted(route, ref, state, grants));
  return { type: "proxy", backends, serviceUpstream: false, requestHeaders, responseHeaders, rewrite };
}

/** ReplaceFullPath, or ReplacePrefixMatch of the matched PathPrefix (the query is kept). */
function replacePath(p: { type: "ReplaceFullPath" | "ReplacePrefixMatch"; value: string }, match: HttpRouteMatch, target: string): string {
  const q = target.search(/[?#]/);
  const query = q < 0 ? "" : target.slice(q);
  const path = requestPath(target);
  if (p.type === "ReplaceFullPath") return `${p.value}${query}`;
  const prefix = match.path.value.replace(/\/+$/, "");
  const rest = path.slice(prefix.length);
  let out = p.value.replace(/\/+$/, "") + rest;
  if (out === "") out = "/";
  if (!out.startsWith("/")) out = `/${out}`;
  return `${out}${query}`;
}

function weighted(route: HttpRoute, ref: HttpBackendRef, state: ProxyState, grants: readonly ReferenceGrant[]): WeightedBackend {
  const empty = { namespace: ref.namespace, service: ref.name, port: 0, clusterIP: null, endpoints: [], problem: null, missing: true };
  if (ref.group !== "" || ref.kind !== "Service") return { backend: empty, weight: ref.weight, invalid: `${ref.where}: ${ref.group || "core"}/${ref.kind} is not a Service (InvalidKind)` };
  if (ref.namespace !== route.namespace && !granted(grants, route, ref)) {
    return { backend: empty, weight: ref.weight, invalid: `${ref.where}: Service ${ref.namespace}/${ref.name} is in another namespace and no ReferenceGrant there allows it (RefNotPermitted)` };
  }
  if (ref.port === null) return { backend: empty, weight: ref.weight, invalid: `${ref.where}: no port for Service ${ref.namespace}/${ref.name}` };
  const backend = resolveBackend(state, ref.namespace, ref.name, { number: ref.port });
  return { backend, weight: ref.weight, invalid: backend.missing ? `${ref.where}: ${backend.problem} (BackendNotFound)` : null };
}

/** A ReferenceGrant in the Service's namespace lets HTTPRoutes of the route's namespace refer to it. */
export function granted(grants: readonly ReferenceGrant[], route: HttpRoute, ref: HttpBackendRef): boolean {
  return grants.some(
    (g) =>
      g.namespace === ref.namespace &&
      g.from.some((f) => f.group === "gateway.networking.k8s.io" && f.kind === "HTTPRoute" && f.namespace === route.namespace) &&
      g.to.some((t) => t.group === "" && t.kind === "Service" && (t.name === null || t.name === ref.name)),
  );
}
