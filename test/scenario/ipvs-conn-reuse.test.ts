/**
 * Scenario 11, IPVS connection reuse: judged from the client's SYNs, which of them reached a
 * web Pod, and the IPVS table's settings — not from the narrative.
 */
import { fc, testProp } from "@fast-check/ava";
import test from "ava";
import { NS_PER_SEC } from "../../src/base/clock.js";
import { IPVS_CONN_REUSE, runConnReuse, type ReuseLoad } from "../../src/scenario/cases/ipvs-conn-reuse.js";
import { ScenarioContext } from "../../src/scenario/index.js";
import { frameFacts } from "../../src/scenario/frame-facts.js";

function replay(fixed: boolean, load: ReuseLoad = { before: 8, after: 16 }, seed = 1, yaml = IPVS_CONN_REUSE.yaml) {
  const ctx = new ScenarioContext({ ...IPVS_CONN_REUSE, yaml }, { fixed, mode: "ipvs", seed, pcapPath: null });
  const findings = runConnReuse(ctx, load);
  ctx.finish(true);
  return { ctx, findings };
}

function clientSyns(ctx: ScenarioContext) {
  const client = ctx.cluster.cluster.pod("default", "client")!;
  return ctx.frames.filter((f) => f.device === client.eth0 && f.direction === "tx" && ((frameFacts(f.bytes)?.tcpFlags ?? 0) & 0x12) === 0x02);
}

test("4.19, kube-proxy's conn_reuse_mode=0: a reused port's SYN follows its old connection to the deleted web-a and is dropped; 1 s later it is rescheduled", (t) => {
  const { ctx, findings } = replay(false);
  const table = ctx.cluster.services.ipvs!.table("worker-1")!;
  t.is(table.sysctl.connReuseMode, 0);
  t.is(table.reuseBehaviour, "legacy");
  const syns = clientSyns(ctx);
  const ports = syns.map((s) => frameFacts(s.bytes)!.sport);
  t.true(ports.every((p) => p >= 32768 && p <= 32775));
  // Some SYN went out twice, exactly 1 s apart (the retransmission after IPVS dropped it).
  t.true(syns.some((s, i) => i > 0 && ports[i - 1] === ports[i] && s.timeNs - syns[i - 1]!.timeNs === NS_PER_SEC));
  t.true(findings.counters.droppedAfterUpdate! >= 1);
  t.true(findings.symptom);
});

test("4.19 with the kernel default conn_reuse_mode=1: a SYN on a TIME_WAIT port is dropped even with every server alive", (t) => {
  const yaml = IPVS_CONN_REUSE.yaml.replace('kernelVersion: "4.19.0"', 'kernelVersion: "4.19.0"\n  sysctls: {net.ipv4.vs.conn_reuse_mode: 1}');
  const { ctx, findings } = replay(false, { before: 12, after: 0 }, 1, yaml);
  t.is(ctx.cluster.services.ipvs!.table("worker-1")!.sysctl.connReuseMode, 1);
  t.true(findings.counters.stalled! >= 1);
  t.true(findings.symptom);
});

test("5.10: no SYN is dropped, and reused ports move to the new Pod", (t) => {
  const { ctx, findings } = replay(true);
  const table = ctx.cluster.services.ipvs!.table("worker-1")!;
  t.is(table.sysctl.connReuseMode, 1);
  t.is(table.reuseBehaviour, "modern");
  t.is(findings.counters.stalled, 0);
  t.true(findings.counters.synsToNewPod! >= 1);
  t.false(findings.symptom);
});

testProp(
  "over seeds and loads: on 5.10 no reused port ever stalls",
  [fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 2, max: 10 }), fc.integer({ min: 2, max: 10 })],
  (t, seed, before, after) => {
    const f = replay(true, { before, after }, seed).findings;
    t.false(f.symptom, f.summary);
    t.is(f.counters.stalled, 0);
  },
  { numRuns: 6 },
);

test("over seeds: on 4.19 some seed stalls", (t) => {
  let hit = 0;
  for (let seed = 1; seed <= 3; seed++) if (replay(false, { before: 8, after: 16 }, seed).findings.symptom) hit++;
  t.true(hit >= 1);
});
