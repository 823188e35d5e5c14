/**
 * Scenario 2: random connect timeouts (1 s, sometimes 3 s) under load to one destination.
 *
 * Pods on one node talk to a server outside the cluster; flannel masquerades them to the
 * node's address (FLANNEL-POSTRTG `-s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE`).
 * MASQUERADE keeps a connection's source port when the translated tuple is free; when an
 * earlier connection to the same server holds it (including the TIME_WAIT entries conntrack
 * keeps for 120 s), nf_nat_l4proto_unique_tuple searches for another port. On kernels before
 * 4.19 the search starts at a rover every CPU shares, moved when a search ends — but a
 * connection's entry only becomes visible to nf_nat_used_tuple when it is confirmed at the
 * end of POSTROUTING. Two SYNs searching at the same time on two CPUs start at the same port
 * and both take it; the second to reach __nf_conntrack_confirm finds its reply tuple taken.
 * TCP has no clash resolution: the SYN is dropped (insert_failed) and the client retransmits
 * it after its 1 s initial RTO.
 *
 * The fix (flannel PR #1001/#1004, kube-proxy likewise): `--random-fully`
 * (NF_NAT_RANGE_PROTO_RANDOM_FULLY) — every connection gets a port drawn at random, so two
 * at once pick the same one with a probability of 1 in 64,512 instead of always.
 */
import { NS_PER_SEC } from "../../base/clock.js";
import { formatIpv4 } from "../../base/index.js";
import { httpServer } from "../../cluster/apps.js";
import { flannelRulesText } from "../../cluster/flannel-rules.js";
import type { PodRuntime } from "../../cluster/build.js";
import type { NetDevice } from "../../netdev/index.js";
import type { TcpConnection } from "../../netns/index.js";
import { applyRestore } from "../../netfilter/apply-restore.js";
import { parseRestore } from "../../netfilter/restore-parse.js";
import { IPPROTO_TCP, TCP_SYN } from "../../wire/index.js";
import type { ScenarioContext } from "../context.js";
import { frameFacts, frameTcpSeq } from "../frame-facts.js";
import type { LoggedFrame } from "../frame-log.js";
import type { Scenario, ScenarioEvidence, ScenarioFindings } from "../types.js";

const YAML = `apiVersion: podwire.dev/v1alpha1
kind: Cluster
metadata: {name: snat-port-collision}
spec:
  # A 4.14 kernel: the NAT port search starts at the shared rover (removed in 4.19).
  kernelVersion: "4.14.0"
  # Two CPUs take the node's packets, so two SYNs can be between NAT and confirm at once.
  nodeCPUs: 2
  externalHosts:
  - {name: api, ip: 192.168.56.100}
  # The broken run's flannel is v0.10: its MASQUERADE rules have no --random-fully.
---
apiVersion: v1
kind: Node
metadata: {name: control-plane, labels: {node-role.kubernetes.io/control-plane: ""}}
spec: {taints: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]}
---
apiVersion: v1
kind: Node
metadata: {name: worker-1}
---
# Two replicas of a client that opens connections to api:80 in bursts (a pool refilling).
# Both narrow their ephemeral ports (securityContext.sysctls net.ipv4.ip_local_port_range:
# "32768 33791"), which packs the port reuse of a node with thousands of connections to one
# destination into a short run.
apiVersion: v1
kind: Pod
metadata: {name: client-a, namespace: default, labels: {app: client}}
spec: {nodeName: worker-1, containers: [{name: app, image: client:1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client-b, namespace: default, labels: {app: client}}
spec: {nodeName: worker-1, containers: [{name: app, image: client:1}]}
`;

const SERVER_PORT = 80;
const PORT_RANGE: readonly [number, number] = [32768, 33791];

/** The load: bursts of `burst` connections per Pod every `intervalMs`, `bursts` times. */
export interface SnatLoad {
  burst: number;
  bursts: number;
  intervalMs: number;
}

function run(ctx: ScenarioContext): ScenarioFindings {
  return runSnatCollision(ctx, { burst: 8, bursts: 30, intervalMs: 50 });
}

/** The TCP sequence number of a logged TCP frame. */
function seqOf(f: LoggedFrame): number {
  return frameTcpSeq(f.bytes);
}

function isSyn(f: LoggedFrame): boolean {
  const x = frameFacts(f.bytes);
  return x !== null && x.proto === IPPROTO_TCP && (x.tcpFlags & 0x12) === TCP_SYN;
}

interface Attempt {
  pod: string;
  conn: TcpConnection;
  startNs: number;
  connectedNs: number;
}

