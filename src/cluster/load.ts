/**
 * Cluster files: multi-document Kubernetes YAML (one podwire Cluster document, real v1 Nodes
 * and Pods as `kubectl get -o yaml` prints them, anything else kept for later layers) turned
 * into a validated, fully allocated `ClusterSpec`.
 *
 * Work happens in three passes: read the YAML into a flat list of objects (List items count
 * as objects), read each object's fields with type checks, then validate and allocate
 * addresses across objects. Every problem with the input is a `PodwireError` that points at
 * the file, line, document and field at fault.
 */
import { readFileSync } from "node:fs";
import {
  LineCounter,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  parseAllDocuments,
  type Document,
  type Scalar,
  type YAMLError,
  type YAMLMap,
  type YAMLSeq,
} from "yaml";
import {
  PodwireError,
  cidrContains,
  formatCidr,
  formatIpv4,
  type InputLocation,
  type Ipv4Cidr,
} from "../base/index.js";
import { DEFAULT_CLUSTER_SOURCE, DEFAULT_CLUSTER_YAML } from "./default-cluster.js";
import {
  SequentialPool,
  broadcastOf,
  cidrWithin,
  cidrsOverlap,
  nthSubnet,
  parseCidrText,
  parseIpText,
  subnetIndex,
} from "./ipam.js";
import type {
  ClusterSpec,
  ContainerPortSpec,
  ContainerSpec,
  ExternalHostSpec,
  NodeSpec,
  OverlayMode,
  PodSpec,
  ProxyMode,
  RawDocument,
} from "./spec.js";

export const CLUSTER_API_VERSION = "podwire.dev/v1alpha1";
const CLUSTER_API_GROUP = "podwire.dev/";

const OVERLAY_MODES: readonly OverlayMode[] = ["vxlan", "host-gw"];
const PROXY_MODES: readonly ProxyMode[] = ["iptables", "ipvs", "nftables"];
const PROTOCOLS: readonly ContainerPortSpec["protocol"][] = ["TCP", "UDP", "SCTP"];
const CONTROL_PLANE_LABELS = ["node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"];
const BLOCKING_TAINT_EFFECTS = ["NoSchedule", "NoExecute"];

/** Offset of the first automatically assigned node address within the node network (x.x.x.10). */
const FIRST_AUTO_NODE_HOST = 10;

// ---------------------------------------------------------------------------------------------
// Public API

/** Parses and validates a cluster file's text; `file` is only used in error locations. */
export function parseClusterYaml(text: string, file: string): ClusterSpec {
  const objects = readObjects(text, file);
  const { clusterDoc, nodeDocs, podDocs, others } = sortObjects(objects);
  const config = readClusterConfig(clusterDoc);
  const nodes = resolveNodes(config, nodeDocs.map(readNode));
  const pods = resolvePods(nodes, podDocs.map(readPod));
  return {
    name: config.name,
    source: file,
    clusterCIDR: config.clusterCIDR,
    nodeCIDRMaskSize: config.nodeCIDRMaskSize,
    serviceCIDR: config.serviceCIDR,
    nodeNetwork: config.nodeNetwork,
    nodeMTU: config.nodeMTU,
    overlay: config.overlay,
    proxyMode: config.proxyMode,
    seed: config.seed,
    nodes,
    pods,
    externalHosts: config.externalHosts.map(({ name, ip }) => ({ name, ip })),
    otherDocuments: others.map(toRawDocument),
  };
}

/** Reads a cluster file from disk and parses it. */
export function loadClusterFile(path: string): ClusterSpec {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new PodwireError(
      "E_FILE",
      `cannot read cluster file ${path} (${reason})`,
      { file: path },
      "check that the path exists and is a readable file",
    );
  }
  return parseClusterYaml(text, path);
}

/** The embedded demo cluster (three nodes, four Pods). */
export function defaultCluster(): ClusterSpec {
  return parseClusterYaml(DEFAULT_CLUSTER_YAML, DEFAULT_CLUSTER_SOURCE);
}

// ---------------------------------------------------------------------------------------------
// A typed, located view of a YAML node

interface DocContext {
  readonly file: string;
  /** 1-based position of the document in the stream. */
  readonly index: number;
  readonly doc: Document;
  readonly lines: LineCounter;
}

/** A YAML node with aliases already followed. */
type YamlValue = Scalar | YAMLMap | YAMLSeq;

