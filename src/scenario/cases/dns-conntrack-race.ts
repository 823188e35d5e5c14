/**
 * Scenario 1: DNS lookups stall for 5 s at random.
 *
 * glibc's getaddrinfo sends the A and AAAA queries of a name back to back from one UDP
 * socket (res_send.c send_dg, sendmmsg): two packets of one flow, the same 5-tuple. The
 * node runs them through netfilter on two CPUs at once, so each misses the other's conntrack
 * entry — an entry is not in the hash table until it is confirmed, at the end of
 * POSTROUTING — and each is a NEW connection that kube-proxy's rules DNAT to a CoreDNS
 * endpoint picked at random. When the second is confirmed its original tuple is already
 * there (__nf_conntrack_confirm → nf_ct_resolve_clash). On the 5.4 kernel these nodes run,
 * the clash is merged only if both entries are identical (nf_ct_match: the same endpoint);
 * with different endpoints the second packet is dropped and counted in insert_failed. The
 * resolver waits for the lost answer until `options timeout:5`, then re-sends.
 *
 * Kernels from 5.7 resolve this case too (nf_ct_resolve_clash_harder inserts the loser in
 * the reply direction only): podwire's default kernel does, so this cluster pins 5.4.
 */
import { NS_PER_SEC } from "../../base/clock.js";
import { formatIpv4, parseIpv4 } from "../../base/index.js";
import { GlibcResolver, type LookupResult } from "../../cluster/resolver.js";
import type { Conn } from "../../conntrack/index.js";
import { DnsRepr, IPPROTO_UDP, UDP_HEADER_LEN } from "../../wire/index.js";
import type { ScenarioContext } from "../context.js";
import { frameFacts, frameL4Offset } from "../frame-facts.js";
import type { LoggedFrame } from "../frame-log.js";
import type { Scenario, ScenarioEvidence, ScenarioFindings } from "../types.js";
import { THREE_NODES } from "../cluster-yaml.js";

const YAML = `apiVersion: podwire.dev/v1alpha1
kind: Cluster
metadata: {name: dns-conntrack-race}
spec:
  # Ubuntu 20.04's kernel: nf_ct_resolve_clash merges only identical entries (5.0-5.6).
  kernelVersion: "5.4.0"
  # Each node's receive processing runs on two CPUs, so two packets can be in flight at once.
  nodeCPUs: 2
---
${THREE_NODES}---
# Two CoreDNS replicas behind the kube-dns Service (10.96.0.10, added by podwire).
apiVersion: v1
kind: Pod
metadata: {name: coredns-0, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  nodeName: worker-1
  containers:
  - name: coredns
    ports: [{name: dns, containerPort: 53, protocol: UDP}, {name: dns-tcp, containerPort: 53, protocol: TCP}]
---
apiVersion: v1
kind: Pod
metadata: {name: coredns-1, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  nodeName: worker-2
  containers:
  - name: coredns
    ports: [{name: dns, containerPort: 53, protocol: UDP}, {name: dns-tcp, containerPort: 53, protocol: TCP}]
---
# A glibc-based client. Its /etc/resolv.conf (dnsPolicy ClusterFirst):
#   nameserver 10.96.0.10
#   options ndots:5 timeout:5 attempts:2
# The fixed run adds "options single-request-reopen" (dnsConfig.options).
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default}
spec:
  nodeName: worker-1
  containers: [{name: app, image: debian:12}]
`;

/** The name every lookup asks (a fully qualified name: no search list). */
const NAME = "kubernetes.default.svc.cluster.local";
const TIMEOUT_S = 5;
/** Seconds between the end of one lookup and the start of the next. */
const GAP_S = 1;

/** The load: how many lookups the client makes, one after the other. */
export interface DnsRaceLoad {
  lookups: number;
}

function run(ctx: ScenarioContext): ScenarioFindings {
  return runDnsRace(ctx, { lookups: 6 });
}

interface Clash {
  atNs: number;
  winner: string;
  loser: string;
  outcome: string;
}

/** The DNS message of a logged UDP frame to or from port 53: its ID, QR bit and first question's type. */
function dnsOf(f: LoggedFrame): { id: number; qr: boolean; qtype: number } | null {
  const b = f.bytes;
  const facts = frameFacts(b);
  if (facts === null || facts.proto !== IPPROTO_UDP || (facts.dport !== 53 && facts.sport !== 53)) return null;
  const off = frameL4Offset(b) + UDP_HEADER_LEN; // the DNS message
  try {
    const m = DnsRepr.parse(b, off, b.length - off);
    const q = m.questions[0];
    return q === undefined ? null : { id: m.id, qr: m.flags.qr, qtype: q.type };
  } catch {
    return null; // not a whole DNS message
  }
}