export function runSnatCollision(ctx: ScenarioContext, load: SnatLoad): ScenarioFindings {
  const { cluster } = ctx.boot();
  const sim = cluster.sim;
  const node = cluster.node("worker-1")!;
  const api = cluster.externals.get("api")!;
  api.ns.tcp.listen(SERVER_PORT, httpServer("ext/api", "api"));
  const pods = [cluster.pod("default", "client-a")!, cluster.pod("default", "client-b")!];
  for (const p of pods) p.ns.ipLocalPortRange = PORT_RANGE;
  if (!ctx.fixed) {
    // flannel v0.10's masquerade rules: the same rules without --random-fully.
    for (const n of cluster.nodes.values()) {
      const text = flannelRulesText(cluster.spec, n.spec);
      const rules = text.split("\n").filter((l) => l.startsWith("-A FLANNEL-POSTRTG")).map((l) => l.replace(" --random-fully", ""));
      applyRestore(n.netfilter.ruleset, parseRestore(`*nat\n:FLANNEL-POSTRTG - [0:0]\n${rules.join("\n")}\nCOMMIT\n`, "flannel v0.10 rules"), { noflush: true });
      n.netfilter.setRuleset(n.netfilter.ruleset);
    }
  }
  const conntrack = node.netfilter.conntrack;
  // The kernel's only trace of a clash is the counter; keep the two entries to show them.
  const clashes: { atNs: number; port: number; loserSport: number; loserSrc: number }[] = [];
  conntrack.onClash = (_winner, loser) => clashes.push({ atNs: sim.now(), port: loser.reply.dport, loserSport: loser.original.sport, loserSrc: loser.original.src });
  const attempts: Attempt[] = [];
  const request = new TextEncoder().encode(`GET / HTTP/1.1\r\nHost: ${formatIpv4(api.spec.ip)}\r\n\r\n`);
  for (let b = 0; b < load.bursts; b++) {
    sim.run(Math.round(b * load.intervalMs * 1_000_000));
    if (b === 0) ctx.annotate(`client-a and client-b each open ${load.burst} connections to api:${SERVER_PORT} every ${load.intervalMs} ms`);
    for (const p of pods) {
      for (let i = 0; i < load.burst; i++) {
        const a: Attempt = { pod: p.spec.name, conn: null as unknown as TcpConnection, startNs: sim.now(), connectedNs: -1 };
        a.conn = p.ns.tcp.connect(api.spec.ip, SERVER_PORT, {
          onConnected: (c) => {
            a.connectedNs = sim.now();
            c.send(request);
          },
          onPeerClosed: (c) => c.close(),
        });
        attempts.push(a);
      }
    }
  }
  // Long enough for a SYN retransmitted twice (1 s, then 2 s more).
  sim.run(sim.now() + 5 * NS_PER_SEC);
  conntrack.onClash = null;

  const evidence: ScenarioEvidence[] = [];
  const mechanism: string[] = [];
  const late = attempts.filter((a) => a.conn.synRetransmits > 0);
  const failed = attempts.filter((a) => a.connectedNs < 0);
  const c = conntrack.stats;
  const hostVeths = new Map<NetDevice, PodRuntime>(pods.map((p) => [p.hostVeth!, p]));
  // The SYNs that entered the node and never left it: the dropped ones.
  // Masqueraded SYNs leaving eth0 (by sequence number: NAT keeps it), to find the ones that never did.
  const out = ctx.frames.filter((f) => f.device === node.eth0 && f.direction === "tx" && isSyn(f));
  const leftAt = new Map<number, number[]>();
  for (const f of out) leftAt.set(seqOf(f), [...(leftAt.get(seqOf(f)) ?? []), f.timeNs]);
  // A SYN left when one with its sequence number leaves eth0 within the node's pass (well under 1 ms).
  const leftSoon = (f: LoggedFrame): boolean => (leftAt.get(seqOf(f)) ?? []).some((t) => t >= f.timeNs && t - f.timeNs < 1_000_000);
  const dropped = ctx.frames.filter((f) => hostVeths.has(f.device) && f.direction === "rx" && isSyn(f) && !leftSoon(f));
  for (const d of dropped.slice(0, 2)) {
    const pod = hostVeths.get(d.device)!;
    const facts = frameFacts(d.bytes)!;
    const seq = seqOf(d);
    const retry = ctx.frames.find((f) => f.device === pod.eth0 && f.direction === "tx" && isSyn(f) && seqOf(f) === seq && f.timeNs > d.timeNs);
    const clash = clashes.find((x) => x.loserSrc === facts.src && x.loserSport === facts.sport && x.atNs >= d.timeNs && x.atNs - d.timeNs < 1_000_000);
    const shared = clash?.port ?? null;
    const winner = shared === null ? undefined : out.find((f) => frameFacts(f.bytes)!.sport === shared && Math.abs(f.timeNs - clash!.atNs) < 1_000_000);
    evidence.push(ctx.frameEvidence(d, `${pod.spec.name}'s SYN from :${facts.sport} enters ${node.spec.name} and is dropped at conntrack confirm (insert_failed)`));
    if (winner) evidence.push(ctx.frameEvidence(winner, `the SYN that won: masqueraded to ${formatIpv4(node.spec.internalIP)}:${shared}, the port the dropped one was given too`));
    if (retry) evidence.push(ctx.frameEvidence(retry, `${pod.spec.name} retransmits the SYN ${((retry.timeNs - d.timeNs) / NS_PER_SEC).toFixed(3)} s later (TCP's initial RTO)`));
    mechanism.push(
      `${pod.spec.name} connects from :${facts.sport} to ${formatIpv4(api.spec.ip)}:${SERVER_PORT} (frame ${d.number}); ${node.spec.name} already has a connection to api on ${formatIpv4(node.spec.internalIP)}:${facts.sport}, so MASQUERADE must search for a free port (nf_nat_l4proto_unique_tuple).`,
      `Another SYN is searching on the other CPU at the same moment; both start at the shared rover and both take :${shared ?? "?"} — nf_nat_used_tuple only sees confirmed entries${winner ? ` (the other left as frame ${winner.number})` : ""}.`,
      `At __nf_conntrack_confirm the second finds its reply tuple taken; TCP has no clash resolution, so the SYN is dropped and insert_failed counts it.`,
      `The client hears nothing and retransmits after TCP's initial RTO of 1 s${retry ? ` (frame ${retry.number})` : ""}; the retransmission is a new conntrack entry and gets its own port: connect() took ${retry ? (((retry.timeNs - d.timeNs) / NS_PER_SEC) as number).toFixed(3) : "≥ 1"} s.`,
    );
  }
  if (dropped.length === 0) {
    mechanism.push(
      ctx.fixed
        ? `flannel's MASQUERADE --random-fully draws every connection's port at random (NF_NAT_RANGE_PROTO_RANDOM_FULLY, prandom): two SYNs in flight at once almost never pick the same port, and none of the ${attempts.length} connections lost its SYN.`
        : `No two searching SYNs met between NAT and confirm this run.`,
    );
    const first = out[0];
    if (first) evidence.push(ctx.frameEvidence(first, `a SYN leaves ${node.spec.name} masqueraded to ${formatIpv4(node.spec.internalIP)}:${frameFacts(first.bytes)!.sport}`));
  }
  evidence.push({ frame: null, netns: node.spec.name, device: "conntrack", detail: `conntrack -S: insert_failed=${c.insert_failed} drop=${c.drop}` });
  const symptom = late.length > 0 && c.insert_failed > 0;
  const worst = late.reduce((m, a) => Math.max(m, a.connectedNs < 0 ? Infinity : a.connectedNs - a.startNs), 0);
  const summary = symptom
    ? `${late.length} of ${attempts.length} connections to api:${SERVER_PORT} waited for a SYN retransmission (worst ${Number.isFinite(worst) ? `${(worst / NS_PER_SEC).toFixed(3)} s` : "never connected"}): SYN dropped at conntrack confirm, insert_failed=${c.insert_failed}`
    : `all ${attempts.length - failed.length} of ${attempts.length} connections to api:${SERVER_PORT} connected on the first SYN; insert_failed=${c.insert_failed}`;
  return {
    symptom,
    summary,
    mechanism,
    evidence,
    counters: { connections: attempts.length, synRetransmitted: late.length, neverConnected: failed.length, droppedSyns: dropped.length, insert_failed: c.insert_failed, drop: c.drop },
  };
}

