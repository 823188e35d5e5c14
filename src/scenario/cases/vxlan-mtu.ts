/**
 * Scenario 8: the handshake works, large payloads hang across nodes.
 *
 * The CNI config gives the Pods the node network's MTU (1500) instead of flannel's 1450,
 * so their TCP announces MSS 1460 and sends 1500-byte segments with DF set. The Pods'
 * own link takes them, but the node routes them into flannel.1, whose MTU leaves room for
 * VXLAN's 50 bytes of outer headers: ip_forward finds 1500 > 1450 with DF and answers with
 * ICMP "fragmentation needed" (mtu 1450), the packet dropped. That ICMP is what would save
 * the connection (the sender's tcp_v4_err → tcp_v4_mtu_reduced lowers the MSS and resends
 * at once); here the nodes' host firewall drops outgoing ICMP "fragmentation needed" — the
 * PMTU discovery black hole of RFC 2923 — so the sender never learns: it retransmits the
 * same 1500-byte segment on its RTO backoff and nothing beyond the small request and the
 * handshake ever arrives.
 *
 * The fix: the right Pod MTU, the node MTU less the VXLAN overhead (cni `mtu: 1450`, what
 * flannel writes into subnet.env as FLANNEL_MTU); or clamping the MSS to the path MTU.
 */
import { ipv4 } from "../../base/index.js";
import { applyRestore } from "../../netfilter/apply-restore.js";
import { parseRestore } from "../../netfilter/restore-parse.js";
import { TCP_OPT_MSS, get16, tcpOptionValue } from "../../wire/index.js";
import { Download, serveBulk } from "../bulk-transfer.js";
import type { ScenarioContext } from "../context.js";
import { frameFacts, frameL4Offset, frameTcpSeq } from "../frame-facts.js";
import type { LoggedFrame } from "../frame-log.js";
import type { Scenario, ScenarioEvidence, ScenarioFindings } from "../types.js";
import { THREE_NODES } from "../cluster-yaml.js";

const YAML = `apiVersion: podwire.dev/v1alpha1
kind: Cluster
metadata: {name: vxlan-mtu}
spec:
  overlay: vxlan
  nodeMTU: 1500
  cni:
    # Misconfigured: the node network's MTU. flannel.1 takes 1500 - 50 = 1450.
    mtu: 1500
---
${THREE_NODES}---
# A file server on worker-2 (256 KiB per request on port 8080) and a client on worker-1.
apiVersion: v1
kind: Pod
metadata: {name: files, namespace: default, labels: {app: files}}
spec: {nodeName: worker-2, containers: [{name: files}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default}
spec: {nodeName: worker-1, containers: [{name: c}]}
---
apiVersion: v1
kind: Service
metadata: {name: files, namespace: default}
spec:
  selector: {app: files}
  ports: [{name: http, port: 80, targetPort: 8080}]
`;

/** The nodes' host firewall (applied by the scenario on every node): outgoing ICMP "fragmentation needed" dropped. */
export const BLOCK_FRAG_NEEDED = `*filter
:OUTPUT ACCEPT [0:0]
-A OUTPUT -p icmp -m icmp --icmp-type 3/4 -j DROP
COMMIT
`;

const SIZE = 256 * 1024;
const LIMIT_NS = 30_000_000_000;

/** The MSS option of a SYN frame (0 when it has none). */
function synMss(f: LoggedFrame): number {
  const mss = tcpOptionValue(f.bytes, frameL4Offset(f.bytes), TCP_OPT_MSS, 4);
  return mss < 0 ? 0 : get16(f.bytes, mss);
}

function tcpSeq(f: LoggedFrame): number {
  return frameTcpSeq(f.bytes);
}

