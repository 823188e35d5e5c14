/**
 * Scenario 5: same-node Service calls fail — here DNS to kube-dns from a Pod on CoreDNS's
 * own node — when `net.bridge.bridge-nf-call-iptables` is 0 (br_netfilter not loaded).
 *
 * The query to the ClusterIP is addressed to the Pod's gateway (cni0's MAC), so it goes up
 * to the node's stack and is DNATed there to the CoreDNS Pod. The answer, though, is
 * addressed to the client Pod's own MAC on the same bridge: it is bridged from port to
 * port, and with bridge-nf-call-iptables=0 br_nf_pre_routing returns NF_ACCEPT at once
 * (net/bridge/br_netfilter_hooks.c), so no IPv4 hook — no conntrack, no reverse NAT — sees
 * it. The client receives the answer from the CoreDNS Pod's address instead of the
 * ClusterIP; its resolver socket is connected to the ClusterIP, so the kernel finds no
 * socket for it and answers ICMP port unreachable (__udp4_lib_rcv, UdpNoPorts). The lookup
 * times out. A client on another node is fine: its answer is routed, not bridged.
 */
import { formatIpv4, ipv4 } from "../../base/index.js";
import { udpEnvelope } from "../../cluster/apps.js";
import { DEFAULT_DNS_QUERY } from "../../cluster/exchange.js";
import type { NetworkNamespace } from "../../netns/index.js";
import { DNS_CLASS_IN, DNS_TYPE_A, DnsRepr } from "../../wire/index.js";
import type { ScenarioContext } from "../context.js";
import { frameFacts } from "../frame-facts.js";
import type { Scenario, ScenarioEvidence, ScenarioFindings } from "../types.js";
import { THREE_NODES } from "../cluster-yaml.js";

const YAML = `apiVersion: podwire.dev/v1alpha1
kind: Cluster
metadata: {name: bridge-nf-call-off}
spec:
  sysctls:
    # br_netfilter not loaded (or switched off): bridged frames skip iptables and conntrack.
    net.bridge.bridge-nf-call-iptables: 0
---
${THREE_NODES}---
# CoreDNS behind the kube-dns Service (10.96.0.10), on worker-1.
apiVersion: v1
kind: Pod
metadata: {name: coredns-0, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  nodeName: worker-1
  containers:
  - name: coredns
    ports: [{name: dns, containerPort: 53, protocol: UDP}, {name: dns-tcp, containerPort: 53, protocol: TCP}]
---
# A client on CoreDNS's node, and one on the other node.
apiVersion: v1
kind: Pod
metadata: {name: client-1, namespace: default}
spec: {nodeName: worker-1, containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client-2, namespace: default}
spec: {nodeName: worker-2, containers: [{name: c}]}
`;

/** glibc's resolver defaults (resolv.conf `timeout:5 attempts:2`). */
const RES_TIMEOUT_NS = 5_000_000_000;
const RES_ATTEMPTS = 2;

interface Lookup {
  /** Virtual time the answer from the ClusterIP arrived, or null. */
  answeredAt: number | null;
  startedAt: number;
  attempts: number;
  port: number;
}

/**
 * One lookup as glibc's res_send does it over UDP: a socket connected to the nameserver
 * (so only its answers reach it), a query, `timeout` seconds, then the same query again.
 */
