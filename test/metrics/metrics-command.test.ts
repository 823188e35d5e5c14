/** `podwire metrics`: the demo's traffic by default, serve's mix with a file, and clear errors. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { DEFAULT_CLUSTER_YAML } from "../../src/cluster/default-cluster.js";
import { podwire } from "../helpers/run-cli.js";
import { parseExposition, valueOf } from "./parse-exposition.js";

test.serial("the demo's traffic, then the exposition: the same bytes for the same seed", async (t) => {
  const a = await podwire("metrics", "--seed", "7");
  const b = await podwire("metrics", "--seed", "7");
  t.is(a.code, 0, a.stderr);
  t.is(a.stdout, b.stdout, "reproducible");
  const p = parseExposition(a.stdout);
  // The demo's ping from the client to worker-2 and its NodePort connection reached worker-2's eth0.
  t.true(valueOf(p, "node_network_receive_packets_total", { node: "worker-2", device: "eth0" }) > 0);
  t.true(valueOf(p, "node_nf_conntrack_entries", { node: "worker-1" }) > 0);
  t.is(valueOf(p, "kubeproxy_sync_proxy_rules_duration_seconds_count", { node: "worker-1", ip_family: "IPv4" }), 1);
});

test.serial("with a file: serve's mix for --duration virtual seconds; the demo needs the embedded cluster", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-metrics-"));
  try {
    const file = join(dir, "c.yaml");
    writeFileSync(file, DEFAULT_CLUSTER_YAML.replace("name: client", "name: curl"));
    const r = await podwire("metrics", "-f", file, "--duration", "1");
    t.is(r.code, 0, r.stderr);
    const p = parseExposition(r.stdout);
    t.true(valueOf(p, "podwire_virtual_time_seconds") >= 2, "1 s of traffic, 1 s to finish");
    t.true(valueOf(p, "node_network_transmit_packets_total", { node: "worker-2", device: "flannel.1" }) > 0, "Pod-to-Pod across nodes went over VXLAN");
    const demo = await podwire("metrics", "-f", file, "--traffic", "demo");
    t.is(demo.code, 2);
    t.regex(demo.stderr, /the demo needs pod default\/client/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.serial("bad flags: one line naming the flag", async (t) => {
  for (const [args, message] of [
    [["--duration", "0"], /--duration "0" is not a whole number of seconds from 1 to 600/],
    [["--duration", "1.5"], /--duration "1\.5"/],
    [["--mode", "ebpf"], /argument 'ebpf' is invalid/],
    [["--traffic", "loud"], /argument 'loud' is invalid/],
  ] as [string[], RegExp][]) {
    const r = await podwire("metrics", ...args);
    t.is(r.code, 2, args.join(" "));
    t.regex(r.stderr, message);
  }
});
