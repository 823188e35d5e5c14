/**
 * The Cluster document's `kernelVersion:` and `nodeCPUs:`: read with located errors,
 * printed back, and applied to every node (its conntrack table's kernel, its softirq CPUs,
 * its IPVS table's reuse logic).
 */
import test from "ava";
import { PodwireError } from "../../src/base/errors.js";
import { bootCluster } from "../../src/cluster/boot.js";
import { clusterDocumentYaml } from "../../src/cluster/cluster-doc.js";
import { parseClusterYaml } from "../../src/cluster/load.js";
import { threeNodes } from "../fixtures/three-nodes.js";

const withSpec = (extra: string): string => threeNodes("kc").replace("spec:\n", `spec:\n${extra}`);

function loadError(text: string): PodwireError {
  try {
    parseClusterYaml(text, "kc.yaml");
  } catch (e) {
    if (e instanceof PodwireError) return e;
    throw e;
  }
  throw new Error("no error");
}

test("kernelVersion and nodeCPUs reach every node", (t) => {
  const spec = parseClusterYaml(withSpec('  kernelVersion: "5.4.40-generic"\n  nodeCPUs: 2\n'), "kc.yaml");
  t.is(spec.nodeSettings?.kernelVersion, "5.4.40-generic");
  t.is(spec.nodeSettings?.cpus, 2);
  const { cluster } = bootCluster(spec);
  for (const n of cluster.nodes.values()) {
    t.deepEqual(n.netfilter.conntrack.kernel, { major: 5, minor: 4, patch: 40 });
    t.true(n.netfilter.conntrack.natZeroUdpChecksumBug);
    t.is(n.ns.softirq?.cpus, 2);
    t.is(n.cni0.softirq, n.ns.softirq);
  }
  t.regex(clusterDocumentYaml(spec), /kernelVersion: "5\.4\.40-generic"\n {2}nodeCPUs: 2/);
});

test("without them: podwire's default kernel, and no CPU model", (t) => {
  const { cluster } = bootCluster(parseClusterYaml(withSpec(""), "kc.yaml"));
  const n = [...cluster.nodes.values()][0]!;
  t.is(n.netfilter.conntrack.kernel.major, 6);
  t.false(n.netfilter.conntrack.natZeroUdpChecksumBug);
  t.is(n.ns.softirq, null);
});

test("a bad kernelVersion or nodeCPUs is a located error", (t) => {
  t.is(loadError(withSpec('  kernelVersion: "five"\n')).code, "E_KERNEL_VERSION");
  t.is(loadError(withSpec("  nodeCPUs: 0\n")).code, "E_RANGE");
});

test("IPVS mode: kube-proxy sets conn_reuse_mode=0 below 5.9 and leaves it at 1 from 5.9; the document's sysctl wins", (t) => {
  const table = (extra: string) => bootCluster(parseClusterYaml(withSpec(`  proxyMode: ipvs\n${extra}`), "kc.yaml")).services.ipvs!.table("worker-1")!;
  const old = table('  kernelVersion: "4.19.0"\n');
  t.is(old.sysctl.connReuseMode, 0);
  t.is(old.reuseBehaviour, "legacy");
  t.is(old.sysctl.expireNodestConn, 1);
  const recent = table('  kernelVersion: "5.10.0"\n');
  t.is(recent.sysctl.connReuseMode, 1);
  t.is(recent.reuseBehaviour, "modern");
  const set = table('  kernelVersion: "4.19.0"\n  sysctls: {net.ipv4.vs.conn_reuse_mode: 1, net.ipv4.vs.expire_nodest_conn: 0}\n');
  t.is(set.sysctl.connReuseMode, 1);
  t.is(set.sysctl.expireNodestConn, 0);
});
