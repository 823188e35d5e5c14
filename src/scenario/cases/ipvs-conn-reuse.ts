/**
 * Scenario 11 (IPVS mode): 1 s connect stalls, or connections sent to deleted Pods, when a
 * client reuses source ports.
 *
 * IPVS keys its connections by the client's address and port; a TCP connection the server
 * closed stays in IPVS's TIME_WAIT for 2 minutes. A client that cycles through few source
 * ports (a busy client, or a narrow ip_local_port_range) sends a SYN that finds that old
 * connection (ip_vs_in → ip_vs_conn_in_get). What happens depends on
 * net.ipv4.vs.conn_reuse_mode and the kernel:
 *
 * - conn_reuse_mode=1 before 5.9: the old connection is expired and the SYN rescheduled —
 *   but with vs/conntrack=1 (kube-proxy sets it) the SYN is dropped, so that the old
 *   conntrack entry goes away first (f719e3754ee2 "ipvs: drop first packet to redirect
 *   conntrack"); the client retransmits after 1 s (kubernetes/kubernetes#70747).
 * - conn_reuse_mode=0, what kube-proxy sets on kernels before 5.9 to avoid that: the SYN
 *   reuses the old connection and its real server. After a rolling update that server is
 *   gone; expire_nodest_conn=1 drops the SYN and expires the connection, and the client
 *   again waits 1 s (kubernetes/kubernetes#81775) — its connection was being sent to a
 *   deleted Pod. Reused ports never move to the new Pods either.
 * - 5.9 and later (d752c3645717 "ipvs: allow connection reuse for unconfirmed conntrack",
 *   04231e52d355 "ipvs: queue delayed work to expire no destination connections"): the SYN
 *   is rescheduled without a drop, connections to a deleted server are flushed at once, and
 *   kube-proxy leaves conn_reuse_mode at 1 (kubernetes/kubernetes#93297).
 *
 * This scenario runs what kube-proxy configures: conn_reuse_mode=0 on the 4.19 kernel; the
 * fixed run is the same cluster on a 5.10 kernel.
 */
import { NS_PER_SEC } from "../../base/clock.js";
import { formatIpv4, parseIpv4 } from "../../base/index.js";
import { type ContainerSpec } from "../../cluster/spec.js";
import { createPod, deletePod } from "../../cluster/pod-lifecycle.js";
import type { TcpConnection } from "../../netns/index.js";
import { IPPROTO_TCP } from "../../wire/index.js";
import type { ScenarioContext } from "../context.js";
import { frameFacts, frameTcpSeq } from "../frame-facts.js";
import type { LoggedFrame } from "../frame-log.js";
import type { Scenario, ScenarioEvidence, ScenarioFindings } from "../types.js";
import { THREE_NODES } from "../cluster-yaml.js";

const YAML = `apiVersion: podwire.dev/v1alpha1
kind: Cluster
metadata: {name: ipvs-conn-reuse}
spec:
  proxyMode: ipvs
  # A 4.19 kernel: kube-proxy sets net.ipv4.vs.conn_reuse_mode=0 (and conntrack=1,
  # expire_nodest_conn=1) because the kernel's conn_reuse_mode=1 drops SYNs (#70747).
  # The fixed run: kernelVersion "5.10.0", where kube-proxy leaves conn_reuse_mode at 1.
  kernelVersion: "4.19.0"
---
${THREE_NODES}---
apiVersion: v1
kind: Pod
metadata: {name: web-a, namespace: default, labels: {app: web}}
spec: {nodeName: worker-2, containers: [{name: web, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-b, namespace: default, labels: {app: web}}
spec: {nodeName: worker-2, containers: [{name: web, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
# A busy client: it cycles through few source ports (securityContext.sysctls
# net.ipv4.ip_local_port_range: "32768 32775"), so each comes back within IPVS's 2-minute
# TIME_WAIT of its last connection.
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default}
spec: {nodeName: worker-1, containers: [{name: load, image: hey:0.1}]}
`;

const PORTS: readonly [number, number] = [32768, 32775];
const WEB: ContainerSpec[] = [{ name: "web", ports: [{ name: "http", containerPort: 8080, protocol: "TCP" }] }];

/** The load: connections before and after the rolling update, one after the other. */
export interface ReuseLoad {
  before: number;
  after: number;
}

function run(ctx: ScenarioContext): ScenarioFindings {
  return runConnReuse(ctx, { before: 8, after: 16 });
}

interface Attempt {
  conn: TcpConnection;
  startNs: number;
  connectedNs: number;
  phase: "before" | "after";
}

function isSyn(f: LoggedFrame): boolean {
  return ((frameFacts(f.bytes)?.tcpFlags ?? 0) & 0x12) === 0x02;
}

