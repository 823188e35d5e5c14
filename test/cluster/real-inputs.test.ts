/**
 * Real inputs as users bring them: workloads become their controllers' Pods, a kubectl
 * dump loads without a podwire document, API defaults apply before kube-proxy reads a
 * slice, and every load says what it read and what it left out.
 */
import test from "ava";
import { fileURLToPath } from "node:url";
import { PodwireError, formatCidr, formatIpv4, parseIpv4 } from "../../src/base/index.js";
import { bootCluster } from "../../src/cluster/boot.js";
import { runExchange } from "../../src/cluster/exchange.js";
import { loadClusterFile, parseClusterYaml } from "../../src/cluster/load.js";
import type { ClusterSpec } from "../../src/cluster/spec.js";
import { BUILTIN_COREDNS_SOURCE } from "../../src/cluster/workloads.js";

const real = (name: string): string => fileURLToPath(new URL(`../fixtures/real/${name}`, import.meta.url));
const yaml = (...docs: string[]): string => docs.join("\n---\n") + "\n";
/** The file's own Pods, without the CoreDNS Pods podwire adds to a file that has none. */
const userPods = (spec: ClusterSpec) => spec.pods.filter((p) => p.location.file !== BUILTIN_COREDNS_SOURCE);
const COREDNS_ADDED = "added: CoreDNS (2 Pods in kube-system, as kubeadm deploys it)";

const deployment = (name: string, replicas: number, extra = ""): string => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
${extra}      containers:
      - name: main
        image: nginx
        ports:
        - containerPort: 8080`;

const service = (name: string, extra = ""): string => `apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  selector: {app: ${name}}
  ports:
  - port: 80
    targetPort: 8080${extra}`;

test("a Deployment becomes its replicas as the ReplicaSet controller names them, round-robin over schedulable nodes", (t) => {
  const spec = parseClusterYaml(yaml(deployment("web", 3), service("web")), "m.yaml");
  const pods = spec.pods.filter((p) => p.labels["app"] === "web");
  t.is(pods.length, 3);
  const hash = pods[0]!.labels["pod-template-hash"]!;
  t.regex(hash, /^[bcdfghjklmnpqrstvwxz2456789]{10}$/);
  for (const p of pods) {
    t.regex(p.name, new RegExp(`^web-${hash}-[bcdfghjklmnpqrstvwxz2456789]{5}$`));
    t.deepEqual(p.owners, [{ kind: "ReplicaSet", name: `web-${hash}` }]);
    t.deepEqual(p.containers[0]!.ports, [{ containerPort: 8080, protocol: "TCP" }]);
  }
  // The control plane is tainted NoSchedule: the Pods go to the two workers in turn.
  t.deepEqual(pods.map((p) => p.nodeName), ["worker-1", "worker-2", "worker-1"]);
  t.is(new Set(pods.map((p) => p.name)).size, 3);
  t.is(spec.summary!.text, `read 1 Service, 1 Deployment → 3 Pods; ${COREDNS_ADDED}`);
  // CoreDNS tolerates the control plane: its Pods come after the file's.
  t.deepEqual(spec.pods.slice(3).map((p) => [p.namespace, p.nodeName, p.labels["k8s-app"]]), [["kube-system", "control-plane", "kube-dns"], ["kube-system", "worker-1", "kube-dns"]]);
  // Same input, same names.
  t.deepEqual(parseClusterYaml(yaml(deployment("web", 3), service("web")), "m.yaml").pods.map((p) => p.name), spec.pods.map((p) => p.name));
});

test("StatefulSets are name-0…, DaemonSets one per node they tolerate, Jobs their parallelism; replicas 0 makes none", (t) => {
  const sts = `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: data}
spec:
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: redis, ports: [{containerPort: 6379}]}]`;
  const ds = (name: string, tolerations: string): string => `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ${name}, namespace: kube-system}
