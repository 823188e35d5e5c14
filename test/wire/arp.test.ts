import test from "ava";
import { testProp, fc } from "@fast-check/ava";
import { ArpPacket, ArpRepr, ARP_LEN, ARP_REPLY, ARP_REQUEST } from "../../src/wire/arp.js";
import { WireError } from "../../src/base/errors.js";
import { ipv4, parseMac } from "../../src/base/ipv4-int.js";
import { FRAMES, filled } from "./helpers.js";

const POD = parseMac("0a:58:0a:f4:01:02");
const GW = parseMac("0a:58:0a:f4:01:01");

test("deconstruct a request", (t) => {
  const p = new ArpPacket(FRAMES.arpRequest, 14).checkLen(28);
  t.is(p.hardwareType(), 1);
  t.is(p.protocolType(), 0x0800);
  t.is(p.hardwareLen(), 6);
  t.is(p.protocolLen(), 4);
  t.is(p.operation(), ARP_REQUEST);
  t.is(p.senderMac(), POD);
  t.is(p.senderIp(), ipv4("10.244.1.2"));
  t.is(p.targetMac(), 0);
  t.is(p.targetIp(), ipv4("10.244.1.1"));
});

test("construct a reply", (t) => {
  const b = filled(30);
  const p = new ArpPacket(b, 1);
  p.setHardwareType(1);
  p.setProtocolType(0x0800);
  p.setHardwareLen(6);
  p.setProtocolLen(4);
  p.setOperation(ARP_REPLY);
  p.setSenderMac(GW);
  p.setSenderIp(ipv4("10.244.1.1"));
  p.setTargetMac(POD);
  p.setTargetIp(ipv4("10.244.1.2"));
  t.deepEqual(b.subarray(1, 29), FRAMES.arpReply.subarray(14));
  t.is(b[0], 0xa5);
  t.is(b[29], 0xa5);
});

test("repr parse and emit", (t) => {
  const repr = ArpRepr.parse(FRAMES.arpReply, 14, 28);
  t.deepEqual(repr, { op: ARP_REPLY, senderMac: GW, senderIp: ipv4("10.244.1.1"), targetMac: POD, targetIp: ipv4("10.244.1.2") });
  const b = filled(28);
  t.is(ArpRepr.emit(repr, b, 0), ARP_LEN);
  t.deepEqual(b, FRAMES.arpReply.subarray(14));
});

function variant(at: number, value: number): Uint8Array {
  const b = FRAMES.arpRequest.slice(14);
  b[at] = value;
  return b;
}

test("only Ethernet/IPv4 requests and replies parse", (t) => {
  const kind = (b: Uint8Array, len = b.length) => t.throws(() => ArpRepr.parse(b, 0, len), { instanceOf: WireError })?.kind;
  t.is(kind(variant(1, 6)), "unsupported"); // htype 6 (IEEE 802)
  t.is(kind(variant(2, 0x86)), "unsupported"); // ptype 0x86dd
  t.is(kind(variant(4, 8)), "malformed"); // hlen 8
  t.is(kind(variant(5, 16)), "malformed"); // plen 16
  t.is(kind(variant(7, 3)), "unsupported"); // RARP request
  t.is(kind(FRAMES.arpRequest.slice(14), 27), "truncated");
  t.is(kind(FRAMES.arpRequest.slice(14), 5), "truncated");
});

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const mac = fc.integer({ min: 0, max: 2 ** 48 - 1 });
const arpRepr = fc.record({ op: fc.constantFrom(1 as const, 2 as const), senderMac: mac, senderIp: u32, targetMac: mac, targetIp: u32 });

testProp("parse ∘ emit is the identity", [arpRepr], (t, repr) => {
  const b = new Uint8Array(ARP_LEN);
  ArpRepr.emit(repr, b, 0);
  t.deepEqual(ArpRepr.parse(b, 0, ARP_LEN), repr);
});
