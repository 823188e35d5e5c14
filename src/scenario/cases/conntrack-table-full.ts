/**
 * Scenario 7: sporadic connection failures, and `nf_conntrack: table full, dropping packet`
 * in the node's kernel log.
 *
 * Every connection through a node takes one conntrack entry for as long as it lives (an
 * established TCP connection: nf_conntrack_tcp_timeout_established, 5 days by default, or
 * kube-proxy's 24 h; a closed one still 120 s in TIME_WAIT). When the table holds
 * nf_conntrack_max entries, __nf_conntrack_alloc tries early_drop(), which may evict only
 * entries that are not ASSURED (early_drop_list skips IPS_ASSURED, and a TCP connection is
 * ASSURED once its handshake completes), in the eight buckets from the new entry's; finding
 * none, it refuses the entry, nf_conntrack_in counts `drop` and drops the packet, and the
 * kernel logs "nf_conntrack: table full, dropping packet" (nf_conntrack_core.c). The SYN of
 * a new connection vanishes; the client sees a connect that hangs.
 *
 * kube-proxy exists to prevent this: at start it raises nf_conntrack_max to
 * conntrack.maxPerCore × CPUs, at least conntrack.min (32768 per core, 131072 minimum by
 * default; #18604). Configurations that set maxPerCore to 0 to keep kube-proxy off the
 * sysctl (kind, usernetes, kube-proxy in a container with a read-only /sys) keep whatever
 * limit the node booted with.
 */
import { formatIpv4, ipv4 } from "../../base/index.js";
import { NS_PER_SEC } from "../../base/clock.js";
import type { ScenarioContext } from "../context.js";
import { frameFacts } from "../frame-facts.js";
import { HttpGet, IdleConnection } from "../tcp-clients.js";
import type { Scenario, ScenarioEvidence, ScenarioFindings } from "../types.js";
import { TCP_SYN } from "../../wire/index.js";
import { THREE_NODES } from "../cluster-yaml.js";

/** The node's limit: scaled down from a real node's 2^17–2^20 so a run stays small; the mechanism only counts. */
const NODE_CONNTRACK_MAX = 256;

const YAML = `apiVersion: podwire.dev/v1alpha1
kind: Cluster
metadata: {name: conntrack-table-full}
spec:
  # A small node, scaled down: its conntrack table holds ${NODE_CONNTRACK_MAX} entries (a real one 131072 or more).
  sysctls:
    net.netfilter.nf_conntrack_max: ${NODE_CONNTRACK_MAX}
  # kube-proxy told to leave nf_conntrack_max alone (kind and usernetes ship this).
  # The fix: kube-proxy's defaults, conntrack: {maxPerCore: 32768, min: 131072}.
  kubeProxy:
    conntrack: {maxPerCore: 0}
---
${THREE_NODES}---
# The backend: HTTP on 8080, and 9000 where clients hold long-lived connections (websockets, say).
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: default, labels: {app: api}}
spec: {nodeName: worker-2, containers: [{name: api, ports: [{name: http, containerPort: 8080}, {name: stream, containerPort: 9000}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: default}
spec:
  selector: {app: api}
  ports: [{name: http, port: 80, targetPort: http}, {name: stream, port: 9000, targetPort: stream}]
---
# A gateway that keeps a pool of open connections to api:9000.
apiVersion: v1
kind: Pod
metadata: {name: gateway, namespace: default, labels: {app: gateway}}
spec: {nodeName: worker-1, containers: [{name: gateway}]}
---
# A web frontend on the same node making short requests to api:80.
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web}}
spec: {nodeName: worker-1, containers: [{name: web}]}
`;

/** The load: how many connections the gateway keeps open, and the frontend's requests. */
export interface TableFullLoad {
  poolSize: number;
  requests: number;
}

function run(ctx: ScenarioContext): ScenarioFindings {
  return runTableFull(ctx, { poolSize: 300, requests: 20 });
}

const POOL_INTERVAL_NS = 10_000_000;
const REQUEST_INTERVAL_NS = 250_000_000;

