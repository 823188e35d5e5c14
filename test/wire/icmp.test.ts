import test from "ava";
import { testProp, fc } from "@fast-check/ava";
import {
  IcmpPacket,
  IcmpRepr,
  icmpQuoteLength,
  ICMP_ECHO_REQUEST,
  ICMP_FRAG_NEEDED,
  ICMP_PORT_UNREACHABLE,
  ICMP_TTL_EXCEEDED,
} from "../../src/wire/icmp.js";
import { WireError } from "../../src/base/errors.js";
import { FRAMES, filled, hex } from "./helpers.js";

const L4 = 34; // Ethernet + 20-byte IPv4 header
const msg = (frame: Uint8Array) => frame.subarray(L4);
const UDP_DATAGRAM = FRAMES.udp.subarray(14);

test("deconstruct an echo request", (t) => {
  const m = msg(FRAMES.echo);
  const p = new IcmpPacket(m).checkLen();
  t.is(p.type(), ICMP_ECHO_REQUEST);
  t.is(p.code(), 0);
  t.is(p.checksum(), 0x5157);
  t.is(p.echoIdent(), 1);
  t.is(p.echoSeq(), 1);
  t.is(p.payloadLen(), 56);
  t.deepEqual(p.payload(), new Uint8Array(56).fill(0x61));
  t.true(p.verifyChecksum());
});

test("deconstruct fragmentation needed", (t) => {
  const p = new IcmpPacket(msg(FRAMES.fragNeeded)).checkLen();
  t.is(p.type(), 3);
  t.is(p.code(), ICMP_FRAG_NEEDED);
  t.is(p.nextHopMtu(), 1450);
  t.deepEqual(p.payload(), UDP_DATAGRAM);
  t.true(p.verifyChecksum());
});

test("construct an echo request", (t) => {
  const b = filled(66);
  const p = new IcmpPacket(b, 1, 64);
  p.setType(ICMP_ECHO_REQUEST);
  p.setCode(0);
  p.setEchoIdent(1);
  p.setEchoSeq(1);
  b.fill(0x61, 9, 65);
  p.fillChecksum();
  t.deepEqual(b.subarray(1, 65), msg(FRAMES.echo));
  t.is(b[0], 0xa5);
  t.is(b[65], 0xa5);
});

test("repr: echo request", (t) => {
  const m = msg(FRAMES.echo);
  const repr = IcmpRepr.parse(m, 0, m.length);
  t.deepEqual(repr, { kind: "echo-request", ident: 1, seq: 1, data: new Uint8Array(56).fill(0x61) });
  const b = filled(64);
  t.is(IcmpRepr.emit(repr, b, 0), 64);
  t.deepEqual(b, m);
});

test("repr: port unreachable, fragmentation needed, time exceeded", (t) => {
  const cases: [Uint8Array, IcmpRepr][] = [
    [msg(FRAMES.portUnreachable), { kind: "dst-unreachable", code: ICMP_PORT_UNREACHABLE, nextHopMtu: 0, quoted: UDP_DATAGRAM.subarray(0, 28) }],
    [msg(FRAMES.fragNeeded), { kind: "dst-unreachable", code: ICMP_FRAG_NEEDED, nextHopMtu: 1450, quoted: UDP_DATAGRAM }],
    [msg(FRAMES.timeExceeded), { kind: "time-exceeded", code: ICMP_TTL_EXCEEDED, quoted: UDP_DATAGRAM }],
  ];
  for (const [bytes, repr] of cases) {
    t.deepEqual(IcmpRepr.parse(bytes, 0, bytes.length), repr);
    const b = filled(bytes.length);
    t.is(IcmpRepr.emit(repr, b, 0), bytes.length);
    t.deepEqual(b, bytes);
  }
});

