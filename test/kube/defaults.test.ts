/**
 * API-server defaulting (src/kube/defaults.ts): one before/after vector per rule, and
 * properties over generated objects of every kind: a value the user gave is never changed,
 * the input is never mutated, and defaulting twice is defaulting once.
 */
import { fc, testProp } from "@fast-check/ava";
import test from "ava";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import {
  applyApiDefaults,
  defaultDaemonSet,
  defaultDeployment,
  defaultEndpointSlice,
  defaultEndpoints,
  defaultJob,
  defaultNode,
  defaultPod,
  defaultReplicaSet,
  defaultService,
  defaultStatefulSet,
  imageTag,
  type ApiBody,
} from "../../src/kube/index.js";

// ---------------------------------------------------------------------------------------
// Service

const svc = (spec: ApiBody, extra: ApiBody = {}): ApiBody => ({ metadata: { name: "web" }, spec, ...extra });

test("Service: the full set of defaults for a minimal ClusterIP Service", (t) => {
  const before = svc({ selector: { app: "web" }, ports: [{ port: 80 }] });
  t.deepEqual(defaultService(before), {
    metadata: { name: "web", namespace: "default" },
    spec: {
      selector: { app: "web" },
      ports: [{ port: 80, protocol: "TCP", targetPort: 80 }],
      sessionAffinity: "None",
      type: "ClusterIP",
      internalTrafficPolicy: "Cluster",
      ipFamilyPolicy: "SingleStack",
      ipFamilies: ["IPv4"],
    },
  });
});

test("Service: the namespace the user gave is kept", (t) => {
  t.is((defaultService({ metadata: { name: "a", namespace: "shop" }, spec: {} }).metadata as ApiBody).namespace, "shop");
});

test("Service: ports keep given protocol and targetPort (number or name); targetPort 0 or \"\" is unset", (t) => {
  const out = defaultService(
    svc({
      ports: [
        { name: "dns", port: 53, protocol: "UDP" },
        { name: "http", port: 80, targetPort: "http" },
        { name: "a", port: 81, targetPort: 8081 },
        { name: "b", port: 82, targetPort: 0 },
        { name: "c", port: 83, targetPort: "" },
        { name: "d", port: 84, targetPort: null },
      ],
    }),
  );
  t.deepEqual((out.spec as ApiBody).ports, [
    { name: "dns", port: 53, protocol: "UDP", targetPort: 53 },
    { name: "http", port: 80, targetPort: "http", protocol: "TCP" },
    { name: "a", port: 81, targetPort: 8081, protocol: "TCP" },
    { name: "b", port: 82, targetPort: 82, protocol: "TCP" },
    { name: "c", port: 83, targetPort: 83, protocol: "TCP" },
    { name: "d", port: 84, targetPort: 84, protocol: "TCP" },
  ]);
});

test("Service: ClientIP affinity gets the 10800 s timeout; a given timeout is kept", (t) => {
  const a = defaultService(svc({ sessionAffinity: "ClientIP" })).spec as ApiBody;
  t.deepEqual(a.sessionAffinityConfig, { clientIP: { timeoutSeconds: 10800 } });
  const b = defaultService(svc({ sessionAffinity: "ClientIP", sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } })).spec as ApiBody;
  t.deepEqual(b.sessionAffinityConfig, { clientIP: { timeoutSeconds: 60 } });
  const c = defaultService(svc({ sessionAffinity: "ClientIP", sessionAffinityConfig: {} })).spec as ApiBody;
  t.deepEqual(c.sessionAffinityConfig, { clientIP: { timeoutSeconds: 10800 } });
  // None: no config is made up (and a given one is kept, unlike upstream, which drops it).
  t.false("sessionAffinityConfig" in (defaultService(svc({})).spec as ApiBody));
});

test("Service: externalTrafficPolicy Cluster only for externally accessible Services", (t) => {
  const etp = (spec: ApiBody): unknown => (defaultService(svc(spec)).spec as ApiBody).externalTrafficPolicy;
  t.is(etp({}), undefined);
  t.is(etp({ type: "ClusterIP" }), undefined);
  t.is(etp({ type: "ExternalName", externalName: "example.com" }), undefined);
  t.is(etp({ type: "NodePort" }), "Cluster");
  t.is(etp({ type: "LoadBalancer" }), "Cluster");
  t.is(etp({ type: "NodePort", externalTrafficPolicy: "Local" }), "Local");
  // pkg/api/v1/service/util.go ExternallyAccessible: a ClusterIP Service with externalIPs.
  t.is(etp({ externalIPs: ["192.168.56.200"] }), "Cluster");
});

