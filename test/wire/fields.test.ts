/**
 * The allocation-free field accessors over `(bytes, offset)` (`ipv4`, `tcp`, `udp`, `icmp`,
 * `eth`, `arp`, `vxlan`, `sctp`, `ports`): reads from the tshark-checked frames in
 * helpers.ts, setters against byte vectors computed independently (full checksum
 * recomputation), and the incremental checksum patches against full recomputation.
 */
import test from "ava";
import { testProp, fc } from "@fast-check/ava";
import { ipv4 as parseIp } from "../../src/base/ipv4-int.js";
import {
  ARP_REQUEST,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ICMP_ECHO_REPLY,
  IPPROTO_TCP,
  IPPROTO_UDP,
  SctpRepr,
  TCP_SYN,
  arp,
  eth,
  foldSum,
  icmp,
  ipv4,
  isIcmpError,
  isIcmpQuery,
  ports,
  prependIcmp,
  prependTcp,
  pseudoHeaderSum,
  sctp,
  sctpChecksum,
  sumBytes,
  tcp,
  udp,
  updateChecksum16,
  updateChecksum32,
  vxlan,
} from "../../src/wire/index.js";
import { FRAMES, hex, toHex } from "./helpers.js";

const IP = 14;
const L4 = 34;

test("ipv4 reads every field of the udp frame", (t) => {
  const b = FRAMES.udp;
  t.is(ipv4.version(b, IP), 4);
  t.is(ipv4.headerLen(b, IP), 20);
  t.is(ipv4.payloadOffset(b, IP), L4);
  t.is(ipv4.tos(b, IP), 0);
  t.is(ipv4.totalLen(b, IP), 0x21);
  t.is(ipv4.ident(b, IP), 0);
  t.true(ipv4.dontFrag(b, IP));
  t.false(ipv4.isFragment(b, IP));
  t.is(ipv4.fragOffset(b, IP), 0);
  t.is(ipv4.ttl(b, IP), 64);
  t.is(ipv4.protocol(b, IP), IPPROTO_UDP);
  t.is(ipv4.checksum(b, IP), 0x21e0);
  t.is(ipv4.src(b, IP), parseIp("10.244.1.2"));
  t.is(ipv4.dst(b, IP), parseIp("10.244.2.3"));
  t.true(ipv4.verifyChecksum(b, IP));
});

test("ipv4 header length and payload offset follow IHL (options)", (t) => {
  const b = hex("46c0 0020 0000 4000 0102 f726 0af40102 e00000fb 94040000 1600 0904 e00000fb");
  t.is(ipv4.headerLen(b, 0), 24);
  t.is(ipv4.payloadOffset(b, 0), 24);
  t.is(ipv4.tos(b, 0), 0xc0);
  t.true(ipv4.verifyChecksum(b, 0));
  b[11] ^= 1;
  t.false(ipv4.verifyChecksum(b, 0));
});

test("ipv4 fragments: MF or an offset is a fragment; only an offset is a later one", (t) => {
  const first = hex("4500 0021 0001 2000 4011 0000 0af40102 0af40203"); // MF, offset 0
  const later = hex("4500 0021 0001 00b9 4011 0000 0af40102 0af40203"); // offset 185 × 8
  const dfOnly = hex("4500 0021 0001 4000 4011 0000 0af40102 0af40203");
  t.true(ipv4.isFragment(first, 0));
  t.is(ipv4.fragOffset(first, 0), 0);
  t.true(ipv4.isFragment(later, 0));
  t.is(ipv4.fragOffset(later, 0), 1480);
  t.false(ipv4.isFragment(dfOnly, 0));
  t.false(ipv4.dontFrag(later, 0));
});

test("ipv4.setTtl patches the header checksum (TTL 64 → 63)", (t) => {
  const b = FRAMES.udp.slice(IP, L4);
  ipv4.setTtl(b, 0, ipv4.ttl(b, 0) - 1);
  t.is(toHex(b), "45000021000040003f1122e00af401020af40203");
});

