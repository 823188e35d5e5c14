/**
 * The command line: `trace --to http(s)://…` (text, the --json contract, exit codes, the key
 * log) and `cluster --yaml` (a cluster file that loads back as the same cluster).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { defaultCluster, parseClusterYaml } from "../../src/cluster/load.js";
import { podwire } from "../helpers/run-cli.js";

test.serial("trace --to http://HOST/PATH --json: the http object of the contract", async (t) => {
  const r = await podwire("trace", "--from", "ext/outside", "--to", "http://shop.example.com/cart?id=7", "--json");
  t.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.like(j, { schemaVersion: 1, from: "ext/outside", to: "http://shop.example.com/cart?id=7", destination: "192.168.56.200:80", proto: "tcp", ok: true, node: "worker-1", masquerade: true });
  t.like(j.http, { status: 200, host: "shop.example.com", path: "/cart?id=7", route: { kind: "Ingress", namespace: "default", name: "shop", rule: "rules[0].http.paths[0]" } });
  t.is(j.http.backend.service, "default/web");
  t.regex(j.http.backend.pod, /^default\/web-[01]$/);
  t.regex(j.http.backend.ip, /^10\.244\.[12]\.\d+$/);
  t.is(j.http.backend.port, 8080);
  t.is(j.http.controller, "ingress-nginx/ingress-nginx-controller-0");
  t.is(j.http.forwardedHeaders["X-Forwarded-For"], "10.244.1.1");
  t.true(j.hops.some((h: { netns: string }) => h.netns.startsWith("default/web-")), "the hops reach the backend Pod");
});

test.serial("a request no route matches gets the controller's 404 (exit 1); the text trace shows why no rule matched", async (t) => {
  const r = await podwire("trace", "--from", "ext/outside", "--to", "http://nothing.example.com/x", "--json");
  t.is(r.code, 1);
  const j = JSON.parse(r.stdout);
  t.like(j.http, { status: 404, route: null, backend: null });
  const text = await podwire("trace", "--from", "ext/outside", "--to", "http://shop.example.com/api/v2");
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, /DNS \(outside the cluster\): shop\.example\.com → 192\.168\.56\.200/);
  t.regex(text.stdout, /→ Ingress default\/shop rules\[0\]\.http\.paths\[1\]/);
  t.regex(text.stdout, /not chosen: Ingress default\/shop rules\[0\]\.http\.paths\[0\] \/ \(Prefix\): matches, but \/api \(Prefix\) is longer/);
  t.regex(text.stdout, /second connection from pod\/ingress-nginx\/ingress-nginx-controller-0 10\.244\.1\.4:\d+ to Service default\/api port 80/);
  t.true(text.stdout.split("\n").every((l) => l.length <= 120), "lines fit 120 columns");
});

test.serial("trace --to https:// with --keylog: TLS to the Gateway's HTTPS listener, and the secrets for Wireshark", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-l7-cli-"));
  try {
    const keylog = join(dir, "keys.log");
    const pcap = join(dir, "https.pcapng");
    const r = await podwire("trace", "--from", "ext/outside", "--to", "https://www.example.com/", "--header", "x-canary: true", "--keylog", keylog, "--pcap", pcap, "--json");
    t.is(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    t.like(j.http, { status: 200, route: { kind: "HTTPRoute", namespace: "default", name: "www", rule: "rules[1].matches[0]" }, backend: { service: "default/api", pod: "default/api-0" } });
    t.like(j.http.tls, { servername: "www.example.com", protocol: "TLSv1.3" });
    t.is(j.destination, "192.168.56.200:443");
    const lines = readFileSync(keylog, "utf8").split("\n").filter((l) => l && !l.startsWith("#"));
    t.true(lines.length >= 5 && lines.every((l) => /^[A-Z0-9_]+ [0-9a-f]{64} [0-9a-f]+$/.test(l)), "SSLKEYLOGFILE lines");
    t.true(readFileSync(pcap).length > 1000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.serial("bad input exits 2 with one line: a non-http URL, --proto with a URL, http-only options elsewhere, no controller", async (t) => {
  const cases: [string[], RegExp][] = [
    [["--to", "ftp://shop.example.com/"], /only http:\/\/ and https:\/\/ URLs are traced/],
    [["--to", "http://shop.example.com/", "--proto", "udp"], /--proto and --query do not apply/],
    [["--to", "pod/default/web-0:8080", "--keylog", "/tmp/x.log"], /--keylog applies to http\(s\):\/\/ destinations only/],
    [["--to", "http://shop.example.com/", "--header", "bad header"], /is not NAME: VALUE/],
  ];
  for (const [args, message] of cases) {
    const r = await podwire("trace", "--from", "ext/outside", ...args);
    t.is(r.code, 2, args.join(" "));
    t.regex(r.stderr, message);
    t.is(r.stderr.trim().split("\n").length, 1);
  }
  const dir = mkdtempSync(join(tmpdir(), "podwire-l7-cli-"));
  try {
    const file = join(dir, "plain.yaml");
    writeFileSync(file, "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: web, image: nginx, ports: [{containerPort: 8080}]}]}\n");
    const r = await podwire("trace", "-f", file, "--from", "ext/outside", "--to", "http://shop.example.com/");
    t.is(r.code, 2);
    t.regex(r.stderr, /no ingress controller in this cluster serves shop\.example\.com \(hint: run one: a Pod with image registry\.k8s\.io\/ingress-nginx\/controller/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The spec without where things came from (file names, lines), which a reprint changes. */
