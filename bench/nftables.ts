/**
 * kube-proxy's nftables mode at scale, on one node (worker-1 of the `podwire bench` cluster:
 * N ClusterIP Services × E endpoints), without the rest of the cluster:
 *  (a) kube-proxy's full sync: generating the `nft -f` transaction (`syncNftablesRules`), as a
 *      running kube-proxy does it (its name caches filled, its Service ports and endpoints
 *      kept from the sync before); the first sync of the process, with none of that, is
 *      reported on its own (`coldFullSyncMs`);
 *  (b) loading it into podwire's nft engine with the real loader (`applyNftScript` on an
 *      empty ruleset, as the cluster does: the transaction's text in pieces of whole lines,
 *      the ruleset handed over), then `compileRuleset`; how many lines the loader read on its
 *      fast path for kube-proxy's regular lines (`regularLineShare`), and at the smallest size
 *      a check that the general reader alone loads the same ruleset;
 *  (c) the first packet of new connections classified by the node's prerouting nft base
 *      chains (filter-prerouting-pre-dnat, then nat-prerouting through the NAT core's order):
 *      packets/s, and nft rules and expressions evaluated per packet;
 *  (d) partial syncs, each repeated (medians, after one untimed change and back): one endpoint
 *      of one Service replaced (and put back, which is the same kind of change), and one
 *      Service added (and deleted again):
 *      kube-proxy's computation (`syncNftablesRules` with the previous state), given the
 *      changed Services and the EndpointSlices by Service as its change trackers and
 *      EndpointSliceCache hold them (`changedServices`, `slicesByService`) and, as a second
 *      figure, a second kube-proxy (its own kept state) finding them itself by comparing the
 *      objects with the previous ones; then the load of its cleanup
 *      and sync transactions into podwire (`applyNftScript` on the current ruleset) and the
 *      recompile (`compileRuleset` with the transactions' change log);
 *  (e) the same endpoint change through the cluster's interface: the measured node set up
 *      by NftablesMode (a full sync, loaded and compiled into the node's netfilter), then
 *      `NftablesMode.resync(node, next, change)` with the change the cluster's change
 *      tracker works out (`changedServiceKeys`, `slicesByServiceOf`, timed on its own), as
 *      ClusterServices.updateTo calls it: kube-proxy's computation, then the load into the
 *      node (its compiled form updated incrementally).
 * Prints the figures, the issue's aims with met / not met, and writes bench/results/nftables.json.
 *
 *   node --max-old-space-size=12288 --import=tsx bench/nftables.ts [--sizes 100,1000,10000,50000] [--endpoints 10] [--packets 1000000] [--repeats 15]
 */
import { hostNowMs } from "../src/base/index.js";
import { Cluster, type NodeRuntime } from "../src/cluster/build.js";
import type { ModelChange } from "../src/cluster/proxy-modes/mode.js";
import { NftablesMode } from "../src/cluster/proxy-modes/index.js";
import { ClusterServices } from "../src/cluster/services.js";
import { type KubeModel, type NftablesSyncResult, changedServiceKeys, slicesByServiceOf, syncNftablesRules } from "../src/kube/index.js";
import { type CompiledNft, type NftRuleset, type NftTable, applyNftScript, compileRuleset, newNftChanges, newRuleset, printRuleset } from "../src/nftables/index.js";
import { servicePicks } from "../src/bench/iptables-mode.js";
import { NftPreroutingCore, countNftObjects, kubeProxyTable } from "../src/bench/nftables-mode.js";
import { BENCH_NAMESPACE, makeWorkload, writeNewFlowPacket } from "../src/bench/workload.js";
import { machineInfo, median, writeResult } from "./util.js";

/** A model's EndpointSlices by Service (what kube-proxy's EndpointSliceCache holds, kept by its informers). */
const slicesByService = slicesByServiceOf;

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}

const SIZES = arg("sizes", "100,1000,10000,50000").split(",").map((s) => Number(s.replace(/k$/i, "000")));
const ENDPOINTS = Number(arg("endpoints", "10"));
const PACKETS = Number(arg("packets", "1000000"));
const REPEATS = Number(arg("repeats", "15"));

interface PartialFigures {
  /** kube-proxy's computation given the changed Services (its change trackers' UpdatedServices). */
  computeMs: number;
  /** The same sync finding the changed Services itself (comparing the previous and the new model). */
  computeDiffMs: number;
  /** applyNftScript of the cleanup and sync transactions. */
  applyMs: number;
  /** compileRuleset with the transactions' change log. */
  compileMs: number;
  /** computeMs + applyMs + compileMs (the median of the runs' sums), and each run's sum. */
  totalMs: number;
  totalsMs: number[];
  lines: number;
  runs: number;
}

