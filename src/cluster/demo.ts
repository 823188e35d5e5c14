/**
 * `podwire demo`: the kinds of traffic the Kubernetes network model names, run on the
 * embedded default cluster with every frame captured.
 */
import { PodwireError, parseIpv4 } from "../base/index.js";
import { startPodApps } from "./apps.js";
import { Cluster } from "./build.js";
import { CaptureSession } from "./capture.js";
import { type ExchangeResult, type ExchangeSpec, runExchange } from "./exchange.js";
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

/** The demo's steps, by the names of the embedded default cluster's Pods and nodes. */
function scenarios(cluster: Cluster): ExchangeSpec[] {
  const pod = (ns: string, name: string) => {
    const p = cluster.pod(ns, name);
    if (!p) throw new PodwireError("E_DEMO", `the demo needs pod ${ns}/${name}`, { file: cluster.spec.source }, "run the demo on the embedded default cluster");
    return p;
  };
  const node = (name: string) => {
    const n = cluster.node(name);
    if (!n) throw new PodwireError("E_DEMO", `the demo needs node ${name}`, { file: cluster.spec.source }, "run the demo on the embedded default cluster");
    return n;
  };
  const client = pod("default", "client");
  const web0 = pod("default", "web-0");
  const web1 = pod("default", "web-1");
  const dns = pod("kube-system", "coredns-0");
  return [
    {
      title: "Containers in one Pod: web-0's sidecar calls its web container over loopback",
      from: web0.ns,
      fromLabel: "pod/default/web-0 (container sidecar)",
      dst: parseIpv4("127.0.0.1"),
      dstPort: 8080,
      proto: "tcp",
    },
    {
      title: "Pod to Pod on the same node: client → web-0 through cni0",
      from: client.ns,
      fromLabel: "pod/default/client",
      dst: web0.spec.podIP,
      dstPort: 8080,
      proto: "tcp",
    },
    {
      title: "Pod to Pod across nodes over VXLAN (TCP): client → web-1",
      from: client.ns,
      fromLabel: "pod/default/client",
      dst: web1.spec.podIP,
      dstPort: 8080,
      proto: "tcp",
    },
    {
      title: "Pod to Pod across nodes over VXLAN (UDP): client asks CoreDNS for web-1's Pod name",
      from: client.ns,
      fromLabel: "pod/default/client",
      dst: dns.spec.podIP,
      dstPort: 53,
      proto: "dns",
      dnsName: `${dashed(web1.spec.podIP)}.default.pod.cluster.local`,
    },
    {
      title: "Pod to another node: client pings worker-2's address",
      from: client.ns,
      fromLabel: "pod/default/client",
      dst: node("worker-2").spec.internalIP,
      dstPort: 0,
      proto: "icmp",
    },
  ];
}

function dashed(ip: number): string {
  return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join("-");
}

export function runDemo(spec: ClusterSpec, options: DemoOptions): DemoRun {
  const cluster = new Cluster(spec);
  startPodApps(cluster);
  const capture = options.capturePath ? CaptureSession.toFile(options.capturePath, cluster.devices, { comments: options.comments ?? false }) : null;
  const results: ExchangeResult[] = [];
  try {
    for (const [i, s] of scenarios(cluster).entries()) {
      capture?.annotateNext(`podwire demo step ${i + 1}: ${s.title}`);
      results.push(runExchange(cluster, s));
      // A quiet gap between steps keeps them apart on the capture's time line.
      cluster.sim.run(cluster.sim.now() + 1_000_000);
      cluster.sim.clock.advanceBy(1_000_000);
    }
  } finally {
    capture?.close();
  }
  return {
    cluster,
    results,
    capture: capture && options.capturePath ? { path: options.capturePath, frames: capture.frames, bytes: capture.bytes } : null,
  };
}