export const SNAT_PORT_COLLISION: Scenario = {
  name: "snat-port-collision",
  number: 2,
  symptom: "random 1 s connect delays under load to one destination outside the cluster",
  issues: ["flannel-io/flannel#1001", "flannel-io/flannel#1004", "projectcalico/calico#2073"],
  fix: "MASQUERADE --random-fully in flannel's rules (NF_NAT_RANGE_PROTO_RANDOM_FULLY)",
  notes: [
    "nf_nat_core.c get_unique_tuple: MASQUERADE keeps the source port unless nf_nat_used_tuple says the reply tuple is taken",
    "nf_nat_used_tuple → nf_conntrack_tuple_taken looks in the hash: only confirmed entries count",
    "nf_nat_proto_common.c nf_nat_l4proto_unique_tuple before 6ed5943f8735 (4.19): off = *rover, shared by every CPU",
    "__nf_conntrack_confirm: a taken reply tuple is a clash; TCP has no allow_clash, so NF_DROP and insert_failed",
    "TCP: a SYN without answer is retransmitted after TCP_TIMEOUT_INIT (1 s), then 2 s, 4 s … (tcp_syn_retries 6)",
    "needs two CPUs (nodeCPUs 2, netdev/softirq.ts); on podwire's default kernel the search starts at get_random_u16() and two at once rarely meet",
    "the pods' narrowed ip_local_port_range stands in for the port reuse of a busy node; flannel is the masquerader, so every proxy mode shows it",
  ],
  yaml: YAML,
  modes: ["iptables", "ipvs", "nftables"],
  run,
};