export function runConnReuse(ctx: ScenarioContext, load: ReuseLoad): ScenarioFindings {
  const running = ctx.boot((spec) => {
    if (ctx.fixed && spec.nodeSettings) spec.nodeSettings.kernelVersion = "5.10.0";
  });
  const { cluster, services } = running;
  const sim = cluster.sim;
  const client = cluster.pod("default", "client")!;
  client.ns.ipLocalPortRange = PORTS;
  const node = client.node;
  const table = services.ipvs!.table(node.spec.name)!;
  const vip = parseIpv4(services.service("default", "web")!.clusterIP ?? "");
  const podName = new Map<number, string>();
  for (const p of cluster.pods.values()) podName.set(p.spec.podIP, p.spec.name);
  const attempts: Attempt[] = [];
  const request = new TextEncoder().encode(`GET / HTTP/1.1\r\nHost: ${formatIpv4(vip)}\r\n\r\n`);

  const connect = (phase: Attempt["phase"]): void => {
    const a: Attempt = { conn: null as unknown as TcpConnection, startNs: sim.now(), connectedNs: -1, phase };
    a.conn = client.ns.tcp.connect(vip, 80, {
      onConnected: (c) => {
        a.connectedNs = sim.now();
        c.send(request);
      },
      onPeerClosed: (c) => c.close(),
    });
    attempts.push(a);
    // One after the other: each request answered (or given up on) before the next.
    sim.run(sim.now() + 4 * NS_PER_SEC);
    if (a.conn.state === "SYN_SENT") a.conn.close();
  };

  ctx.annotate(`client: ${load.before} connections to web ${formatIpv4(vip)}:80 from ports ${PORTS[0]}-${PORTS[1]}`);
  for (let i = 0; i < load.before; i++) connect("before");
  // A rolling update: web-c starts, then web-a is deleted and kube-proxy re-syncs.
  const webA = cluster.pod("default", "web-a")!;
  const webAIP = webA.spec.podIP;
  createPod(cluster, { namespace: "default", name: "web-c", nodeName: "worker-2", labels: { app: "web" }, containers: WEB }, running.dns);
  ctx.followNewDevices();
  services.update(cluster.spec.otherDocuments);
  deletePod(cluster, webA.key);
  services.update(cluster.spec.otherDocuments);
  const updatedAt = sim.now();
  const updateFrame = ctx.frames.frames.length;
  ctx.annotate(`rolling update: web-c added, web-a ${formatIpv4(webAIP)} deleted`);
  for (let i = 0; i < load.after; i++) connect("after");

  const evidence: ScenarioEvidence[] = [];
  const mechanism: string[] = [];
  const stalled = attempts.filter((a) => a.conn.synRetransmits > 0);
  // SYNs from the client, and whether each reached a web Pod (by sequence number, which DNAT keeps).
  const seqOf = (f: LoggedFrame): number => frameTcpSeq(f.bytes);
  const webRx = ctx.frames.filter((f) => f.direction === "rx" && f.device.owner.startsWith("default/web-") && isSyn(f));
  const reached = new Map<number, LoggedFrame[]>();
  for (const f of webRx) reached.set(seqOf(f), [...(reached.get(seqOf(f)) ?? []), f]);
  const clientSyns = ctx.frames.filter((f) => f.device === client.eth0 && f.direction === "tx" && isSyn(f) && frameFacts(f.bytes)?.proto === IPPROTO_TCP);
  const lost = clientSyns.filter((f) => !(reached.get(seqOf(f)) ?? []).some((r) => r.timeNs > f.timeNs && r.timeNs - f.timeNs < 500_000_000));
  const afterUpdate = lost.filter((f) => f.number > updateFrame);
  const newPodAfter = webRx.filter((f) => f.number > updateFrame && f.device.owner === "default/web-c").length;
  const reuseMode = table.sysctl.connReuseMode;
  const behaviour = table.reuseBehaviour;
  mechanism.push(
    `${node.spec.name}'s IPVS runs with conn_reuse_mode=${reuseMode}, conntrack=${table.sysctl.conntrack}, expire_nodest_conn=${table.sysctl.expireNodestConn} on kernel ${cluster.spec.nodeSettings?.kernelVersion ?? "?"} (${behaviour === "legacy" ? "before 5.9: kube-proxy set conn_reuse_mode=0" : "5.9+: kube-proxy leaves conn_reuse_mode=1"}).`,
    `The client's ${load.before} connections use ports ${PORTS[0]}-${PORTS[1]}; web closes each after its answer, so IPVS keeps each connection in TIME_WAIT for 2 minutes, keyed by the client's port.`,
  );
  for (const f of lost.slice(0, 3)) {
    const x = frameFacts(f.bytes)!;
    const retry = clientSyns.find((r) => r.timeNs > f.timeNs && seqOf(r) === seqOf(f));
    const got = retry ? (reached.get(seqOf(retry)) ?? []).find((r) => r.timeNs > retry.timeNs) : undefined;
    evidence.push(ctx.frameEvidence(f, `SYN from :${x.sport}, a port with a TIME_WAIT connection in IPVS: dropped by ${node.spec.name}`));
    if (retry) evidence.push(ctx.frameEvidence(retry, `the client retransmits ${((retry.timeNs - f.timeNs) / NS_PER_SEC).toFixed(3)} s later${got ? `; it reaches ${got.device.owner.split("/")[1]}` : ""}`));
    const after = f.number > updateFrame;
    mechanism.push(
      behaviour === "legacy" && reuseMode === 0
        ? `Frame ${f.number}: a SYN from :${x.sport} finds the old connection, and conn_reuse_mode=0 keeps it${after ? ` — its real server was web-a ${formatIpv4(webAIP)}, deleted ${((f.timeNs - updatedAt) / NS_PER_SEC).toFixed(0)} s earlier` : ""}; the server is gone, so expire_nodest_conn drops the SYN and expires the connection (ip_vs_in: !IP_VS_DEST_F_AVAILABLE).`
        : `Frame ${f.number}: a SYN from :${x.sport} finds the TIME_WAIT connection; conn_reuse_mode=1 expires it and reschedules, but with conntrack=1 the kernel drops this first SYN so the old conntrack entry can go (ip_vs_conn_uses_conntrack).`,
      `The client hears nothing and retransmits after 1 s${retry ? ` (frame ${retry.number})` : ""}; the connection is gone by then and the SYN is scheduled afresh.`,
    );
  }
  if (lost.length === 0) {
    mechanism.push(
      behaviour === "modern"
        ? `Kernel 5.9+: a SYN on a TIME_WAIT connection's port is rescheduled at once (the old conntrack entry is not confirmed-old, ip_vs_conn_uses_old_conntrack), and deleting web-a flushed its connections (expire_nodest_conn); ${newPodAfter} SYNs after the update reached the new web-c.`
        : `No SYN met an old connection this run.`,
    );
    const first = clientSyns[0];
    if (first) evidence.push(ctx.frameEvidence(first, `the client's first SYN`));
  }
  evidence.push({ frame: null, netns: node.spec.name, device: "ipvs", detail: `conn_reuse_mode=${reuseMode} conntrack=${table.sysctl.conntrack} expire_nodest_conn=${table.sysctl.expireNodestConn}` });
  const symptom = stalled.length > 0 && lost.length > 0;
  const summary = symptom
    ? `${stalled.length} of ${attempts.length} connections to ${formatIpv4(vip)}:80 stalled 1 s: their SYN, on a reused source port, was dropped by IPVS (${afterUpdate.length} after web-a was deleted); only ${newPodAfter} of ${load.after} later SYNs reached the new web-c`
    : `all ${attempts.length} connections to ${formatIpv4(vip)}:80 connected on the first SYN; ${newPodAfter} after the update reached the new web-c`;
  return {
    symptom,
    summary,
    mechanism,
    evidence,
    counters: { connections: attempts.length, stalled: stalled.length, droppedSyns: lost.length, droppedAfterUpdate: afterUpdate.length, synsToNewPod: newPodAfter, conn_reuse_mode: reuseMode },
  };
}

