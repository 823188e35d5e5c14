/**
 * The glibc-like stub resolver (src/cluster/resolver.ts): A and AAAA from one socket at
 * once; on a timeout with one answer, RES_SNGLKUP then RES_SNGLKUPREOP; with no answer, the
 * next attempt; single-request-reopen sends the second query from a new socket.
 */
import test from "ava";
import { ipv4 } from "../../src/base/index.js";
import { DnsServer } from "../../src/cluster/apps.js";
import { GlibcResolver, type LookupResult } from "../../src/cluster/resolver.js";
import type { PacketBuffer } from "../../src/netdev/index.js";
import type { NetworkNamespace } from "../../src/netns/index.js";
import { DNS_TYPE_AAAA, DnsRepr } from "../../src/wire/index.js";
import { routedPair } from "../netns/helpers.js";

const SEC = 1_000_000_000;

function setup(lose: (n: number, aaaa: boolean) => boolean, opts: { singleRequest?: boolean; singleRequestReopen?: boolean } = {}) {
  const net = routedPair();
  const dns = new DnsServer();
  dns.setRecords("web.default.svc.cluster.local", [ipv4("10.96.0.20")]);
  let n = 0;
  const ports: number[] = [];
  net.b.bindUdp(53, {
    onDatagram(ns: NetworkNamespace, pkt: PacketBuffer) {
      const h = pkt.head;
      const l4 = h + (pkt.buf[h]! & 15) * 4;
      ports.push((pkt.buf[l4]! << 8) | pkt.buf[l4 + 1]!);
      const q = DnsRepr.parse(pkt.buf.subarray(l4 + 8, pkt.tail), 0, pkt.tail - l4 - 8);
      if (lose(n++, q.questions[0]!.type === DNS_TYPE_AAAA)) {
        ns.sim.pool.release(pkt);
        return;
      }
      dns.onDatagram(ns, pkt);
    },
  });
  const r = new GlibcResolver(net.a, { nameserver: ipv4("10.0.2.2"), ...opts });
  let result: LookupResult | null = null;
  const t0 = net.sim.now();
  r.lookup("web.default.svc.cluster.local", (x) => (result = x));
  net.sim.run();
  return { result: result! as LookupResult, t0, ports };
}

test("parallel A and AAAA from one socket; the NODATA AAAA answer completes the lookup at once", (t) => {
  const { result, ports } = setup(() => false);
  t.true(result.ok);
  t.deepEqual(result.addresses, [ipv4("10.96.0.20")]);
  t.true(result.answeredAAAA);
  t.is(result.queries.length, 2);
  t.is(result.queries[0]!.atNs, result.queries[1]!.atNs, "sent back to back");
  t.is(new Set(ports).size, 1, "from one socket");
  t.true(result.endNs - result.startNs < 1_000_000);
});

test("one answer lost: wait timeout:5, then send both again one after the other (RES_SNGLKUP)", (t) => {
  const { result, t0 } = setup((n, aaaa) => n < 2 && aaaa);
  t.true(result.ok);
  t.is(result.timeouts, 1);
  t.deepEqual(result.fellBackTo, ["single-request"]);
  t.is(result.queries.length, 4);
  t.is(result.queries[2]!.atNs - t0, 5 * SEC);
  t.true(result.queries[3]!.atNs > result.queries[2]!.atNs, "the second waits for the first answer");
  t.is(result.queries[3]!.srcPort, result.queries[0]!.srcPort, "same socket");
});

test("no answer at all: attempts:2, then the lookup fails at 10 s", (t) => {
  const { result, t0 } = setup(() => true);
  t.false(result.ok);
  t.is(result.timeouts, 2);
  t.is(result.endNs - t0, 10 * SEC);
  t.is(result.queries.length, 4);
});

test("single-request-reopen: A first, AAAA from a new socket after A's answer", (t) => {
  const { result, ports } = setup(() => false, { singleRequestReopen: true });
  t.true(result.ok);
  t.is(result.queries.length, 2);
  t.true(result.queries[1]!.atNs > result.queries[0]!.atNs);
  t.not(result.queries[0]!.srcPort, result.queries[1]!.srcPort);
  t.is(new Set(ports).size, 2);
});

test("single-request: A first, AAAA from the same socket after A's answer", (t) => {
  const { result } = setup(() => false, { singleRequest: true });
  t.true(result.ok);
  t.true(result.queries[1]!.atNs > result.queries[0]!.atNs);
  t.is(result.queries[0]!.srcPort, result.queries[1]!.srcPort);
});

test("CoreDNS answers AAAA for an IPv4-only name with NODATA: NOERROR, no answer, the zone's SOA", (t) => {
  const dns = new DnsServer();
  dns.setRecords("web.default.svc.cluster.local", [ipv4("10.96.0.20")]);
  const r = dns.respond({ id: 7, flags: { qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, rcode: 0 }, questions: [{ name: "web.default.svc.cluster.local", type: DNS_TYPE_AAAA, class: 1 }], answers: [] });
  t.is(r.flags.rcode, 0);
  t.deepEqual(r.answers, []);
  t.is(r.authority?.length, 1);
  t.is(r.authority![0]!.type, 6);
  t.is(r.authority![0]!.name, "cluster.local");
  // It survives the wire: emit, parse.
  const bytes = new Uint8Array(DnsRepr.bufferLen(r));
  DnsRepr.emit(r, bytes, 0);
  t.is(DnsRepr.parse(bytes, 0, bytes.length).authority?.[0]?.type, 6);
});
