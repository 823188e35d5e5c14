/**
 * `podwire trace --to http://HOST[:PORT]/PATH` (and https://): an HTTP request from the
 * source to an L7 controller, as a browser outside the cluster would send it, followed hop
 * by hop through kube-proxy's rules to a controller Pod, the routing decision there, the
 * controller's second connection to a backend Pod, and the response back.
 */
import { PodwireError, checkOutputFile, formatIpv4 } from "../base/index.js";
import { bootCluster } from "../cluster/boot.js";
import { CaptureSession } from "../cluster/capture.js";
import { parseSource } from "../cluster/endpoints.js";
import { runHttpExchangeAsync } from "../cluster/http-exchange.js";
import { resolveHttpTarget } from "../cluster/http-target.js";
import { TRACE_JSON_SCHEMA_VERSION, formatTrace, traceHopJson, wrapText } from "../cluster/report.js";
import { formatDnsLine, formatHttpDetails, httpJson } from "../cluster/report-http.js";
import { servicePath } from "../cluster/service-path.js";
import type { ClusterSpec } from "../cluster/spec.js";

export interface HttpTraceOptions {
  from: string;
  to: string;
  json?: boolean;
  verbose?: boolean;
  pcap?: string;
  keylog?: string;
  insecure?: boolean;
  method?: string;
  /** `Name: value` headers to add. */
  header?: string[];
  /** Requests to send on the one connection (keep-alive). */
  repeat?: string;
}

export interface HttpTraceOutput {
  text: string;
  ok: boolean;
}

export async function traceHttp(spec: ClusterSpec, opts: HttpTraceOptions): Promise<HttpTraceOutput> {
  const method = (opts.method ?? "GET").toUpperCase();
  if (!/^[A-Z]+$/.test(method)) throw new PodwireError("E_ARG", `--method ${JSON.stringify(opts.method)} is not an HTTP method`, { field: "--method" }, "e.g. --method POST");
  const headers = (opts.header ?? []).map((h): [string, string] => {
    const colon = h.indexOf(":");
    if (colon <= 0 || !/^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/.test(h.slice(0, colon))) throw new PodwireError("E_ARG", `--header ${JSON.stringify(h)} is not NAME: VALUE`, { field: "--header" }, "e.g. --header 'x-canary: true'");
    return [h.slice(0, colon), h.slice(colon + 1).trim()];
  });
  const repeat = opts.repeat === undefined ? 1 : Number(opts.repeat);
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 100) throw new PodwireError("E_ARG", `--repeat ${JSON.stringify(opts.repeat)} is not a whole number from 1 to 100`, { field: "--repeat" }, "e.g. --repeat 3 (three requests on one keep-alive connection)");
  if (opts.pcap !== undefined) checkOutputFile(opts.pcap, "--pcap");
  if (opts.keylog !== undefined) checkOutputFile(opts.keylog, "--keylog");
  const running = bootCluster(spec);
  const { cluster, l7 } = running;
  const src = parseSource(cluster, opts.from);
  const target = resolveHttpTarget(l7, opts.to);
  const capture = opts.pcap !== undefined ? CaptureSession.toFile(opts.pcap, cluster.devices, { numberTraceFrames: true }) : null;
  let result;
  try {
    result = await runHttpExchangeAsync(cluster, l7, {
      title: `${target.scheme} ${src.label} → ${opts.to}`,
      from: src.ns,
      fromLabel: src.label,
      dst: target.dst,
      dstPort: target.dstPort,
      to: `${opts.to} (${cluster.describe(target.dst)}:${target.dstPort})`,
      scheme: target.scheme,
      host: target.hostHeader,
      requests: Array.from({ length: repeat }, () => ({ method, target: target.target, headers })),
      ...(target.controller !== null ? { ca: target.controller.certificates.book.certificates() } : {}),
      insecure: opts.insecure ?? false,
    });
  } catch (err) {
    capture?.abort();
    throw err;
  }
  capture?.close();
  if (opts.keylog !== undefined) l7.keyLog.write(opts.keylog, "--keylog");
  const srcIp = src.ns.selectSource(src.ns.routeOutput(target.dst) ?? src.ns.loRouteFor());
  const path = servicePath(cluster, result, srcIp, target.dst, target.dstPort, "tcp");
  if (opts.json) {
    const json = {
      schemaVersion: TRACE_JSON_SCHEMA_VERSION,
      from: src.label,
      to: opts.to,
      destination: `${formatIpv4(target.dst)}:${target.dstPort}`,
      proto: "tcp",
      ok: result.ok,
      outcome: result.outcome,
      answer: null,
      node: path.node,
      verdict: path.verdict,
      endpoint: path.endpoint,
      candidates: path.candidates,
      masquerade: path.masquerade,
      http: httpJson(cluster, result, target),
      hops: result.events.map((e) => traceHopJson(e, result.startNs)),
      capture: opts.pcap ?? null,
      keylog: opts.keylog ?? null,
    };
    return { text: `${JSON.stringify(json, null, 2)}\n`, ok: result.ok };
  }
  const lines = formatTrace(result, { style: opts.verbose ? "verbose" : "summary" });
  lines.splice(1, 0, ...formatDnsLine(target));
  if (path.node !== null && path.verdict !== null) {
    lines.push(...wrapText(`kube-proxy rules on ${path.node}: ${path.verdict}${path.endpoint ? `, DNAT to ${path.endpoint}` : ""}${path.masquerade ? ", masqueraded" : ""}`, "  ", "    "));
  }
  lines.push(...formatHttpDetails(cluster, result));
  if (opts.pcap) lines.push(...wrapText(`capture: ${opts.pcap}${target.scheme === "https" ? (opts.keylog ? ` (decrypt with the key log: tshark -o tls.keylog_file:${opts.keylog})` : " (TLS records: add --keylog FILE to decrypt them in Wireshark)") : ""}`, "", "  "));
  else if (opts.keylog) lines.push(...wrapText(`key log: ${opts.keylog}`, "", "  "));
  return { text: `${lines.join("\n")}\n`, ok: result.ok };
}