export const IPVS_CONN_REUSE: Scenario = {
  name: "ipvs-conn-reuse",
  number: 11,
  symptom: "IPVS: 1 s connect stalls when a client reuses source ports, and connections sent after their Pod was deleted",
  issues: ["kubernetes/kubernetes#70747", "kubernetes/kubernetes#81775", "kubernetes/kubernetes#93297"],
  fix: "a 5.9+ kernel, where kube-proxy leaves net.ipv4.vs.conn_reuse_mode=1 and IPVS reschedules without dropping",
  notes: [
    "ip_vs_core.c ip_vs_in: a SYN on an existing connection; is_new_conn_expected (TIME_WAIT/CLOSE) with conn_reuse_mode",
    "before 5.9: with IP_VS_CONN_F_NFCT (vs/conntrack=1) the rescheduled SYN is dropped (f719e3754ee2): 1 s",
    "conn_reuse_mode=0 reuses the connection; a deleted server fails IP_VS_DEST_F_AVAILABLE and expire_nodest_conn drops the SYN",
    "kube-proxy pkg/proxy/ipvs/proxier.go: conn_reuse_mode=0 below IPVSConnReuseModeFixedKernelVersion (5.9), left as-is above",
    "5.9: d752c3645717 (reuse unconfirmed conntrack) and 04231e52d355 (flush no-destination connections)",
    "not modelled: kube-proxy's graceful termination (weight 0 while connections last, #93297); podwire deletes the real server at once",
    "IPVS mode only: the mechanism is ip_vs_in's",
  ],
  yaml: YAML,
  modes: ["ipvs"],
  run,
};
