/**
 * SCTP Services in IPVS mode end to end: kube-proxy's IPVS proxier creates SCTP virtual
 * services (`--sctp-service`) for the ClusterIP and the NodePorts; a real SCTP association
 * (INIT, INIT ACK, COOKIE ECHO + DATA, COOKIE ACK + DATA, SHUTDOWN, SHUTDOWN ACK, SHUTDOWN
 * COMPLETE) from a Pod is scheduled by IPVS at LOCAL_IN on the client's node, DNATed to the
 * endpoint with the CRC32c recomputed, and the replies are un-NATed by IPVS at FORWARD
 * (bridged too, for an endpoint on the client's own node); the NodePort works from outside
 * (masqueraded); a Service without endpoints answers port unreachable (ip_vs_leave); and
 * tshark dissects every frame of the capture as SCTP with a good CRC32c.
 */
import test from "ava";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatIpv4, ipv4 } from "../../src/base/index.js";
import { bootCluster } from "../../src/cluster/boot.js";
import { CaptureSession } from "../../src/cluster/capture.js";
import { runExchange } from "../../src/cluster/exchange.js";
import { parseClusterYaml } from "../../src/cluster/load.js";
import { connStateName, formatIpvsadmSave } from "../../src/ipvs/index.js";

const YAML = `apiVersion: podwire.dev/v1alpha1
kind: Cluster
metadata: {name: ipvs-sctp}
spec:
  proxyMode: ipvs
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
metadata: {name: neighbour, namespace: default, labels: {app: client}}
spec: {nodeName: worker-2, containers: [{name: c}]}
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

function boot() {
  const r = bootCluster(parseClusterYaml(YAML, "ipvs-sctp.yaml"));
  const clusterIP = (name: string) => r.services.service("default", name)!.clusterIP!;
  return { r, c: r.cluster, vip: clusterIP("diameter"), clusterIP, ipvs: r.services.ipvs! };
}

test("kube-proxy's IPVS proxier creates SCTP virtual services and sctp ipset members", (t) => {
  const { c, vip, ipvs, clusterIP } = boot();
  const save = formatIpvsadmSave(ipvs.table("worker-1")!.services());
  const ep = formatIpv4(c.pod("default", "diameter")!.spec.podIP);
  t.true(save.includes(`-A --sctp-service ${vip}:80 -s rr\n-a --sctp-service ${vip}:80 -r ${ep}:3868 -m -w 1\n`), save);
  t.true(save.includes(`-A --sctp-service 192.168.56.10:30868 -s rr\n-a --sctp-service 192.168.56.10:30868 -r ${ep}:3868 -m -w 1\n`), save);
  t.true(save.includes(`-A --sctp-service ${clusterIP("nobody")}:80 -s rr\n`), "a virtual service without real servers");
  const sets = ipvs.lastSync("worker-1")!.ipsets;
  t.true(sets.find((s) => s.name === "KUBE-CLUSTER-IP")!.entries.includes(`${vip},sctp:80`));
  t.true(sets.find((s) => s.name === "KUBE-NODE-PORT-SCTP-HASH")!.entries.includes("192.168.56.10,sctp:30868"));
});

test("a Pod's SCTP association to the ClusterIP goes through IPVS, DNATed and un-NATed, CRC32c good on every hop", (t) => {
  const { c, vip, ipvs } = boot();
  const client = c.pod("default", "client")!;
  const server = c.pod("default", "diameter")!;
  const x = runExchange(c, { title: "sctp", from: client.ns, fromLabel: "pod/default/client", dst: ipv4(vip), dstPort: 80, proto: "sctp" });
  t.true(x.ok, x.outcome);
  // The server saw the Pod's own address; the client took every answer from VIP:80.
  t.is(x.outcome, `reply "hello from default/diameter (container d) at ${formatIpv4(server.spec.podIP)}:3868, you are ${formatIpv4(client.spec.podIP)}:${x.clientPort}" from ${vip}:80`);
  const summaries = x.events.map((e) => e.summary ?? "").join("\n");
  for (const chunk of ["INIT", "INIT_ACK", "COOKIE_ECHO", "COOKIE_ACK", "DATA", "SHUTDOWN", "SHUTDOWN_ACK", "SHUTDOWN_COMPLETE"]) t.regex(summaries, new RegExp(`\\[${chunk}\\]`));
  t.notRegex(summaries, /bad sctp crc32c/, "every frame on the way had a correct CRC32c");
  const ipvsLines = x.events.filter((e) => e.netns === "worker-1" && e.detail.startsWith("ipvs: ")).map((e) => e.detail);
  t.is(ipvsLines[0], `ipvs: virtual service ${vip}:80 → real server ${formatIpv4(server.spec.podIP)}:3868 (scheduled by rr)`);
  t.true(ipvsLines.some((l) => l.startsWith(`ipvs: reply from real server ${formatIpv4(server.spec.podIP)}:3868: source rewritten to ${vip}:80`)));
  // The INIT left worker-1 for the endpoint's address and port (the DNAT), still an INIT.
  t.regex(summaries, new RegExp(`${formatIpv4(client.spec.podIP).replace(/\./g, "\\.")}\\.${x.clientPort} > ${formatIpv4(server.spec.podIP).replace(/\./g, "\\.")}\\.3868: sctp \\(1\\) \\[vtag 0x0\\] \\[INIT\\]`));

  // One IPVS connection on the client's node, with the kernel's SCTP states: the
  // association reached ESTABLISHED; set_sctp_state reads only the first chunk, so a
  // SHUTDOWN bundled behind a SACK leaves it there (15 min), a lone SHUTDOWN closes it.
  const table = ipvs.table("worker-1")!;
  const conns = table.connections();
  t.is(conns.length, 1);
  const conn = conns[0]!;
  t.is(conn.protocol, 132);
  t.deepEqual([conn.cport, formatIpv4(conn.vaddr), conn.vport, formatIpv4(conn.daddr), conn.dport], [x.clientPort, vip, 80, formatIpv4(server.spec.podIP), 3868]);
  const shutdown = x.events.map((e) => e.summary ?? "").find((s) => s.startsWith(`${formatIpv4(client.spec.podIP)}.${x.clientPort} > ${vip}.80`) && s.includes("[SHUTDOWN]"))!;
  t.truthy(shutdown);
  t.is(connStateName(conn), /\] \[SHUTDOWN\]/.test(shutdown) ? "ESTABLISHED" : "CLOSED", shutdown);
  const svc = table.getService("sctp", ipv4(vip), 80)!;
  t.is(svc.stats.conns, 1);
  t.true(svc.stats.inpkts >= 4 && svc.stats.outpkts >= 3, JSON.stringify(svc.stats));
  // vs/conntrack=1: conntrack's reply tuple follows the real server (ip_vs_update_conntrack).
  const ct = c.node("worker-1")!.netfilter.conntrack.list().filter((l) => l.startsWith("sctp"));
  t.is(ct.length, 1, ct.join("\n"));
  t.true(ct[0]!.includes(`src=${formatIpv4(client.spec.podIP)} dst=${vip} sport=${x.clientPort} dport=80 src=${formatIpv4(server.spec.podIP)} dst=${formatIpv4(client.spec.podIP)} sport=3868 dport=${x.clientPort}`), ct[0]);
});

test("the endpoint on the client's own node: IPVS un-NATs the bridged reply (bridge-nf-call-iptables)", (t) => {
  const { c, vip, ipvs } = boot();
  const neighbour = c.pod("default", "neighbour")!;
  const x = runExchange(c, { title: "same node", from: neighbour.ns, fromLabel: "pod/default/neighbour", dst: ipv4(vip), dstPort: 80, proto: "sctp" });
  t.true(x.ok, x.outcome);
  t.true(x.outcome.endsWith(`you are ${formatIpv4(neighbour.spec.podIP)}:${x.clientPort}" from ${vip}:80`), x.outcome);
  t.true(x.events.some((e) => e.netns === "worker-2" && e.detail.startsWith("ipvs: reply from real server")));
  t.is(ipvs.table("worker-2")!.connections().length, 1);
});