/**
 * One field of the input: its YAML node (null when absent), its dotted path and a source
 * offset for error messages. Accessors check types and throw located PodwireErrors.
 */
class Field {
  private constructor(
    private readonly ctx: DocContext,
    readonly node: YamlValue | null,
    readonly path: string,
    private readonly offset: number,
  ) {}

  /** Wraps a raw node, following aliases; `fallbackOffset` is used when it has no position. */
  static of(ctx: DocContext, raw: unknown, path: string, fallbackOffset: number): Field {
    const node = resolveNode(ctx, raw);
    const hasValue = node !== null && !(isScalar(node) && node.value === null);
    const offset = hasValue ? (node.range?.[0] ?? fallbackOffset) : fallbackOffset;
    return new Field(ctx, node, path, offset);
  }

  /** True when the field is missing or written as YAML null. */
  get absent(): boolean {
    return this.node === null || (isScalar(this.node) && this.node.value === null);
  }

  location(): InputLocation {
    const { line, col } = this.ctx.lines.linePos(this.offset);
    const loc: InputLocation = { file: this.ctx.file, line, column: col, document: this.ctx.index };
    if (this.path) loc.field = this.path;
    return loc;
  }

  fail(code: string, detail: string, hint: string): never {
    throw new PodwireError(code, detail, this.location(), hint);
  }

  child(key: string): Field {
    const path = joinPath(this.path, key);
    if (this.absent) return new Field(this.ctx, null, path, this.offset);
    for (const pair of this.mapNode().items) {
      if (isScalar(pair.key) && pair.key.value === key) {
        return Field.of(this.ctx, pair.value, path, pair.key.range?.[0] ?? this.offset);
      }
    }
    return new Field(this.ctx, null, path, this.offset);
  }

  /** Key/value pairs of a mapping (empty when absent); keys must be scalars. */
  entries(): Array<[string, Field]> {
    if (this.absent) return [];
    return this.mapNode().items.map((pair) => {
      const key = resolveNode(this.ctx, pair.key);
      const keyOffset = key?.range?.[0] ?? this.offset;
      if (!isScalar(key) || key.value === null || typeof key.value === "object") {
        const at = new Field(this.ctx, key, this.path, keyOffset);
        return at.fail("E_TYPE", `${this.describePath()} has a key that is not a plain value`, "use string keys");
      }
      const name = String(key.value);
      return [name, Field.of(this.ctx, pair.value, joinPath(this.path, name), keyOffset)];
    });
  }

  /** Elements of a list (empty when absent). */
  items(): Field[] {
    if (this.absent) return [];
    if (!isSeq(this.node)) this.typeError("a list");
    return this.node.items.map((item, i) => Field.of(this.ctx, item, `${this.path}[${i}]`, this.offset));
  }

  isMap(): boolean {
    return isMap(this.node);
  }

  optString(): string | undefined {
    if (this.absent) return undefined;
    const value = this.scalarValue();
    if (typeof value !== "string") this.typeError("a string");
    return value;
  }

  requiredString(): string {
    const value = this.optString();
    if (value === undefined || value === "") this.missing();
    return value;
  }

  optInt(): number | undefined {
    if (this.absent) return undefined;
    const value = this.scalarValue();
    if (typeof value !== "number" || !Number.isInteger(value)) this.typeError("an integer");
    return value;
  }

  requiredInt(): number {
    const value = this.optInt();
    if (value === undefined) this.missing();
    return value;
  }

  optBool(): boolean | undefined {
    if (this.absent) return undefined;
    const value = this.scalarValue();
    if (typeof value !== "boolean") this.typeError("true or false");
    return value;
  }

  /** The field's value as plain data (for documents kept untouched). */
  toJS(): unknown {
    if (this.node === null) return null;
    try {
      return this.node.toJS(this.ctx.doc, { maxAliasCount: 100 });
    } catch (err) {
      const detail = `cannot convert the document to data: ${errorText(err)}`;
      return this.fail("E_YAML", detail, "simplify the YAML aliases");
    }
  }

  missing(): never {
    const name = this.path || "value";
    return this.fail("E_MISSING_FIELD", `${name} is required`, `add ${name}`);
  }

  typeError(expected: string): never {
    const found = describeNode(this.node);
    const detail = `${this.describePath()} must be ${expected}, found ${found}`;
    return this.fail("E_TYPE", detail, typeHint(expected, this.node));
  }

