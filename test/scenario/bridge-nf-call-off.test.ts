/**
 * Scenario 5, bridge-nf-call-iptables=0: judged from the DNS answers on the clients' eth0,
 * the ICMP the resolver's kernel sends back and worker-1's conntrack table.
 */
import test from "ava";
import type { ProxyMode } from "../../src/cluster/spec.js";
import { BRIDGE_NF_CALL_OFF } from "../../src/scenario/cases/bridge-nf-call-off.js";
import { ScenarioContext, frameFacts } from "../../src/scenario/index.js";

function replay(fixed: boolean, mode: ProxyMode) {
  const ctx = new ScenarioContext(BRIDGE_NF_CALL_OFF, { fixed, mode, seed: 1, pcapPath: null });
  const findings = BRIDGE_NF_CALL_OFF.run(ctx);
  ctx.finish(true);
  const c = ctx.cluster.cluster;
  const coredns = c.pods.get("kube-system/coredns-0")!.spec.podIP;
  const client1 = c.pods.get("default/client-1")!;
  const client2 = c.pods.get("default/client-2")!;
  const answersTo = (eth0: unknown) => ctx.frames.frames.filter((f) => f.device === eth0 && f.direction === "rx" && frameFacts(f.bytes)?.sport === 53).map((f) => frameFacts(f.bytes)!.src);
  const unreachable = ctx.frames.frames.filter((f) => f.device === client1.eth0 && f.direction === "tx" && frameFacts(f.bytes)?.icmpType === 3 && frameFacts(f.bytes)?.icmpCode === 3);
  const unreplied = c.node("worker-1")!.netfilter.conntrack.list().filter((l) => l.includes("dport=53") && l.includes("[UNREPLIED]"));
  return { findings, coredns, same: answersTo(client1.eth0), other: answersTo(client2.eth0), unreachable, unreplied };
}

for (const mode of BRIDGE_NF_CALL_OFF.modes) {
  test(`${mode}: off, the same-node client gets CoreDNS's answer from the Pod's address and rejects it; on, from the ClusterIP`, (t) => {
    const off = replay(false, mode);
    t.true(off.findings.symptom);
    t.true(off.same.length >= 2, "an answer to each of the two attempts");
    t.true(off.same.every((src) => src === off.coredns), "answers from CoreDNS's own address, never un-NATed");
    t.is(off.unreachable.length, off.same.length, "the connected resolver socket refuses each one: ICMP port unreachable");
    t.is(off.unreplied.length, 1, "worker-1's conntrack never saw the answer");
    t.true(off.other.length >= 1 && off.other.every((src) => src !== off.coredns), "the client on the other node is un-NATed");
    const on = replay(true, mode);
    t.false(on.findings.symptom);
    t.is(on.same.length, 1);
    t.not(on.same[0], on.coredns, "answered from the ClusterIP");
    t.is(on.unreachable.length, 0);
    t.is(on.unreplied.length, 0);
  });
}