function lookup(ns: NetworkNamespace, server: number, name: string): Lookup {
  const sim = ns.sim;
  const port = ns.ephemeralPort((p) => ns.udpPortInUse(p));
  const id = sim.rng.nextU32() & 0xffff;
  const q: DnsRepr = {
    id,
    flags: { qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, rcode: 0 },
    questions: [{ name, type: DNS_TYPE_A, class: DNS_CLASS_IN }],
    answers: [],
  };
  const bytes = new Uint8Array(DnsRepr.bufferLen(q));
  DnsRepr.emit(q, bytes, 0);
  const result: Lookup = { answeredAt: null, startedAt: sim.now(), attempts: 0, port };
  ns.connectUdp(port, server, 53, {
    onDatagram: (_ns, pkt) => {
      const dns = udpEnvelope(pkt).payload;
      const a = DnsRepr.parse(dns, 0, dns.length);
      if (a.id === id && a.flags.qr && result.answeredAt === null) result.answeredAt = sim.now();
      sim.pool.release(pkt);
    },
  });
  try {
    while (result.answeredAt === null && result.attempts < RES_ATTEMPTS) {
      result.attempts++;
      ns.sendUdp(port, server, 53, bytes);
      sim.run(sim.now() + RES_TIMEOUT_NS);
    }
  } finally {
    ns.unbindUdp(port);
  }
  return result;
}

function run(ctx: ScenarioContext): ScenarioFindings {
  const { cluster, services } = ctx.boot((spec) => {
    // The fix: `modprobe br_netfilter` (and net.bridge.bridge-nf-call-iptables=1), as kubeadm's preflight demands.
    if (ctx.fixed) spec.nodeSettings = { ...spec.nodeSettings, bridgeNfCallIptables: 1 };
  });
  const vip = services.service("kube-system", "kube-dns")!.clusterIP!;
  const coredns = cluster.pods.get("kube-system/coredns-0")!;
  const server = ipv4(vip);
  const node = cluster.node("worker-1")!;
  const evidence: ScenarioEvidence[] = [];
  const mechanism: string[] = [];
  const counters: Record<string, number> = {};
  let failed = 0;
  let wrongSource = 0;
  const outcomes: string[] = [];
  for (const key of ["default/client-1", "default/client-2"]) {
    const client = cluster.pods.get(key)!;
    const sameNode = client.node === coredns.node;
    const start = ctx.frames.frames.length;
    ctx.annotate(`${key} (${client.node.spec.name}) asks kube-dns ${vip} for ${DEFAULT_DNS_QUERY}`);
    const r = lookup(client.ns, server, DEFAULT_DNS_QUERY);
    const onEth0 = (dir: "rx" | "tx") => (f: { device: unknown; direction: string }) => f.device === client.eth0 && f.direction === dir;
    const query = ctx.frames.find((f) => onEth0("tx")(f) && frameFacts(f.bytes)?.dport === 53, start);
    const answers = ctx.frames.filter((f) => f.number > start && onEth0("rx")(f) && frameFacts(f.bytes)?.sport === 53);
    const wrong = answers.filter((f) => frameFacts(f.bytes)!.src !== server);
    const unreach = ctx.frames.find((f) => onEth0("tx")(f) && frameFacts(f.bytes)?.icmpType === 3 && frameFacts(f.bytes)?.icmpCode === 3, start);
    const took = ((r.answeredAt ?? client.ns.sim.now()) - r.startedAt) / 1e9;
    if (r.answeredAt === null) {
      failed++;
      outcomes.push(`${key} (${sameNode ? "same node as CoreDNS" : "other node"}): no answer after ${r.attempts} × 5 s`);
    } else {
      outcomes.push(`${key} (${sameNode ? "same node as CoreDNS" : "other node"}): answered in ${(took * 1e6).toFixed(0)} µs`);
    }
    if (query) evidence.push(ctx.frameEvidence(query, `${key}'s query to kube-dns ${vip}:53`));
    if (wrong.length > 0) {
      wrongSource += wrong.length;
      const w = wrong[0]!;
      const src = formatIpv4(frameFacts(w.bytes)!.src);
      evidence.push(ctx.frameEvidence(w, `the answer arrives from ${src}:53 (the CoreDNS Pod), not from the ClusterIP ${vip}:53`));
      mechanism.push(
        `${key} sent its query to ${vip}:53${query ? ` (frame ${query.number})` : ""}; it went up to ${node.spec.name}'s stack (addressed to cni0's MAC) and was DNATed to CoreDNS ${formatIpv4(coredns.spec.podIP)}:53.`,
        `CoreDNS answered ${key} directly on the same bridge: with bridge-nf-call-iptables=0 the bridge forwarded the answer without calling iptables, so conntrack never reversed the DNAT and ${key} received it from ${src}:53 (frame ${w.number}).`,
      );
      if (unreach) {
        evidence.push(ctx.frameEvidence(unreach, `the resolver's socket is connected to ${vip}:53: no socket for the answer, ICMP port unreachable`));
        mechanism.push(`The resolver's socket is connected to ${vip}:53, so the kernel found no socket for it and sent ICMP port unreachable back (frame ${unreach.number}); the resolver retried after 5 s and gave up.`);
      }
    } else if (r.answeredAt !== null) {
      const ok = answers.find((f) => frameFacts(f.bytes)!.src === server);
      if (ok) evidence.push(ctx.frameEvidence(ok, `the answer comes from the ClusterIP ${vip}:53`));
      mechanism.push(
        sameNode
          ? `${key} is on CoreDNS's node: with bridge-nf-call-iptables=1 the bridged answer went through br_netfilter's hooks and conntrack gave it the ClusterIP ${vip} back as its source${ok ? ` (frame ${ok.number})` : ""}.`
          : `${key} is on another node: its answer crossed ${node.spec.name}'s stack and the overlay, and its own node's conntrack reversed the DNAT${ok ? ` (frame ${ok.number})` : ""}.`,
      );
    }
    counters[`UdpNoPorts/${key.slice(8)}`] = client.ns.stats.drops.get("udp-no-socket") ?? 0;
  }
  // The query's conntrack entry on worker-1 never saw its answer.
  const unreplied = node.netfilter.conntrack.list().filter((l) => l.startsWith("udp") && l.includes("dport=53") && l.includes("[UNREPLIED]"));
  counters.unrepliedDnsEntries = unreplied.length;
  counters.failedLookups = failed;
  counters.answersFromPodAddress = wrongSource;
  if (unreplied.length > 0) {
    evidence.push({ frame: null, netns: node.spec.name, device: "conntrack", detail: unreplied[0]!.trim() });
    mechanism.push(`${node.spec.name}'s conntrack entry for the query stays [UNREPLIED]: the answer never passed through it.`);
  }
  const symptom = failed > 0 || wrongSource > 0;
  const summary = symptom
    ? `DNS to kube-dns fails from CoreDNS's own node: ${outcomes.join("; ")}`
    : `DNS to kube-dns works from both nodes: ${outcomes.join("; ")}`;
  return { symptom, summary, mechanism, evidence, counters };
}

