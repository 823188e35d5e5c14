/**
 * Scenario 9: connections from a node to a ClusterIP take 63 s when the endpoint is on
 * another node over VXLAN.
 *
 * A process on the node (hostNetwork: a kubelet probe, `curl` from the node) connects to a
 * ClusterIP. kube-proxy DNATs it to an endpoint on another node and marks it for masquerade
 * (the source is not in the cluster CIDR); KUBE-POSTROUTING masquerades it to flannel.1's
 * address with `--random-fully`. flannel.1 wraps the packet in VXLAN — and the outer UDP
 * packet keeps the skb's mark (skb_scrub_packet within one namespace keeps it), so the old
 * kube-proxy's KUBE-POSTROUTING, which did not clear the mark, masquerades the outer packet
 * too: same address, a new random source port. That is the double NAT.
 *
 * flannel's VXLAN sends no outer UDP checksum (0), and with tx checksum offload on flannel.1
 * the skb is still CHECKSUM_PARTIAL for the inner TCP checksum. udp_manip_pkt took "check
 * != 0 or CHECKSUM_PARTIAL" as "has a checksum" and folded the NAT into the 0, writing
 * 0xffff (CSUM_MANGLED_0) — a checksum the receiving node checks, finds wrong, and drops
 * (UDP InCsumErrors). The SYN is retransmitted at 1, 3, 7, 15 and 31 s, each time through
 * the outer conntrack entry and its NAT binding; only the entry's expiry (30 s unreplied,
 * nf_conntrack_udp_timeout) lets the 63 s retransmission through unNATed: the retransmitted
 * SYN carries no mark, because the nat table that marks it runs only for a new connection.
 */
import { NS_PER_SEC } from "../../base/clock.js";
import { formatIpv4, parseIpv4 } from "../../base/index.js";
import type { TcpConnection } from "../../netns/index.js";
import { IPPROTO_TCP, IPPROTO_UDP, VXLAN_PORT, udp } from "../../wire/index.js";
import type { ScenarioContext } from "../context.js";
import { frameFacts, frameL4Offset } from "../frame-facts.js";
import type { LoggedFrame } from "../frame-log.js";
import type { Scenario, ScenarioEvidence, ScenarioFindings } from "../types.js";
import { THREE_NODES } from "../cluster-yaml.js";

const YAML = `apiVersion: podwire.dev/v1alpha1
kind: Cluster
metadata: {name: double-nat-checksum}
spec:
  # A kernel before "netfilter: nat: never update the UDP checksum when it's 0" (5.4.41).
  kernelVersion: "5.4.40"
  # kube-proxy v1.18.0 (podwire flag unmarkBeforeMasquerade: false): KUBE-POSTROUTING
  # masquerades with --random-fully and leaves the mark on (kubernetes/kubernetes#92035).
  # flannel.1 has tx checksum offload on, as a VXLAN device does by default.
---
${THREE_NODES}---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web}}
spec: {nodeName: worker-2, containers: [{name: web, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
`;

/** How long the node's client waits before giving up (longer than the 63 s it takes). */
const GIVE_UP_S = 130;

/** The outer UDP checksum of a VXLAN frame: its value and whether it verifies. */
function outerUdpChecksum(f: LoggedFrame): { value: number; valid: boolean } | null {
  const b = f.bytes;
  const facts = frameFacts(b);
  if (facts === null || facts.proto !== IPPROTO_UDP || facts.dport !== VXLAN_PORT) return null;
  const l4 = frameL4Offset(b);
  const value = udp.checksum(b, l4);
  return { value, valid: udp.verifyChecksum(b, l4, facts.src, facts.dst) };
}

