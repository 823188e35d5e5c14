/**
 * Pass 1 and 2 of reading a cluster file: YAML documents (and List items) into located
 * objects, and Nodes and Pods (or Pod templates) into drafts, field by field with type checks.
 */
import { LineCounter, parseAllDocuments, type YAMLError } from "yaml";
import { type NameKind, PodwireError, formatCidr, type InputLocation, type Ipv4Cidr, nameProblem, quoteName } from "../base/index.js";
import { parseCidrText, parseIpText } from "./ipam.js";
import type { ContainerPortSpec, ContainerSpec } from "./spec.js";
import { type DocContext, Field, clip, describeNode } from "./yaml-field.js";

const PROTOCOLS: readonly ContainerPortSpec["protocol"][] = ["TCP", "UDP", "SCTP"];
const BLOCKING_TAINT_EFFECTS = ["NoSchedule", "NoExecute"];
// ---------------------------------------------------------------------------------------------
// Pass 1: documents and List items into objects

/** One Kubernetes object: a document, or one item of a `kind: List` document. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  root: Field;
}

export function readObjects(text: string, file: string): KubeObject[] {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines });
  const contexts = docs.map((doc, i): DocContext => ({ file, index: i + 1, doc, lines }));
  for (const ctx of contexts) {
    const first = ctx.doc.errors[0];
    if (first) throw yamlSyntaxError(ctx, first);
  }
  const objects: KubeObject[] = [];
  for (const ctx of contexts) {
    const root = Field.of(ctx, ctx.doc.contents, "", ctx.doc.range?.[0] ?? 0);
    if (!root.absent) objects.push(...objectsOf(root));
  }
  return objects;
}

function yamlSyntaxError(ctx: DocContext, err: YAMLError): PodwireError {
  const pos = err.linePos?.[0];
  const loc: InputLocation = { file: ctx.file, document: ctx.index };
  if (pos) {
    loc.line = pos.line;
    loc.column = pos.col;
  }
  const message = err.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
  return new PodwireError("E_YAML", `malformed YAML: ${message}`, loc, "fix the YAML syntax at this position");
}

function objectsOf(root: Field): KubeObject[] {
  requireObject(root);
  const apiVersion = root.child("apiVersion").requiredString();
  const kind = root.child("kind").requiredString();
  if (!isListKind(kind, root)) return [{ apiVersion, kind, root }];
  const itemKind = kind === "List" ? undefined : kind.slice(0, -"List".length);
  return root
    .child("items")
    .items()
    .map((item) => listItem(item, itemKind, apiVersion));
}

function isListKind(kind: string, root: Field): boolean {
  return kind === "List" || (kind.endsWith("List") && !root.child("items").absent);
}

/** A List item; items of a typed list (`PodList`) may leave out their kind and apiVersion. */
function listItem(item: Field, impliedKind: string | undefined, listApiVersion: string): KubeObject {
  requireObject(item);
  const kindField = item.child("kind");
  const apiField = item.child("apiVersion");
  const kind = impliedKind !== undefined && kindField.absent ? impliedKind : kindField.requiredString();
  const apiVersion =
    impliedKind !== undefined && apiField.absent ? listApiVersion : apiField.requiredString();
  if (kind === "List" || (kind.endsWith("List") && !item.child("items").absent)) {
    item.fail("E_DOCUMENT", `${item.path} is a List inside a List`, "flatten the nested list into the outer items");
  }
  return { apiVersion, kind, root: item };
}

function requireObject(root: Field): void {
  if (!root.isMap()) {
    root.fail(
      "E_DOCUMENT",
      `${root.describePath()} is ${describeNode(root.node)}, not a Kubernetes object`,
      "each document (or List item) must be a mapping with apiVersion and kind",
    );
  }
}


export function readCidr(field: Field): Ipv4Cidr | undefined {
  if (field.absent) return undefined;
  const text = field.requiredString();
  const parsed = parseCidrText(text);
  if (parsed.ok) return parsed.cidr;
  if (parsed.reason === "syntax") {
    return field.fail(
      "E_CIDR_SYNTAX",
      `${field.path} is not an IPv4 CIDR: ${JSON.stringify(clip(text))}`,
      "write it as address/prefix, e.g. 10.244.0.0/16",
    );
  }
  return field.fail(
    "E_CIDR_HOST_BITS",
    `${field.path} ${text} has host bits set`,
    `use the network address: ${formatCidr(parsed.network)}`,
  );
}

export function readIp(field: Field): number | undefined {
  if (field.absent) return undefined;
  const text = field.requiredString();
  const ip = parseIpText(text);
  if (ip < 0) {
    field.fail(
      "E_IP_SYNTAX",
      `${field.path} is not an IPv4 address: ${JSON.stringify(clip(text))}`,
      "write a dotted-quad address such as 192.168.56.20",
    );
  }
  return ip;
}

