/**
 * Random valid clusters for the `podwire check` property test, as cluster-file YAML.
 *
 * fast-check draws raw choices (RawCluster); `resolveCluster` turns them into a cluster that
 * Kubernetes would accept and run (GenCluster), and `clusterYaml` prints it as the
 * multi-document YAML `parseClusterYaml` loads. The validity rules kept here:
 * - one control-plane node (`node-0`, NoSchedule-tainted or not) and 1–3 workers, IPs and
 *   podCIDRs left to podwire;
 * - CoreDNS (a Deployment or bare Pods in kube-system, tolerating the control plane): a file
 *   with a Cluster document gets none added;
 * - container ports are distinct within a Pod; hostNetwork Pods use ports from 9100–9199,
 *   unique across the cluster (never 6443, 10250, 53 or a NodePort), and a hostNetwork
 *   workload has at most one Pod per node it may run on (as the scheduler's host-port check
 *   ensures);
 * - Service ports are unique by (port, protocol), named when there are two, with the
 *   protocol of the container port they target (by number or by name);
 *   externalTrafficPolicy only on externally reachable Services, loadBalancerSourceRanges only
 *   on LoadBalancers, headless Services are plain `clusterIP: None`.
 */
import fc from "fast-check";

export type Proto = "TCP" | "UDP";
export type WorkloadKind = "Deployment" | "StatefulSet" | "DaemonSet" | "Pod";
export type ServiceKind = "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalIPs" | "Headless";
type Policy = "Local" | "Cluster" | null;

export interface GenPort {
  name: string;
  port: number;
  protocol: Proto;
}

export interface GenWorkload {
  kind: WorkloadKind;
  name: string;
  /** Deployment and StatefulSet replicas (ignored for DaemonSets and bare Pods). */
  replicas: number;
  hostNetwork: boolean;
  tolerateControlPlane: boolean;
  ports: GenPort[];
}

export interface GenServicePort {
  name: string | null;
  port: number;
  protocol: Proto;
  targetPort: number | string;
}

export interface GenService {
  name: string;
  kind: ServiceKind;
  /** The workload it selects; null: a selector that matches no Pod. */
  target: string | null;
  ports: GenServicePort[];
  externalIPs: string[];
  lbIngress: string[];
  externalTrafficPolicy: Policy;
  internalTrafficPolicy: Policy;
  clientIPAffinity: boolean;
  sourceRanges: string[] | null;
}

export interface GenCluster {
  overlay: "vxlan" | "host-gw";
  nodes: number;
  taintControlPlane: boolean;
  coreDns: { form: "Deployment" | "Pods"; replicas: number };
  workloads: GenWorkload[];
  services: GenService[];
}

// ---------------------------------------------------------------------------------------------
// Raw choices

interface RawPort {
  udp: boolean;
  pick: number;
}

interface RawWorkload {
  kind: WorkloadKind;
  replicas: number;
  hostNetwork: boolean;
  tolerate: boolean;
  ports: RawPort[];
}

interface RawServicePort {
  pick: number;
  byName: boolean;
  port: number;
  udp: boolean;
}

interface RawService {
  kind: ServiceKind;
  /** Index into the workloads (modulo their count), or -1: selects nothing. */
  target: number;
  ports: RawServicePort[];
  named: boolean;
  etp: Policy;
  itp: Policy;
  affinity: boolean;
  ranges: number;
  extraExternalIP: boolean;
}

interface RawCluster {
  overlay: "vxlan" | "host-gw";
  nodes: number;
  taint: boolean;
  coreDns: { form: "Deployment" | "Pods"; replicas: number };
  workloads: RawWorkload[];
  services: RawService[];
}

/** Container ports of Pods on the Pod network (never 53: that one is CoreDNS's). */
const POD_PORTS = [8080, 8081, 8443, 5000, 7, 9000, 3000];
/** Service ports. */
const SERVICE_PORTS = [80, 443, 8080, 8000, 7, 9999, 1234];
/** hostNetwork container ports: clear of 6443 (API server), 10250 (kubelet), 53 and the NodePort range. */
const FIRST_HOST_PORT = 9100;
const LAST_HOST_PORT = 9199;

