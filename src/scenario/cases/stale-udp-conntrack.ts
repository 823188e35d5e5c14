/**
 * Scenario 3: UDP traffic is blackholed after the Pod behind a Service is replaced.
 *
 * A statsd client outside the cluster sends one datagram a second, from one socket (one
 * source port), to a UDP NodePort. The first datagram creates a conntrack entry on the node
 * it reaches, DNATed to the statsd Pod; statsd never answers, so the entry stays
 * [UNREPLIED] and each datagram refreshes its 30 s nf_conntrack_udp_timeout
 * (nf_conntrack_udp_packet). Only a packet of a NEW connection goes through the nat table
 * (nf_nat_inet_fn runs the rules only while the conn's NAT is not set up), so as long as the
 * entry lives, every datagram is DNATed to the address in it — after a rolling update, the
 * address of a Pod that no longer exists. The entry never times out while the client sends.
 *
 * kube-proxy has to delete the entry when the endpoint goes. Before v1.14 it deleted only
 * `--orig-dst <ClusterIP> --dst-nat <endpoint>` (deleteEndpointConnections →
 * ClearEntriesForNAT), which misses an entry made through a node port (#59368, fixed by
 * PR #71573: ClearEntriesForPortNAT); since v1.32 a reconciler compares every UDP entry to a
 * Service IP or node port with the serving endpoints (pkg/proxy/conntrack/cleanup.go
 * CleanStaleEntries, #126130).
 */
import { formatIpv4 } from "../../base/index.js";
import { createPod, deletePod } from "../../cluster/pod-lifecycle.js";
import type { ContainerSpec } from "../../cluster/spec.js";
import { NS_PER_SEC } from "../../base/clock.js";
import type { ScenarioContext } from "../context.js";
import { frameFacts } from "../frame-facts.js";
import type { Scenario, ScenarioEvidence, ScenarioFindings } from "../types.js";
import { OneWayUdpClient, sinkOn } from "../udp-flow.js";
import { THREE_NODES } from "../cluster-yaml.js";

const YAML = `apiVersion: podwire.dev/v1alpha1
kind: Cluster
metadata: {name: stale-udp-conntrack}
spec:
  externalHosts:
  - {name: statsd-client, ip: 192.168.56.100}
  # The broken run's kube-proxy is a v1.13 one: podwire's udpConntrackCleanup: cluster-ip-only
  # (passed as a flag). The fixed run's is today's (the v1.32+ conntrack reconciler).
---
${THREE_NODES}---
# statsd, one replica; a rolling update replaces it (the new Pod first, then the old one goes).
apiVersion: v1
kind: Pod
metadata: {name: statsd-a, namespace: default, labels: {app: statsd}}
spec: {nodeName: worker-2, containers: [{name: statsd, ports: [{name: statsd, containerPort: 8125, protocol: UDP}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: statsd, namespace: default}
spec:
  type: NodePort
  selector: {app: statsd}
  ports: [{name: statsd, port: 8125, targetPort: statsd, protocol: UDP, nodePort: 30125}]
`;

const NODE_PORT = 30125;
const CLIENT_PORT = 41234;
/** Seconds: the replacement Pod is up, then the old one is deleted; the client keeps sending until END (at least). */
const NEW_POD_AT = 4.5;
const OLD_POD_GONE_AT = 5.5;
const END = 45;
const STATSD_CONTAINERS: ContainerSpec[] = [{ name: "statsd", ports: [{ name: "statsd", containerPort: 8125, protocol: "UDP" }] }];

/** The load: how often the client sends (seconds between datagrams). */
export interface StaleUdpLoad {
  periodS: number;
}

function run(ctx: ScenarioContext): ScenarioFindings {
  return runStaleUdp(ctx, { periodS: 1 });
}

