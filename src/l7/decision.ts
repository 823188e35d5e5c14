/**
 * What a controller decided for one request: which route rule matched (and why the others
 * did not), and what to do — proxy to weighted backends, redirect, or answer itself.
 */
import type { ResolvedBackend } from "./backends.js";
import type { HeaderModifier } from "./objects.js";

/** The request as routing sees it. */
export interface RouteRequest {
  /** The Host header as sent (a port in it is ignored for matching). */
  host: string;
  /** The request target: path and query. */
  target: string;
  method: string;
  /** Header names in any case. */
  headers: [string, string][];
  /** The controller Pod's port the connection arrived on. */
  port: number;
  scheme: "http" | "https";
}

export interface WeightedBackend {
  backend: ResolvedBackend;
  weight: number;
  /** Why the reference is invalid (Gateway API: the request gets 500); null when valid. */
  invalid: string | null;
}

export type RouteAction =
  | { type: "proxy"; backends: WeightedBackend[]; serviceUpstream: boolean; requestHeaders: HeaderModifier | null; responseHeaders: HeaderModifier | null; rewrite: { hostname: string | null; path: string | null } | null }
  | { type: "respond"; status: number; why: string }
  | { type: "redirect"; status: number; location: string };

export interface RouteDecision {
  /** Who decided: an Ingress rule, an HTTPRoute rule, or the controller's default server. */
  kind: "Ingress" | "HTTPRoute" | "default";
  namespace: string | null;
  name: string | null;
  /** The matching rule, e.g. `rules[0].http.paths[1]` or `rules[2].matches[0]`; "" for the default. */
  rule: string;
  /** One line: what matched, e.g. `host shop.example.com, path /cart (Prefix)`. */
  matched: string;
  action: RouteAction;
  /** One line per other candidate: why it was not chosen. */
  notChosen: string[];
}