/** The scenario with `load.lookups` lookups (the property test varies it). */
export function runDnsRace(ctx: ScenarioContext, load: DnsRaceLoad): ScenarioFindings {
  const { cluster, services } = ctx.boot();
  const sim = cluster.sim;
  const client = cluster.pod("default", "client")!;
  const node = client.node;
  const kubeDns = services.service("kube-system", "kube-dns")!;
  const nameserver = parseIpv4(kubeDns.clusterIP ?? "10.96.0.10");
  const conntrack = node.netfilter.conntrack;
  const endpointName = new Map<number, string>();
  for (const p of cluster.pods.values()) endpointName.set(p.spec.podIP, p.spec.name);
  const at = (c: Conn): string => `${endpointName.get(c.reply.src) ?? formatIpv4(c.reply.src)} ${formatIpv4(c.reply.src)}`;
  const clashes: Clash[] = [];
  conntrack.onClash = (winner, loser, outcome) => clashes.push({ atNs: sim.now(), winner: at(winner), loser: at(loser), outcome });

  const resolver = new GlibcResolver(client.ns, { nameserver, timeoutS: TIMEOUT_S, attempts: 2, singleRequestReopen: ctx.fixed });
  const results: { r: LookupResult; firstFrame: number }[] = [];
  for (let i = 0; i < load.lookups; i++) {
    const firstFrame = ctx.frames.frames.length;
    ctx.annotate(`lookup ${i + 1} of ${load.lookups}: getaddrinfo("${NAME}")`);
    let done: LookupResult | null = null;
    resolver.lookup(NAME, (r) => (done = r));
    // Long enough for every fallback glibc has (two tries, two fallbacks) to run out.
    sim.run(sim.now() + 4 * 2 * TIMEOUT_S * NS_PER_SEC);
    if (done === null) throw new Error("the resolver never finished");
    results.push({ r: done, firstFrame });
    sim.run(sim.now() + GAP_S * NS_PER_SEC);
  }
  conntrack.onClash = null;

  const evidence: ScenarioEvidence[] = [];
  const mechanism: string[] = [];
  const eth0 = client.eth0!;
  const hostVeth = client.hostVeth!;
  // Per lookup, from the client's own frames: when its first query left and its last answer came in.
  const durations: number[] = [];
  let stalls = 0;
  let worst = 0;
  for (const [i, { r, firstFrame }] of results.entries()) {
    const ports = new Set(r.queries.map((q) => q.srcPort));
    const mine = ctx.frames.frames.slice(firstFrame).filter((f) => f.device === eth0 && ports.has(frameFacts(f.bytes)?.[f.direction === "tx" ? "sport" : "dport"] ?? -1));
    const sent = mine.filter((f) => f.direction === "tx" && dnsOf(f)?.qr === false);
    const answers = mine.filter((f) => f.direction === "rx" && dnsOf(f)?.qr === true);
    if (sent.length === 0 || answers.length === 0) {
      durations.push(Infinity);
      continue;
    }
    const took = answers[answers.length - 1]!.timeNs - sent[0]!.timeNs;
    durations.push(took);
    worst = Math.max(worst, took);
    if (took < TIMEOUT_S * NS_PER_SEC) continue;
    stalls++;
    if (stalls > 2) continue; // the first two are explained in full
    const first = sent.slice(0, 2);
    // The query whose answer did not come in the first round, as it entered the node.
    const answeredIds = new Set(answers.filter((a) => a.timeNs < sent[0]!.timeNs + TIMEOUT_S * NS_PER_SEC).map((a) => dnsOf(a)!.id));
    const lostQuery = first.find((q) => !answeredIds.has(dnsOf(q)!.id));
    const lostType = lostQuery && dnsOf(lostQuery)!.qtype === 28 ? "AAAA" : "A";
    const lostAtNode = lostQuery ? ctx.frames.find((f) => f.device === hostVeth && f.direction === "rx" && dnsOf(f)?.id === dnsOf(lostQuery)!.id && !dnsOf(f)!.qr, lostQuery.number - 1) : null;
    const clash = clashes.find((c) => c.atNs >= sent[0]!.timeNs && c.atNs < sent[0]!.timeNs + NS_PER_SEC);
    const retry = sent.find((f) => f.timeNs >= sent[0]!.timeNs + TIMEOUT_S * NS_PER_SEC);
    for (const f of first) evidence.push(ctx.frameEvidence(f, `lookup ${i + 1}: the ${dnsOf(f)!.qtype === 28 ? "AAAA" : "A"} query, from the same socket :${frameFacts(f.bytes)!.sport} as the other`));
    if (lostAtNode) evidence.push(ctx.frameEvidence(lostAtNode, `lookup ${i + 1}: the ${lostType} query enters ${node.spec.name} and never leaves it (insert_failed)`));
    if (retry) evidence.push(ctx.frameEvidence(retry, `lookup ${i + 1}: glibc re-sends after its ${TIMEOUT_S} s timeout`));
    mechanism.push(
      `Lookup ${i + 1}: the client's A and AAAA queries leave one socket back to back (frames ${first.map((f) => f.number).join(" and ")}, same 5-tuple, glibc's parallel lookups).`,
      `${node.spec.name} takes them on two CPUs at once; neither finds the other's conntrack entry (unconfirmed, not yet in the hash), so both are NEW and KUBE-SVC picks an endpoint for each${clash ? `: ${clash.winner} for the first to confirm, ${clash.loser} for the other` : ""}.`,
      `At confirm the ${lostType} query's entry clashes with the first (__nf_conntrack_confirm → nf_ct_resolve_clash); the DNAT differs, so kernel 5.4 cannot merge them and drops the packet${lostAtNode ? ` (it entered at frame ${lostAtNode.number} and left nowhere)` : ""}: insert_failed.`,
      `glibc waits for the ${lostType} answer for timeout:${TIMEOUT_S}, then re-sends both queries one at a time${retry ? ` (frame ${retry.number})` : ""}; the first entry is confirmed by now, so they follow it. The lookup took ${(took / NS_PER_SEC).toFixed(3)} s.`,
    );
  }
  const c = conntrack.stats;
  if (stalls === 0) {
    const q = results[0] ? ctx.frames.frames.slice(results[0].firstFrame).filter((f) => f.device === eth0 && f.direction === "tx" && dnsOf(f)?.qr === false) : [];
    for (const f of q.slice(0, 2)) evidence.push(ctx.frameEvidence(f, `lookup 1: the ${dnsOf(f)!.qtype === 28 ? "AAAA" : "A"} query from :${frameFacts(f.bytes)!.sport}`));
    mechanism.push(
      ctx.fixed
        ? `With options single-request-reopen glibc sends the A query, waits for its answer, and sends the AAAA query from a new socket (frames ${q.map((f) => f.number).join(", ")}): two flows, never two packets of one flow in flight at once, so nothing clashes at confirm.`
        : `No lookup had both queries DNATed to different endpoints at once this run (the two clashes that happened, if any, were identical entries the kernel merged).`,
    );
  }
  const merged = clashes.filter((x) => x.outcome === "merged").length;
  if (merged > 0) mechanism.push(`${merged} clash(es) had both queries DNATed to the same endpoint: identical entries, merged by nf_ct_resolve_clash (no drop, but insert_failed counts them on 5.4).`);
  evidence.push({ frame: null, netns: node.spec.name, device: "conntrack", detail: `conntrack -S: insert_failed=${c.insert_failed} drop=${c.drop} clash_resolve=${c.clash_resolve}` });
  const dropped = clashes.filter((x) => x.outcome === "dropped").length;
  const symptom = stalls > 0 && c.insert_failed > 0;
  const fmt = (ns: number): string => (!Number.isFinite(ns) ? "failed" : ns >= NS_PER_SEC ? `${(ns / NS_PER_SEC).toFixed(3)} s` : `${(ns / 1e6).toFixed(3)} ms`);
  const summary = symptom
    ? `${stalls} of ${results.length} lookups of ${NAME} stalled ${TIMEOUT_S} s (worst ${fmt(worst)}): ${dropped} ${dropped === 1 ? "query" : "queries"} dropped at conntrack confirm on ${node.spec.name}, insert_failed=${c.insert_failed}`
    : `all ${results.length} lookups answered within ${fmt(Math.max(...durations))}; ${dropped} queries dropped, insert_failed=${c.insert_failed}`;
  return {
    symptom,
    summary,
    mechanism,
    evidence,
    counters: { lookups: results.length, stalledLookups: stalls, insert_failed: c.insert_failed, drop: c.drop, clash_resolve: c.clash_resolve, clashesDropped: dropped, clashesMerged: merged },
  };
}

