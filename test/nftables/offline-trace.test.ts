/**
 * The offline nft walk behind `trace-rules`: a hand-written ruleset through the hooks in
 * priority order (nat only for a new connection, the routing decision from the local
 * addresses), numgen splits enumerated with their probabilities, affinity sets from empty,
 * rules located by their line; kube-proxy's own nftables output, in both the `nft -f` and
 * the `nft list ruleset` spelling; and an iptables ruleset and an nft one together.
 */
import test from "ava";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseIpv4 } from "../../src/base/index.js";
import { runTraceRules } from "../../src/cli/trace-rules.js";
import { bootCluster } from "../../src/cluster/boot.js";
import { defaultCluster } from "../../src/cluster/load.js";
import { applyRestore } from "../../src/netfilter/apply-restore.js";
import { newRuleset } from "../../src/netfilter/model.js";
import { type OfflineTraceOptions, parsePacketSpec } from "../../src/netfilter/offline-trace.js";
import { parseRestore } from "../../src/netfilter/restore-parse.js";
import { printRule as printIptRule } from "../../src/netfilter/save-print.js";
import type { NftLocation } from "../../src/nftables/errors.js";
import { type NftRule, parseNftRuleset, printRuleset } from "../../src/nftables/index.js";
import { traceHooks } from "../../src/nftables/offline-trace.js";

const RULESET = `# a hand-written node ruleset
table ip node {
\tset aff {
\t\ttype ipv4_addr
\t\tflags dynamic,timeout
\t\ttimeout 3h
\t\telements = { 10.0.0.7 expires 1h }
\t}

\tchain pre {
\t\ttype filter hook prerouting priority -110; policy accept;
\t\tmeta iifname "bad0" drop
\t\tct state established,related accept
\t}

\tchain dnat-pre {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tip daddr 10.96.0.1 tcp dport 80 jump svc
\t}

\tchain svc {
\t\tip saddr @aff goto ep-a
\t\tnumgen random mod 4 vmap { 0-1 : goto ep-a, 2 : goto ep-b, 3 : goto ep-c }
\t}

\tchain ep-a {
\t\tupdate @aff { ip saddr }
\t\tmeta mark set meta mark | 0x00004000
\t\tmeta l4proto tcp dnat to 10.244.1.2:8080
\t}

\tchain ep-b {
\t\tmeta l4proto tcp dnat to 10.244.2.2:8080
\t}

\tchain ep-c {
\t\tmeta l4proto tcp dnat to 10.244.3.2:8080
\t}

\tchain in {
\t\ttype filter hook input priority filter; policy drop;
\t\ttcp dport 22 accept
\t\tfib daddr type local tcp dport 9999 reject with tcp reset
\t}

\tchain fwd {
\t\ttype filter hook forward priority filter; policy accept;
\t\tip daddr 10.244.3.2 drop
\t}

\tchain post {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\tmeta mark & 0x00004000 == 0x00004000 masquerade
\t}

\tchain out {
\t\ttype filter hook output priority filter; policy accept;
\t\toifname "eth0" ip daddr 8.8.8.8 drop
\t}
}
`;

/** The 1-based line of RULESET holding `text`. */
const lineOf = (text: string): number => RULESET.split("\n").findIndex((l) => l.includes(text)) + 1;

function opts(packet: string, over: Partial<OfflineTraceOptions> = {}): OfflineTraceOptions {
  return { packet: parsePacketSpec(packet), hook: "prerouting", inIface: "eth0", outIface: "", local: [parseIpv4("192.168.1.10")], mark: 0, ctstate: "NEW", seed: 1, ipsets: null, ...over };
}

function load() {
  const locs = new Map<NftRule, NftLocation>();
  const nft = parseNftRuleset(RULESET, "node.nft", locs);
  return { nft, locs };
}

