/**
 * Scenario 6: long transfers through a Service die with "connection reset by peer".
 *
 * A client Pod downloads a file from a Pod behind a ClusterIP on another node. A flaky link
 * on the server's node duplicates a few frames and delivers the copies a millisecond late,
 * by which time the transfer has moved several windows on. On the client's node the late
 * copy is under the window's lower bound, and the kernels of #74839's day (before 6.1)
 * mark it INVALID (tcp_in_window, nf_conntrack_proto_tcp.c). An INVALID packet has no
 * conntrack entry, so NAT leaves it alone: it is forwarded to the client with the server
 * Pod's address as its source instead of the ClusterIP. The client has no socket for that
 * address and answers with a RST — which reaches the server Pod through its own node's
 * conntrack entry (there the flow was never NATed) and resets the connection. The client's
 * next ACK then meets no socket on the server, and the RST that answers it comes back
 * through the Service: "connection reset by peer".
 *
 * The fix: kube-proxy v1.15's `-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP`
 * (kubernetes/kubernetes#74840), or nf_conntrack_tcp_be_liberal=1 (kube-proxy's
 * conntrack.tcpBeLiberal), which the nftables mode relies on: it writes no INVALID drop.
 * IPVS mode is not affected: ip_vs_out gives the server's replies the virtual address back
 * from IPVS's own connection table, whatever conntrack thought of them.
 */
import { formatIpv4, ipv4 } from "../../base/index.js";
import type { KubeProxyFlags } from "../../cluster/services.js";
import { LinkImpairment } from "../../netdev/index.js";
import { TCP_RST } from "../../wire/index.js";
import { Download, serveBulk } from "../bulk-transfer.js";
import type { ScenarioContext } from "../context.js";
import { frameFacts, frameTcpSeq } from "../frame-facts.js";
import type { LoggedFrame } from "../frame-log.js";
import type { Scenario, ScenarioEvidence, ScenarioFindings } from "../types.js";
import { THREE_NODES } from "../cluster-yaml.js";

