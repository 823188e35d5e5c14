/**
 * Scenario 6, INVALID packets resetting a long transfer: judged from the client's bytes,
 * the frames on its eth0 (a segment from the server Pod's own address, the client's RST)
 * and worker-1's conntrack and KUBE-FORWARD counters. Also: the same run on a 6.6 kernel,
 * where the late copy is ignored rather than INVALID, shows no symptom; and over seeds the
 * fix never lets the symptom through.
 */
import { fc, testProp } from "@fast-check/ava";
import test from "ava";
import { ipv4 } from "../../src/base/index.js";
import type { ProxyMode } from "../../src/cluster/spec.js";
import { INVALID_RST } from "../../src/scenario/cases/invalid-rst.js";
import { ScenarioContext, frameFacts } from "../../src/scenario/index.js";
import type { Scenario } from "../../src/scenario/index.js";

function replay(fixed: boolean, mode: ProxyMode, seed = 1, scenario: Scenario = INVALID_RST) {
  const ctx = new ScenarioContext(scenario, { fixed, mode, seed, pcapPath: null });
  const findings = scenario.run(ctx);
  ctx.finish(true);
  const c = ctx.cluster.cluster;
  const client = c.pods.get("default/client")!;
  const filesIp = c.pods.get("default/files")!.spec.podIP;
  const vip = ipv4(ctx.cluster.services.service("default", "files")!.clusterIP!);
  const onClient = ctx.frames.frames.filter((f) => f.device === client.eth0);
  const fromPodIp = onClient.filter((f) => f.direction === "rx" && frameFacts(f.bytes)?.src === filesIp);
  const rstToPod = onClient.filter((f) => f.direction === "tx" && frameFacts(f.bytes)?.dst === filesIp && (frameFacts(f.bytes)!.tcpFlags & 0x04) !== 0);
  const dataFromVip = onClient.filter((f) => f.direction === "rx" && frameFacts(f.bytes)?.src === vip).reduce((n, f) => n + frameFacts(f.bytes)!.payloadLen, 0);
  const w1 = c.node("worker-1")!;
  const dropRule = w1.netfilter.ruleset.tables.get("filter")?.chains.get("KUBE-FORWARD")?.rules.find((r) => r.target.kind === "DROP");
  return { findings, fromPodIp, rstToPod, dataFromVip, invalid: w1.netfilter.conntrack.stats.invalid, dropped: dropRule?.counters.packets ?? null };
}

for (const mode of INVALID_RST.modes) {
  test(`${mode}: an un-NATed late copy reaches the client, its RST kills the transfer; the fix keeps it whole`, (t) => {
    const broken = replay(false, mode);
    t.true(broken.findings.symptom);
    t.true(broken.fromPodIp.length >= 1, "a segment arrived from the server Pod's own address");
    t.true(broken.rstToPod.length >= 1, "the client answered it with a RST");
    t.true(broken.invalid >= 1, "worker-1's conntrack marked packets INVALID");
    t.true(broken.findings.counters.bytesReceived! < broken.findings.counters.bytesExpected!);
    t.is(broken.dropped, null, "no INVALID drop rule in KUBE-FORWARD");
    const fixed = replay(true, mode);
    t.false(fixed.findings.symptom);
    t.is(fixed.fromPodIp.length, 0);
    t.true(fixed.dataFromVip >= 1 << 20, "every byte came from the ClusterIP");
    if (mode === "iptables") t.true(fixed.dropped! >= 1, "KUBE-FORWARD dropped the INVALID copies");
    else t.is(fixed.invalid, 0, "tcp_be_liberal: nothing INVALID");
  });
}

test("on a 6.6 kernel the late copy is ignored, not INVALID: no reset even without the fix", (t) => {
  const modern: Scenario = { ...INVALID_RST, yaml: INVALID_RST.yaml.replace('kernelVersion: "4.19.0"', 'kernelVersion: "6.6.0"') };
  const r = replay(false, "iptables", 1, modern);
  t.false(r.findings.symptom, r.findings.summary);
  t.is(r.fromPodIp.length, 0);
  t.true(r.findings.counters.framesDuplicated! >= 1, "the link still duplicated frames");
});

testProp(
  "over seeds: the fix never shows the symptom, and without it some seed does",
  [fc.array(fc.integer({ min: 1, max: 1_000_000 }), { minLength: 2, maxLength: 2 })],
  (t, seeds) => {
    const broken = seeds.map((seed) => replay(false, "iptables", seed).findings.symptom);
    for (const seed of seeds) t.false(replay(true, "iptables", seed).findings.symptom, `seed ${seed}`);
    t.true(broken.some((s) => s), `seeds ${seeds.join(", ")}`);
  },
  { numRuns: 2 },
);