/** loadBalancerSourceRanges variants: the outside host is 192.168.56.100. */
const SOURCE_RANGES: (string[] | null)[] = [null, ["192.168.56.100/32"], ["10.0.0.0/8"], ["192.168.56.0/24", "10.0.0.0/8"], ["192.168.56.101/32"]];

const policy = fc.constantFrom<Policy>(null, null, "Local", "Cluster");

const rawWorkload: fc.Arbitrary<RawWorkload> = fc.record({
  kind: fc.constantFrom<WorkloadKind>("Deployment", "StatefulSet", "DaemonSet", "Pod"),
  replicas: fc.integer({ min: 0, max: 3 }),
  hostNetwork: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
  tolerate: fc.boolean(),
  ports: fc.array(fc.record({ udp: fc.integer({ min: 0, max: 3 }).map((n) => n === 0), pick: fc.nat(POD_PORTS.length - 1) }), { minLength: 1, maxLength: 2 }),
});

const rawService: fc.Arbitrary<RawService> = fc.record({
  kind: fc.constantFrom<ServiceKind>("ClusterIP", "NodePort", "LoadBalancer", "ExternalIPs", "Headless"),
  target: fc.integer({ min: -1, max: 7 }).map((n) => (n === 7 ? -1 : n)),
  ports: fc.array(fc.record({ pick: fc.nat(3), byName: fc.boolean(), port: fc.nat(SERVICE_PORTS.length - 1), udp: fc.boolean() }), { minLength: 1, maxLength: 2 }),
  named: fc.boolean(),
  etp: policy,
  itp: policy,
  affinity: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
  ranges: fc.nat(SOURCE_RANGES.length - 1),
  extraExternalIP: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
});

const rawCluster: fc.Arbitrary<RawCluster> = fc.record({
  overlay: fc.constantFrom("vxlan" as const, "host-gw" as const),
  nodes: fc.integer({ min: 2, max: 4 }),
  taint: fc.boolean(),
  coreDns: fc.record({ form: fc.constantFrom("Deployment" as const, "Pods" as const), replicas: fc.integer({ min: 1, max: 2 }) }),
  workloads: fc.array(rawWorkload, { minLength: 1, maxLength: 4 }),
  services: fc.array(rawService, { minLength: 1, maxLength: 4 }),
});

// ---------------------------------------------------------------------------------------------
// Raw choices → a valid cluster

