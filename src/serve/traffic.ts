/**
 * Background traffic for a running cluster, started on the virtual clock without waiting for
 * it (the clock runs on): `mix` opens one flow every 100 ms, in turn of the four kinds of
 * Kubernetes traffic (containers of one Pod over loopback, Pod to Pod on one node and across
 * nodes, Pod to Service, outside host to a NodePort); `burst` opens 100 connections to
 * Services at once every 5 s, as a deploy or a cron job does — the conntrack table fills and
 * drains; `idle` sends nothing. Every flow is a real TCP connection carrying an HTTP request,
 * chosen from the cluster's own Pods, Services and hosts.
 */
import { PodwireError, formatIpv4, parseIpv4 } from "../base/index.js";
import type { Cluster } from "../cluster/build.js";
import type { ClusterServices } from "../cluster/services.js";
import type { TimerTask } from "../netdev/index.js";
import type { NetworkNamespace } from "../netns/index.js";

export const TRAFFIC_PROFILES = ["idle", "mix", "burst"] as const;
export type TrafficProfile = (typeof TRAFFIC_PROFILES)[number];

export type FlowKind = "loopback" | "pod-to-pod (same node)" | "pod-to-pod (across nodes)" | "pod-to-service" | "external-to-nodeport";

/** One kind of flow the profile can open, between fixed places. */
export interface FlowPlan {
  kind: FlowKind;
  from: NetworkNamespace;
  fromLabel: string;
  dst: number;
  port: number;
  /** `pod/NS/NAME:PORT`, `svc/NS/NAME:PORT`, …: as `trace --to` names it. */
  toLabel: string;
}

export interface TrafficStats {
  started: number;
  completed: number;
  failed: number;
  /** Flows started per kind. */
  byKind: Record<string, number>;
}

const MIX_INTERVAL_NS = 100_000_000;
const BURST_INTERVAL_NS = 5_000_000_000;
const BURST_SIZE = 100;
const encoder = new TextEncoder();

/**
 * The flows of the cluster worth sending: for each kind, the first places that make one.
 * Kinds the cluster cannot make (no external host, no NodePort) are left out.
 */
export function planFlows(cluster: Cluster, services: ClusterServices): FlowPlan[] {
  const plans: FlowPlan[] = [];
  const pods = [...cluster.pods.values()].filter((p) => p.eth0 !== null);
  const tcpPort = (key: string) => cluster.pods.get(key)?.spec.containers.flatMap((c) => c.ports).find((p) => p.protocol === "TCP")?.containerPort ?? 0;
  const servers = pods.filter((p) => tcpPort(p.key) !== 0);
  const loop = servers[0];
  if (loop) plans.push({ kind: "loopback", from: loop.ns, fromLabel: `pod/${loop.key}`, dst: parseIpv4("127.0.0.1"), port: tcpPort(loop.key), toLabel: `127.0.0.1:${tcpPort(loop.key)}` });
  // A client: the first Pod that serves nothing, else any Pod.
  const client = pods.find((p) => tcpPort(p.key) === 0) ?? pods[0];
  if (client) {
    const same = servers.find((s) => s !== client && s.node === client.node);
    const across = servers.find((s) => s.node !== client.node);
    for (const [kind, s] of [["pod-to-pod (same node)", same], ["pod-to-pod (across nodes)", across]] as const) {
      if (s) plans.push({ kind, from: client.ns, fromLabel: `pod/${client.key}`, dst: s.spec.podIP, port: tcpPort(s.key), toLabel: `pod/${s.key}:${tcpPort(s.key)}` });
    }
    for (const svc of services.model.services) {
      const port = svc.ports.find((p) => p.protocol === "TCP");
      if (svc.clusterIP === null || svc.synthetic || port === undefined) continue;
      plans.push({ kind: "pod-to-service", from: client.ns, fromLabel: `pod/${client.key}`, dst: parseIpv4(svc.clusterIP), port: port.port, toLabel: `svc/${svc.namespace}/${svc.name}:${port.port}` });
    }
  }
  const outside = [...cluster.externals.values()][0];
  const node = [...cluster.nodes.values()].find((n) => n.spec.schedulable) ?? [...cluster.nodes.values()][0];
  const nodePort = services.model.services.flatMap((s) => s.ports).find((p) => p.protocol === "TCP" && p.nodePort > 0);
  if (outside && node && nodePort) {
    plans.push({ kind: "external-to-nodeport", from: outside.ns, fromLabel: `ext/${outside.spec.name}`, dst: node.spec.internalIP, port: nodePort.nodePort, toLabel: `node/${node.spec.name}:${nodePort.nodePort}` });
  }
  return plans;
}

/** Opens the profile's flows on the simulator's clock, for as long as it runs. */
export class TrafficGenerator implements TimerTask {
  readonly stats: TrafficStats = { started: 0, completed: 0, failed: 0, byKind: {} };
  private next = 0;
  private running = false;

  constructor(
    readonly cluster: Cluster,
    readonly profile: TrafficProfile,
    readonly plans: readonly FlowPlan[],
  ) {
    if (profile !== "idle" && plans.length === 0) {
      throw new PodwireError("E_ARG", `--traffic ${profile}: this cluster has no flows to send (no Pod with a TCP container port)`, { field: "--traffic" }, "give the Pods containerPorts, or use --traffic idle");
    }
  }

  start(): void {
    if (this.running || this.profile === "idle") return;
    this.running = true;
    this.cluster.sim.schedule(0, this);
  }

  stop(): void {
    this.running = false;
  }

  fire(): void {
    if (!this.running) return;
    if (this.profile === "mix") {
      // The kinds in turn, so each gets its share whatever the number of Services.
      const kinds = [...new Set(this.plans.map((p) => p.kind))];
      const kind = kinds[this.next % kinds.length]!;
      const ofKind = this.plans.filter((p) => p.kind === kind);
      this.open(ofKind[Math.floor(this.next / kinds.length) % ofKind.length]!);
      this.next++;
      this.cluster.sim.schedule(MIX_INTERVAL_NS, this);
    } else {
      const toServices = this.plans.filter((p) => p.kind === "pod-to-service" || p.kind === "external-to-nodeport");
      const pool = toServices.length > 0 ? toServices : this.plans;
      for (let i = 0; i < BURST_SIZE; i++) this.open(pool[(this.next + i) % pool.length]!);
      this.next += BURST_SIZE;
      this.cluster.sim.schedule(BURST_INTERVAL_NS, this);
    }
  }

  /** One HTTP request over a new TCP connection; the answer closes it. */
  private open(plan: FlowPlan): void {
    this.stats.started++;
    this.stats.byKind[plan.kind] = (this.stats.byKind[plan.kind] ?? 0) + 1;
    let answered = false;
    const done = (ok: boolean) => {
      if (answered) return;
      answered = true;
      if (ok) this.stats.completed++;
      else this.stats.failed++;
    };
    try {
      plan.from.tcp.connect(plan.dst, plan.port, {
        onConnected: (c) => c.send(encoder.encode(`GET / HTTP/1.1\r\nHost: ${formatIpv4(plan.dst)}:${plan.port}\r\nUser-Agent: podwire-traffic\r\n\r\n`)),
        onData: () => done(true),
        onPeerClosed: (c) => c.close(),
        onReset: () => done(false),
        onTimeout: () => done(false),
      });
    } catch {
      done(false); // no route
    }
  }
}