const YAML = `apiVersion: podwire.dev/v1alpha1
kind: Cluster
metadata: {name: invalid-rst}
spec:
  # The nodes of kubernetes/kubernetes#74839 ran 4.x kernels: before 6.1, tcp_in_window
  # marks a late duplicate under the window's lower bound INVALID (6.1 ignores it).
  kernelVersion: "4.19.0"
---
${THREE_NODES}---
# A file server on worker-2 (it serves 1 MiB per request on port 8080).
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

const SIZE = 1 << 20;
/** worker-2's link duplicates 1 % of its frames, the copy 1 ms late. */
const DUPLICATE = 0.01;
const DUPLICATE_DELAY_NS = 1_000_000;
const LIMIT_NS = 30_000_000_000;

function tcpSeq(f: LoggedFrame): number {
  return frameTcpSeq(f.bytes);
}

function run(ctx: ScenarioContext): ScenarioFindings {
  // The broken kube-proxy: before v1.15 in iptables mode; nftables mode writes no INVALID drop at all.
  const flags: KubeProxyFlags = ctx.mode === "iptables" ? (ctx.fixed ? {} : { dropInvalid: false }) : ctx.fixed ? { conntrackTCPLiberal: true } : {};
  const { cluster, services } = ctx.boot(undefined, flags);
  const files = cluster.pods.get("default/files")!;
  const client = cluster.pods.get("default/client")!;
  const w1 = cluster.node("worker-1")!;
  const w2 = cluster.node("worker-2")!;
  const vipText = services.service("default", "files")!.clusterIP!;
  const vip = ipv4(vipText);
  const server = serveBulk(files.ns, 8080, SIZE);
  const flaky = new LinkImpairment({ duplicate: DUPLICATE, duplicateDelayNs: DUPLICATE_DELAY_NS, seed: ctx.seed });
  w2.eth0.impairment = flaky;
  const invalidBefore = w1.netfilter.conntrack.stats.invalid;
  ctx.annotate(`client downloads ${SIZE} bytes from ${vipText}:80`);
  const sim = cluster.sim;
  const d = new Download(client.ns, vip, 80, SIZE);
  const end = sim.now() + LIMIT_NS;
  while (!d.done && sim.now() < end) sim.run(Math.min(end, sim.now() + 10_000_000));
  sim.run(sim.now() + 1_000_000_000); // what is still in flight settles
  w2.eth0.impairment = null;

  const evidence: ScenarioEvidence[] = [];
  const mechanism: string[] = [];
  const filesIp = files.spec.podIP;
  const f = ctx.frames;
  // The client's eth0: a segment from the server Pod's own address (not un-NATed).
  const raw = f.find((x) => x.device === client.eth0 && x.direction === "rx" && frameFacts(x.bytes)?.src === filesIp);
  const rst = raw ? f.find((x) => x.device === client.eth0 && x.direction === "tx" && frameFacts(x.bytes)?.dst === filesIp && ((frameFacts(x.bytes)!.tcpFlags & TCP_RST) !== 0), raw.number) : null;
  const finalRst = f.find((x) => x.device === client.eth0 && x.direction === "rx" && frameFacts(x.bytes)?.src === vip && ((frameFacts(x.bytes)!.tcpFlags & TCP_RST) !== 0));
  // Late copies arriving at worker-1: a data segment from the server seen a second time on flannel.1.
  const seen = new Map<number, LoggedFrame>();
  let late: { copy: LoggedFrame; original: LoggedFrame } | null = null;
  for (const x of f.frames) {
    if (x.device !== w1.flannel || x.direction !== "rx") continue;
    const ff = frameFacts(x.bytes);
    if (ff === null || ff.src !== filesIp || ff.payloadLen === 0) continue;
    const seq = tcpSeq(x);
    const first = seen.get(seq);
    if (first !== undefined && late === null && x.timeNs - first.timeNs >= DUPLICATE_DELAY_NS) late = { copy: x, original: first };
    if (first === undefined) seen.set(seq, x);
  }
  const dropRule = w1.netfilter.ruleset.tables.get("filter")?.chains.get("KUBE-FORWARD")?.rules.find((r) => r.target.kind === "DROP" && r.matches.some((m) => m.module === "conntrack"));
  const invalid = w1.netfilter.conntrack.stats.invalid - invalidBefore;
  const counters: Record<string, number> = {
    bytesReceived: d.received,
    bytesExpected: SIZE,
    framesDuplicated: flaky.duplicated,
    conntrackInvalid: invalid,
    clientOutRsts: f.filter((x) => x.device === client.eth0 && x.direction === "tx" && ((frameFacts(x.bytes)?.tcpFlags ?? 0) & TCP_RST) !== 0).length,
    serverResets: server.resets,
  };
  if (dropRule) counters.kubeForwardInvalidDropped = dropRule.counters.packets;

  if (late) {
    evidence.push(ctx.frameEvidence(late.original, "a data segment from the server Pod reaches worker-1"));
    evidence.push(ctx.frameEvidence(late.copy, `the same segment again, ${((late.copy.timeNs - late.original.timeNs) / 1e6).toFixed(1)} ms later (worker-2's link duplicated it)`));
    mechanism.push(
      `worker-2's link duplicated a data segment: it reached worker-1 first in frame ${late.original.number} and again ${((late.copy.timeNs - late.original.timeNs) / 1e6).toFixed(1)} ms later in frame ${late.copy.number}, after the transfer had moved more than a window on.`,
    );
  }
  if (raw) {
    evidence.push(ctx.frameEvidence(raw, `the late copy reaches the client from ${formatIpv4(filesIp)}:8080 — the Pod's address, not the ClusterIP`));
    mechanism.push(
      `worker-1 runs Linux 4.19: tcp_in_window found the copy under the window's lower bound ("SEQ is under the lower bound (already ACKed data retransmitted)") and marked it INVALID (conntrack invalid +${invalid}). INVALID packets have no conntrack entry, so the DNAT was not reversed${ctx.mode === "iptables" ? ", and this kube-proxy (before v1.15) has no INVALID drop in KUBE-FORWARD" : ", and kube-proxy's nftables mode drops no INVALID packets"}: the client got it from ${formatIpv4(filesIp)}:8080 (frame ${raw.number}).`,
    );
  }
  if (rst) {
    evidence.push(ctx.frameEvidence(rst, `the client has no socket for ${formatIpv4(filesIp)}:8080 and answers with a RST`));
    mechanism.push(
      `The client's socket is connected to ${vipText}:80, so the kernel found none for ${formatIpv4(filesIp)}:8080 and sent a RST (frame ${rst.number}). On worker-2 the flow was never NATed, so the RST matched its conntrack entry and reset the server's socket (server resets: ${server.resets}).`,
    );
  }
  if (finalRst) {
    evidence.push(ctx.frameEvidence(finalRst, `a RST from ${vipText}:80: connection reset by peer`));
    mechanism.push(`The client's next ACK found no socket on the server; the RST answering it came back through the Service (frame ${finalRst.number}): the download died with "connection reset by peer" after ${d.received} of ${SIZE} bytes.`);
  }
  if (d.completedAt !== null) {
    if (ctx.mode === "iptables") {
      mechanism.push(
        `kube-proxy's \`-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\` dropped the late INVALID copies on worker-1 (${dropRule?.counters.packets ?? 0} packets) before they could reach the client: the transfer completed.`,
      );
    } else {
      mechanism.push(`With nf_conntrack_tcp_be_liberal=1 (kube-proxy's conntrack.tcpBeLiberal) conntrack accepted the late copies (conntrack invalid +${invalid}), reversed their DNAT, and the client took them as duplicates: the transfer completed.`);
    }
    evidence.push({ frame: null, netns: w1.spec.name, device: "conntrack", detail: `conntrack -S invalid +${invalid} during the transfer` });
  }
  const symptom = d.completedAt === null;
  const took = ((d.completedAt ?? d.resetAt ?? sim.now()) - d.startedAt) / 1e6;
  const summary = symptom
    ? `the download from ${vipText} died after ${d.received} of ${SIZE} bytes: ${d.resetAt !== null ? `connection reset by peer at ${took.toFixed(1)} ms` : "it never completed"}`
    : `the download from ${vipText} completed: ${SIZE} bytes in ${took.toFixed(1)} ms${d.intact ? "" : " (but corrupted)"}`;
  return { symptom, summary, mechanism, evidence, counters };
}