test("Service: internalTrafficPolicy Cluster except for ExternalName", (t) => {
  const itp = (spec: ApiBody): unknown => (defaultService(svc(spec)).spec as ApiBody).internalTrafficPolicy;
  t.is(itp({}), "Cluster");
  t.is(itp({ type: "NodePort" }), "Cluster");
  t.is(itp({ type: "LoadBalancer" }), "Cluster");
  t.is(itp({ type: "ExternalName", externalName: "example.com" }), undefined);
  t.is(itp({ internalTrafficPolicy: "Local" }), "Local");
});

test("Service: LoadBalancer gets allocateLoadBalancerNodePorts true and VIP ingress ipMode", (t) => {
  const out = defaultService(svc({ type: "LoadBalancer" }, { status: { loadBalancer: { ingress: [{ ip: "203.0.113.7" }, { hostname: "lb.example.com" }, { ip: "203.0.113.8", ipMode: "Proxy" }] } } }));
  t.is((out.spec as ApiBody).allocateLoadBalancerNodePorts, true);
  t.deepEqual(((out.status as ApiBody).loadBalancer as ApiBody).ingress, [{ ip: "203.0.113.7", ipMode: "VIP" }, { hostname: "lb.example.com" }, { ip: "203.0.113.8", ipMode: "Proxy" }]);
  t.is((defaultService(svc({ type: "LoadBalancer", allocateLoadBalancerNodePorts: false })).spec as ApiBody).allocateLoadBalancerNodePorts, false);
  t.false("allocateLoadBalancerNodePorts" in (defaultService(svc({ type: "NodePort" })).spec as ApiBody));
});

test("Service: publishNotReadyAddresses stays absent", (t) => {
  t.false("publishNotReadyAddresses" in (defaultService(svc({})).spec as ApiBody));
});

test("Service: IP families from the cluster IP, the cluster's families and the policy", (t) => {
  const fam = (spec: ApiBody, serviceIPFamilies?: ("IPv4" | "IPv6")[]): [unknown, unknown] => {
    const s = defaultService(svc(spec), serviceIPFamilies ? { serviceIPFamilies } : {}).spec as ApiBody;
    return [s.ipFamilyPolicy, s.ipFamilies];
  };
  t.deepEqual(fam({}), ["SingleStack", ["IPv4"]]);
  t.deepEqual(fam({ clusterIP: "10.96.0.10" }), ["SingleStack", ["IPv4"]]);
  t.deepEqual(fam({ clusterIP: "fd00:10:96::a" }), ["SingleStack", ["IPv6"]]);
  t.deepEqual(fam({ clusterIPs: ["fd00:10:96::a"] }), ["SingleStack", ["IPv6"]]);
  t.deepEqual(fam({}, ["IPv6", "IPv4"]), ["SingleStack", ["IPv6"]]);
  // PreferDualStack: both families only on a dual-stack cluster.
  t.deepEqual(fam({ ipFamilyPolicy: "PreferDualStack" }), ["PreferDualStack", ["IPv4"]]);
  t.deepEqual(fam({ ipFamilyPolicy: "PreferDualStack" }, ["IPv4", "IPv6"]), ["PreferDualStack", ["IPv4", "IPv6"]]);
  // Headless with a selector: an ordinary SingleStack Service.
  t.deepEqual(fam({ clusterIP: "None", selector: { app: "db" } }), ["SingleStack", ["IPv4"]]);
  // Headless without a selector: RequireDualStack and both families, even single-stack.
  t.deepEqual(fam({ clusterIP: "None" }), ["RequireDualStack", ["IPv4", "IPv6"]]);
  t.deepEqual(fam({ clusterIP: "None", ipFamilyPolicy: "SingleStack" }), ["SingleStack", ["IPv4"]]);
  // Given values are kept as given.
  t.deepEqual(fam({ ipFamilies: ["IPv6"], ipFamilyPolicy: "SingleStack" }), ["SingleStack", ["IPv6"]]);
  // ExternalName Services get no IP family fields.
  t.deepEqual(fam({ type: "ExternalName", externalName: "example.com" }), [undefined, undefined]);
});

test("Service: wrongly typed fields are left for the reader to report", (t) => {
  t.deepEqual(defaultService({ metadata: { name: "x" }, spec: "oops" }), { metadata: { name: "x", namespace: "default" }, spec: "oops" });
  const out = defaultService(svc({ ports: ["80", { port: 81 }], type: 7 }));
  t.deepEqual((out.spec as ApiBody).ports, ["80", { port: 81, protocol: "TCP", targetPort: 81 }]);
  t.is((out.spec as ApiBody).type, 7);
});

// ---------------------------------------------------------------------------------------
// EndpointSlice and Endpoints

