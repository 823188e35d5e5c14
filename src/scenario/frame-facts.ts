/**
 * The facts a scenario asks of a logged frame: addresses, ports, TCP flags, ICMP type, DF
 * and size, and for VXLAN the inner frame's facts too. Parsed with the `wire` views; a frame
 * that is not IPv4 gives null.
 */
import { formatIpv4 } from "../base/index.js";
import {
  ETHERNET_HEADER_LEN,
  ETHERTYPE_IPV4,
  EthernetFrame,
  ICMP_HEADER_LEN,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_MIN_HEADER_LEN,
  IcmpPacket,
  Ipv4Packet,
  TCP_MIN_HEADER_LEN,
  TcpPacket,
  UDP_HEADER_LEN,
  UdpPacket,
  VXLAN_HEADER_LEN,
  VXLAN_PORT,
  ipv4,
  summarizeFrame,
  tcp,
} from "../wire/index.js";

export interface FrameFacts {
  src: number;
  dst: number;
  proto: number;
  /** TCP/UDP ports; 0 otherwise. */
  sport: number;
  dport: number;
  /** TCP flags byte; 0 otherwise. */
  tcpFlags: number;
  /** TCP payload bytes, UDP payload bytes. */
  payloadLen: number;
  icmpType: number;
  icmpCode: number;
  /** ICMP frag-needed's next-hop MTU. */
  nextHopMtu: number;
  dontFrag: boolean;
  /** IPv4 total length. */
  ipLen: number;
  /** The inner frame of a VXLAN packet. */
  inner: FrameFacts | null;
}

export function frameFacts(bytes: Uint8Array, off = 0): FrameFacts | null {
  if (bytes.length - off < ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN) return null;
  const eth = new EthernetFrame(bytes, off);
  if (eth.etherType() !== ETHERTYPE_IPV4) return null;
  const ipOff = off + ETHERNET_HEADER_LEN;
  const ip = new Ipv4Packet(bytes, ipOff);
  const l4 = ipOff + ip.headerLen();
  const facts: FrameFacts = {
    src: ip.srcAddr(),
    dst: ip.dstAddr(),
    proto: ip.protocol(),
    sport: 0,
    dport: 0,
    tcpFlags: 0,
    payloadLen: 0,
    icmpType: -1,
    icmpCode: -1,
    nextHopMtu: 0,
    dontFrag: ip.dontFrag(),
    ipLen: ip.totalLen(),
    inner: null,
  };
  const l4Len = ipOff + ip.totalLen() - l4;
  if (facts.proto === IPPROTO_TCP && l4Len >= TCP_MIN_HEADER_LEN) {
    const tcp = new TcpPacket(bytes, l4, l4Len);
    facts.sport = tcp.srcPort();
    facts.dport = tcp.dstPort();
    facts.tcpFlags = tcp.flags();
    facts.payloadLen = tcp.payloadLen();
  } else if (facts.proto === IPPROTO_UDP && l4Len >= UDP_HEADER_LEN) {
    const udp = new UdpPacket(bytes, l4);
    facts.sport = udp.srcPort();
    facts.dport = udp.dstPort();
    facts.payloadLen = udp.payloadLen();
    if (facts.dport === VXLAN_PORT && l4Len >= UDP_HEADER_LEN + VXLAN_HEADER_LEN + ETHERNET_HEADER_LEN) facts.inner = frameFacts(bytes, udp.payloadOffset() + VXLAN_HEADER_LEN);
  } else if (facts.proto === IPPROTO_ICMP && l4Len >= ICMP_HEADER_LEN) {
    const icmp = new IcmpPacket(bytes, l4, l4Len);
    facts.icmpType = icmp.type();
    facts.icmpCode = icmp.code();
    facts.nextHopMtu = icmp.nextHopMtu();
  }
  return facts;
}

/** Offset of the transport header of the Ethernet/IPv4 frame at `bytes[off..]`. */
export function frameL4Offset(bytes: Uint8Array, off = 0): number {
  return ipv4.payloadOffset(bytes, off + ETHERNET_HEADER_LEN);
}

/** The sequence number of a logged TCP frame. */
export function frameTcpSeq(bytes: Uint8Array, off = 0): number {
  return tcp.seq(bytes, frameL4Offset(bytes, off));
}

/** `10.244.1.2:41234`. */
export function endpoint(ip: number, port: number): string {
  return `${formatIpv4(ip)}:${port}`;
}

/** A tcpdump-like line for a logged frame (the evidence's detail). */
export function describeFrame(bytes: Uint8Array): string {
  return summarizeFrame(bytes, 0, bytes.length);
}
