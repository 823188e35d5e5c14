/**
 * The benchmark's cluster and objects: three nodes (worker-1 holds the client Pod, worker-2
 * and worker-3 hold ten endpoint Pods between them), and N ClusterIP Services of one UDP
 * port each, every one backed by the same E endpoint Pods through its own EndpointSlice
 * (endpoints are addresses; they may repeat across Services). Every Service has its own
 * ClusterIP, so kube-proxy writes one KUBE-SERVICES rule, one KUBE-SVC chain and E
 * KUBE-SEP chains per Service exactly as it would for distinct backends, while the
 * emulated cluster stays a handful of namespaces at 50,000 Services.
 */
import { PodwireError, formatIpv4 } from "../base/index.js";
import { parseClusterYaml } from "../cluster/load.js";
import type { ClusterSpec, RawDocument } from "../cluster/spec.js";
import type { KubeDocument } from "../kube/index.js";
import { IPPROTO_UDP, IPV4_MIN_HEADER_LEN, Ipv4Packet } from "../wire/ipv4.js";
import { ports } from "../wire/ports.js";
import { UDP_HEADER_LEN, UdpPacket } from "../wire/udp.js";

export const BENCH_NAMESPACE = "bench";
export const SERVICE_PORT = 80;
export const ENDPOINT_PORT = 8080;
/** Pods that serve every Service (at most this many endpoints per Service). */
export const MAX_ENDPOINT_PODS = 64;
/** ClusterIPs from 10.96.1.0 on (10.96.0.1 and .10 are the kubernetes and kube-dns Services). */
const FIRST_CLUSTER_IP = 0x0a600100;
/** The Service network holds 2^20 addresses; leave room for the built-ins. */
export const MAX_SERVICES = 1_000_000;

export interface Workload {
  services: number;
  endpoints: number;
  seed: number;
  spec: ClusterSpec;
  /** ClusterIP of Service i (numeric). */
  clusterIP(i: number): number;
  /** Addresses of the endpoint Pods (numeric), in slice order. */
  endpointIPs: number[];
  /** The client Pod (`bench/client`) and the node it runs on. */
  clientPod: { namespace: string; name: string; node: string };
  /** Service and EndpointSlice documents for Services [0, n). */
  documents(n?: number): KubeDocument[];
  /** The same documents with one endpoint of one Service replaced (an endpoint change). */
  documentsWithEndpointChange(): KubeDocument[];
  /** The same documents plus one new Service (index `services`). */
  documentsWithNewService(): KubeDocument[];
  /** The index of the Service whose endpoint changes. */
  changedService: number;
}

function podsYaml(endpoints: number): string {
  const pods: string[] = [];
  pods.push(`apiVersion: v1
kind: Pod
metadata:
  labels:
    app: client
  name: client
  namespace: ${BENCH_NAMESPACE}
spec:
  containers:
  - image: busybox
    name: client
  nodeName: worker-1`);
  for (let j = 0; j < endpoints; j++) {
    pods.push(`apiVersion: v1
kind: Pod
metadata:
  labels:
    app: backend
  name: backend-${j}
  namespace: ${BENCH_NAMESPACE}
spec:
  containers:
  - image: udp-echo
    name: echo
    ports:
    - containerPort: ${ENDPOINT_PORT}
      name: udp
      protocol: UDP
  nodeName: worker-${2 + (j % 2)}`);
  }
  return pods.join("\n---\n");
}

function nodeYaml(name: string, index: number): string {
  return `apiVersion: v1
kind: Node
metadata:
  labels:
    kubernetes.io/hostname: ${name}
    kubernetes.io/os: linux
  name: ${name}
spec:
  podCIDR: 10.244.${index}.0/24
status:
  addresses:
  - address: 192.168.56.${10 + index}
    type: InternalIP`;
}

/** The cluster without Services: three workers, the client and the endpoint Pods. */
export function benchClusterSpec(endpoints: number, seed: number): ClusterSpec {
  const yaml = [
    `apiVersion: podwire.dev/v1alpha1
kind: Cluster
metadata:
  name: podwire-bench
spec:
  clusterCIDR: 10.244.0.0/16
  nodeCIDRMaskSize: 24
  nodeNetwork: 192.168.56.0/24
  overlay: vxlan
  proxyMode: iptables
  seed: ${seed}
  serviceCIDR: 10.96.0.0/12`,
    nodeYaml("worker-1", 1),
    nodeYaml("worker-2", 2),
    nodeYaml("worker-3", 3),
    podsYaml(endpoints),
  ].join("\n---\n");
  return parseClusterYaml(yaml, "<podwire bench cluster>");
}

