/**
 * kube-proxy's nftables mode at scale, on one node (worker-1 of the `podwire bench` cluster:
 * N ClusterIP Services × E endpoints), without the rest of the cluster:
 *  (a) kube-proxy's full sync: generating the `nft -f` transaction (`syncNftablesRules`);
 *  (b) loading it into podwire's nft engine: the real loader (`applyNftScript`, as the cluster
 *      does) up to --loader-max Services, and for every size a batch load that gives the same
 *      ruleset (checked byte for byte with `nft list`-style printing at the smallest size):
 *      tables, chains and rules through `applyNftScript`, the `add element` lines inserted
 *      in one batch per set (the loader inserts them one line at a time, each with a linear
 *      search and a re-sort of the set, which is quadratic in the set's size); then
 *      `compileRuleset`;
 *  (c) the first packet of new connections classified by the node's prerouting nft base
 *      chains (filter-prerouting-pre-dnat, then nat-prerouting through the NAT core's order):
 *      packets/s, and nft rules and expressions evaluated per packet;
 *  (d) partial syncs: one endpoint of one Service replaced, and one Service added:
 *      kube-proxy's computation (`syncNftablesRules` with the previous state) and the load of
 *      its transaction into podwire (`applyNftScript` on the current ruleset + `compileRuleset`).
 * Prints the figures, the issue's aims with met / not met, and writes bench/results/nftables.json.
 *
 *   node --max-old-space-size=12288 --import=tsx bench/nftables.ts [--sizes 100,1000,10000,50000] [--endpoints 10] [--packets 1000000] [--loader-max 1000]
 */
import { hostNowMs } from "../src/base/index.js";
import { Cluster } from "../src/cluster/build.js";
import { NftablesMode } from "../src/cluster/proxy-modes/index.js";
import { ClusterServices } from "../src/cluster/services.js";
import { NFT_FAMILY, NFT_TABLE, syncNftablesRules } from "../src/kube/index.js";
import { type NftRuleset, type NftTable, applyNftScript, compileRuleset, newRuleset, printRuleset } from "../src/nftables/index.js";
import { Cursor } from "../src/nftables/cursor.js";
import { parseElementList, type Ref } from "../src/nftables/parse-values.js";
import { sortElements } from "../src/nftables/sort.js";
import { tokenize } from "../src/nftables/tokenize.js";
import { servicePicks } from "../src/bench/iptables-mode.js";
import { NftPreroutingCore, countNftObjects, kubeProxyTable } from "../src/bench/nftables-mode.js";
import { makeWorkload, writeNewFlowPacket } from "../src/bench/workload.js";
import { machineInfo, median, writeResult } from "./util.js";

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}

const SIZES = arg("sizes", "100,1000,10000,50000").split(",").map((s) => Number(s.replace(/k$/i, "000")));
const ENDPOINTS = Number(arg("endpoints", "10"));
const PACKETS = Number(arg("packets", "1000000"));
const LOADER_MAX = Number(arg("loader-max", "1000"));

const ADD_ELEMENT = /^add element ip kube-proxy (\S+) (\{.*\})$/;

/** The transaction with its `add element` lines applied in one batch per set (see the header). */
function batchLoad(text: string): NftRuleset {
  const rest: string[] = [];
  const elements = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const m = ADD_ELEMENT.exec(line);
    if (m) {
      const list = elements.get(m[1]!) ?? [];
      list.push(m[2]!);
      elements.set(m[1]!, list);
    } else rest.push(line);
  }
  const rs = applyNftScript(newRuleset(), rest.join("\n"), "<kube-proxy full sync>");
  const table = rs.tables.find((t) => t.family === NFT_FAMILY && t.name === NFT_TABLE)!;
  for (const [name, lists] of elements) {
    const set = table.sets.get(name)!;
    const refs: Ref[] = [];
    for (const l of lists) set.elements.push(...parseElementList(new Cursor(tokenize(l, "<elements>"), "<elements>"), set.keyType, set.dataType, refs));
    for (const r of refs) if (r.kind === "chain" && !table.chains.has(r.name)) throw new Error(`element of ${name} names a missing chain ${r.name}`);
    sortElements(set.keyType, set.elements);
  }
  return rs;
}