test("ipv4.setDst / setSrc patch the header checksum; with udp/tcp they match a full recomputation", (t) => {
  // DNAT of the udp datagram to 10.244.3.4:80 (vector computed by full recomputation).
  const u = FRAMES.udp.slice(IP);
  const old = ipv4.dst(u, 0);
  udp.patchForAddr(u, 20, old, parseIp("10.244.3.4"));
  udp.setDstPort(u, 20, 80);
  ipv4.setDst(u, 0, parseIp("10.244.3.4"));
  t.is(toHex(u), "4500002100004000401120df0af401020af403049c400050000d058468656c6c6f");
  // SNAT of the SYN to 192.168.56.11:61000.
  const s = FRAMES.tcpSyn.slice(IP);
  tcp.patchForAddr(s, 20, ipv4.src(s, 0), parseIp("192.168.56.11"));
  tcp.setSrcPort(s, 20, 61000);
  ipv4.setSrc(s, 0, parseIp("192.168.56.11"));
  t.is(toHex(s), "4500003c0000400040063512c0a8380b0af40203ee480050000003e800000000a002faf054e30000020405b40402080a000000010000000001030307");
});

test("tcp reads every field of the SYN", (t) => {
  const b = FRAMES.tcpSyn;
  t.is(tcp.srcPort(b, L4), 40000);
  t.is(tcp.dstPort(b, L4), 80);
  t.is(tcp.seq(b, L4), 1000);
  t.is(tcp.ack(b, L4), 0);
  t.is(tcp.headerLen(b, L4), 40);
  t.is(tcp.payloadOffset(b, L4), L4 + 40);
  t.is(tcp.flags(b, L4), TCP_SYN);
  t.is(tcp.window(b, L4), 64240);
  t.is(tcp.checksum(b, L4), 0x93a9);
  t.true(tcp.verifyChecksum(b, L4, b.length - L4, ipv4.src(b, IP), ipv4.dst(b, IP)));
  t.false(tcp.verifyChecksum(b, L4, b.length - L4, ipv4.src(b, IP) + 1, ipv4.dst(b, IP)));
  const d = FRAMES.tcpData;
  t.is(tcp.seq(d, L4), 1001);
  t.is(tcp.ack(d, L4), 5001);
  t.is(tcp.headerLen(d, L4), 20);
});

test("udp reads every field; a zero checksum stays zero and counts as valid", (t) => {
  const b = FRAMES.udp.slice();
  t.is(udp.srcPort(b, L4), 40000);
  t.is(udp.dstPort(b, L4), 8080);
  t.is(udp.length(b, L4), 13);
  t.is(udp.payloadOffset(b, L4), L4 + 8);
  t.is(udp.checksum(b, L4), 0xe744);
  t.true(udp.verifyChecksum(b, L4, ipv4.src(b, IP), ipv4.dst(b, IP)));
  t.false(udp.verifyChecksum(b, L4, ipv4.src(b, IP), ipv4.dst(b, IP) ^ 1));
  udp.setChecksum(b, L4, 0);
  udp.setDstPort(b, L4, 53);
  udp.patchForAddr(b, L4, 1, 2);
  t.is(udp.checksum(b, L4), 0);
  t.is(udp.dstPort(b, L4), 53);
  t.true(udp.verifyChecksum(b, L4, 7, 9));
});

test("udp: a patched checksum of 0 is sent as 0xffff", (t) => {
  // Destination port 1749 makes this datagram's checksum compute to 0.
  const b = FRAMES.udp.slice();
  udp.setDstPort(b, L4, 1749);
  t.is(udp.checksum(b, L4), 0xffff);
  t.true(udp.verifyChecksum(b, L4, ipv4.src(b, IP), ipv4.dst(b, IP)));
});

