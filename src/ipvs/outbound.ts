/**
 * Replies from real servers (net/netfilter/ipvs/ip_vs_core.c ip_vs_out at FORWARD /
 * LOCAL_OUT): a packet from daddr:dport to caddr:cport of a masquerading connection gets
 * its source rewritten back to vaddr:vport (handle_response with the protocol
 * snat_handler; SCTP's recomputes the CRC32c), counted, and drives the state machine in
 * the OUTPUT direction. Replies keep flowing even when the real server was deleted
 * (ip_vs_out does not check it).
 * ICMP errors from a real server about a client's packet go through ip_vs_out_icmp.
 */
import { ICMP_HEADER_LEN, icmp } from "../wire/icmp.js";
import { IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, IPV4_MIN_HEADER_LEN, ipv4 } from "../wire/ipv4.js";
import { ports } from "../wire/ports.js";
import { SCTP_HEADER_LEN } from "../wire/sctp.js";
import { TCP_MIN_HEADER_LEN, tcp } from "../wire/tcp.js";
import { UDP_HEADER_LEN } from "../wire/udp.js";
import { DIR_OUTPUT } from "./conn-table.js";
import type { IpvsConn } from "./conn.js";
import type { IpvsCore } from "./core.js";
import { QUOTE_TRUNCATED, natIcmp, quotedTransport, rewriteAddrPort } from "./nat.js";
import type { IpvsResult } from "./result.js";
import { sctpEvent as event } from "./sctp-state.js";

function countOut(core: IpvsCore, cp: IpvsConn, bytes: number): void {
  const dest = cp.dest;
  if (dest === null || !dest.available) return;
  dest.outpkts++;
  dest.outbytes += bytes;
  dest.service.outpkts++;
  dest.service.outbytes += bytes;
  core.totalStats.outpkts++;
  core.totalStats.outbytes += bytes;
}

export function ipvsOutbound(core: IpvsCore, buf: Uint8Array, ipOff: number, len: number, res: IpvsResult): IpvsResult {
  res.reset();
  core.conns.runTimers();
  if (len < IPV4_MIN_HEADER_LEN) return res.set("not-virtual", "truncated", null);
  const end = ipOff + Math.min(ipv4.totalLen(buf, ipOff), len);
  if (ipv4.isFragment(buf, ipOff)) return res.set("not-virtual", "fragment", null);
  const proto = ipv4.protocol(buf, ipOff);
  const l4 = ipv4.payloadOffset(buf, ipOff);
  if (proto === IPPROTO_ICMP) return outIcmp(core, buf, ipOff, l4, end, res);
  const sctp = proto === IPPROTO_SCTP;
  if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP && !sctp) return res.set("not-virtual", "not-tcp-udp", null);
  if (end - l4 < (proto === IPPROTO_TCP ? TCP_MIN_HEADER_LEN : sctp ? SCTP_HEADER_LEN : UDP_HEADER_LEN)) return res.set("not-virtual", "truncated", null);
  const cp = core.conns.byServer.find(proto, ipv4.src(buf, ipOff), ports.src(buf, l4), ipv4.dst(buf, ipOff), ports.dst(buf, l4));
  if (cp === null) return res.set("not-virtual", "no-conn", null);
  if (cp.dest !== null && cp.dest.fwd !== "masq") return res.set("not-virtual", "not-masq", null);
  rewriteAddrPort(buf, ipOff, l4, proto, true, cp.vaddr, cp.vport, end);
  countOut(core, cp, end - ipOff);
  core.conns.transition(cp, DIR_OUTPUT, proto === IPPROTO_TCP ? tcp.flags(buf, l4) : sctp ? event(buf, l4, end) : 0);
  core.conns.put(cp);
  return res.set("forwarded", "", cp);
}

/** ip_vs_out_icmp / handle_response_icmp: an error quoting a client -> real server packet. */
function outIcmp(core: IpvsCore, buf: Uint8Array, ipOff: number, l4: number, end: number, res: IpvsResult): IpvsResult {
  if (end - l4 < ICMP_HEADER_LEN) return res.set("not-virtual", "truncated", null);
  const innerL4 = quotedTransport(buf, l4, end);
  if (innerL4 < 0) return res.set("not-virtual", innerL4 === QUOTE_TRUNCATED ? "truncated" : "icmp-unrelated", null);
  const inner = icmp.payloadOffset(buf, l4);
  const innerProto = ipv4.protocol(buf, inner);
  // The quoted packet went client -> real server.
  const cp = core.conns.byServer.find(innerProto, ipv4.dst(buf, inner), ports.dst(buf, innerL4), ipv4.src(buf, inner), ports.src(buf, innerL4));
  if (cp === null) return res.set("not-virtual", "no-conn", null);
  if (cp.dest !== null && cp.dest.fwd !== "masq") return res.set("not-virtual", "not-masq", null);
  natIcmp(buf, ipOff, l4, inner, end, true, cp.vaddr, cp.vport);
  countOut(core, cp, end - ipOff);
  return res.set("forwarded", "icmp-error", cp);
}