interface SizeResult {
  services: number;
  endpoints: number;
  objects: { chains: number; rules: number; baseChains: number; sets: number; setElements: number };
  transactionLines: number;
  fullSyncMs: number;
  /** The real loader (applyNftScript), when run (≤ --loader-max). */
  loaderMs: number | null;
  batchLoadMs: number;
  compileMs: number;
  /** Classifier: prerouting nft chains for a new connection's first packet. */
  corePacketsPerSec: number;
  coreNsPerPacket: number;
  /** The same classifier with the packets going to 100 of the Services only (a small working set). */
  coreHot100NsPerPacket: number;
  rulesPerPacket: number;
  exprsPerPacket: number;
  endpointChange: { computeMs: number; applyMs: number; compileMs: number; lines: number };
  addService: { computeMs: number; applyMs: number; compileMs: number; lines: number };
}

function measure(n: number, checkEqual: boolean): SizeResult {
  const w = makeWorkload(n, ENDPOINTS, 1);
  const cluster = new Cluster({ ...w.spec, proxyMode: "nftables" });
  const services = new ClusterServices(cluster);
  const mode = services.proxy as NftablesMode;
  const node = cluster.node(w.clientPod.node)!;
  const options = mode.options(node);
  const model = services.model;

  // (a) kube-proxy's full sync.
  const reps = n <= 1000 ? 5 : 1;
  const syncTimes: number[] = [];
  let full = syncNftablesRules(model, options, { now: 0 });
  for (let i = 0; i < reps; i++) {
    const t0 = hostNowMs();
    full = syncNftablesRules(model, options, { now: 0 });
    syncTimes.push(hostNowMs() - t0);
  }
  const fullSyncMs = median(syncTimes);
  const transactionLines = full.text.split("\n").length - 1;

  // (b) loading it.
  let loaderMs: number | null = null;
  let loaded: NftRuleset | null = null;
  if (n <= LOADER_MAX) {
    const t0 = hostNowMs();
    loaded = applyNftScript(newRuleset(), full.text, "<kube-proxy full sync>");
    loaderMs = hostNowMs() - t0;
  }
  let t0 = hostNowMs();
  let rs = batchLoad(full.text);
  const batchLoadMs = hostNowMs() - t0;
  if (checkEqual && loaded !== null && printRuleset(loaded) !== printRuleset(rs)) throw new Error(`the batch load differs from applyNftScript at ${n} Services`);
  loaded = null;
  const now = cluster.sim.clock.now();
  t0 = hostNowMs();
  let compiled = compileRuleset(rs, null, now);
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

  // (d) partial syncs, applied to the loaded ruleset in turn.
  const partial = (docs: ReturnType<typeof w.documents>, prevState: typeof full.state) => {
    const next = services.modelFor(docs);
    let t = hostNowMs();
    const result = syncNftablesRules(next, options, { previous: prevState, now: prevState.time + 60_000 });
    const computeMs = hostNowMs() - t;
    t = hostNowMs();
    if (result.cleanupText !== "") rs = applyNftScript(rs, result.cleanupText, "<cleanup>");
    rs = applyNftScript(rs, result.text, "<partial sync>");
    const applyMs = hostNowMs() - t;
    t = hostNowMs();
    compiled = compileRuleset(rs, compiled, now);
    const cMs = hostNowMs() - t;
    return { r: { computeMs, applyMs, compileMs: cMs, lines: result.text.split("\n").length - 1 }, state: result.state };
  };
  const ep = partial(w.documentsWithEndpointChange(), full.state);
  const add = partial(w.documentsWithNewService(), ep.state);

  return {
    services: n,
    endpoints: ENDPOINTS,
    objects,
    transactionLines,
    fullSyncMs,
    loaderMs,
    batchLoadMs,
    compileMs,
    corePacketsPerSec: PACKETS / (coreMs / 1000),
    coreNsPerPacket: (coreMs * 1e6) / PACKETS,
    coreHot100NsPerPacket: (hot100Ms * 1e6) / PACKETS,
    rulesPerPacket,
    exprsPerPacket,
    endpointChange: ep.r,
    addService: add.r,
  };
}