test("ports reads and writes the first four bytes of any port-carrying transport, checksum untouched", (t) => {
  const b = FRAMES.udp.slice();
  t.is(ports.src(b, L4), 40000);
  t.is(ports.dst(b, L4), 8080);
  ports.setSrc(b, L4, 1);
  ports.setDst(b, L4, 0xfffe);
  t.is(toHex(b.subarray(L4, L4 + 8)), "0001fffe000de744");
  ports.swap(b, L4);
  t.is(toHex(b.subarray(L4, L4 + 8)), "fffe0001000de744");
  // Swapping both addresses and both ports keeps the UDP checksum valid (the echo reply's trick).
  const e = FRAMES.udp.slice();
  ports.swap(e, L4);
  t.true(udp.verifyChecksum(e, L4, ipv4.dst(e, IP), ipv4.src(e, IP)));
});

test("icmp reads echo fields; setType and setEchoIdent patch the checksum", (t) => {
  const b = FRAMES.echo.slice(L4);
  t.is(icmp.type(b, 0), 8);
  t.is(icmp.code(b, 0), 0);
  t.is(icmp.checksum(b, 0), 0x5157);
  t.is(icmp.echoIdent(b, 0), 1);
  t.is(icmp.echoSeq(b, 0), 1);
  t.is(icmp.rest(b, 0), 0x00010001);
  t.is(icmp.payloadOffset(b, 0), 8);
  t.true(icmp.verifyChecksum(b, 0, b.length));
  icmp.setType(b, 0, ICMP_ECHO_REPLY);
  t.is(toHex(b.subarray(0, 8)), "0000595700010001");
  const c = FRAMES.echo.slice(L4);
  icmp.setEchoIdent(c, 0, 0x1234);
  t.is(icmp.checksum(c, 0), 0x3f24);
  t.true(icmp.verifyChecksum(c, 0, c.length));
});

test("icmp errors: next-hop MTU, quoted header, fillChecksum after a quoted rewrite", (t) => {
  const b = FRAMES.fragNeeded.slice(L4);
  t.is(icmp.nextHopMtu(b, 0), 1450);
  const q = icmp.payloadOffset(b, 0);
  t.is(ipv4.dst(b, q), parseIp("10.244.2.3"));
  // A patched quoted header keeps its sum (so the ICMP checksum holds); a bare port write does not.
  ipv4.setDst(b, q, parseIp("10.96.0.1"));
  t.true(icmp.verifyChecksum(b, 0, b.length));
  ports.setDst(b, ipv4.payloadOffset(b, q), 53);
  t.false(icmp.verifyChecksum(b, 0, b.length));
  icmp.fillChecksum(b, 0, b.length);
  t.true(icmp.verifyChecksum(b, 0, b.length));
  t.true(ipv4.verifyChecksum(b, q));
});

test("isIcmpError / isIcmpQuery follow icmp_is_err and icmp_manip_pkt's query types", (t) => {
  t.deepEqual([...Array(20).keys()].filter(isIcmpError), [3, 4, 5, 11, 12]);
  t.deepEqual([...Array(20).keys()].filter(isIcmpQuery), [0, 8, 13, 14, 15, 16, 17, 18]);
});

test("eth reads and writes MACs and the EtherType", (t) => {
  const b = FRAMES.udp.slice();
  t.is(eth.dst(b, 0), 0x0a580af40101);
  t.is(eth.src(b, 0), 0x0a580af40102);
  t.is(eth.etherType(b, 0), ETHERTYPE_IPV4);
  t.is(eth.payloadOffset(b, 0), IP);
  t.false(eth.isGroupDst(b, 0));
  t.true(eth.isGroupDst(FRAMES.arpRequest, 0));
  eth.setDst(b, 0, 0xffffffffffff);
  eth.setSrc(b, 0, 0x020000000001);
  t.is(toHex(b.subarray(0, 14)), "ffffffffffff0200000000010800");
});