export function readIntInRange(field: Field, min: number, max: number): number | undefined {
  const value = field.optInt();
  if (value !== undefined && (value < min || value > max)) {
    field.fail("E_RANGE", `${field.path} ${value} is out of range`, `use a value from ${min} to ${max}`);
  }
  return value;
}

export function readEnum<T extends string>(field: Field, valid: readonly T[]): T | undefined {
  const value = field.optString();
  if (value === undefined) return undefined;
  if (!(valid as readonly string[]).includes(value)) {
    const detail = `${field.path} ${JSON.stringify(clip(value))} is not a known value`;
    field.fail("E_ENUM", detail, `use one of: ${valid.join(", ")}`);
  }
  return value as T;
}

// ---------------------------------------------------------------------------------------------
// Pass 2b: Nodes and Pods, field by field

/** A name field, checked as the API server checks it. */
export function readName(field: Field, kind: NameKind, what: string): string {
  const name = field.requiredString();
  const problem = nameProblem(name, kind);
  if (problem !== null) {
    const rule = kind === "subdomain" ? "a DNS-1123 subdomain" : kind === "dns1035" ? "a DNS-1035 label" : "a DNS-1123 label";
    field.fail("E_NAME", `${what} name ${quoteName(name)} is not ${rule}: ${problem}`, "use a name such as web-1 (the API server would refuse this one)");
  }
  return name;
}

export interface Taint {
  key: string;
  value: string;
  effect: string;
}

export interface Toleration {
  key: string;
  operator: "Exists" | "Equal";
  value: string;
  /** Empty: every effect. */
  effect: string;
}

export interface NodeDraft {
  name: string;
  nameAt: Field;
  root: Field;
  labels: Record<string, string>;
  podCIDR: { cidr: Ipv4Cidr; at: Field } | undefined;
  internalIP: { ip: number; at: Field } | undefined;
  /** IPv6 InternalIPs of a dual-stack node: read, not emulated. */
  ipv6Addresses: number;
  taints: Taint[];
  unschedulable: boolean;
  schedulable: boolean;
}

export function readNode(obj: KubeObject): NodeDraft {
  const metadata = obj.root.child("metadata");
  const nameAt = metadata.child("name");
  const spec = obj.root.child("spec");
  const taints = spec.child("taints").items().map(readTaint);
  const unschedulable = spec.child("unschedulable").optBool() ?? false;
  const addresses = obj.root.child("status").child("addresses");
  return {
    name: readName(nameAt, "subdomain", "Node"),
    nameAt,
    root: obj.root,
    labels: readLabels(metadata.child("labels")),
    podCIDR: readNodePodCIDR(spec),
    internalIP: readInternalIP(addresses),
    ipv6Addresses: addresses.items().filter((a) => (a.child("address").optString() ?? "").includes(":")).length,
    taints,
    unschedulable,
    schedulable: !unschedulable && !taints.some((t) => BLOCKING_TAINT_EFFECTS.includes(t.effect)),
  };
}

function readTaint(field: Field): Taint {
  return { key: field.child("key").optString() ?? "", value: field.child("value").optString() ?? "", effect: field.child("effect").optString() ?? "" };
}

function readToleration(field: Field): Toleration {
  const operator = readEnum(field.child("operator"), ["Exists", "Equal"] as const) ?? "Equal";
  return { key: field.child("key").optString() ?? "", operator, value: field.child("value").optString() ?? "", effect: field.child("effect").optString() ?? "" };
}

/** v1.Toleration.ToleratesTaint: the effect matches (or is empty), the key matches (or Exists with no key), and the value. */
export function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect !== "" && t.effect !== taint.effect) return false;
  if (t.key !== "" && t.key !== taint.key) return false;
  if (t.operator === "Exists") return true;
  return t.key !== "" && t.value === taint.value;
}

/** Can a Pod with these constraints be scheduled on the node (taints, unschedulable, nodeSelector)? */
export function fitsNode(pod: Pick<PodDraft, "tolerations" | "nodeSelector">, node: NodeDraft | { taints: Taint[]; unschedulable: boolean; labels: Record<string, string> }, ignoreUnschedulable = false): boolean {
  if (node.unschedulable && !ignoreUnschedulable) return false;
  for (const [k, v] of Object.entries(pod.nodeSelector)) if (node.labels[k] !== v) return false;
  return node.taints.every((taint) => !BLOCKING_TAINT_EFFECTS.includes(taint.effect) || pod.tolerations.some((t) => tolerates(t, taint)));
}

export function readLabels(field: Field): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [key, value] of field.entries()) labels[key] = value.optString() ?? "";
  return labels;
}

