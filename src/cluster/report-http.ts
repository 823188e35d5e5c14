/**
 * The L7 part of a trace, for people and for programs: where the outside DNS name led, what
 * the controller decided (the rule that matched and why the others did not), the second
 * connection to the backend, the headers it added, and the response.
 */
import { formatIpv4, parseIpv4 } from "../base/index.js";
import { header } from "../l7/http1.js";
import type { ProxyLogEntry } from "../l7/proxy.js";
import type { Cluster } from "./build.js";
import type { HttpExchangeResult } from "./http-exchange.js";
import type { HttpTarget } from "./http-target.js";
import { wrapText } from "./report.js";

/** How many "not chosen" lines a text trace shows before summing up the rest. */
const NOT_CHOSEN_SHOWN = 8;

/** Where the outside DNS name led (nothing for an address in the URL). */
export function formatDnsLine(target: HttpTarget): string[] {
  if (target.via.startsWith("cluster DNS")) return wrapText(`DNS (in the cluster): ${target.host} → ${formatIpv4(target.dst)}, ${target.via.slice("cluster DNS: ".length)}`, "  ", "    ");
  if (target.controller === null) return [];
  return wrapText(`DNS (outside the cluster): ${target.host} → ${formatIpv4(target.dst)}, ${target.via}`, "  ", "    ");
}

export function formatHttpDetails(cluster: Cluster, result: HttpExchangeResult): string[] {
  const lines: string[] = [];
  if (result.tls !== null) lines.push(...wrapText(`TLS: ${result.tls.protocol} ${result.tls.cipher}, SNI ${result.tls.servername ?? "(none)"}, ALPN ${result.tls.alpn ?? "(none)"}`, "  ", "    "));
  for (const [i, e] of result.log.entries()) {
    const n = result.log.length > 1 ? ` #${i + 1}` : "";
    lines.push(...entryLines(cluster, e, n));
  }
  if (result.log.length === 0 && result.responses.length === 0) lines.push("  no controller handled the request");
  return lines;
}

function entryLines(cluster: Cluster, e: ProxyLogEntry, n: string): string[] {
  const lines: string[] = [];
  const d = e.decision;
  const who = d.kind === "default" ? (d.name !== null ? `no route (${d.matched})` : `no route: ${d.matched}`) : `${d.kind} ${d.namespace}/${d.name} ${d.rule} — ${d.matched}`;
  lines.push(...wrapText(`routing${n} at pod/${e.controller}:${e.localPort} (${e.scheme}) of ${e.method} ${e.target} Host ${e.host} from ${formatIpv4(e.clientIp)}:${e.clientPort} → ${who}`, "  ", "    "));
  for (const why of d.notChosen.slice(0, NOT_CHOSEN_SHOWN)) lines.push(...wrapText(`not chosen: ${why}`, "    ", "      "));
  if (d.notChosen.length > NOT_CHOSEN_SHOWN) lines.push(`    … and ${d.notChosen.length - NOT_CHOSEN_SHOWN} more not chosen (--json lists them all)`);
  if (e.upstream !== null) {
    const u = e.upstream;
    const who = cluster.whoHas(parseIpv4(u.ip));
    const to = u.viaClusterIP ? `ClusterIP ${u.ip}:${u.port} (service-upstream: kube-proxy on the controller's node picks the endpoint)` : `endpoint ${u.ip}:${u.port}${who ? ` (${who})` : ""}`;
    lines.push(...wrapText(`second connection from pod/${e.controller} ${formatIpv4(e.localIp)}:${u.localPort} to Service ${u.service} port ${u.servicePort} → ${to}`, "  ", "    "));
    const fwd = ["X-Forwarded-For", "X-Real-IP", "X-Forwarded-Proto", "X-Forwarded-Host"].map((h) => `${h}: ${header(e.upstreamRequestHeaders, h) ?? "-"}`).join(", ");
    lines.push(...wrapText(`forwarded headers: ${fwd}`, "    ", "      "));
  }
  lines.push(...wrapText(`response${n}: ${e.status}${e.detail && e.upstream === null ? ` (${e.detail})` : e.status >= 500 ? ` (${e.detail})` : ""}`, "  ", "    "));
  return lines;
}

/** `trace --json`'s `http` object (schemaVersion 1). */
export function httpJson(cluster: Cluster, result: HttpExchangeResult, target: HttpTarget | null): Record<string, unknown> {
  const e = result.log[result.log.length - 1];
  const last = result.responses[result.responses.length - 1];
  const d = e?.decision;
  const u = e?.upstream ?? null;
  const pod = u === null || u.viaClusterIP ? null : cluster.whoHas(parseIpv4(u.ip));
  return {
    status: last?.status ?? null,
    host: target?.host ?? null,
    path: target?.target ?? null,
    route: d === undefined || d.kind === "default" ? null : { kind: d.kind, namespace: d.namespace, name: d.name, rule: d.rule },
    backend: u === null ? null : { service: u.service, pod: pod?.startsWith("pod/") ? pod.slice(4) : null, ip: u.ip, port: u.port },
    controller: e?.controller ?? null,
    resolvedVia: target?.via ?? null,
    matched: d?.matched ?? null,
    notChosen: d?.notChosen ?? [],
    forwardedHeaders: e === undefined ? null : Object.fromEntries(e.upstreamRequestHeaders.filter(([k]) => /^x-/i.test(k)).map(([k, v]) => [k, v])),
    tls: result.tls,
    responses: result.responses.map((r) => r.status),
  };
}