export const INVALID_RST: Scenario = {
  name: "invalid-rst",
  number: 6,
  symptom: 'long transfers through a Service die with "connection reset by peer"',
  issues: ["kubernetes/kubernetes#74839", "kubernetes/kubernetes#74840", "kubernetes/kubernetes#117924"],
  fix: "kube-proxy's -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP (v1.15, iptables mode); nf_conntrack_tcp_be_liberal=1 (nftables mode)",
  notes: [
    "net/netfilter/nf_conntrack_proto_tcp.c tcp_in_window: before 6.1 (\"netfilter: conntrack: ignore overly delayed tcp packets\") a segment under the window's lower bound is INVALID; since, it is ignored",
    "nf_conntrack_in: an INVALID packet keeps no conntrack entry, so nf_nat never reverses its DNAT",
    "pkg/proxy/iptables/proxier.go (PR #74840, v1.15): -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP, left out when conntrack.tcpBeLiberal is set (PR #120412)",
    "nftables mode writes no INVALID drop (PR #122663): nf_conntrack_tcp_be_liberal is the fix there",
    "IPVS mode is left out: ip_vs_out un-NATs the server's replies from IPVS's own connection table, whatever conntrack's verdict",
    "the late copies come from a link impairment on worker-2's eth0 (netdev/impair.ts): 1 % of frames duplicated, the copy 1 ms late",
  ],
  yaml: YAML,
  modes: ["iptables", "nftables"],
  run,
};