function run(ctx: ScenarioContext): ScenarioFindings {
  const { cluster, services } = ctx.boot(undefined, { unmarkBeforeMasquerade: false });
  const sim = cluster.sim;
  const client = cluster.node("worker-1")!;
  const server = cluster.node("worker-2")!;
  const web = cluster.pod("default", "web")!;
  const vip = parseIpv4(services.service("default", "web")!.clusterIP ?? "");
  if (ctx.fixed) {
    // The workaround flannel and kube-proxy users applied: ethtool -K flannel.1 tx-checksum-ip-generic off.
    for (const n of cluster.nodes.values()) if (n.flannel !== null) n.flannel.txChecksumOffload = false;
  }
  const drops0 = server.ns.stats.drops.get("udp-checksum") ?? 0;
  ctx.annotate(`worker-1: curl http://${formatIpv4(vip)}/ (the web Service's ClusterIP)`);
  const start = sim.now();
  let connectedAt = -1;
  let response = "";
  const conn: TcpConnection = client.ns.tcp.connect(vip, 80, {
    onConnected: (c) => {
      connectedAt = sim.now();
      c.send(new TextEncoder().encode(`GET / HTTP/1.1\r\nHost: ${formatIpv4(vip)}\r\n\r\n`));
    },
    onData: (_c, d) => (response += new TextDecoder().decode(d)),
    onPeerClosed: (c) => c.close(),
  });
  sim.run(start + GIVE_UP_S * NS_PER_SEC);
  if (conn.state === "SYN_SENT") conn.close();
  const udpCsumErrors = (server.ns.stats.drops.get("udp-checksum") ?? 0) - drops0;

  // The VXLAN frames worker-1 sent toward worker-2, with their outer checksums.
  const outer = ctx.frames.filter((f) => f.device === client.eth0 && f.direction === "tx" && frameFacts(f.bytes)?.inner !== null && frameFacts(f.bytes)?.dport === VXLAN_PORT);
  const badOuter = outer.filter((f) => outerUdpChecksum(f)?.valid === false);
  // Every frame of the capture with a bad checksum: the same datagrams on each device they cross.
  const expectedBad = ctx.frames.filter((f) => outerUdpChecksum(f)?.valid === false).map((f) => f.number);
  const syns = ctx.frames.filter((f) => f.device === client.eth0 && f.direction === "tx" && ((frameFacts(f.bytes)?.inner?.tcpFlags ?? 0) & 0x12) === 0x02);
  const atServer = ctx.frames.find((f) => f.device === web.eth0 && f.direction === "rx" && frameFacts(f.bytes)?.proto === IPPROTO_TCP);
  const evidence: ScenarioEvidence[] = [];
  const mechanism: string[] = [];
  const took = connectedAt < 0 ? Infinity : connectedAt - start;
  const firstSyn = syns[0];
  const inner = firstSyn ? frameFacts(firstSyn.bytes)!.inner! : null;
  if (firstSyn && inner) {
    const o = frameFacts(firstSyn.bytes)!;
    const cs = outerUdpChecksum(firstSyn)!;
    evidence.push(ctx.frameEvidence(firstSyn, `the SYN, double-NATed: inner ${formatIpv4(inner.src)}:${inner.sport} (masqueraded), outer UDP :${o.sport} with checksum 0x${cs.value.toString(16).padStart(4, "0")} (${cs.valid ? "valid" : "wrong"})`));
    mechanism.push(
      `worker-1 connects to ${formatIpv4(vip)}:80; ${ctx.mode === "ipvs" ? "IPVS (LOCAL_OUT) DNATs it" : "KUBE-SERVICES DNATs it"} to web ${formatIpv4(web.spec.podIP)}:8080 on worker-2 and ${ctx.mode === "ipvs" ? "KUBE-SERVICES marks it (KUBE-CLUSTER-IP, the source" : "marks it (the source"} ${formatIpv4(client.spec.internalIP)} is not in the cluster CIDR); KUBE-POSTROUTING masquerades it to flannel.1's ${formatIpv4(inner.src)} with --random-fully (:${inner.sport}).`,
      `flannel.1 encapsulates it; the outer packet keeps the mark, and kube-proxy v1.18's KUBE-POSTROUTING (no --xor-mark) masquerades it again: same address, a random UDP source port (:${o.sport}) — the second NAT (frame ${firstSyn.number}).`,
    );
    if (!cs.valid) {
      mechanism.push(
        `VXLAN sends the outer UDP checksum as 0, but flannel.1's tx checksum offload leaves the skb CHECKSUM_PARTIAL (for the inner TCP checksum); kernel 5.4.40's udp_manip_pkt therefore "updates" the 0 and writes CSUM_MANGLED_0, 0x${cs.value.toString(16)}: a checksum claimed and wrong.`,
        `worker-2 verifies it and drops the datagram (UDP InCsumErrors: ${udpCsumErrors}); the SYN never reaches web.`,
      );
    } else {
      mechanism.push(`With tx-checksum-ip-generic off, flannel.1's checksums are done in software before encapsulation: the skb is no longer CHECKSUM_PARTIAL, udp_manip_pkt leaves the 0 checksum alone, and worker-2 takes the datagram (frame ${atServer?.number ?? "?"} reaches web).`);
    }
  }
  for (const s of syns.slice(1)) {
    const cs = outerUdpChecksum(s)!;
    const at = ((s.timeNs - (firstSyn?.timeNs ?? 0)) / NS_PER_SEC).toFixed(0);
    evidence.push(ctx.frameEvidence(s, `SYN retransmitted at ${at} s: outer UDP :${frameFacts(s.bytes)!.sport}, checksum 0x${cs.value.toString(16).padStart(4, "0")} (${cs.valid ? "valid" : "wrong"})`));
  }
  if (syns.length > 1) {
    const last = syns[syns.length - 1]!;
    mechanism.push(
      `TCP retransmits the SYN at ${syns.slice(1).map((s) => `${Math.round((s.timeNs - syns[0]!.timeNs) / NS_PER_SEC)} s`).join(", ")} (frames ${syns.slice(1).map((s) => s.number).join(", ")}). Until 31 s each one finds the outer flow's conntrack entry and gets its NAT binding again: the same wrong checksum.`,
      `The entry is unreplied, so it lives 30 s after its last packet (nf_conntrack_udp_timeout): gone by the 63 s retransmission (frame ${last.number}). That SYN has no mark — the nat table that sets it runs only for a new inner connection — so the new outer entry is not masqueraded, its checksum stays 0, and it gets through (1+2+4+8+16+32 = 63).`,
    );
  }
  evidence.push({ frame: null, netns: server.spec.name, device: "udp", detail: `netstat -su: InCsumErrors ${udpCsumErrors}` });
  const ok = response.startsWith("HTTP/1.1 200");
  const symptom = badOuter.length > 0 && took >= NS_PER_SEC;
  const secs = (ns: number): string => (!Number.isFinite(ns) ? "never" : ns >= NS_PER_SEC ? `${(ns / NS_PER_SEC).toFixed(3)} s` : `${(ns / 1e6).toFixed(3)} ms`);
  const summary = symptom
    ? `curl from worker-1 to ${formatIpv4(vip)}:80 connected after ${secs(took)}${ok ? "" : " and got no answer"}: ${badOuter.length} VXLAN datagrams with a wrong outer UDP checksum dropped by worker-2 (InCsumErrors ${udpCsumErrors})`
    : `curl from worker-1 to ${formatIpv4(vip)}:80 connected after ${secs(took)}${ok ? " and got HTTP 200" : ""}; every outer UDP checksum valid`;
  return {
    symptom,
    summary,
    mechanism,
    evidence,
    counters: { connectSeconds: Number.isFinite(took) ? Math.round(took / 1e6) / 1e3 : -1, synRetransmits: conn.synRetransmits, badOuterChecksums: badOuter.length, InCsumErrors: udpCsumErrors },
    expectedBadChecksums: expectedBad,
  };
}