/** `spec.podCIDR`, or the first IPv4 one of `spec.podCIDRs` when only that is given. */
function readNodePodCIDR(spec: Field): NodeDraft["podCIDR"] {
  const single = spec.child("podCIDR");
  const candidates = single.absent ? spec.child("podCIDRs").items() : [single];
  const first = candidates.find((f) => !(f.optString() ?? "").includes(":"));
  if (!first) return undefined;
  const cidr = readCidr(first);
  return cidr ? { cidr, at: first } : undefined;
}

/** The first IPv4 InternalIP in `status.addresses` (IPv6 ones of dual-stack nodes are skipped). */
function readInternalIP(addresses: Field): NodeDraft["internalIP"] {
  for (const entry of addresses.items()) {
    if (entry.child("type").optString() !== "InternalIP") continue;
    const at = entry.child("address");
    if (at.requiredString().includes(":")) continue;
    const ip = readIp(at);
    if (ip !== undefined) return { ip, at };
  }
  return undefined;
}

/** A Pod's `status.phase`; Pods without a status (manifests) are taken as running. */
export const POD_PHASES = ["Pending", "Running", "Succeeded", "Failed", "Unknown"] as const;
export type PodPhase = (typeof POD_PHASES)[number];

export interface OwnerRef {
  kind: string;
  name: string;
}

export interface PodDraft {
  namespace: string;
  name: string;
  nameAt: Field;
  root: Field;
  nodeName: string | undefined;
  nodeAt: Field;
  hostNetwork: boolean;
  podIP: { ip: number; at: Field } | undefined;
  labels: Record<string, string>;
  containers: ContainerSpec[];
  phase: PodPhase;
  nodeSelector: Record<string, string>;
  tolerations: Toleration[];
  /** metadata.ownerReferences (for Pods a workload made: the workload, or its ReplicaSet). */
  owners: OwnerRef[];
  annotations: Record<string, string>;
}

export function readPod(obj: KubeObject): PodDraft {
  const metadata = obj.root.child("metadata");
  const status = obj.root.child("status");
  const podIPAt = status.child("podIP");
  const podIP = podIPAt.absent || (podIPAt.optString() ?? "").includes(":") ? undefined : readIp(podIPAt);
  const draft = readPodParts(metadata, obj.root.child("spec"), obj.root, metadata.child("name"));
  draft.phase = readEnum(status.child("phase"), POD_PHASES) ?? "Running";
  draft.owners = metadata.child("ownerReferences").items().map((o) => ({ kind: o.child("kind").requiredString(), name: o.child("name").requiredString() }));
  if (podIP !== undefined) draft.podIP = { ip: podIP, at: podIPAt };
  return draft;
}

/**
 * A Pod a controller makes from a workload's `spec.template`: errors point into the
 * template; the name is the one the controller would give it.
 */
export function readPodTemplate(template: Field, name: string, namespace: string, nameAt: Field): PodDraft {
  const draft = readPodParts(template.child("metadata"), template.child("spec"), template, nameAt);
  draft.name = name;
  draft.namespace = namespace;
  return draft;
}

function readPodParts(metadata: Field, spec: Field, root: Field, nameAt: Field): PodDraft {
  const nodeAt = spec.child("nodeName");
  return {
    namespace: metadata.child("namespace").absent ? "default" : readName(metadata.child("namespace"), "label", "namespace"),
    name: readName(nameAt, "subdomain", "Pod"),
    nameAt,
    root,
    nodeName: nodeAt.optString() || undefined,
    nodeAt,
    hostNetwork: spec.child("hostNetwork").optBool() ?? false,
    podIP: undefined,
    labels: readLabels(metadata.child("labels")),
    containers: spec.child("containers").items().map(readContainer),
    phase: "Running",
    nodeSelector: readLabels(spec.child("nodeSelector")),
    tolerations: spec.child("tolerations").items().map(readToleration),
    owners: [],
    annotations: readLabels(metadata.child("annotations")),
  };
}

export function readContainer(field: Field): ContainerSpec {
  const container: ContainerSpec = {
    name: readName(field.child("name"), "label", "container"),
    ports: field.child("ports").items().map(readPort),
  };
  const image = field.child("image").optString();
  if (image !== undefined) container.image = image;
  return container;
}

export function readPort(field: Field): ContainerPortSpec {
  const portAt = field.child("containerPort");
  const containerPort = portAt.requiredInt();
  if (containerPort < 1 || containerPort > 65535) {
    portAt.fail("E_PORT", `${portAt.path} ${containerPort} is not a port number`, "use a port from 1 to 65535");
  }
  const port: ContainerPortSpec = {
    containerPort,
    protocol: readEnum(field.child("protocol"), PROTOCOLS) ?? "TCP",
  };
  const name = field.child("name").optString();
  if (name !== undefined) port.name = name;
  return port;
}