spec:
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
${tolerations}      containers: [{name: a, image: x}]`;
  const job = `apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: x}]`;
  const spec = parseClusterYaml(
    yaml(sts, ds("agent", ""), ds("proxy", "      tolerations: [{operator: Exists}]\n"), job, deployment("idle", 0)),
    "w.yaml",
  );
  const names = (prefix: string) => spec.pods.filter((p) => p.name.startsWith(prefix));
  t.deepEqual(names("db-").map((p) => [p.namespace, p.name, p.labels["statefulset.kubernetes.io/pod-name"]]), [["data", "db-0", "db-0"], ["data", "db-1", "db-1"]]);
  t.deepEqual(names("agent-").map((p) => p.nodeName).sort(), ["worker-1", "worker-2"]);
  t.deepEqual(names("proxy-").map((p) => p.nodeName).sort(), ["control-plane", "worker-1", "worker-2"]);
  t.is(names("migrate-").length, 2);
  t.true(names("migrate-").every((p) => p.labels["batch.kubernetes.io/job-name"] === "migrate"));
  t.is(names("idle-").length, 0);
  t.regex(spec.summary!.text, /1 StatefulSet → 2 Pods, 2 DaemonSets → 5 Pods, 1 Job → 2 Pods, 1 Deployment → 0 Pods/);
});

test("a nodeSelector with no matching node is a clear error at the workload", (t) => {
  const err = t.throws(() => parseClusterYaml(deployment("gpu", 1, "      nodeSelector: {gpu: \"true\"}\n"), "g.yaml"), { instanceOf: PodwireError });
  t.is(err!.code, "E_NO_SCHEDULABLE_NODE");
  t.regex(err!.message, /g\.yaml:4:\d+, document 1, field metadata\.name: Pod default\/gpu-\S+ has no spec\.nodeName and no node matches its nodeSelector/);
});

test("Pods already in the file are used, not duplicated: a Deployment whose ReplicaSet owns Pods makes none", (t) => {
  const pod = `apiVersion: v1
kind: Pod
metadata:
  name: web-5d8f7c6b9d-abcde
  labels: {app: web, pod-template-hash: 5d8f7c6b9d}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d8f7c6b9d, uid: x, controller: true}]
spec:
  nodeName: worker-2
  containers: [{name: main, image: nginx, ports: [{containerPort: 8080}]}]
status:
  phase: Running
  podIP: 10.244.2.7`;
  const spec = parseClusterYaml(yaml(deployment("web", 3), pod, service("web")), "d.yaml");
  t.deepEqual(userPods(spec).map((p) => [p.name, formatIpv4(p.podIP)]), [["web-5d8f7c6b9d-abcde", "10.244.2.7"]]);
  t.regex(spec.summary!.text, /1 Deployment → 0 Pods/);
});

test("Pending and Failed Pods keep their phase: no address, no endpoint, and the summary says so", (t) => {
  const pod = (name: string, phase: string): string => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, labels: {app: web}}
spec:
  containers: [{name: main, image: nginx, ports: [{containerPort: 8080}]}]
status: {phase: ${phase}}`;
  const spec = parseClusterYaml(yaml(pod("a", "Running"), pod("b", "Pending"), pod("c", "Failed"), service("web")), "p.yaml");
  t.deepEqual(userPods(spec).map((p) => p.name), ["a"]);
  t.regex(spec.summary!.text, /ignored: 1 Pending Pod \(no address, no endpoint\), 1 Failed Pod \(no address, no endpoint\)/);
  const { services } = bootCluster(spec);
  const slices = services.model.endpointSlices.filter((s) => s.serviceName === "web");
  t.deepEqual(slices.flatMap((s) => s.endpoints.flatMap((e) => e.addresses)), [formatIpv4(userPods(spec)[0]!.podIP)]);
});