export const DOUBLE_NAT_CHECKSUM: Scenario = {
  name: "double-nat-checksum",
  number: 9,
  symptom: "connections from a node to a ClusterIP over VXLAN take 63 s",
  issues: ["kubernetes/kubernetes#88986", "kubernetes/kubernetes#91519", "projectcalico/calico#3145"],
  fix: "ethtool -K flannel.1 tx-checksum-ip-generic off (or a kernel with ea64d8d6c675, or kube-proxy ≥ v1.19's --xor-mark)",
  notes: [
    "nf_nat_proto.c udp_manip_pkt before ea64d8d6c675 (5.7; 5.4.41, 4.19.123): do_csum = check || ip_summed == CHECKSUM_PARTIAL",
    "__udp_manip_pkt: inet_proto_csum_replace4/2 on a CHECKSUM_PARTIAL skb, then a 0 result becomes CSUM_MANGLED_0 (0xffff)",
    "vxlan: udp_tunnel_xmit_skb with no outer checksum (flannel sets no udpcsum); skb_scrub_packet keeps skb->mark in one netns",
    "kube-proxy before kubernetes/kubernetes#92035 (v1.19; 1.16.13, 1.17.9, 1.18.6): no -j MARK --xor-mark before MASQUERADE",
    "udp_rcv: a non-zero checksum that does not verify is dropped and counted in UDP InCsumErrors",
    "63 s: SYN retransmissions at 1, 3, 7, 15, 31, 63 s; the outer UDP entry (30 s unreplied) expires between 31 and 63 s",
    "iptables and IPVS modes; not nftables: kube-proxy's nftables mode (v1.29+) always clears the mark",
  ],
  yaml: YAML,
  modes: ["iptables", "ipvs"],
  run,
};
