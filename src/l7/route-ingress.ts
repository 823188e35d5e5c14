/**
 * Ingress routing as ingress-nginx builds it (internal/ingress/controller/controller.go
 * createServers / getBackendServers) and the Ingress API documents it:
 *
 * - Ingresses are taken oldest first. Rules are merged into one server per host; a rule
 *   without a host belongs to the catch-all server `_`.
 * - A request picks its server by Host: the exact host first, then a wildcard `*.suffix`
 *   (one DNS label, the longest suffix first), then the catch-all. Once a server is chosen,
 *   no other server's paths apply (nginx's server_name selection).
 * - Within the server, the longest matching path wins; on equal length Exact beats Prefix
 *   (and Prefix beats ImplementationSpecific). The same path and type twice: the older
 *   Ingress keeps it.
 * - No path matches: the server's root, which is the defaultBackend of the (oldest)
 *   Ingress that created the server, else the controller's default backend (404). An
 *   Ingress with a defaultBackend and no rules becomes the catch-all server's root.
 */
import type { ProxyState } from "../kube/index.js";
import { resolveBackend } from "./backends.js";
import type { RouteDecision, RouteRequest } from "./decision.js";
import { ingressHostMatches, isWildcard, requestHost } from "./hostnames.js";
import { byAge, type Ingress, type IngressBackend, type IngressPath, type IngressPathType } from "./objects.js";
import { exactMatches, prefixMatches, requestPath, stringPrefixMatches, trimTrailingSlash } from "./paths.js";

export const CATCH_ALL = "_";

interface Location {
  ingress: Ingress;
  path: IngressPath;
  where: string;
}

interface Root {
  ingress: Ingress;
  backend: IngressBackend;
}

export interface IngressServer {
  /** The host, or `_` for the catch-all. */
  host: string;
  locations: Location[];
  /** The server's `/` fallback; null: the controller's default backend. */
  root: Root | null;
}

export interface IngressTable {
  servers: IngressServer[];
  /** Things the controller left out while building, e.g. a path shadowed by an older Ingress. */
  notes: string[];
}

export function buildIngressTable(ingresses: readonly Ingress[]): IngressTable {
  const sorted = [...ingresses].sort(byAge);
  const servers = new Map<string, IngressServer>();
  const notes: string[] = [];
  servers.set(CATCH_ALL, { host: CATCH_ALL, locations: [], root: null });
  for (const ing of sorted) {
    const key = `${ing.namespace}/${ing.name}`;
    const def = ing.defaultBackend?.service ? ing.defaultBackend : null;
    if (def && ing.rules.length === 0) {
      const catchAll = servers.get(CATCH_ALL)!;
      if (catchAll.root === null) catchAll.root = { ingress: ing, backend: def };
      else notes.push(`Ingress ${key}: defaultBackend not used, the catch-all server already has Ingress ${catchAll.root.ingress.namespace}/${catchAll.root.ingress.name}'s`);
    }
    for (const rule of ing.rules) {
      const host = rule.host === "" ? CATCH_ALL : rule.host.toLowerCase();
      if (!servers.has(host)) servers.set(host, { host, locations: [], root: def ? { ingress: ing, backend: def } : null });
    }
  }
  for (const ing of sorted) {
    const key = `${ing.namespace}/${ing.name}`;
    for (const rule of ing.rules) {
      const server = servers.get(rule.host === "" ? CATCH_ALL : rule.host.toLowerCase())!;
      for (const path of rule.paths ?? []) {
        if (!path.backend.service) {
          notes.push(`Ingress ${key} ${path.where}: a resource backend (${path.backend.resource?.kind}) is not a Service; ingress-nginx skips it`);
          continue;
        }
        const same = server.locations.find((l) => l.path.path === path.path && l.path.pathType === path.pathType);
        if (same) {
          notes.push(`Ingress ${key} ${path.where}: ${path.path} (${path.pathType}) on ${server.host} is already Ingress ${same.ingress.namespace}/${same.ingress.name}'s (the older one keeps it)`);
          continue;
        }
        server.locations.push({ ingress: ing, path, where: path.where });
      }
    }
  }
  return { servers: [...servers.values()], notes };
}

/** The server a Host selects: exact, then the longest matching wildcard, then the catch-all. */
export function selectServer(table: IngressTable, host: string): IngressServer {
  const exact = table.servers.find((s) => s.host !== CATCH_ALL && !isWildcard(s.host) && s.host === host);
  if (exact) return exact;
  let best: IngressServer | null = null;
  for (const s of table.servers) {
    if (isWildcard(s.host) && ingressHostMatches(s.host, host) && (best === null || s.host.length > best.host.length)) best = s;
  }
  return best ?? table.servers.find((s) => s.host === CATCH_ALL)!;
}