test("EndpointSlice: port name \"\" and protocol TCP when absent; conditions are not defaulted", (t) => {
  const before: ApiBody = {
    addressType: "IPv4",
    metadata: { name: "web-abc", labels: { "kubernetes.io/service-name": "web" } },
    ports: [{ port: 80 }, { name: "dns", port: 53, protocol: "UDP" }, { name: "", port: 9 }, { name: null, protocol: null }],
    endpoints: [{ addresses: ["10.244.1.5"] }, { addresses: ["10.244.2.5"], conditions: {} }, { addresses: ["10.244.2.6"], conditions: { ready: false } }],
  };
  t.deepEqual(defaultEndpointSlice(before), {
    addressType: "IPv4",
    metadata: { name: "web-abc", namespace: "default", labels: { "kubernetes.io/service-name": "web" } },
    ports: [{ port: 80, name: "", protocol: "TCP" }, { name: "dns", port: 53, protocol: "UDP" }, { name: "", port: 9, protocol: "TCP" }, { name: "", protocol: "TCP" }],
    endpoints: [{ addresses: ["10.244.1.5"] }, { addresses: ["10.244.2.5"], conditions: {} }, { addresses: ["10.244.2.6"], conditions: { ready: false } }],
  });
});

test("EndpointSlice: a port without a port number stays without one (it means all ports)", (t) => {
  t.deepEqual(defaultEndpointSlice({ metadata: { name: "s", namespace: "x" }, ports: [{}] }).ports, [{ name: "", protocol: "TCP" }]);
});

test("Endpoints: subset port protocol TCP", (t) => {
  t.deepEqual(defaultEndpoints({ metadata: { name: "e" }, subsets: [{ ports: [{ port: 80 }, { port: 53, protocol: "UDP" }] }] }).subsets, [{ ports: [{ port: 80, protocol: "TCP" }, { port: 53, protocol: "UDP" }] }]);
});

// ---------------------------------------------------------------------------------------
// Pod

test("Pod: PodSpec, Pod and container defaults", (t) => {
  const before: ApiBody = {
    metadata: { name: "web-0", labels: { app: "web" } },
    spec: { containers: [{ name: "nginx", image: "nginx:1.27", ports: [{ containerPort: 80 }] }] },
  };
  t.deepEqual(defaultPod(before), {
    metadata: { name: "web-0", namespace: "default", labels: { app: "web" } },
    spec: {
      containers: [
        {
          name: "nginx",
          image: "nginx:1.27",
          ports: [{ containerPort: 80, protocol: "TCP" }],
          imagePullPolicy: "IfNotPresent",
          terminationMessagePath: "/dev/termination-log",
          terminationMessagePolicy: "File",
        },
      ],
      enableServiceLinks: true,
      dnsPolicy: "ClusterFirst",
      restartPolicy: "Always",
      securityContext: {},
      terminationGracePeriodSeconds: 30,
      schedulerName: "default-scheduler",
    },
  });
});

test("Pod: hostNetwork is not made up; with hostNetwork, hostPort defaults to containerPort", (t) => {
  const plain = defaultPod({ metadata: { name: "p" }, spec: { containers: [{ name: "c", ports: [{ containerPort: 80 }] }] } });
  t.false("hostNetwork" in (plain.spec as ApiBody));
  t.false("hostPort" in (((plain.spec as ApiBody).containers as ApiBody[])[0]!.ports as ApiBody[])[0]!);
  const host = defaultPod({
    metadata: { name: "p" },
    spec: {
      hostNetwork: true,
      initContainers: [{ name: "i", ports: [{ containerPort: 9 }] }],
      containers: [{ name: "c", ports: [{ containerPort: 10250 }, { containerPort: 53, hostPort: 5353, protocol: "UDP" }] }],
    },
  }).spec as ApiBody;
  t.deepEqual(((host.containers as ApiBody[])[0]!.ports as ApiBody[]), [{ containerPort: 10250, hostPort: 10250, protocol: "TCP" }, { containerPort: 53, hostPort: 5353, protocol: "UDP" }]);
  t.deepEqual(((host.initContainers as ApiBody[])[0]!.ports as ApiBody[]), [{ containerPort: 9, hostPort: 9, protocol: "TCP" }]);
  t.is(host.dnsPolicy, "ClusterFirst"); // the kubelet, not the API server, turns that into Default
});

test("Pod: given spec fields are kept", (t) => {
  const spec = defaultPod({ metadata: { name: "p", namespace: "kube-system" }, spec: { dnsPolicy: "Default", restartPolicy: "Never", schedulerName: "other", terminationGracePeriodSeconds: 0, enableServiceLinks: false, containers: [] } }).spec as ApiBody;
  t.like(spec, { dnsPolicy: "Default", restartPolicy: "Never", schedulerName: "other", terminationGracePeriodSeconds: 0, enableServiceLinks: false });
});

