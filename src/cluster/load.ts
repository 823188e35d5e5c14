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
  PodwireError,
  cidrContains,
  formatCidr,
  formatIpv4,
  type Ipv4Cidr,
} from "../base/index.js";
import { type KubeObject, type NodeDraft, type PodDraft, fitsNode, readCidr, readEnum, readIntInRange, readIp, readNode, readObjects, readPod } from "./read-objects.js";
import { type Field, clip } from "./yaml-field.js";
import { describeOutside, inferSettings, outsideHostAddress } from "./infer.js";
import { SummaryBuilder, enforceStrict } from "./load-summary.js";
import { readKubeProxy } from "./read-kube-proxy.js";
import { readNodeSettings } from "./read-node-settings.js";
import { checkPortClashes } from "./port-clash.js";
import { applyApiDefaults } from "../kube/index.js";
import { BUILTIN_COREDNS_SOURCE, BUILTIN_COREDNS_YAML, WORKLOAD_KINDS, expandWorkloads, isCoreDnsPod, isWorkloadKind } from "./workloads.js";
import { DEFAULT_CLUSTER_SOURCE, DEFAULT_CLUSTER_YAML } from "./default-cluster.js";
import { isL7Kind, isTlsSecret, readL7Objects } from "./read-l7.js";
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
  ExternalHostSpec,
  KubeProxyConfig,
  NodeSettings,
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
const CONTROL_PLANE_LABELS = ["node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"];

/** Offset of the first automatically assigned node address within the node network (x.x.x.10). */
const FIRST_AUTO_NODE_HOST = 10;

// ---------------------------------------------------------------------------------------------
// Public API

export interface LoadOptions {
  /** Refuse objects that change traffic but are not emulated (NetworkPolicy, non-HTTP Gateway API routes, IPv6 families). */
  strict?: boolean;
}

/** Parses and validates a cluster file's text; `file` is only used in error locations. */
export function parseClusterYaml(text: string, file: string, opts: LoadOptions = {}): ClusterSpec {
  const objects = readObjects(text, file);
  if (objects.length === 0) {
    throw new PodwireError("E_EMPTY", `${file} holds no Kubernetes objects`, { file }, "give it Nodes, Pods, workloads (Deployments, …) and Services, or run without -f for the embedded cluster");
  }
  const summary = new SummaryBuilder();
  const { clusterDoc, nodeDocs, podDocs, workloadDocs, others } = sortObjects(objects, summary);
  let nodeDrafts = nodeDocs.map(readNode);
  let config: ClusterConfig;
  let inferred: string[] | null = null;
  if (clusterDoc) {
    config = readClusterConfig(clusterDoc);
  } else if (nodeDrafts.length === 0) {
    // Manifests with no Nodes run on the embedded cluster's nodes and settings.
    const embedded = sortObjects(readObjects(DEFAULT_CLUSTER_YAML, DEFAULT_CLUSTER_SOURCE), new SummaryBuilder());
    config = readClusterConfig(embedded.clusterDoc);
    nodeDrafts = embedded.nodeDocs.map(readNode);
    inferred = [`no Nodes and no Cluster document: the embedded cluster's ${nodeDrafts.length} nodes and settings`];
  } else {
    ({ config, notes: inferred } = inferConfig(nodeDrafts, others));
  }
  const podDrafts = podDocs.map(readPod);
  const workloads = expandWorkloads(workloadDocs, podDrafts, nodeDrafts);
  for (const w of workloads.results) summary.used(w.kind, w.made);
  if (!clusterDoc && ![...podDrafts, ...workloads.pods].some(isCoreDnsPod)) {
    // Every cluster runs CoreDNS behind kube-dns; app manifests do not list it. (A file with
    // a Cluster document describes its cluster in full: there podwire adds no Pods.)
    const coredns = expandWorkloads(readObjects(BUILTIN_COREDNS_YAML, BUILTIN_COREDNS_SOURCE), [], nodeDrafts);
    workloads.pods.push(...coredns.pods);
    summary.added(`CoreDNS (${coredns.pods.length} Pods in kube-system, as kubeadm deploys it)`);
  }
  const running: PodDraft[] = [];
  for (const pod of [...podDrafts, ...workloads.pods]) {
    if (pod.phase === "Running") running.push(pod);
    else summary.ignore(`${pod.phase} Pod`, "no address, no endpoint", false, pod.root.location());
  }
  const nodes = resolveNodes(config, nodeDrafts);
  const pods = resolvePods(nodes, nodeDrafts, running, config.overlay);
  noteIgnoredFamilies(nodeDrafts, others, summary);
  const l7 = readL7Objects(others.filter((o) => isL7Kind(o.kind) || o.kind === "Secret" || o.kind === "Namespace"));
  const built = summary.build();
  if (opts.strict) enforceStrict(built);
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
    ...(Object.keys(config.kubeProxy).length > 0 ? { kubeProxy: config.kubeProxy } : {}),
    ...(config.serviceNodePortRange !== undefined ? { serviceNodePortRange: config.serviceNodePortRange } : {}),
    ...(Object.keys(config.nodeSettings).length > 0 ? { nodeSettings: config.nodeSettings } : {}),
    otherDocuments: others.map(toRawDocument),
    ...(hasL7(l7) ? { l7 } : {}),
    summary: built,
    inferred,
  };
}