/** The scenario with a client sending every `periodS` seconds (the property test varies it). */
export function runStaleUdp(ctx: ScenarioContext, load: StaleUdpLoad): ScenarioFindings {
  const period = load.periodS;
  const end = OLD_POD_GONE_AT + Math.max(END - OLD_POD_GONE_AT, 3 * period);
  const running = ctx.boot(undefined, ctx.fixed ? {} : { udpConntrackCleanup: "cluster-ip-only" });
  const { cluster, services } = running;
  const sim = cluster.sim;
  const worker1 = cluster.node("worker-1")!;
  const worker2 = cluster.node("worker-2")!;
  const old = cluster.pod("default", "statsd-a")!;
  const oldSink = sinkOn(old.ns, 8125);
  const client = new OneWayUdpClient(cluster.externals.get("statsd-client")!.ns, CLIENT_PORT, worker1.spec.internalIP, NODE_PORT);
  const svc = services.service("default", "statsd")!;
  const evidence: ScenarioEvidence[] = [];
  const mechanism: string[] = [];

  let t = 0;
  const sendUntil = (until: number): void => {
    for (; t < until; t += period) {
      sim.run(Math.round(t * NS_PER_SEC));
      client.send();
    }
    sim.run(Math.round(until * NS_PER_SEC));
  };

  ctx.annotate(`statsd-client sends to ${formatIpv4(worker1.spec.internalIP)}:${NODE_PORT} from port ${CLIENT_PORT}, one datagram every ${period} s`);
  sendUntil(NEW_POD_AT);
  const firstAtPod = ctx.frames.find((f) => f.device === old.eth0 && f.direction === "rx" && frameFacts(f.bytes)?.dport === 8125);
  const entryBefore = natEntry(worker1.netfilter.conntrack.list(), worker1.spec.internalIP);
  if (firstAtPod) evidence.push(ctx.frameEvidence(firstAtPod, `the first datagram, DNATed by ${worker1.spec.name} to statsd-a ${formatIpv4(old.spec.podIP)}`));
  mechanism.push(
    `The first datagram (frame ${firstAtPod?.number ?? "?"}) creates a conntrack entry on ${worker1.spec.name}, DNATed to statsd-a ${formatIpv4(old.spec.podIP)}:8125; statsd never answers, so it stays [UNREPLIED] and each datagram resets its 30 s timeout: ${entryBefore ?? "(none)"}`,
  );

  // Rolling update: the new Pod first (kube-proxy adds the endpoint), then the old one goes.
  const fresh = createPod(cluster, { namespace: "default", name: "statsd-b", nodeName: "worker-2", labels: { app: "statsd" }, containers: STATSD_CONTAINERS }, running.dns);
  const newSink = sinkOn(fresh.ns, 8125);
  ctx.followNewDevices();
  services.update(cluster.spec.otherDocuments);
  sendUntil(OLD_POD_GONE_AT);
  const oldIP = old.spec.podIP;
  deletePod(cluster, old.key);
  const syncs = services.update(cluster.spec.otherDocuments);
  const deleted = syncs.get(worker1.spec.name)!.conntrackDeleted;
  const goneAtFrame = ctx.frames.frames.length;
  const goneAtNs = sim.now();
  const entryAfterSync = natEntry(worker1.netfilter.conntrack.list(), worker1.spec.internalIP);
  const cleanup = ctx.fixed
    ? `today's kube-proxy (the v1.32+ reconciler) deletes UDP entries to the node port whose reply source is no serving endpoint: conntrack -D -p udp --orig-port-dst ${NODE_PORT} --reply-src ${formatIpv4(oldIP)} removed ${deleted}`
    : `kube-proxy v1.13 deletes only conntrack -D -p udp --orig-dst ${svc.clusterIP} --dst-nat ${formatIpv4(oldIP)}, which matches nothing (the entry's original destination is the node, not the ClusterIP): ${deleted} deleted`;
  mechanism.push(
    `At ${NEW_POD_AT} s the rolling update starts statsd-b ${formatIpv4(fresh.spec.podIP)} on ${worker2.spec.name}; at ${OLD_POD_GONE_AT} s statsd-a ${formatIpv4(oldIP)} is deleted and kube-proxy re-syncs: ${cleanup}.`,
  );
  sendUntil(end);
  client.close();

  // Datagrams sent after the old Pod went, and where they went.
  const sentAfter = client.sent.filter((s) => s.at >= goneAtNs).length;
  const toDead = ctx.frames.filter((f) => f.number > goneAtFrame && f.device === worker2.cni0 && f.direction === "tx" && frameFacts(f.bytes)?.dst === oldIP && frameFacts(f.bytes)?.dport === 8125);
  const atNew = ctx.frames.find((f) => f.device === fresh.eth0 && f.direction === "rx" && frameFacts(f.bytes)?.dst === fresh.spec.podIP && frameFacts(f.bytes)?.dport === 8125);
  const entryAtEnd = natEntry(worker1.netfilter.conntrack.list(), worker1.spec.internalIP);
  const lost = sentAfter - newSink.received;
  const symptom = newSink.received === 0 && sentAfter > 0;
  if (toDead.length > 0) {
    evidence.push(ctx.frameEvidence(toDead[0]!, `after statsd-a is gone, a datagram still leaves ${worker2.spec.name}'s cni0 for its old address ${formatIpv4(oldIP)}`));
    evidence.push(ctx.frameEvidence(toDead[toDead.length - 1]!, `${Math.round((toDead[toDead.length - 1]!.timeNs - goneAtNs) / NS_PER_SEC)} s later, still to ${formatIpv4(oldIP)}`));
    mechanism.push(
      `Every later datagram matches the entry, skips the nat table and is DNATed to ${formatIpv4(oldIP)}: frames ${toDead[0]!.number} … ${toDead[toDead.length - 1]!.number} leave ${worker2.spec.name}'s cni0 for an address no Pod has; statsd-b gets none. The entry is still there ${end - OLD_POD_GONE_AT} s later, well past the 30 s timeout: ${entryAtEnd ?? "(none)"}`,
    );
  }
  if (atNew) {
    evidence.push(ctx.frameEvidence(atNew, `the next datagram is NEW again, DNATed to statsd-b ${formatIpv4(fresh.spec.podIP)}`));
    mechanism.push(`With the entry gone, the next datagram (frame ${atNew.number}) is a NEW connection: the nat table DNATs it to statsd-b ${formatIpv4(fresh.spec.podIP)}, which receives ${newSink.received} of the ${sentAfter} datagrams sent after the replacement.`);
  }
  evidence.push({ frame: null, netns: worker1.spec.name, device: "conntrack", detail: entryAfterSync ?? `no entry for the flow after the sync (${deleted} deleted)` });
  const summary = symptom
    ? `statsd-b received 0 of the ${sentAfter} datagrams sent after statsd-a was replaced: all went to the dead ${formatIpv4(oldIP)} (${toDead.length} frames), the stale conntrack entry refreshed by every one`
    : `statsd-b received ${newSink.received} of the ${sentAfter} datagrams sent after the replacement (${lost} lost): kube-proxy deleted the stale entry`;
  return {
    symptom,
    summary,
    mechanism,
    evidence,
    counters: { datagramsSentAfterReplacement: sentAfter, receivedByNewPod: newSink.received, receivedByOldPod: oldSink.received, framesToDeadPod: toDead.length, conntrackDeleted: deleted },
  };
}