export function resolveCluster(raw: RawCluster): GenCluster {
  const workers = raw.nodes - 1;
  let nextHostPort = FIRST_HOST_PORT;
  const workloads: GenWorkload[] = raw.workloads.map((w, i) => {
    const name = `w${i}`;
    const ports: GenPort[] = [];
    for (const p of w.ports) {
      const protocol: Proto = p.udp ? "UDP" : "TCP";
      let port: number;
      if (w.hostNetwork) {
        port = nextHostPort++;
        if (port > LAST_HOST_PORT) throw new Error("generator: out of hostNetwork ports");
      } else {
        // Distinct numbers within the Pod: take the next free one from the pick.
        let k = p.pick;
        while (ports.some((q) => q.port === POD_PORTS[k % POD_PORTS.length])) k++;
        port = POD_PORTS[k % POD_PORTS.length]!;
      }
      ports.push({ name: `${protocol.toLowerCase()}-${port}`, port, protocol });
    }
    // Nodes the Pods may run on: the workers, and node-0 unless it is tainted and not tolerated.
    const fitting = workers + (raw.taint && !w.tolerate ? 0 : 1);
    const replicas = w.kind === "Deployment" ? w.replicas : w.kind === "StatefulSet" ? Math.max(1, w.replicas) : 1;
    // Two hostNetwork Pods of one workload on one node would need the same host port.
    return { kind: w.kind, name, replicas: w.hostNetwork ? Math.min(replicas, fitting) : replicas, hostNetwork: w.hostNetwork, tolerateControlPlane: w.tolerate, ports };
  });

  const services: GenService[] = raw.services.map((s, k) => {
    const name = `s${k}`;
    const target = s.target < 0 ? null : workloads[s.target % workloads.length]!;
    const ports: GenServicePort[] = [];
    for (const p of s.ports) {
      let protocol: Proto;
      let targetPort: number | string;
      if (target) {
        const cp = target.ports[p.pick % target.ports.length]!;
        protocol = cp.protocol;
        targetPort = p.byName ? cp.name : cp.port;
      } else {
        protocol = p.udp ? "UDP" : "TCP";
        targetPort = POD_PORTS[p.pick % POD_PORTS.length]!;
      }
      // Unique (port, protocol) within the Service.
      let j = p.port;
      while (ports.some((q) => q.protocol === protocol && q.port === SERVICE_PORTS[j % SERVICE_PORTS.length])) j++;
      ports.push({ name: null, port: SERVICE_PORTS[j % SERVICE_PORTS.length]!, protocol, targetPort });
    }
    // Port names are required when there are several; optional for one.
    ports.forEach((p, i) => {
      if (ports.length > 1 || s.named) p.name = `p${i}-${p.protocol.toLowerCase()}`;
    });
    const headless = s.kind === "Headless";
    const externallyReachable = s.kind === "NodePort" || s.kind === "LoadBalancer" || s.kind === "ExternalIPs";
    const externalIPs = s.kind === "ExternalIPs" || (s.extraExternalIP && !headless) ? [`192.168.56.${150 + k}`] : [];
    return {
      name,
      kind: s.kind,
      target: target?.name ?? null,
      ports,
      externalIPs,
      lbIngress: s.kind === "LoadBalancer" ? [`192.168.56.${200 + k}`] : [],
      externalTrafficPolicy: externallyReachable || externalIPs.length > 0 ? s.etp : null,
      internalTrafficPolicy: headless ? null : s.itp,
      clientIPAffinity: !headless && s.affinity,
      sourceRanges: s.kind === "LoadBalancer" ? SOURCE_RANGES[s.ranges]! : null,
    };
  });
  return { overlay: raw.overlay, nodes: raw.nodes, taintControlPlane: raw.taint, coreDns: raw.coreDns, workloads, services };
}

export const arbCluster: fc.Arbitrary<GenCluster> = rawCluster.map(resolveCluster);

// ---------------------------------------------------------------------------------------------
// YAML

const CONTROL_PLANE_TOLERATION = "[{key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}]";

function portsYaml(ports: GenPort[]): string {
  return `[${ports.map((p) => `{name: ${p.name}, containerPort: ${p.port}, protocol: ${p.protocol}}`).join(", ")}]`;
}

/** The Pod spec of a workload's template (or a bare Pod), as a flow mapping. */
function podSpecYaml(w: GenWorkload): string {
  const fields = [`containers: [{name: app, image: registry.example/app:1, ports: ${portsYaml(w.ports)}}]`];
  if (w.hostNetwork) fields.push("hostNetwork: true");
  if (w.tolerateControlPlane) fields.push(`tolerations: ${CONTROL_PLANE_TOLERATION}`);
  return `{${fields.join(", ")}}`;
}

function workloadYaml(w: GenWorkload): string {
  const labels = `{app: ${w.name}}`;
  if (w.kind === "Pod") {
    return `apiVersion: v1\nkind: Pod\nmetadata: {name: ${w.name}, namespace: default, labels: ${labels}}\nspec: ${podSpecYaml(w)}`;
  }
  const replicas = w.kind === "DaemonSet" ? "" : `  replicas: ${w.replicas}\n`;
  return (
    `apiVersion: apps/v1\nkind: ${w.kind}\nmetadata: {name: ${w.name}, namespace: default}\nspec:\n${replicas}` +
    (w.kind === "StatefulSet" ? `  serviceName: ${w.name}\n` : "") +
    `  selector: {matchLabels: ${labels}}\n  template:\n    metadata: {labels: ${labels}}\n    spec: ${podSpecYaml(w)}`
  );
}

