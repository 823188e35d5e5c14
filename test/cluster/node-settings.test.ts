/**
 * The Cluster document's `sysctls:` and `cni:` blocks: read with located errors, applied to
 * every node, and visible in real traffic (bridge-nf-call-iptables=0 breaks a same-node
 * Service reply).
 */
import test from "ava";
import { ipv4 } from "../../src/base/index.js";
import { PodwireError } from "../../src/base/errors.js";
import { bootCluster } from "../../src/cluster/boot.js";
import { clusterDocumentYaml } from "../../src/cluster/cluster-doc.js";
import { runExchange } from "../../src/cluster/exchange.js";
import { parseClusterYaml } from "../../src/cluster/load.js";
import { threeNodes } from "../fixtures/three-nodes.js";

const APPS = `---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, labels: {app: client}}
spec: {nodeName: worker-1, containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: default, labels: {app: a}}
spec: {nodeName: worker-1, containers: [{name: web, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: only-a, namespace: default}
spec: {selector: {app: a}, ports: [{name: http, port: 80, targetPort: http}]}
`;

/** The three-node cluster with `extra` lines added to the Cluster document's spec. */
function clusterWith(extra: string): string {
  return threeNodes("settings").replace("spec:\n", `spec:\n${extra}`) + APPS;
}

function loadError(text: string): PodwireError {
  const err = (() => {
    try {
      parseClusterYaml(text, "settings.yaml");
    } catch (e) {
      return e;
    }
    return null;
  })();
  if (!(err instanceof PodwireError)) throw new Error(`expected a PodwireError, got ${String(err)}`);
  return err;
}

test("sysctls and cni settings are read and applied to every node", (t) => {
  const spec = parseClusterYaml(
    clusterWith("  sysctls:\n    net.netfilter.nf_conntrack_max: 64\n    net.bridge.bridge-nf-call-iptables: 0\n    net.netfilter.nf_conntrack_tcp_be_liberal: 1\n  cni:\n    hairpinMode: false\n"),
    "settings.yaml",
  );
  t.deepEqual(spec.nodeSettings, { conntrackMax: 64, bridgeNfCallIptables: 0, tcpBeLiberal: 1, hairpinMode: false });
  const { cluster } = bootCluster(spec);
  for (const node of cluster.nodes.values()) {
    t.is(node.netfilter.conntrack.max, 64);
    t.true(node.netfilter.conntrack.tcpBeLiberal);
    t.false(node.cni0.nfCallIptables);
    for (const port of node.cni0.ports) t.false(port.hairpin);
  }
  // `podwire cluster` can print them back into a Cluster document.
  t.regex(clusterDocumentYaml(spec), /  cni:\n    hairpinMode: false\n  sysctls:\n    net\.bridge\.bridge-nf-call-iptables: 0\n/);
});

test("defaults: bridge-nf-call-iptables on, hairpin mode on (flannel's CNI config), the kernel's conntrack size", (t) => {
  const { cluster } = bootCluster(parseClusterYaml(clusterWith(""), "settings.yaml"));
  const node = cluster.node("worker-1")!;
  t.true(node.cni0.nfCallIptables);
  t.is(node.netfilter.conntrack.max, 262144);
  t.true(node.cni0.ports.length > 0);
  for (const port of node.cni0.ports) t.true(port.hairpin);
});

test("an unknown sysctl, a value out of range and an unknown CNI field are located errors", (t) => {
  const unknown = loadError(clusterWith("  sysctls:\n    net.ipv4.tcp_syncookies: 1\n"));
  t.is(unknown.code, "E_UNKNOWN_FIELD");
  t.regex(unknown.message, /net\.ipv4\.tcp_syncookies/);
  t.regex(unknown.hint ?? "", /nf_conntrack_max/);
  t.is(unknown.location?.line, 6);
  const range = loadError(clusterWith("  sysctls:\n    net.bridge.bridge-nf-call-iptables: 2\n"));
  t.is(range.code, "E_RANGE");
  t.regex(range.message, /from 0 to 1/);
  const text = loadError(clusterWith("  sysctls:\n    net.netfilter.nf_conntrack_max: lots\n"));
  t.is(text.code, "E_TYPE");
  const cni = loadError(clusterWith("  cni:\n    ipMasq: true\n"));
  t.is(cni.code, "E_UNKNOWN_FIELD");
  t.regex(cni.hint ?? "", /hairpinMode/);
});

function toService(extra: string, from: string) {
  const { cluster, services } = bootCluster(parseClusterYaml(clusterWith(extra), "settings.yaml"));
  const src = cluster.pods.get(from)!.ns;
  return runExchange(cluster, { title: "t", from: src, fromLabel: `pod/${from}`, dst: ipv4(services.service("default", "only-a")!.clusterIP!), dstPort: 80, proto: "tcp" });
}

test("bridge-nf-call-iptables=0: a same-node Service reply is bridged past conntrack and the connection fails", (t) => {
  t.true(toService("", "default/client").ok, "on by default: the reply is un-NATed");
  const off = toService("  sysctls:\n    net.bridge.bridge-nf-call-iptables: 0\n", "default/client");
  t.false(off.ok, off.outcome);
});

test("hairpinMode false: a Pod cannot reach itself through its own Service (bridged DNAT back to its own port); the default can", (t) => {
  const on = toService("", "default/a");
  t.true(on.ok, on.outcome);
  const off = toService("  cni:\n    hairpinMode: false\n", "default/a");
  t.false(off.ok, off.outcome);
  const other = toService("  cni:\n    hairpinMode: false\n", "default/client");
  t.true(other.ok, `another Pod on the node is unaffected: ${other.outcome}`);
});

test("cni mtu: the Pods' eth0, their host veths and cni0 take it; flannel.1 keeps the node MTU less 50; out of range is an error", (t) => {
  const spec = parseClusterYaml(clusterWith("  cni:\n    mtu: 1500\n"), "settings.yaml");
  t.is(spec.nodeSettings?.cniMtu, 1500);
  const { cluster } = bootCluster(spec);
  const node = cluster.node("worker-1")!;
  t.is(node.cni0.mtu, 1500);
  t.is(node.flannel!.mtu, 1450);
  const pod = cluster.pods.get("default/a")!;
  t.is(pod.eth0!.mtu, 1500);
  t.is(pod.hostVeth!.mtu, 1500);
  t.regex(clusterDocumentYaml(spec), /  cni:\n    mtu: 1500\n/);
  const { cluster: byDefault } = bootCluster(parseClusterYaml(clusterWith(""), "settings.yaml"));
  t.is(byDefault.pods.get("default/a")!.eth0!.mtu, 1450, "flannel's FLANNEL_MTU by default");
  const bad = loadError(clusterWith("  cni:\n    mtu: 100\n"));
  t.is(bad.code, "E_RANGE");
  t.regex(bad.hint ?? "", /50 bytes for VXLAN/);
});
