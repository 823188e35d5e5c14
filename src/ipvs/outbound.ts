/**
 * Replies from real servers (net/netfilter/ipvs/ip_vs_core.c ip_vs_out at FORWARD /
 * LOCAL_OUT): a packet from daddr:dport to caddr:cport of a masquerading connection gets
 * its source rewritten back to vaddr:vport (handle_response with the protocol
 * snat_handler; SCTP's recomputes the CRC32c), counted, and drives the state machine in
 * the OUTPUT direction. Replies keep flowing even when the real server was deleted
 * (ip_vs_out does not check it).
 * ICMP errors from a real server about a client's packet go through ip_vs_out_icmp.
 */
import { DIR_OUTPUT } from "./conn-table.js";
import type { IpvsConn } from "./conn.js";
import type { IpvsCore } from "./core.js";
import * as nat from "./nat.js";
import type { IpvsResult } from "./result.js";
import { sctpEvent } from "./sctp-state.js";

// Local copies (see inbound.ts).
const get16 = nat.get16;
const get32 = nat.get32;
const rewriteAddrPort = nat.rewriteAddrPort;
const natIcmp = nat.natIcmp;
const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_SCTP = 132;
const event = sctpEvent;

function countOut(core: IpvsCore, cp: IpvsConn, bytes: number): void {
  const dest = cp.dest;
  if (dest === null || !dest.available) return;
  dest.stats.outpkts++;
  dest.stats.outbytes += bytes;
  dest.service.stats.outpkts++;
  dest.service.stats.outbytes += bytes;
  core.totalStats.outpkts++;
  core.totalStats.outbytes += bytes;
}

export function ipvsOutbound(core: IpvsCore, buf: Uint8Array, ipOff: number, len: number, res: IpvsResult): IpvsResult {
  res.reset();
  core.conns.runTimers();
  if (len < 20) return res.set("not-virtual", "truncated", null);
  const ihl = (buf[ipOff]! & 0x0f) * 4;
  const end = ipOff + Math.min(get16(buf, ipOff + 2), len);
  if (get16(buf, ipOff + 6) & 0x3fff) return res.set("not-virtual", "fragment", null);
  const proto = buf[ipOff + 9]!;
  const l4 = ipOff + ihl;
  if (proto === IPPROTO_ICMP) return outIcmp(core, buf, ipOff, l4, end, res);
  const sctp = proto === IPPROTO_SCTP;
  if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP && !sctp) return res.set("not-virtual", "not-tcp-udp", null);
  if (end - l4 < (proto === IPPROTO_TCP ? 20 : sctp ? 12 : 8)) return res.set("not-virtual", "truncated", null);
  const cp = core.conns.byServer.find(proto, get32(buf, ipOff + 12), get16(buf, l4), get32(buf, ipOff + 16), get16(buf, l4 + 2));
  if (cp === null) return res.set("not-virtual", "no-conn", null);
  if (cp.dest !== null && cp.dest.fwd !== "masq") return res.set("not-virtual", "not-masq", null);
  rewriteAddrPort(buf, ipOff, l4, proto, true, cp.vaddr, cp.vport, end);
  countOut(core, cp, end - ipOff);
  core.conns.transition(cp, DIR_OUTPUT, proto === IPPROTO_TCP ? buf[l4 + 13]! : sctp ? event(buf, l4, end) : 0);
  core.conns.put(cp);
  return res.set("forwarded", "", cp);
}

/** ip_vs_out_icmp / handle_response_icmp: an error quoting a client -> real server packet. */
function outIcmp(core: IpvsCore, buf: Uint8Array, ipOff: number, l4: number, end: number, res: IpvsResult): IpvsResult {
  if (end - l4 < 8) return res.set("not-virtual", "truncated", null);
  const innerL4 = nat.quotedTransport(buf, l4, end);
  if (innerL4 < 0) return res.set("not-virtual", innerL4 === nat.QUOTE_TRUNCATED ? "truncated" : "icmp-unrelated", null);
  const inner = l4 + 8;
  const innerProto = buf[inner + 9]!;
  // The quoted packet went client -> real server.
  const cp = core.conns.byServer.find(innerProto, get32(buf, inner + 16), get16(buf, innerL4 + 2), get32(buf, inner + 12), get16(buf, innerL4));
  if (cp === null) return res.set("not-virtual", "no-conn", null);
  if (cp.dest !== null && cp.dest.fwd !== "masq") return res.set("not-virtual", "not-masq", null);
  natIcmp(buf, ipOff, l4, inner, end, true, cp.vaddr, cp.vport);
  countOut(core, cp, end - ipOff);
  return res.set("forwarded", "icmp-error", cp);
}
