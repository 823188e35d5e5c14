/**
 * Issue 11 §6: `trace --json` hops are structured (schemaVersion 1, documented in the README's
 * "Trace JSON schema"): the rules a walk hit with table, chain, 1-based position and text, the
 * verdict, NAT as {kind, from, to}, conntrack {state, tuple}, drop {reason}, and the frame of
 * the hop's packet in the --pcap capture. In every proxy mode.
 */
import { spawnSync } from "node:child_process";
import test from "ava";

const BIN = new URL("../../bin/podwire.js", import.meta.url).pathname;

function trace(...args: string[]): { code: number | null; json: TraceJson; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, "trace", ...args, "--json"], { encoding: "utf8" });
  return { code: r.status, json: r.stdout ? (JSON.parse(r.stdout) as TraceJson) : ({} as TraceJson), stderr: r.stderr };
}

interface Rule {
  table: string;
  chain: string;
  position: number | null;
  rule: string;
}
interface Hop {
  timeNs: number;
  netns: string;
  device: string;
  action: string;
  packetId: number | null;
  frame: number | null;
  packet: { proto: string; src: string; dst: string; info: string; summary: string } | null;
  hook: string | null;
  detail: string;
  rules: Rule[] | null;
  verdict: string | null;
  nat: { kind: string; from: string; to: string; reply: boolean } | null;
  conntrack: { state: string; tuple: string; direction: string | null } | null;
  drop: { reason: string } | null;
}
interface TraceJson {
  schemaVersion: number;
  hops: Hop[];
  [k: string]: unknown;
}

const HOP_KEYS = ["timeNs", "netns", "device", "action", "packetId", "frame", "packet", "hook", "detail", "rules", "verdict", "nat", "conntrack", "drop"].sort();

test("iptables: schemaVersion 1; every hop has every field; the DNAT walk, the masquerade on the way out, conntrack and policies are structured", (t) => {
  const { code, json, stderr } = trace("--from", "ext/outside", "--to", "node/worker-2:30080");
  t.is(code, 0, stderr);
  t.is(json.schemaVersion, 1);
  for (const h of json.hops) t.deepEqual(Object.keys(h).sort(), HOP_KEYS);
  // No capture asked for: no frame numbers.
  t.true(json.hops.every((h) => h.frame === null));
  const dnat = json.hops.find((h) => h.nat?.kind === "DNAT" && h.rules !== null)!;
  t.truthy(dnat);
  t.like(dnat, { netns: "worker-2", device: "eth0", action: "netfilter", hook: "PREROUTING", verdict: "DNAT", detail: "nat PREROUTING" });
  t.like(dnat.nat, { from: "192.168.56.12:30080", reply: false });
  t.regex(dnat.nat!.to, /^10\.244\.\d+\.\d+:8080$/);
  t.deepEqual(dnat.rules![0], { table: "nat", chain: "PREROUTING", position: 1, rule: '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES' });
  const sep = dnat.rules![dnat.rules!.length - 1]!;
  t.regex(sep.chain, /^KUBE-SEP-/);
  t.true(Number.isInteger(sep.position) && sep.position! >= 1);
  t.regex(sep.rule, new RegExp(`-j DNAT --to-destination ${dnat.nat!.to.replace(/\./g, "\\.")}$`));
  t.true(dnat.rules!.every((r) => r.table === "nat"));
  t.like(dnat.packet, { proto: "tcp", dst: "192.168.56.12:30080", info: "[S]" });

  // The masquerade: at POSTROUTING, on the device the packet leaves by (the old trace named the way in).
  const masq = json.hops.find((h) => h.nat?.kind === "MASQUERADE")!;
  t.truthy(masq);
  t.like(masq, { netns: "worker-2", hook: "POSTROUTING", verdict: "MASQUERADE" });
  t.not(masq.device, "eth0");
  const out = json.hops.find((h) => h.packetId === masq.packetId && (h.action === "forward" || h.action === "send") && h.netns === "worker-2")!;
  t.is(masq.device, out.device);
  t.regex(masq.nat!.from, /^192\.168\.56\.100:\d+$/);
  // The hop shows the packet as it leaves: rewritten.
  t.is(masq.packet!.src, masq.nat!.to);

  const ct = json.hops.find((h) => h.conntrack !== null && h.netns === "worker-2")!;
  t.like(ct.conntrack, { state: "NEW", direction: "original" });
  t.regex(ct.conntrack!.tuple, /^src=192\.168\.56\.100 dst=192\.168\.56\.12 sport=\d+ dport=30080$/);

  // Replies: un-NATed from the binding.
  t.true(json.hops.some((h) => h.nat?.reply === true && h.nat.kind === "DNAT" && h.nat.to === "192.168.56.12:30080"));
  // Packets are numbered; a reply is another packet.
  const ids = new Set(json.hops.map((h) => h.packetId).filter((x) => x !== null));
  t.true(ids.size > 4);
});

