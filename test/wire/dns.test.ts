import test from "ava";
import { testProp, fc } from "@fast-check/ava";
import {
  DnsRepr,
  DNS_CLASS_IN,
  DNS_RCODE_NXDOMAIN,
  DNS_TYPE_A,
  DNS_TYPE_CNAME,
  DNS_TYPE_SOA,
  DNS_TYPE_SRV,
  DNS_PORT,
  dnsTypeName,
} from "../../src/wire/dns.js";
import type { DnsRecord } from "../../src/wire/dns.js";
import { WireError } from "../../src/base/errors.js";
import { ipv4 } from "../../src/base/ipv4-int.js";
import { FRAMES, hex } from "./helpers.js";

const UDP_PAYLOAD = 42;
const QUERY = FRAMES.dnsQuery.subarray(UDP_PAYLOAD);
const ANSWER = FRAMES.dnsAnswer.subarray(UDP_PAYLOAD);
const NXDOMAIN = FRAMES.dnsNxdomain.subarray(UDP_PAYLOAD);
const NAME = "web.default.svc.cluster.local";

const queryFlags = { qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, rcode: 0, ad: false, cd: false };
const QUERY_REPR: DnsRepr = { id: 0x1234, flags: queryFlags, questions: [{ name: NAME, type: DNS_TYPE_A, class: DNS_CLASS_IN }], answers: [] };
const ANSWER_REPR: DnsRepr = {
  ...QUERY_REPR,
  flags: { ...queryFlags, qr: true, ra: true },
  answers: [{ name: NAME, type: DNS_TYPE_A, class: DNS_CLASS_IN, ttl: 30, data: ipv4("10.96.12.34") }],
};

function kindOf(t: import("ava").ExecutionContext, bytes: Uint8Array): string | undefined {
  return t.throws(() => DnsRepr.parse(bytes, 0, bytes.length), { instanceOf: WireError })?.kind;
}

test("constants", (t) => {
  t.is(DNS_PORT, 53);
  t.is(DNS_RCODE_NXDOMAIN, 3);
  t.is(dnsTypeName(DNS_TYPE_SRV), "SRV");
  t.is(dnsTypeName(99), "TYPE99");
});

test("parse and emit a query", (t) => {
  t.deepEqual(DnsRepr.parse(QUERY, 0, QUERY.length), QUERY_REPR);
  const b = new Uint8Array(QUERY.length);
  t.is(DnsRepr.emit(QUERY_REPR, b, 0), QUERY.length);
  t.deepEqual(b, QUERY);
  t.is(DnsRepr.bufferLen(QUERY_REPR), 47);
});

test("an answer's owner name is written as a pointer to the question", (t) => {
  t.deepEqual(DnsRepr.parse(ANSWER, 0, ANSWER.length), ANSWER_REPR);
  const b = new Uint8Array(ANSWER.length);
  t.is(DnsRepr.emit(ANSWER_REPR, b, 0), 63);
  t.deepEqual(b, ANSWER);
  t.deepEqual(b.subarray(47, 49), hex("c00c"));
});

test("compression compares names without regard to case and keeps the question's spelling", (t) => {
  const repr: DnsRepr = {
    ...ANSWER_REPR,
    questions: [{ name: "Web.Default.SVC.cluster.local.", type: DNS_TYPE_A, class: DNS_CLASS_IN }],
  };
  const b = new Uint8Array(DnsRepr.bufferLen(repr));
  DnsRepr.emit(repr, b, 0);
  t.deepEqual(b.subarray(47, 49), hex("c00c"));
  const back = DnsRepr.parse(b, 0, b.length);
  t.is(back.questions[0]!.name, "Web.Default.SVC.cluster.local");
  t.is(back.answers[0]!.name, "Web.Default.SVC.cluster.local");
});

test("pointers into the middle of names and inside RDATA are followed", (t) => {
  const msg = hex(`beef 8180 0001 0002 0000 0000
    03 657874 07 64656661756c74 03 737663 07 636c7573746572 05 6c6f63616c 00 0001 0001
    c00c 0005 0001 0000003c 0006 03 777777 c010
    c03b 0001 0001 0000003c 0004 0a600c22`);
  const m = DnsRepr.parse(msg, 0, msg.length);
  t.deepEqual(m.answers, [
    { name: "ext.default.svc.cluster.local", type: DNS_TYPE_CNAME, class: DNS_CLASS_IN, ttl: 60, data: "www.default.svc.cluster.local" },
    { name: "www.default.svc.cluster.local", type: DNS_TYPE_A, class: DNS_CLASS_IN, ttl: 60, data: ipv4("10.96.12.34") },
  ]);
  // Re-emitted, the CNAME target is written out in full and the message still parses the same.
  const b = new Uint8Array(DnsRepr.bufferLen(m));
  DnsRepr.emit(m, b, 0);
  t.deepEqual(DnsRepr.parse(b, 0, b.length), m);
});

test("compression pointer loops are malformed", (t) => {
  t.is(kindOf(t, hex("0001 0000 0001 0000 0000 0000 c00c 0001 0001")), "malformed"); // points at itself
  t.is(kindOf(t, hex("0001 0000 0001 0000 0000 0000 c00e c00c 0001 0001")), "malformed"); // two pointers in a ring
  t.is(kindOf(t, hex("0001 0000 0001 0000 0000 0000 0161 c00c 0001 0001")), "malformed"); // a label then back to itself
});