test("a new connection: DNAT through a numgen split, every destination with its share of the mod range", (t) => {
  const { nft, locs } = load();
  const r = traceHooks({ nft, nftRuleLocs: locs, iptables: null }, opts("tcp 192.168.1.50:40000 > 10.96.0.1:80"));
  t.is(r.verdict === "accept" || r.verdict === "drop", true);
  // ep-a covers values 0 and 1 of the mod range (1/2); ep-b and ep-c one value each; ep-c is dropped in forward.
  t.deepEqual(r.candidates, [
    { destination: "10.244.1.2:8080", probability: 0.5 },
    { destination: "10.244.2.2:8080", probability: 0.25 },
    { destination: "drop", probability: 0.25 },
  ]);
  t.true(r.candidatesComplete);
  t.is(r.candidatesCovered, 1);
  // The affinity set's element from the dump is ignored: the lookup misses, numgen decides.
  const svc = r.rules.filter((h) => h.chain === "svc");
  t.deepEqual(svc.map((h) => h.position), [2]);
  t.is(svc[0]!.rule, "numgen random mod 4 vmap { 0-1 : goto ep-a, 2 : goto ep-b, 3 : goto ep-c }");
  t.is(svc[0]!.line, lineOf("numgen random mod 4"));
  t.is(svc[0]!.line, 23);
  t.is(svc[0]!.table, "ip node");
  t.is(svc[0]!.file, "node.nft");
  t.is(r.path, "forward");
  t.true(r.dnat !== null && ["10.244.1.2:8080", "10.244.2.2:8080", "10.244.3.2:8080"].includes(r.dnat));
});

test("a client already in the affinity set is not assumed: the walk starts from empty sets; the chosen endpoint is masqueraded by mark", (t) => {
  const { nft, locs } = load();
  // Seeds until the traced path goes to ep-a (values 0-1).
  let r = traceHooks({ nft, nftRuleLocs: locs, iptables: null }, opts("tcp 10.0.0.7:40000 > 10.96.0.1:80"));
  for (let seed = 2; r.dnat !== "10.244.1.2:8080" && seed < 50; seed++) r = traceHooks({ nft, nftRuleLocs: locs, iptables: null }, opts("tcp 10.0.0.7:40000 > 10.96.0.1:80", { seed }));
  t.is(r.dnat, "10.244.1.2:8080");
  t.is(r.mark, 0x4000);
  t.true(r.masquerade);
  t.is(r.snat, "masquerade");
  t.deepEqual(
    r.rules.filter((h) => h.position > 0).map((h) => `${h.chain}#${h.position}@${h.line}`),
    [`dnat-pre#1@${lineOf("jump svc")}`, `svc#2@${lineOf("numgen")}`, `ep-a#1@${lineOf("update @aff")}`, `ep-a#2@${lineOf("meta mark set")}`, `ep-a#3@${lineOf("dnat to 10.244.1.2")}`, `post#1@${lineOf("masquerade")}`],
  );
  t.deepEqual(r.candidates.map((c) => c.destination).sort(), ["10.244.1.2:8080", "10.244.2.2:8080", "drop"]);
});

test("no nat for an established packet; ct state, meta iifname, fib daddr type local, reject and the input policy", (t) => {
  const { nft, locs } = load();
  const est = traceHooks({ nft, nftRuleLocs: locs, iptables: null }, opts("tcp 192.168.1.50:40000 > 10.96.0.1:80", { ctstate: "ESTABLISHED" }));
  t.is(est.dnat, null);
  t.deepEqual(est.rules.map((h) => `${h.chain}#${h.position}`), ["pre#2", "fwd#0"], "accepted by pre, then the forward chain's policy");
  t.deepEqual(est.candidates, [{ destination: "10.96.0.1:80", probability: 1 }]);

  const bad = traceHooks({ nft, nftRuleLocs: locs, iptables: null }, opts("tcp 192.168.1.50:40000 > 10.96.0.1:80", { inIface: "bad0" }));
  t.is(bad.verdict, "drop");
  t.deepEqual(bad.candidates, [{ destination: "drop", probability: 1 }]);

  const ssh = traceHooks({ nft, nftRuleLocs: locs, iptables: null }, opts("tcp 192.168.1.50:40000 > 192.168.1.10:22"));
  t.is(ssh.path, "local");
  t.is(ssh.verdict, "accept");

  const rst = traceHooks({ nft, nftRuleLocs: locs, iptables: null }, opts("tcp 192.168.1.50:40000 > 192.168.1.10:9999"));
  t.is(rst.verdict, "reject");
  t.is(rst.rejectWith, "tcp-reset");
  t.is(rst.rules.at(-1)!.rule, "fib daddr type local tcp dport 9999 reject with tcp reset");

  const other = traceHooks({ nft, nftRuleLocs: locs, iptables: null }, opts("udp 192.168.1.50:40000 > 192.168.1.10:53"));
  t.is(other.verdict, "drop");
  t.deepEqual(other.rules.at(-1), { table: "ip node", chain: "in", position: 0, rule: "policy drop", line: null, file: null, engine: "nft" });
});

