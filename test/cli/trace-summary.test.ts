/**
 * Issue 11 §6, traces people can read: `trace` and `demo` print a summary by default (one
 * line per hop, NAT as `DNAT a → b`, each rule path once, `policy ACCEPT` never mistaken for
 * a rule), `--verbose` the detail, and every line fits 120 columns in every proxy mode.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { runDemo } from "../../src/cluster/demo.js";
import { defaultCluster } from "../../src/cluster/load.js";
import { TRACE_WIDTH, formatTrace, wrapText } from "../../src/cluster/report.js";
import type { ProxyMode } from "../../src/cluster/spec.js";

const BIN = new URL("../../bin/podwire.js", import.meta.url).pathname;

function podwire(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tooWide = (text: string) => text.split("\n").filter((l) => [...l].length > TRACE_WIDTH);
/** Wrapped rule paths and translations joined again (a continuation line starts with the arrow). */
const flat = (text: string) => text.replace(/\n\s+→ /g, " → ");

/** The first line of the summary hop a line belongs to (hop lines start with the frame column or the namespace). */
function hopLineOf(lines: string[], i: number): string {
  for (let j = i; j >= 0; j--) if (/^ {4}\s*(\d+|-)\s+\S/.test(lines[j]!) && !/^ {4}\s*(\d+|-)\s+(→|rules)/.test(lines[j]!)) return lines[j]!;
  return "";
}

test("wrapText keeps every line within the width, breaking at arrows, then separators, then spaces", (t) => {
  const path = Array.from({ length: 12 }, (_, i) => `KUBE-SEP-ABCDEFGHIJKLMNOP#${i + 1}`).join(" → ");
  const lines = wrapText(path, "  ", "    ", 80);
  t.true(lines.length > 1);
  t.true(lines.every((l) => [...l].length <= 80));
  t.true(lines.slice(1).every((l) => l.startsWith("    → ")), "a wrapped path goes on with the arrow");
  t.is(lines.join(" ").replace(/\s+/g, " ").trim(), path.replace(/\s+/g, " "));
  // A word longer than the line is the only thing cut, with an ellipsis.
  const cut = wrapText("x".repeat(200), "", "", 50);
  t.deepEqual(cut, [`${"x".repeat(49)}…`]);
});