test("Pod: requests default to limits, key by key", (t) => {
  const c = ((defaultPod({ metadata: { name: "p" }, spec: { containers: [{ name: "c", resources: { limits: { cpu: "200m", memory: "128Mi" }, requests: { cpu: "100m" } } }] } }).spec as ApiBody).containers as ApiBody[])[0]!;
  t.deepEqual(c.resources, { limits: { cpu: "200m", memory: "128Mi" }, requests: { cpu: "100m", memory: "128Mi" } });
});

test("Pod: probes, HTTP and gRPC handlers, lifecycle hooks, env fieldRef", (t) => {
  const c = ((defaultPod({
    metadata: { name: "p" },
    spec: {
      containers: [
        {
          name: "c",
          image: "busybox",
          readinessProbe: { httpGet: { port: 8080 } },
          livenessProbe: { grpc: { port: 9000 }, periodSeconds: 5 },
          startupProbe: { exec: { command: ["true"] }, failureThreshold: 30 },
          lifecycle: { preStop: { httpGet: { port: 80, path: "/quit" } } },
          env: [{ name: "NODE", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } }],
        },
      ],
    },
  }).spec as ApiBody).containers as ApiBody[])[0]!;
  t.is(c.imagePullPolicy, "Always"); // no tag means :latest
  t.deepEqual(c.readinessProbe, { httpGet: { port: 8080, path: "/", scheme: "HTTP" }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 });
  t.deepEqual(c.livenessProbe, { grpc: { port: 9000, service: "" }, periodSeconds: 5, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 });
  t.deepEqual(c.startupProbe, { exec: { command: ["true"] }, failureThreshold: 30, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1 });
  t.deepEqual(c.lifecycle, { preStop: { httpGet: { port: 80, path: "/quit", scheme: "HTTP" } } });
  t.deepEqual(c.env, [{ name: "NODE", valueFrom: { fieldRef: { fieldPath: "spec.nodeName", apiVersion: "v1" } } }]);
});

test("imageTag: as ParseImageName sees it", (t) => {
  t.is(imageTag("nginx"), "latest");
  t.is(imageTag("nginx:1.27"), "1.27");
  t.is(imageTag("busybox:latest"), "latest");
  t.is(imageTag("localhost:5000/app"), "latest");
  t.is(imageTag("localhost:5000/app:v2"), "v2");
  t.is(imageTag("registry.k8s.io/pause@sha256:0123abcd"), "");
  t.is(imageTag("registry.k8s.io/pause:3.10@sha256:0123abcd"), "3.10");
});

// ---------------------------------------------------------------------------------------
// Node

test("Node: allocatable from capacity, nothing else; no namespace", (t) => {
  t.deepEqual(defaultNode({ metadata: { name: "n" }, spec: { podCIDR: "10.244.0.0/24" }, status: { capacity: { cpu: "4" } } }), {
    metadata: { name: "n" },
    spec: { podCIDR: "10.244.0.0/24" },
    status: { capacity: { cpu: "4" }, allocatable: { cpu: "4" } },
  });
  t.deepEqual(defaultNode({ metadata: { name: "n" } }), { metadata: { name: "n" } });
});

// ---------------------------------------------------------------------------------------
// Workloads

const template = (spec: ApiBody = { containers: [{ name: "c", image: "nginx:1.27", ports: [{ containerPort: 80 }] }] }): ApiBody => ({ metadata: { labels: { app: "web" } }, spec });

/** What a template's Pod spec gets: PodSpec and container defaults, not the Pod-only ones. */
const templateSpecDefaults: ApiBody = {
  containers: [{ name: "c", image: "nginx:1.27", ports: [{ containerPort: 80, protocol: "TCP" }], imagePullPolicy: "IfNotPresent", terminationMessagePath: "/dev/termination-log", terminationMessagePolicy: "File" }],
  dnsPolicy: "ClusterFirst",
  restartPolicy: "Always",
  securityContext: {},
  terminationGracePeriodSeconds: 30,
  schedulerName: "default-scheduler",
};

test("Deployment: replicas, strategy, history, deadline, template", (t) => {
  t.deepEqual(defaultDeployment({ metadata: { name: "web" }, spec: { selector: { matchLabels: { app: "web" } }, template: template() } }), {
    metadata: { name: "web", namespace: "default" },
    spec: {
      selector: { matchLabels: { app: "web" } },
      template: { metadata: { labels: { app: "web" } }, spec: templateSpecDefaults },
      replicas: 1,
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "25%", maxSurge: "25%" } },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
    },
  });
  const recreate = defaultDeployment({ metadata: { name: "web" }, spec: { replicas: 0, strategy: { type: "Recreate" } } }).spec as ApiBody;
  t.is(recreate.replicas, 0);
  t.deepEqual(recreate.strategy, { type: "Recreate" });
});