test("unknown types and non-canonical known types round-trip as other", (t) => {
  const timestamp = hex("0d00 0000 1234 0001 00000001 00000002 00000003");
  new IcmpPacket(timestamp).fillChecksum();
  const r = IcmpRepr.parse(timestamp, 0, timestamp.length);
  t.deepEqual(r, { kind: "other", type: 13, code: 0, rest: 0x12340001, data: timestamp.subarray(8) });
  const echoWithCode = hex("0801 0000 0001 0002 ff");
  new IcmpPacket(echoWithCode).fillChecksum();
  t.is(IcmpRepr.parse(echoWithCode, 0, echoWithCode.length).kind, "other");
  for (const bytes of [timestamp, echoWithCode]) {
    const b = new Uint8Array(bytes.length);
    IcmpRepr.emit(IcmpRepr.parse(bytes, 0, bytes.length), b, 0);
    t.deepEqual(b, bytes);
  }
});

test("a bad checksum is malformed; a short message truncated", (t) => {
  const m = msg(FRAMES.echo).slice();
  m[10] ^= 0xff;
  t.is(t.throws(() => IcmpRepr.parse(m, 0, m.length), { instanceOf: WireError })?.kind, "malformed");
  t.is(IcmpRepr.parse(m, 0, m.length, false).kind, "echo-request");
  t.is(t.throws(() => IcmpRepr.parse(m, 0, 7), { instanceOf: WireError })?.kind, "truncated");
});

test("icmpQuoteLength follows the 576-byte rule of Linux's icmp_send", (t) => {
  t.is(icmpQuoteLength(28), 28);
  t.is(icmpQuoteLength(548), 548);
  t.is(icmpQuoteLength(549), 548); // 576 - 20 - 8
  t.is(icmpQuoteLength(1500), 548);
  t.is(icmpQuoteLength(65535), 548);
  t.is(icmpQuoteLength(1500, 40), 508); // reply options shrink the room
  t.is(icmpQuoteLength(1500, 0, 400), 372); // a route MTU below 576 wins
  t.is(icmpQuoteLength(1500, 0, 9000), 548);
  t.is(icmpQuoteLength(0), 0);
});

testProp("an error quoting any datagram fits in 576 bytes", [fc.integer({ min: 20, max: 65535 }), fc.integer({ min: 0, max: 10 })], (t, len, optWords) => {
  const q = icmpQuoteLength(len, optWords * 4);
  t.true(20 + optWords * 4 + 8 + q <= 576);
  t.is(q, Math.min(len, 548 - optWords * 4));
});

const u16 = fc.integer({ min: 0, max: 0xffff });
const u8 = fc.integer({ min: 0, max: 0xff });
const data = fc.uint8Array({ maxLength: 600 });
const echoRepr = fc.record({ kind: fc.constantFrom("echo-request" as const, "echo-reply" as const), ident: u16, seq: u16, data });
const icmpRepr: fc.Arbitrary<IcmpRepr> = fc.oneof(
  echoRepr,
  fc.record({ kind: fc.constant("dst-unreachable" as const), code: u8, nextHopMtu: u16, quoted: data }),
  fc.record({ kind: fc.constant("time-exceeded" as const), code: u8, quoted: data }),
  fc.record({
    kind: fc.constant("other" as const),
    type: u8.filter((x) => ![0, 3, 8, 11].includes(x)),
    code: u8,
    rest: fc.integer({ min: 0, max: 0xffffffff }),
    data,
  }),
);

testProp("parse ∘ emit is the identity", [icmpRepr], (t, repr) => {
  const b = new Uint8Array(IcmpRepr.bufferLen(repr));
  t.is(IcmpRepr.emit(repr, b, 0), b.length);
  t.deepEqual(IcmpRepr.parse(b, 0, b.length), repr);
});

testProp("emit ∘ parse reproduces any message with a good checksum", [fc.uint8Array({ minLength: 8, maxLength: 100 })], (t, bytes) => {
  new IcmpPacket(bytes).fillChecksum();
  const b = new Uint8Array(bytes.length);
  IcmpRepr.emit(IcmpRepr.parse(bytes, 0, bytes.length), b, 0);
  t.deepEqual(b, bytes);
});

testProp("echo ident rewrite with checksum update equals a recompute", [echoRepr, u16], (t, repr, ident) => {
  const b = new Uint8Array(IcmpRepr.bufferLen(repr));
  IcmpRepr.emit(repr, b, 0);
  const p = new IcmpPacket(b);
  p.setEchoIdentWithChecksumUpdate(ident);
  const c = p.checksum();
  p.fillChecksum();
  t.is(c, p.checksum());
});
