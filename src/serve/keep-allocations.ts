/**
 * A Service keeps its ClusterIP and node ports across edits of the file, as in a cluster: the
 * API server writes the addresses and ports it allocated into the stored object, and a later
 * `kubectl apply` that does not name them leaves them as they are. podwire allocates them
 * afresh from each reading of the file (the lowest free ones, in namespace/name order: see
 * kube/allocate.ts), so a Service added in front of others would move their addresses; this
 * writes the running cluster's allocations into the re-read Service documents first. What the
 * file sets itself wins.
 */
import type { RawDocument } from "../cluster/spec.js";
import type { Service } from "../kube/index.js";

type Json = Record<string, unknown>;

const asObject = (v: unknown): Json | null => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Json) : null);

/** `docs` with each Service that is running given the ClusterIP and node ports it runs with, unless it sets its own. */
export function keepAllocations(docs: readonly RawDocument[], running: readonly Service[]): RawDocument[] {
  const byKey = new Map(running.map((s) => [`${s.namespace}/${s.name}`, s]));
  return docs.map((doc) => {
    if (doc.kind !== "Service") return doc;
    const meta = asObject(doc.body.metadata);
    const spec = asObject(doc.body.spec);
    if (meta === null || spec === null || typeof meta.name !== "string") return doc;
    const live = byKey.get(`${typeof meta.namespace === "string" ? meta.namespace : "default"}/${meta.name}`);
    if (live === undefined) return doc;
    const type = typeof spec.type === "string" ? spec.type : "ClusterIP";
    const next: Json = { ...spec };
    if ((spec.clusterIP === undefined || spec.clusterIP === "") && live.clusterIP !== null && !live.headless && type !== "ExternalName") next.clusterIP = live.clusterIP;
    if ((type === "NodePort" || type === "LoadBalancer") && Array.isArray(spec.ports)) {
      next.ports = spec.ports.map((p) => {
        const port = asObject(p);
        if (port === null || port.nodePort !== undefined) return p;
        const protocol = typeof port.protocol === "string" ? port.protocol : "TCP";
        const was = live.ports.find((q) => q.port === port.port && q.protocol === protocol && q.nodePort > 0);
        return was === undefined ? p : { ...port, nodePort: was.nodePort };
      });
    }
    return { ...doc, body: { ...doc.body, spec: next } };
  });
}
