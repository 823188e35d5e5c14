/**
 * One tcpdump-like line per Ethernet frame, for traces and test failures. Never throws:
 * parts that do not parse are described (`IP truncated (…)`) instead.
 */
import { formatIpv4, formatMac } from "../base/ipv4-int.js";
import { WireError } from "../base/errors.js";
import { get16, get32 } from "./bytes.js";
import { EthernetFrame, ETHERNET_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4 } from "./ethernet.js";
import { ArpPacket, ARP_REPLY, ARP_REQUEST } from "./arp.js";
import { Ipv4Packet, IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from "./ipv4.js";
import { SctpPacket, sctpChunkName } from "./sctp.js";
import { UdpPacket } from "./udp.js";
import { TcpPacket, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, TCP_URG, parseTcpOptions, tcpFlagsString } from "./tcp.js";
import type { TcpOption } from "./tcp.js";
import {
  IcmpPacket,
  ICMP_ADMIN_PROHIBITED,
  ICMP_DST_UNREACHABLE,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_FRAG_NEEDED,
  ICMP_HOST_PROHIBITED,
  ICMP_HOST_UNREACHABLE,
  ICMP_NET_PROHIBITED,
  ICMP_NET_UNREACHABLE,
  ICMP_PARAM_PROBLEM,
  ICMP_PORT_UNREACHABLE,
  ICMP_PROTO_UNREACHABLE,
  ICMP_REDIRECT,
  ICMP_TIME_EXCEEDED,
} from "./icmp.js";
import { VxlanHeader, VXLAN_FLAG_I, VXLAN_PORT } from "./vxlan.js";
import { DnsRepr, DNS_PORT, dnsTypeName } from "./dns.js";
import type { DnsRecord } from "./dns.js";

/** VXLAN inside VXLAN beyond this depth is not described further. */
const MAX_DEPTH = 4;

/** Summarises the Ethernet frame of `len` bytes at `buf[off..]` in one line. */
export function summarizeFrame(buf: Uint8Array, off: number, len: number): string {
  try {
    const n = Math.max(0, Math.min(len, buf.length - off));
    return frame(buf, off, n, 0);
  } catch (e) {
    // Only a bug in this file can land here; say so rather than throw from a trace printer.
    return `[summary error: ${e instanceof Error ? e.message : String(e)}]`;
  }
}

/** Summarises a bare IPv4 datagram of `len` bytes at `buf[off..]` (no Ethernet header), like summarizeFrame. */
export function summarizeIpv4(buf: Uint8Array, off: number, len: number): string {
  try {
    const n = Math.max(0, Math.min(len, buf.length - off));
    return ipv4(buf, off, n, 0);
  } catch (e) {
    return `[summary error: ${e instanceof Error ? e.message : String(e)}]`;
  }
}

function describe(e: unknown, what: string): string {
  if (e instanceof WireError) return `${what} ${e.kind} (${e.detail})`;
  throw e;
}

function frame(buf: Uint8Array, off: number, len: number, depth: number): string {
  if (len < ETHERNET_HEADER_LEN) return `Ethernet truncated, length ${len}`;
  const type = new EthernetFrame(buf, off).etherType();
  const body = off + ETHERNET_HEADER_LEN;
  const bodyLen = len - ETHERNET_HEADER_LEN;
  if (type === ETHERTYPE_ARP) return arp(buf, body, bodyLen);
  if (type === ETHERTYPE_IPV4) return ipv4(buf, body, bodyLen, depth);
  return `ethertype 0x${type.toString(16).padStart(4, "0")}, length ${len}`;
}

function arp(buf: Uint8Array, off: number, len: number): string {
  const p = new ArpPacket(buf, off);
  try {
    p.checkLen(len);
  } catch (e) {
    return describe(e, "ARP");
  }
  const op = p.operation();
  if (op === ARP_REQUEST) {
    const tha = p.targetMac();
    const asked = tha === 0 ? "" : ` (${formatMac(tha)})`;
    return `ARP, Request who-has ${formatIpv4(p.targetIp())}${asked} tell ${formatIpv4(p.senderIp())}, length ${len}`;
  }
  if (op === ARP_REPLY) return `ARP, Reply ${formatIpv4(p.senderIp())} is-at ${formatMac(p.senderMac())}, length ${len}`;
  return `ARP, op ${op}, length ${len}`;
}

function ipv4(buf: Uint8Array, off: number, len: number, depth: number): string {
  const ip = new Ipv4Packet(buf, off);
  try {
    ip.checkLen(len);
  } catch (e) {
    return describe(e, "IP");
  }
  const src = formatIpv4(ip.srcAddr());
  const dst = formatIpv4(ip.dstAddr());
  const bad = ip.verifyChecksum() ? "" : ` [bad ip cksum 0x${ip.checksum().toString(16)}]`;
  const proto = ip.protocol();
  const l4 = ip.payloadOffset();
  const l4Len = ip.payloadLen();
  if (ip.fragOffset() > 0 || ip.moreFrags()) {
    const more = ip.moreFrags() ? ", more" : "";
    return `${src} > ${dst}: ${protoName(proto)} fragment (id ${ip.ident()}, offset ${ip.fragOffset()}${more}), length ${l4Len}${bad}`;
  }
  const srcIp = ip.srcAddr();
  const dstIp = ip.dstAddr();
  let line: string;
  if (proto === IPPROTO_UDP) line = udp(buf, l4, l4Len, srcIp, dstIp, src, dst, depth);
  else if (proto === IPPROTO_TCP) line = tcp(buf, l4, l4Len, srcIp, dstIp, src, dst);
  else if (proto === IPPROTO_ICMP) line = `${src} > ${dst}: ${icmp(buf, l4, l4Len)}`;
  else if (proto === IPPROTO_SCTP) line = sctp(buf, l4, l4Len, src, dst);
  else line = `${src} > ${dst}: ${protoName(proto)}, length ${l4Len}`;
  return line + bad;
}

function protoName(proto: number): string {
  if (proto === IPPROTO_UDP) return "UDP";
  if (proto === IPPROTO_TCP) return "TCP";
  if (proto === IPPROTO_ICMP) return "ICMP";
  if (proto === IPPROTO_SCTP) return "SCTP";
  return `ip-proto-${proto}`;
}

/** tcpdump's form: `a.p > b.q: sctp (2) [INIT] [init tag: …] [DATA] …` (tags in hex here), with the CRC32c checked. */
function sctp(buf: Uint8Array, off: number, len: number, src: string, dst: string): string {
  const p = new SctpPacket(buf, off, len);
  try {
    p.checkLen(len);
  } catch (e) {
    return `${src} > ${dst}: ${describe(e, "SCTP")}`;
  }
  const parts: string[] = [];
  p.forEachChunk((type, _flags, v, vlen) => {
    let s = `[${sctpChunkName(type)}]`;
    if ((type === 1 || type === 2) && vlen >= 16) s += ` [init tag: 0x${get32(buf, v).toString(16)}]`;
    else if (type === 0 && vlen >= 12) s += ` [TSN: ${get32(buf, v)}] [len ${vlen - 12}]`;
    else if (type === 3 && vlen >= 4) s += ` [cum ack ${get32(buf, v)}]`;
    parts.push(s);
  });
  const bad = p.verifyChecksum() ? "" : ` [bad sctp crc32c 0x${p.checksum().toString(16)}]`;
  return `${src}.${p.srcPort()} > ${dst}.${p.dstPort()}: sctp (${parts.length}) [vtag 0x${p.verificationTag().toString(16)}] ${parts.join(" ")}${bad}`;
}

function udp(buf: Uint8Array, off: number, len: number, srcIp: number, dstIp: number, src: string, dst: string, depth: number): string {
  const u = new UdpPacket(buf, off);
  try {
    u.checkLen(len);
  } catch (e) {
    return `${src} > ${dst}: ${describe(e, "UDP")}`;
  }
  const sp = u.srcPort();
  const dp = u.dstPort();
  const head = `${src}.${sp} > ${dst}.${dp}: `;
  const bad = u.verifyChecksum(srcIp, dstIp) ? "" : ` [bad udp cksum 0x${u.checksum().toString(16)}]`;
  if (dp === VXLAN_PORT) return head + vxlan(buf, u.payloadOffset(), u.payloadLen(), depth) + bad;
  if (sp === DNS_PORT || dp === DNS_PORT) return head + dns(buf, u.payloadOffset(), u.payloadLen()) + bad;
  return `${head}UDP, length ${u.payloadLen()}${bad}`;
}

function vxlan(buf: Uint8Array, off: number, len: number, depth: number): string {
  const v = new VxlanHeader(buf, off);
  try {
    v.checkLen(len);
  } catch (e) {
    return describe(e, "VXLAN");
  }
  const flags = v.flags();
  const head = `VXLAN, flags [${flags & VXLAN_FLAG_I ? "I" : "."}] (0x${flags.toString(16).padStart(2, "0")}), vni ${v.vni()}`;
  if (depth >= MAX_DEPTH) return `${head}: (nested too deep)`;
  return `${head}: ${frame(buf, v.payloadOffset(), len - 8, depth + 1)}`;
}

// tcpdump's ns_rcode spellings.
const RCODES = ["", " FormErr", " ServFail", " NXDomain", " NotImp", " Refused"];

function dns(buf: Uint8Array, off: number, len: number): string {
  let m: DnsRepr;
  try {
    m = DnsRepr.parse(buf, off, len);
  } catch (e) {
    return `${describe(e, "DNS")} (${len})`;
  }
  const f = m.flags;
  const op = f.opcode ? ` op${f.opcode}` : "";
  const q = m.questions[0];
  const nAuth = m.authority?.length ?? 0;
  const nAdd = m.additional?.length ?? 0;
  if (!f.qr) {
    let s = `${m.id}${op}${f.rd ? "+" : ""}${f.cd ? "%" : ""}`;
    if (m.questions.length !== 1) s += ` [${m.questions.length}q]`;
    if (m.answers.length) s += ` [${m.answers.length}a]`;
    if (nAuth) s += ` [${nAuth}n]`;
    if (nAdd) s += ` [${nAdd}au]`;
    if (q) s += ` ${dnsTypeName(q.type)}? ${q.name}.`;
    return `${s} (${len})`;
  }
  const rcode = RCODES[f.rcode] ?? ` Resp${f.rcode}`;
  let s = `${m.id}${op}${rcode}${f.aa ? "*" : ""}${f.ra ? "" : "-"}${f.tc ? "|" : ""}`;
  if (m.questions.length !== 1) s += ` [${m.questions.length}q]`;
  s += ` ${m.answers.length}/${nAuth}/${nAdd}`;
  if (m.answers.length) s += m.answers.map(record).join(",");
  return `${s} (${len})`;
}

function record(r: DnsRecord): string {
  if (typeof r.data === "number") return ` ${dnsTypeName(r.type)} ${formatIpv4(r.data)}`;
  if (typeof r.data === "string") return ` ${dnsTypeName(r.type)} ${r.data}.`;
  return ` ${dnsTypeName(r.type)}`;
}

function tcp(buf: Uint8Array, off: number, len: number, srcIp: number, dstIp: number, src: string, dst: string): string {
  const t = new TcpPacket(buf, off, len);
  try {
    t.checkLen();
  } catch (e) {
    return `${src} > ${dst}: ${describe(e, "TCP")}`;
  }
  const flags = t.flags();
  const n = t.payloadLen();
  let s = `${src}.${t.srcPort()} > ${dst}.${t.dstPort()}: Flags ${tcpFlagsString(flags)}`;
  if (n > 0) s += `, seq ${t.seq()}:${(t.seq() + n) >>> 0}`;
  else if (flags & (TCP_SYN | TCP_FIN | TCP_RST)) s += `, seq ${t.seq()}`;
  if (flags & TCP_ACK) s += `, ack ${t.ack()}`;
  s += `, win ${t.window()}`;
  if (flags & TCP_URG) s += `, urg ${t.urgent()}`;
  if (t.headerLen() > 20) s += `, options [${tcpOptions(t.options())}]`;
  s += `, length ${n}`;
  if (!t.verifyChecksum(srcIp, dstIp)) s += ` [bad tcp cksum 0x${t.checksum().toString(16)}]`;
  return s;
}

function tcpOptions(bytes: Uint8Array): string {
  let opts: TcpOption[];
  try {
    opts = parseTcpOptions(bytes);
  } catch (e) {
    if (e instanceof WireError) return "bad opts";
    throw e;
  }
  return opts.map(tcpOption).join(",");
}

function tcpOption(o: TcpOption): string {
  const d = o.data;
  switch (o.kind) {
    case 1:
      return "nop";
    case 2:
      return `mss ${get16(d, 0)}`;
    case 3:
      return `wscale ${d[0]}`;
    case 4:
      return "sackOK";
    case 8:
      return `TS val ${readU32(d, 0)} ecr ${readU32(d, 4)}`;
    default:
      return `opt-${o.kind}`;
  }
}

function readU32(d: Uint8Array, o: number): number {
  return ((d[o]! << 24) | (d[o + 1]! << 16) | (d[o + 2]! << 8) | d[o + 3]!) >>> 0;
}

function icmp(buf: Uint8Array, off: number, len: number): string {
  const m = new IcmpPacket(buf, off, len);
  try {
    m.checkLen();
  } catch (e) {
    return describe(e, "ICMP");
  }
  const bad = m.verifyChecksum() ? "" : ` [bad icmp cksum 0x${m.checksum().toString(16)}]`;
  return `ICMP ${icmpBody(m)}, length ${len}${bad}`;
}

function icmpBody(m: IcmpPacket): string {
  const type = m.type();
  const code = m.code();
  switch (type) {
    case ICMP_ECHO_REQUEST:
    case ICMP_ECHO_REPLY:
      return `echo ${type === ICMP_ECHO_REQUEST ? "request" : "reply"}, id ${m.echoIdent()}, seq ${m.echoSeq()}`;
    case ICMP_DST_UNREACHABLE:
      return unreachable(m, code);
    case ICMP_TIME_EXCEEDED:
      return code === 0 ? "time exceeded in-transit" : code === 1 ? "ip reassembly time exceeded" : `time exceeded code ${code}`;
    case ICMP_REDIRECT:
      return `redirect code ${code}`;
    case ICMP_PARAM_PROBLEM:
      return `parameter problem - octet ${m.buf[m.offset + 4]}`;
    default:
      return `type-#${type}`;
  }
}

/** Reads what it can of the quoted datagram: its destination, protocol and destination port. */
function unreachable(m: IcmpPacket, code: number): string {
  const q = m.payloadOffset();
  const qLen = m.payloadLen();
  const b = m.buf;
  if (qLen < 20 || b[q]! >> 4 !== 4) return `unreachable code ${code} (quote unreadable)`;
  const dst = formatIpv4(((b[q + 16]! << 24) | (b[q + 17]! << 16) | (b[q + 18]! << 8) | b[q + 19]!) >>> 0);
  const proto = b[q + 9]!;
  const hl = (b[q]! & 0x0f) * 4;
  switch (code) {
    case ICMP_NET_UNREACHABLE:
      return `net ${dst} unreachable`;
    case ICMP_HOST_UNREACHABLE:
      return `host ${dst} unreachable`;
    case ICMP_PROTO_UNREACHABLE:
      return `${dst} protocol ${proto} unreachable`;
    case ICMP_PORT_UNREACHABLE: {
      if (hl < 20 || qLen < hl + 4) return `${dst} protocol ${proto} port unreachable`;
      const dport = get16(b, q + hl + 2);
      if (proto === IPPROTO_UDP) return `${dst} udp port ${dport} unreachable`;
      if (proto === IPPROTO_TCP) return `${dst} tcp port ${dport} unreachable`;
      return `${dst} protocol ${proto} port ${dport} unreachable`;
    }
    case ICMP_FRAG_NEEDED:
      return `${dst} unreachable - need to frag (mtu ${m.nextHopMtu()})`;
    case ICMP_NET_PROHIBITED:
      return `net ${dst} unreachable - admin prohibited`;
    case ICMP_HOST_PROHIBITED:
      return `host ${dst} unreachable - admin prohibited`;
    case ICMP_ADMIN_PROHIBITED:
      return `${dst} unreachable - admin prohibited filter`;
    default:
      return `${dst} unreachable - code ${code}`;
  }
}
