/** Every parser, given arbitrary bytes, either parses or throws a WireError — never anything else. */
import { testProp, fc } from "@fast-check/ava";
import { EthernetRepr, EthernetFrame } from "../../src/wire/ethernet.js";
import { ArpRepr } from "../../src/wire/arp.js";
import { Ipv4Repr, Ipv4Packet } from "../../src/wire/ipv4.js";
import { IcmpRepr } from "../../src/wire/icmp.js";
import { UdpRepr } from "../../src/wire/udp.js";
import { TcpRepr, parseTcpOptions } from "../../src/wire/tcp.js";
import { VxlanRepr } from "../../src/wire/vxlan.js";
import { DnsRepr } from "../../src/wire/dns.js";
import { FRAMES, parsesOrWireError } from "./helpers.js";

const parsers: [string, (b: Uint8Array, off: number, len: number) => unknown][] = [
  ["ethernet", (b, o, l) => EthernetRepr.parse(b, o, l)],
  ["ethernet view", (b, o, l) => new EthernetFrame(b, o).checkLen(l)],
  ["arp", (b, o, l) => ArpRepr.parse(b, o, l)],
  ["ipv4", (b, o, l) => Ipv4Repr.parse(b, o, l)],
  ["ipv4 unverified", (b, o, l) => Ipv4Repr.parse(b, o, l, false)],
  ["ipv4 view", (b, o, l) => new Ipv4Packet(b, o).checkLen(l).payload()],
  ["icmp", (b, o, l) => IcmpRepr.parse(b, o, l)],
  ["icmp unverified", (b, o, l) => IcmpRepr.parse(b, o, l, false)],
  ["udp", (b, o, l) => UdpRepr.parse(b, o, l)],
  ["udp verified", (b, o, l) => UdpRepr.parse(b, o, l, 0x0a000001, 0x0a000002)],
  ["tcp", (b, o, l) => TcpRepr.parse(b, o, l)],
  ["tcp verified", (b, o, l) => TcpRepr.parse(b, o, l, 0x0a000001, 0x0a000002)],
  ["tcp options", (b, o, l) => parseTcpOptions(b.subarray(o, o + l))],
  ["vxlan", (b, o, l) => VxlanRepr.parse(b, o, l)],
  ["dns", (b, o, l) => DnsRepr.parse(b, o, l)],
];

const input = fc.uint8Array({ maxLength: 300 }).chain((b) => fc.tuple(fc.constant(b), fc.nat(b.length + 4), fc.nat(b.length + 10)));

for (const [name, parse] of parsers) {
  testProp(`${name}: random bytes parse or throw WireError`, [input], (t, [b, off, len]) => {
    parsesOrWireError(t, () => parse(b, off, len));
  });
}

// Random bytes seldom get past the first checks; mutating real messages reaches deeper code.
const payloads: [string, Uint8Array][] = [
  ["dns", FRAMES.dnsAnswer.subarray(42)],
  ["dns nxdomain", FRAMES.dnsNxdomain.subarray(42)],
  ["tcp options", FRAMES.tcpSyn.subarray(54)],
];
for (const [name, bytes] of payloads) {
  testProp(
    `${name}: mutated messages parse or throw WireError`,
    [fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 5 }), fc.nat(bytes.length)],
    (t, edits, cut) => {
      const b = bytes.slice();
      for (const [i, v] of edits) b[i % b.length] = v;
      parsesOrWireError(t, () => (name === "tcp options" ? parseTcpOptions(b.subarray(0, cut)) : DnsRepr.parse(b, 0, cut)));
    },
    { numRuns: 1000 },
  );
}
