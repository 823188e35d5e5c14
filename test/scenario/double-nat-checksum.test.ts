/**
 * Scenario 9, double NAT + --random-fully + VXLAN checksum offload: judged from the outer
 * UDP checksums of the VXLAN frames (recomputed here), the receiving node's UDP checksum
 * drops and the SYN retransmission times — not from the narrative.
 */
import test from "ava";
import { NS_PER_SEC } from "../../src/base/clock.js";
import { DOUBLE_NAT_CHECKSUM } from "../../src/scenario/cases/double-nat-checksum.js";
import { ScenarioContext } from "../../src/scenario/index.js";
import { frameFacts } from "../../src/scenario/frame-facts.js";
import type { LoggedFrame } from "../../src/scenario/frame-log.js";
import { foldSum, pseudoHeaderSum, sumBytes } from "../../src/wire/index.js";

function replay(fixed: boolean, yaml = DOUBLE_NAT_CHECKSUM.yaml, mode: "iptables" | "ipvs" = "iptables") {
  const ctx = new ScenarioContext({ ...DOUBLE_NAT_CHECKSUM, yaml }, { fixed, mode, seed: 1, pcapPath: null });
  const findings = DOUBLE_NAT_CHECKSUM.run(ctx);
  ctx.finish(true);
  return { ctx, findings };
}

/** The outer UDP checksum field of a VXLAN frame, and whether it verifies (0: none, valid). */
function outer(f: LoggedFrame): { sum: number; ok: boolean } | null {
  const x = frameFacts(f.bytes);
  if (x === null || x.dport !== 8472) return null;
  const l4 = 14 + (f.bytes[14]! & 15) * 4;
  const len = (f.bytes[l4 + 4]! << 8) | f.bytes[l4 + 5]!;
  const sum = (f.bytes[l4 + 6]! << 8) | f.bytes[l4 + 7]!;
  return { sum, ok: sum === 0 || foldSum(sumBytes(f.bytes, l4, len, pseudoHeaderSum(x.src, x.dst, 17, len))) === 0xffff };
}

function synsFromWorker1(ctx: ScenarioContext): LoggedFrame[] {
  const eth0 = ctx.cluster.cluster.node("worker-1")!.eth0;
  return ctx.frames.filter((f) => f.device === eth0 && f.direction === "tx" && ((frameFacts(f.bytes)?.inner?.tcpFlags ?? 0) & 0x12) === 0x02);
}

for (const mode of ["iptables", "ipvs"] as const) {
  test(`${mode}: the outer UDP checksum is 0xffff and wrong, worker-2 drops every SYN until the unmarked one at 63 s`, (t) => {
    const { ctx, findings } = replay(false, DOUBLE_NAT_CHECKSUM.yaml, mode);
    const syns = synsFromWorker1(ctx);
    t.deepEqual(syns.map((s) => Math.round((s.timeNs - syns[0]!.timeNs) / NS_PER_SEC)), [0, 1, 3, 7, 15, 31, 63]);
    const sums = syns.map(outer);
    t.deepEqual(sums.slice(0, 6).map((s) => s!.sum), [0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff]);
    t.true(sums.slice(0, 6).every((s) => !s!.ok));
    t.deepEqual(sums[6], { sum: 0, ok: true }, "the 63 s SYN is neither marked nor masqueraded");
    // The outer source port of the first six is the masquerade's random one; the last keeps the flow hash's.
    const ports = syns.map((s) => frameFacts(s.bytes)!.sport);
    t.is(new Set(ports.slice(0, 6)).size, 1);
    t.not(ports[6], ports[0]);
    t.is(ctx.cluster.cluster.node("worker-2")!.ns.stats.drops.get("udp-checksum"), 6);
    t.is(findings.counters.connectSeconds, 63);
    t.true(findings.symptom);
    // The capture test's list: every bad frame, on each device it crossed.
    t.deepEqual(findings.expectedBadChecksums, ctx.frames.filter((f) => outer(f)?.ok === false).map((f) => f.number));
  });
}

test("tx-checksum-ip-generic off on flannel.1: still double-NATed, but the checksum stays 0 and the SYN gets through at once", (t) => {
  const { ctx, findings } = replay(true);
  const syns = synsFromWorker1(ctx);
  t.is(syns.length, 1);
  t.deepEqual(outer(syns[0]!), { sum: 0, ok: true });
  t.is(ctx.cluster.cluster.node("worker-2")!.ns.stats.drops.get("udp-checksum") ?? 0, 0);
  t.deepEqual(findings.expectedBadChecksums, []);
  t.false(findings.symptom);
});

test("a fixed kernel (5.4.41) never updates a zero UDP checksum: no stall with offload on", (t) => {
  const { ctx, findings } = replay(false, DOUBLE_NAT_CHECKSUM.yaml.replace('kernelVersion: "5.4.40"', 'kernelVersion: "5.4.41"'));
  t.is(synsFromWorker1(ctx).length, 1);
  t.false(findings.symptom);
});