test("Deployment template: no Pod-only defaults (enableServiceLinks, hostPort)", (t) => {
  const spec = ((defaultDeployment({ metadata: { name: "d" }, spec: { template: template({ hostNetwork: true, containers: [{ name: "c", ports: [{ containerPort: 80 }] }] }) } }).spec as ApiBody).template as ApiBody).spec as ApiBody;
  t.false("enableServiceLinks" in spec);
  t.deepEqual((spec.containers as ApiBody[])[0]!.ports, [{ containerPort: 80, protocol: "TCP" }]);
});

test("ReplicaSet: replicas 1", (t) => {
  t.like(defaultReplicaSet({ metadata: { name: "rs" }, spec: { template: template() } }).spec as ApiBody, { replicas: 1, template: { spec: templateSpecDefaults } });
});

test("StatefulSet: podManagementPolicy, updateStrategy, retention, replicas", (t) => {
  t.deepEqual(defaultStatefulSet({ metadata: { name: "db" }, spec: { serviceName: "db", template: template() } }).spec, {
    serviceName: "db",
    template: { metadata: { labels: { app: "web" } }, spec: templateSpecDefaults },
    podManagementPolicy: "OrderedReady",
    updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 0 } },
    persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
    replicas: 1,
    revisionHistoryLimit: 10,
  });
  const onDelete = defaultStatefulSet({ metadata: { name: "db" }, spec: { podManagementPolicy: "Parallel", updateStrategy: { type: "OnDelete" } } }).spec as ApiBody;
  t.is(onDelete.podManagementPolicy, "Parallel");
  t.deepEqual(onDelete.updateStrategy, { type: "OnDelete" });
});

test("DaemonSet: updateStrategy and history", (t) => {
  t.like(defaultDaemonSet({ metadata: { name: "kube-proxy", namespace: "kube-system" }, spec: { template: template() } }), {
    metadata: { namespace: "kube-system" },
    spec: { updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } }, revisionHistoryLimit: 10, template: { spec: templateSpecDefaults } },
  });
});

test("Job: completions and parallelism, backoff, labels from the template, mode, suspend", (t) => {
  t.deepEqual(defaultJob({ metadata: { name: "j" }, spec: { template: template({ restartPolicy: "Never", containers: [] }) } }), {
    metadata: { name: "j", namespace: "default", labels: { app: "web" } },
    spec: {
      template: { metadata: { labels: { app: "web" } }, spec: { restartPolicy: "Never", containers: [], dnsPolicy: "ClusterFirst", securityContext: {}, terminationGracePeriodSeconds: 30, schedulerName: "default-scheduler" } },
      completions: 1,
      parallelism: 1,
      backoffLimit: 6,
      completionMode: "NonIndexed",
      suspend: false,
    },
  });
  // Completions given: parallelism alone defaults; completions stay as given.
  t.like(defaultJob({ metadata: { name: "j" }, spec: { completions: 5 } }).spec as ApiBody, { completions: 5, parallelism: 1 });
  // Parallelism given: completions stay absent (a work-queue Job).
  const wq = defaultJob({ metadata: { name: "j" }, spec: { parallelism: 3 } }).spec as ApiBody;
  t.is(wq.parallelism, 3);
  t.false("completions" in wq);
});

// ---------------------------------------------------------------------------------------
// Dispatch

test("applyApiDefaults dispatches on kind and group; unknown ones come back as a copy", (t) => {
  const s = svc({ ports: [{ port: 80 }] });
  t.deepEqual(applyApiDefaults("Service", "v1", s), defaultService(s));
  t.deepEqual(applyApiDefaults("EndpointSlice", "discovery.k8s.io/v1", { ports: [{}] }).ports, [{ name: "", protocol: "TCP" }]);
  t.is((applyApiDefaults("Deployment", "apps/v1", { spec: {} }).spec as ApiBody).replicas, 1);
  t.is((applyApiDefaults("Job", "batch/v1", { spec: {} }).spec as ApiBody).backoffLimit, 6);
  t.is(((applyApiDefaults("Pod", "v1", { spec: {} })).spec as ApiBody).restartPolicy, "Always");
  t.deepEqual(applyApiDefaults("Service", "v1", { spec: {} }, { serviceIPFamilies: ["IPv6"] }).spec, defaultService({ spec: {} }, { serviceIPFamilies: ["IPv6"] }).spec);
  const cm = { metadata: { name: "c" }, data: { a: "1" } };
  const copy = applyApiDefaults("ConfigMap", "v1", cm);
  t.deepEqual(copy, cm);
  t.not(copy, cm);
  // A kind in a group it is not defaulted in here.
  t.deepEqual(applyApiDefaults("Deployment", "extensions/v1beta1", { spec: {} }), { spec: {} });
});

// ---------------------------------------------------------------------------------------
// Real inputs (test/fixtures/real)

