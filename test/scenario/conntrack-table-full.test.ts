/**
 * Scenario 7, a full conntrack table: judged from the requests' outcomes, the node's
 * conntrack counters (`drop`, `early_drop`) and its entries, not from the narrative.
 */
import { fc, testProp } from "@fast-check/ava";
import test from "ava";
import { CONNTRACK_TABLE_FULL, runTableFull, type TableFullLoad } from "../../src/scenario/cases/conntrack-table-full.js";
import { ScenarioContext } from "../../src/scenario/index.js";

function replay(fixed: boolean, load: TableFullLoad = { poolSize: 300, requests: 20 }, seed = 1, mode: "iptables" | "ipvs" | "nftables" = "iptables") {
  const ctx = new ScenarioContext(CONNTRACK_TABLE_FULL, { fixed, mode, seed, pcapPath: null });
  const findings = runTableFull(ctx, load);
  ctx.finish(true);
  return { ctx, findings };
}

test("without the fix worker-1's table sits at nf_conntrack_max, new SYNs are dropped and counted, ASSURED entries stay", (t) => {
  const { ctx, findings } = replay(false);
  const c = findings.counters;
  const ct = ctx.cluster.cluster.node("worker-1")!.netfilter.conntrack;
  t.is(ct.max, 256, "kube-proxy with maxPerCore 0 left the node's limit alone");
  t.is(ct.count, 256);
  t.true(c.drop! > 0, "nf_conntrack_in counted the refused packets");
  t.true(c.early_drop! > 0, "early_drop evicted what it may");
  t.true(c.requestsFailed! > 0 && c.requestsFailed! < c.requests!, "some requests, not all");
  t.true(c.poolOpen! < 300, "the pool could not open every connection either");
  // Only entries that are not ASSURED were evicted: every open connection still has its entry.
  const lines = ct.list();
  const assured = lines.filter((l) => l.startsWith("tcp") && l.includes("[ASSURED]") && l.includes("dport=9000"));
  t.is(assured.length, c.poolOpen!);
  t.true(findings.symptom);
});

test("with kube-proxy's conntrack defaults the table is 131072 entries and nothing is dropped", (t) => {
  const { ctx, findings } = replay(true);
  const ct = ctx.cluster.cluster.node("worker-1")!.netfilter.conntrack;
  t.is(ct.max, 131072);
  t.is(findings.counters.drop, 0);
  t.is(findings.counters.requestsFailed, 0);
  t.is(findings.counters.poolOpen, 300);
  t.false(findings.symptom);
});

test("the same in IPVS mode: IPVS's connections are tracked in the same table", (t) => {
  const broken = replay(false, { poolSize: 300, requests: 20 }, 1, "ipvs").findings;
  t.true(broken.symptom, broken.summary);
  t.true(broken.counters.drop! > 0);
  t.false(replay(true, { poolSize: 300, requests: 20 }, 1, "ipvs").findings.symptom);
});

// Over seeds and loads: a load that stays well under the limit never drops; one far over it
// always fills the table, drops SYNs and leaves pooled connections unopened (whether one of
// the 12 requests also fails depends on the seed: early_drop and retransmits can save them
// all, e.g. seeds 11 and 9999 here); with kube-proxy's sizing no load here drops anything.
testProp(
  "over seeds and pool sizes: drops only when the connections outgrow nf_conntrack_max, and never with kube-proxy's sizing",
  [fc.integer({ min: 1, max: 10_000 }), fc.oneof(fc.integer({ min: 5, max: 40 }), fc.integer({ min: 300, max: 400 }))],
  (t, seed, poolSize) => {
    const load = { poolSize, requests: 12 };
    const broken = replay(false, load, seed).findings;
    const fixed = replay(true, load, seed).findings;
    if (poolSize <= 40) {
      t.false(broken.symptom, broken.summary);
      t.is(broken.counters.drop, 0);
    } else {
      t.true(broken.counters.drop! > 0, broken.summary);
      t.true(broken.counters.poolOpen! < poolSize, broken.summary);
    }
    t.false(fixed.symptom, fixed.summary);
    t.is(fixed.counters.drop, 0);
    t.is(fixed.counters.poolOpen, poolSize);
  },
  { numRuns: 8 },
);
