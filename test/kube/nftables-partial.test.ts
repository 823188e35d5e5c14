/**
 * kube-proxy's nftables partial syncs on the kept state (only the changed Services are
 * looked at, the state changed in place with an undo journal) write exactly what the walk
 * over every Service writes: random sequences of Service and endpoint changes, with and
 * without the change hint, syncing again from older states, and Services sharing element
 * keys (which make the partial sync walk everything).
 */
import test from "ava";
import fc from "fast-check";
import { buildKubeModel, syncNftablesRules, type EndpointSlice, type KubeDocument, type NftablesProxierOptions, type NftablesProxierState, type NftablesSyncResult, type ProxyState } from "../../src/kube/index.js";
import { slice, svc, type Ep } from "./build.js";
import { FAKE_MODEL, FAKE_PROXIER } from "./helpers.js";

const OPTIONS: NftablesProxierOptions = {
  ...FAKE_PROXIER,
  localAddresses: ["127.0.0.1", "192.168.0.2"],
  nodePortAddresses: ["192.168.0.2/32"],
  serviceCIDRs: ["172.30.0.0/16"],
  masqueradeMark: "0x4000",
};

interface ServiceShape {
  present: boolean;
  type: "ClusterIP" | "NodePort" | "LoadBalancer";
  twoPorts: boolean;
  externalIP: boolean;
  affinity: boolean;
  etpLocal: boolean;
  itpLocal: boolean;
  sourceRange: boolean;
  endpoints: { ip: number; local: boolean; ready: boolean }[];
}

const shapeArb: fc.Arbitrary<ServiceShape> = fc.record({
  present: fc.boolean(),
  type: fc.constantFrom("ClusterIP" as const, "NodePort" as const, "LoadBalancer" as const),
  twoPorts: fc.boolean(),
  externalIP: fc.boolean(),
  affinity: fc.boolean(),
  etpLocal: fc.boolean(),
  itpLocal: fc.boolean(),
  sourceRange: fc.boolean(),
  endpoints: fc.uniqueArray(fc.record({ ip: fc.integer({ min: 1, max: 5 }), local: fc.boolean(), ready: fc.boolean() }), { selector: (e) => e.ip, maxLength: 3 }),
});

const SERVICES = 4;

function docsOf(world: ServiceShape[]): Map<string, KubeDocument[]> {
  const out = new Map<string, KubeDocument[]>();
  world.forEach((s, i) => {
    if (!s.present) return;
    const ns = `ns${i % 2}`;
    const name = `svc${i}`;
    const ports = [{ name: "p80", port: 80, protocol: "TCP", targetPort: 80, ...(s.type === "ClusterIP" ? {} : { nodePort: 3000 + 10 * i }) }];
    if (s.twoPorts) ports.push({ name: "p53", port: 53, protocol: "UDP", targetPort: 53, ...(s.type === "ClusterIP" ? {} : { nodePort: 3001 + 10 * i }) });
    const spec: Record<string, unknown> = { type: s.type, clusterIP: `172.30.0.${10 + i}`, ports };
    // Two Services may share the external IP 1.2.3.4 (same port: the same element key).
    if (s.externalIP) spec["externalIPs"] = ["1.2.3.4"];
    if (s.affinity) spec["sessionAffinity"] = "ClientIP";
    if (s.etpLocal && s.type !== "ClusterIP") spec["externalTrafficPolicy"] = "Local";
    if (s.itpLocal) spec["internalTrafficPolicy"] = "Local";
    if (s.sourceRange && s.type === "LoadBalancer") spec["loadBalancerSourceRanges"] = ["203.0.113.0/25"];
    const status = s.type === "LoadBalancer" ? { loadBalancer: { ingress: [{ ip: `5.6.7.${i}` }] } } : {};
    const eps: Ep[] = s.endpoints.map((e) => ({ ip: `10.180.${i}.${e.ip}`, node: e.local ? FAKE_PROXIER.hostname : "other-node", ready: e.ready }));
    const slicePorts = [{ name: "p80", port: 80 }, ...(s.twoPorts ? [{ name: "p53", port: 53, protocol: "UDP" }] : [])];
    out.set(`${ns}/${name}`, [svc(ns, name, spec, status), slice(ns, name, slicePorts, eps)]);
  });
  return out;
}

/** The model's EndpointSlices by Service (what kube-proxy's EndpointSliceCache holds). */
function slicesByService(m: ProxyState): Map<string, EndpointSlice[]> {
  const out = new Map<string, EndpointSlice[]>();
  for (const sl of m.endpointSlices) {
    if (sl.serviceName === null) continue;
    const k = `${sl.namespace}/${sl.serviceName}`;
    out.set(k, [...(out.get(k) ?? []), sl]);
  }
  return out;
}

/** The same state as a plain object: a sync from it walks every Service (no kept state). */
function plain(s: NftablesProxierState): NftablesProxierState {
  return { objects: s.objects, chains: s.chains, sets: s.sets, elements: s.elements, staleChains: s.staleChains, time: s.time };
}