/** The endpoint change through NftablesMode.resync (the cluster's path). */
interface ClusterResyncFigures {
  /** The cluster's change tracker: the changed Services and the EndpointSlices by Service. */
  trackerMs: number;
  computeMs: number;
  /** Loading the transactions into the node, its compiled form updated. */
  applyMs: number;
  /** computeMs + applyMs (the median of the runs' sums). */
  totalMs: number;
  /** Every run was given the changed Services. */
  hinted: boolean;
  runs: number;
}

interface SizeResult {
  services: number;
  endpoints: number;
  objects: { chains: number; rules: number; baseChains: number; sets: number; setElements: number };
  transactionLines: number;
  /** The process's first full sync: name caches empty, Service ports and endpoints worked out. */
  coldFullSyncMs: number;
  fullSyncMs: number;
  /** Lines of the full sync the loader read on its fast path for regular lines. */
  regularLineShare: number;
  /** The real loader (applyNftScript) on the full sync's transaction. */
  loaderMs: number;
  compileMs: number;
  /** Classifier: prerouting nft chains for a new connection's first packet. */
  corePacketsPerSec: number;
  coreNsPerPacket: number;
  /** The same classifier with the packets going to 100 of the Services only (a small working set). */
  coreHot100NsPerPacket: number;
  rulesPerPacket: number;
  exprsPerPacket: number;
  endpointChange: PartialFigures;
  addService: PartialFigures;
  clusterResync: ClusterResyncFigures;
  /** The first cleanup transaction after the full load (it counts the table's references for `delete chain`), before the measured runs. */
  firstCleanupApplyMs: number;
}