export function runTableFull(ctx: ScenarioContext, load: TableFullLoad): ScenarioFindings {
  const { cluster, services } = ctx.boot((spec) => {
    // The fix: kube-proxy's default conntrack settings (it sets nf_conntrack_max at start).
    if (ctx.fixed) spec.kubeProxy = { ...spec.kubeProxy, conntrackMaxPerCore: 32768, conntrackMin: 131072 };
  });
  const sim = cluster.sim;
  const worker1 = cluster.node("worker-1")!;
  const worker2 = cluster.node("worker-2")!;
  const gateway = cluster.pod("default", "gateway")!;
  const web = cluster.pod("default", "web")!;
  const vip = ipv4(services.service("default", "api")!.clusterIP!);
  const ct = worker1.netfilter.conntrack;
  const max = ct.max;

  // Both loads start together: the pool fills at one connection per 10 ms, the frontend asks every 250 ms.
  const pool: IdleConnection[] = [];
  const requests: HttpGet[] = [];
  const steps: { at: number; act: () => void }[] = [];
  for (let i = 0; i < load.poolSize; i++) steps.push({ at: i * POOL_INTERVAL_NS, act: () => pool.push(new IdleConnection(gateway.ns, vip, 9000)) });
  for (let i = 0; i < load.requests; i++) steps.push({ at: i * REQUEST_INTERVAL_NS + 5_000_000, act: () => requests.push(new HttpGet(web.ns, vip, 80, "api")) });
  steps.sort((a, b) => a.at - b.at);
  let fullAt: number | null = null;
  for (const s of steps) {
    sim.run(s.at);
    if (fullAt === null && ct.count >= max) fullAt = sim.now();
    s.act();
  }
  const lastStep = steps.length > 0 ? steps[steps.length - 1]!.at : 0;
  sim.run(lastStep + 3 * NS_PER_SEC);

  const failed = requests.filter((r) => !r.ok);
  const poolOpen = pool.filter((c) => c.established).length;
  const stats = ct.stats;
  const drops = stats.drop + worker2.netfilter.conntrack.stats.drop;
  // A request whose SYN was dropped hangs, or connects only after TCP's retransmission (1 s, 3 s, …).
  const stalled = requests.filter((r) => !r.ok || r.conn.synRetransmits > 0);
  const symptom = stalled.length > 0 && drops > 0;
  const mechanism: string[] = [];
  const evidence: ScenarioEvidence[] = [];
  const firstOk = requests.find((r) => r.ok);
  if (firstOk) {
    const syn = synOf(ctx, web.eth0!, firstOk.port);
    mechanism.push(
      `Each connection from worker-1's Pods to api takes a conntrack entry on worker-1 (and one on worker-2); once the handshake completes it is ASSURED, and an open connection keeps it for nf_conntrack_tcp_timeout_established (5 days). Request ${requests.indexOf(firstOk) + 1}'s SYN (frame ${syn?.number ?? "?"}) is answered.`,
    );
    if (syn) evidence.push(ctx.frameEvidence(syn, "an early request's SYN: the table has room, it is answered"));
  }
  const lines = ct.list();
  const example = lines.find((l) => l.includes("dport=9000") && l.includes("[ASSURED]"));
  const assured = lines.filter((l) => l.includes("[ASSURED]")).length;
  const vxlan = lines.filter((l) => l.startsWith("udp") && l.includes("dport=8472")).length;
  if (fullAt !== null) {
    mechanism.push(
      `At ${(fullAt / NS_PER_SEC).toFixed(2)} s worker-1's table holds ${max} entries (nf_conntrack_max). In the end ${assured} are ASSURED TCP connections (${poolOpen} the gateway's open pool): ${example?.replace(/\s+/g, " ") ?? ""}; the rest (${vxlan}) are flannel's VXLAN packets, tracked too, one [UNREPLIED] udp dport=8472 entry per inner flow and direction.`,
    );
  }
  if (stalled.length > 0) {
    const f = stalled[0]!;
    const syn = synOf(ctx, web.eth0!, f.port);
    const beyond = syn ? ctx.frames.find((x) => x.number > syn.number && x.device === worker1.flannel && frameFacts(x.bytes)?.inner?.sport === f.port) : null;
    if (syn) evidence.push(ctx.frameEvidence(syn, `request ${requests.indexOf(f) + 1}'s SYN: worker-1's conntrack has no room, the packet is dropped and never leaves the node`));
    mechanism.push(
      `From then on every new entry needs room: __nf_conntrack_alloc calls early_drop(), which may evict only entries that are not ASSURED — VXLAN entries and connections still in their handshake (early_drop=${stats.early_drop}) — from the eight buckets next to the new entry's. Request ${requests.indexOf(f) + 1}'s SYN (frame ${syn?.number ?? "?"}) finds only ASSURED entries there: nf_conntrack_in drops it (kernel log: "nf_conntrack: table full, dropping packet"); ${beyond ? "" : "no frame of it ever leaves worker-1, "}the web Pod's connect() hangs until TCP retransmits the SYN, if there is room by then. ${stalled.length} of ${requests.length} requests stall this way (${failed.length} never answered), at random; worker-1 counts drop=${stats.drop}.`,
    );
  } else {
    mechanism.push(
      `kube-proxy set nf_conntrack_max to ${max} at start (conntrack.maxPerCore 32768 × 2 CPUs, at least conntrack.min 131072): the ${ct.count} entries of the pool and the requests fit, and all ${requests.length} requests are answered (drop=${stats.drop}).`,
    );
  }
  evidence.push({ frame: null, netns: worker1.spec.name, device: "conntrack", detail: `nf_conntrack_count ${ct.count} of nf_conntrack_max ${max}; conntrack -S: drop=${stats.drop} early_drop=${stats.early_drop} insert_failed=${stats.insert_failed}` });
  const summary = symptom
    ? `${stalled.length} of ${requests.length} requests to api hung or waited for a SYN retransmission (${failed.length} never answered): worker-1's conntrack table was full (${max} entries), "nf_conntrack: table full, dropping packet", drop=${stats.drop}, early_drop=${stats.early_drop}`
    : `all ${requests.length} requests answered with ${poolOpen} pooled connections open: nf_conntrack_max ${max}, ${ct.count} entries in use, drop=${stats.drop}`;
  return {
    symptom,
    summary,
    mechanism,
    evidence,
    counters: {
      requestsFailed: failed.length,
      requestsStalled: stalled.length,
      requests: requests.length,
      poolOpen,
      nf_conntrack_max: max,
      nf_conntrack_count: ct.count,
      drop: stats.drop,
      early_drop: stats.early_drop,
      insert_failed: stats.insert_failed,
    },
  };
}