function view(r: NftablesSyncResult): unknown {
  return {
    cleanup: r.cleanupText,
    text: r.text,
    lines: r.lines.join("\n"),
    written: r.writtenServices,
    deletedStale: r.deletedStaleChains,
    flushed: r.flushedStaleChains,
    deletedSets: r.deletedAffinitySets,
    active: r.activeChains,
    state: { chains: r.state.chains, sets: r.state.sets, elements: r.state.elements, stale: r.state.staleChains, time: r.state.time },
  };
}

test("partial syncs on the kept state write what a walk over every Service writes", (t) => {
  const stepArb = fc.record({
    world: fc.array(shapeArb, { minLength: SERVICES, maxLength: SERVICES }),
    gap: fc.constantFrom(500, 60_000),
    hint: fc.constantFrom("none", "exact", "all"),
    index: fc.boolean(),
    from: fc.nat(),
  });
  fc.assert(
    fc.property(fc.array(shapeArb, { minLength: SERVICES, maxLength: SERVICES }), fc.array(stepArb, { minLength: 1, maxLength: 6 }), (first, steps) => {
      let docs = docsOf(first);
      const model = (d: Map<string, KubeDocument[]>) => buildKubeModel([...d.values()].flat(), [], FAKE_MODEL);
      const m0 = model(docs);
      const full = syncNftablesRules(m0, OPTIONS, { now: 0, slicesByService: slicesByService(m0) });
      // Every state reached, kept (fast) and plain (walks everything), with its documents.
      const history: { kept: NftablesProxierState; docs: Map<string, KubeDocument[]> }[] = [{ kept: full.state, docs }];
      for (const step of steps) {
        const from = history[step.from % history.length]!;
        const next = docsOf(step.world);
        const keys = new Set([...from.docs.keys(), ...next.keys()]);
        const changed = [...keys].filter((k) => JSON.stringify(from.docs.get(k)?.map((d) => d.body)) !== JSON.stringify(next.get(k)?.map((d) => d.body)));
        const hint = step.hint === "none" ? {} : { changedServices: step.hint === "all" ? keys : changed };
        const now = from.kept.time + step.gap;
        const walked = syncNftablesRules(model(next), OPTIONS, { previous: plain(from.kept), now });
        const nextModel = model(next);
        const kept = syncNftablesRules(nextModel, OPTIONS, { previous: from.kept, now, ...hint, ...(step.index ? { slicesByService: slicesByService(nextModel) } : {}) });
        t.deepEqual(view(kept), view(walked));
        docs = next;
        history.push({ kept: kept.state, docs });
      }
    }),
    { numRuns: 150, seed: 5 },
  );
});

test("an older state syncs again as it was (the kept state is undone for it)", (t) => {
  const a = docsOf([
    { present: true, type: "NodePort", twoPorts: true, externalIP: false, affinity: true, etpLocal: false, itpLocal: false, sourceRange: false, endpoints: [{ ip: 1, local: true, ready: true }] },
    { present: true, type: "ClusterIP", twoPorts: false, externalIP: false, affinity: false, etpLocal: false, itpLocal: false, sourceRange: false, endpoints: [{ ip: 2, local: false, ready: true }] },
  ]);
  const b = new Map(a);
  b.delete("ns0/svc0");
  const model = (d: Map<string, KubeDocument[]>) => buildKubeModel([...d.values()].flat(), [], FAKE_MODEL);
  const s0 = syncNftablesRules(model(a), OPTIONS, { now: 0 });
  const s1 = syncNftablesRules(model(b), OPTIONS, { previous: s0.state, now: 60_000 });
  const s2 = syncNftablesRules(model(b), OPTIONS, { previous: s1.state, now: 120_000 });
  t.not(s2.cleanupText, "");
  // s0 and s1 are older than the kept state now: syncing from them again gives what it gave.
  t.deepEqual(view(syncNftablesRules(model(b), OPTIONS, { previous: s0.state, now: 60_000 })), view(s1));
  t.deepEqual(view(syncNftablesRules(model(b), OPTIONS, { previous: s1.state, now: 120_000 })), view(s2));
  t.deepEqual(s0.state.chains, syncNftablesRules(model(a), OPTIONS, { now: 0 }).state.chains);
});

test("a dry run writes what the sync will write and keeps nothing", (t) => {
  const world: ServiceShape[] = [0, 1, 2].map((i) => ({ present: true, type: "NodePort", twoPorts: i === 1, externalIP: false, affinity: i === 2, etpLocal: false, itpLocal: false, sourceRange: false, endpoints: [{ ip: 1, local: true, ready: true }] }));
  const model = (d: Map<string, KubeDocument[]>) => buildKubeModel([...d.values()].flat(), [], FAKE_MODEL);
  const s0 = syncNftablesRules(model(docsOf(world)), OPTIONS, { now: 0 });
  const changed = world.map((w, i) => (i === 1 ? { ...w, endpoints: [{ ip: 2, local: false, ready: true }] } : w));
  const dry = syncNftablesRules(model(docsOf(changed)), OPTIONS, { previous: s0.state, now: 60_000, dryRun: true });
  t.is(dry.state, s0.state);
  const real = syncNftablesRules(model(docsOf(changed)), OPTIONS, { previous: s0.state, now: 60_000 });
  t.not(real.text, "");
  t.is(dry.text, real.text);
  t.deepEqual(view(syncNftablesRules(model(docsOf(changed)), OPTIONS, { previous: plain(s0.state), now: 60_000 })), view(real));
});