function measure(n: number, crossCheck: boolean): SizeResult {
  const w = makeWorkload(n, ENDPOINTS, 1);
  const cluster = new Cluster({ ...w.spec, proxyMode: "nftables" });
  const services = new ClusterServices(cluster);
  const mode = services.proxy as NftablesMode;
  const node = cluster.node(w.clientPod.node)!;
  const options = mode.options(node);
  const model = services.model;

  // (a) kube-proxy's full sync (the first one untimed: it fills the name caches, as a running kube-proxy has them).
  const reps = n <= 1000 ? 5 : n <= 10_000 ? 3 : 1;
  const syncTimes: number[] = [];
  const cold0 = hostNowMs();
  let full = syncNftablesRules(model, options, { now: 0 });
  const coldFullSyncMs = hostNowMs() - cold0;
  for (let i = 0; i < reps; i++) {
    const t0 = hostNowMs();
    full = syncNftablesRules(model, options, { now: 0, slicesByService: slicesByService(model) });
    syncTimes.push(hostNowMs() - t0);
  }
  const fullSyncMs = median(syncTimes);
  const transactionLines = full.lineCount;

  // (b) loading it, and compiling (below 50,000 Services after an untimed load, as the sync above: the JIT warmed up).
  const loadTimes: number[] = [];
  let rs: NftRuleset = n < 50_000 ? applyNftScript(newRuleset(), full.pieces, "<kube-proxy full sync>", { consume: true }) : newRuleset();
  for (let i = 0; i < reps; i++) {
    const t0 = hostNowMs();
    rs = applyNftScript(newRuleset(), full.pieces, "<kube-proxy full sync>", { consume: true });
    loadTimes.push(hostNowMs() - t0);
  }
  const loaderMs = median(loadTimes);
  const stats = { regularLines: 0 };
  if (crossCheck) {
    const printed = printRuleset(rs);
    if (printed !== printRuleset(applyNftScript(newRuleset(), full.text, "<kube-proxy full sync, as one text>", { stats }))) {
      throw new Error(`loading the pieces and loading the text differ at ${n} Services`);
    }
    if (printed !== printRuleset(applyNftScript(newRuleset(), full.pieces, "<kube-proxy full sync, general reader>", { regularLines: false }))) {
      throw new Error(`the loader's fast path and its general reader load different rulesets at ${n} Services`);
    }
  } else applyNftScript(newRuleset(), full.pieces.slice(0, 64), "<kube-proxy full sync, first pieces>", { stats });
  const regularLineShare = stats.regularLines / Math.min(transactionLines, crossCheck ? transactionLines : 64 * 2048);
  const now = cluster.sim.clock.now();
  let t0 = hostNowMs();
  let compiled: CompiledNft = compileRuleset(rs, null, now);
  const compileMs = hostNowMs() - t0;
  const objects = countNftObjects(kubeProxyTable(rs) as NftTable);

  // (c) the classifier.
  const nf = node.netfilter;
  const core = new NftPreroutingCore(compiled, { rtnType: (ip) => 31 - Math.clz32(nf.addrType(ip)), clock: cluster.sim.clock }, 1);
  const client = cluster.pod(w.clientPod.namespace, w.clientPod.name)!.spec.podIP;
  let picks = servicePicks(n, 65536, 1);
  const bytes = new Uint8Array(28);
  const run = (count: number): number => {
    core.rules = 0;
    core.exprs = 0;
    const t = hostNowMs();
    for (let i = 0; i < count; i++) {
      writeNewFlowPacket(bytes, client, w.clusterIP(picks[i & 65535]!), i);
      if (core.classify(bytes, 28) === 0) throw new Error(`no DNAT for Service ${picks[i & 65535]}`);
    }
    return hostNowMs() - t;
  };
  run(50_000); // warm-up
  const coreRuns = [run(PACKETS), run(PACKETS), run(PACKETS)];
  const coreMs = median(coreRuns);
  const rulesPerPacket = core.rules / PACKETS;
  const exprsPerPacket = core.exprs / PACKETS;
  // The same packets, but to 100 of the Services only: how much of the cost is the working set
  // (every Service's compiled chains) rather than the work per packet.
  picks = servicePicks(Math.min(n, 100), 65536, 1).map((i) => Math.floor((i * n) / Math.min(n, 100)));
  run(50_000);
  const hot100Ms = median([run(PACKETS), run(PACKETS)]);

  // (d) partial syncs, applied to the loaded ruleset in turn: each step goes from the current
  // state to the next model; the diffing variant is computed on the side (same input, same text).
  let state = full.state;
  // A second kube-proxy (same objects, own kept state) that finds the changed Services itself.
  let diffingState = syncNftablesRules(model, options, { now: 0 }).state;
  let time = 0;
  // Where the objects are: the changed Service's endpoint replaced or not, the extra Service there or not.
  let at = { endpoint: false, extra: false };
  const changedKey = `${BENCH_NAMESPACE}/svc-${w.changedService}`;
  const newKey = `${BENCH_NAMESPACE}/svc-${n}`;
  const partial = (to: { endpoint: boolean; extra: boolean }) => {
    const docs = to.endpoint ? w.documentsWithEndpointChange() : to.extra ? w.documentsWithNewService() : w.documents();
    const changed = [...(to.endpoint !== at.endpoint ? [changedKey] : []), ...(to.extra !== at.extra ? [newKey] : [])];
    at = to;
    const next = services.modelFor(docs);
    // The informers' side, outside the timing: the changed Services (the change trackers) and
    // the EndpointSlices by Service (the EndpointSliceCache).
    const bySlice = slicesByService(next);
    time += 60_000;
    let t = hostNowMs();
    const result: NftablesSyncResult = syncNftablesRules(next, options, { previous: state, now: time, changedServices: changed, slicesByService: bySlice });
    const computeMs = hostNowMs() - t;
    t = hostNowMs();
    const changes = newNftChanges();
    if (result.cleanupText !== "") rs = applyNftScript(rs, result.cleanupText, "<cleanup>", { consume: true, changes });
    rs = applyNftScript(rs, result.pieces, "<partial sync>", { consume: true, changes });
    const applyMs = hostNowMs() - t;
    t = hostNowMs();
    compiled = compileRuleset(rs, compiled, now, changes);
    const cMs = hostNowMs() - t;
    // The same sync without the hint (the second kube-proxy finds the changed Services
    // itself): it must write the same transaction.
    state = result.state;
    t = hostNowMs();
    const diffed = syncNftablesRules(next, options, { previous: diffingState, now: time });
    const computeDiffMs = hostNowMs() - t;
    diffingState = diffed.state;
    if (diffed.text !== result.text || diffed.cleanupText !== result.cleanupText) throw new Error(`the partial sync with and without changedServices differ at ${n} Services`);
    return { computeMs, computeDiffMs, applyMs, compileMs: cMs, lines: result.lineCount };
  };
  const series = (steps: { endpoint: boolean; extra: boolean }[]): PartialFigures => {
    const runs: ReturnType<typeof partial>[] = [];
    for (let i = 0; i < REPEATS; i++) runs.push(partial(steps[i % steps.length]!));
    const pick = (f: (r: ReturnType<typeof partial>) => number): number => median(runs.map(f));
    return {
      totalsMs: runs.map((r) => Math.round((r.computeMs + r.applyMs + r.compileMs) * 1000) / 1000),
      computeMs: pick((r) => r.computeMs),
      computeDiffMs: pick((r) => r.computeDiffMs),
      applyMs: pick((r) => r.applyMs),
      compileMs: pick((r) => r.compileMs),
      totalMs: pick((r) => r.computeMs + r.applyMs + r.compileMs),
      lines: Math.max(...runs.map((r) => r.lines)),
      runs: runs.length,
    };
  };
  // Untimed: one change and back (the JIT warmed up on these paths, as in a running kube-proxy).
  // The cleanup of the second deletes the first's stale chain: the first delete after a full
  // load counts the table's references once (kept up to date from then on), timed here on its own.
  partial({ endpoint: true, extra: false });
  const firstCleanup = partial({ endpoint: false, extra: false });
  const firstCleanupApplyMs = firstCleanup.applyMs;
  const endpointChange = series([
    { endpoint: true, extra: false },
    { endpoint: false, extra: false },
  ]);
  if (at.endpoint) partial({ endpoint: false, extra: false });
  const addService = series([
    { endpoint: false, extra: true },
    { endpoint: false, extra: false },
  ]);

  // (e) the endpoint change through the cluster's interface, on the measured node.
  const clusterResync = measureClusterResync(mode, node, services.model, () => services.modelFor(w.documentsWithEndpointChange()), () => services.modelFor(w.documents()));

  return {
    services: n,
    endpoints: ENDPOINTS,
    objects,
    transactionLines,
    coldFullSyncMs,
    fullSyncMs,
    regularLineShare,
    loaderMs,
    compileMs,
    corePacketsPerSec: PACKETS / (coreMs / 1000),
    coreNsPerPacket: (coreMs * 1e6) / PACKETS,
    coreHot100NsPerPacket: (hot100Ms * 1e6) / PACKETS,
    rulesPerPacket,
    exprsPerPacket,
    endpointChange,
    addService,
    clusterResync,
    firstCleanupApplyMs,
  };
}

