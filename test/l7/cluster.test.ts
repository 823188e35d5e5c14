/**
 * End to end through the emulated cluster: an outside host's request through kube-proxy's
 * DNAT to the controller Pod, the controller's routing, its second connection to a backend
 * Pod, the response back — on the embedded cluster and on cluster files with an Ingress and
 * with an HTTPRoute; keep-alive, externalTrafficPolicy Local, service-upstream, 503 and 404.
 */
import test from "ava";
import { bootCluster, type RunningCluster } from "../../src/cluster/boot.js";
import { runHttpExchange, runHttpExchangeAsync, type HttpExchangeResult } from "../../src/cluster/http-exchange.js";
import { resolveHttpTarget } from "../../src/cluster/http-target.js";
import { defaultCluster, parseClusterYaml } from "../../src/cluster/load.js";
import { selfSignedCertificate } from "../../src/l7/tls-cert.js";

function get(running: RunningCluster, url: string, opts: { from?: string; headers?: [string, string][]; repeat?: number } = {}): HttpExchangeResult {
  const target = resolveHttpTarget(running.l7, url);
  const from = opts.from ?? "outside";
  const ns = running.cluster.externals.get(from)?.ns ?? running.cluster.pods.get(from)!.ns;
  return runHttpExchange(running.cluster, running.l7, {
    title: url,
    from: ns,
    fromLabel: from,
    dst: target.dst,
    dstPort: target.dstPort,
    to: url,
    scheme: "http",
    host: target.hostHeader,
    requests: Array.from({ length: opts.repeat ?? 1 }, () => ({ method: "GET", target: target.target, headers: opts.headers ?? [] })),
  });
}

/** The backend Pod that answered (the HTTP server names itself), and the client address it saw. */
function answeredBy(r: HttpExchangeResult): { pod: string; sawClient: string; xff: string | null } | null {
  const m = /hello from (\S+) \(container [^)]*\) at \S+, you are (\S+?)(?:;.*X-Forwarded-For (\S+))?"/.exec(r.outcome);
  return m ? { pod: m[1]!, sawClient: m[2]!, xff: m[3] ?? null } : null;
}

test("embedded cluster: the Ingress's two hosts and the HTTPRoute route by host and path to the right backends", (t) => {
  const running = bootCluster(defaultCluster());
  t.is(running.l7.controllers.length, 1);
  const cart = get(running, "http://shop.example.com/cart");
  t.true(cart.ok, cart.outcome);
  t.regex(answeredBy(cart)!.pod, /^default\/web-[01]$/);
  t.like(cart.log[0]!.decision, { kind: "Ingress", namespace: "default", name: "shop", rule: "rules[0].http.paths[0]" });
  t.is(answeredBy(get(running, "http://shop.example.com/api/v1/items"))!.pod, "default/api-0");
  t.is(answeredBy(get(running, "http://shop.example.com/apiary"))!.pod.startsWith("default/web-"), true, "/api is a path-element prefix: /apiary is not under it");
  t.is(answeredBy(get(running, "http://api.example.com/"))!.pod, "default/api-0");
  const canary = get(running, "http://www.example.com/", { headers: [["x-canary", "true"]] });
  t.is(answeredBy(canary)!.pod, "default/api-0");
  t.like(canary.log[0]!.decision, { kind: "HTTPRoute", name: "www", rule: "rules[1].matches[0]" });
  const nope = get(running, "http://nope.example.com/");
  t.false(nope.ok);
  t.is(nope.responses[0]!.status, 404);
  t.regex(nope.outcome, /404 Not Found/);
});

test("the backend sees the controller Pod's address; X-Forwarded-For carries the client as the controller saw it", (t) => {
  const running = bootCluster(defaultCluster());
  const r = get(running, "http://shop.example.com/");
  const a = answeredBy(r)!;
  t.regex(a.sawClient, /^10\.244\.1\.4:\d+$/, "the controller Pod (10.244.1.4) connected to the backend");
  // externalTrafficPolicy Cluster: kube-proxy masqueraded the outside client to the node's cni0 address.
  t.is(a.xff, "10.244.1.1");
  t.is(r.log[0]!.clientIp >>> 0, (10 << 24) + (244 << 16) + (1 << 8) + 1);
});

test("keep-alive through podwire's TCP: three requests on one client connection, one SYN from outside", (t) => {
  const running = bootCluster(defaultCluster());
  const r = get(running, "http://api.example.com/x", { repeat: 3 });
  t.deepEqual(r.responses.map((x) => x.status), [200, 200, 200]);
  t.is(r.log.length, 3);
  t.is(new Set(r.log.map((e) => e.clientPort)).size, 1, "all three arrived on one connection");
  const syns = r.events.filter((e) => e.netns === "outside" && e.action === "send" && e.packet?.info.includes("[S]"));
  t.is(syns.length, 1);
  t.regex(r.outcome, /3 responses on one connection/);
});

const APP = (policy: "Cluster" | "Local", upstream = false, extra = "") => `apiVersion: v1
kind: Pod
metadata: {name: web-0, labels: {app: web}}
spec: {nodeName: worker-2, containers: [{name: web, image: nginx, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: http}]}
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec: {selector: {app: nothing}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: ingress-nginx-controller-0
  namespace: ingress-nginx
  labels: {app.kubernetes.io/name: ingress-nginx}
spec:
  nodeName: worker-1
  containers:
  - name: controller
    image: registry.k8s.io/ingress-nginx/controller:v1.11.2@sha256:d5f8217feeac4887cb1ed21f27c2674e58be06bd8f5184cacea2a69abaf78dce
    ports: [{name: http, containerPort: 80}, {name: https, containerPort: 443}]
---
apiVersion: v1
kind: Service
metadata: {name: ingress-nginx-controller, namespace: ingress-nginx}
spec:
  type: NodePort
  externalTrafficPolicy: ${policy}
  selector: {app.kubernetes.io/name: ingress-nginx}
  ports: [{name: http, port: 80, targetPort: http, nodePort: 30180}, {name: https, port: 443, targetPort: https, nodePort: 30443}]
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx, annotations: {ingressclass.kubernetes.io/is-default-class: "true"}}
spec: {controller: k8s.io/ingress-nginx}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app
  annotations: {nginx.ingress.kubernetes.io/service-upstream: "${upstream}"}
spec:
  rules:
  - host: app.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /down, pathType: Prefix, backend: {service: {name: empty, port: {number: 80}}}}
${extra}`;

