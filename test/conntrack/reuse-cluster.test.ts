/**
 * Conn reuse end to end: DNS over UDP to the kube-dns ClusterIP and HTTP over TCP to the web
 * Service, from the client Pod on the embedded cluster, in rounds with every node's
 * conntrack table flushed between them — so the later rounds' entries reuse the earlier
 * ones' conn objects. Every frame on every device, every trace line and every answer must
 * be the same as in a run where no conn is ever reused (`reuseConns = false`).
 */
import test from "ava";
import { ipv4 } from "../../src/base/ipv4-int.js";
import { bootCluster } from "../../src/cluster/boot.js";
import { runExchange } from "../../src/cluster/exchange.js";
import { defaultCluster } from "../../src/cluster/load.js";
import { Recorder } from "../netns/helpers.js";

function run(reuse: boolean): { frames: Uint8Array[]; lines: string[]; outcomes: string[]; trace: string[]; reused: number } {
  const { cluster, services } = bootCluster(defaultCluster());
  for (const node of cluster.nodes.values()) node.netfilter.conntrack.reuseConns = reuse;
  const rec = new Recorder();
  for (const d of cluster.devices) d.taps.push(rec);
  const client = cluster.pod("default", "client")!;
  const vip = (name: string): number => ipv4(services.model.services.find((s) => s.name === name)!.clusterIP!);
  const dnsVip = vip("kube-dns");
  const webVip = vip("web");
  const outcomes: string[] = [];
  const trace: string[] = [];
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 4; i++) {
      for (const r of [
        runExchange(cluster, { title: "dns", from: client.ns, fromLabel: "client", dst: dnsVip, dstPort: 53, proto: "dns", dnsName: "web.default.svc.cluster.local" }),
        runExchange(cluster, { title: "http", from: client.ns, fromLabel: "client", dst: webVip, dstPort: 80, proto: "tcp" }),
      ]) {
        outcomes.push(`${r.ok} ${r.outcome}`);
        for (const e of r.events) trace.push(`${e.time} ${e.netns} ${e.device} ${e.detail} | ${e.summary}`);
      }
    }
    for (const node of cluster.nodes.values()) node.netfilter.conntrack.flush();
  }
  let reused = 0;
  for (const node of cluster.nodes.values()) reused += node.netfilter.conntrack.connsReused;
  return { frames: rec.frames, lines: rec.lines, outcomes, trace, reused };
}

test("flows on reused conns look exactly like flows on new ones, on every device", (t) => {
  const control = run(false);
  const reusing = run(true);
  t.is(control.reused, 0);
  t.true(reusing.reused >= 16, `conns reused: ${reusing.reused}`);
  t.true(control.outcomes.every((o) => o.startsWith("true")), control.outcomes.join("\n"));
  t.deepEqual(reusing.outcomes, control.outcomes);
  t.deepEqual(reusing.trace, control.trace);
  t.deepEqual(reusing.lines, control.lines);
  t.is(reusing.frames.length, control.frames.length);
  t.true(reusing.frames.every((f, i) => Buffer.compare(f, control.frames[i]!) === 0), "every frame byte for byte");
});