/**
 * (e): NftablesMode sets the node up on `model`, then resyncs it to the changed model and back
 * (untimed once, then REPEATS times), each time with the change the cluster's tracker works
 * out from the model the node synced, as ClusterServices.updateTo passes it.
 */
function measureClusterResync(mode: NftablesMode, node: NodeRuntime, model: KubeModel, changed: () => KubeModel, back: () => KubeModel): ClusterResyncFigures {
  mode.setup(node, model);
  let from = model;
  let hinted = true;
  const step = (to: KubeModel) => {
    let t = hostNowMs();
    const change: ModelChange = { from, changedServices: changedServiceKeys(from, to), slicesByService: slicesByServiceOf(to) };
    const trackerMs = hostNowMs() - t;
    t = hostNowMs();
    const r = mode.resync(node, to, change);
    hinted &&= mode.lastSyncHinted(node.spec.name);
    from = to;
    return { trackerMs, computeMs: r.computeMs, applyMs: r.applyMs };
  };
  step(changed());
  step(back());
  const runs: ReturnType<typeof step>[] = [];
  for (let i = 0; i < REPEATS; i++) runs.push(step(i % 2 === 0 ? changed() : back()));
  return {
    trackerMs: median(runs.map((r) => r.trackerMs)),
    computeMs: median(runs.map((r) => r.computeMs)),
    applyMs: median(runs.map((r) => r.applyMs)),
    totalMs: median(runs.map((r) => r.computeMs + r.applyMs)),
    hinted,
    runs: runs.length,
  };
}

const f = (x: number, d = 1): string => x.toLocaleString("en-US", { maximumFractionDigits: d });
const partialText = (p: PartialFigures): string =>
  `total ${f(p.totalMs, 2)} ms = compute ${f(p.computeMs, 2)} ms (diffing the models ${f(p.computeDiffMs)} ms), apply ${f(p.applyMs, 2)} ms + compile ${f(p.compileMs, 2)} ms (${p.lines} lines; medians of ${p.runs})`;