/** Whether an Ingress path matches a request path. */
export function ingressPathMatches(type: IngressPathType, path: string, reqPath: string): boolean {
  if (type === "Exact") return exactMatches(path, reqPath);
  if (type === "Prefix") return prefixMatches(path, reqPath);
  return path === "" || stringPrefixMatches(path, reqPath);
}

const TYPE_RANK: Record<IngressPathType, number> = { Exact: 3, Prefix: 2, ImplementationSpecific: 1 };

/** The length a path competes with: a Prefix's trailing slash does not count. */
function matchLength(p: IngressPath): number {
  return p.pathType === "Prefix" ? trimTrailingSlash(p.path).length : p.path.length;
}

/** The better of two matching locations: longer path, then Exact over Prefix. */
function better(a: Location, b: Location): boolean {
  const la = matchLength(a.path);
  const lb = matchLength(b.path);
  if (la !== lb) return la > lb;
  return TYPE_RANK[a.path.pathType] > TYPE_RANK[b.path.pathType];
}

function describe(l: Location): string {
  return `Ingress ${l.ingress.namespace}/${l.ingress.name} ${l.where} ${l.path.path || "(any path)"} (${l.path.pathType})`;
}

/** Routes one request through the Ingress table; backends are resolved against `state` now. */
export function routeIngress(table: IngressTable, req: RouteRequest, state: ProxyState): RouteDecision {
  const host = requestHost(req.host);
  const path = requestPath(req.target);
  const server = selectServer(table, host);
  const notChosen: string[] = [];
  for (const s of table.servers) {
    if (s === server || (s.host === CATCH_ALL && s.locations.length === 0)) continue;
    const why = s.host === CATCH_ALL ? "rules without a host are used only when no host rule matches" : ingressHostMatches(s.host, host) ? `host ${s.host} matches too, but ${server.host} is more specific` : `host ${s.host} is not ${host || "(no Host)"}`;
    for (const l of s.locations) notChosen.push(`${describe(l)}: ${why}`);
  }
  let chosen: Location | null = null;
  for (const l of server.locations) {
    if (!ingressPathMatches(l.path.pathType, l.path.path, path)) continue;
    if (chosen === null || better(l, chosen)) chosen = l;
  }
  for (const l of server.locations) {
    if (l === chosen) continue;
    if (!ingressPathMatches(l.path.pathType, l.path.path, path)) notChosen.push(`${describe(l)}: path does not match ${path}`);
    else notChosen.push(`${describe(l)}: matches, but ${chosen!.path.path} (${chosen!.path.pathType}) ${matchLength(chosen!.path) > matchLength(l.path) ? "is longer" : "is preferred (Exact over Prefix)"}`);
  }
  const hostText = server.host === CATCH_ALL ? "any host" : `host ${server.host}`;
  if (chosen !== null) {
    const svc = chosen.path.backend.service!;
    const backend = resolveBackend(state, chosen.ingress.namespace, svc.name, svc.port);
    return {
      kind: "Ingress",
      namespace: chosen.ingress.namespace,
      name: chosen.ingress.name,
      rule: chosen.where,
      matched: `${hostText}, path ${chosen.path.path || "(any)"} (${chosen.path.pathType})`,
      action: { type: "proxy", backends: [{ backend, weight: 1, invalid: null }], serviceUpstream: chosen.ingress.serviceUpstream, requestHeaders: null, responseHeaders: null, rewrite: null },
      notChosen,
    };
  }
  if (server.root !== null && server.root.backend.service) {
    const ing = server.root.ingress;
    const svc = server.root.backend.service;
    const backend = resolveBackend(state, ing.namespace, svc.name, svc.port);
    return {
      kind: "Ingress",
      namespace: ing.namespace,
      name: ing.name,
      rule: "defaultBackend",
      matched: `${hostText}, no path matched ${path}: the Ingress's defaultBackend`,
      action: { type: "proxy", backends: [{ backend, weight: 1, invalid: null }], serviceUpstream: ing.serviceUpstream, requestHeaders: null, responseHeaders: null, rewrite: null },
      notChosen,
    };
  }
  return {
    kind: "default",
    namespace: null,
    name: null,
    rule: "",
    matched: server.locations.length === 0 && server.host === CATCH_ALL ? `no Ingress rule for ${host || "(no Host)"}` : `${hostText}: no path matched ${path}`,
    action: { type: "respond", status: 404, why: "default backend" },
    notChosen,
  };
}
