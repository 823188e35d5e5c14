/**
 * Scenario 8, the VXLAN MTU black hole: judged from the segment sizes on the server's eth0
 * and worker-2's flannel.1, worker-2's frag-needed drops and the client's bytes; and, with
 * the ICMP let through, path MTU discovery recovering the same misconfiguration.
 */
import test from "ava";
import type { ProxyMode } from "../../src/cluster/spec.js";
import { VXLAN_MTU, runVxlanMtu } from "../../src/scenario/cases/vxlan-mtu.js";
import { ScenarioContext, frameFacts } from "../../src/scenario/index.js";

function replay(fixed: boolean, mode: ProxyMode, blockIcmp = true) {
  const ctx = new ScenarioContext(VXLAN_MTU, { fixed, mode, seed: 1, pcapPath: null });
  const findings = runVxlanMtu(ctx, { blockIcmp });
  ctx.finish(true);
  const c = ctx.cluster.cluster;
  const files = c.pods.get("default/files")!;
  const w2 = c.node("worker-2")!;
  const sizes = (dev: unknown, dir: string) => ctx.frames.frames.filter((f) => f.device === dev && f.direction === dir && (frameFacts(f.bytes)?.payloadLen ?? 0) > 0).map((f) => frameFacts(f.bytes)!.ipLen);
  return {
    findings,
    sent: sizes(files.eth0, "tx"),
    overlay: sizes(w2.flannel, "tx"),
    fragNeeded: w2.ns.stats.drops.get("frag-needed") ?? 0,
    retrans: files.ns.tcp.retransmittedSegments,
    pmtu: files.ns.pathMtu(c.pods.get("default/client")!.spec.podIP, 1500),
  };
}

for (const mode of VXLAN_MTU.modes) {
  test(`${mode}: Pod MTU 1500 over VXLAN with the ICMP blocked — nothing but the handshake crosses; MTU 1450 — everything does`, (t) => {
    const broken = replay(false, mode);
    t.true(broken.findings.symptom);
    t.is(broken.findings.counters.bytesReceived, 0);
    t.true(broken.sent.every((n) => n === 1500), "every data segment was 1500 bytes with DF");
    t.is(broken.overlay.length, 0, "none left worker-2 on flannel.1");
    t.true(broken.fragNeeded >= 10);
    t.true(broken.retrans >= 5, "retransmitted on the RTO backoff");
    t.is(broken.pmtu, 1500, "the server never learned the path MTU");
    const fixed = replay(true, mode);
    t.false(fixed.findings.symptom);
    t.is(Math.max(...fixed.sent), 1450);
    t.is(fixed.fragNeeded, 0);
    t.is(fixed.retrans, 0);
  });
}

test("with the ICMP let through, path MTU discovery recovers the misconfigured Pods: the transfer completes after one round of retransmissions", (t) => {
  const r = replay(false, "iptables", false);
  t.false(r.findings.symptom, r.findings.summary);
  t.true(r.fragNeeded >= 1);
  t.true(r.retrans >= 1);
  t.is(r.pmtu, 1450, "the server's route to the client learned the flannel.1 MTU");
  t.true(r.overlay.every((n) => n <= 1450));
});
