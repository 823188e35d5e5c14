/**
 * Host matching. The two APIs disagree on wildcards: an Ingress `*.foo.com` covers exactly
 * one DNS label (`bar.foo.com`, not `baz.bar.foo.com`, not `foo.com` — the Ingress docs'
 * hostname wildcard table), while a Gateway API `*.example.com` is a suffix match of one or
 * more labels (`test.example.com` and `foo.test.example.com`, not `example.com` —
 * HTTPRouteSpec.Hostnames). Matching is case-insensitive and ignores a port in the Host header.
 */

/** The Host header's name part, lower case, without a port or a trailing dot. */
export function requestHost(hostHeader: string): string {
  let h = hostHeader.trim().toLowerCase();
  if (h.startsWith("[")) return h; // an IPv6 literal: left as is
  const colon = h.lastIndexOf(":");
  if (colon >= 0 && /^[0-9]*$/.test(h.slice(colon + 1))) h = h.slice(0, colon);
  return h.endsWith(".") ? h.slice(0, -1) : h;
}

export function isWildcard(pattern: string): boolean {
  return pattern.startsWith("*.");
}

/** Ingress rule host against a request host: exact, or `*.` plus exactly one label. */
export function ingressHostMatches(ruleHost: string, host: string): boolean {
  const rule = ruleHost.toLowerCase();
  if (!isWildcard(rule)) return rule === host;
  const suffix = rule.slice(1); // ".foo.com"
  if (!host.endsWith(suffix)) return false;
  const label = host.slice(0, host.length - suffix.length);
  return label.length > 0 && !label.includes(".");
}

/** Gateway API hostname (listener or route) against a request host: exact, or `*.` plus one or more labels. */
export function gatewayHostMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  if (!isWildcard(p)) return p === host;
  const suffix = p.slice(1);
  return host.length > suffix.length && host.endsWith(suffix) && !host.startsWith(".");
}

/**
 * The hostnames a route serves on a listener: each route hostname that intersects the
 * listener's (HTTPRouteSpec.Hostnames), as the narrower of the two. A listener without a
 * hostname takes the route's as they are; a route without hostnames takes the listener's
 * (or every host: `null`). An empty list: no intersection, the route does not attach.
 */
export function intersectHostnames(listener: string | null, route: readonly string[]): string[] | null {
  if (route.length === 0) return listener === null ? null : [listener];
  if (listener === null) return [...route];
  const out: string[] = [];
  for (const r of route) {
    const n = narrower(listener, r);
    if (n !== null && !out.includes(n)) out.push(n);
  }
  return out;
}

/** The intersection of two Gateway API hostnames, as the more specific one; null when they are disjoint. */
export function narrower(a: string, b: string): string | null {
  const la = a.toLowerCase();
  const lb = b.toLowerCase();
  if (la === lb) return la;
  if (!isWildcard(la) && !isWildcard(lb)) return null;
  if (isWildcard(la) && !isWildcard(lb)) return gatewayHostMatches(la, lb) ? lb : null;
  if (!isWildcard(la) && isWildcard(lb)) return gatewayHostMatches(lb, la) ? la : null;
  // Both wildcards: the longer suffix, if it lies within the shorter.
  const [long, short] = la.length >= lb.length ? [la, lb] : [lb, la];
  return long.endsWith(short.slice(1)) ? long : null;
}

/**
 * How specific a hostname is, for choosing among several that match: an exact name beats
 * every wildcard, a longer wildcard a shorter one, and no hostname loses to all. Higher wins.
 */
export function hostSpecificity(pattern: string | null): number {
  if (pattern === null || pattern === "") return 0;
  return isWildcard(pattern) ? 1 + pattern.length : 100_000 + pattern.length;
}
