import test from "ava";
import { testProp, fc } from "@fast-check/ava";
import {
  prependUdp,
  prependIpv4,
  prependEthernet,
  prependVxlan,
  encapsulateVxlan,
  buildUdpFrame,
  buildTcpFrame,
  buildIcmpFrame,
  buildArpFrame,
} from "../../src/wire/builder.js";
import type { Headroom, FrameAddrs } from "../../src/wire/builder.js";
import { EthernetRepr, ETHERTYPE_IPV4 } from "../../src/wire/ethernet.js";
import { Ipv4Packet, Ipv4Repr, IPPROTO_UDP } from "../../src/wire/ipv4.js";
import { UdpPacket, UdpRepr } from "../../src/wire/udp.js";
import { VxlanRepr, VXLAN_PORT } from "../../src/wire/vxlan.js";
import { TcpRepr, TCP_ACK, TCP_PSH } from "../../src/wire/tcp.js";
import { IcmpRepr } from "../../src/wire/icmp.js";
import { ArpRepr } from "../../src/wire/arp.js";
import { ipv4, parseMac } from "../../src/base/ipv4-int.js";
import { FRAMES } from "./helpers.js";

const NODE1 = ipv4("192.168.56.11");
const NODE2 = ipv4("192.168.56.12");
const NODE1_MAC = parseMac("08:00:27:00:00:11");
const NODE2_MAC = parseMac("08:00:27:00:00:12");
const POD: FrameAddrs = {
  srcMac: parseMac("0a:58:0a:f4:01:02"),
  dstMac: parseMac("0a:58:0a:f4:01:01"),
  srcIp: ipv4("10.244.1.2"),
  dstIp: ipv4("10.244.2.3"),
};
const HELLO = new TextEncoder().encode("hello");

/** A Headroom holding `inner` at `at` in a fresh buffer. */
function holding(inner: Uint8Array, at: number, size = 2048): Headroom {
  const buf = new Uint8Array(size);
  buf.set(inner, at);
  return { buf, head: at, tail: at + inner.length };
}

/** Parses outer Ethernet/IPv4/UDP/VXLAN, checking every checksum; returns the inner frame's offset. */
function decapsulate(t: import("ava").ExecutionContext, b: Headroom, udpChecksum: boolean): number {
  const len = b.tail - b.head;
  t.deepEqual(EthernetRepr.parse(b.buf, b.head, len), { dst: NODE2_MAC, src: NODE1_MAC, etherType: ETHERTYPE_IPV4 });
  const ipOff = b.head + 14;
  const ip = Ipv4Repr.parse(b.buf, ipOff, len - 14);
  t.like(ip, { src: NODE1, dst: NODE2, protocol: IPPROTO_UDP, ttl: 64, payloadLen: len - 34 });
  const udpOff = ipOff + 20;
  const udp = new UdpPacket(b.buf, udpOff).checkLen(ip.payloadLen);
  t.is(udp.dstPort(), VXLAN_PORT);
  t.is(udp.checksum() !== 0, udpChecksum);
  t.notThrows(() => UdpRepr.parse(b.buf, udpOff, ip.payloadLen, NODE1, NODE2));
  t.deepEqual(VxlanRepr.parse(b.buf, udp.payloadOffset(), udp.payloadLen()), { vni: 1 });
  return udp.payloadOffset() + 8;
}

test("prepend VXLAN, UDP, IPv4 and Ethernet around a frame in place", (t) => {
  const b = holding(FRAMES.udp, 200);
  const buf = b.buf;
  const innerView = buf.subarray(200, 200 + FRAMES.udp.length);
  t.is(prependVxlan(b, 1), 192);
  t.is(prependUdp(b, NODE1, NODE2, 41234, VXLAN_PORT), 184);
  t.is(prependIpv4(b, { src: NODE1, dst: NODE2, protocol: IPPROTO_UDP, ttl: 64, ident: 7, dontFrag: false }), 164);
  t.is(prependEthernet(b, NODE2_MAC, NODE1_MAC, ETHERTYPE_IPV4), 150);
  t.is(b.buf, buf, "same buffer object");
  t.is(b.tail, 200 + FRAMES.udp.length, "tail did not move");
  t.deepEqual(buf.subarray(b.head, b.tail), FRAMES.vxlan, "byte-identical to the tshark-checked capture");
  const inner = decapsulate(t, b, true);
  t.is(inner, 200, "the inner frame was not moved");
  t.deepEqual(innerView, FRAMES.udp, "inner bytes untouched");
  // The inner frame is the same memory, not a copy: a write through the old view shows up in the outer frame.
  innerView[40] ^= 0xff;
  t.is(buf[inner + 40], FRAMES.udp[40]! ^ 0xff);
  t.is(innerView.buffer, b.buf.buffer);
});

test("encapsulateVxlan does the four prepends, with Linux's zero outer UDP checksum by default", (t) => {
  const b = holding(FRAMES.udp, 64);
  const head = encapsulateVxlan(b, {
    outerSrcMac: NODE1_MAC,
    outerDstMac: NODE2_MAC,
    srcIp: NODE1,
    dstIp: NODE2,
    srcPort: 41234,
    dstPort: VXLAN_PORT,
    vni: 1,
    ttl: 64,
    ident: 7,
    dontFrag: false,
  });
  t.is(head, 64 - 50);
  t.is(decapsulate(t, b, false), 64);
  t.deepEqual(b.buf.subarray(64, b.tail), FRAMES.udp);
  const withSum = holding(FRAMES.udp, 64);
  encapsulateVxlan(withSum, { outerSrcMac: NODE1_MAC, outerDstMac: NODE2_MAC, srcIp: NODE1, dstIp: NODE2, srcPort: 41234, dstPort: VXLAN_PORT, vni: 1, ttl: 64, ident: 7, dontFrag: false, udpChecksum: true });
  t.deepEqual(withSum.buf.subarray(withSum.head, withSum.tail), FRAMES.vxlan);
});