function serviceYaml(s: GenService): string {
  const lines = [`apiVersion: v1`, `kind: Service`, `metadata: {name: ${s.name}, namespace: default}`, `spec:`];
  const type = s.kind === "NodePort" || s.kind === "LoadBalancer" ? s.kind : "ClusterIP";
  lines.push(`  type: ${type}`);
  if (s.kind === "Headless") lines.push("  clusterIP: None");
  lines.push(`  selector: {app: ${s.target ?? "nobody"}}`);
  lines.push("  ports:");
  for (const p of s.ports) {
    const name = p.name === null ? "" : `name: ${p.name}, `;
    lines.push(`  - {${name}port: ${p.port}, protocol: ${p.protocol}, targetPort: ${p.targetPort}}`);
  }
  if (s.externalIPs.length > 0) lines.push(`  externalIPs: [${s.externalIPs.join(", ")}]`);
  if (s.externalTrafficPolicy) lines.push(`  externalTrafficPolicy: ${s.externalTrafficPolicy}`);
  if (s.internalTrafficPolicy) lines.push(`  internalTrafficPolicy: ${s.internalTrafficPolicy}`);
  if (s.clientIPAffinity) lines.push("  sessionAffinity: ClientIP");
  if (s.sourceRanges) lines.push(`  loadBalancerSourceRanges: [${s.sourceRanges.join(", ")}]`);
  if (s.lbIngress.length > 0) lines.push("status:", "  loadBalancer:", `    ingress: [${s.lbIngress.map((ip) => `{ip: ${ip}}`).join(", ")}]`);
  return lines.join("\n");
}

const COREDNS_PORTS = "[{name: dns, containerPort: 53, protocol: UDP}, {name: dns-tcp, containerPort: 53, protocol: TCP}, {name: metrics, containerPort: 9153, protocol: TCP}]";
const COREDNS_SPEC = `{containers: [{name: coredns, image: registry.k8s.io/coredns/coredns:v1.11.3, ports: ${COREDNS_PORTS}}], tolerations: ${CONTROL_PLANE_TOLERATION}}`;

function coreDnsYaml(c: GenCluster["coreDns"]): string[] {
  if (c.form === "Deployment") {
    return [
      `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}\nspec:\n  replicas: ${c.replicas}\n` +
        `  selector: {matchLabels: {k8s-app: kube-dns}}\n  template:\n    metadata: {labels: {k8s-app: kube-dns}}\n    spec: ${COREDNS_SPEC}`,
    ];
  }
  return Array.from({ length: c.replicas }, (_, i) => `apiVersion: v1\nkind: Pod\nmetadata: {name: coredns-${i}, namespace: kube-system, labels: {k8s-app: kube-dns}}\nspec: ${COREDNS_SPEC}`);
}

export function clusterYaml(c: GenCluster, mode: "iptables" | "ipvs"): string {
  const docs: string[] = [
    `apiVersion: podwire.dev/v1alpha1\nkind: Cluster\nmetadata: {name: random}\nspec:\n  overlay: ${c.overlay}\n  proxyMode: ${mode}\n  externalHosts:\n  - {name: outside, ip: 192.168.56.100}`,
  ];
  const taint = c.taintControlPlane ? "\nspec: {taints: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]}" : "";
  docs.push(`apiVersion: v1\nkind: Node\nmetadata: {name: node-0, labels: {node-role.kubernetes.io/control-plane: ""}}${taint}`);
  for (let i = 1; i < c.nodes; i++) docs.push(`apiVersion: v1\nkind: Node\nmetadata: {name: node-${i}}`);
  docs.push(...coreDnsYaml(c.coreDns));
  docs.push(...c.workloads.map(workloadYaml));
  docs.push(...c.services.map(serviceYaml));
  return `${docs.join("\n---\n")}\n`;
}