const results: SizeResult[] = [];
const started = hostNowMs();
for (const n of SIZES) {
  const r = measure(n, n === Math.min(...SIZES));
  results.push(r);
  console.log(
    `${f(n, 0).padStart(7)} Services: ${f(r.objects.rules, 0)} rules, ${f(r.objects.chains, 0)} chains, ${f(r.objects.setElements, 0)} set/map elements, ${f(r.transactionLines, 0)} lines | ` +
      `full sync ${f(r.fullSyncMs)} ms (first of the process ${f(r.coldFullSyncMs)} ms), loader ${f(r.loaderMs)} ms (${f(100 * r.regularLineShare)}% of lines on its fast path), compile ${f(r.compileMs)} ms | ` +
      `classify ${f(r.corePacketsPerSec / 1e6, 2)}M pkt/s (${f(r.coreNsPerPacket, 0)} ns; 100 hot Services ${f(r.coreHot100NsPerPacket, 0)} ns), ${f(r.rulesPerPacket)} rules / ${f(r.exprsPerPacket)} exprs per packet | ` +
      `endpoint change: ${partialText(r.endpointChange)} | add Service: ${partialText(r.addService)} | first cleanup after the load ${f(r.firstCleanupApplyMs)} ms | ` +
      `through NftablesMode.resync: ${f(r.clusterResync.totalMs, 2)} ms = compute ${f(r.clusterResync.computeMs, 2)} + apply ${f(r.clusterResync.applyMs, 2)} ms (change tracker ${f(r.clusterResync.trackerMs)} ms${r.clusterResync.hinted ? "" : "; NOT given the changed Services"})`,
  );
  // Written after every size, so a run stopped at a large size keeps what it measured.
  writeResult("nftables", { machine: machineInfo(), sizes: SIZES, endpoints: ENDPOINTS, packets: PACKETS, repeats: REPEATS, durationMs: Math.round(hostNowMs() - started), results, aims: null });
}

const small = results.find((r) => r.services === 100) ?? results[0]!;
const big = results.find((r) => r.services === 50_000) ?? results[results.length - 1]!;
const aims = [
  {
    aim: `first-packet classification at ${f(big.services, 0)} Services within 1.5× of its cost at ${f(small.services, 0)}`,
    value: `${f(big.coreNsPerPacket, 0)} ns vs ${f(small.coreNsPerPacket, 0)} ns per packet (${f(big.coreNsPerPacket / small.coreNsPerPacket, 2)}×); rules ${f(big.rulesPerPacket)} vs ${f(small.rulesPerPacket)}`,
    met: big.coreNsPerPacket <= 1.5 * small.coreNsPerPacket,
  },
  { aim: "≥ 1M first packets/s (classifier)", value: results.map((r) => `${f(r.services, 0)}: ${f(r.corePacketsPerSec / 1e6, 2)}M/s`).join(", "), met: results.every((r) => r.corePacketsPerSec >= 1e6) },
  {
    aim: `full nftables-mode compile of ${f(big.services, 0)} × ${ENDPOINTS} ≤ 3 s (kube-proxy's generation, podwire's load, and its compile for the packet path)`,
    value: `${f(big.fullSyncMs + big.loaderMs + big.compileMs, 0)} ms: ${f(big.fullSyncMs, 0)} ms to generate + ${f(big.loaderMs, 0)} ms to load (${f(big.transactionLines, 0)} lines) + ${f(big.compileMs, 0)} ms to compile`,
    met: big.fullSyncMs + big.loaderMs + big.compileMs <= 3000,
  },
  {
    aim: `one-endpoint partial sync at ${f(big.services, 0)} Services ≤ 5 ms (compute + apply + compile), through the cluster's resync`,
    value:
      `${f(big.endpointChange.totalMs, 2)} ms (median of ${big.endpointChange.runs}): kube-proxy's computation ${f(big.endpointChange.computeMs, 2)} ms given the changed Service ` +
      `(${f(big.endpointChange.computeDiffMs, 0)} ms when it compares the models itself), loading its ${big.endpointChange.lines}-line transaction into podwire ${f(big.endpointChange.applyMs, 2)} ms + compile ${f(big.endpointChange.compileMs, 2)} ms; ` +
      `through the cluster's NftablesMode.resync with the change tracker's changed Services: ${f(big.clusterResync.totalMs, 2)} ms (compute ${f(big.clusterResync.computeMs, 2)} + load and compile ${f(big.clusterResync.applyMs, 2)})`,
    met: big.endpointChange.totalMs <= 5 && big.clusterResync.hinted && big.clusterResync.totalMs <= 5,
  },
];
console.log("\naims:");
for (const a of aims) console.log(`  ${a.met ? "MET    " : "NOT MET"} ${a.aim}: ${a.value}`);
const path = writeResult("nftables", { machine: machineInfo(), sizes: SIZES, endpoints: ENDPOINTS, packets: PACKETS, repeats: REPEATS, durationMs: Math.round(hostNowMs() - started), results, aims });
console.log(`written: ${path}`);
