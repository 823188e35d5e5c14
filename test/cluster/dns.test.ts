/**
 * CoreDNS over UDP and TCP, end to end: real queries from a Pod to the kube-dns ClusterIP
 * through kube-proxy's rules (iptables and IPVS mode), VXLAN and back.
 */
import test from "ava";
import { formatIpv4, parseIpv4 } from "../../src/base/index.js";
import { type RunningCluster, bootCluster } from "../../src/cluster/boot.js";
import { type DnsTransport, runExchange } from "../../src/cluster/exchange.js";
import { defaultCluster } from "../../src/cluster/load.js";
import type { ProxyMode } from "../../src/cluster/spec.js";
import { DNS_CLASS_IN, DNS_RCODE_NXDOMAIN, DNS_TYPE_A, DnsRepr, DnsTcpReader, dnsNameProblem, frameDnsTcp } from "../../src/wire/index.js";

const KUBERNETES = "kubernetes.default.svc.cluster.local";

function boot(mode: ProxyMode = "iptables"): RunningCluster {
  const spec = defaultCluster();
  spec.proxyMode = mode;
  return bootCluster(spec);
}

function kubeDnsIp(r: RunningCluster): number {
  return parseIpv4(r.services.service("kube-system", "kube-dns")!.clusterIP!);
}

function resolve(r: RunningCluster, name: string, transport: DnsTransport) {
  const client = r.cluster.pod("default", "client")!;
  return runExchange(r.cluster, { title: "dns", from: client.ns, fromLabel: "pod/default/client", dst: kubeDnsIp(r), dstPort: 53, proto: "dns", dnsName: name, dnsTransport: transport });
}

function coreDns(r: RunningCluster) {
  return r.dns.get("kube-system/coredns-0")!;
}

for (const mode of ["iptables", "ipvs"] as const) {
  for (const transport of ["udp", "tcp"] as const) {
    test(`${mode} mode: DNS over ${transport} to the kube-dns ClusterIP resolves ${KUBERNETES} to 10.96.0.1`, (t) => {
      const r = boot(mode);
      const x = resolve(r, KUBERNETES, transport);
      t.true(x.ok, x.outcome);
      t.deepEqual(x.answer, { name: KUBERNETES, rcode: "NOERROR", addresses: [parseIpv4("10.96.0.1")] });
      t.deepEqual(x.resolved.map(formatIpv4), ["10.96.0.1"]);
      t.regex(x.outcome, new RegExp(`^${KUBERNETES.replace(/\./g, "\\.")} → 10\\.96\\.0\\.1 \\(from 10\\.96\\.0\\.10`));
      // The reply really came back through CoreDNS, over the transport asked for.
      t.is(coreDns(r).queries, 1);
      t.is(coreDns(r).tcpQueries, transport === "tcp" ? 1 : 0);
      if (transport === "tcp") {
        t.regex(x.outcome, /over TCP/);
        t.true(x.events.some((e) => e.summary?.includes("Flags [F.]") ?? false), "the connection is closed with FINs");
        // Both ends closed: no socket is left behind on either side.
        t.deepEqual(r.cluster.pod("default", "client")!.ns.tcp.connections(), []);
        t.deepEqual(r.cluster.pod("kube-system", "coredns-0")!.ns.tcp.connections(), []);
      }
    });
  }
}

for (const transport of ["udp", "tcp"] as const) {
  test(`DNS over ${transport}: an unknown name gets NXDOMAIN`, (t) => {
    const r = boot();
    const x = resolve(r, "nope.default.svc.cluster.local", transport);
    t.false(x.ok);
    t.deepEqual(x.answer, { name: "nope.default.svc.cluster.local", rcode: "NXDOMAIN", addresses: [] });
    t.regex(x.outcome, /^nope\.default\.svc\.cluster\.local: NXDOMAIN/);
  });
}

test("DNS over TCP to a Pod that has no TCP 53 is refused", (t) => {
  const r = boot();
  const client = r.cluster.pod("default", "client")!;
  const web = r.cluster.pod("default", "web-1")!;
  const x = runExchange(r.cluster, { title: "dns", from: client.ns, fromLabel: "client", dst: web.spec.podIP, dstPort: 53, proto: "dns", dnsName: KUBERNETES, dnsTransport: "tcp" });
  t.false(x.ok);
  t.is(x.answer, null);
  t.is(x.outcome, "connection refused (TCP RST)");
});

