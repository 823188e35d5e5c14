/**
 * `trace-rules` on `podwire rules` output (meant for iptables-restore --noflush): with
 * --noflush the packet meets kube-proxy's rules; without it, the flush that iptables-restore
 * would do is done and said, and interface matches without --in/--out are pointed out.
 */
import test from "ava";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { runTraceRules } from "../../src/cli/trace-rules.js";
import { bootCluster } from "../../src/cluster/boot.js";
import { defaultCluster } from "../../src/cluster/load.js";

test("trace-rules --noflush follows kube-proxy's DNAT in `podwire rules` output; without it the flush is warned about", (t) => {
  const { cluster, services } = bootCluster(defaultCluster());
  const dir = mkdtempSync(join(tmpdir(), "podwire-tr-"));
  try {
    const path = join(dir, "worker-1.rules");
    writeFileSync(path, services.proxy.describe(cluster.node("worker-1")!, services.model));
    const args = { rules: path, packet: "tcp 10.244.1.2:40000 > 10.96.0.1:443", hook: "prerouting" as const, ctstate: "NEW", in: "cni0" };
    const warnings: string[] = [];
    const flushed = runTraceRules(args, (w) => warnings.push(w));
    t.is(flushed.dnat, null, "the second *nat section dropped the jump into KUBE-SERVICES");
    t.true(warnings.some((w) => /worker-1\.rules:\d+: \*nat starts the table again, dropping the \d+ rules? the \*nat at line \d+ added .*--noflush/.test(w)), warnings.join("\n"));
    const kept: string[] = [];
    const r = runTraceRules({ ...args, noflush: true }, (w) => kept.push(w));
    t.deepEqual(kept, []);
    t.is(r.dnat, "192.168.56.10:6443");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("trace-rules warns when rules match an interface and --in/--out were not given", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-tr-"));
  try {
    const path = join(dir, "r.rules");
    writeFileSync(path, "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -i cni0 -j DROP\nCOMMIT\n");
    const warnings: string[] = [];
    runTraceRules({ rules: path, packet: "udp 10.0.0.1:1000 > 10.0.0.2:53", hook: "prerouting", ctstate: "NEW" }, (w) => warnings.push(w));
    t.deepEqual(warnings, [`${path}: 1 rule matches the input (-i) interface (line 5) and --in was not given: the trace takes no interface`]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("text from the rules file never reaches the terminal raw: control characters are escaped", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-tr-"));
  try {
    const path = join(dir, "evil.rules");
    writeFileSync(path, `*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -m comment --comment "\u001b[2J\u001b]0;pwned\u0007" -j ACCEPT\nCOMMIT\n`);
    const bin = new URL("../../bin/podwire.js", import.meta.url).pathname;
    const r = spawnSync(process.execPath, [bin, "trace-rules", "--rules", path, "--packet", "udp 10.0.0.1:1000 > 10.0.0.2:53", "--local", "10.0.0.2"], { encoding: "utf8" });
    t.is(r.status, 0, r.stderr);
    t.false(/[\u0000-\u0008\u000b-\u001f\u007f]/.test(r.stdout + r.stderr), "no control character but newline and tab");
    t.true(r.stdout.includes("\\x1b[2J"), r.stdout);
    const bad = join(dir, "bad.rules");
    writeFileSync(bad, `*filter\n:IN\u001bPUT ACCEPT [0:0]\nCOMMIT\n`);
    const e = spawnSync(process.execPath, [bin, "trace-rules", "--rules", bad, "--packet", "udp 10.0.0.1:1000 > 10.0.0.2:53"], { encoding: "utf8" });
    t.is(e.status, 2);
    t.false(e.stderr.includes("\u001b"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
