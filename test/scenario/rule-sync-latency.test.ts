/**
 * Scenario 12, rule sync latency: judged from the connection attempts' outcomes and the
 * sync loop's record (lines written, when the rules landed), not from the narrative.
 */
import test from "ava";
import { RULE_SYNC_LATENCY, runRuleSyncLatency, type SyncScale } from "../../src/scenario/cases/rule-sync-latency.js";
import { ScenarioContext } from "../../src/scenario/index.js";

function replay(fixed: boolean, scale: SyncScale) {
  const ctx = new ScenarioContext(RULE_SYNC_LATENCY, { fixed, mode: "iptables", seed: 1, pcapPath: null });
  const findings = runRuleSyncLatency(ctx, scale);
  ctx.finish(true);
  return findings.counters;
}

test("a full-table sync keeps the new Service unreachable until it lands; nftables' partial sync lands at once", (t) => {
  const broken = replay(false, { services: 500, endpoints: 10 });
  t.true(broken.syncLines! > 16_000, "the whole table: every bulk Service's rules");
  t.true(broken.failedAttempts! >= 8);
  // The first answered attempt is the first one after the load committed.
  t.true(broken.unreachableMs! >= broken.syncMs! && broken.unreachableMs! <= broken.syncMs! + 300, `${broken.unreachableMs} vs ${broken.syncMs}`);
  const fixed = replay(true, { services: 500, endpoints: 10 });
  t.true(fixed.syncLines! < 50);
  t.is(fixed.failedAttempts, 0);
});

test("the iptables delay grows with the cluster, the nftables one does not", (t) => {
  const small = replay(false, { services: 50, endpoints: 10 });
  const large = replay(false, { services: 300, endpoints: 10 });
  t.true(large.syncLines! > 5 * small.syncLines!, `${large.syncLines} vs ${small.syncLines}`);
  t.true(large.syncMs! > 5 * small.syncMs!);
  t.true(large.failedAttempts! > small.failedAttempts!);
  t.is(replay(true, { services: 50, endpoints: 10 }).syncLines, replay(true, { services: 300, endpoints: 10 }).syncLines);
});
