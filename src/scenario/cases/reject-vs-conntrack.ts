/**
 * Scenario 14: UDP to a restarting backend should get REJECT; instead it sticks to the
 * address of the Pod that is gone.
 *
 * While a Service has no endpoints, kube-proxy installs a rule that rejects its traffic
 * (iptables: `-A KUBE-SERVICES -d VIP -p udp --dport P -j REJECT` in the filter table,
 * reached only by `-m conntrack --ctstate NEW`; nftables: the no-endpoint-services verdict
 * map, also for new connections only). The client's socket gets an ICMP port unreachable
 * and its next send() fails with ECONNREFUSED: it knows.
 *
 * A UDP flow that already has a conntrack entry never meets that rule as the Service sees
 * it: the nat table (nf_nat_inet_fn) runs only for a connection whose NAT is not set up
 * yet, so the entry DNATs every datagram to the old endpoint before the filter table looks
 * at it, and the REJECT rule matches the Service IP, no longer in the packet. A one-way
 * sender refreshes the [UNREPLIED] entry every time. Unless kube-proxy deletes it, the
 * datagrams go to the dead Pod's address for as long as the Service stays without
 * endpoints — silently. The same happens to a flow that starts in the moment between the
 * Pod's death and kube-proxy's sync, when the old DNAT rule is still there (#114668: a flow
 * initiated during the pod restart gets stuck).
 *
 * kube-proxy's conntrack reconciler (v1.32, #126130, which also ended the over-eager
 * flushes of #122740) deletes every UDP entry whose reply source is not a serving endpoint;
 * PR #130484 made it skip Services without endpoints, which left exactly these entries
 * (#139628) until PR #139629.
 */
import { formatIpv4, ipv4 } from "../../base/index.js";
import { NS_PER_SEC } from "../../base/clock.js";
import { createPod, deletePod } from "../../cluster/pod-lifecycle.js";
import type { ContainerSpec } from "../../cluster/spec.js";
import type { ScenarioContext } from "../context.js";
import { frameFacts } from "../frame-facts.js";
import type { Scenario, ScenarioEvidence, ScenarioFindings } from "../types.js";
import { OneWayUdpClient, sinkOn } from "../udp-flow.js";
import { THREE_NODES } from "../cluster-yaml.js";

const YAML = `apiVersion: podwire.dev/v1alpha1
kind: Cluster
metadata: {name: reject-vs-conntrack}
spec: {}
  # The broken run's kube-proxy is a v1.33 one whose conntrack reconciler skips Services
  # without endpoints (podwire's udpConntrackCleanup: reconciler-skip-no-endpoints, passed as
  # a flag); the fixed run's has PR #139629.
---
${THREE_NODES}---
# A log collector behind a UDP Service; it restarts (a new Pod, a new address).
apiVersion: v1
kind: Pod
metadata: {name: collector-0, namespace: default, labels: {app: collector}}
spec: {nodeName: worker-2, containers: [{name: collector, ports: [{name: syslog, containerPort: 514, protocol: UDP}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: collector, namespace: default}
spec:
  selector: {app: collector}
  ports: [{name: syslog, port: 514, targetPort: syslog, protocol: UDP}]
---
# Two senders on worker-1: app-a has been sending for a while; app-b starts during the restart.
apiVersion: v1
kind: Pod
metadata: {name: app-a, namespace: default, labels: {app: app-a}}
spec: {nodeName: worker-1, containers: [{name: app}]}
---
apiVersion: v1
kind: Pod
metadata: {name: app-b, namespace: default, labels: {app: app-b}}
spec: {nodeName: worker-1, containers: [{name: app}]}
`;

const COLLECTOR_CONTAINERS: ContainerSpec[] = [{ name: "collector", ports: [{ name: "syslog", containerPort: 514, protocol: "UDP" }] }];

