/**
 * `serve --watch`: a Service added to the file while serving reaches the dataplane as
 * kube-proxy's next sync lands — the page's API shows the sync, the new Service, a trace to it
 * and the change in /metrics; a file that no longer reads, and changes kube-proxy does not
 * watch, are reported while the cluster runs on.
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { DEFAULT_CLUSTER_YAML } from "../../src/cluster/default-cluster.js";
import { loadClusterFile } from "../../src/cluster/load.js";
import { type ServeHandle, startServe } from "../../src/serve/index.js";

const EXTRA_SERVICE = `---
apiVersion: v1
kind: Service
metadata:
  name: web-alt
  namespace: default
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 8080
    targetPort: http
`;

interface Event {
  seq: number;
  kind: string;
  text: string;
}

async function waitFor<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test.serial("a Service added to the watched file: sync queued, started, landed; then the Service is there and traced", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-watch-"));
  const file = join(dir, "cluster.yaml");
  writeFileSync(file, DEFAULT_CLUSTER_YAML);
  let serve: ServeHandle | null = null;
  try {
    serve = await startServe({ spec: loadClusterFile(file), listen: { host: "127.0.0.1", port: 0, loopback: true }, speed: 5, traffic: "idle", watch: { file, strict: false, override: () => {} } });
    const base = serve.url;
    const api = async (path: string) => (await fetch(new URL(path, base))).json() as Promise<Record<string, unknown>>;
    const events = async () => (await api("/api/counters")).events as Event[];
    // The poll compares modification times: let the clock's second move on before writing.
    await new Promise((r) => setTimeout(r, 1100));
    appendFileSync(file, EXTRA_SERVICE);
    const landed = await waitFor("the sync to land", async () => (await events()).find((e) => e.kind === "sync-landed") ?? null);
    t.regex(landed.text, /^kube-proxy sync landed: [0-9]+ lines written/);
    t.deepEqual(
      (await events()).map((e) => e.kind),
      ["file-changed", "sync-queued", "sync-started", "sync-landed"],
    );
    const cluster = await api("/api/cluster");
    const alt = (cluster.services as { name: string; endpoints: string[] }[]).find((s) => s.name === "web-alt");
    t.truthy(alt);
    t.deepEqual(alt!.endpoints.sort(), ["10.244.1.3:8080", "10.244.2.2:8080"]);
    const trace = await api("/api/trace?from=pod/default/client&to=svc/default/web-alt");
    t.true(trace.ok, String(trace.outcome));
    const metrics = await (await fetch(new URL("/metrics", base))).text();
    const services = serve.live.observed.services.model.services.length;
    t.truthy(alt, "the new Service is in the model");
    t.regex(metrics, new RegExp(`^kubeproxy_sync_proxy_rules_service_changes_total\\{node="worker-1"\\} ${services}$`, "m"), "every Service at start, and the new one");
    t.regex(metrics, /^kubeproxy_sync_partial_proxy_rules_duration_seconds_count\{node="worker-1",ip_family="IPv4"\} 1$/m);

    // A file that does not read: reported, the cluster goes on.
    await new Promise((r) => setTimeout(r, 1100));
    writeFileSync(file, "apiVersion: v1\nkind: Service\nmetadata: [unclosed\n");
    const error = await waitFor("the file error", async () => (await events()).find((e) => e.kind === "file-error") ?? null);
    t.regex(error.text, /cluster\.yaml not applied: /);
    t.truthy((await api("/api/cluster")).nodes, "still serving");

    // A Service the API server would refuse: reported with its place in the file, nothing applied.
    await new Promise((r) => setTimeout(r, 1100));
    writeFileSync(file, DEFAULT_CLUSTER_YAML + EXTRA_SERVICE.replace("port: 8080", "port: 70000"));
    const refused = await waitFor("the refused Service", async () => (await events()).filter((e) => e.kind === "file-error")[1] ?? null);
    t.regex(refused.text, /cluster\.yaml.*70000/);
    t.is((await events()).filter((e) => e.kind === "sync-landed").length, 1, "no sync for a file that was not applied");

    // A Pod changed: kube-proxy does not watch Pods; reported as not applied.
    await new Promise((r) => setTimeout(r, 1100));
    writeFileSync(file, DEFAULT_CLUSTER_YAML.replace("name: web-1", "name: web-9") + EXTRA_SERVICE);
    const ignored = await waitFor("the ignored change", async () => (await events()).find((e) => e.kind === "file-ignored") ?? null);
    t.regex(ignored.text, /^Pods changed: not applied while serving/);
  } finally {
    await serve?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