test("the NodePort from outside (masqueraded) and a Service without endpoints (ip_vs_leave: port unreachable)", (t) => {
  const { c, clusterIP } = boot();
  const outside = c.externals.get("outside")!;
  const x = runExchange(c, { title: "np", from: outside.ns, fromLabel: "ext/outside", dst: c.node("worker-1")!.spec.internalIP, dstPort: 30868, proto: "sctp" });
  t.true(x.ok, x.outcome);
  // externalTrafficPolicy Cluster: KUBE-NODE-PORT-SCTP-HASH marks it, so the endpoint sees worker-1's flannel.1 address.
  t.regex(x.outcome, /you are 10\.244\.0\.0:\d+" from 192\.168\.56\.10 \(node\/worker-1\):30868$/);
  t.true(x.events.some((e) => e.netns === "worker-1" && e.detail.startsWith("ipvs: virtual service 192.168.56.10:30868 → real server")));

  const client = c.pod("default", "client")!;
  const y = runExchange(c, { title: "empty", from: client.ns, fromLabel: "pod/default/client", dst: ipv4(clusterIP("nobody")), dstPort: 80, proto: "sctp" });
  t.false(y.ok);
  t.regex(y.outcome, /^ICMP port unreachable from /, y.outcome);
  t.true(y.events.some((e) => e.detail === "ipvs: virtual service has no available real server: ICMP port unreachable"));
});

function findTool(name: string): string | null {
  for (const dir of ["/usr/bin", "/usr/sbin", "/bin", "/usr/local/bin"]) if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  return null;
}

const TSHARK = findTool("tshark");
const tsharkTitle = "tshark dissects the IPVS-mode association as SCTP with a correct CRC32c on every frame, before and after IPVS";
if (TSHARK === null) {
  console.log(`skipping "${tsharkTitle}": tshark is not installed`);
  test.skip(tsharkTitle, () => {});
} else {
  test(tsharkTitle, (t) => {
    const dir = mkdtempSync(join(tmpdir(), "podwire-ipvs-sctp-"));
    try {
      const { c, vip } = boot();
      const file = join(dir, "ipvs-sctp.pcapng");
      const cap = CaptureSession.toFile(file, c.devices);
      const client = c.pod("default", "client")!;
      const x = runExchange(c, { title: "sctp", from: client.ns, fromLabel: "pod/default/client", dst: ipv4(vip), dstPort: 80, proto: "sctp" });
      cap.close();
      t.true(x.ok, x.outcome);
      // `sctp.checksum` is "None" by default in tshark; CRC-32C makes it verify each frame.
      const out = execFileSync(TSHARK!, ["-r", file, "-o", "sctp.checksum:CRC-32C", "-Y", "sctp", "-T", "fields", "-e", "sctp.chunk_type", "-e", "sctp.checksum.status", "-e", "sctp.srcport", "-e", "sctp.dstport"], { encoding: "utf8" });
      const rows = out.trim().split("\n").map((l) => l.split("\t"));
      t.true(rows.length >= 7, out);
      // Status 1 = good (Wireshark's PROTO_CHECKSUM_E_GOOD): every frame, on the client's side
      // of IPVS (VIP:80) and on the endpoint's (3868), where IPVS rewrote a port.
      t.deepEqual([...new Set(rows.map((row) => row[1]))], ["1"], out);
      const chunks = new Set(rows.flatMap((row) => row[0]!.split(",")));
      for (const type of ["1", "2", "10", "0", "11", "3", "7", "8", "14"]) t.true(chunks.has(type), `chunk type ${type} in ${out}`);
      t.true(rows.some((row) => row[3] === "80") && rows.some((row) => row[3] === "3868"), "requests to VIP:80 and, after IPVS, to the endpoint's 3868");
      t.true(rows.some((row) => row[2] === "80") && rows.some((row) => row[2] === "3868"), "replies from 3868 and, after IPVS, from VIP:80");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
