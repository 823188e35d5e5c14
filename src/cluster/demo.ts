/**
 * `podwire demo`: the kinds of traffic the Kubernetes network model names, run on the
 * embedded default cluster with every frame captured.
 */
import { PodwireError, parseIpv4 } from "../base/index.js";
import type { Cluster } from "./build.js";
import { type RunningCluster, bootCluster } from "./boot.js";
import { CaptureSession } from "./capture.js";
import { type ExchangeResult, type ExchangeSpec, runExchange } from "./exchange.js";
import { type HttpExchangeSpec, runHttpExchange, runHttpExchangeAsync } from "./http-exchange.js";
import { resolveHttpTarget } from "./http-target.js";
import { CLUSTER_DOMAIN, type ClusterServices } from "./services.js";
import type { ClusterSpec } from "./spec.js";

export interface DemoOptions {
  /** Where to write demo.pcapng; null for no capture. */
  capturePath: string | null;
  /** Add a comment to every captured frame saying where it was seen. */
  comments?: boolean;
  /** Run on this cluster, booted from `spec` by the caller (default: boot one here). */
  running?: RunningCluster;
}

export interface DemoRun {
  cluster: Cluster;
  services: ClusterServices;
  results: ExchangeResult[];
  capture: { path: string; frames: number; bytes: number } | null;
}

/** One demo step: built when it runs, so it can use what earlier steps learned (DNS answers); an HTTP request through the ingress controller is an `http` step. */
type Step = (previous: ExchangeResult[]) => ExchangeSpec | HttpStep;

interface HttpStep {
  title: string;
  http: HttpExchangeSpec;
}

/** The demo's request through the ingress controller (step 9), and the HTTPS one --keylog adds. */
export const DEMO_HTTP_URL = "http://shop.example.com/cart";
export const DEMO_HTTPS_URL = "https://www.example.com/";

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
    () => httpStep(run, `Outside world through the ingress controller: ${outside.spec.name} → ${DEMO_HTTP_URL} (Ingress default/shop, then a second connection to a web Pod)`, DEMO_HTTP_URL, outside),
  ];
}

/** An HTTP request from an outside host to a URL, resolved as an outside DNS record would. */
function httpStep(run: RunningCluster, title: string, url: string, from: { ns: ExchangeSpec["from"]; spec: { name: string } }): HttpStep {
  const target = resolveHttpTarget(run.l7, url);
  return {
    title,
    http: {
      title,
      from: from.ns,
      fromLabel: `ext/${from.spec.name}`,
      dst: target.dst,
      dstPort: target.dstPort,
      to: `${url} (${run.cluster.describe(target.dst)}:${target.dstPort})`,
      scheme: target.scheme,
      host: target.hostHeader,
      requests: [{ method: "GET", target: target.target }],
      ...(target.controller !== null ? { ca: target.controller.certificates.book.certificates() } : {}),
    },
  };
}

function isHttpStep(s: ExchangeSpec | HttpStep): s is HttpStep {
  return "http" in s;
}

function dashed(ip: number): string {
  return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join("-");
}

export function runDemo(spec: ClusterSpec, options: DemoOptions): DemoRun {
  const running = options.running ?? bootCluster(spec);
  const cluster = running.cluster;
  // The capture numbers its frames for the traces, so each hop names its frame in the file.
  const capture: CaptureSession | null = options.capturePath ? CaptureSession.toFile(options.capturePath, cluster.devices, { comments: options.comments ?? false, numberTraceFrames: true }) : null;
  let run: DemoRun;
  let finished = false;
  try {
    run = runDemoSteps(running, capture);
    finished = true;
  } finally {
    // A run that threw leaves an earlier capture at the path as it was.
    if (finished) capture?.close();
    else capture?.abort();
  }
  return { ...run, capture: capture && options.capturePath ? { path: options.capturePath, frames: capture.frames, bytes: capture.bytes } : null };
}

/** Every step of the demo on a running cluster, each announced on the capture. */
function runDemoSteps(running: RunningCluster, capture: CaptureSession | null): DemoRun {
  const cluster = running.cluster;
  const results: ExchangeResult[] = [];
  for (const [i, step] of scenarios(running).entries()) {
    const s = step(results);
    capture?.annotateNext(`podwire demo step ${i + 1}: ${s.title}`);
    results.push(isHttpStep(s) ? runHttpExchange(cluster, running.l7, s.http) : runExchange(cluster, s));
    // A quiet gap between steps keeps them apart on the capture's time line.
    cluster.sim.run(cluster.sim.now() + 1_000_000);
    cluster.sim.clock.advanceBy(1_000_000);
  }
  return { cluster, services: running.services, results, capture: null };
}

/**
 * The demo with an HTTPS step at the end (`podwire demo --keylog FILE`): a request to
 * DEMO_HTTPS_URL through the Gateway's HTTPS listener, its TLS secrets written to `keylog`
 * so Wireshark can decrypt it. Node's TLS draws its own random bytes (client and server
 * random, key shares), so this capture is not byte-for-byte reproducible; the plain demo is.
 */
export async function runDemoWithHttps(spec: ClusterSpec, options: DemoOptions & { keylog: string }): Promise<DemoRun> {
  const running = options.running ?? bootCluster(spec);
  const cluster = running.cluster;
  const capture = options.capturePath ? CaptureSession.toFile(options.capturePath, cluster.devices, { comments: options.comments ?? false, numberTraceFrames: true }) : null;
  let finished = false;
  let run: DemoRun;
  try {
    run = runDemoSteps(running, capture);
    const outside = [...cluster.externals.values()][0];
    if (outside === undefined) throw new PodwireError("E_DEMO", "the demo needs an external host", { file: cluster.spec.source }, "run the demo on the embedded default cluster");
    const s = httpStep(running, `Outside world over HTTPS through the Gateway: ${outside.spec.name} → ${DEMO_HTTPS_URL} (TLS ends at the controller, SNI www.example.com)`, DEMO_HTTPS_URL, outside);
    capture?.annotateNext(`podwire demo step ${run.results.length + 1}: ${s.title}`);
    run.results.push(await runHttpExchangeAsync(cluster, running.l7, s.http));
    finished = true;
  } finally {
    if (finished) capture?.close();
    else capture?.abort();
  }
  running.l7.keyLog.write(options.keylog, "--keylog");
  return { ...run, capture: capture && options.capturePath ? { path: options.capturePath, frames: capture.frames, bytes: capture.bytes } : null };
}