function hasL7(l7: ReturnType<typeof readL7Objects>): boolean {
  return l7.ingresses.length + l7.ingressClasses.length + l7.gatewayClasses.length + l7.gateways.length + l7.httpRoutes.length + l7.tlsSecrets.length > 0;
}

/** Settings for a file with Nodes but no Cluster document (a `kubectl get` dump). */
function inferConfig(nodes: NodeDraft[], others: KubeObject[]): { config: ClusterConfig; notes: string[] } {
  const base = defaultConfig();
  const clusterIPs: number[] = [];
  for (const obj of others) {
    if (obj.kind !== "Service") continue;
    const spec = obj.root.child("spec");
    for (const f of [spec.child("clusterIP"), ...spec.child("clusterIPs").items()]) {
      const text = f.absent ? "" : (f.optString() ?? "");
      const ip = text === "" || text === "None" || text.includes(":") ? -1 : parseIpText(text);
      if (ip >= 0) clusterIPs.push(ip);
    }
  }
  const settings = inferSettings(base, nodes, clusterIPs);
  const config: ClusterConfig = { ...base, nodeNetwork: settings.nodeNetwork, clusterCIDR: settings.clusterCIDR, nodeCIDRMaskSize: settings.nodeCIDRMaskSize, serviceCIDR: settings.serviceCIDR };
  const notes = [...settings.notes];
  const used = new Set(nodes.flatMap((n) => (n.internalIP ? [n.internalIP.ip] : [])));
  const outside = outsideHostAddress(config.nodeNetwork, used);
  if (outside !== null) {
    const at = nodes[0]!.nameAt;
    config.externalHosts = [{ name: "outside", ip: outside, nameAt: at, ipAt: at }];
    notes.push(describeOutside(outside));
  }
  const at = nodes[0]!.root.child("status").child("addresses");
  checkNetworksDisjoint(config, () => at);
  return { config, notes };
}

/** IPv6 halves of dual-stack objects are read past (IPv4 only is emulated): say so. */
function noteIgnoredFamilies(nodes: NodeDraft[], others: KubeObject[], summary: SummaryBuilder): void {
  for (const obj of others) {
    if (obj.kind === "Service") {
      const spec = obj.root.child("spec");
      const families = spec.child("ipFamilies").items().map((f) => f.optString());
      const policy = spec.child("ipFamilyPolicy").optString();
      if (families.includes("IPv6") || policy === "RequireDualStack" || policy === "PreferDualStack") {
        summary.ignore("IPv6 Service family", "IPv4 only is emulated", true, spec.child("ipFamilies").location());
      }
    } else if (obj.kind === "EndpointSlice" && obj.root.child("addressType").optString() === "IPv6") {
      summary.ignore("IPv6 EndpointSlice", "IPv4 only is emulated", true, obj.root.child("addressType").location());
    }
  }
  for (const node of nodes) {
    if (node.ipv6Addresses > 0) summary.ignore("IPv6 node address", "IPv4 only is emulated", false, node.root.child("status").child("addresses").location());
  }
}

/** Reads a cluster file from disk and parses it. */
export function loadClusterFile(path: string, opts: LoadOptions = {}): ClusterSpec {
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
  return parseClusterYaml(text, path, opts);
}

/** The embedded demo cluster (three nodes, four Pods). */
export function defaultCluster(): ClusterSpec {
  return parseClusterYaml(DEFAULT_CLUSTER_YAML, DEFAULT_CLUSTER_SOURCE);
}

interface SortedObjects {
  clusterDoc: KubeObject | undefined;
  nodeDocs: KubeObject[];
  podDocs: KubeObject[];
  workloadDocs: KubeObject[];
  others: KubeObject[];
}

/** Kinds later layers read from `otherDocuments`. */
const SERVICE_KINDS = ["Service", "EndpointSlice"];

