/**
 * Scenario 3, stale UDP conntrack after a Pod is replaced: judged from the sink sockets,
 * the frames on worker-2's cni0 and worker-1's conntrack table, not from the narrative.
 */
import { fc, testProp } from "@fast-check/ava";
import test from "ava";
import { formatIpv4 } from "../../src/base/index.js";
import { STALE_UDP_CONNTRACK, runStaleUdp } from "../../src/scenario/cases/stale-udp-conntrack.js";
import { ScenarioContext } from "../../src/scenario/index.js";

function replay(fixed: boolean, periodS = 1, seed = 1) {
  const ctx = new ScenarioContext(STALE_UDP_CONNTRACK, { fixed, mode: "iptables", seed, pcapPath: null });
  const findings = runStaleUdp(ctx, { periodS });
  ctx.finish(true);
  return { ctx, findings };
}

/** worker-1's conntrack lines of the client's NodePort flow. */
function flowEntries(ctx: ScenarioContext): string[] {
  return ctx.cluster.cluster.node("worker-1")!.netfilter.conntrack.list().filter((l) => l.startsWith("udp") && l.includes("sport=41234 dport=30125"));
}

test("without the fix every datagram after the replacement goes to the dead Pod's address, and the entry outlives its timeout", (t) => {
  const { ctx, findings } = replay(false);
  const c = findings.counters;
  t.true(c.datagramsSentAfterReplacement! > 30, "sent for longer than nf_conntrack_udp_timeout");
  t.is(c.receivedByNewPod, 0);
  t.is(c.framesToDeadPod, c.datagramsSentAfterReplacement, "one frame to 10.244.2.2 on worker-2's cni0 per datagram");
  t.is(c.conntrackDeleted, 0);
  const entries = flowEntries(ctx);
  t.is(entries.length, 1);
  t.regex(entries[0]!, /\[UNREPLIED\] src=10\.244\.2\.2 /, "still DNATed to the deleted statsd-a");
  t.is(ctx.cluster.cluster.pod("default", "statsd-a"), undefined);
  t.true(findings.symptom);
});

test("with the fix kube-proxy deletes the entry and the next datagram reaches the new Pod", (t) => {
  const { ctx, findings } = replay(true);
  const c = findings.counters;
  t.is(c.conntrackDeleted, 1);
  t.is(c.framesToDeadPod, 0);
  t.is(c.receivedByNewPod, c.datagramsSentAfterReplacement);
  const fresh = ctx.cluster.cluster.pod("default", "statsd-b")!;
  const entries = flowEntries(ctx);
  t.is(entries.length, 1);
  t.true(entries[0]!.includes(`[UNREPLIED] src=${formatIpv4(fresh.spec.podIP)} `), entries[0]!);
  t.false(findings.symptom);
});

// Any sender that sends more often than the 30 s UDP timeout keeps the stale entry alive
// without the fix; with it, none loses a datagram. A sender slower than the timeout lets the
// entry expire between datagrams, so it recovers by itself even without the fix.
testProp(
  "over seeds and send periods: the blackhole needs a period under nf_conntrack_udp_timeout, and the fix removes it",
  [fc.integer({ min: 1, max: 10_000 }), fc.oneof(fc.double({ min: 0.25, max: 29, noNaN: true }), fc.double({ min: 31, max: 50, noNaN: true }))],
  (t, seed, periodS) => {
    const broken = replay(false, periodS, seed).findings;
    const fixed = replay(true, periodS, seed).findings;
    t.is(broken.symptom, periodS < 30, `period ${periodS} s: ${broken.summary}`);
    t.false(fixed.symptom, fixed.summary);
    t.is(fixed.counters.receivedByNewPod, fixed.counters.datagramsSentAfterReplacement);
  },
  { numRuns: 10 },
);