test("ignored kinds are counted; --strict refuses the ones that change traffic, naming the first", (t) => {
  const np = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny}\nspec: {podSelector: {}}";
  const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}";
  const text = yaml(deployment("web", 1), cm, np, cm.replace("name: c", "name: d"));
  const spec = parseClusterYaml(text, "s.yaml");
  t.is(spec.summary!.text, `read 1 Deployment → 1 Pod; ${COREDNS_ADDED}; ignored: 2 ConfigMaps, 1 NetworkPolicy (not emulated: traffic it would block passes)`);
  const err = t.throws(() => parseClusterYaml(text, "s.yaml", { strict: true }), { instanceOf: PodwireError });
  t.is(err!.code, "E_STRICT");
  t.regex(err!.message, /^s\.yaml:\d+:1, document 3: --strict: .*1 NetworkPolicy/);
  // Without traffic-changing objects --strict has nothing to say.
  t.notThrows(() => parseClusterYaml(yaml(deployment("web", 1), cm), "s.yaml", { strict: true }));
});

test("IPv6 families of dual-stack Services are said to be left out (and refused under --strict)", (t) => {
  const text = yaml(deployment("web", 1), service("web", "\n  ipFamilyPolicy: PreferDualStack\n  ipFamilies: [IPv4, IPv6]"));
  t.regex(parseClusterYaml(text, "v6.yaml").summary!.text, /ignored: 1 IPv6 Service family \(IPv4 only is emulated\)/);
  t.throws(() => parseClusterYaml(text, "v6.yaml", { strict: true }), { instanceOf: PodwireError, message: /--strict/ });
});

test("an EndpointSlice port without a name gets the API server's default \"\" and serves the unnamed Service port", (t) => {
  const text = yaml(
    service("web").replace("  selector: {app: web}\n", ""),
    `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports:
- port: 8080
endpoints:
- addresses: [10.244.1.50]
  nodeName: worker-1`,
    `apiVersion: v1
kind: Pod
metadata: {name: backend}
spec:
  nodeName: worker-1
  containers: [{name: main, image: nginx, ports: [{containerPort: 8080}]}]
status: {podIP: 10.244.1.50}`,
    `apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  nodeName: worker-2
  containers: [{name: c, image: busybox}]`,
  );
  const { cluster, services } = bootCluster(parseClusterYaml(text, "e.yaml"));
  t.deepEqual(services.model.warnings, []);
  const svc = services.model.services.find((s) => s.name === "web")!;
  const client = cluster.pod("default", "client")!;
  const r = runExchange(cluster, { title: "t", from: client.ns, fromLabel: "pod/default/client", dst: parseIpv4(svc.clusterIP!), dstPort: 80, proto: "tcp" });
  t.true(r.ok, r.outcome);
  t.regex(r.outcome, /hello from default\/backend/);
});

test("the Online Boutique manifests, unedited, load on the embedded nodes: 12 Deployments → 12 Pods, 12 Services", (t) => {
  const spec = loadClusterFile(real("online-boutique.yaml"));
  t.is(spec.summary!.text, `read 12 Services, 12 Deployments → 12 Pods; ${COREDNS_ADDED}`);
  t.deepEqual(spec.nodes.map((n) => n.name), ["control-plane", "worker-1", "worker-2"]);
  t.is(userPods(spec).length, 12);
  t.true(spec.inferred![0]!.startsWith("no Nodes"));
});

test("a kind cluster's kubectl dump loads without a podwire document; the settings are inferred from it", (t) => {
  const spec = loadClusterFile(real("kind-dump.yaml"));
  t.is(formatCidr(spec.nodeNetwork), "172.18.0.0/24");
  t.is(formatCidr(spec.clusterCIDR), "10.244.0.0/16");
  t.is(formatCidr(spec.serviceCIDR), "10.96.0.0/12");
  t.deepEqual(spec.externalHosts.map((h) => [h.name, formatIpv4(h.ip)]), [["outside", "172.18.0.254"]]);
  t.deepEqual(spec.nodes.map((n) => [n.name, formatIpv4(n.internalIP), n.controlPlane]).sort(), [
    ["kind-control-plane", "172.18.0.3", true],
    ["kind-worker", "172.18.0.2", false],
    ["kind-worker2", "172.18.0.4", false],
  ]);
  // The dump's Pods are used as they are (addresses kept), the Pending one gets none.
  const coredns = spec.pods.filter((p) => p.labels["k8s-app"] === "kube-dns");
  t.is(coredns.length, 2);
  t.regex(spec.summary!.text, /^read 3 Nodes, 16 Pods, 3 Services, 3 EndpointSlices; ignored: 1 Pending Pod/);
});