function sortObjects(objects: KubeObject[], summary: SummaryBuilder): SortedObjects {
  const sorted: SortedObjects = { clusterDoc: undefined, nodeDocs: [], podDocs: [], workloadDocs: [], others: [] };
  for (const obj of objects) {
    if (obj.apiVersion.includes("podwire") && !(obj.kind === "Cluster" && obj.apiVersion.startsWith(CLUSTER_API_GROUP))) {
      // A misspelt podwire document must not fall back to the defaults in silence.
      misspeltClusterDocument(obj);
    }
    if (obj.kind === "Cluster" && obj.apiVersion.startsWith(CLUSTER_API_GROUP)) {
      requireApiVersion(obj, CLUSTER_API_VERSION);
      if (sorted.clusterDoc) duplicateCluster(obj, sorted.clusterDoc);
      sorted.clusterDoc = obj;
    } else if (obj.kind === "Node") {
      requireApiVersion(obj, "v1");
      sorted.nodeDocs.push(obj);
      summary.used("Node");
    } else if (obj.kind === "Pod") {
      requireApiVersion(obj, "v1");
      sorted.podDocs.push(obj);
      summary.used("Pod");
    } else if (isWorkloadKind(obj.kind)) {
      requireApiVersion(obj, WORKLOAD_KINDS[obj.kind]!);
      sorted.workloadDocs.push(obj);
    } else {
      sorted.others.push(obj);
      if (SERVICE_KINDS.includes(obj.kind) || isL7Kind(obj.kind)) summary.used(obj.kind);
      else if (isTlsSecret(obj)) summary.used("TLS Secret");
      else summary.ignoredKind(obj.kind, obj.root.location());
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

function misspeltClusterDocument(obj: KubeObject): never {
  const field = obj.apiVersion.startsWith(CLUSTER_API_GROUP) ? "kind" : "apiVersion";
  const found = field === "kind" ? `kind ${JSON.stringify(obj.kind)}` : `apiVersion ${JSON.stringify(obj.apiVersion)}`;
  return obj.root
    .child(field)
    .fail("E_PODWIRE_DOCUMENT", `a podwire document with ${found} is not one podwire knows`, `the podwire document is apiVersion: ${CLUSTER_API_VERSION}, kind: Cluster`);
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

/**
 * A document for the later layers, with the API server's defaults applied first (a Service
 * port's protocol, an EndpointSlice port's name "", …), as kube-proxy would receive it.
 */
function toRawDocument(obj: KubeObject): RawDocument {
  const body = obj.root.toJS() as Record<string, unknown>;
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    body: applyApiDefaults(obj.kind, obj.apiVersion, body),
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
  "kubeProxy",
  "serviceNodePortRange",
  "sysctls",
  "cni",
  "kernelVersion",
  "nodeCPUs",
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
  kubeProxy: KubeProxyConfig;
  serviceNodePortRange: string | undefined;
  nodeSettings: NodeSettings;
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
    kubeProxy: readKubeProxy(setting("kubeProxy")),
    serviceNodePortRange: readNodePortRange(setting("serviceNodePortRange")),
    nodeSettings: readNodeSettings(setting("sysctls"), setting("cni"), setting("kernelVersion"), setting("nodeCPUs")),
  };
  checkNetworksDisjoint(config, setting);
  checkNodeMaskSize(config, setting);
  return config;
}

/** `serviceNodePortRange: FIRST-LAST` (the API server's --service-node-port-range). */
function readNodePortRange(field: Field): string | undefined {
  const text = field.optString();
  if (text === undefined) return undefined;
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(text);
  if (!m || Number(m[1]) < 1 || Number(m[2]) > 65535 || Number(m[1]) > Number(m[2])) {
    field.fail("E_NODE_PORT_RANGE", `${field.path} ${JSON.stringify(clip(text))} is not FIRST-LAST within 1-65535`, "write it as the API server takes it, e.g. 30000-32767");
  }
  return text;
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
    kubeProxy: {},
    serviceNodePortRange: undefined,
    nodeSettings: {},
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

function resolvePods(nodes: NodeSpec[], nodeDrafts: NodeDraft[], drafts: PodDraft[], overlay: OverlayMode): PodSpec[] {
  checkUniquePods(drafts);
  const placement = placePods(nodes, nodeDrafts, drafts);
  checkPortClashes(drafts, placement, overlay);
  const ips = assignPodIPs(drafts, placement);
  return drafts.map((draft, i) => ({
    namespace: draft.namespace,
    name: draft.name,
    nodeName: placement[i]!.name,
    podIP: ips[i]!,
    hostNetwork: draft.hostNetwork,
    labels: draft.labels,
    containers: draft.containers,
    ...(draft.owners.length > 0 ? { owners: draft.owners } : {}),
    ...(Object.keys(draft.annotations).length > 0 ? { annotations: draft.annotations } : {}),
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

/**
 * Pods naming a node go there; the rest go round-robin over the nodes they fit (no
 * unschedulable flag, every NoSchedule/NoExecute taint tolerated, nodeSelector matched).
 */
function placePods(nodes: NodeSpec[], nodeDrafts: NodeDraft[], drafts: PodDraft[]): NodeSpec[] {
  const byName = new Map(nodes.map((node) => [node.name, node]));
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
    const fitting = nodes.filter((_, i) => fitsNode(pod, nodeDrafts[i]!));
    const node = fitting[turn++ % Math.max(fitting.length, 1)];
    if (!node) {
      const selector = Object.keys(pod.nodeSelector).length > 0 ? " matches its nodeSelector and" : "";
      return pod.nameAt.fail(
        "E_NO_SCHEDULABLE_NODE",
        `Pod ${pod.namespace}/${pod.name} has no spec.nodeName and no node${selector} is schedulable for it`,
        "set spec.nodeName, add tolerations, or add a node without spec.unschedulable or NoSchedule/NoExecute taints",
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