test("a drop says why; an ICMP error is a hop of its own; a walk that reached a policy ends with the policy", (t) => {
  const { code, json } = trace("--from", "pod/default/client", "--to", "pod/default/web-1:9999", "--proto", "udp");
  t.is(code, 1);
  // The VXLAN packet's walk through worker-2's INPUT chain: its last step is the policy, not a rule.
  const policy = json.hops.find((h) => h.netns === "worker-2" && h.hook === "INPUT" && h.rules !== null)!;
  t.truthy(policy);
  t.deepEqual(policy.rules![policy.rules!.length - 1], { table: "filter", chain: "INPUT", position: null, rule: "policy ACCEPT" });
  t.is(policy.verdict, "ACCEPT");
  const drop = json.hops.find((h) => h.action === "drop" && h.netns === "default/web-1")!;
  t.deepEqual(drop.drop, { reason: "udp-no-socket" });
  t.true(json.hops.some((h) => h.action === "icmp-error" && h.netns === "default/web-1" && h.packet?.proto === "icmp" && h.packet.info === "port unreachable"));
});

test("IPVS mode: the virtual service's real server as a rule step, its DNAT, and the reply's un-DNAT", (t) => {
  const { code, json, stderr } = trace("--mode", "ipvs", "--from", "pod/default/client", "--to", "svc/default/web");
  t.is(code, 0, stderr);
  const ipvs = json.hops.find((h) => h.rules?.[0]?.table === "ipvs")!;
  t.truthy(ipvs);
  t.like(ipvs, { netns: "worker-1", action: "netfilter", hook: "INPUT", verdict: "DNAT" });
  t.regex(ipvs.rules![0]!.chain, /^TCP 10\.96\.\d+\.\d+:80$/);
  t.true(ipvs.rules![0]!.position! >= 1);
  t.regex(ipvs.rules![0]!.rule, /^-> 10\.244\.\d+\.\d+:8080 weight 1 \(scheduled by rr\)$/);
  t.regex(ipvs.nat!.from, /^10\.96\.\d+\.\d+:80$/);
  t.regex(ipvs.nat!.to, /^10\.244\.\d+\.\d+:8080$/);
  t.true(json.hops.some((h) => h.rules !== null && h.rules[0]!.table === "nat" && h.hook === "PREROUTING"), "the iptables rules of IPVS mode are structured too");
  t.true(json.hops.some((h) => h.nat?.reply === true && h.nat.to === ipvs.nat!.from));
});

test("nftables mode: the nft table, chain, rule position and text, and the DNAT", (t) => {
  const { code, json, stderr } = trace("--mode", "nftables", "--from", "pod/default/client", "--to", "svc/default/web");
  t.is(code, 0, stderr);
  const dnat = json.hops.find((h) => h.nat?.kind === "DNAT" && h.rules !== null)!;
  t.truthy(dnat);
  t.like(dnat, { netns: "worker-1", hook: "PREROUTING", verdict: "DNAT" });
  t.regex(dnat.detail, /^nft ip kube-proxy nat-prerouting \(prerouting -100\)$/);
  t.true(dnat.rules!.every((r) => r.table === "ip kube-proxy"));
  t.like(dnat.rules![0], { chain: "nat-prerouting", position: 1 });
  const last = dnat.rules![dnat.rules!.length - 1]!;
  t.regex(last.chain, /^endpoint-/);
  t.regex(last.rule, /dnat to 10\.244\.\d+\.\d+:8080$/);
  t.is(`dnat to ${dnat.nat!.to}`, last.rule.replace(/^.*(dnat to \S+)$/, "$1"));
});
