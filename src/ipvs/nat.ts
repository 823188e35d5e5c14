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
import { finishChecksum, sumBytes } from "../wire/checksum.js";
import { refillSctpChecksum } from "../wire/sctp.js";

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_SCTP = 132;

function replace16(c: number, oldWord: number, newWord: number): number {
  let s = (~c & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

function replace32(c: number, oldValue: number, newValue: number): number {
  let s = (~c & 0xffff) + (~(oldValue >>> 16) & 0xffff) + (~oldValue & 0xffff) + (newValue >>> 16) + (newValue & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

export function get16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function set16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}
export function get32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
function set32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/**
 * Rewrites the destination (`src` false) or source (`src` true) address and port of the
 * TCP/UDP/SCTP packet whose IPv4 header is at `ipOff` and transport header at `l4`,
 * updating the IPv4 and transport checksums. `end` is the end of the IPv4 datagram (only
 * SCTP needs it: its CRC32c covers the whole packet).
 */
export function rewriteAddrPort(buf: Uint8Array, ipOff: number, l4: number, proto: number, src: boolean, addr: number, port: number, end = ipOff + get16(buf, ipOff + 2)): void {
  const addrOff = ipOff + (src ? 12 : 16);
  const portOff = l4 + (src ? 0 : 2);
  const oldAddr = get32(buf, addrOff);
  const oldPort = get16(buf, portOff);
  if (proto === IPPROTO_SCTP) {
    // sctp_dnat_handler / sctp_snat_handler: the port, then the CRC32c over the packet.
    if (oldPort !== port) {
      set16(buf, portOff, port);
      refillSctpChecksum(buf, l4, end - l4);
    }
  } else if (proto === IPPROTO_TCP) {
    set16(buf, l4 + 16, replace16(replace32(get16(buf, l4 + 16), oldAddr, addr), oldPort, port));
  } else if (proto === IPPROTO_UDP) {
    const c = get16(buf, l4 + 6);
    if (c !== 0) {
      const n = replace16(replace32(c, oldAddr, addr), oldPort, port);
      set16(buf, l4 + 6, n === 0 ? 0xffff : n);
    }
  }
  set16(buf, portOff, port);
  set16(buf, ipOff + 10, replace32(get16(buf, ipOff + 10), oldAddr, addr));
  set32(buf, addrOff, addr);
}

/** decrement_ttl: false when the TTL is already <= 1 (the kernel sends ICMP time exceeded and drops). */
export function decrementTtl(buf: Uint8Array, ipOff: number): boolean {
  const ttl = buf[ipOff + 8]!;
  if (ttl <= 1) return false;
  const oldWord = get16(buf, ipOff + 8);
  buf[ipOff + 8] = ttl - 1;
  set16(buf, ipOff + 10, replace16(get16(buf, ipOff + 10), oldWord, get16(buf, ipOff + 8)));
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
  const outerOff = ipOff + (out ? 12 : 16);
  const innerAddrOff = innerOff + (out ? 16 : 12);
  set16(buf, ipOff + 10, replace32(get16(buf, ipOff + 10), get32(buf, outerOff), addr));
  set32(buf, outerOff, addr);
  set16(buf, innerOff + 10, replace32(get16(buf, innerOff + 10), get32(buf, innerAddrOff), addr));
  set32(buf, innerAddrOff, addr);
  const innerProto = buf[innerOff + 9]!;
  const innerL4 = innerOff + (buf[innerOff]! & 0x0f) * 4;
  // "the TCP/UDP/SCTP port"; the quoted transport checksum (SCTP's CRC32c too) is left alone.
  if ((innerProto === IPPROTO_TCP || innerProto === IPPROTO_UDP || innerProto === IPPROTO_SCTP) && innerL4 + 4 <= end) {
    set16(buf, innerL4 + (out ? 2 : 0), port);
  }
  set16(buf, icmpOff + 2, 0);
  set16(buf, icmpOff + 2, finishChecksum(sumBytes(buf, icmpOff, end - icmpOff)));
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
  const type = buf[l4]!;
  if (type !== 3 && type !== 4 && type !== 11) return QUOTE_UNRELATED;
  const inner = l4 + 8;
  if (end - inner < 20) return QUOTE_TRUNCATED;
  const innerProto = buf[inner + 9]!;
  const innerL4 = inner + (buf[inner]! & 0x0f) * 4;
  if ((innerProto !== 6 && innerProto !== 17 && innerProto !== 132) || innerL4 + 4 > end) return QUOTE_UNRELATED;
  return innerL4;
}
