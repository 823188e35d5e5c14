/**
 * Pods deleted and created while the cluster runs: the sandbox goes away with its devices
 * (the bridge forgets the port's MACs, the node loses the veth and its routes), a new Pod
 * gets host-local's next address, its servers answer, and kube-proxy follows through
 * `ClusterServices.update` with the EndpointSlices derived from the new Pod list.
 */
import test from "ava";
import { formatIpv4, ipv4 } from "../../src/base/index.js";
import { bootCluster } from "../../src/cluster/boot.js";
import { runExchange } from "../../src/cluster/exchange.js";
import { parseClusterYaml } from "../../src/cluster/load.js";
import { createPod, deletePod, nextPodIP } from "../../src/cluster/pod-lifecycle.js";
import { threeNodes } from "../fixtures/three-nodes.js";

const YAML =
  threeNodes("lifecycle") +
  `---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, labels: {app: client}}
spec: {nodeName: worker-1, containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: echo-1, namespace: default, labels: {app: echo}}
spec: {nodeName: worker-2, containers: [{name: echo, ports: [{name: echo, containerPort: 7, protocol: UDP}, {name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec: {selector: {app: echo}, ports: [{name: echo, port: 7, targetPort: echo, protocol: UDP}, {name: http, port: 80, targetPort: http}]}
`;

function boot() {
  return bootCluster(parseClusterYaml(YAML, "lifecycle.yaml"));
}

const ECHO_CONTAINERS = [{ name: "echo", ports: [{ name: "echo", containerPort: 7, protocol: "UDP" as const }, { name: "http", containerPort: 8080, protocol: "TCP" as const }] }];

test("deleting a Pod removes its sandbox: veth off the bridge and out of the node, FDB entries gone, address unreachable", (t) => {
  const r = boot();
  const c = r.cluster;
  const client = c.pod("default", "client")!;
  const old = c.pod("default", "echo-1")!;
  const oldIP = old.spec.podIP;
  const worker2 = c.node("worker-2")!;
  // Traffic to the Pod teaches cni0 its MAC.
  t.true(runExchange(c, { title: "before", from: client.ns, fromLabel: "client", dst: oldIP, dstPort: 8080, proto: "tcp" }).ok);
  t.true(worker2.cni0.fdbEntries().some((e) => e.port === old.hostVeth!.name));
  const devicesBefore = c.devices.length;

  deletePod(c, "default/echo-1");
  t.is(c.pod("default", "echo-1"), undefined);
  t.false(c.spec.pods.some((p) => p.name === "echo-1"));
  t.false(worker2.pods.includes(old));
  t.false(worker2.cni0.ports.includes(old.hostVeth!));
  t.is(worker2.ns.device(old.hostVeth!.name), undefined);
  t.false(worker2.cni0.fdbEntries().some((e) => e.port === old.hostVeth!.name), "br_fdb_delete_by_port");
  t.false(old.hostVeth!.up);
  t.false(old.eth0!.up);
  t.is(c.devices.length, devicesBefore - 3, "the Pod's lo, eth0 and host veth");
  t.is(old.ns.interfaces.size, 0);

  const after = runExchange(c, { title: "after", from: client.ns, fromLabel: "client", dst: oldIP, dstPort: 8080, proto: "tcp" });
  t.false(after.ok, `nothing answers for ${formatIpv4(oldIP)} any more: ${after.outcome}`);
});

test("a Pod created at run time gets host-local's next address (not the freed one), its servers answer, and the Service follows", (t) => {
  const r = boot();
  const c = r.cluster;
  const client = c.pod("default", "client")!;
  const worker2 = c.node("worker-2")!;
  const oldIP = c.pod("default", "echo-1")!.spec.podIP;
  const vip = ipv4(r.services.service("default", "echo")!.clusterIP!);
  const udp = runExchange(c, { title: "udp", from: client.ns, fromLabel: "client", dst: vip, dstPort: 7, proto: "udp" });
  t.true(udp.ok, udp.outcome);

  deletePod(c, "default/echo-1");
  const expected = nextPodIP(c, worker2);
  t.is(expected, oldIP + 1, "host-local continues after its last reserved address");
  const fresh = createPod(c, { namespace: "default", name: "echo-2", nodeName: "worker-2", labels: { app: "echo" }, containers: ECHO_CONTAINERS });
  t.is(fresh.spec.podIP, expected);
  t.not(fresh.spec.podIP, oldIP);
  t.true(worker2.cni0.ports.includes(fresh.hostVeth!));
  t.true(c.devices.includes(fresh.eth0!));
  t.throws(() => createPod(c, { namespace: "default", name: "echo-2", nodeName: "worker-2", labels: {}, containers: [] }), { message: /exists/ });

  // kube-proxy hears of the change: the derived EndpointSlice now names the new Pod only.
  const results = r.services.update(c.spec.otherDocuments);
  t.is(ipv4(r.services.service("default", "echo")!.clusterIP!), vip, "the ClusterIP stays");
  const eps = r.services.model.endpointSlices.filter((s) => s.serviceName === "echo").flatMap((s) => s.endpoints.flatMap((e) => e.addresses));
  t.deepEqual(eps, [formatIpv4(fresh.spec.podIP)]);
  t.is(results.get("worker-1")!.conntrackDeleted, 1, "the stale UDP entry to the deleted Pod is deleted");

  const direct = runExchange(c, { title: "direct", from: client.ns, fromLabel: "client", dst: fresh.spec.podIP, dstPort: 8080, proto: "tcp" });
  t.true(direct.ok, direct.outcome);
  const viaService = runExchange(c, { title: "service", from: client.ns, fromLabel: "client", dst: vip, dstPort: 7, proto: "udp" });
  t.true(viaService.ok, viaService.outcome);
});

test("host-local wraps around to the lowest free address at the end of the range", (t) => {
  const r = boot();
  const c = r.cluster;
  const worker2 = c.node("worker-2")!;
  const top = (worker2.spec.podCIDR.net + 254) >>> 0;
  createPod(c, { namespace: "default", name: "last", nodeName: "worker-2", labels: {}, containers: [], podIP: top });
  t.is(nextPodIP(c, worker2), (worker2.spec.podCIDR.net + 3) >>> 0, ".2 is echo-1's, so .3 after wrapping");
});
