/**
 * Zero-copy frame building. A `Headroom` is a buffer whose current frame is
 * `buf[head, tail)` with spare room before `head`: encapsulation prepends headers by moving
 * `head` back and writing in place, so the inner bytes are never copied (the inside-out
 * order of gopacket's SerializeBuffer.PrependBytes). Nothing here allocates.
 */
import { checkField, checkRoom, set16, set32 } from "./bytes.js";
import { finishChecksum, pseudoHeaderSum, sumBytes } from "./checksum.js";
import { EthernetFrame, ETHERNET_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4 } from "./ethernet.js";
import { Ipv4Packet, IPV4_MIN_HEADER_LEN, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from "./ipv4.js";
import { UdpPacket, UdpRepr, UDP_HEADER_LEN } from "./udp.js";
import { TcpRepr, TCP_MAX_HEADER_LEN, TCP_MIN_HEADER_LEN } from "./tcp.js";
import { IcmpRepr, ICMP_HEADER_LEN } from "./icmp.js";
import { ArpRepr } from "./arp.js";
import { VxlanHeader, VXLAN_FLAG_I, VXLAN_HEADER_LEN, VXLAN_MAX_VNI } from "./vxlan.js";

export interface Headroom {
  buf: Uint8Array;
  /** First byte of the current frame; bytes before it are free for headers. */
  head: number;
  /** One past the last byte of the current frame. */
  tail: number;
}

/** Fields of a 20-byte IPv4 header written by `prependIpv4` (total length and checksum are computed). */
export interface Ipv4HeaderFields {
  src: number;
  dst: number;
  protocol: number;
  ttl: number;
  ident: number;
  dontFrag: boolean;
  dscp?: number;
  ecn?: number;
}

const eth = new EthernetFrame(new Uint8Array(0));
const ip = new Ipv4Packet(new Uint8Array(0));
const udp = new UdpPacket(new Uint8Array(0));
const vxlan = new VxlanHeader(new Uint8Array(0));

function reserve(b: Headroom, n: number, what: string): number {
  if (b.head < n) throw new RangeError(`${what}: need ${n} bytes of headroom, have ${b.head}`);
  b.head -= n;
  return b.head;
}

/** Prepends a UDP header covering `buf[head, tail)`; a computed checksum of 0 is sent as 0xffff (RFC 768). Returns the new head. */
export function prependUdp(
  b: Headroom,
  srcIp: number,
  dstIp: number,
  srcPort: number,
  dstPort: number,
  computeChecksum = true,
): number {
  const len = b.tail - b.head + UDP_HEADER_LEN;
  checkField("udp length", len, 0xffff - IPV4_MIN_HEADER_LEN);
  checkField("udp src port", srcPort, 0xffff);
  checkField("udp dst port", dstPort, 0xffff);
  const off = reserve(b, UDP_HEADER_LEN, "prependUdp");
  udp.wrap(b.buf, off);
  udp.setSrcPort(srcPort);
  udp.setDstPort(dstPort);
  udp.setLength(len);
  if (computeChecksum) udp.fillChecksum(srcIp, dstIp);
  else udp.setChecksum(0);
  return off;
}

/**
 * Prepends an ICMP header (type, code, the 4 type-specific bytes `rest`) before the data in
 * `buf[head, tail)` and fills the checksum over the whole message. Returns the new head.
 */
export function prependIcmp(b: Headroom, type: number, code: number, rest: number): number {
  checkField("icmp type", type, 0xff);
  checkField("icmp code", code, 0xff);
  checkField("icmp length", b.tail - b.head + ICMP_HEADER_LEN, 0xffff - IPV4_MIN_HEADER_LEN);
  const off = reserve(b, ICMP_HEADER_LEN, "prependIcmp");
  const buf = b.buf;
  buf[off] = type;
  buf[off + 1] = code;
  set16(buf, off + 2, 0);
  set32(buf, off + 4, rest);
  set16(buf, off + 2, finishChecksum(sumBytes(buf, off, b.tail - off)));
  return off;
}

/** Fields of a TCP header written by `prependTcp` (data offset and checksum are computed). */
export interface TcpHeaderFields {
  srcPort: number;
  dstPort: number;
  /** Taken modulo 2^32. */
  seq: number;
  /** Taken modulo 2^32. */
  ack: number;
  flags: number;
  /** The raw window field (already scaled). */
  window: number;
  /** Raw option bytes, already padded to a multiple of 4; null for none. */
  options: Uint8Array | null;
}

/**
 * Prepends a TCP header (urgent pointer 0) before the payload in `buf[head, tail)` and fills
 * its checksum with the pseudo header of `srcIp` → `dstIp`. Returns the new head.
 */
export function prependTcp(b: Headroom, f: TcpHeaderFields, srcIp: number, dstIp: number): number {
  const optLen = f.options === null ? 0 : f.options.length;
  const hl = TCP_MIN_HEADER_LEN + optLen;
  if (hl > TCP_MAX_HEADER_LEN || optLen % 4 !== 0) throw new RangeError(`tcp options: ${optLen} bytes, need a multiple of 4 up to 40`);
  checkField("tcp src port", f.srcPort, 0xffff);
  checkField("tcp dst port", f.dstPort, 0xffff);
  checkField("tcp flags", f.flags, 0xff);
  checkField("tcp window", f.window, 0xffff);
  const len = b.tail - b.head + hl;
  checkField("tcp segment length", len, 0xffff - IPV4_MIN_HEADER_LEN);
  const off = reserve(b, hl, "prependTcp");
  const buf = b.buf;
  set16(buf, off, f.srcPort);
  set16(buf, off + 2, f.dstPort);
  set32(buf, off + 4, f.seq);
  set32(buf, off + 8, f.ack);
  buf[off + 12] = (hl >>> 2) << 4;
  buf[off + 13] = f.flags;
  set16(buf, off + 14, f.window);
  set32(buf, off + 16, 0); // checksum and urgent pointer
  if (f.options !== null) buf.set(f.options, off + TCP_MIN_HEADER_LEN);
  set16(buf, off + 16, finishChecksum(sumBytes(buf, off, len, pseudoHeaderSum(srcIp, dstIp, IPPROTO_TCP, len))));
  return off;
}

/** Prepends a 20-byte IPv4 header (no options) whose total length covers `buf[head, tail)`. Returns the new head. */
export function prependIpv4(b: Headroom, h: Ipv4HeaderFields): number {
  const total = b.tail - b.head + IPV4_MIN_HEADER_LEN;
  checkField("ipv4 total length", total, 0xffff);
  const off = reserve(b, IPV4_MIN_HEADER_LEN, "prependIpv4");
  writeIpv4Header(b.buf, off, total, h.protocol, h.src, h.dst, h.ttl, h.ident, h.dontFrag, h.dscp ?? 0, h.ecn ?? 0);
  return off;
}

/** Prepends an Ethernet header. Returns the new head. */
export function prependEthernet(b: Headroom, dst: number, src: number, etherType: number): number {
  const off = reserve(b, ETHERNET_HEADER_LEN, "prependEthernet");
  eth.wrap(b.buf, off);
  eth.setDstMac(dst);
  eth.setSrcMac(src);
  eth.setEtherType(etherType);
  return off;
}

/** Prepends a VXLAN header with the I flag (RFC 7348). Returns the new head. */
export function prependVxlan(b: Headroom, vni: number): number {
  if (!Number.isInteger(vni) || vni < 0 || vni > VXLAN_MAX_VNI) throw new RangeError(`vxlan vni out of range: ${vni}`);
  const off = reserve(b, VXLAN_HEADER_LEN, "prependVxlan");
  b.buf.fill(0, off, off + VXLAN_HEADER_LEN);
  vxlan.wrap(b.buf, off);
  vxlan.setFlags(VXLAN_FLAG_I);
  vxlan.setVni(vni);
  return off;
}

/** The outer headers of one VXLAN encapsulation. */
export interface VxlanEncap {
  outerSrcMac: number;
  outerDstMac: number;
  srcIp: number;
  dstIp: number;
  /** Linux derives it from a hash of the inner flow. */
  srcPort: number;
  dstPort: number;
  vni: number;
  ttl: number;
  ident: number;
  dontFrag: boolean;
  dscp?: number;
  /** Linux VXLAN devices send a zero UDP checksum over IPv4 unless `udpcsum` is set. */
  udpChecksum?: boolean;
}

/** Wraps the Ethernet frame in `buf[head, tail)` in VXLAN, UDP, IPv4 and Ethernet, in place. Returns the new head. */
export function encapsulateVxlan(b: Headroom, e: VxlanEncap): number {
  prependVxlan(b, e.vni);
  prependUdp(b, e.srcIp, e.dstIp, e.srcPort, e.dstPort, e.udpChecksum ?? false);
  writeIpv4Header(
    b.buf,
    reserve(b, IPV4_MIN_HEADER_LEN, "encapsulateVxlan"),
    b.tail - b.head,
    IPPROTO_UDP,
    e.srcIp,
    e.dstIp,
    e.ttl,
    e.ident,
    e.dontFrag,
    e.dscp ?? 0,
    0,
  );
  return prependEthernet(b, e.outerDstMac, e.outerSrcMac, ETHERTYPE_IPV4);
}

function writeIpv4Header(
  buf: Uint8Array,
  off: number,
  total: number,
  protocol: number,
  src: number,
  dst: number,
  ttl: number,
  ident: number,
  dontFrag: boolean,
  dscp: number,
  ecn: number,
): void {
  checkField("ipv4 total length", total, 0xffff);
  checkField("ipv4 ttl", ttl, 0xff);
  checkField("ipv4 ident", ident, 0xffff);
  checkField("ipv4 protocol", protocol, 0xff);
  checkField("ipv4 dscp", dscp, 0x3f);
  checkField("ipv4 ecn", ecn, 3);
  ip.wrap(buf, off);
  buf[off] = 0x45;
  buf[off + 1] = (dscp << 2) | (ecn & 3);
  ip.setTotalLen(total);
  ip.setIdent(ident);
  set16(buf, off + 6, dontFrag ? 0x4000 : 0);
  ip.setTtl(ttl);
  ip.setProtocol(protocol);
  ip.setSrcAddr(src);
  ip.setDstAddr(dst);
  ip.fillChecksum();
}

/** Ethernet and IPv4 fields of a fresh frame built by the build*Frame functions. */
export interface FrameAddrs {
  srcMac: number;
  dstMac: number;
  srcIp: number;
  dstIp: number;
  /** Default 64. */
  ttl?: number;
  /** Default 0. */
  ident?: number;
  /** Default true (Linux sets DF while path MTU discovery is on). */
  dontFrag?: boolean;
  dscp?: number;
  ecn?: number;
}

const L4_OFFSET = ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN;

function finishFrame(b: Headroom, a: FrameAddrs, protocol: number, l4Len: number): number {
  const off = b.head;
  eth.wrap(b.buf, off);
  eth.setDstMac(a.dstMac);
  eth.setSrcMac(a.srcMac);
  eth.setEtherType(ETHERTYPE_IPV4);
  writeIpv4Header(
    b.buf,
    off + ETHERNET_HEADER_LEN,
    IPV4_MIN_HEADER_LEN + l4Len,
    protocol,
    a.srcIp,
    a.dstIp,
    a.ttl ?? 64,
    a.ident ?? 0,
    a.dontFrag ?? true,
    a.dscp ?? 0,
    a.ecn ?? 0,
  );
  const total = L4_OFFSET + l4Len;
  b.tail = off + total;
  return total;
}

/**
 * Writes Ethernet + IPv4 + UDP + payload at `b.head` and sets `b.tail`; returns the frame
 * length. A `udp.payloadLen` without `udp.payload` means the payload is already in place
 * at `b.head + 42`.
 */
export function buildUdpFrame(b: Headroom, a: FrameAddrs, u: UdpRepr, computeChecksum = true): number {
  checkRoom(b.buf, b.head, L4_OFFSET + UdpRepr.bufferLen(u), "buildUdpFrame");
  const n = UdpRepr.emit(u, b.buf, b.head + L4_OFFSET, a.srcIp, a.dstIp, computeChecksum);
  return finishFrame(b, a, IPPROTO_UDP, n);
}

/** Writes Ethernet + IPv4 + TCP (options and payload) at `b.head` and sets `b.tail`; returns the frame length. */
export function buildTcpFrame(b: Headroom, a: FrameAddrs, t: TcpRepr): number {
  checkRoom(b.buf, b.head, L4_OFFSET + TcpRepr.bufferLen(t), "buildTcpFrame");
  const n = TcpRepr.emit(t, b.buf, b.head + L4_OFFSET, a.srcIp, a.dstIp);
  return finishFrame(b, a, IPPROTO_TCP, n);
}

/** Writes Ethernet + IPv4 + ICMP at `b.head` and sets `b.tail`; returns the frame length. */
export function buildIcmpFrame(b: Headroom, a: FrameAddrs, m: IcmpRepr): number {
  checkRoom(b.buf, b.head, L4_OFFSET + IcmpRepr.bufferLen(m), "buildIcmpFrame");
  const n = IcmpRepr.emit(m, b.buf, b.head + L4_OFFSET);
  return finishFrame(b, a, IPPROTO_ICMP, n);
}

/** Writes Ethernet + ARP at `b.head` (unpadded, 42 bytes, as Linux hands it to the driver) and sets `b.tail`; returns the frame length. */
export function buildArpFrame(b: Headroom, srcMac: number, dstMac: number, arp: ArpRepr): number {
  const off = b.head;
  checkRoom(b.buf, off, ETHERNET_HEADER_LEN + ArpRepr.bufferLen(arp), "buildArpFrame");
  eth.wrap(b.buf, off);
  eth.setDstMac(dstMac);
  eth.setSrcMac(srcMac);
  eth.setEtherType(ETHERTYPE_ARP);
  const n = ETHERNET_HEADER_LEN + ArpRepr.emit(arp, b.buf, off + ETHERNET_HEADER_LEN);
  b.tail = off + n;
  return n;
}