test("inferred settings: a node network outside the default becomes the smallest /24 or wider range holding every node", (t) => {
  const node = (name: string, ip: string, cidr: string): string => `apiVersion: v1
kind: Node
metadata: {name: ${name}}
spec: {podCIDR: ${cidr}}
status:
  addresses: [{type: InternalIP, address: ${ip}}]`;
  const svc = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  clusterIP: 172.20.5.9\n  ports: [{port: 80}]";
  const spec = parseClusterYaml(yaml(node("a", "10.0.1.5", "100.64.0.0/26"), node("b", "10.0.2.7", "100.64.0.64/26"), svc), "eks.yaml");
  t.is(formatCidr(spec.nodeNetwork), "10.0.0.0/22");
  t.is(spec.nodeCIDRMaskSize, 26);
  t.is(formatCidr(spec.clusterCIDR), "100.64.0.0/16");
  t.is(formatCidr(spec.serviceCIDR), "172.20.0.0/16");
  t.is(spec.inferred!.length, 5);
});

test("a headless Service with a selector gets derived EndpointSlices, so its name resolves to the ready Pods", (t) => {
  const text = yaml(
    deployment("db", 2).replace("kind: Deployment", "kind: StatefulSet"),
    service("db", "\n  clusterIP: None"),
    "apiVersion: v1\nkind: Pod\nmetadata: {name: client}\nspec: {nodeName: worker-1, containers: [{name: c, image: busybox}]}",
  );
  const spec = parseClusterYaml(text, "h.yaml");
  const { cluster, services } = bootCluster(spec);
  const dbIPs = userPods(spec).filter((p) => p.labels["app"] === "db").map((p) => p.podIP).sort();
  const kubeDns = services.model.services.find((s) => s.name === "kube-dns")!;
  const r = runExchange(cluster, { title: "t", from: cluster.pod("default", "client")!.ns, fromLabel: "client", dst: parseIpv4(kubeDns.clusterIP!), dstPort: 53, proto: "dns", dnsName: "db.default.svc.cluster.local" });
  t.true(r.ok, r.outcome);
  t.deepEqual([...r.resolved].sort(), dbIPs);
});