export function makeWorkload(services: number, endpoints: number, seed: number): Workload {
  if (!Number.isInteger(services) || services < 1 || services > MAX_SERVICES) {
    throw new PodwireError("E_ARG", `--services ${services} is not a whole number from 1 to ${MAX_SERVICES}`, { field: "--services" }, "pass e.g. --services 100,1000,10000");
  }
  if (!Number.isInteger(endpoints) || endpoints < 1 || endpoints > MAX_ENDPOINT_PODS) {
    throw new PodwireError("E_ARG", `--endpoints ${endpoints} is not a whole number from 1 to ${MAX_ENDPOINT_PODS}`, { field: "--endpoints" }, "pass e.g. --endpoints 10");
  }
  const spec = benchClusterSpec(endpoints, seed);
  const backends = spec.pods.filter((p) => p.name.startsWith("backend-"));
  const endpointIPs = backends.map((p) => p.podIP);
  const nodeOf = backends.map((p) => p.nodeName);
  const clusterIP = (i: number): number => (FIRST_CLUSTER_IP + i) >>> 0;
  const changedService = services >> 1;
  // The replacement endpoint of the changed Service: an address no Pod has (a new Pod).
  const replacement = (0x0af40300 + 200) >>> 0; // 10.244.3.200 on worker-3
  const serviceDoc = (i: number): KubeDocument => {
    const body = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: `svc-${i}`, namespace: BENCH_NAMESPACE },
      spec: { type: "ClusterIP", clusterIP: formatIpv4(clusterIP(i)), ports: [{ name: "udp", port: SERVICE_PORT, protocol: "UDP", targetPort: ENDPOINT_PORT }] },
    };
    return { apiVersion: "v1", kind: "Service", body, location: { file: "<bench objects>", document: 2 * i + 1 } };
  };
  const sliceDoc = (i: number, changed: boolean): KubeDocument => {
    const eps = endpointIPs.map((ip, j) => ({
      addresses: [formatIpv4(changed && j === 0 ? replacement : ip)],
      conditions: { ready: true },
      nodeName: changed && j === 0 ? "worker-3" : nodeOf[j],
    }));
    const body = {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      addressType: "IPv4",
      metadata: { name: `svc-${i}-bench`, namespace: BENCH_NAMESPACE, labels: { "kubernetes.io/service-name": `svc-${i}` } },
      ports: [{ name: "udp", port: ENDPOINT_PORT, protocol: "UDP" }],
      endpoints: eps,
    };
    return { apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", body, location: { file: "<bench objects>", document: 2 * i + 2 } };
  };
  const docs = (n: number, change: number): KubeDocument[] => {
    const out: KubeDocument[] = new Array(2 * n);
    for (let i = 0; i < n; i++) {
      out[2 * i] = serviceDoc(i);
      out[2 * i + 1] = sliceDoc(i, i === change);
    }
    return out;
  };
  const rawDocs = docs(services, -1);
  spec.otherDocuments = rawDocs as RawDocument[];
  return {
    services,
    endpoints,
    seed,
    spec,
    clusterIP,
    endpointIPs,
    clientPod: { namespace: BENCH_NAMESPACE, name: "client", node: "worker-1" },
    documents: (n = services) => (n === services ? rawDocs : docs(n, -1)),
    documentsWithEndpointChange: () => docs(services, changedService),
    documentsWithNewService: () => docs(services + 1, -1),
    changedService,
  };
}

/**
 * Writes the first UDP datagram (IPv4 + UDP header, no payload, 28 bytes) of new flow `i`
 * from `client` to `vip`:SERVICE_PORT into `bytes`, each flow with its own source port.
 * The classifier benchmarks of both modes feed these to the fast core.
 */
export function writeNewFlowPacket(bytes: Uint8Array, client: number, vip: number, i: number): void {
  const len = IPV4_MIN_HEADER_LEN + UDP_HEADER_LEN;
  bytes.fill(0, 0, len); // checksums stay zero: the classifiers do not look at them
  const ip = ipView.wrap(bytes, 0);
  ip.setVersion(4);
  ip.setHeaderLen(IPV4_MIN_HEADER_LEN);
  ip.setTotalLen(len);
  ip.setTtl(64);
  ip.setProtocol(IPPROTO_UDP);
  ip.setSrcAddr(client);
  ip.setDstAddr(vip);
  const l4 = ip.payloadOffset();
  ports.setSrc(bytes, l4, 0x8000 | (i & 0x3fff)); // one source port per flow
  ports.setDst(bytes, l4, SERVICE_PORT);
  udpView.wrap(bytes, l4).setLength(UDP_HEADER_LEN);
}
const ipView = new Ipv4Packet(new Uint8Array(0));
const udpView = new UdpPacket(new Uint8Array(0));