/** The restart's timing, in seconds. */
export interface RestartTiming {
  /** The old Pod dies. */
  podGone: number;
  /** kube-proxy hears of it and syncs (the endpoint is removed; the REJECT rule goes in). */
  syncGone: number;
  /** app-b starts sending. */
  bStarts: number;
  /** The new Pod is ready and kube-proxy syncs again. */
  back: number;
  /** Seconds between datagrams, both senders. */
  periodS: number;
}

export const DEFAULT_TIMING: RestartTiming = { podGone: 3.2, syncGone: 4.0, bStarts: 3.6, back: 12.2, periodS: 1 };

function run(ctx: ScenarioContext): ScenarioFindings {
  return runRejectVsConntrack(ctx, DEFAULT_TIMING);
}

export function runRejectVsConntrack(ctx: ScenarioContext, timing: RestartTiming): ScenarioFindings {
  const running = ctx.boot(undefined, ctx.fixed ? {} : { udpConntrackCleanup: "reconciler-skip-no-endpoints" });
  const { cluster, services } = running;
  const sim = cluster.sim;
  const worker1 = cluster.node("worker-1")!;
  const worker2 = cluster.node("worker-2")!;
  const old = cluster.pod("default", "collector-0")!;
  sinkOn(old.ns, 514);
  const vip = ipv4(services.service("default", "collector")!.clusterIP!);
  const a = new OneWayUdpClient(cluster.pod("default", "app-a")!.ns, 40514, vip, 514, (n) => `<14>app-a: line ${n}`);
  let b: OneWayUdpClient | null = null;
  const appB = cluster.pod("default", "app-b")!;
  const end = timing.back + 4 * timing.periodS + 1;
  const mechanism: string[] = [];
  const evidence: ScenarioEvidence[] = [];

  // The events, in time order: sends of both clients, the Pod's death, kube-proxy's syncs, the new Pod.
  type Step = { at: number; order: number; act: () => void };
  const steps: Step[] = [];
  for (let t = 0; t < end; t += timing.periodS) steps.push({ at: t, order: 1, act: () => a.send() });
  for (let t = timing.bStarts; t < end; t += timing.periodS) {
    steps.push({
      at: t,
      order: 2,
      act: () => {
        b ??= new OneWayUdpClient(appB.ns, 40515, vip, 514, (n) => `<14>app-b: line ${n}`);
        b.send();
      },
    });
  }
  const oldIP = old.spec.podIP;
  let deletedAtGone = 0;
  let deletedAtBack = 0;
  let syncFrame = 0;
  let backFrame = 0;
  let entriesAtSync: string[] = [];
  let fresh: ReturnType<typeof createPod> | null = null;
  let freshSink: ReturnType<typeof sinkOn> | null = null;
  steps.push({ at: timing.podGone, order: 0, act: () => void deletePod(cluster, old.key) });
  steps.push({
    at: timing.syncGone,
    order: 0,
    act: () => {
      deletedAtGone = services.update(cluster.spec.otherDocuments).get(worker1.spec.name)!.conntrackDeleted;
      syncFrame = ctx.frames.frames.length;
      entriesAtSync = flowEntries(worker1.netfilter.conntrack.list(), vip);
    },
  });
  steps.push({
    at: timing.back,
    order: 0,
    act: () => {
      fresh = createPod(cluster, { namespace: "default", name: "collector-1", nodeName: "worker-2", labels: { app: "collector" }, containers: COLLECTOR_CONTAINERS }, running.dns);
      freshSink = sinkOn(fresh.ns, 514);
      ctx.followNewDevices();
      deletedAtBack = services.update(cluster.spec.otherDocuments).get(worker1.spec.name)!.conntrackDeleted;
      backFrame = ctx.frames.frames.length;
    },
  });
  steps.sort((x, y) => x.at - y.at || x.order - y.order);
  for (const s of steps) {
    sim.run(Math.round(s.at * NS_PER_SEC));
    s.act();
  }
  sim.run(Math.round(end * NS_PER_SEC));
  a.close();
  (b as OneWayUdpClient | null)?.close();

  // While the Service had no endpoints (after kube-proxy's sync, before the new Pod): where did the datagrams go?
  const inWindow = (f: { number: number }) => f.number > syncFrame && f.number <= backFrame;
  const toDead = ctx.frames.filter((f) => inWindow(f) && f.device === worker1.flannel && f.direction === "tx" && frameFacts(f.bytes)?.dst === oldIP);
  const rejects = ctx.frames.filter((f) => {
    if (!inWindow(f) || f.direction !== "tx" || f.device !== worker1.cni0) return false;
    const x = frameFacts(f.bytes);
    return x !== null && x.icmpType === 3 && x.icmpCode === 3;
  });
  const clients = [a, b as OneWayUdpClient | null].filter((c): c is OneWayUdpClient => c !== null);
  const errorsInWindow = clients.reduce((n, c) => n + c.errors.filter((e) => e.at >= timing.syncGone * NS_PER_SEC && e.at < timing.back * NS_PER_SEC).length, 0);
  const sentInWindow = clients.reduce((n, c) => n + c.sent.filter((s) => s.at >= timing.syncGone * NS_PER_SEC && s.at < timing.back * NS_PER_SEC).length, 0);
  const stuck = new Set(toDead.map((f) => frameFacts(f.bytes)!.sport));
  const afterBack = freshSink === null ? 0 : (freshSink as { received: number }).received;
  const symptom = toDead.length > 0;

  const firstA = ctx.frames.find((f) => f.device === old.eth0 && f.direction === "rx" && frameFacts(f.bytes)?.sport === 40514);
  if (firstA) evidence.push(ctx.frameEvidence(firstA, `app-a's first datagram, DNATed to collector-0 ${formatIpv4(oldIP)}`));
  mechanism.push(
    `app-a sends a line to the collector Service every ${timing.periodS} s from one socket; the first one (frame ${firstA?.number ?? "?"}) makes a conntrack entry on worker-1 DNATed to collector-0 ${formatIpv4(oldIP)}, [UNREPLIED] and refreshed by every later line.`,
  );
  const bFirst = ctx.frames.find((f) => f.device === worker1.flannel && f.direction === "tx" && frameFacts(f.bytes)?.sport === 40515);
  mechanism.push(
    `At ${timing.podGone} s collector-0 dies; kube-proxy syncs at ${timing.syncGone} s. In between app-b starts sending (${timing.bStarts} s): the old DNAT rule is still in place, so its first datagram ${bFirst ? `(frame ${bFirst.number}) ` : ""}gets an entry to ${formatIpv4(oldIP)} too.`,
  );
  const cleanup = ctx.fixed
    ? `the reconciler (with PR #139629) treats the Service's empty endpoint set like any other and deletes the entries whose reply source is not a serving endpoint: ${deletedAtGone} deleted`
    : `the v1.33 reconciler skips a Service without serving endpoints ("does not require to clean the conntrack entries"): ${deletedAtGone} deleted, and worker-1 keeps ${entriesAtSync.length}: ${entriesAtSync[0] ?? ""}`;
  mechanism.push(`At ${timing.syncGone} s kube-proxy writes the REJECT rule for the Service, which has no endpoints now, and cleans conntrack: ${cleanup}.`);
  if (symptom) {
    evidence.push(ctx.frameEvidence(toDead[0]!, `after the REJECT rule is in, a datagram still leaves worker-1 for the dead ${formatIpv4(oldIP)}`));
    mechanism.push(
      `Every later datagram of both flows matches its entry, is DNATed before the filter table sees it and passes the REJECT rule, which matches only the Service IP: frames ${toDead[0]!.number} … ${toDead[toDead.length - 1]!.number} carry ${toDead.length} datagrams to ${formatIpv4(oldIP)}, and no ICMP error comes back (${errorsInWindow} in ${(timing.back - timing.syncGone).toFixed(1)} s). The senders cannot tell; for a Service scaled to zero this lasts until it has endpoints again (#139628).`,
    );
  } else if (rejects.length > 0) {
    evidence.push(ctx.frameEvidence(rejects[0]!, "the REJECT rule answers: ICMP port unreachable to the sender"));
    mechanism.push(
      `With the entries gone, the next datagrams are NEW: nothing in the nat table matches the Service (no endpoints), the filter table's REJECT rule does (frame ${rejects[0]!.number}, ICMP port unreachable), and each sender's next send() fails with ECONNREFUSED: ${errorsInWindow} errors for ${sentInWindow} datagrams, none sent to the dead address.`,
    );
  }
  mechanism.push(
    `At ${timing.back} s collector-1 ${fresh ? formatIpv4((fresh as { spec: { podIP: number } }).spec.podIP) : ""} is ready; kube-proxy's sync deletes ${deletedAtBack} entr${deletedAtBack === 1 ? "y" : "ies"} and the next datagrams reach it (${afterBack} received).`,
  );
  evidence.push({ frame: null, netns: worker1.spec.name, device: "conntrack", detail: entriesAtSync.length > 0 ? `after the sync at ${timing.syncGone} s: ${entriesAtSync.join(" | ")}` : `no entry to the Service left after the sync at ${timing.syncGone} s (${deletedAtGone} deleted)` });
  const summary = symptom
    ? `while collector was restarting, ${toDead.length} datagrams from ${stuck.size} flow(s) went silently to the dead Pod ${formatIpv4(oldIP)} past the Service's REJECT rule; ${errorsInWindow} ICMP errors came back`
    : `while collector was restarting, its REJECT rule answered the ${sentInWindow} datagrams with ${rejects.length} ICMP port unreachable (${errorsInWindow} send errors); none went to the dead Pod`;
  return {
    symptom,
    summary,
    mechanism,
    evidence,
    counters: {
      datagramsInRestart: sentInWindow,
      toDeadPod: toDead.length,
      stuckFlows: stuck.size,
      icmpPortUnreachable: rejects.length,
      sendErrors: errorsInWindow,
      conntrackDeletedAtRemoval: deletedAtGone,
      conntrackDeletedWhenBack: deletedAtBack,
      receivedByNewPod: afterBack,
    },
  };
}

