/**
 * `podwire serve`'s HTTP API in process: the topology, the counters, a trace equal to `podwire
 * trace --json --pcap` (hops and capture bytes), `/metrics`, and the refusals — unknown,
 * missing, repeated or malformed parameters (400 naming the parameter), writes (405), a
 * foreign Host header (403), unknown paths (404).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { defaultCluster } from "../../src/cluster/load.js";
import { EXPOSITION_CONTENT_TYPE } from "../../src/metrics/index.js";
import { type ServeHandle, startServe } from "../../src/serve/index.js";
import { podwire } from "../helpers/run-cli.js";

let serve: ServeHandle;

test.before(async () => {
  serve = await startServe({ spec: defaultCluster(), listen: { host: "127.0.0.1", port: 0, loopback: true }, speed: 1, traffic: "mix", watch: null });
});

test.after.always(async () => {
  await serve?.close();
});

function get(path: string, opts: { method?: string; host?: string } = {}): Promise<{ status: number; type: string; body: Buffer; headers: Record<string, string | string[] | undefined> }> {
  const url = new URL(path, serve.url);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? "GET", headers: opts.host ? { Host: opts.host } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, type: String(res.headers["content-type"]), body: Buffer.concat(chunks), headers: res.headers }));
    });
    req.on("error", reject);
    req.end();
  });
}

const json = async (path: string) => {
  const r = await get(path);
  return { status: r.status, body: JSON.parse(r.body.toString("utf8")) };
};

test.serial("/api/cluster: every node with cni0, flannel.1 and a veth per Pod; every Pod; the Services with their endpoints", async (t) => {
  const { status, body } = await json("/api/cluster");
  t.is(status, 200);
  t.deepEqual(body.nodes.map((n: { name: string }) => n.name), ["control-plane", "worker-1", "worker-2"]);
  const pods = body.nodes.flatMap((n: { pods: { key: string }[] }) => n.pods.map((p) => p.key)).sort();
  t.deepEqual(pods, defaultCluster().pods.map((p) => `${p.namespace}/${p.name}`).sort());
  t.true(pods.includes("default/client") && pods.includes("default/web-1"));
  for (const n of body.nodes) {
    const devices = n.devices.map((d: { name: string }) => d.name);
    t.true(devices.includes("eth0") && devices.includes("cni0") && devices.includes("flannel.1"), n.name);
    for (const p of n.pods) t.true(n.devices.some((d: { name: string; master: string | null; pod: string | null }) => d.name === p.veth && d.master === "cni0" && d.pod === p.key), p.key);
  }
  const web = body.services.find((s: { name: string }) => s.name === "web");
  t.deepEqual(web.endpoints.sort(), ["10.244.1.3:8080", "10.244.2.2:8080"]);
  t.is(web.ports[0].nodePort, 30080);
});

test.serial("/api/counters: the virtual clock runs, traffic flows, counters and conntrack per node", async (t) => {
  const first = (await json("/api/counters")).body;
  await new Promise((r) => setTimeout(r, 1200));
  const second = (await json("/api/counters")).body;
  t.true(second.virtualTimeNs > first.virtualTimeNs, "virtual time advances with real time");
  t.true(second.traffic.started > 0, "the mix opened flows");
  t.is(second.traffic.profile, "mix");
  const w1 = second.nodes.find((n: { name: string }) => n.name === "worker-1");
  t.true(w1.conntrack.entries > 0);
  t.is(w1.conntrack.max, 262144);
  const eth0 = w1.devices.find((d: { name: string }) => d.name === "eth0");
  t.true(eth0.rxPackets > 0 && eth0.txPackets > 0);
  t.true(typeof eth0.rxPps === "number" && eth0.rxPps >= 0);
  t.deepEqual(new Set(second.traffic.flows.map((f: { kind: string }) => f.kind)), new Set(["loopback", "pod-to-pod (same node)", "pod-to-pod (across nodes)", "pod-to-service", "external-to-nodeport"]));
});

for (const flow of [
  ["pod/default/client", "svc/default/web", "tcp"],
  ["ext/outside", "node/worker-2:30080", "tcp"],
  ["pod/default/client", "svc/kube-system/kube-dns", "udp"],
  ["pod/default/client", "node/worker-2", "icmp"],
] as const) {
  test.serial(`/api/trace ${flow.join(" ")} equals trace --json --pcap: hops, outcome and the pcapng's bytes`, async (t) => {
    const [from, to, proto] = flow;
    const { status, body } = await json(`/api/trace?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&proto=${proto}`);
    t.is(status, 200, JSON.stringify(body));
    const dir = mkdtempSync(join(tmpdir(), "podwire-serve-api-"));
    try {
      const file = join(dir, "t.pcapng");
      const cli = await podwire("trace", "--from", from, "--to", to, "--proto", proto, "--json", "--pcap", file);
      t.is(cli.code, 0, cli.stderr);
      const expected = JSON.parse(cli.stdout);
      t.deepEqual({ ...body, capture: null }, { ...expected, capture: null });
      t.regex(body.capture, /^\/api\/capture\/[0-9]+\.pcapng$/);
      const pcap = await get(body.capture);
      t.is(pcap.status, 200);
      t.regex(String(pcap.headers["content-disposition"]), /^attachment; filename="podwire-trace-[0-9]+\.pcapng"$/);
      t.deepEqual(pcap.body, readFileSync(file), "the same bytes as trace --pcap");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.serial("/metrics: the 0.0.4 exposition of the running cluster", async (t) => {
  const r = await get("/metrics");
  t.is(r.status, 200);
  t.is(r.type, EXPOSITION_CONTENT_TYPE);
  const text = r.body.toString("utf8");
  t.regex(text, /^# HELP kubeproxy_sync_proxy_rules_duration_seconds /m);
  t.regex(text, /^node_nf_conntrack_entries\{node="worker-1"\} [1-9][0-9]*$/m);
});

test.serial("bad /api input: 400 naming the parameter, as the CLI names its flags", async (t) => {
  const cases: [string, string, RegExp][] = [
    ["/api/trace?to=svc/default/web", "from", /^parameter from: required \(hint: e\.g\. from=pod\/default\/client\)$/],
    ["/api/trace?from=pod/default/nope&to=svc/default/web", "from", /^parameter from: no pod "default\/nope" in this cluster \(hint: known: pod\/default\/client/],
    ["/api/trace?from=pod/default/client&to=svc/default/nope", "to", /^parameter to: no Service default\/nope/],
    ["/api/trace?from=pod/default/client&to=pod/default/web-0:99999", "to", /^parameter to: port "99999"/],
    ["/api/trace?from=pod/default/client&to=svc/default/web&proto=sctp", "proto", /^parameter proto: "sctp" is not one of tcp, udp, icmp/],
    ["/api/trace?from=pod/default/client&to=svc/default/web&query=x", "query", /^parameter query: a DNS question, but this trace goes to port 80\/tcp/],
    ["/api/trace?from=pod/default/client&to=svc/kube-system/kube-dns&proto=udp&query=bad..name", "query", /^parameter query: "bad\.\.name" is not a DNS name/],
    ["/api/trace?from=a&from=b&to=svc/default/web", "from", /^parameter from: given 2 times/],
    ["/api/trace?from=pod/default/client&to=svc/default/web&colour=red", "colour", /^parameter colour: unknown parameter \(hint: known: from, to, proto, query\)$/],
    ["/api/counters?since=-1", "since", /^parameter since: "-1" is not a whole number/],
    ["/api/cluster?x=1", "x", /^parameter x: unknown parameter \(hint: this endpoint takes no parameters\)$/],
    [`/api/trace?from=${"p".repeat(300)}&to=x`, "from", /^parameter from: longer than 256 characters/],
  ];
  for (const [path, parameter, message] of cases) {
    const { status, body } = await json(path);
    t.is(status, 400, path);
    t.is(body.parameter, parameter, path);
    t.regex(body.error, message, path);
  }
});

test.serial("no writes, no foreign hosts, no unknown pages", async (t) => {
  for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
    const r = await get("/api/cluster", { method });
    t.is(r.status, 405, method);
    t.is(r.headers.allow, "GET, HEAD");
  }
  const rebinding = await get("/api/cluster", { host: "attacker.example:8080" });
  t.is(rebinding.status, 403, "a page on another origin cannot reach the API through DNS rebinding");
  t.is((await get("/api/cluster", { host: "localhost:1234" })).status, 200);
  t.is((await get("/api/cluster", { host: "[::1]:1234" })).status, 200);
  t.is((await get("/nope")).status, 404);
  t.is((await get("/api/capture/999999.pcapng")).status, 404);
  t.is((await get("/api/capture/../../etc/passwd")).status, 404);
  const page = await get("/");
  t.is(page.status, 200);
  t.regex(page.type, /^text\/html/);
  t.regex(String(page.headers["content-security-policy"]), /default-src 'self'/);
  t.false(/https?:\/\//.test(page.body.toString("utf8")), "the page loads nothing from elsewhere");
  const app = await get("/assets/app.js");
  t.is(app.status, 200);
  t.false(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/.test(app.body.toString("utf8")), "nor does its script");
  const head = await get("/api/cluster", { method: "HEAD" });
  t.is(head.status, 200);
  t.is(head.body.length, 0);
});

for (const mode of ["ipvs", "nftables"] as const) {
  test.serial(`the API's trace equals trace --json in ${mode} mode`, async (t) => {
    const { traceFlow } = await import("../../src/serve/index.js");
    const spec = defaultCluster();
    spec.proxyMode = mode;
    const outcome = traceFlow(spec, { from: "ext/outside", to: "node/worker-1:30080", proto: "tcp" });
    const cli = await podwire("trace", "--from", "ext/outside", "--to", "node/worker-1:30080", "--mode", mode, "--json");
    t.is(cli.code, 0, cli.stderr);
    const expected = JSON.parse(cli.stdout);
    // Without --pcap the CLI's hops have no frame numbers; the API always captures.
    const noFrames = (hops: { frame: number | null }[]) => hops.map((h) => ({ ...h, frame: null }));
    t.deepEqual({ ...outcome.json, hops: noFrames(outcome.json.hops as { frame: number | null }[]) }, { ...expected, hops: noFrames(expected.hops) });
    t.true(outcome.pcapng.length > 1000);
  });
}
