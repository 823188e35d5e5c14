/**
 * One traced exchange for the dashboard and `/api/trace`: the same exchange `podwire trace
 * --json --pcap` runs, on a fresh boot of the cluster as it is configured now (same seed, same
 * objects), so the hops and the capture's bytes equal the command's for the same flow — the
 * live cluster and its background traffic are left alone. The capture is kept in memory.
 */
import { bootCluster } from "../cluster/boot.js";
import { CaptureSession } from "../cluster/capture.js";
import { parseDestination, parseSource } from "../cluster/endpoints.js";
import { resolveTraceTarget, runTrace, traceJsonDocument } from "../cluster/trace-target.js";
import type { ClusterSpec } from "../cluster/spec.js";
import { MemorySink } from "../pcap/index.js";

export const TRACE_PROTOS = ["tcp", "udp", "icmp"] as const;
export type TraceProto = (typeof TRACE_PROTOS)[number];

export interface TraceRequest {
  /** pod/NS/NAME, node/NAME or ext/NAME|IP. */
  from: string;
  /** pod/NS/NAME[:PORT], svc/NS/NAME[:PORT], node/NAME[:PORT] or IP[:PORT]. */
  to: string;
  proto: TraceProto;
  /** The name a DNS trace (port 53) asks for. */
  query?: string;
}

export interface TraceOutcome {
  /** The `trace --json` object (schemaVersion 1), `capture` not yet filled in. */
  json: Record<string, unknown>;
  /** The exchange's frames as a pcapng file. */
  pcapng: Uint8Array;
}

/** Runs the exchange `request` names on a fresh boot of `spec`; bad names are PodwireErrors naming the parameter. */
export function traceFlow(spec: ClusterSpec, request: TraceRequest): TraceOutcome {
  const { cluster, services } = bootCluster(spec);
  const src = parseSource(cluster, request.from, "from");
  const dst = parseDestination(cluster, request.to, "to", services);
  const proto = request.proto;
  const target = resolveTraceTarget(cluster, services, dst, request.to, proto, request.query, {
    field: (arg) => arg,
    show: (_arg, value) => value,
    proto: "a proto",
    queryLead: "a DNS question",
    queryHint: "trace to port 53 over udp or tcp",
  });
  const sink = new MemorySink();
  const { result, path } = runTrace(cluster, src, dst, proto, target, new CaptureSession(sink, cluster.devices, { numberTraceFrames: true }));
  return { json: traceJsonDocument(src.label, dst.label, dst.ip, target.port, proto, result, path, null), pcapng: sink.bytes() };
}
