import test from "ava";
import { testProp, fc } from "@fast-check/ava";
import { UdpPacket, UdpRepr, UDP_HEADER_LEN } from "../../src/wire/udp.js";
import { finishChecksum, pseudoHeaderSum, sumBytes } from "../../src/wire/checksum.js";
import { IPPROTO_UDP } from "../../src/wire/ipv4.js";
import { WireError } from "../../src/base/errors.js";
import { ipv4 } from "../../src/base/ipv4-int.js";
import { FRAMES, filled } from "./helpers.js";

const SRC = ipv4("10.244.1.2");
const DST = ipv4("10.244.2.3");
const DATAGRAM = FRAMES.udp.subarray(34);
const HELLO = new TextEncoder().encode("hello");

test("deconstruct", (t) => {
  const p = new UdpPacket(DATAGRAM).checkLen(DATAGRAM.length);
  t.is(p.srcPort(), 40000);
  t.is(p.dstPort(), 8080);
  t.is(p.length(), 13);
  t.is(p.checksum(), 0xe744);
  t.is(p.payloadOffset(), 8);
  t.is(p.payloadLen(), 5);
  t.deepEqual(p.payload(), HELLO);
  t.true(p.verifyChecksum(SRC, DST));
  t.false(p.verifyChecksum(SRC, DST + 1));
});

test("construct", (t) => {
  const b = filled(15);
  b.set(HELLO, 9);
  const p = new UdpPacket(b, 1);
  p.setSrcPort(40000);
  p.setDstPort(8080);
  p.setLength(13);
  p.fillChecksum(SRC, DST);
  t.deepEqual(b.subarray(1, 14), DATAGRAM);
  t.is(b[0], 0xa5);
  t.is(b[14], 0xa5);
});

test("repr parse and emit (copying the payload)", (t) => {
  const repr = UdpRepr.parse(DATAGRAM, 0, DATAGRAM.length, SRC, DST);
  t.deepEqual(repr, { srcPort: 40000, dstPort: 8080, payload: HELLO });
  const b = filled(13);
  t.is(UdpRepr.emit(repr, b, 0, SRC, DST), 13);
  t.deepEqual(b, DATAGRAM);
  t.is(UdpRepr.bufferLen(repr), 13);
});

test("emit around a payload already in place", (t) => {
  const b = filled(13);
  b.set(HELLO, 8);
  t.is(UdpRepr.emit({ srcPort: 40000, dstPort: 8080, payloadLen: 5 }, b, 0, SRC, DST), 13);
  t.deepEqual(b, DATAGRAM);
  // Passing the in-place bytes themselves as the payload is also a no-copy emit.
  const c = filled(13);
  c.set(HELLO, 8);
  UdpRepr.emit({ srcPort: 40000, dstPort: 8080, payload: c.subarray(8) }, c, 0, SRC, DST);
  t.deepEqual(c, DATAGRAM);
});

test("a zero checksum means none: it verifies and is left alone by NAT", (t) => {
  const b = DATAGRAM.slice();
  b[6] = 0;
  b[7] = 0;
  const p = new UdpPacket(b).checkLen(b.length);
  t.true(p.verifyChecksum(SRC, DST));
  t.notThrows(() => UdpRepr.parse(b, 0, b.length, SRC, DST));
  p.setDstPortWithChecksumUpdate(9999);
  p.updateChecksumForAddrChange(DST, ipv4("10.96.0.1"));
  t.is(p.checksum(), 0);
  const e = filled(13);
  UdpRepr.emit({ srcPort: 1, dstPort: 2, payload: HELLO }, e, 0, SRC, DST, false);
  t.is(new UdpPacket(e).checksum(), 0);
});

test("a computed checksum of 0 is sent as 0xffff (RFC 768)", (t) => {
  // Find a two-byte payload whose checksum computes to zero.
  const b = new Uint8Array(10);
  const p = new UdpPacket(b);
  p.setSrcPort(40000);
  p.setDstPort(53);
  p.setLength(10);
  let found = false;
  for (let w = 0; w <= 0xffff && !found; w++) {
    b[8] = w >> 8;
    b[9] = w & 0xff;
    p.setChecksum(0);
    found = finishChecksum(sumBytes(b, 0, 10, pseudoHeaderSum(SRC, DST, IPPROTO_UDP, 10))) === 0;
  }
  t.true(found);
  p.fillChecksum(SRC, DST);
  t.is(p.checksum(), 0xffff);
  t.true(p.verifyChecksum(SRC, DST));
});

test("checkLen: length field below 8 is malformed, beyond the bytes truncated", (t) => {
  const kind = (b: Uint8Array, len = b.length) => t.throws(() => UdpRepr.parse(b, 0, len), { instanceOf: WireError })?.kind;
  const b = DATAGRAM.slice();
  t.is(kind(b, 7), "truncated");
  t.is(kind(b, 12), "truncated");
  b[5] = 7;
  t.is(kind(b), "malformed");
  const padded = new Uint8Array(40);
  padded.set(DATAGRAM);
  t.deepEqual(UdpRepr.parse(padded, 0, 40).payload, HELLO); // trailing bytes past the length field are ignored
});

test("a bad checksum is malformed when addresses are given", (t) => {
  const b = DATAGRAM.slice();
  b[12] ^= 1;
  t.is(t.throws(() => UdpRepr.parse(b, 0, b.length, SRC, DST), { instanceOf: WireError })?.kind, "malformed");
  t.notThrows(() => UdpRepr.parse(b, 0, b.length));
});

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const udpRepr = fc.record({ srcPort: u16, dstPort: u16, payload: fc.uint8Array({ maxLength: 1500 }) });

testProp("parse ∘ emit is the identity", [udpRepr, u32, u32], (t, repr, src, dst) => {
  const b = new Uint8Array(UdpRepr.bufferLen(repr));
  UdpRepr.emit(repr, b, 0, src, dst);
  t.deepEqual(UdpRepr.parse(b, 0, b.length, src, dst), repr);
});

testProp("incremental port and address rewrites equal a full recompute", [udpRepr, u32, u32, u16, u16, u32, u32], (t, repr, src, dst, sp, dp, nsrc, ndst) => {
  const b = new Uint8Array(UDP_HEADER_LEN + repr.payload.length);
  UdpRepr.emit(repr, b, 0, src, dst);
  const p = new UdpPacket(b);
  p.setSrcPortWithChecksumUpdate(sp);
  p.setDstPortWithChecksumUpdate(dp);
  p.updateChecksumForAddrChange(src, nsrc);
  p.updateChecksumForAddrChange(dst, ndst);
  const incremental = p.checksum();
  t.true(p.verifyChecksum(nsrc, ndst));
  p.fillChecksum(nsrc, ndst);
  t.is(incremental, p.checksum());
});