/** The conntrack line of the NodePort flow on the node. */
function natEntry(lines: string[], nodeIP: number): string | null {
  return lines.find((l) => l.startsWith("udp") && l.includes(`dst=${formatIpv4(nodeIP)} sport=${CLIENT_PORT} dport=${NODE_PORT}`))?.replace(/\s+/g, " ") ?? null;
}

export const STALE_UDP_CONNTRACK: Scenario = {
  name: "stale-udp-conntrack",
  number: 3,
  symptom: "UDP traffic to a Service is blackholed after its Pod is replaced: a one-way sender keeps hitting the old Pod's address",
  issues: ["kubernetes/kubernetes#19029", "kubernetes/kubernetes#48370", "kubernetes/kubernetes#59368", "kubernetes/kubernetes#126130"],
  fix: "a kube-proxy that deletes the stale UDP entries of removed endpoints for node ports too (v1.14+, PR #71573; v1.32+ reconciler)",
  notes: [
    "nf_conntrack_udp_packet (nf_conntrack_proto_udp.c): an unreplied UDP entry is refreshed to nf_conntrack_udp_timeout (30 s) by every packet",
    "nf_nat_inet_fn (nf_nat_core.c): the nat table runs only while the conn's NAT is not set up, so later packets reuse the DNAT",
    "kube-proxy v1.13 proxier.go deleteEndpointConnections: conntrack.ClearEntriesForNAT(ClusterIP, endpointIP) only (#59368)",
    "PR #71573 (v1.14): ClearEntriesForPortNAT(endpointIP, nodePort); pkg/proxy/conntrack/cleanup.go CleanStaleEntries (v1.32+)",
    "the broken run's kube-proxy is podwire's udpConntrackCleanup: cluster-ip-only, a stand-in for the v1.13 code, not a real flag",
    "iptables mode only: nftables mode (v1.29+) never ran the v1.13 cleanup; in IPVS mode the flow follows IPVS's own connection table and expire_nodest_conn (scenario 11), not this entry",
  ],
  yaml: YAML,
  modes: ["iptables"],
  run,
};
