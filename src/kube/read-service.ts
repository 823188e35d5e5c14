/**
 * Reads a `v1 Service` document into a `Service`, checking what the API server would check
 * (types, enums, port ranges, names) and applying its defaults (namespace `default`, type
 * ClusterIP, protocol TCP, targetPort = port, affinity timeout 10800 s). Cluster IPs and node
 * ports that are absent are left for allocate.ts; the draft records which ones.
 */
import { formatCidr, formatIpv4, parseCidr, parseIpv4Sloppy } from "../base/index.js";
import { DocField } from "./doc-fields.js";
import { PROTOCOLS, type KubeDocument, type Protocol, type Service, type ServicePort, type ServiceType, type TrafficPolicy } from "./objects.js";
import { readSelector } from "./labels.js";

const SERVICE_TYPES: readonly ServiceType[] = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
const POLICIES: readonly TrafficPolicy[] = ["Cluster", "Local"];
export const DEFAULT_AFFINITY_TIMEOUT = 10800;
const MAX_AFFINITY_TIMEOUT = 86400;

/** A Service plus what allocation still has to fill in. */
export interface ServiceDraft {
  service: Service;
  /** spec.clusterIP was absent or empty: allocate one. */
  needsClusterIP: boolean;
  /** Indexes of ports whose nodePort must be allocated. */
  needsNodePort: number[];
  /** spec.healthCheckNodePort must be allocated (LoadBalancer with eTP Local). */
  needsHealthCheckNodePort: boolean;
}

export function readService(doc: KubeDocument): ServiceDraft {
  const root = DocField.root(doc.body, doc.location);
  const meta = root.child("metadata");
  const name = meta.child("name").name("dns1035", "Service");
  const namespace = meta.child("namespace").name("label", "namespace", "default");
  const spec = root.child("spec");
  const type = readEnum(spec.child("type"), SERVICE_TYPES, "ClusterIP", "E_SERVICE_TYPE");
  const service: Service = {
    namespace,
    name,
    type,
    clusterIP: null,
    headless: false,
    ports: [],
    selector: null,
    externalIPs: [],
    loadBalancerIPs: [],
    loadBalancerSourceRanges: [],
    sessionAffinity: "None",
    affinityTimeoutSeconds: DEFAULT_AFFINITY_TIMEOUT,
    externalTrafficPolicy: "Cluster",
    internalTrafficPolicy: "Cluster",
    healthCheckNodePort: 0,
    publishNotReadyAddresses: spec.child("publishNotReadyAddresses").optionalBool() ?? false,
    location: doc.location,
  };
  const draft: ServiceDraft = { service, needsClusterIP: false, needsNodePort: [], needsHealthCheckNodePort: false };
  if (type === "ExternalName") return draft; // kube-proxy skips these; nothing else matters

  readClusterIP(spec, draft);
  // spec.allocateLoadBalancerNodePorts: false — a LoadBalancer without NodePorts (the API server defaults it to true).
  const lbNodePorts = spec.child("allocateLoadBalancerNodePorts").optionalBool() ?? true;
  service.ports = readPorts(spec.child("ports"), type, draft, lbNodePorts);
  service.selector = readSelector(spec.child("selector"));
  service.externalIPs = spec.child("externalIPs").items().map((f) => readIp(f, "E_SERVICE_IP"));
  service.loadBalancerSourceRanges = spec.child("loadBalancerSourceRanges").items().map(readSourceRange);
  service.loadBalancerIPs = readIngress(root.child("status").child("loadBalancer").child("ingress"));
  readAffinity(spec, service);
  service.externalTrafficPolicy = readEnum(spec.child("externalTrafficPolicy"), POLICIES, "Cluster", "E_SERVICE_POLICY");
  service.internalTrafficPolicy = readEnum(spec.child("internalTrafficPolicy"), POLICIES, "Cluster", "E_SERVICE_POLICY");
  readHealthCheckNodePort(spec.child("healthCheckNodePort"), draft);
  return draft;
}

function readEnum<T extends string>(f: DocField, valid: readonly T[], fallback: T, code: string): T {
  const v = f.string(fallback);
  if (!(valid as readonly string[]).includes(v)) {
    f.fail(code, `${f.path} ${JSON.stringify(v)} is not one of ${valid.join(", ")}`, `use one of ${valid.join(", ")}`);
  }
  return v as T;
}

/** An IPv4 address, leading zeros read as decimal (ParseIPSloppy) and written normalised, as kube-proxy does. */
function readIp(f: DocField, code: string): string {
  const text = f.string();
  const ip = parseIpv4Sloppy(text);
  if (ip < 0) {
    const v6 = text.includes(":");
    f.fail(code, `${f.path} ${JSON.stringify(text)} is not an IPv4 address`, v6 ? "podwire models IPv4 only" : "write a dotted quad such as 10.96.0.20");
  }
  return formatIpv4(ip);
}

function readClusterIP(spec: DocField, draft: ServiceDraft): void {
  let f = spec.child("clusterIP");
  if (f.absent) {
    const list = spec.child("clusterIPs").items();
    if (list.length > 0) f = list[0]!;
  }
  const text = f.string("");
  if (text === "") {
    draft.needsClusterIP = true;
    return;
  }
  if (text === "None") {
    if (draft.service.type !== "ClusterIP") {
      f.fail("E_SERVICE_HEADLESS", `a ${draft.service.type} Service cannot be headless (clusterIP: None)`, "remove clusterIP: None or use type ClusterIP");
    }
    draft.service.headless = true;
    return;
  }
  draft.service.clusterIP = readIp(f, "E_CLUSTER_IP_INVALID");
}

/** IANA_SVC_NAME: 1-15 lowercase letters, digits and inner single hyphens, with a letter. */
const PORT_NAME_RE = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

