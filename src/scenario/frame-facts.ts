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
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IcmpPacket,
  Ipv4Packet,
  TcpPacket,
  UdpPacket,
  VXLAN_PORT,
  summarizeFrame,
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

const VXLAN_HEADER_LEN = 8;

export function frameFacts(bytes: Uint8Array, off = 0): FrameFacts | null {
  if (bytes.length - off < ETHERNET_HEADER_LEN + 20) return null;
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
  if (facts.proto === IPPROTO_TCP && l4Len >= 20) {
    const tcp = new TcpPacket(bytes, l4, l4Len);
    facts.sport = tcp.srcPort();
    facts.dport = tcp.dstPort();
    facts.tcpFlags = tcp.flags();
    facts.payloadLen = tcp.payloadLen();
  } else if (facts.proto === IPPROTO_UDP && l4Len >= 8) {
    const udp = new UdpPacket(bytes, l4);
    facts.sport = udp.srcPort();
    facts.dport = udp.dstPort();
    facts.payloadLen = udp.payloadLen();
    if (facts.dport === VXLAN_PORT && l4Len >= 8 + VXLAN_HEADER_LEN + ETHERNET_HEADER_LEN) facts.inner = frameFacts(bytes, l4 + 8 + VXLAN_HEADER_LEN);
  } else if (facts.proto === IPPROTO_ICMP && l4Len >= 8) {
    const icmp = new IcmpPacket(bytes, l4, l4Len);
    facts.icmpType = icmp.type();
    facts.icmpCode = icmp.code();
    facts.nextHopMtu = icmp.nextHopMtu();
  }
  return facts;
}

/** `10.244.1.2:41234`. */
export function endpoint(ip: number, port: number): string {
  return `${formatIpv4(ip)}:${port}`;
}

/** A tcpdump-like line for a logged frame (the evidence's detail). */
export function describeFrame(bytes: Uint8Array): string {
  return summarizeFrame(bytes, 0, bytes.length);
}