export const BRIDGE_NF_CALL_OFF: Scenario = {
  name: "bridge-nf-call-off",
  number: 5,
  symptom: "Service calls from a Pod on the same node as the endpoint fail (e.g. DNS to CoreDNS on the client's node)",
  issues: ["kubernetes/kubernetes#38802"],
  fix: "modprobe br_netfilter; sysctl net.bridge.bridge-nf-call-iptables=1 (kubeadm's preflight requires it)",
  notes: [
    "net/bridge/br_netfilter_hooks.c br_nf_pre_routing: with call_iptables 0 it returns NF_ACCEPT before any IPv4 hook, so a bridged reply meets no conntrack and no reverse NAT",
    "pkg/proxy/iptables/proxier.go NewProxier: kube-proxy only warns \"Missing br-netfilter module or unset sysctl br-nf-call-iptables, proxy may not work as intended\"",
    "kubeadm preflight: /proc/sys/net/bridge/bridge-nf-call-iptables contents are not set to 1",
    "net/ipv4/udp.c __udp4_lib_rcv: no socket matches (the resolver's is connected to the ClusterIP) → ICMP port unreachable, UdpNoPorts",
    "IPVS mode fails the same way: the real server's reply must pass IPVS's FORWARD hook (ip_vs_reply4) to get the virtual address back",
  ],
  yaml: YAML,
  modes: ["iptables", "ipvs", "nftables"],
  run,
};