const realDocs = (name: string): ApiBody[] =>
  parseAllDocuments(readFileSync(fileURLToPath(new URL(`../fixtures/real/${name}`, import.meta.url)), "utf8"))
    .map((d) => d.toJS() as ApiBody | null)
    .filter((b): b is ApiBody => b !== null)
    .flatMap((b) => (b.kind === "List" ? (b.items as ApiBody[]) : [b]));

test("an API server's output is a fixed point: defaulting the kind dump changes nothing", (t) => {
  const items = realDocs("kind-dump.yaml");
  t.is(items.length, 25);
  for (const item of items) t.deepEqual(applyApiDefaults(String(item.kind), String(item.apiVersion), item), item, `${String(item.kind)} ${String((item.metadata as ApiBody).name)}`);
});

test("Online Boutique as written: what the API server fills in", (t) => {
  const out = realDocs("online-boutique.yaml").map((b) => applyApiDefaults(String(b.kind), String(b.apiVersion), b));
  const services = out.filter((b) => b.kind === "Service");
  t.is(services.length, 12);
  for (const s of services) {
    t.is((s.metadata as ApiBody).namespace, "default");
    t.like(s.spec as ApiBody, { sessionAffinity: "None", internalTrafficPolicy: "Cluster", ipFamilyPolicy: "SingleStack", ipFamilies: ["IPv4"] });
    for (const p of (s.spec as ApiBody).ports as ApiBody[]) t.is(p.protocol, "TCP");
  }
  const external = services.find((s) => (s.metadata as ApiBody).name === "frontend-external")!.spec as ApiBody;
  t.like(external, { type: "LoadBalancer", externalTrafficPolicy: "Cluster", allocateLoadBalancerNodePorts: true });
  t.false("externalTrafficPolicy" in (services.find((s) => (s.metadata as ApiBody).name === "frontend")!.spec as ApiBody));
  const deployments = out.filter((b) => b.kind === "Deployment");
  t.is(deployments.length, 12);
  for (const d of deployments) {
    const spec = d.spec as ApiBody;
    t.is(spec.replicas, 1);
    const pod = (spec.template as ApiBody).spec as ApiBody;
    t.is(pod.dnsPolicy, "ClusterFirst");
    for (const c of pod.containers as ApiBody[]) for (const p of (c.ports as ApiBody[] | undefined) ?? []) t.is(p.protocol, "TCP");
  }
});

// ---------------------------------------------------------------------------------------
// Properties

/** A field that is absent (undefined: dropped), a realistic value, or junk of any type. */
const field = <T>(realistic: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 5, arbitrary: realistic }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) });

/** An object from optional fields: undefined ones are left out. */
const obj = (fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<ApiBody> =>
  fc.record(fields).map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)));

const port = fc.integer({ min: 0, max: 65535 });
const str = fc.oneof(fc.constantFrom("", "http", "dns", "TCP", "UDP", "None", "Local", "Cluster", "ClientIP"), fc.string({ maxLength: 6 }));
const ip = fc.constantFrom("10.96.0.10", "fd00:10:96::a", "None", "", "192.168.56.200");
const labels = field(fc.dictionary(fc.constantFrom("app", "tier", "k8s-app"), fc.constantFrom("web", "db", "kube-dns")));
const metadata = field(obj({ name: field(str), namespace: field(fc.constantFrom("", "default", "shop", "kube-system")), labels }));

const servicePort = obj({ name: field(str), port: field(port), protocol: field(fc.constantFrom("TCP", "UDP", "SCTP", "")), targetPort: field(fc.oneof(port, str)), nodePort: field(port) });
const serviceBody = obj({
  metadata,
  spec: field(
    obj({
      type: field(fc.constantFrom("ClusterIP", "NodePort", "LoadBalancer", "ExternalName", "")),
      selector: labels,
      ports: field(fc.array(field(servicePort), { maxLength: 3 })),
      clusterIP: field(ip),
      clusterIPs: field(fc.array(ip, { maxLength: 2 })),
      ipFamilies: field(fc.array(fc.constantFrom("IPv4", "IPv6"), { maxLength: 2 })),
      ipFamilyPolicy: field(fc.constantFrom("SingleStack", "PreferDualStack", "RequireDualStack")),
      sessionAffinity: field(fc.constantFrom("None", "ClientIP", "")),
      sessionAffinityConfig: field(obj({ clientIP: field(obj({ timeoutSeconds: field(fc.integer({ min: 0, max: 86400 })) })) })),
      externalTrafficPolicy: field(fc.constantFrom("Cluster", "Local", "")),
      internalTrafficPolicy: field(fc.constantFrom("Cluster", "Local")),
      externalIPs: field(fc.array(ip, { maxLength: 2 })),
      allocateLoadBalancerNodePorts: field(fc.boolean()),
      publishNotReadyAddresses: field(fc.boolean()),
    }),
  ),
  status: field(obj({ loadBalancer: field(obj({ ingress: field(fc.array(obj({ ip: field(ip), ipMode: field(fc.constantFrom("VIP", "Proxy")), hostname: field(str) }), { maxLength: 2 })) })) })),
});

