/**
 * SCTP Services end to end: a cluster with an SCTP Service boots in every kube-proxy mode
 * (iptables loads kube-proxy's `-p sctp -m sctp --dport` rules), an SCTP association to
 * the ClusterIP and to the NodePort is DNATed to the endpoint with the CRC32c recomputed,
 * the INIT ACK and the answer come back un-NATed, conntrack tracks the association's
 * states, and the frames dissect in tshark as SCTP with a correct CRC32c.
 */
import test from "ava";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatIpv4, ipv4 } from "../../src/base/index.js";
import { bootCluster } from "../../src/cluster/boot.js";
import { runExchange } from "../../src/cluster/exchange.js";
import { parseClusterYaml } from "../../src/cluster/load.js";
import { CaptureSession } from "../../src/cluster/capture.js";

const YAML = (mode: string): string => `apiVersion: podwire.dev/v1alpha1
kind: Cluster
metadata: {name: sctp}
spec:
  proxyMode: ${mode}
  externalHosts: [{name: outside, ip: 192.168.56.100}]
---
apiVersion: v1
kind: Node
metadata: {name: worker-1}
---
apiVersion: v1
kind: Node
metadata: {name: worker-2}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, labels: {app: client}}
spec: {nodeName: worker-1, containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: diameter, namespace: default, labels: {app: diameter}}
spec: {nodeName: worker-2, containers: [{name: d, ports: [{name: assoc, containerPort: 3868, protocol: SCTP}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: diameter, namespace: default}
spec:
  type: NodePort
  selector: {app: diameter}
  ports: [{name: assoc, port: 80, targetPort: assoc, protocol: SCTP, nodePort: 30868}]
---
apiVersion: v1
kind: Service
metadata: {name: nobody, namespace: default}
spec: {selector: {app: nobody}, ports: [{name: assoc, port: 80, protocol: SCTP}]}
`;

// IPVS mode has its own, closer look in ipvs-sctp.test.ts (virtual services, IPVS states, tshark).
const MODES = ["iptables", "ipvs", "nftables"] as const;

function boot(mode: string) {
  return bootCluster(parseClusterYaml(YAML(mode), "sctp.yaml"));
}