  describePath(): string {
    return this.path || "the document";
  }

  private mapNode(): YAMLMap {
    if (!isMap(this.node)) this.typeError("a mapping");
    return this.node;
  }

  private scalarValue(): unknown {
    if (!isScalar(this.node)) return this.typeError("a plain value");
    return this.node.value;
  }
}

function resolveNode(ctx: DocContext, raw: unknown): YamlValue | null {
  if (isAlias(raw)) return raw.resolve(ctx.doc) ?? null;
  if (isScalar(raw) || isMap(raw) || isSeq(raw)) return raw;
  return null;
}

/** Appends a key to a dotted path, bracket-quoting keys that would read ambiguously. */
function joinPath(base: string, key: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) return base ? `${base}.${key}` : key;
  return `${base}[${JSON.stringify(key)}]`;
}

function describeNode(node: YamlValue | null): string {
  if (node === null) return "nothing";
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  const value: unknown = node.value;
  if (value === null) return "null";
  if (typeof value === "string") return `the string ${JSON.stringify(clip(value))}`;
  if (typeof value === "number" || typeof value === "bigint") return `the number ${String(value)}`;
  if (typeof value === "boolean") return `${value}`;
  return "a value of another type";
}

function typeHint(expected: string, node: YamlValue | null): string {
  const value: unknown = isScalar(node) ? node.value : undefined;
  if (expected === "an integer" && typeof value === "string") return "write the number without quotes";
  if (expected === "a string" && (typeof value === "number" || typeof value === "boolean")) {
    return `quote the value: "${String(value)}"`;
  }
  if (expected === "true or false" && typeof value === "string") return "write true or false without quotes";
  return `write ${expected} here`;
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------------------------
// Pass 1: documents and List items into objects

/** One Kubernetes object: a document, or one item of a `kind: List` document. */
interface KubeObject {
  apiVersion: string;
  kind: string;
  root: Field;
}

function readObjects(text: string, file: string): KubeObject[] {
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

interface SortedObjects {
  clusterDoc: KubeObject | undefined;
  nodeDocs: KubeObject[];
  podDocs: KubeObject[];
  others: KubeObject[];
}

function sortObjects(objects: KubeObject[]): SortedObjects {
  const sorted: SortedObjects = { clusterDoc: undefined, nodeDocs: [], podDocs: [], others: [] };
  for (const obj of objects) {
    if (obj.kind === "Cluster" && obj.apiVersion.startsWith(CLUSTER_API_GROUP)) {
      requireApiVersion(obj, CLUSTER_API_VERSION);
      if (sorted.clusterDoc) duplicateCluster(obj, sorted.clusterDoc);
      sorted.clusterDoc = obj;
    } else if (obj.kind === "Node") {
      requireApiVersion(obj, "v1");
      sorted.nodeDocs.push(obj);
    } else if (obj.kind === "Pod") {
      requireApiVersion(obj, "v1");
      sorted.podDocs.push(obj);
    } else {
      sorted.others.push(obj);
    }
  }
  return sorted;
}

function requireApiVersion(obj: KubeObject, expected: string): void {
  if (obj.apiVersion === expected) return;
  obj.root
    .child("apiVersion")
    .fail(
      "E_API_VERSION",
      `${obj.kind} with apiVersion ${obj.apiVersion} is not supported`,
      `use apiVersion: ${expected}`,
    );
}

function duplicateCluster(obj: KubeObject, first: KubeObject): never {
  const firstAt = first.root.location();
  return obj.root
    .child("kind")
    .fail(
      "E_DUPLICATE_CLUSTER",
      `a second Cluster document (the first is document ${firstAt.document}, line ${firstAt.line})`,
      "keep exactly one Cluster document per file",
    );
}

function toRawDocument(obj: KubeObject): RawDocument {
  const body = obj.root.toJS();
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    body: body as Record<string, unknown>,
    location: obj.root.location(),
  };
}

// ---------------------------------------------------------------------------------------------
// Pass 2a: the Cluster document

const CLUSTER_SPEC_FIELDS = [
  "clusterCIDR",
  "nodeCIDRMaskSize",
  "serviceCIDR",
  "nodeNetwork",
  "nodeMTU",
  "overlay",
  "proxyMode",
  "seed",
  "externalHosts",
] as const;
type ClusterSetting = (typeof CLUSTER_SPEC_FIELDS)[number];

interface ExternalHostDraft extends ExternalHostSpec {
  nameAt: Field;
  ipAt: Field;
}

interface ClusterConfig {
  name: string;
  clusterCIDR: Ipv4Cidr;
  nodeCIDRMaskSize: number;
  serviceCIDR: Ipv4Cidr;
  nodeNetwork: Ipv4Cidr;
  nodeMTU: number;
  overlay: OverlayMode;
  proxyMode: ProxyMode;
  seed: number;
  externalHosts: ExternalHostDraft[];
}

const DEFAULT_NAME = "podwire";

function readClusterConfig(obj: KubeObject | undefined): ClusterConfig {
  if (!obj) return defaultConfig();
  const name = obj.root.child("metadata").child("name").requiredString();
  const spec = obj.root.child("spec");
  rejectUnknownFields(spec, CLUSTER_SPEC_FIELDS);
  const setting = (key: ClusterSetting): Field => spec.child(key);
  const config: ClusterConfig = {
    name,
    clusterCIDR: readCidr(setting("clusterCIDR")) ?? defaultCidr("10.244.0.0/16"),
    nodeCIDRMaskSize: setting("nodeCIDRMaskSize").optInt() ?? 24,
    serviceCIDR: readCidr(setting("serviceCIDR")) ?? defaultCidr("10.96.0.0/12"),
    nodeNetwork: readCidr(setting("nodeNetwork")) ?? defaultCidr("192.168.56.0/24"),
    nodeMTU: readIntInRange(setting("nodeMTU"), 576, 9000) ?? 1500,
    overlay: readEnum(setting("overlay"), OVERLAY_MODES) ?? "vxlan",
    proxyMode: readEnum(setting("proxyMode"), PROXY_MODES) ?? "iptables",
    seed: readIntInRange(setting("seed"), 0, 2 ** 32 - 1) ?? 1,
    externalHosts: setting("externalHosts").items().map(readExternalHost),
  };
  checkNetworksDisjoint(config, setting);
  checkNodeMaskSize(config, setting);
  return config;
}

function defaultConfig(): ClusterConfig {
  return {
    name: DEFAULT_NAME,
    clusterCIDR: defaultCidr("10.244.0.0/16"),
    nodeCIDRMaskSize: 24,
    serviceCIDR: defaultCidr("10.96.0.0/12"),
    nodeNetwork: defaultCidr("192.168.56.0/24"),
    nodeMTU: 1500,
    overlay: "vxlan",
    proxyMode: "iptables",
    seed: 1,
    externalHosts: [],
  };
}

function defaultCidr(text: string): Ipv4Cidr {
  const parsed = parseCidrText(text);
  if (!parsed.ok) throw new Error(`internal: bad default CIDR ${text}`);
  return parsed.cidr;
}

function rejectUnknownFields(spec: Field, known: readonly string[]): void {
  for (const [key, value] of spec.entries()) {
    if (!known.includes(key)) {
      value.fail("E_UNKNOWN_FIELD", `unknown Cluster field ${value.path}`, `known fields: ${known.join(", ")}`);
    }
  }
}

function readCidr(field: Field): Ipv4Cidr | undefined {
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

function readIp(field: Field): number | undefined {
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

function readIntInRange(field: Field, min: number, max: number): number | undefined {
  const value = field.optInt();
  if (value !== undefined && (value < min || value > max)) {
    field.fail("E_RANGE", `${field.path} ${value} is out of range`, `use a value from ${min} to ${max}`);
  }
  return value;
}

function readEnum<T extends string>(field: Field, valid: readonly T[]): T | undefined {
  const value = field.optString();
  if (value === undefined) return undefined;
  if (!(valid as readonly string[]).includes(value)) {
    const detail = `${field.path} ${JSON.stringify(clip(value))} is not a known value`;
    field.fail("E_ENUM", detail, `use one of: ${valid.join(", ")}`);
  }
  return value as T;
}

function readExternalHost(field: Field): ExternalHostDraft {
  const nameAt = field.child("name");
  const ipAt = field.child("ip");
  const name = nameAt.requiredString();
  const ip = readIp(ipAt) ?? ipAt.missing();
  return { name, ip, nameAt, ipAt };
}

/** The pod, service and node networks must not share any address. */
function checkNetworksDisjoint(config: ClusterConfig, setting: (key: ClusterSetting) => Field): void {
  const networks = ["clusterCIDR", "serviceCIDR", "nodeNetwork"] as const;
  for (let i = 0; i < networks.length; i++) {
    for (let j = i + 1; j < networks.length; j++) {
      const a = networks[i]!;
      const b = networks[j]!;
      if (!cidrsOverlap(config[a], config[b])) continue;
      const at = setting(b).absent ? setting(a) : setting(b);
      at.fail(
        "E_CIDR_OVERLAP",
        `${b} ${formatCidr(config[b])} overlaps ${a} ${formatCidr(config[a])}`,
        "the pod network (clusterCIDR), serviceCIDR and nodeNetwork must not overlap; move one of them",
      );
    }
  }
}

function checkNodeMaskSize(config: ClusterConfig, setting: (key: ClusterSetting) => Field): void {
  const size = config.nodeCIDRMaskSize;
  if (size >= config.clusterCIDR.prefixLen && size <= 30) return;
  const at = setting("nodeCIDRMaskSize").absent ? setting("clusterCIDR") : setting("nodeCIDRMaskSize");
  at.fail(
    "E_NODE_CIDR_MASK",
    `nodeCIDRMaskSize ${size} does not fit clusterCIDR ${formatCidr(config.clusterCIDR)}`,
    `use a nodeCIDRMaskSize from ${config.clusterCIDR.prefixLen} to 30`,
  );
}

// ---------------------------------------------------------------------------------------------
// Pass 2b: Nodes and Pods, field by field

interface NodeDraft {
  name: string;
  nameAt: Field;
  root: Field;
  labels: Record<string, string>;
  podCIDR: { cidr: Ipv4Cidr; at: Field } | undefined;
  internalIP: { ip: number; at: Field } | undefined;
  schedulable: boolean;
}

function readNode(obj: KubeObject): NodeDraft {
  const metadata = obj.root.child("metadata");
  const nameAt = metadata.child("name");
  const spec = obj.root.child("spec");
  return {
    name: nameAt.requiredString(),
    nameAt,
    root: obj.root,
    labels: readLabels(metadata.child("labels")),
    podCIDR: readNodePodCIDR(spec),
    internalIP: readInternalIP(obj.root.child("status").child("addresses")),
    schedulable: isSchedulable(spec),
  };
}

function readLabels(field: Field): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [key, value] of field.entries()) labels[key] = value.optString() ?? "";
  return labels;
}

/** `spec.podCIDR`, or the first of `spec.podCIDRs` when only that is given. */
function readNodePodCIDR(spec: Field): NodeDraft["podCIDR"] {
  const single = spec.child("podCIDR");
  const first = single.absent ? spec.child("podCIDRs").items()[0] : single;
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

function isSchedulable(spec: Field): boolean {
  if (spec.child("unschedulable").optBool()) return false;
  const effects = spec.child("taints").items().map((taint) => taint.child("effect").optString());
  return !effects.some((effect) => effect !== undefined && BLOCKING_TAINT_EFFECTS.includes(effect));
}

interface PodDraft {
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
}

function readPod(obj: KubeObject): PodDraft {
  const metadata = obj.root.child("metadata");
  const nameAt = metadata.child("name");
  const spec = obj.root.child("spec");
  const nodeAt = spec.child("nodeName");
  const podIPAt = obj.root.child("status").child("podIP");
  const podIP = readIp(podIPAt);
  return {
    namespace: metadata.child("namespace").optString() || "default",
    name: nameAt.requiredString(),
    nameAt,
    root: obj.root,
    nodeName: nodeAt.optString() || undefined,
    nodeAt,
    hostNetwork: spec.child("hostNetwork").optBool() ?? false,
    podIP: podIP === undefined ? undefined : { ip: podIP, at: podIPAt },
    labels: readLabels(metadata.child("labels")),
    containers: spec.child("containers").items().map(readContainer),
  };
}

function readContainer(field: Field): ContainerSpec {
  const container: ContainerSpec = {
    name: field.child("name").requiredString(),
    ports: field.child("ports").items().map(readPort),
  };
  const image = field.child("image").optString();
  if (image !== undefined) container.image = image;
  return container;
}

function readPort(field: Field): ContainerPortSpec {
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

// ---------------------------------------------------------------------------------------------
// Pass 3: validation and allocation across objects

/** Who holds an address, for duplicate messages. */
type Owners = Map<number, string>;

function ownerText(kind: string, name: string, at: Field): string {
  const { line, document } = at.location();
  return `${kind} ${name} (document ${document}, line ${line})`;
}

function claimAddress(owners: Owners, ip: number, at: Field, owner: string): void {
  const holder = owners.get(ip);
  if (holder !== undefined) {
    const detail = `${formatIpv4(ip)} is already used by ${holder}`;
    at.fail("E_DUPLICATE_IP", detail, "give every host and Pod its own address");
  }
  owners.set(ip, owner);
}

function resolveNodes(config: ClusterConfig, drafts: NodeDraft[]): NodeSpec[] {
  checkUniqueNames(config, drafts);
  const ips = assignNodeIPs(config, drafts);
  const cidrs = assignPodCIDRs(config, drafts);
  return drafts.map((draft, i) => ({
    name: draft.name,
    internalIP: ips[i]!,
    podCIDR: cidrs[i]!,
    schedulable: draft.schedulable,
    controlPlane: CONTROL_PLANE_LABELS.some((label) => label in draft.labels),
    labels: draft.labels,
    location: draft.root.location(),
  }));
}

/** Node names are unique; external hosts share the namespace since both are hosts on the node network. */
function checkUniqueNames(config: ClusterConfig, drafts: NodeDraft[]): void {
  const seen = new Map<string, string>();
  for (const node of drafts) {
    const first = seen.get(node.name);
    if (first !== undefined) {
      const detail = `node name ${node.name} is already used by ${first}`;
      node.nameAt.fail("E_DUPLICATE_NODE", detail, "give every node its own name");
    }
    seen.set(node.name, ownerText("node", node.name, node.nameAt));
  }
  for (const host of config.externalHosts) {
    const first = seen.get(host.name);
    if (first !== undefined) {
      host.nameAt.fail(
        "E_DUPLICATE_HOST",
        `external host name ${host.name} is already used by ${first}`,
        "give every node and external host its own name",
      );
    }
    seen.set(host.name, ownerText("external host", host.name, host.nameAt));
  }
}

/** Explicit addresses first (external hosts, then nodes), then x.x.x.10 upward for the rest. */
function assignNodeIPs(config: ClusterConfig, drafts: NodeDraft[]): number[] {
  const network = config.nodeNetwork;
  const pool = new SequentialPool(network.net + FIRST_AUTO_NODE_HOST, broadcastOf(network) - 1);
  const owners: Owners = new Map();
  const claim = (ip: number, at: Field, owner: string): void => {
    checkOnNodeNetwork(network, ip, at);
    claimAddress(owners, ip, at, owner);
    pool.reserve(ip);
  };
  for (const host of config.externalHosts) {
    claim(host.ip, host.ipAt, ownerText("external host", host.name, host.ipAt));
  }
  for (const node of drafts) {
    const given = node.internalIP;
    if (given) claim(given.ip, given.at, ownerText("node", node.name, given.at));
  }
  return drafts.map((node) => node.internalIP?.ip ?? nextNodeIP(pool, network, node));
}

function checkOnNodeNetwork(network: Ipv4Cidr, ip: number, at: Field): void {
  const where = formatCidr(network);
  if (!cidrContains(network, ip)) {
    at.fail(
      "E_NODE_IP_OUTSIDE",
      `${formatIpv4(ip)} is outside nodeNetwork ${where}`,
      `use an address inside ${where}, or change spec.nodeNetwork in the Cluster document`,
    );
  }
  const reserved = network.prefixLen <= 30 && (ip === network.net || ip === broadcastOf(network));
  if (reserved) {
    at.fail(
      "E_IP_RESERVED",
      `${formatIpv4(ip)} is the network or broadcast address of ${where}`,
      "use a host address of the network",
    );
  }
}

function nextNodeIP(pool: SequentialPool, network: Ipv4Cidr, node: NodeDraft): number {
  const ip = pool.next();
  if (ip === undefined) {
    node.nameAt.fail(
      "E_NODE_IPS_EXHAUSTED",
      `no free address left in nodeNetwork ${formatCidr(network)} for node ${node.name}`,
      "use a larger nodeNetwork or give the node an InternalIP in status.addresses",
    );
  }
  return ip;
}

/** Explicit podCIDRs are checked and reserved first; the rest take the lowest free subnet. */
function assignPodCIDRs(config: ClusterConfig, drafts: NodeDraft[]): Ipv4Cidr[] {
  const { clusterCIDR, nodeCIDRMaskSize } = config;
  const count = 2 ** (nodeCIDRMaskSize - clusterCIDR.prefixLen);
  const pool = new SequentialPool(0, count - 1);
  const holders = new Map<number, string>();
  for (const node of drafts) {
    if (!node.podCIDR) continue;
    const index = checkExplicitPodCIDR(config, node.podCIDR.cidr, node.podCIDR.at);
    const holder = holders.get(index);
    if (holder !== undefined) {
      node.podCIDR.at.fail(
        "E_POD_CIDR_OVERLAP",
        `podCIDR ${formatCidr(node.podCIDR.cidr)} is already given to ${holder}`,
        "give every node its own podCIDR, or leave it out to have one allocated",
      );
    }
    holders.set(index, ownerText("node", node.name, node.podCIDR.at));
    pool.reserve(index);
  }
  return drafts.map((node) => node.podCIDR?.cidr ?? nextPodCIDR(pool, config, node, count));
}

/** Returns the subnet index of a valid explicit podCIDR. */
function checkExplicitPodCIDR(config: ClusterConfig, cidr: Ipv4Cidr, at: Field): number {
  const { clusterCIDR, nodeCIDRMaskSize } = config;
  if (!cidrWithin(cidr, clusterCIDR)) {
    at.fail(
      "E_POD_CIDR_OUTSIDE",
      `podCIDR ${formatCidr(cidr)} is outside clusterCIDR ${formatCidr(clusterCIDR)}`,
      "use a subnet of clusterCIDR, or leave podCIDR out to have one allocated",
    );
  }
  if (cidr.prefixLen !== nodeCIDRMaskSize) {
    at.fail(
      "E_POD_CIDR_SIZE",
      `podCIDR ${formatCidr(cidr)} is a /${cidr.prefixLen}, but nodeCIDRMaskSize is ${nodeCIDRMaskSize}`,
      `use a /${nodeCIDRMaskSize} subnet, or change nodeCIDRMaskSize in the Cluster document`,
    );
  }
  return subnetIndex(clusterCIDR, nodeCIDRMaskSize, cidr);
}

function nextPodCIDR(pool: SequentialPool, config: ClusterConfig, node: NodeDraft, count: number): Ipv4Cidr {
  const index = pool.next();
  if (index === undefined) {
    node.nameAt.fail(
      "E_POD_CIDRS_EXHAUSTED",
      `no free /${config.nodeCIDRMaskSize} left in clusterCIDR ${formatCidr(config.clusterCIDR)} ` +
        `for node ${node.name} (${count} in all)`,
      "use a larger clusterCIDR, a longer nodeCIDRMaskSize, or fewer nodes",
    );
  }
  return nthSubnet(config.clusterCIDR, config.nodeCIDRMaskSize, index);
}

function resolvePods(nodes: NodeSpec[], drafts: PodDraft[]): PodSpec[] {
  checkUniquePods(drafts);
  const placement = placePods(nodes, drafts);
  const ips = assignPodIPs(drafts, placement);
  return drafts.map((draft, i) => ({
    namespace: draft.namespace,
    name: draft.name,
    nodeName: placement[i]!.name,
    podIP: ips[i]!,
    hostNetwork: draft.hostNetwork,
    labels: draft.labels,
    containers: draft.containers,
    location: draft.root.location(),
  }));
}

function checkUniquePods(drafts: PodDraft[]): void {
  const seen = new Map<string, string>();
  for (const pod of drafts) {
    const key = `${pod.namespace}/${pod.name}`;
    const first = seen.get(key);
    if (first !== undefined) {
      const detail = `Pod ${key} is already defined by ${first}`;
      pod.nameAt.fail("E_DUPLICATE_POD", detail, "give every Pod in a namespace its own name");
    }
    seen.set(key, ownerText("Pod", key, pod.nameAt));
  }
}

/** Pods naming a node go there; the rest go round-robin over schedulable nodes. */
function placePods(nodes: NodeSpec[], drafts: PodDraft[]): NodeSpec[] {
  const byName = new Map(nodes.map((node) => [node.name, node]));
  const schedulable = nodes.filter((node) => node.schedulable);
  let turn = 0;
  return drafts.map((pod) => {
    if (pod.nodeName !== undefined) {
      const node = byName.get(pod.nodeName);
      if (!node) {
        const known = nodes.map((n) => n.name).join(", ") || "none";
        const detail = `Pod ${pod.namespace}/${pod.name} names unknown node ${pod.nodeName}`;
        return pod.nodeAt.fail("E_UNKNOWN_NODE", detail, `known nodes: ${known}`);
      }
      return node;
    }
    const node = schedulable[turn++ % Math.max(schedulable.length, 1)];
    if (!node) {
      return pod.nameAt.fail(
        "E_NO_SCHEDULABLE_NODE",
        `Pod ${pod.namespace}/${pod.name} has no spec.nodeName and no node is schedulable`,
        "set spec.nodeName, or add a node without spec.unschedulable or NoSchedule/NoExecute taints",
      );
    }
    return node;
  });
}

/** host-local style: .1 is the bridge, explicit podIPs are reserved, the rest count up from .2. */
function assignPodIPs(drafts: PodDraft[], placement: NodeSpec[]): number[] {
  const pools = new Map<string, SequentialPool>();
  const poolOf = (node: NodeSpec): SequentialPool => {
    let pool = pools.get(node.name);
    if (!pool) {
      pool = new SequentialPool(node.podCIDR.net + 2, broadcastOf(node.podCIDR) - 1);
      pools.set(node.name, pool);
    }
    return pool;
  };
  const owners: Owners = new Map();
  drafts.forEach((pod, i) => {
    const node = placement[i]!;
    if (!pod.podIP) return;
    if (pod.hostNetwork) {
      checkHostNetworkIP(pod, node);
      return;
    }
    checkPodIPOnNode(pod.podIP.ip, pod.podIP.at, node);
    claimAddress(owners, pod.podIP.ip, pod.podIP.at, ownerText("Pod", `${pod.namespace}/${pod.name}`, pod.podIP.at));
    poolOf(node).reserve(pod.podIP.ip);
  });
  return drafts.map((pod, i) => {
    const node = placement[i]!;
    if (pod.hostNetwork) return node.internalIP;
    return pod.podIP?.ip ?? nextPodIP(poolOf(node), pod, node);
  });
}

function checkHostNetworkIP(pod: PodDraft, node: NodeSpec): void {
  if (pod.podIP && pod.podIP.ip !== node.internalIP) {
    pod.podIP.at.fail(
      "E_POD_IP_OUTSIDE",
      `hostNetwork Pod ${pod.namespace}/${pod.name} has podIP ${formatIpv4(pod.podIP.ip)}, ` +
        `not its node's address ${formatIpv4(node.internalIP)}`,
      "leave status.podIP out for hostNetwork Pods, or set it to the node's InternalIP",
    );
  }
}

function checkPodIPOnNode(ip: number, at: Field, node: NodeSpec): void {
  const range = formatCidr(node.podCIDR);
  if (!cidrContains(node.podCIDR, ip)) {
    at.fail(
      "E_POD_IP_OUTSIDE",
      `podIP ${formatIpv4(ip)} is outside podCIDR ${range} of node ${node.name}`,
      `use an address inside ${range}, or leave status.podIP out to have one allocated`,
    );
  }
  const { net } = node.podCIDR;
  if (ip === net || ip === net + 1 || ip === broadcastOf(node.podCIDR)) {
    at.fail(
      "E_IP_RESERVED",
      `podIP ${formatIpv4(ip)} is the network, gateway (.1) or broadcast address of ${range}`,
      `use an address from ${formatIpv4(net + 2)} to ${formatIpv4(broadcastOf(node.podCIDR) - 1)}`,
    );
  }
}

function nextPodIP(pool: SequentialPool, pod: PodDraft, node: NodeSpec): number {
  const ip = pool.next();
  if (ip === undefined) {
    pod.nameAt.fail(
      "E_POD_IPS_EXHAUSTED",
      `no free address left in podCIDR ${formatCidr(node.podCIDR)} of node ${node.name} ` +
        `for Pod ${pod.namespace}/${pod.name}`,
      "spread Pods over more nodes or use a shorter nodeCIDRMaskSize",
    );
  }
  return ip;
}