test("trace (summary): one line per hop, NAT as DNAT/MASQUERADE a → b on the right device, each rule path once, frames named", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-summary-"));
  try {
    const r = podwire("trace", "--from", "ext/outside", "--to", "node/worker-2:30080", "--pcap", join(dir, "t.pcapng"));
    t.is(r.code, 0, r.stderr);
    t.deepEqual(tooWide(r.stdout), []);
    const lines = r.stdout.split("\n");
    t.regex(lines[1]!, /^ {4}frame {2}where\s+device\s+what$/);
    t.regex(r.stdout, /^ {2}packet 1: tcp 192\.168\.56\.100:\d+ → 192\.168\.56\.12:30080 \[S\]$/m);
    // The DNAT at worker-2's eth0 (PREROUTING), the masquerade at cni0 (POSTROUTING, the way out).
    const dnat = lines.findIndex((l) => /nat PREROUTING: DNAT 192\.168\.56\.12:30080 → 10\.244\.\d+\.\d+:8080/.test(l));
    t.true(dnat > 0, r.stdout);
    t.regex(hopLineOf(lines, dnat), /^ {4}\s*\d+\s+worker-2\s+eth0\s/);
    const masq = lines.findIndex((l) => /nat POSTROUTING: MASQUERADE 192\.168\.56\.100:\d+ → 10\.244\.\d+\.\d+:\d+/.test(l));
    t.true(masq > 0, r.stdout);
    t.regex(hopLineOf(lines, masq), /^ {4}\s*\d+\s+worker-2\s+(cni0|flannel\.1)\s/, "the SNAT names the egress device");
    // Replies are un-NATed where it happens.
    t.regex(r.stdout, /un-DNAT 10\.244\.\d+\.\d+:8080 → 192\.168\.56\.12:30080/);
    // The conntrack accept rule the old trace repeated for every packet: its path once at most.
    t.true((r.stdout.match(/KUBE-FORWARD#3/g) ?? []).length <= 1, r.stdout);
    t.notRegex(r.stdout, /policy:/, "no rule text after a policy");
    // Later packets of the connection are folded into the paths shown.
    t.regex(r.stdout, /^ {2}and \d+ more packets along the same paths: /m);
    t.regex(r.stdout, /^ {2}result: ok — HTTP\/1\.1 200 OK/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("trace --verbose: every event, the policy printed as `CHAIN policy ACCEPT`, the deciding rule on its own line, ≤ 120 columns", (t) => {
  const r = podwire("trace", "--from", "pod/default/client", "--to", "pod/default/web-1:8080", "--verbose");
  t.is(r.code, 0, r.stderr);
  t.deepEqual(tooWide(r.stdout), []);
  t.regex(r.stdout, /^ {4}time µs {2}where\s+what\s+detail$/m);
  // A walk that reached its chain's policy says so, and names no rule after it.
  t.regex(flat(r.stdout), /filter INPUT: INPUT#\d+( → \S+)* → INPUT policy ACCEPT$/m);
  t.notRegex(r.stdout, /policy: -/);
  // A rule that decided: ⇒ verdict, and its text on a line of its own naming chain and position.
  t.regex(flat(r.stdout), /filter FORWARD: FORWARD#1 → .*FLANNEL-FWD#1 ⇒ ACCEPT/);
  t.regex(r.stdout, /^ {6}FLANNEL-FWD#1: -s 10\.244\.0\.0\/16 -m comment --comment "flanneld forward" -j ACCEPT$/m);
  t.regex(r.stdout, /encap\s+VXLAN vni 1 → VTEP 192\.168\.56\.12:8472/);
});

const MODES: ProxyMode[] = ["iptables", "ipvs", "nftables"];

for (const mode of MODES) {
  test.serial(`demo (${mode}): the summary is short, every line of it and of --verbose fits ${TRACE_WIDTH} columns`, (t) => {
    const spec = defaultCluster();
    spec.proxyMode = mode;
    const dir = mkdtempSync(join(tmpdir(), "podwire-demo-summary-"));
    try {
      const run = runDemo(spec, { capturePath: join(dir, "demo.pcapng") });
      const summary = run.results.flatMap((r) => formatTrace(r));
      const verbose = run.results.flatMap((r) => formatTrace(r, { style: "verbose" }));
      t.deepEqual(summary.filter((l) => [...l].length > TRACE_WIDTH), []);
      t.deepEqual(verbose.filter((l) => [...l].length > TRACE_WIDTH), []);
      // The old default printed 657+ lines for the eight steps; the summary is well under half.
      t.true(summary.length < 360, `${summary.length} lines`);
      t.true(verbose.length > 2 * summary.length);
      // Step 7 (NodePort): the translation on the way in and the masquerade on the way out, once each as a rule walk.
      const nodePort = flat(formatTrace(run.results[6]!).join("\n"));
      t.regex(nodePort, /DNAT 192\.168\.56\.12:30080 → 10\.244\.\d+\.\d+:8080/);
      t.regex(nodePort, /MASQUERADE 192\.168\.56\.100:\d+ → 10\.244\.\d+\.\d+:\d+/);
      // The accept rule every packet meets (KUBE-FORWARD's conntrack rule in iptables mode): once, not per packet.
      const accepts = (text: string) => (text.match(/ACCEPT/g) ?? []).length;
      t.true(accepts(nodePort) <= 3, nodePort);
      if (mode === "iptables") t.true(accepts(formatTrace(run.results[6]!, { style: "verbose" }).join("\n")) >= 8);
      // Frame numbers: the summary names frames of the capture.
      t.regex(summary.join("\n"), /^ {4}\s*\d+ {2}default\/client\s+eth0\s+sent$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("demo --verbose prints the detail; demo --brief only the endpoints' events; both ≤ 120 columns", (t) => {
  const v = podwire("demo", "--no-capture", "--verbose");
  t.is(v.code, 0, v.stderr);
  t.deepEqual(tooWide(v.stdout), []);
  t.regex(v.stdout, /netfilter\s+conntrack: NEW original direction/);
  t.regex(flat(v.stdout), /nat PREROUTING: PREROUTING#1 → KUBE-SERVICES#\d+ → KUBE-SVC-\w+#\d+/);
  const b = podwire("demo", "--no-capture", "--brief");
  t.is(b.code, 0, b.stderr);
  t.deepEqual(tooWide(b.stdout), []);
  t.notRegex(b.stdout, /netfilter {2}/);
  t.regex(b.stdout, /^summary:$/m);
});