const sliceBody = obj({
  metadata,
  addressType: field(fc.constantFrom("IPv4", "IPv6", "FQDN")),
  ports: field(fc.array(field(obj({ name: field(str), port: field(port), protocol: field(fc.constantFrom("TCP", "UDP", "")) })), { maxLength: 3 })),
  endpoints: field(fc.array(obj({ addresses: field(fc.array(ip, { maxLength: 2 })), conditions: field(obj({ ready: field(fc.boolean()), serving: field(fc.boolean()), terminating: field(fc.boolean()) })), nodeName: field(str) }), { maxLength: 2 })),
});

const probe = obj({
  httpGet: field(obj({ port: field(port), path: field(str), scheme: field(fc.constantFrom("HTTP", "HTTPS", "")) })),
  grpc: field(obj({ port: field(port), service: field(str) })),
  timeoutSeconds: field(fc.integer({ min: 0, max: 60 })),
  periodSeconds: field(fc.integer({ min: 0, max: 60 })),
  successThreshold: field(fc.integer({ min: 0, max: 3 })),
  failureThreshold: field(fc.integer({ min: 0, max: 30 })),
});
const quantity = fc.dictionary(fc.constantFrom("cpu", "memory"), fc.constantFrom("100m", "1", "64Mi"));
const container = obj({
  name: field(str),
  image: field(fc.constantFrom("nginx", "nginx:1.27", "busybox:latest", "localhost:5000/x", "pause@sha256:00", "")),
  imagePullPolicy: field(fc.constantFrom("Always", "Never", "IfNotPresent", "")),
  ports: field(fc.array(field(obj({ containerPort: field(port), hostPort: field(port), protocol: field(fc.constantFrom("TCP", "UDP", "")), name: field(str) })), { maxLength: 3 })),
  readinessProbe: field(probe),
  livenessProbe: field(probe),
  resources: field(obj({ limits: field(quantity), requests: field(quantity) })),
  env: field(fc.array(obj({ name: field(str), valueFrom: field(obj({ fieldRef: field(obj({ fieldPath: field(str), apiVersion: field(fc.constantFrom("v1", "")) })) })) }), { maxLength: 2 })),
});
const podSpec = obj({
  hostNetwork: field(fc.boolean()),
  containers: field(fc.array(field(container), { maxLength: 2 })),
  initContainers: field(fc.array(container, { maxLength: 1 })),
  dnsPolicy: field(fc.constantFrom("ClusterFirst", "Default", "None", "ClusterFirstWithHostNet", "")),
  restartPolicy: field(fc.constantFrom("Always", "OnFailure", "Never", "")),
  schedulerName: field(str),
  terminationGracePeriodSeconds: field(fc.integer({ min: 0, max: 60 })),
  enableServiceLinks: field(fc.boolean()),
  nodeName: field(str),
});
const podBody = obj({ metadata, spec: field(podSpec) });
const podTemplate = field(obj({ metadata: field(obj({ labels })), spec: field(podSpec) }));
const intOrPercent = fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constantFrom("25%", "50%"));

const kinds: [string, string, fc.Arbitrary<ApiBody>][] = [
  ["Service", "v1", serviceBody],
  ["EndpointSlice", "discovery.k8s.io/v1", sliceBody],
  ["Pod", "v1", podBody],
  ["Node", "v1", obj({ metadata, status: field(obj({ capacity: field(quantity), allocatable: field(quantity) })) })],
  ["Deployment", "apps/v1", obj({ metadata, spec: field(obj({ replicas: field(fc.integer({ min: 0, max: 5 })), strategy: field(obj({ type: field(fc.constantFrom("RollingUpdate", "Recreate", "")), rollingUpdate: field(obj({ maxSurge: field(intOrPercent), maxUnavailable: field(intOrPercent) })) })), revisionHistoryLimit: field(fc.integer({ min: 0, max: 10 })), template: podTemplate })) })],
  ["ReplicaSet", "apps/v1", obj({ metadata, spec: field(obj({ replicas: field(fc.integer({ min: 0, max: 5 })), template: podTemplate })) })],
  ["StatefulSet", "apps/v1", obj({ metadata, spec: field(obj({ replicas: field(fc.integer({ min: 0, max: 5 })), podManagementPolicy: field(fc.constantFrom("OrderedReady", "Parallel", "")), updateStrategy: field(obj({ type: field(fc.constantFrom("RollingUpdate", "OnDelete", "")), rollingUpdate: field(obj({ partition: field(fc.integer({ min: 0, max: 3 })) })) })), template: podTemplate })) })],
  ["DaemonSet", "apps/v1", obj({ metadata, spec: field(obj({ updateStrategy: field(obj({ type: field(fc.constantFrom("RollingUpdate", "OnDelete", "")), rollingUpdate: field(obj({ maxSurge: field(intOrPercent), maxUnavailable: field(intOrPercent) })) })), template: podTemplate })) })],
  ["Job", "batch/v1", obj({ metadata, spec: field(obj({ completions: field(fc.integer({ min: 0, max: 5 })), parallelism: field(fc.integer({ min: 0, max: 5 })), backoffLimit: field(fc.integer({ min: 0, max: 6 })), suspend: field(fc.boolean()), template: podTemplate })) })],
];

