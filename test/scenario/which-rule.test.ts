/**
 * Scenario 15, which rule ate the packet: the trace names the deciding rule (table, chain,
 * position) and the chain's counters agree with the packets the capture saw.
 */
import test from "ava";
import { WHICH_RULE } from "../../src/scenario/cases/which-rule.js";
import { ScenarioContext, frameFacts } from "../../src/scenario/index.js";

function replay(fixed: boolean, mode: "iptables" | "ipvs" | "nftables" = "iptables") {
  const ctx = new ScenarioContext(WHICH_RULE, { fixed, mode, seed: 1, pcapPath: null });
  const findings = WHICH_RULE.run(ctx);
  ctx.finish(true);
  return { ctx, findings };
}

function synsOnFlannel(ctx: ScenarioContext): number {
  const worker2 = ctx.cluster.cluster.node("worker-2")!;
  return ctx.frames.filter((f) => f.device === worker2.flannel && f.direction === "rx" && ((frameFacts(f.bytes)?.tcpFlags ?? 0) & 0x12) === 0x02).length;
}

for (const mode of ["iptables", "ipvs", "nftables"] as const) {
  test(`${mode}: the SYN dies at worker-2's FORWARD policy, which counts every one of them; flannel's rule accepts it with the fix`, (t) => {
    const { ctx, findings } = replay(false, mode);
    const forward = ctx.cluster.cluster.node("worker-2")!.netfilter.ruleset.tables.get("filter")!.chains.get("FORWARD")!;
    t.is(forward.policy, "DROP");
    t.is(findings.counters.synReachedNode, 1);
    t.is(findings.counters.synReachedPod, 0);
    t.is(forward.counters.packets, synsOnFlannel(ctx), "each SYN that reached worker-2 was counted by the policy");
    t.is(findings.counters.forwardPolicyDrops, forward.counters.packets);
    t.true(findings.evidence.some((e) => e.detail.includes("DROP by filter:FORWARD:policy:")));
    t.true(findings.symptom);

    const fixed = replay(true, mode);
    const fwd = fixed.ctx.cluster.cluster.node("worker-2")!.netfilter.ruleset.tables.get("filter")!.chains.get("FORWARD")!;
    t.is(fwd.counters.packets, 0);
    t.is(fixed.findings.counters.connectionOk, 1);
    t.true(fixed.findings.evidence.some((e) => e.detail.includes("ACCEPT by filter:FLANNEL-FWD:rule:1")));
    t.false(fixed.findings.symptom);
  });
}
