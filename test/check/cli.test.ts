/** `podwire check` on the command line: JSON output, exit codes 0, 1 and 2. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { main } from "../../src/cli/main.js";
import { CHECK_CLUSTER } from "./fixture.js";

/** Runs `podwire ARGS` in this process, capturing stdout and stderr. */
async function podwire(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  try {
    const code = await main(["node", "podwire", ...args]);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    process.exitCode = undefined;
  }
}

test.serial("check --json on the embedded cluster exits 0 with every cell ok", async (t) => {
  const r = await podwire("check", "--json");
  t.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.like(j, { mode: "iptables", summary: { expected: 0, unexpected: 0 } });
  t.true(j.summary.ok > 40);
  t.is(j.cells.length, j.summary.ok);
  const web = j.cells.find((c: { from: string; to: string }) => c.from === "pod@worker-2" && c.to.startsWith("svc/default/web ("));
  t.like(web, { proto: "tcp", port: 80, outcome: "ok", expected: null, reason: null });
  t.regex(web.endpoint, /^pod\/default\/web-[01] /);
});

test.serial("check prints the table and summary; a cluster with a broken Service exits 1; bad input exits 2", async (t) => {
  const text = await podwire("check", "--mode", "iptables", "--seed", "7");
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, /^ {2}pod@worker-1 +ok control-plane +ok web-[01]$/m);
  t.regex(text.stdout, /\ncheck: \d+ ok, 0 expected failures, 0 unexpected failures \(mode iptables\)\n$/);

  const dir = mkdtempSync(join(tmpdir(), "podwire-check-"));
  try {
    const file = join(dir, "cluster.yaml");
    writeFileSync(file, CHECK_CLUSTER);
    const broken = await podwire("check", "-f", file, "--json");
    t.is(broken.code, 1);
    const j = JSON.parse(broken.stdout);
    t.deepEqual(j.summary, { ok: 78, expected: 14, unexpected: 7 });
    const fail = j.cells.find((c: { outcome: string }) => c.outcome === "unexpected-failure");
    t.like(fail, { to: "svc/default/broken (10.96.0.2)", proto: "tcp", port: 80, expected: null, endpoint: null });
    const drop = j.cells.find((c: { outcome: string; kind: string }) => c.outcome === "expected-failure" && c.kind === "loadBalancerIP");
    t.is(drop.expected, "source outside loadBalancerSourceRanges → DROP");

    const missing = await podwire("check", "-f", join(dir, "missing.yaml"));
    t.is(missing.code, 2);
    t.regex(missing.stderr, /^podwire: error: .*missing\.yaml/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.is((await podwire("check", "--seed", "x")).code, 2);
  t.is((await podwire("check", "--mode", "nftables")).code, 2);
});