test("--hook output starts at the output hook, with the out interface", (t) => {
  const { nft, locs } = load();
  const r = traceHooks({ nft, nftRuleLocs: locs, iptables: null }, opts("udp 192.168.1.10:5353 > 8.8.8.8:53", { hook: "output", inIface: "", outIface: "eth0" }));
  t.is(r.path, "output");
  t.is(r.verdict, "drop");
  t.is(r.rules.at(-1)!.line, lineOf('oifname "eth0"'));
  const other = traceHooks({ nft, nftRuleLocs: locs, iptables: null }, opts("udp 192.168.1.10:5353 > 8.8.8.8:53", { hook: "output", inIface: "", outIface: "eth1" }));
  t.is(other.verdict, "accept");
});

test("iptables and nft together: each hook's tables and base chains in priority order", (t) => {
  const ipt = applyRestore(
    newRuleset(),
    parseRestore(
      ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", "-A FORWARD -d 10.244.2.2/32 -j DROP", "COMMIT", "*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]", "-A PREROUTING -d 10.96.0.9/32 -p tcp -j DNAT --to-destination 10.244.9.9:9", "COMMIT", ""].join("\n"),
      "ipt.rules",
    ),
    { file: "ipt.rules" },
  );
  const { nft, locs } = load();
  const input = { nft, nftRuleLocs: locs, iptables: ipt, iptablesFile: "ipt.rules", printIptablesRule: printIptRule };
  // nft's DNAT to 10.244.2.2 happens in the NAT core; iptables' filter FORWARD drops it afterwards.
  const r = traceHooks(input, opts("tcp 192.168.1.50:40000 > 10.96.0.1:80"));
  t.deepEqual(r.candidates, [
    { destination: "10.244.1.2:8080", probability: 0.5 },
    { destination: "drop", probability: 0.5 },
  ]);
  // iptables' nat table binds a DNAT of its own (it runs first at the NAT core's priority).
  const own = traceHooks(input, opts("tcp 192.168.1.50:40000 > 10.96.0.9:80"));
  t.is(own.dnat, "10.244.9.9:9");
  const nat = own.rules.find((h) => h.engine === "iptables" && h.table === "nat")!;
  t.deepEqual({ ...nat }, { table: "nat", chain: "PREROUTING", position: 1, rule: "-A PREROUTING -d 10.96.0.9/32 -p tcp -j DNAT --to-destination 10.244.9.9:9", line: 12, file: "ipt.rules", engine: "iptables" });
  // The nft prerouting filter chain (-110) ran before the iptables nat table (-100).
  t.true(own.rules.findIndex((h) => h.chain === "pre") < own.rules.indexOf(nat));
});

