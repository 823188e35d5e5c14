import test from "ava";
import { testProp, fc } from "@fast-check/ava";
import { summarizeFrame, summarizeIpv4 } from "../../src/wire/summary.js";
import { buildTcpFrame, buildUdpFrame, buildIcmpFrame } from "../../src/wire/builder.js";
import type { Headroom, FrameAddrs } from "../../src/wire/builder.js";
import { TCP_SYN, TCP_ACK, TCP_RST } from "../../src/wire/tcp.js";
import { ipv4, parseMac } from "../../src/base/ipv4-int.js";
import { FRAMES } from "./helpers.js";

const sum = (f: Uint8Array) => summarizeFrame(f, 0, f.length);
const POD: FrameAddrs = {
  srcMac: parseMac("0a:58:0a:f4:01:02"),
  dstMac: parseMac("0a:58:0a:f4:01:01"),
  srcIp: ipv4("10.244.1.2"),
  dstIp: ipv4("10.244.2.3"),
};
function built(f: (b: Headroom) => number): Uint8Array {
  const b: Headroom = { buf: new Uint8Array(1600), head: 0, tail: 0 };
  f(b);
  return b.buf.subarray(b.head, b.tail);
}

test("ARP", (t) => {
  t.is(sum(FRAMES.arpRequest), "ARP, Request who-has 10.244.1.1 tell 10.244.1.2, length 28");
  t.is(sum(FRAMES.arpReply), "ARP, Reply 10.244.1.1 is-at 0a:58:0a:f4:01:01, length 28");
});

test("UDP", (t) => {
  t.is(sum(FRAMES.udp), "10.244.1.2.40000 > 10.244.2.3.8080: UDP, length 5");
});

test("TCP", (t) => {
  const syn = built((b) => buildTcpFrame(b, { ...POD, dstIp: ipv4("10.244.2.3") }, { srcPort: 40000, dstPort: 80, seq: 1000, ack: 0, flags: TCP_SYN, window: 64240, payload: new Uint8Array(0) }));
  t.is(sum(syn), "10.244.1.2.40000 > 10.244.2.3.80: Flags [S], seq 1000, win 64240, length 0");
  t.is(sum(FRAMES.tcpSyn), "10.244.1.2.40000 > 10.244.2.3.80: Flags [S], seq 1000, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0");
  t.is(sum(FRAMES.tcpData), "10.244.1.2.40000 > 10.244.2.3.80: Flags [P.], seq 1001:1019, ack 5001, win 502, length 18");
  const ack = built((b) => buildTcpFrame(b, POD, { srcPort: 40000, dstPort: 80, seq: 1019, ack: 5001, flags: TCP_ACK, window: 502, payload: new Uint8Array(0) }));
  t.is(sum(ack), "10.244.1.2.40000 > 10.244.2.3.80: Flags [.], ack 5001, win 502, length 0");
  const rst = built((b) => buildTcpFrame(b, POD, { srcPort: 80, dstPort: 40000, seq: 0, ack: 1001, flags: TCP_RST | TCP_ACK, window: 0, payload: new Uint8Array(0) }));
  t.is(sum(rst), "10.244.1.2.80 > 10.244.2.3.40000: Flags [R.], seq 0, ack 1001, win 0, length 0");
});

