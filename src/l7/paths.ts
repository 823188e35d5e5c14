/**
 * Path matching. `Prefix` (Ingress) and `PathPrefix` (Gateway API) match element by
 * element: `/foo` matches `/foo`, `/foo/` and `/foo/bar` but not `/foobar`, and a trailing
 * slash of the prefix is ignored (`/aaa/bbb/` matches `/aaa/bbb`). `Exact` compares the
 * whole path, case-sensitively. Ingress `ImplementationSpecific` is ingress-nginx's: an
 * nginx `location` string prefix, so `/foo` also matches `/foobar`.
 */

/** The path of a request target: everything before `?` or `#`. */
export function requestPath(target: string): string {
  const q = target.search(/[?#]/);
  const p = q < 0 ? target : target.slice(0, q);
  return p === "" ? "/" : p;
}

/** The query string's parameters in order (names and values percent-decoded where valid). */
export function queryParams(target: string): { name: string; value: string }[] {
  const q = target.indexOf("?");
  if (q < 0) return [];
  const end = target.indexOf("#", q);
  const text = target.slice(q + 1, end < 0 ? undefined : end);
  const out: { name: string; value: string }[] = [];
  for (const part of text.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const name = decode(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? "" : decode(part.slice(eq + 1));
    out.push({ name, value });
  }
  return out;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    return s;
  }
}

/** The prefix without its trailing slash ("/" stays "/"). */
export function trimTrailingSlash(prefix: string): string {
  let p = prefix;
  while (p.length > 1 && p.endsWith("/")) p = p.slice(0, -1);
  return p;
}

/** Element-wise prefix match (Ingress Prefix, Gateway API PathPrefix). */
export function prefixMatches(prefix: string, path: string): boolean {
  const p = trimTrailingSlash(prefix);
  if (p === "/") return path.startsWith("/");
  if (!path.startsWith(p)) return false;
  return path.length === p.length || path[p.length] === "/";
}

export function exactMatches(value: string, path: string): boolean {
  return value === path;
}

/** nginx `location PATH` (no modifier): a plain string prefix. */
export function stringPrefixMatches(prefix: string, path: string): boolean {
  return path.startsWith(prefix);
}

/**
 * A regular expression from a route, compiled once; RE2 syntax as Envoy-based gateways use
 * is close enough to JavaScript's for the common cases. Matched against the whole value.
 * Returns null when the expression does not compile (cluster/read-l7.ts refuses those).
 */
export function compileFullMatch(pattern: string): RegExp | null {
  try {
    return new RegExp(`^(?:${pattern})$`);
  } catch {
    return null;
  }
}