test("arp reads the request and reply; isEthernetIpv4 rejects other kinds and short packets", (t) => {
  const a = FRAMES.arpRequest;
  t.is(eth.etherType(a, 0), ETHERTYPE_ARP);
  t.true(arp.isEthernetIpv4(a, 14, a.length - 14));
  t.is(arp.operation(a, 14), ARP_REQUEST);
  t.is(arp.senderMac(a, 14), 0x0a580af40102);
  t.is(arp.senderIp(a, 14), parseIp("10.244.1.2"));
  t.is(arp.targetMac(a, 14), 0);
  t.is(arp.targetIp(a, 14), parseIp("10.244.1.1"));
  t.is(arp.operation(FRAMES.arpReply, 14), 2);
  t.false(arp.isEthernetIpv4(a, 14, 27));
  for (const [at, v] of [[15, 6], [17, 0xdd], [18, 8], [19, 16]] as const) {
    const bad = a.slice();
    bad[at] = v;
    t.false(arp.isEthernetIpv4(bad, 14, 28), `byte ${at} = ${v}`);
  }
});

test("vxlan reads the flags and VNI of the encapsulated frame", (t) => {
  const b = FRAMES.vxlan;
  const h = L4 + 8;
  t.is(vxlan.flags(b, h), 0x08);
  t.true(vxlan.hasVni(b, h));
  t.is(vxlan.vni(b, h), 1);
  t.is(vxlan.payloadOffset(b, h), h + 8);
  t.is(eth.etherType(b, vxlan.payloadOffset(b, h)), ETHERTYPE_IPV4);
  const noI = hex("00000000 00000100");
  t.false(vxlan.hasVni(noI, 0));
  t.is(vxlan.vni(hex("08000000 abcdef00"), 0), 0xabcdef);
});

test("sctp reads the tag, checksum and chunk headers of an INIT", (t) => {
  const repr = {
    srcPort: 5000,
    dstPort: 9000,
    verificationTag: 0,
    chunks: [{ type: "INIT" as const, initiateTag: 0x11223344, aRwnd: 106496, outStreams: 10, inStreams: 65535, initialTsn: 7 }],
  };
  const b = new Uint8Array(SctpRepr.bufferLen(repr));
  SctpRepr.emit(repr, b, 0);
  t.is(ports.src(b, 0), 5000);
  t.is(sctp.verificationTag(b, 0), 0);
  t.is(sctp.checksum(b, 0), sctpChecksum(b, 0, b.length));
  t.is(b[8], sctp.checksum(b, 0) & 0xff, "least significant byte first");
  const at = sctp.chunksOffset(b, 0);
  t.is(at, 12);
  t.is(sctp.chunkType(b, at), 1);
  t.is(sctp.chunkFlags(b, at), 0);
  t.is(sctp.chunkLen(b, at), 20);
  t.is(sctp.chunkSpan(b, at), 20);
  t.is(sctp.initiateTag(b, at), 0x11223344);
  t.is(sctp.chunkSpan(hex("00030005"), 0), 8, "padded to a multiple of 4");
});

test("prependTcp writes the SYN of the tshark-checked frame", (t) => {
  const want = FRAMES.tcpSyn.subarray(L4);
  const pkt = { buf: new Uint8Array(128), head: 128, tail: 128 };
  const head = prependTcp(
    pkt,
    { srcPort: 40000, dstPort: 80, seq: 1000, ack: 0, flags: TCP_SYN, window: 64240, options: want.slice(20, 40) },
    parseIp("10.244.1.2"),
    parseIp("10.244.2.3"),
  );
  t.is(head, 88);
  t.is(toHex(pkt.buf.subarray(pkt.head, pkt.tail)), toHex(want));
  t.throws(() => prependTcp({ buf: new Uint8Array(64), head: 64, tail: 64 }, { srcPort: 1, dstPort: 2, seq: 0, ack: 0, flags: 0, window: 0x10000, options: null }, 0, 0), { instanceOf: RangeError });
  t.throws(() => prependTcp({ buf: new Uint8Array(64), head: 64, tail: 64 }, { srcPort: 1, dstPort: 2, seq: 0, ack: 0, flags: 0, window: 0, options: new Uint8Array(3) }, 0, 0), { instanceOf: RangeError });
});