/** The first SYN a client port sent, as its Pod's eth0 transmitted it. */
function synOf(ctx: ScenarioContext, dev: NonNullable<ReturnType<ScenarioContext["cluster"]["cluster"]["pod"]>>["eth0"], port: number) {
  return ctx.frames.find((f) => {
    if (f.device !== dev || f.direction !== "tx") return false;
    const x = frameFacts(f.bytes);
    return x !== null && x.sport === port && (x.tcpFlags & TCP_SYN) !== 0;
  });
}

export const CONNTRACK_TABLE_FULL: Scenario = {
  name: "conntrack-table-full",
  number: 7,
  symptom: "new connections hang at random while old ones work; the node logs `nf_conntrack: table full, dropping packet`",
  issues: ["kubernetes/kubernetes#71261", "kubernetes/kubernetes#18604"],
  fix: "let kube-proxy size the table: conntrack.maxPerCore 32768 × CPUs, at least conntrack.min 131072 (its defaults)",
  notes: [
    "nf_conntrack_core.c __nf_conntrack_alloc: over nf_conntrack_max, early_drop() or fail; nf_conntrack_in counts `drop`",
    "early_drop_list skips IPS_ASSURED entries; a TCP entry is ASSURED once the handshake completes (nf_conntrack_proto_tcp.c)",
    "cmd/kube-proxy conntrack.go getConntrackMax: maxPerCore × NumCPU, at least min; maxPerCore 0 leaves the sysctl as it is",
    "nf_conntrack_max is scaled down to 256 to keep the run small; podwire's nodes count 2 CPUs for maxPerCore",
    "podwire sizes the hash by nf_conntrack_max; a real node keeps its boot-time hashsize, so early_drop's window finds even fewer victims",
    "in all three modes: IPVS (with conntrack=1, as kube-proxy sets it) and nftables track every connection in the same table",
  ],
  yaml: YAML,
  modes: ["iptables", "ipvs", "nftables"],
  run,
};