test("ports that cannot all be bound are input errors naming both places, not crashes", (t) => {
  const hostPod = (name: string, port: number, protocol = "TCP") =>
    `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}}\nspec:\n  nodeName: worker-1\n  hostNetwork: true\n  containers: [{name: c, ports: [{containerPort: ${port}, protocol: ${protocol}}]}]`;
  const two = t.throws(() => parseClusterYaml(yaml(hostPod("a", 9100), hostPod("b", 9100)), "p.yaml"), { instanceOf: PodwireError });
  t.is(two!.code, "E_PORT_CLASH");
  t.regex(two!.message, /^p\.yaml:15:\d+, document 2, field spec\.containers\[0\]\.ports\[0\]\.containerPort: port 9100\/TCP in node worker-1's host network is already used by hostNetwork Pod default\/a \(p\.yaml:7\)/);
  // The same number over another protocol is another socket.
  t.notThrows(() => parseClusterYaml(yaml(hostPod("a", 9100), hostPod("b", 9100, "UDP")), "p.yaml"));
  const vxlan = t.throws(() => parseClusterYaml(hostPod("a", 8472, "UDP"), "p.yaml"), { instanceOf: PodwireError });
  t.regex(vxlan!.message, /UDP 8472, where node worker-1's VXLAN device \(flannel\.1\) receives/);
  const containers = `apiVersion: v1\nkind: Pod\nmetadata: {name: twice}\nspec:\n  containers:\n  - {name: a, ports: [{containerPort: 80}]}\n  - {name: b, ports: [{containerPort: 80}]}`;
  const same = t.throws(() => parseClusterYaml(containers, "p.yaml"), { instanceOf: PodwireError });
  t.regex(same!.message, /port 80\/TCP in Pod default\/twice is already used by another container of the same Pod/);
  // A static kube-apiserver Pod on the host network that declares 6443 is the API server.
  const apiserver = `apiVersion: v1\nkind: Node\nmetadata: {name: cp, labels: {node-role.kubernetes.io/control-plane: ""}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: kube-apiserver-cp, namespace: kube-system}\nspec:\n  nodeName: cp\n  hostNetwork: true\n  containers: [{name: kube-apiserver, ports: [{containerPort: 6443}]}]`;
  t.notThrows(() => bootCluster(parseClusterYaml(apiserver, "a.yaml")));
});

test("names the API server would refuse are refused, with the field; control characters never reach the message raw", (t) => {
  const bad: [string, RegExp][] = [
    ["apiVersion: v1\nkind: Node\nmetadata: {name: Worker_1}", /field metadata\.name: Node name "Worker_1" is not a DNS-1123 subdomain/],
    ["apiVersion: v1\nkind: Pod\nmetadata: {name: \"a/b\"}\nspec: {containers: [{name: c}]}", /Pod name "a\/b" is not a DNS-1123 subdomain/],
    ["apiVersion: v1\nkind: Pod\nmetadata: {name: \"evil\\e[31m\"}\nspec: {containers: [{name: c}]}", /Pod name "evil\\u001b\[31m" is not/],
    ["apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: \"My NS\"}\nspec: {containers: [{name: c}]}", /namespace name "My NS" is not a DNS-1123 label/],
    ["apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: \"\\n\"}]}", /container name "\\n" is not a DNS-1123 label/],
    ["apiVersion: v1\nkind: Service\nmetadata: {name: 1web}\nspec: {ports: [{port: 80}]}", /Service name "1web" is not a DNS-1035 label/],
  ];
  for (const [text, re] of bad) {
    const err = t.throws(() => bootCluster(parseClusterYaml(text, "n.yaml")), { instanceOf: PodwireError }, text);
    t.is(err!.code, "E_NAME");
    t.regex(err!.message, re);
    t.false(err!.message.includes("\u001b"), "no raw escape character");
  }
});

test("a misspelt podwire document is an error naming it, not a silent fall-back to the defaults", (t) => {
  const kind = t.throws(() => parseClusterYaml("apiVersion: podwire.dev/v1alpha1\nkind: Clustr\nmetadata: {name: x}\n", "m.yaml"), { instanceOf: PodwireError });
  t.is(kind!.code, "E_PODWIRE_DOCUMENT");
  t.regex(kind!.message, /^m\.yaml:2:7, document 1, field kind: a podwire document with kind "Clustr"/);
  const group = t.throws(() => parseClusterYaml("apiVersion: podwire.io/v1alpha1\nkind: Cluster\nmetadata: {name: x}\n", "m.yaml"), { instanceOf: PodwireError });
  t.regex(group!.message, /field apiVersion: a podwire document with apiVersion "podwire\.io\/v1alpha1"/);
  // Another project's Cluster kind (Cluster API) is not ours: counted as ignored.
  const capi = parseClusterYaml("apiVersion: cluster.x-k8s.io/v1beta1\nkind: Cluster\nmetadata: {name: c}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: n}\n", "m.yaml");
  t.regex(capi.summary!.text, /ignored: 1 Cluster$/);
});