test("bad labels and names are malformed, cut-short ones truncated", (t) => {
  t.is(kindOf(t, hex("0001 0000 0001 0000 0000 0000 40 00 0001 0001")), "malformed"); // extended label type
  t.is(kindOf(t, hex("0001 0000 0001 0000 0000 0000 c0ff 0001 0001")), "malformed"); // pointer past the end
  const long = `3f${"61".repeat(63)}`.repeat(5);
  t.is(kindOf(t, hex(`0001 0000 0001 0000 0000 0000 ${long} 00 0001 0001`)), "malformed"); // 321-byte name
  t.is(kindOf(t, QUERY.subarray(0, 20)), "truncated");
  t.is(kindOf(t, QUERY.subarray(0, 11)), "truncated");
  t.is(kindOf(t, QUERY.subarray(0, 45)), "truncated");
  t.is(kindOf(t, hex("0001 8000 0000 0001 0000 0000 00 0001 0001 00000000 0005 0a00000101")), "malformed"); // A with 5 bytes
});

test("an NXDOMAIN response with an SOA in the authority section", (t) => {
  const m = DnsRepr.parse(NXDOMAIN, 0, NXDOMAIN.length);
  t.deepEqual(m.flags, { qr: true, opcode: 0, aa: true, tc: false, rd: true, ra: true, rcode: DNS_RCODE_NXDOMAIN, ad: false, cd: false });
  t.deepEqual(m.questions, [{ name: "nope.default.svc.cluster.local", type: DNS_TYPE_A, class: DNS_CLASS_IN }]);
  t.deepEqual(m.answers, []);
  t.is(m.authority?.length, 1);
  t.like(m.authority![0]!, { name: "cluster.local", type: DNS_TYPE_SOA, class: DNS_CLASS_IN, ttl: 30 });
  t.deepEqual(m.authority![0]!.data, new Uint8Array(22));
  t.is(m.additional, undefined);
  const b = new Uint8Array(NXDOMAIN.length);
  t.is(DnsRepr.emit(m, b, 0), NXDOMAIN.length);
  t.deepEqual(b, NXDOMAIN);
});

test("emit rejects names that cannot be encoded", (t) => {
  const q = (name: string): DnsRepr => ({ ...QUERY_REPR, questions: [{ name, type: 1, class: 1 }] });
  t.throws(() => DnsRepr.bufferLen(q(`${"a".repeat(64)}.local`)), { instanceOf: RangeError });
  t.throws(() => DnsRepr.bufferLen(q("a..local")), { instanceOf: RangeError });
  t.throws(() => DnsRepr.bufferLen(q(Array(5).fill("a".repeat(63)).join("."))), { instanceOf: RangeError });
  t.throws(() => DnsRepr.emit(QUERY_REPR, new Uint8Array(46), 0), { instanceOf: RangeError });
  t.is(DnsRepr.bufferLen(q("")), 12 + 1 + 4, "the root name is one zero byte");
});

const label = fc.string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789-"), minLength: 1, maxLength: 20 });
const name = fc.array(label, { minLength: 0, maxLength: 5 }).map((ls) => ls.join("."));
const u16 = fc.integer({ min: 0, max: 0xffff });
const question = fc.record({ name, type: u16, class: u16 });
const record: fc.Arbitrary<DnsRecord> = fc.oneof(
  fc.record({ name, type: fc.constant(DNS_TYPE_A), class: u16, ttl: fc.nat(), data: fc.integer({ min: 0, max: 0xffffffff }) }),
  fc.record({ name, type: fc.constantFrom(2, 5, 12), class: u16, ttl: fc.nat(), data: name }),
  fc.record({
    name,
    type: u16.filter((x) => ![1, 2, 5, 12].includes(x)),
    class: u16,
    ttl: fc.integer({ min: 0, max: 0xffffffff }),
    data: fc.uint8Array({ maxLength: 40 }),
  }),
);
const flags = fc.record({
  qr: fc.boolean(),
  opcode: fc.integer({ min: 0, max: 15 }),
  aa: fc.boolean(),
  tc: fc.boolean(),
  rd: fc.boolean(),
  ra: fc.boolean(),
  rcode: fc.integer({ min: 0, max: 15 }),
  ad: fc.boolean(),
  cd: fc.boolean(),
});
const records = fc.array(record, { maxLength: 4 });
const dnsRepr = fc
  .record({ id: u16, flags, questions: fc.array(question, { maxLength: 3 }), answers: records, authority: records, additional: records })
  .map(({ authority, additional, ...rest }) => {
    const r: DnsRepr = rest;
    if (authority.length) r.authority = authority;
    if (additional.length) r.additional = additional;
    return r;
  });

testProp("parse ∘ emit is the identity", [dnsRepr], (t, repr) => {
  const b = new Uint8Array(DnsRepr.bufferLen(repr));
  t.is(DnsRepr.emit(repr, b, 0), b.length);
  t.deepEqual(DnsRepr.parse(b, 0, b.length), repr);
});