test("insufficient headroom is a RangeError and leaves head alone", (t) => {
  const b = holding(FRAMES.udp, 7);
  t.throws(() => prependVxlan(b, 1), { instanceOf: RangeError });
  t.is(b.head, 7);
  t.throws(() => prependUdp(b, 1, 2, 3, 4), { instanceOf: RangeError });
  t.throws(() => prependIpv4(b, { src: 1, dst: 2, protocol: 17, ttl: 1, ident: 0, dontFrag: true }), { instanceOf: RangeError });
  t.throws(() => prependEthernet({ ...b, head: 13 }, 1, 2, 3), { instanceOf: RangeError });
  t.throws(() => prependVxlan(holding(FRAMES.udp, 100), 1 << 24), { instanceOf: RangeError });
});

test("buildUdpFrame writes a whole frame and sets tail", (t) => {
  const b: Headroom = { buf: new Uint8Array(256), head: 100, tail: 100 };
  t.is(buildUdpFrame(b, POD, { srcPort: 40000, dstPort: 8080, payload: HELLO }), FRAMES.udp.length);
  t.is(b.tail, 100 + FRAMES.udp.length);
  t.deepEqual(b.buf.subarray(b.head, b.tail), FRAMES.udp);
});

test("buildUdpFrame around a payload already in place", (t) => {
  const b: Headroom = { buf: new Uint8Array(256), head: 100, tail: 100 };
  b.buf.set(HELLO, 100 + 42);
  buildUdpFrame(b, POD, { srcPort: 40000, dstPort: 8080, payloadLen: HELLO.length });
  t.deepEqual(b.buf.subarray(b.head, b.tail), FRAMES.udp);
});

test("buildTcpFrame, buildIcmpFrame and buildArpFrame reproduce the reference frames", (t) => {
  const b: Headroom = { buf: new Uint8Array(256), head: 64, tail: 64 };
  buildTcpFrame(b, POD, { srcPort: 40000, dstPort: 80, seq: 1001, ack: 5001, flags: TCP_PSH | TCP_ACK, window: 502, payload: new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n") });
  t.deepEqual(b.buf.subarray(b.head, b.tail), FRAMES.tcpData);
  const syn = TcpRepr.parse(FRAMES.tcpSyn, 34, FRAMES.tcpSyn.length - 34);
  buildTcpFrame(b, POD, syn);
  t.deepEqual(b.buf.subarray(b.head, b.tail), FRAMES.tcpSyn);

  const echo = IcmpRepr.parse(FRAMES.echo, 34, FRAMES.echo.length - 34);
  buildIcmpFrame(b, { ...POD, dstIp: ipv4("192.168.56.12") }, echo);
  t.deepEqual(b.buf.subarray(b.head, b.tail), FRAMES.echo);
  const gw = { ...POD, srcIp: ipv4("10.244.2.1"), dstIp: POD.srcIp };
  buildIcmpFrame(b, gw, { kind: "dst-unreachable", code: 3, quoted: FRAMES.udp.subarray(14, 42) });
  t.deepEqual(b.buf.subarray(b.head, b.tail), FRAMES.portUnreachable);

  t.is(buildArpFrame(b, POD.srcMac, 0xffffffffffff, ArpRepr.parse(FRAMES.arpRequest, 14, 28)), 42);
  t.deepEqual(b.buf.subarray(b.head, b.tail), FRAMES.arpRequest);
});

test("build functions refuse to run past the buffer", (t) => {
  const b: Headroom = { buf: new Uint8Array(60), head: 20, tail: 20 };
  t.throws(() => buildUdpFrame(b, POD, { srcPort: 1, dstPort: 2, payload: HELLO }), { instanceOf: RangeError });
  t.throws(() => buildArpFrame({ ...b, head: 30 }, 1, 2, { op: 1, senderMac: 1, senderIp: 1, targetMac: 0, targetIp: 2 }), { instanceOf: RangeError });
});

testProp(
  "encapsulating any payload keeps the inner bytes and every checksum verifies",
  [fc.uint8Array({ minLength: 14, maxLength: 1400 }), fc.integer({ min: 50, max: 200 }), fc.integer({ min: 0, max: 0xffffff }), fc.boolean()],
  (t, inner, at, vni, udpChecksum) => {
    const b = holding(inner, at, at + inner.length);
    encapsulateVxlan(b, { outerSrcMac: NODE1_MAC, outerDstMac: NODE2_MAC, srcIp: NODE1, dstIp: NODE2, srcPort: 50000, dstPort: VXLAN_PORT, vni, ttl: 64, ident: 1, dontFrag: false, udpChecksum });
    t.is(b.head, at - 50);
    t.deepEqual(b.buf.subarray(at, b.tail), inner);
    t.true(new Ipv4Packet(b.buf, b.head + 14).verifyChecksum());
    t.true(new UdpPacket(b.buf, b.head + 34).verifyChecksum(NODE1, NODE2));
    t.deepEqual(VxlanRepr.parse(b.buf, b.head + 42, 8), { vni });
  },
);
