/**
 * `podwire demo`: the kinds of traffic the Kubernetes network model names, run on the
 * embedded default cluster with every frame captured.
 */
import { PodwireError, parseIpv4 } from "../base/index.js";
import type { Cluster } from "./build.js";
import { type RunningCluster, bootCluster } from "./boot.js";
import { CaptureSession } from "./capture.js";
import { type ExchangeResult, type ExchangeSpec, runExchange } from "./exchange.js";
import { CLUSTER_DOMAIN } from "./services.js";
import type { ClusterSpec } from "./spec.js";

export interface DemoOptions {
  /** Where to write demo.pcapng; null for no capture. */
  capturePath: string | null;
  /** Add a comment to every captured frame saying where it was seen. */
  comments?: boolean;
}

export interface DemoRun {
  cluster: Cluster;
  results: ExchangeResult[];
  capture: { path: string; frames: number; bytes: number } | null;
}

/** One demo step: built when it runs, so it can use what earlier steps learned (DNS answers). */
type Step = (previous: ExchangeResult[]) => ExchangeSpec;

/** The demo's steps, by the names of the embedded default cluster's Pods, nodes and Services. */
function scenarios(run: RunningCluster): Step[] {
  const { cluster, services } = run;
  const need = (what: string): never => {
    throw new PodwireError("E_DEMO", `the demo needs ${what}`, { file: cluster.spec.source }, "run the demo on the embedded default cluster");
  };
  const pod = (ns: string, name: string) => cluster.pod(ns, name) ?? need(`pod ${ns}/${name}`);
  const node = (name: string) => cluster.node(name) ?? need(`node ${name}`);
  const client = pod("default", "client");
  const web0 = pod("default", "web-0");
  const web1 = pod("default", "web-1");
  const dns = pod("kube-system", "coredns-0");
  const web = services.service("default", "web") ?? need("Service default/web");
  const kubeDns = services.service("kube-system", "kube-dns") ?? need("Service kube-system/kube-dns");
  const outside = [...cluster.externals.values()][0] ?? need("an external host");
  const webPort = web.ports[0]!;
  return [
    () => ({ title: "Containers in one Pod: web-0's sidecar calls its web container over loopback", from: web0.ns, fromLabel: "pod/default/web-0 (container sidecar)", dst: parseIpv4("127.0.0.1"), dstPort: 8080, proto: "tcp" }),
    () => ({ title: "Pod to Pod on the same node: client → web-0 through cni0", from: client.ns, fromLabel: "pod/default/client", dst: web0.spec.podIP, dstPort: 8080, proto: "tcp" }),
    () => ({ title: "Pod to Pod across nodes over VXLAN (TCP): client → web-1", from: client.ns, fromLabel: "pod/default/client", dst: web1.spec.podIP, dstPort: 8080, proto: "tcp" }),
    () => ({
      title: "Pod to Pod across nodes over VXLAN (UDP): client asks CoreDNS for web-1's Pod name",
      from: client.ns,
      fromLabel: "pod/default/client",
      dst: dns.spec.podIP,
      dstPort: 53,
      proto: "dns",
      dnsName: `${dashed(web1.spec.podIP)}.default.pod.cluster.local`,
    }),
    () => ({
      title: "Pod to Service, by name: client resolves web.default.svc.cluster.local through the kube-dns Service",
      from: client.ns,
      fromLabel: "pod/default/client",
      dst: parseIpv4(kubeDns.clusterIP!),
      dstPort: 53,
      proto: "dns",
      dnsName: `web.default.svc.${CLUSTER_DOMAIN}`,
    }),
    (previous) => ({
      title: "Pod to Service: client connects to the ClusterIP it resolved; kube-proxy's rules pick an endpoint",
      from: client.ns,
      fromLabel: "pod/default/client",
      dst: previous[previous.length - 1]?.resolved[0] ?? parseIpv4(web.clusterIP!),
      dstPort: webPort.port,
      proto: "tcp",
    }),
    () => ({
      title: `Outside world to Service: ${outside.spec.name} connects to NodePort ${webPort.nodePort} on worker-2`,
      from: outside.ns,
      fromLabel: `ext/${outside.spec.name}`,
      dst: node("worker-2").spec.internalIP,
      dstPort: webPort.nodePort,
      proto: "tcp",
    }),
    () => ({ title: "Pod to another node: client pings worker-2's address", from: client.ns, fromLabel: "pod/default/client", dst: node("worker-2").spec.internalIP, dstPort: 0, proto: "icmp" }),
  ];
}

function dashed(ip: number): string {
  return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join("-");
}

export function runDemo(spec: ClusterSpec, options: DemoOptions): DemoRun {
  const running = bootCluster(spec);
  const cluster = running.cluster;
  // The capture numbers its frames for the traces, so each hop names its frame in the file.
  const capture = options.capturePath ? CaptureSession.toFile(options.capturePath, cluster.devices, { comments: options.comments ?? false, numberTraceFrames: true }) : null;
  const results: ExchangeResult[] = [];
  let finished = false;
  try {
    for (const [i, step] of scenarios(running).entries()) {
      const s = step(results);
      capture?.annotateNext(`podwire demo step ${i + 1}: ${s.title}`);
      results.push(runExchange(cluster, s));
      // A quiet gap between steps keeps them apart on the capture's time line.
      cluster.sim.run(cluster.sim.now() + 1_000_000);
      cluster.sim.clock.advanceBy(1_000_000);
    }
    finished = true;
  } finally {
    // A run that threw leaves an earlier capture at the path as it was.
    if (finished) capture?.close();
    else capture?.abort();
  }
  return {
    cluster,
    results,
    capture: capture && options.capturePath ? { path: options.capturePath, frames: capture.frames, bytes: capture.bytes } : null,
  };
}
