/**
 * Scenario 4, hairpin: judged from the frames on the Pod's own eth0 and host veth and from
 * cni0's refusals, in every mode.
 */
import test from "ava";
import { ipv4 } from "../../src/base/index.js";
import type { ProxyMode } from "../../src/cluster/spec.js";
import { HAIRPIN } from "../../src/scenario/cases/hairpin.js";
import { ScenarioContext, frameFacts } from "../../src/scenario/index.js";

function replay(fixed: boolean, mode: ProxyMode) {
  const ctx = new ScenarioContext(HAIRPIN, { fixed, mode, seed: 1, pcapPath: null });
  const findings = HAIRPIN.run(ctx);
  ctx.finish(true);
  const c = ctx.cluster;
  const web = c.cluster.pods.get("default/web")!;
  const vip = ipv4(c.services.service("default", "web")!.clusterIP!);
  const onWeb = ctx.frames.frames.filter((f) => f.device === web.eth0);
  // The HTTP answer web got from its own Service.
  const answers = onWeb.filter((f) => f.direction === "rx" && frameFacts(f.bytes)?.src === vip && frameFacts(f.bytes)!.payloadLen > 0);
  // Connections web accepted on 8080 (SYNs on its eth0), with their source.
  const syns = onWeb.filter((f) => f.direction === "rx" && frameFacts(f.bytes)?.dport === 8080 && ((frameFacts(f.bytes)!.tcpFlags & 0x12) === 0x02));
  return { ctx, findings, web, answers, syns, refused: web.node.cni0.stats.drops.get("same-port-no-hairpin") ?? 0 };
}

for (const mode of HAIRPIN.modes) {
  test(`${mode}: without hairpin mode web's frames back to its own port are refused and no answer arrives; with it, the masqueraded connection works`, (t) => {
    const broken = replay(false, mode);
    t.true(broken.findings.symptom);
    t.is(broken.answers.length, 0, "no answer from the ClusterIP reached web");
    t.true(broken.refused >= 1, "cni0 refused frames to web's own port");
    t.is(broken.findings.counters.hairpinRefused, broken.refused);
    const fixed = replay(true, mode);
    t.false(fixed.findings.symptom);
    t.true(fixed.answers.length > 0);
    t.is(fixed.refused, 0);
    // kube-proxy's hairpin masquerade: web sees its own connection coming from cni0's address.
    const selfSyn = fixed.syns.find((f) => frameFacts(f.bytes)!.src === fixed.web.node.gateway);
    t.truthy(selfSyn, "web accepted a connection from 10.244.1.1 (masqueraded)");
  });
}