test("externalTrafficPolicy Local on the controller's Service: the controller (and X-Forwarded-For) sees the real client address", (t) => {
  const cluster = bootCluster(parseClusterYaml(APP("Cluster"), "etp-cluster.yaml"));
  const local = bootCluster(parseClusterYaml(APP("Local"), "etp-local.yaml"));
  const viaCluster = get(cluster, "http://app.example.com/");
  const viaLocal = get(local, "http://app.example.com/");
  t.true(viaCluster.ok && viaLocal.ok, `${viaCluster.outcome} / ${viaLocal.outcome}`);
  t.is(answeredBy(viaCluster)!.xff, "10.244.1.1", "Cluster: masqueraded to the node's address");
  t.is(answeredBy(viaLocal)!.xff, "192.168.56.100", "Local: no masquerade, the outside host's own address");
  t.regex(resolveHttpTarget(local.l7, "http://app.example.com/").via, /NodePort 30180 .* on node worker-1/, "Local: the node running the controller");
  // The same Service's NodePort on a node without a controller Pod: Local drops it.
  const worker2 = local.cluster.node("worker-2")!.spec.internalIP;
  const dropped = runHttpExchange(local.cluster, local.l7, { title: "x", from: local.cluster.externals.get("outside")!.ns, fromLabel: "ext/outside", dst: worker2, dstPort: 30180, to: "worker-2", scheme: "http", host: "app.example.com", requests: [{ method: "GET", target: "/" }] });
  t.false(dropped.ok);
  t.is(dropped.outcome, "no answer (timed out)");
});

test("service-upstream: the controller connects to the ClusterIP and kube-proxy on its node picks the endpoint", (t) => {
  const running = bootCluster(parseClusterYaml(APP("Cluster", true), "upstream.yaml"));
  const r = get(running, "http://app.example.com/");
  t.true(r.ok, r.outcome);
  const u = r.log[0]!.upstream!;
  t.true(u.viaClusterIP);
  t.is(u.ip, running.services.service("default", "web")!.clusterIP ?? "");
  t.true(r.events.some((e) => e.netns === "worker-1" && e.nat?.kind === "DNAT" && e.nat.from === `${u.ip}:80`), "kube-proxy DNATs the second connection");
});

test("a backend without endpoints gets 503 from the controller; a path no rule has gets the default backend's 404", (t) => {
  const running = bootCluster(parseClusterYaml(APP("Cluster"), "app.yaml"));
  const down = get(running, "http://app.example.com/down/x");
  t.is(down.responses[0]!.status, 503);
  t.regex(down.log[0]!.detail, /no ready endpoints/);
  const other = get(running, "http://other.example.com/");
  t.is(other.responses[0]!.status, 404);
  t.like(other.log[0]!.decision, { kind: "default" });
});

test("from inside the cluster too: a Pod resolving the name to the LoadBalancer IP reaches the controller", (t) => {
  const running = bootCluster(defaultCluster());
  const r = get(running, "http://shop.example.com/", { from: "default/client" });
  t.true(r.ok, r.outcome);
});

test("HTTPS: Ingress tls with a kubernetes.io/tls Secret, SNI picks the certificate, the client verifies it", async (t) => {
  const cert = selfSignedCertificate(["app.example.com"], { seed: 99 });
  const secret = `---
apiVersion: v1
kind: Secret
metadata: {name: app-tls}
type: kubernetes.io/tls
data:
  tls.crt: ${Buffer.from(cert.certPem).toString("base64")}
  tls.key: ${Buffer.from(cert.keyPem).toString("base64")}
`;
  const yaml = APP("Cluster", false, `  tls: [{hosts: [app.example.com], secretName: app-tls}]\n${secret}`);
  const running = bootCluster(parseClusterYaml(yaml, "tls.yaml"));
  const target = resolveHttpTarget(running.l7, "https://app.example.com/secure");
  t.regex(target.via, /NodePort 30443/);
  const r = await runHttpExchangeAsync(running.cluster, running.l7, {
    title: "https",
    from: running.cluster.externals.get("outside")!.ns,
    fromLabel: "ext/outside",
    dst: target.dst,
    dstPort: target.dstPort,
    to: "https://app.example.com/secure",
    scheme: "https",
    host: target.hostHeader,
    requests: [{ method: "GET", target: "/secure" }],
    ca: [cert.certPem],
  });
  t.true(r.ok, r.outcome);
  t.like(r.tls, { servername: "app.example.com", alpn: "http/1.1" });
  t.is(r.log[0]!.scheme, "https");
  t.is(r.log[0]!.upstreamRequestHeaders.find(([k]) => k === "X-Forwarded-Proto")?.[1], "https");
  t.true(running.l7.keyLog.size >= 5, "TLS 1.3 secrets logged for Wireshark");
  t.false(running.l7.controllers[0]!.notes.some((n) => n.includes("app-tls")), "the Secret was found, nothing generated");
});