const anyObject = fc.oneof(...kinds.map(([kind, apiVersion, body]) => body.map((b) => ({ kind, apiVersion, body: b }))));

/**
 * Every value the user gave, by path. Go cannot tell null, "" and 0 in a plain field from an
 * absent one, and upstream fills those (`type: ""` becomes ClusterIP), so they are not
 * "given"; neither are empty lists and maps. Everything else is, false included.
 */
type Path = (string | number)[];

function givenLeaves(v: unknown, path: Path = [], out: [Path, unknown][] = []): [Path, unknown][] {
  if (Array.isArray(v)) v.forEach((x, i) => givenLeaves(x, [...path, i], out));
  else if (typeof v === "object" && v !== null) for (const [k, x] of Object.entries(v)) givenLeaves(x, [...path, k], out);
  else if (v !== null && v !== "" && v !== 0) out.push([path, v]);
  return out;
}

function at(v: unknown, path: Path): unknown {
  for (const key of path) {
    if (typeof v !== "object" || v === null) return undefined;
    v = (v as Record<string | number, unknown>)[key];
  }
  return v;
}

testProp("given values are never changed", [anyObject], (t, { kind, apiVersion, body }) => {
  t.pass();
  const out = applyApiDefaults(kind, apiVersion, body);
  for (const [path, value] of givenLeaves(body)) t.deepEqual(at(out, path), value, `${kind} ${JSON.stringify(path)}`);
}, { numRuns: 400 });

testProp("the input object is not mutated, and the output shares nothing with it", [anyObject], (t, { kind, apiVersion, body }) => {
  const snapshot = structuredClone(body);
  const out = applyApiDefaults(kind, apiVersion, body);
  t.deepEqual(body, snapshot);
  // Mutating the output leaves the input alone.
  (out as ApiBody).__probe = 1;
  if (typeof out.spec === "object" && out.spec !== null) (out.spec as ApiBody).__probe = 1;
  t.deepEqual(body, snapshot);
}, { numRuns: 300 });

testProp("defaulting is idempotent", [anyObject], (t, { kind, apiVersion, body }) => {
  const once = applyApiDefaults(kind, apiVersion, body);
  t.deepEqual(applyApiDefaults(kind, apiVersion, once), once);
}, { numRuns: 300 });

testProp("a defaulted Service always has the type, policies, families and port protocols kube-proxy reads", [serviceBody], (t, body) => {
  t.pass();
  const given = body.spec;
  if (given !== undefined && given !== null && (typeof given !== "object" || Array.isArray(given))) return; // junk spec: left alone
  const g = (given ?? {}) as ApiBody;
  const s = defaultService(body).spec as ApiBody;
  if (g.type === undefined || g.type === null || g.type === "") t.is(s.type, "ClusterIP");
  if (s.type === "ClusterIP" || s.type === "NodePort" || s.type === "LoadBalancer") {
    if (g.internalTrafficPolicy === undefined || g.internalTrafficPolicy === null) t.is(s.internalTrafficPolicy, "Cluster");
    if (g.ipFamilyPolicy === undefined || g.ipFamilyPolicy === null) t.true(s.ipFamilyPolicy === "SingleStack" || s.ipFamilyPolicy === "RequireDualStack");
    if (g.ipFamilies === undefined || g.ipFamilies === null || (Array.isArray(g.ipFamilies) && g.ipFamilies.length === 0)) {
      t.true(Array.isArray(s.ipFamilies) && s.ipFamilies.length >= 1 && s.ipFamilies.every((f) => f === "IPv4" || f === "IPv6"));
    }
  }
  for (const p of Array.isArray(s.ports) ? s.ports : []) {
    if (typeof p === "object" && p !== null && !Array.isArray(p)) t.true(typeof (p as ApiBody).protocol !== "undefined" && (p as ApiBody).protocol !== "" && (p as ApiBody).protocol !== null);
  }
}, { numRuns: 300 });