function strip(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(strip);
  if (value instanceof Map) return [...value.entries()].map(([k, v]) => [k, strip(v)]);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (!["location", "source", "summary", "inferred"].includes(k)) out[k] = strip(v);
    return out;
  }
  return value;
}

test.serial("cluster --yaml prints the embedded cluster as a cluster file that loads back unchanged", async (t) => {
  const r = await podwire("cluster", "--yaml");
  t.is(r.code, 0, r.stderr);
  const again = parseClusterYaml(r.stdout, "reprinted.yaml");
  t.deepEqual(strip(again), strip(defaultCluster()));
  // And the reprint of the reprint is the same text (a fixed point).
  const dir = mkdtempSync(join(tmpdir(), "podwire-l7-yaml-"));
  try {
    const file = join(dir, "cluster.yaml");
    writeFileSync(file, r.stdout);
    const twice = await podwire("cluster", "-f", file, "--yaml");
    t.is(twice.stdout.split("\n").slice(1).join("\n"), r.stdout.split("\n").slice(1).join("\n"), "only the source named in the first comment line differs");
    // The reprinted file routes like the embedded cluster.
    const trace = await podwire("trace", "-f", file, "--from", "ext/outside", "--to", "http://api.example.com/", "--json");
    t.like(JSON.parse(trace.stdout).http, { status: 200, backend: { pod: "default/api-0" } });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.is((await podwire("cluster", "--yaml", "--json")).code, 2);
});

test.serial("demo --keylog adds the HTTPS step through the Gateway and writes its TLS secrets", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-l7-demo-"));
  try {
    const keylog = join(dir, "keys.log");
    const r = await podwire("demo", "--no-capture", "--quiet", "--keylog", keylog);
    t.is(r.code, 0, r.stderr + r.stdout);
    t.regex(r.stdout, /ok {3}9\. Outside world through the ingress controller/);
    t.regex(r.stdout, /ok {3}10\. Outside world over HTTPS through the Gateway/);
    t.true(readFileSync(keylog, "utf8").includes("CLIENT_TRAFFIC_SECRET_0 "));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.serial("http://SVC.NS.svc.cluster.local/ from a Pod goes to the Service's ClusterIP, as cluster DNS answers it (no controller)", async (t) => {
  const r = await podwire("trace", "--from", "pod/default/client", "--to", "http://api.default.svc.cluster.local/v1", "--json");
  t.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.like(j.http, { status: 200, route: null, controller: null });
  t.regex(j.http.resolvedVia, /^cluster DNS: the ClusterIP of Service default\/api/);
  t.regex(j.outcome, /hello from default\/api-0/);
  const again = await podwire("trace", "--from", "ext/outside", "--to", "http://api.example.com/", "--repeat", "3", "--method", "HEAD", "--json");
  t.is(again.code, 0, again.stderr);
  t.deepEqual(JSON.parse(again.stdout).http.responses, [200, 200, 200], "three HEAD requests on one keep-alive connection");
});