function web(booted: ReturnType<typeof bootCluster>): { vip: string; port: number; endpoints: string[] } {
  const svc = booted.services.service("default", "web")!;
  const port = svc.ports[0]!;
  const endpoints: string[] = [];
  for (const slice of booted.services.model.endpointSlices) {
    if (slice.namespace !== "default" || slice.serviceName !== "web") continue;
    const sp = slice.ports.find((p) => p.name === (port.name ?? ""))!;
    for (const ep of slice.endpoints) if (ep.conditions.ready !== false) for (const a of ep.addresses) endpoints.push(`${a}:${sp.port}`);
  }
  return { vip: svc.clusterIP!, port: port.port, endpoints: endpoints.sort() };
}

test("kube-proxy's own nftables output, as nft -f text and as nft list ruleset prints it: DNAT to an endpoint of the Service", (t) => {
  const spec = defaultCluster();
  spec.proxyMode = "nftables";
  const booted = bootCluster(spec);
  const node = booted.cluster.node("worker-1")!;
  const { vip, port, endpoints } = web(booted);
  t.true(endpoints.length >= 2, endpoints.join(", "));
  const transaction = booted.services.proxy.describe(node, booted.services.model);
  const listed = printRuleset(parseNftRuleset(transaction));
  t.regex(listed, /^table ip kube-proxy \{\n/);
  const dir = mkdtempSync(join(tmpdir(), "podwire-nft-trace-"));
  try {
    for (const [name, text] of [["kube-proxy.nft", transaction], ["ruleset.nft", listed]] as const) {
      const file = join(dir, name);
      writeFileSync(file, text);
      const lines = text.split("\n");
      const r = runTraceRules({ rules: file, packet: `tcp 10.244.1.2:40000 > ${vip}:${port}`, hook: "prerouting", ctstate: "NEW", in: "cni0", out: "flannel.1", local: "192.168.56.11,10.244.1.1" });
      t.is(r.format, "nft", name);
      t.deepEqual(r.sources, [{ file, format: "nft", detected: true }]);
      t.is(r.verdict, "accept", name);
      t.true(r.dnat !== null && endpoints.includes(r.dnat), `${name}: ${r.dnat}`);
      t.deepEqual(r.candidates.map((c) => c.destination).sort(), endpoints, name);
      t.is(Number(r.candidates.reduce((s, c) => s + c.probability, 0).toFixed(9)), 1, name);
      for (const c of r.candidates) t.is(c.probability, 1 / endpoints.length);
      t.true(r.candidatesComplete);
      const dnat = r.rules.find((h) => / dnat to /.test(h.rule))!;
      t.is(dnat.table, "ip kube-proxy");
      t.regex(dnat.chain, /^endpoint-\w+-default\/web\/tcp\/http__/);
      t.is(dnat.rule, `meta l4proto tcp dnat to ${r.dnat}`);
      // Every rule's line holds that rule: the add rule line of the transaction, the rule itself in the listing.
      for (const h of r.rules) {
        if (h.position === 0) continue;
        const src = lines[h.line! - 1]!;
        if (name === "ruleset.nft") t.is(src.trim(), h.rule, `${name}:${h.line}`);
        else t.true(src.startsWith(`add rule ip kube-proxy ${h.chain} `), `${name}:${h.line}: ${src}`);
      }
      t.deepEqual(
        r.rules.filter((h) => h.position > 0).map((h) => h.chain).slice(0, 3),
        ["filter-prerouting-pre-dnat", "nat-prerouting", "services"],
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("more numgen paths than the cap: the candidates say they are partial and how much they cover", (t) => {
  const nft = parseNftRuleset(
    "table ip t {\n\tchain a {\n\t\tmeta l4proto tcp dnat to 10.0.0.1:80\n\t}\n\n\tchain n {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tnumgen random mod 5000 vmap { 0-4999 : goto a }\n\t}\n}\n",
  );
  const r = traceHooks({ nft, iptables: null }, opts("tcp 10.0.0.9:1000 > 10.0.0.2:80"));
  t.false(r.candidatesComplete);
  t.is(r.candidatesCovered, 4096 / 5000);
  t.deepEqual(r.candidates, [{ destination: "10.0.0.1:80", probability: 4096 / 5000 }]);
  t.is(r.dnat, "10.0.0.1:80");
});