test("prependIcmp writes the echo request of the tshark-checked frame", (t) => {
  const want = FRAMES.echo.subarray(L4);
  const buf = new Uint8Array(128);
  buf.set(want.subarray(8), 64);
  const pkt = { buf, head: 64, tail: 64 + want.length - 8 };
  t.is(prependIcmp(pkt, 8, 0, 0x00010001), 56);
  t.is(toHex(buf.subarray(pkt.head, pkt.tail)), toHex(want));
  t.throws(() => prependIcmp({ buf: new Uint8Array(4), head: 4, tail: 4 }, 8, 0, 0), { instanceOf: RangeError });
});

// The unrolled folds of updateChecksum16/32 against the textbook RFC 1624 eqn. 3 with a loop fold.
function slowUpdate(csum: number, oldWords: number[], newWords: number[]): number {
  let s = ~csum & 0xffff;
  for (const w of oldWords) s += ~w & 0xffff;
  for (const w of newWords) s += w & 0xffff;
  return ~foldSum(s) & 0xffff;
}

testProp("updateChecksum16/32 equal RFC 1624 eqn. 3 with a full fold", [fc.integer({ min: 0, max: 0xffff }), fc.nat(0xffffffff), fc.nat(0xffffffff)], (t, c, a, b) => {
  t.is(updateChecksum16(c, a & 0xffff, b & 0xffff), slowUpdate(c, [a & 0xffff], [b & 0xffff]));
  t.is(updateChecksum32(c, a, b), slowUpdate(c, [a >>> 16, a & 0xffff], [b >>> 16, b & 0xffff]));
});

// NAT through the accessors gives the very bytes a full recomputation gives.
testProp(
  "address and port rewrites through the accessors equal a full checksum recomputation",
  [fc.nat(0xffffffff), fc.nat(0xffff), fc.boolean(), fc.boolean(), fc.uint8Array({ minLength: 0, maxLength: 40 })],
  (t, addr, port, isTcp, src, payload) => {
    const b = new Uint8Array(20 + (isTcp ? 20 : 8) + payload.length);
    b.set(hex("4500 0000 1234 4000 4000 0000 0af40102 0af40203"));
    b[3] = b.length;
    b[9] = isTcp ? IPPROTO_TCP : IPPROTO_UDP;
    const l4 = 20;
    b.set(isTcp ? hex("9c40 0050 000003e8 00000000 5010 faf0 0000 0000") : hex("9c40 0035 0000 0000"), l4);
    if (!isTcp) b[l4 + 5] = b.length - 20;
    b.set(payload, l4 + (isTcp ? 20 : 8));
    const full = (x: Uint8Array) => {
      x[10] = x[11] = 0;
      const c = ~foldSum(sumBytes(x, 0, 20)) & 0xffff;
      x[10] = c >>> 8;
      x[11] = c & 0xff;
      const ck = l4 + (isTcp ? 16 : 6);
      x[ck] = x[ck + 1] = 0;
      const len = x.length - l4;
      let s = ~foldSum(sumBytes(x, l4, len, pseudoHeaderSum(ipv4.src(x, 0), ipv4.dst(x, 0), x[9]!, len))) & 0xffff;
      if (!isTcp && s === 0) s = 0xffff;
      x[ck] = s >>> 8;
      x[ck + 1] = s & 0xff;
    };
    full(b);
    const want = b.slice();
    if (src) {
      ipv4.setSrc(want, 0, addr);
      ports.setSrc(want, l4, port);
    } else {
      ipv4.setDst(want, 0, addr);
      ports.setDst(want, l4, port);
    }
    full(want);
    const old = src ? ipv4.src(b, 0) : ipv4.dst(b, 0);
    const l = isTcp ? tcp : udp;
    l.patchForAddr(b, l4, old, addr);
    if (src) l.setSrcPort(b, l4, port);
    else l.setDstPort(b, l4, port);
    if (src) ipv4.setSrc(b, 0, addr);
    else ipv4.setDst(b, 0, addr);
    t.is(toHex(b), toHex(want));
  },
);
