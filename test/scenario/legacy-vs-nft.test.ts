/**
 * Scenario 13, iptables-legacy vs iptables-nft: judged from the client's frames and the
 * FORWARD counters of both backends.
 */
import test from "ava";
import type { ProxyMode } from "../../src/cluster/spec.js";
import { printRuleset } from "../../src/netfilter/save-print.js";
import { LEGACY_VS_NFT } from "../../src/scenario/cases/legacy-vs-nft.js";
import { ScenarioContext, frameFacts } from "../../src/scenario/index.js";

function replay(fixed: boolean, mode: ProxyMode) {
  const ctx = new ScenarioContext(LEGACY_VS_NFT, { fixed, mode, seed: 1, pcapPath: null });
  const findings = LEGACY_VS_NFT.run(ctx);
  ctx.finish(true);
  const c = ctx.cluster.cluster;
  const client = c.pods.get("default/client")!;
  const answers = ctx.frames.frames.filter((f) => f.device === client.eth0 && f.direction === "rx" && (frameFacts(f.bytes)?.payloadLen ?? 0) > 0);
  let legacyDrops = 0;
  for (const n of c.nodes.values()) legacyDrops += n.netfilter.otherBackend?.ruleset.tables.get("filter")!.chains.get("FORWARD")!.counters.packets ?? 0;
  return { findings, answers, legacyDrops, nodes: [...c.nodes.values()] };
}

for (const mode of LEGACY_VS_NFT.modes) {
  test(`${mode}: the legacy FORWARD DROP eats what kube-proxy's nft rules accept; one backend lets it through`, (t) => {
    const broken = replay(false, mode);
    t.true(broken.findings.symptom);
    t.is(broken.answers.length, 0);
    t.true(broken.legacyDrops >= 1, "the legacy FORWARD policy counted the dropped SYNs");
    for (const n of broken.nodes) {
      t.notRegex(printRuleset(n.netfilter.ruleset), /:FORWARD DROP/, "kube-proxy's iptables-save shows no DROP policy");
      t.regex(printRuleset(n.netfilter.otherBackend!.ruleset), /:FORWARD DROP/);
    }
    const fixed = replay(true, mode);
    t.false(fixed.findings.symptom);
    t.true(fixed.answers.length > 0);
    for (const n of fixed.nodes) {
      t.is(n.netfilter.otherBackend, null, "one backend");
      t.regex(printRuleset(n.netfilter.ruleset), /:FORWARD DROP/, "Docker's policy is there, beside kube-proxy's accepts");
    }
  });
}
