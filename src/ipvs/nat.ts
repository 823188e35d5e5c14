/**
 * Masquerading rewrites with RFC 1624 incremental checksum updates:
 * - DNAT toward the real server (ip_vs_xmit.c ip_vs_nat_xmit with the protocol
 *   dnat_handler: tcp_dnat_handler / udp_dnat_handler / sctp_dnat_handler),
 * - SNAT of replies back to the virtual address (ip_vs_core.c handle_response with
 *   tcp_snat_handler / udp_snat_handler / sctp_snat_handler),
 * - ICMP errors about a connection (ip_vs_core.c ip_vs_nat_icmp): the outer address, the
 *   quoted header's address and port, and a recomputed ICMP checksum (the quoted
 *   transport checksum is left alone, as in the kernel),
 * - the TTL decrement IPVS does itself before transmitting (ip_vs_xmit.c decrement_ttl).
 * A UDP checksum of 0 ("none") stays 0; a computed 0 is sent as 0xffff.
 *
 * SCTP's CRC32c has no pseudo header and no incremental update: an address rewrite leaves
 * it alone, and a port rewrite recomputes it over the whole SCTP packet (sctp_nat_csum with
 * sctp_compute_cksum). As the kernel's handlers do, it is recomputed only when the port
 * actually changes ("Only update csum if we really have to"), so a packet that arrived with
 * a wrong CRC32c keeps it unless its port is rewritten.
 */
import { ICMP_DST_UNREACHABLE, ICMP_SOURCE_QUENCH, ICMP_TIME_EXCEEDED, icmp } from "../wire/icmp.js";
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, IPV4_MIN_HEADER_LEN, ipv4 } from "../wire/ipv4.js";
import { PORTS_LEN, ports } from "../wire/ports.js";
import { refillSctpChecksum } from "../wire/sctp.js";
import { tcp } from "../wire/tcp.js";
import { udp } from "../wire/udp.js";

/** Writes the source (`src`) or destination port without touching a checksum. */
function setPort(buf: Uint8Array, l4: number, src: boolean, port: number): void {
  if (src) ports.setSrc(buf, l4, port);
  else ports.setDst(buf, l4, port);
}

/**
 * Rewrites the destination (`src` false) or source (`src` true) address and port of the
 * TCP/UDP/SCTP packet whose IPv4 header is at `ipOff` and transport header at `l4`,
 * updating the IPv4 and transport checksums. `end` is the end of the IPv4 datagram (only
 * SCTP needs it: its CRC32c covers the whole packet).
 */
export function rewriteAddrPort(buf: Uint8Array, ipOff: number, l4: number, proto: number, src: boolean, addr: number, port: number, end = ipOff + ipv4.totalLen(buf, ipOff)): void {
  const oldAddr = src ? ipv4.src(buf, ipOff) : ipv4.dst(buf, ipOff);
  if (proto === IPPROTO_SCTP) {
    // sctp_dnat_handler / sctp_snat_handler: the port, then the CRC32c over the packet.
    if ((src ? ports.src(buf, l4) : ports.dst(buf, l4)) !== port) {
      setPort(buf, l4, src, port);
      refillSctpChecksum(buf, l4, end - l4);
    }
  } else if (proto === IPPROTO_TCP) {
    tcp.patchForAddr(buf, l4, oldAddr, addr);
    if (src) tcp.setSrcPort(buf, l4, port);
    else tcp.setDstPort(buf, l4, port);
  } else if (proto === IPPROTO_UDP) {
    udp.patchForAddr(buf, l4, oldAddr, addr);
    if (src) udp.setSrcPort(buf, l4, port);
    else udp.setDstPort(buf, l4, port);
  } else setPort(buf, l4, src, port);
  if (src) ipv4.setSrc(buf, ipOff, addr);
  else ipv4.setDst(buf, ipOff, addr);
}

/** decrement_ttl: false when the TTL is already <= 1 (the kernel sends ICMP time exceeded and drops). */
export function decrementTtl(buf: Uint8Array, ipOff: number): boolean {
  const ttl = ipv4.ttl(buf, ipOff);
  if (ttl <= 1) return false;
  ipv4.setTtl(buf, ipOff, ttl - 1);
  return true;
}

/**
 * ip_vs_nat_icmp for an ICMP error at `icmpOff` quoting an IPv4 header at `innerOff`:
 * inbound (`out` false) the outer destination and the quoted source become the real
 * server's address and the quoted source port its port; outbound the outer source and
 * the quoted destination become the virtual address and the quoted destination port the
 * virtual port. `end` is the end of the IPv4 datagram.
 */
export function natIcmp(
  buf: Uint8Array,
  ipOff: number,
  icmpOff: number,
  innerOff: number,
  end: number,
  out: boolean,
  addr: number,
  port: number,
): void {
  if (out) {
    ipv4.setSrc(buf, ipOff, addr);
    ipv4.setDst(buf, innerOff, addr);
  } else {
    ipv4.setDst(buf, ipOff, addr);
    ipv4.setSrc(buf, innerOff, addr);
  }
  const innerProto = ipv4.protocol(buf, innerOff);
  const innerL4 = ipv4.payloadOffset(buf, innerOff);
  // "the TCP/UDP/SCTP port"; the quoted transport checksum (SCTP's CRC32c too) is left alone.
  if ((innerProto === IPPROTO_TCP || innerProto === IPPROTO_UDP || innerProto === IPPROTO_SCTP) && innerL4 + PORTS_LEN <= end) {
    setPort(buf, innerL4, !out, port);
  }
  icmp.fillChecksum(buf, icmpOff, end - icmpOff);
}

/** `quotedTransport` results that are not an offset. */
export const QUOTE_UNRELATED = -1;
export const QUOTE_TRUNCATED = -2;

/**
 * For an ICMP message at `l4`: the offset of the TCP/UDP/SCTP header it quotes, when it is
 * an error IPVS handles (unreachable, source quench, time exceeded — not redirect or
 * parameter problem) about a packet of an IPVS protocol (ip_vs_in_icmp / ip_vs_out_icmp
 * look up the quoted protocol's ip_vs_proto_data) with its ports present; else
 * QUOTE_UNRELATED or QUOTE_TRUNCATED. The caller has checked the 8-byte ICMP header is there.
 */
export function quotedTransport(buf: Uint8Array, l4: number, end: number): number {
  const type = icmp.type(buf, l4);
  if (type !== ICMP_DST_UNREACHABLE && type !== ICMP_SOURCE_QUENCH && type !== ICMP_TIME_EXCEEDED) return QUOTE_UNRELATED;
  const inner = icmp.payloadOffset(buf, l4);
  if (end - inner < IPV4_MIN_HEADER_LEN) return QUOTE_TRUNCATED;
  const innerProto = ipv4.protocol(buf, inner);
  const innerL4 = ipv4.payloadOffset(buf, inner);
  if ((innerProto !== IPPROTO_TCP && innerProto !== IPPROTO_UDP && innerProto !== IPPROTO_SCTP) || innerL4 + PORTS_LEN > end) return QUOTE_UNRELATED;
  return innerL4;
}
