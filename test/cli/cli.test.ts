import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";

const BIN = new URL("../../bin/podwire.js", import.meta.url).pathname;

function podwire(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("trace --json: a cross-node TCP exchange with its hops", (t) => {
  const r = podwire("trace", "--from", "pod/default/client", "--to", "pod/default/web-1:8080", "--json");
  t.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.true(j.ok);
  t.is(j.destination, "10.244.2.2:8080");
  t.true(j.hops.some((h: { action: string; netns: string }) => h.action === "encap" && h.netns === "worker-1"));
  t.true(j.hops.some((h: { action: string; netns: string }) => h.action === "decap" && h.netns === "worker-2"));
});

test("trace to a closed UDP port reports ICMP port unreachable and exits 1", (t) => {
  const r = podwire("trace", "--from", "pod/default/client", "--to", "pod/default/web-1:9999", "--proto", "udp");
  t.is(r.code, 1);
  t.regex(r.stdout, /ICMP port unreachable from 10\.244\.2\.2 \(pod\/default\/web-1\)/);
});

test("bad input exits 2 with one clear line and no stack trace", (t) => {
  const unknownPod = podwire("trace", "--from", "pod/default/nope", "--to", "10.244.2.2:8080");
  t.is(unknownPod.code, 2);
  t.regex(unknownPod.stderr, /^podwire: error: field --from: no pod "default\/nope" in this cluster \(hint: known: pod\/default\/client/);
  t.notRegex(unknownPod.stderr, /\n\s+at /);

  const dir = mkdtempSync(join(tmpdir(), "podwire-cli-"));
  try {
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "apiVersion: podwire.dev/v1alpha1\nkind: Cluster\nmetadata: {name: x}\nspec:\n  clusterCIDR: 10.244.0.1/16\n");
    const bad = podwire("cluster", "-f", file);
    t.is(bad.code, 2);
    t.true(bad.stderr.startsWith(`podwire: error: ${file}:5`), bad.stderr);
    t.regex(bad.stderr, /spec\.clusterCIDR/);
    t.is(bad.stderr.trim().split("\n").length, 1);
    const missing = podwire("cluster", "-f", join(dir, "missing.yaml"));
    t.is(missing.code, 2);
    t.regex(missing.stderr, /missing\.yaml/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const badOpt = podwire("trace", "--bogus");
  t.is(badOpt.code, 2);
});

test("cluster prints the topology with devices, routes and Pods", (t) => {
  const r = podwire("cluster");
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /node worker-1: 192\.168\.56\.11, podCIDR 10\.244\.1\.0\/24/);
  t.regex(r.stdout, /10\.244\.2\.0\/24 via 10\.244\.2\.0 dev flannel\.1 proto flannel onlink/);
  t.regex(r.stdout, /flannel\.1\s+vxlan\s+\S+ mtu 1450/);
  t.regex(r.stdout, /default\/web-0\s+10\.244\.1\.3/);
});