function query(id: number, name: string): Uint8Array {
  const q: DnsRepr = { id, flags: { qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, rcode: 0 }, questions: [{ name, type: DNS_TYPE_A, class: DNS_CLASS_IN }], answers: [] };
  const bytes = new Uint8Array(DnsRepr.bufferLen(q));
  DnsRepr.emit(q, bytes, 0);
  return bytes;
}

/** A raw TCP client in the `client` Pod: sends each chunk as its own segment, collects what comes back. */
function tcpSession(r: RunningCluster, chunks: Uint8Array[]) {
  const client = r.cluster.pod("default", "client")!;
  const reader = new DnsTcpReader();
  const answers: DnsRepr[] = [];
  let peerClosed = false;
  let segmentsSent = 0;
  client.ns.tcp.connect(kubeDnsIp(r), 53, {
    onConnected: (c) => {
      for (const chunk of chunks) {
        c.send(chunk);
        segmentsSent++;
      }
    },
    onData: (_c, data) => {
      for (const m of reader.push(data)) answers.push(DnsRepr.parse(m, 0, m.length));
    },
    onPeerClosed: (c) => {
      peerClosed = true;
      c.close();
    },
  });
  r.cluster.sim.run(r.cluster.sim.now() + 1_000_000_000);
  return { answers, peerClosed, segmentsSent, buffered: reader.buffered };
}

test("DNS over TCP: a query split across segments (even inside the length prefix) is reassembled and answered; a pipelined second query too", (t) => {
  const r = boot();
  const first = frameDnsTcp(query(0x1111, KUBERNETES));
  const second = frameDnsTcp(query(0x2222, "nope.default.svc.cluster.local"));
  // Segment 1: one byte of the prefix; segment 2: the rest of the prefix and part of the
  // message; segment 3: the end of the first query and the whole second query.
  const tail = new Uint8Array(first.length - 10 + second.length);
  tail.set(first.subarray(10), 0);
  tail.set(second, first.length - 10);
  const s = tcpSession(r, [first.subarray(0, 1), first.subarray(1, 10), tail]);
  t.is(s.segmentsSent, 3);
  t.is(s.answers.length, 2);
  t.is(s.answers[0]!.id, 0x1111);
  t.deepEqual(s.answers[0]!.answers.map((a) => formatIpv4(a.data as number)), ["10.96.0.1"]);
  t.is(s.answers[1]!.id, 0x2222);
  t.is(s.answers[1]!.flags.rcode, DNS_RCODE_NXDOMAIN);
  t.is(coreDns(r).tcpQueries, 2);
  t.is(coreDns(r).tcpMalformed, 0);
  t.false(s.peerClosed, "the server keeps the connection open while the client does");
});

test("DNS over TCP: a malformed message closes the connection and is counted", (t) => {
  const r = boot();
  const s = tcpSession(r, [frameDnsTcp(new TextEncoder().encode("hello"))]);
  t.is(s.answers.length, 0);
  t.true(s.peerClosed);
  t.is(coreDns(r).tcpMalformed, 1);
  t.is(coreDns(r).queries, 0);
});

test("DnsTcpReader: messages split anywhere, several in one chunk", (t) => {
  const reader = new DnsTcpReader();
  const a = frameDnsTcp(new Uint8Array([1, 2, 3]));
  const b = frameDnsTcp(new Uint8Array([]));
  const c = frameDnsTcp(new Uint8Array([9]));
  const all = new Uint8Array([...a, ...b, ...c]);
  t.deepEqual(reader.push(all.subarray(0, 1)), []);
  t.deepEqual(reader.push(all.subarray(1, 4)), []);
  t.deepEqual(reader.push(all.subarray(4, 9)), [new Uint8Array([1, 2, 3]), new Uint8Array([])]);
  t.is(reader.buffered, 2);
  t.deepEqual(reader.push(all.subarray(9)), [new Uint8Array([9])]);
  t.is(reader.buffered, 0);
});

test("dnsNameProblem accepts query names and explains bad ones", (t) => {
  t.is(dnsNameProblem(KUBERNETES), null);
  t.is(dnsNameProblem(`${KUBERNETES}.`), null);
  t.regex(dnsNameProblem("")!, /empty/);
  t.regex(dnsNameProblem("a..b")!, /empty label/);
  t.regex(dnsNameProblem("a b")!, /space/);
  t.regex(dnsNameProblem(`${"x".repeat(64)}.local`)!, /longer than 63/);
  t.regex(dnsNameProblem(Array(60).fill("abcd").join("."))!, /longer than 253/);
});