for (const mode of MODES) {
  test(`${mode}: an SCTP association to the ClusterIP reaches the endpoint and the answers come back un-NATed`, (t) => {
    const r = boot(mode);
    const c = r.cluster;
    const client = c.pod("default", "client")!;
    const vip = ipv4(r.services.service("default", "diameter")!.clusterIP!);
    const x = runExchange(c, { title: "sctp", from: client.ns, fromLabel: "pod/default/client", dst: vip, dstPort: 80, proto: "sctp" });
    t.true(x.ok, x.outcome);
    // The server saw the client's own address and answered; the client took the answer from VIP:80.
    t.regex(x.outcome, /^reply "hello from default\/diameter \(container d\) at 10\.244\.\d+\.\d+:3868, you are 10\.244\.\d+\.\d+:\d+" from .*:80$/);
    const summaries = x.events.map((e) => e.summary).join("\n");
    t.regex(summaries, /sctp \(1\) \[vtag 0x0\] \[INIT\]/);
    t.regex(summaries, /\[INIT_ACK\]/);
    t.regex(summaries, /\[COOKIE_ECHO\] \[DATA\]/);
    t.regex(summaries, /\[SHUTDOWN_COMPLETE\]/);
    t.notRegex(summaries, /bad sctp crc32c/, "every frame on the way had a correct CRC32c");
    // The client's node tracked the association to its end, with the DNAT to the endpoint.
    const lines = c.node("worker-1")!.netfilter.conntrack.list().filter((l) => l.startsWith("sctp"));
    t.is(lines.length, 1, lines.join("\n"));
    const vipText = r.services.service("default", "diameter")!.clusterIP!;
    t.regex(lines[0]!, /^sctp +132 \d+ CLOSED /, "SHUTDOWN COMPLETE closed it");
    t.true(lines[0]!.includes(`dst=${vipText} sport=${x.clientPort} dport=80 `), lines[0]);
    t.regex(lines[0]!, /sport=3868 dport=\d+ \[ASSURED\]/);
  });

  test(`${mode}: NodePort from outside and a Service without endpoints`, (t) => {
    const r = boot(mode);
    const c = r.cluster;
    const outside = c.externals.get("outside")!;
    const nodeIp = c.node("worker-1")!.spec.internalIP;
    const x = runExchange(c, { title: "np", from: outside.ns, fromLabel: "ext/outside", dst: nodeIp, dstPort: 30868, proto: "sctp" });
    t.true(x.ok, x.outcome);
    // Masqueraded (externalTrafficPolicy Cluster): the endpoint on worker-2 sees worker-1's flannel.1 address.
    t.regex(x.outcome, /you are 10\.244\.0\.0:\d+" from 192\.168\.56\.10 \(node\/worker-1\):30868$/);
    const client = c.pod("default", "client")!;
    const empty = ipv4(r.services.service("default", "nobody")!.clusterIP!);
    const y = runExchange(c, { title: "empty", from: client.ns, fromLabel: "pod/default/client", dst: empty, dstPort: 80, proto: "sctp" });
    t.false(y.ok);
    // kube-proxy's REJECT for a Service without endpoints (icmp-port-unreachable), from the client's node.
    t.regex(y.outcome, /^ICMP port unreachable from /, y.outcome);
  });
}

test("ipvs: a cluster with SCTP Services boots, and SCTP between Pods works without a Service", (t) => {
  const r = boot("ipvs");
  const c = r.cluster;
  const client = c.pod("default", "client")!;
  const server = c.pod("default", "diameter")!;
  const x = runExchange(c, { title: "direct", from: client.ns, fromLabel: "pod/default/client", dst: server.spec.podIP, dstPort: 3868, proto: "sctp" });
  t.true(x.ok, x.outcome);
  t.true(x.outcome.endsWith(`you are ${formatIpv4(client.spec.podIP)}:${x.clientPort}" from ${formatIpv4(server.spec.podIP)} (pod/default/diameter):3868`), x.outcome);
});

test("an SCTP port nothing listens on answers the INIT with an ABORT carrying the INIT's tag", (t) => {
  const r = boot("iptables");
  const c = r.cluster;
  const client = c.pod("default", "client")!;
  const server = c.pod("default", "diameter")!;
  const x = runExchange(c, { title: "closed", from: client.ns, fromLabel: "pod/default/client", dst: server.spec.podIP, dstPort: 9999, proto: "sctp" });
  t.false(x.ok);
  t.is(x.outcome, "association refused (SCTP ABORT) from 10.244.1.2 (pod/default/diameter):9999");
  const abort = x.events.map((e) => e.summary).find((s) => s.includes("[ABORT]"));
  t.truthy(abort);
  // §8.4 (3): the ABORT answering an INIT carries the INIT's own initiate tag.
  const initTag = /\[INIT\] \[init tag: (0x[0-9a-f]+)\]/.exec(x.events.map((e) => e.summary).join("\n"))![1];
  t.regex(abort!, new RegExp(`\\[vtag ${initTag}\\] \\[ABORT\\]`));
});

function findTool(name: string): string | null {
  for (const dir of ["/usr/bin", "/usr/sbin", "/bin", "/usr/local/bin"]) if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  return null;
}

const TSHARK = findTool("tshark");
const tsharkTitle = "tshark dissects the captured association as SCTP with a correct CRC32c on every frame";
if (TSHARK === null) {
  console.log(`skipping "${tsharkTitle}": tshark is not installed`);
  test.skip(tsharkTitle, () => {});
} else {
  test(tsharkTitle, (t) => {
    const dir = mkdtempSync(join(tmpdir(), "podwire-sctp-"));
    try {
      const r = boot("iptables");
      const c = r.cluster;
      const file = join(dir, "sctp.pcapng");
      const cap = CaptureSession.toFile(file, c.devices);
      const client = c.pod("default", "client")!;
      const vip = ipv4(r.services.service("default", "diameter")!.clusterIP!);
      const x = runExchange(c, { title: "sctp", from: client.ns, fromLabel: "pod/default/client", dst: vip, dstPort: 80, proto: "sctp" });
      cap.close();
      t.true(x.ok, x.outcome);
      // `sctp.checksum` is "None" by default in tshark; CRC-32C makes it verify.
      const out = execFileSync(TSHARK!, ["-r", file, "-o", "sctp.checksum:CRC-32C", "-Y", "sctp", "-T", "fields", "-e", "sctp.chunk_type", "-e", "sctp.checksum.status", "-e", "sctp.dstport"], { encoding: "utf8" });
      const rows = out.trim().split("\n").map((l) => l.split("\t"));
      t.true(rows.length >= 7, out);
      // Status 1 = good (Wireshark's PROTO_CHECKSUM_E_GOOD).
      t.deepEqual([...new Set(rows.map((row) => row[1]))], ["1"], out);
      const chunks = new Set(rows.flatMap((row) => row[0]!.split(",")));
      for (const type of ["1", "2", "10", "0", "11", "3", "7", "8", "14"]) t.true(chunks.has(type), `chunk type ${type} in ${out}`);
      // Both the ClusterIP port and the endpoint's port were on the wire.
      const ports = new Set(rows.map((row) => row[2]));
      t.true(ports.has("80") && ports.has("3868"), out);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