test("ICMP", (t) => {
  t.is(sum(FRAMES.echo), "10.244.1.2 > 192.168.56.12: ICMP echo request, id 1, seq 1, length 64");
  t.is(sum(FRAMES.portUnreachable), "10.244.2.1 > 10.244.1.2: ICMP 10.244.2.3 udp port 8080 unreachable, length 36");
  const to9999 = built((b) => buildUdpFrame(b, POD, { srcPort: 40000, dstPort: 9999, payload: new Uint8Array(3) })).slice(14, 42);
  const gw = { ...POD, srcIp: ipv4("10.244.2.1"), dstIp: ipv4("10.244.1.2") };
  const unreach = built((b) => buildIcmpFrame(b, gw, { kind: "dst-unreachable", code: 3, quoted: to9999 }));
  t.is(sum(unreach), "10.244.2.1 > 10.244.1.2: ICMP 10.244.2.3 udp port 9999 unreachable, length 36");
  t.is(sum(FRAMES.fragNeeded), "10.244.2.1 > 10.244.1.2: ICMP 10.244.2.3 unreachable - need to frag (mtu 1450), length 41");
  t.is(sum(FRAMES.timeExceeded), "10.244.2.1 > 10.244.1.2: ICMP time exceeded in-transit, length 41");
  const prohibited = built((b) => buildIcmpFrame(b, gw, { kind: "dst-unreachable", code: 13, quoted: to9999 }));
  t.is(sum(prohibited), "10.244.2.1 > 10.244.1.2: ICMP 10.244.2.3 unreachable - admin prohibited filter, length 36");
});

test("DNS", (t) => {
  t.is(sum(FRAMES.dnsQuery), "10.244.1.2.40000 > 10.96.0.10.53: 4660+ A? web.default.svc.cluster.local. (47)");
  t.is(sum(FRAMES.dnsAnswer), "10.96.0.10.53 > 10.244.1.2.40000: 4660 1/0/0 A 10.96.12.34 (63)");
  t.is(sum(FRAMES.dnsNxdomain), "10.96.0.10.53 > 10.244.1.2.40000: 4660 NXDomain* 0/1/0 (95)");
});

test("VXLAN", (t) => {
  t.is(
    sum(FRAMES.vxlan),
    "192.168.56.11.41234 > 192.168.56.12.8472: VXLAN, flags [I] (0x08), vni 1: 10.244.1.2.40000 > 10.244.2.3.8080: UDP, length 5",
  );
});

test("summarizeIpv4 starts at the IP header", (t) => {
  t.is(summarizeIpv4(FRAMES.udp, 14, FRAMES.udp.length - 14), sum(FRAMES.udp));
  t.is(summarizeIpv4(FRAMES.udp, 14, 10), "IP truncated (need 20 bytes, have 10)");
});

test("broken parts are described, not thrown", (t) => {
  t.is(summarizeFrame(FRAMES.udp, 0, 30), "IP truncated (need 20 bytes, have 16)");
  t.is(summarizeFrame(FRAMES.udp, 0, 40), "IP truncated (total length 33, have 26)");
  t.is(summarizeFrame(FRAMES.udp, 0, 5), "Ethernet truncated, length 5");
  t.is(summarizeFrame(FRAMES.udp, 0, 1000), sum(FRAMES.udp), "a length past the buffer is clamped");
  const badSum = FRAMES.udp.slice();
  badSum[46] ^= 1;
  t.is(sum(badSum), "10.244.1.2.40000 > 10.244.2.3.8080: UDP, length 5 [bad udp cksum 0xe744]");
  const ipv6 = FRAMES.udp.slice();
  ipv6[12] = 0x86;
  ipv6[13] = 0xdd;
  t.is(sum(ipv6), "ethertype 0x86dd, length 47");
  const shortArp = FRAMES.arpRequest.subarray(0, 30);
  t.true(sum(shortArp).startsWith("ARP truncated"));
});

const frames = Object.values(FRAMES);

testProp("never throws on random bytes", [fc.uint8Array({ maxLength: 200 }), fc.nat(220), fc.nat(220)], (t, bytes, off, len) => {
  for (const s of [summarizeFrame(bytes, off, len), summarizeIpv4(bytes, off, len)]) {
    t.is(typeof s, "string");
    t.false(s.includes("[summary error"), s);
  }
});

testProp(
  "never throws on mutated real frames",
  [fc.nat(frames.length - 1), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.nat(200)],
  (t, which, edits, cut) => {
    const f = frames[which]!.slice();
    for (const [i, v] of edits) f[i % f.length] = v;
    const s = summarizeFrame(f, 0, Math.min(cut, f.length));
    t.false(s.includes("[summary error"), s);
  },
  { numRuns: 2000 },
);