export function isValidPortName(name: string): boolean {
  return name.length <= 15 && PORT_NAME_RE.test(name) && /[a-z]/.test(name) && !name.includes("--");
}

function readPorts(list: DocField, type: ServiceType, draft: ServiceDraft, lbNodePorts: boolean): ServicePort[] {
  const items = list.items();
  if (items.length === 0 && !draft.service.headless) {
    list.fail("E_SERVICE_PORTS", `Service ${draft.service.namespace}/${draft.service.name} has no ports`, "add spec.ports (only headless Services may have none)");
  }
  const seen = new Map<string, string>();
  return items.map((item, i) => {
    const nameField = item.child("name");
    const name = nameField.string("");
    if (items.length > 1 && name === "") {
      nameField.fail("E_SERVICE_PORT_NAME", `${item.path} needs a name because the Service has ${items.length} ports`, "name every port of a multi-port Service");
    }
    if (name !== "" && !isValidPortName(name)) {
      nameField.fail("E_SERVICE_PORT_NAME", `port name ${JSON.stringify(name)} is not a valid IANA service name`, "use up to 15 lowercase letters, digits and hyphens");
    }
    if (seen.has(name)) nameField.fail("E_SERVICE_PORT_NAME", `port name ${JSON.stringify(name)} is used twice`, `it is also ${seen.get(name)}`);
    seen.set(name, item.path);
    const protoField = item.child("protocol");
    const protocol = protoField.string("TCP");
    if (!(PROTOCOLS as readonly string[]).includes(protocol)) {
      protoField.fail("E_PROTOCOL", `${protoField.path} ${JSON.stringify(protocol)} is not a supported protocol`, "use TCP, UDP or SCTP");
    }
    const portField = item.child("port");
    const port = portField.int();
    checkPort(portField, port);
    const targetPort = readTargetPort(item.child("targetPort"), port);
    const npField = item.child("nodePort");
    const nodePort = npField.int(0);
    if (nodePort !== 0 && type !== "NodePort" && type !== "LoadBalancer") {
      npField.fail("E_NODE_PORT", `${npField.path} is set on a ${type} Service`, "node ports exist only for type NodePort or LoadBalancer");
    }
    if (nodePort === 0 && (type === "NodePort" || (type === "LoadBalancer" && lbNodePorts))) draft.needsNodePort.push(i);
    return { name, protocol: protocol as Protocol, port, targetPort, nodePort };
  });
}

function checkPort(f: DocField, port: number): void {
  if (port < 1 || port > 65535) f.fail("E_PORT_RANGE", `${f.path} ${port} is out of range`, "ports are 1 to 65535");
}

function readTargetPort(f: DocField, port: number): number | string {
  if (f.absent) return port;
  if (typeof f.value === "string") {
    if (/^[0-9]+$/.test(f.value)) {
      const n = Number(f.value);
      checkPort(f, n);
      return n;
    }
    if (!isValidPortName(f.value)) {
      f.fail("E_SERVICE_TARGET_PORT", `${f.path} ${JSON.stringify(f.value)} is neither a port number nor a valid port name`, "use a number or the name of a container port");
    }
    return f.value;
  }
  const n = f.int();
  checkPort(f, n);
  return n;
}

/** kube-proxy trims spaces (a classic: `" 203.0.113.0/25"`) and uses the network address. */
function readSourceRange(f: DocField): string {
  const text = f.string().trim();
  const cidr = parseCidr(text, false, true);
  if (!cidr) f.fail("E_SOURCE_RANGE", `${f.path} ${JSON.stringify(f.value)} is not an IPv4 CIDR`, "write it as 203.0.113.0/25");
  return formatCidr(cidr);
}

function readIngress(list: DocField): string[] {
  const ips: string[] = [];
  for (const item of list.items()) {
    const ipField = item.child("ip");
    if (ipField.absent || ipField.value === "") continue; // hostname-only ingress: nothing for kube-proxy
    const mode = item.child("ipMode").string("VIP");
    if (mode !== "VIP" && mode !== "Proxy") item.child("ipMode").fail("E_SERVICE_FIELD", `ipMode ${JSON.stringify(mode)} is not VIP or Proxy`, "use VIP or Proxy");
    const ip = readIp(ipField, "E_SERVICE_IP");
    if (mode === "VIP") ips.push(ip); // Proxy-mode load balancers are not captured by kube-proxy
  }
  return ips;
}

function readAffinity(spec: DocField, service: Service): void {
  const f = spec.child("sessionAffinity");
  service.sessionAffinity = readEnum(f, ["None", "ClientIP"] as const, "None", "E_SERVICE_AFFINITY");
  const t = spec.child("sessionAffinityConfig").child("clientIP").child("timeoutSeconds");
  const timeout = t.int(DEFAULT_AFFINITY_TIMEOUT);
  if (timeout < 1 || timeout > MAX_AFFINITY_TIMEOUT) {
    t.fail("E_SERVICE_AFFINITY", `${t.path} ${timeout} is out of range`, `use 1 to ${MAX_AFFINITY_TIMEOUT} seconds`);
  }
  service.affinityTimeoutSeconds = timeout;
}

function readHealthCheckNodePort(f: DocField, draft: ServiceDraft): void {
  const s = draft.service;
  const needs = s.type === "LoadBalancer" && s.externalTrafficPolicy === "Local";
  const port = f.int(0);
  if (port !== 0 && !needs) {
    f.fail("E_HEALTH_CHECK_PORT", `${f.path} is set but the Service is not a LoadBalancer with externalTrafficPolicy Local`, "remove it; the API server only allows it there");
  }
  s.healthCheckNodePort = port;
  draft.needsHealthCheckNodePort = needs && port === 0;
}