const f = (x: number, d = 1): string => x.toLocaleString("en-US", { maximumFractionDigits: d });
const results: SizeResult[] = [];
const started = hostNowMs();
for (const n of SIZES) {
  const r = measure(n, n === Math.min(...SIZES));
  results.push(r);
  console.log(
    `${f(n, 0).padStart(7)} Services: ${f(r.objects.rules, 0)} rules, ${f(r.objects.chains, 0)} chains, ${f(r.objects.setElements, 0)} set/map elements, ${f(r.transactionLines, 0)} lines | ` +
      `full sync ${f(r.fullSyncMs)} ms, loader ${r.loaderMs === null ? "-" : f(r.loaderMs)} ms, batch load ${f(r.batchLoadMs)} ms, compile ${f(r.compileMs)} ms | ` +
      `classify ${f(r.corePacketsPerSec / 1e6, 2)}M pkt/s (${f(r.coreNsPerPacket, 0)} ns; 100 hot Services ${f(r.coreHot100NsPerPacket, 0)} ns), ${f(r.rulesPerPacket)} rules / ${f(r.exprsPerPacket)} exprs per packet | ` +
      `endpoint change: compute ${f(r.endpointChange.computeMs, 2)} ms, apply ${f(r.endpointChange.applyMs)} ms + compile ${f(r.endpointChange.compileMs)} ms (${r.endpointChange.lines} lines) | ` +
      `add Service: compute ${f(r.addService.computeMs, 2)} ms, apply ${f(r.addService.applyMs)} ms + compile ${f(r.addService.compileMs)} ms (${r.addService.lines} lines)`,
  );
  // Written after every size, so a run stopped at a large size keeps what it measured.
  writeResult("nftables", { machine: machineInfo(), sizes: SIZES, endpoints: ENDPOINTS, packets: PACKETS, loaderMax: LOADER_MAX, durationMs: Math.round(hostNowMs() - started), results, aims: null });
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
    aim: `full nftables-mode compile of ${f(big.services, 0)} × ${ENDPOINTS} ≤ 3 s (kube-proxy's full sync)`,
    value: `${f(big.fullSyncMs, 0)} ms to generate; loading it into podwire: batch ${f(big.batchLoadMs, 0)} ms + compile ${f(big.compileMs, 0)} ms${big.loaderMs === null ? " (the line-by-line loader not run at this size)" : `, loader ${f(big.loaderMs, 0)} ms`}`,
    met: big.fullSyncMs <= 3000,
  },
  {
    aim: `one-endpoint partial sync at ${f(big.services, 0)} Services ≤ 5 ms`,
    value: `kube-proxy's computation ${f(big.endpointChange.computeMs, 1)} ms; loading its ${big.endpointChange.lines}-line transaction into podwire ${f(big.endpointChange.applyMs, 0)} ms + compile ${f(big.endpointChange.compileMs, 0)} ms`,
    met: big.endpointChange.computeMs + big.endpointChange.applyMs + big.endpointChange.compileMs <= 5,
  },
];
console.log("\naims:");
for (const a of aims) console.log(`  ${a.met ? "MET    " : "NOT MET"} ${a.aim}: ${a.value}`);
const path = writeResult("nftables", { machine: machineInfo(), sizes: SIZES, endpoints: ENDPOINTS, packets: PACKETS, loaderMax: LOADER_MAX, durationMs: Math.round(hostNowMs() - started), results, aims });
console.log(`written: ${path}`);
