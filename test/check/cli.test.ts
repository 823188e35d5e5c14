/** `podwire check` on the command line: JSON output, exit codes 0, 1 and 2. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { podwire } from "../helpers/run-cli.js";
import { CHECK_CLUSTER } from "./fixture.js";

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
  t.regex(text.stdout, /^ {2}pod@worker-1 +ok api-0 +ok control-plane +ok web-[01]$/m);
  t.regex(text.stdout, /\ncheck: \d+ ok, 0 expected failures, 0 unexpected failures \(mode iptables\)\n$/);

  const dir = mkdtempSync(join(tmpdir(), "podwire-check-"));
  try {
    const file = join(dir, "cluster.yaml");
    writeFileSync(file, CHECK_CLUSTER);
    const broken = await podwire("check", "-f", file, "--json");
    t.is(broken.code, 1);
    const j = JSON.parse(broken.stdout);
    t.deepEqual(j.summary, { ok: 79, expected: 14, unexpected: 7 });
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
  // nftables mode runs (it used to be refused): the embedded cluster passes.
  t.is((await podwire("check", "--mode", "nftables")).code, 0);
});

test.serial("check -f on manifests prints the load summary on stderr; --strict refuses a NetworkPolicy; an empty file exits 2", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-check-strict-"));
  try {
    const app = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx, ports: [{containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all}
spec: {podSelector: {}, policyTypes: [Ingress]}
`;
    const file = join(dir, "app.yaml");
    writeFileSync(file, app);
    const ok = await podwire("check", "-f", file);
    t.is(ok.code, 0, ok.stderr + ok.stdout);
    t.regex(ok.stderr, /^podwire: .*app\.yaml: read 1 Service, 1 Deployment → 2 Pods; added: CoreDNS \(2 Pods in kube-system, as kubeadm deploys it\); ignored: 1 NetworkPolicy \(not emulated: traffic it would block passes\)\n$/);
    t.regex(ok.stdout, /check: \d+ ok, 0 expected failures, 0 unexpected failures \(mode iptables\)/);
    const strict = await podwire("check", "-f", file, "--strict");
    t.is(strict.code, 2);
    t.regex(strict.stderr, /podwire: error: .*app\.yaml:\d+:1, document 3: --strict: .*1 NetworkPolicy/);
    t.false(strict.stderr.includes("    at "), "no stack trace");
    const empty = join(dir, "empty.yaml");
    writeFileSync(empty, "# nothing\n");
    const e = await podwire("check", "-f", empty);
    t.is(e.code, 2);
    t.regex(e.stderr, /holds no Kubernetes objects/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