/** The scenario; `blockIcmp: false` leaves out the host firewall (then PMTU discovery recovers the transfer). */
export function runVxlanMtu(ctx: ScenarioContext, opts: { blockIcmp: boolean } = { blockIcmp: true }): ScenarioFindings {
  const { cluster, services } = ctx.boot((spec) => {
    // The fix: the Pods' MTU leaves room for VXLAN's 50 bytes (flannel's FLANNEL_MTU).
    if (ctx.fixed) spec.nodeSettings = { ...spec.nodeSettings, cniMtu: spec.nodeMTU - 50 };
  });
  if (opts.blockIcmp) {
    for (const node of cluster.nodes.values()) {
      applyRestore(node.netfilter.ruleset, parseRestore(BLOCK_FRAG_NEEDED, "host firewall"), { noflush: true });
      node.netfilter.setRuleset(node.netfilter.ruleset);
    }
  }
  const files = cluster.pods.get("default/files")!;
  const client = cluster.pods.get("default/client")!;
  const w2 = cluster.node("worker-2")!;
  const vipText = services.service("default", "files")!.clusterIP!;
  serveBulk(files.ns, 8080, SIZE);
  ctx.annotate(`client downloads ${SIZE} bytes from ${vipText}:80`);
  const sim = cluster.sim;
  const d = new Download(client.ns, ipv4(vipText), 80, SIZE);
  const end = sim.now() + LIMIT_NS;
  while (!d.done && sim.now() < end) sim.run(Math.min(end, sim.now() + 100_000_000));
  const server = files.ns.tcp;

  const f = ctx.frames;
  const evidence: ScenarioEvidence[] = [];
  const mechanism: string[] = [];
  const syn = f.find((x) => x.device === client.eth0 && x.direction === "tx" && ((frameFacts(x.bytes)?.tcpFlags ?? 0) & 0x12) === 0x02);
  const synAck = f.find((x) => x.device === files.eth0 && x.direction === "tx" && ((frameFacts(x.bytes)?.tcpFlags ?? 0) & 0x12) === 0x12);
  const mss = syn ? synMss(syn) : 0;
  if (syn) evidence.push(ctx.frameEvidence(syn, `the client's SYN announces MSS ${mss} (its eth0 MTU ${client.eth0!.mtu} − 40)`));
  const dataOut = f.filter((x) => x.device === files.eth0 && x.direction === "tx" && (frameFacts(x.bytes)?.payloadLen ?? 0) > 0);
  const biggest = dataOut.reduce((m, x) => Math.max(m, frameFacts(x.bytes)!.ipLen), 0);
  const first = dataOut[0] ?? null;
  const flannelMtu = w2.flannel!.mtu;
  const fragNeeded = w2.ns.stats.drops.get("frag-needed") ?? 0;
  const blockRule = w2.netfilter.ruleset.tables.get("filter")!.chains.get("OUTPUT")!.rules.find((r) => r.target.kind === "DROP" && r.matches.some((m) => m.module === "icmp"));
  const icmpBlocked = blockRule?.counters.packets ?? 0;
  const counters: Record<string, number> = {
    bytesReceived: d.received,
    bytesExpected: SIZE,
    largestSegmentIpBytes: biggest,
    flannelMtu,
    fragNeededDrops: fragNeeded,
    icmpFragNeededBlocked: icmpBlocked,
    serverRetransSegs: server.retransmittedSegments,
  };
  if (first) {
    const ff = frameFacts(first.bytes)!;
    evidence.push(ctx.frameEvidence(first, `a ${ff.ipLen}-byte segment with DF set, from a Pod whose MTU is ${files.eth0!.mtu}`));
    mechanism.push(
      `The Pods' MTU is ${files.eth0!.mtu}: the client's SYN announced MSS ${mss}${syn ? ` (frame ${syn.number})` : ""}, so the server sends ${ff.ipLen}-byte segments with DF set (frame ${first.number}); the handshake and the request, all small, went through${synAck ? ` (SYN-ACK frame ${synAck.number})` : ""}.`,
    );
  }
  if (fragNeeded > 0) {
    const onFlannel = first ? f.find((x) => x.device === w2.flannel && x.direction === "tx" && frameFacts(x.bytes)?.ipLen === frameFacts(first.bytes)!.ipLen, first.number) : null;
    evidence.push({
      frame: null,
      netns: w2.spec.name,
      device: "flannel.1",
      detail: `ip_forward: ${fragNeeded} packets bigger than flannel.1's MTU ${flannelMtu} with DF set — dropped, ICMP fragmentation needed (mtu ${flannelMtu}) sent${onFlannel ? "" : "; none of them left on flannel.1"}`,
    });
    mechanism.push(
      `worker-2 routes them into flannel.1, whose MTU is ${flannelMtu} (the node's ${cluster.spec.nodeMTU} less VXLAN's 50 bytes): ip_forward drops each one and answers with ICMP "fragmentation needed" (mtu ${flannelMtu}) — ${fragNeeded} times.`,
    );
  }
  if (icmpBlocked > 0 && fragNeeded > 0) {
    evidence.push({ frame: null, netns: w2.spec.name, device: "OUTPUT", detail: `-A OUTPUT -p icmp -m icmp --icmp-type 3/4 -j DROP: ${icmpBlocked} packets — the ICMP never reaches the server` });
    mechanism.push(
      `The nodes' host firewall drops outgoing ICMP "fragmentation needed" (${icmpBlocked} dropped at OUTPUT): the server's TCP never learns the path MTU (no tcp_v4_mtu_reduced), so it keeps its MSS.`,
    );
    if (first) {
      const seq = tcpSeq(first);
      const again = dataOut.filter((x) => x !== first && tcpSeq(x) === seq);
      if (again.length > 0) {
        const times = again.map((x) => `${((x.timeNs - first.timeNs) / 1e9).toFixed(1)} s`);
        evidence.push(ctx.frameEvidence(again[0]!, `the same ${frameFacts(first.bytes)!.ipLen}-byte segment again after the RTO (${again.length} retransmissions in all)`));
        mechanism.push(`The server retransmits the first segment unchanged on its RTO backoff — after ${times.join(", ")} (frame ${again[0]!.number} and on) — and each copy is dropped the same way: the download hangs with ${d.received} of ${SIZE} bytes.`);
      }
    }
  }
  if (d.completedAt !== null && fragNeeded > 0) {
    mechanism.push(
      `The ICMP reached the server: tcp_v4_mtu_reduced lowered the path MTU to ${flannelMtu} and the MSS with it, and the dropped segments were sent again at once, smaller (${server.retransmittedSegments} retransmitted): the transfer completed, only a little late.`,
    );
  } else if (d.completedAt !== null) {
    mechanism.push(
      `With the Pods' MTU at ${files.eth0!.mtu} (flannel's FLANNEL_MTU), the SYN announces MSS ${mss} and the largest segment is ${biggest} bytes: it fits flannel.1's ${flannelMtu}, nothing needs fragmenting, and the firewall's ICMP rule never matters (${icmpBlocked} dropped).`,
    );
    const through = f.find((x) => x.device === w2.flannel && x.direction === "tx" && frameFacts(x.bytes)?.ipLen === biggest);
    if (through) evidence.push(ctx.frameEvidence(through, `a ${biggest}-byte segment leaves on flannel.1: within its MTU ${flannelMtu}`));
  }
  const symptom = d.completedAt === null;
  const took = ((d.completedAt ?? sim.now()) - d.startedAt) / 1e9;
  const summary = symptom
    ? `the handshake and the request went through, the response did not: ${d.received} of ${SIZE} bytes after ${took.toFixed(0)} s — segments of ${biggest} bytes do not fit flannel.1's MTU ${flannelMtu} and the ICMP that says so is dropped`
    : `the download completed: ${SIZE} bytes in ${(took * 1e3).toFixed(2)} ms, segments of at most ${biggest} bytes within flannel.1's MTU ${flannelMtu}`;
  return { symptom, summary, mechanism, evidence, counters };
}

