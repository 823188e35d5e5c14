/**
 * From documents to the proxier's input: reads every Service and EndpointSlice, allocates
 * missing cluster IPs and node ports, checks conflicts, and derives EndpointSlices from Pods
 * for selector Services that have none. Documents of other kinds are ignored.
 */
import { PodwireError } from "../base/index.js";
import { allocate, type AllocationOptions } from "./allocate.js";
import { deriveEndpointSlices } from "./derive-slices.js";
import type { EndpointSlice, KubeDocument, KubeNode, KubePod, ProxyState, Service } from "./objects.js";
import { readEndpointSlice } from "./read-endpointslice.js";
import { readService, type ServiceDraft } from "./read-service.js";

export interface KubeWarning {
  detail: string;
  location: KubeDocument["location"];
}

export interface KubeModel extends ProxyState {
  /** Sorted by namespace/name. */
  services: Service[];
  /** Given slices in input order, then derived ones. */
  endpointSlices: EndpointSlice[];
  /** Things Kubernetes accepts but that have no effect (e.g. a slice for an unknown Service). */
  warnings: KubeWarning[];
}

export type KubeModelOptions = AllocationOptions;

export function buildKubeModel(docs: readonly KubeDocument[], pods: readonly KubePod[], opts: KubeModelOptions, nodes: readonly KubeNode[] = []): KubeModel {
  const drafts: ServiceDraft[] = [];
  const slices: EndpointSlice[] = [];
  const warnings: KubeWarning[] = [];
  const seenServices = new Map<string, KubeDocument>();
  const seenSlices = new Map<string, KubeDocument>();
  for (const doc of docs) {
    if (doc.kind === "Service") {
      checkApiVersion(doc, "v1");
      const draft = readService(doc);
      const key = `${draft.service.namespace}/${draft.service.name}`;
      duplicate(seenServices, key, doc, "Service");
      drafts.push(draft);
    } else if (doc.kind === "EndpointSlice") {
      checkApiVersion(doc, "discovery.k8s.io/v1");
      const slice = readEndpointSlice(doc);
      duplicate(seenSlices, `${slice.namespace}/${slice.name}`, doc, "EndpointSlice");
      slices.push(slice);
    }
  }
  allocate(drafts, opts);
  const services = drafts.map((d) => d.service).sort(byName);
  const known = new Set(services.map((s) => `${s.namespace}/${s.name}`));
  const covered = new Set<string>();
  for (const slice of slices) {
    if (slice.serviceName === null) {
      warnings.push({ detail: `EndpointSlice ${slice.namespace}/${slice.name} has no kubernetes.io/service-name label, so kube-proxy ignores it`, location: { ...slice.location, field: "metadata.labels" } });
      continue;
    }
    const key = `${slice.namespace}/${slice.serviceName}`;
    covered.add(key);
    if (!known.has(key)) {
      warnings.push({ detail: `EndpointSlice ${slice.namespace}/${slice.name} belongs to Service ${key}, which does not exist; it has no effect`, location: { ...slice.location, field: "metadata.labels.kubernetes.io/service-name" } });
    }
    for (const [i, p] of slice.ports.entries()) {
      if (p.name === null) warnings.push({ detail: `port ${i} of EndpointSlice ${slice.namespace}/${slice.name} has no name, so kube-proxy ignores it (write name: "" for an unnamed Service port)`, location: { ...slice.location, field: `ports[${i}].name` } });
    }
  }
  const derived: EndpointSlice[] = [];
  for (const s of services) {
    if (s.selector && s.type !== "ExternalName" && !covered.has(`${s.namespace}/${s.name}`)) {
      derived.push(...deriveEndpointSlices(s, pods, nodes));
    }
  }
  return { services, endpointSlices: [...slices, ...derived], warnings };
}

function byName(a: Service, b: Service): number {
  const ka = `${a.namespace}/${a.name}`;
  const kb = `${b.namespace}/${b.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function checkApiVersion(doc: KubeDocument, expected: string): void {
  if (doc.apiVersion !== expected) {
    throw new PodwireError("E_KUBE_API_VERSION", `${doc.kind} has apiVersion ${JSON.stringify(doc.apiVersion)}; podwire reads ${expected}`, { ...doc.location, field: "apiVersion" }, `use apiVersion: ${expected}`);
  }
}

function duplicate(seen: Map<string, KubeDocument>, key: string, doc: KubeDocument, kind: string): void {
  const first = seen.get(key);
  if (first) {
    const at = first.location.line !== undefined ? `line ${first.location.line}` : `document ${first.location.document ?? "?"}`;
    throw new PodwireError("E_KUBE_DUPLICATE", `${kind} ${key} is defined twice (first at ${at})`, { ...doc.location, field: "metadata.name" }, "remove or rename one of them");
  }
  seen.set(key, doc);
}