function flowEntries(lines: string[], vip: number): string[] {
  return lines.filter((l) => l.startsWith("udp") && l.includes(`dst=${formatIpv4(vip)} `) && l.includes("dport=514")).map((l) => l.replace(/\s+/g, " "));
}

export const REJECT_VS_CONNTRACK: Scenario = {
  name: "reject-vs-conntrack",
  number: 14,
  symptom: "UDP to a restarting backend should be rejected; instead it sticks to the dead Pod's address, silently",
  issues: ["kubernetes/kubernetes#114668", "kubernetes/kubernetes#122740", "kubernetes/kubernetes#139628"],
  fix: "kube-proxy's conntrack reconciler cleaning Services without endpoints too (PR #139629), so the REJECT rule sees the next datagram",
  notes: [
    "iptables proxier: `-A KUBE-SERVICES -d VIP -p udp --dport P -j REJECT` (\"has no endpoints\"), reached via `-m conntrack --ctstate NEW`",
    "nf_nat_inet_fn (nf_nat_core.c): a conn whose NAT is set up skips the nat table, so its DNAT comes before the filter table",
    "nf_conntrack_udp_packet: an [UNREPLIED] entry is refreshed to 30 s by every datagram",
    "pkg/proxy/conntrack/cleanup.go CleanStaleEntries (v1.32, #126130); PR #130484 added `if endpointIPs.Len() == 0 { continue }`",
    "the broken run's kube-proxy is podwire's udpConntrackCleanup: reconciler-skip-no-endpoints, a stand-in for that version",
    "kube-proxy's sync comes 0.8 s after the Pod dies (EndpointSlice update, minSyncPeriod 1 s); a flow that starts then is #114668's",
    "iptables and nftables modes; IPVS has no REJECT rule, its own connection table decides (scenario 11)",
  ],
  yaml: YAML,
  modes: ["iptables", "nftables"],
  run,
};