export const DNS_CONNTRACK_RACE: Scenario = {
  name: "dns-conntrack-race",
  number: 1,
  symptom: "DNS lookups stall for 5 s at random",
  issues: ["kubernetes/kubernetes#56903", "weaveworks/weave#3287"],
  fix: "options single-request-reopen in the Pod's dnsConfig (A then AAAA, the second from a new socket)",
  notes: [
    "glibc resolv/res_send.c send_dg: A and AAAA from one socket (sendmmsg); on a timeout with one answer it falls back to RES_SNGLKUP, then RES_SNGLKUPREOP",
    "resolv.conf: timeout:5 attempts:2 (RES_TIMEOUT, RES_DFLRETRY); single-request-reopen implies single-request in send_dg",
    "nf_conntrack_core.c __nf_conntrack_confirm: an unconfirmed entry is not in the hash, so a second packet of the flow makes its own",
    "nf_ct_resolve_clash (5.0-5.6): merged only if the winner did no NAT or nf_ct_match (same tuples both ways); else NF_DROP, insert_failed",
    "5.7+ (6a757c07e51f) nf_ct_resolve_clash_harder inserts a UDP loser reply-only (IPS_NAT_CLASH): podwire's default kernel (6.6) has no stall",
    "the race needs two CPUs: nodeCPUs 2 (netdev/softirq.ts); frames go to the first free CPU, not by RPS flow hash",
    "iptables and nftables modes; not IPVS: ip_vs_conn is hashed when the first query is scheduled, so both go to one real server",
  ],
  yaml: YAML,
  modes: ["iptables", "nftables"],
  run,
};
