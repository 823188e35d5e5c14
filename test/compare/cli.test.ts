/** `podwire compare-modes` on the command line: JSON and text output, exit codes 0 and 2. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { podwire } from "../helpers/run-cli.js";
import { RUNNABLE_MODES } from "../../src/cluster/proxy-modes/index.js";
import { CHECK_CLUSTER } from "../check/fixture.js";

test.serial("compare-modes --json on the embedded cluster exits 0", async (t) => {
  const r = await podwire("compare-modes", "--json");
  t.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.deepEqual(j.modes, RUNNABLE_MODES);
  t.is(j.flows, 59);
  t.like(j, { cluster: "podwire-demo", seed: 1, baseline: "iptables" });
  t.is(j.summary.differ, j.differences.length);
  for (const d of j.differences) {
    t.deepEqual(Object.keys(d.outcomes), RUNNABLE_MODES);
    for (const o of Object.values(d.outcomes) as { verdict: string; endpoints: string[] | null; sourceSeen: string | null }[]) {
      t.true(["ok", "refused", "dropped", "other"].includes(o.verdict));
      t.true(o.endpoints === null || Array.isArray(o.endpoints));
    }
    t.is(typeof d.documented, "boolean");
    t.is(typeof d.reason, "string");
    t.like(d, { proto: "tcp" });
  }
});

test.serial("compare-modes -f prints the differences and the summary, exit 0 whatever it found; bad input exits 2", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-compare-"));
  try {
    const file = join(dir, "cluster.yaml");
    writeFileSync(file, CHECK_CLUSTER);
    const r = await podwire("compare-modes", "-f", file, "--seed", "5");
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /^podwire compare-modes: cluster check \(.*cluster\.yaml\), seed 5, 3 nodes$/m);
    t.regex(r.stdout, /^ {4}documented: ipvs: internalTrafficPolicy: Local, no local endpoint on the client's node/m);
    t.regex(r.stdout, /\ncompare-modes: 80 flows, \d+ differ \(6 documented, \d+ undocumented\)\n$/);
    const j = JSON.parse((await podwire("compare-modes", "-f", file, "--json")).stdout);
    const etp = j.differences.find((d: { to: string }) => d.to.startsWith("svc/default/local-b nodePort on node/worker-1"));
    t.like(etp, { from: "ext/outside", proto: "tcp", port: 30081, documented: true, outcomes: { iptables: { verdict: "dropped", endpoints: [], sourceSeen: null }, ipvs: { verdict: "ok", endpoints: ["10.244.2.10:8080"] } } });

    const missing = await podwire("compare-modes", "-f", join(dir, "missing.yaml"));
    t.is(missing.code, 2);
    t.regex(missing.stderr, /^podwire: error: .*missing\.yaml/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.is((await podwire("compare-modes", "--seed", "x")).code, 2);
  t.is((await podwire("compare-modes", "--mode", "ipvs")).code, 2, "no --mode: every runnable mode runs");
});