export const VXLAN_MTU: Scenario = {
  name: "vxlan-mtu",
  number: 8,
  symptom: "the handshake works, large payloads hang across nodes",
  issues: ["flannel-io/flannel#1614", "flannel-io/flannel#897"],
  fix: "the Pods' MTU = node MTU − 50 (cni mtu 1450, flannel's FLANNEL_MTU); or clamp the MSS to the path MTU",
  notes: [
    "net/ipv4/ip_forward.c ip_forward: a DF packet bigger than the out device's MTU (ip_exceeds_mtu) is dropped with ICMP_FRAG_NEEDED carrying that MTU",
    "net/ipv4/tcp_ipv4.c tcp_v4_err → tcp_v4_mtu_reduced: the sender lowers the route's PMTU and its MSS and resends at once (tcp_simple_retransmit) — if the ICMP arrives",
    "RFC 2923 §2.1: with that ICMP filtered, the sender retransmits the same oversized segment on its RTO backoff forever (the PMTUD black hole); tcp_mtu_probing is 0 by default",
    "flannel writes FLANNEL_MTU = the external interface's MTU − 50 for VXLAN (backend/vxlan; flannel PR #897 made it report the device's real MTU); the bridge CNI plugin takes it as mtu",
    "the ICMP block is a host firewall rule the scenario adds on every node: -A OUTPUT -p icmp -m icmp --icmp-type 3/4 -j DROP",
  ],
  yaml: YAML,
  modes: ["iptables", "ipvs", "nftables"],
  run: (ctx) => runVxlanMtu(ctx),
};
