/**
 * Packet rewriting for NAT (net/netfilter/nf_nat_core.c nf_nat_packet / nf_nat_manip_pkt,
 * nf_nat_proto.c nf_nat_ipv4_manip_pkt, tcp/udp/sctp/icmp_manip_pkt and
 * nf_nat_icmp_reply_translation), with RFC 1624 incremental checksum updates. SCTP's
 * CRC32c has no pseudo header and no incremental form: a port change recomputes it.
 *
 * A packet in direction `dir` is made to look like the inverse of the conn's tuple for the
 * other direction; "src" rewrites the source address and port, "dst" the destination.
 */
import { finishChecksum, foldSum, pseudoHeaderSum, sumBytes } from "../wire/checksum.js";
import { refillSctpChecksum, sctpChecksum } from "../wire/sctp.js";
import type { Conn, Dir } from "./conn.js";
import { IPS_DST_NAT, IPS_NAT_MASK, IPS_SRC_NAT } from "./conn.js";
import type { NatManip } from "./nat.js";
import { IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from "./tuple.js";

const ICMP_REDIRECT = 5;

/** ICMP messages that quote an offending datagram (icmp_is_err). */
export function isIcmpError(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

/** ICMP query types whose identifier NAT rewrites (icmp_manip_pkt). */
function isIcmpQuery(type: number): boolean {
  return type === 0 || type === 8 || (type >= 13 && type <= 18);
}

/**
 * RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), for a 16-bit and a 32-bit field: the same
 * results as wire/checksum.ts updateChecksum16/32, with the fold unrolled (the sum of five
 * 16-bit words needs two folds) to keep the per-packet path short.
 */
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

function get16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function set16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}
function get32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
function set32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/**
 * nf_nat_ipv4_manip_pkt: rewrite the source (`src`) or destination address of the IPv4
 * header at `ipOff` to `addr`, and the transport part for protocol `l4proto` to `port`
 * (port or ICMP identifier), patching every checksum that covers them. `end` bounds the
 * bytes present: a transport header cut short (inside an ICMP error) keeps its checksum.
 * Returns false when the transport header is too short to rewrite.
 */
function manipIpv4(buf: Uint8Array, ipOff: number, end: number, l4proto: number, src: boolean, addr: number, port: number, zeroCsumPartial = false): boolean {
  const hdroff = ipOff + (buf[ipOff]! & 0x0f) * 4;
  const addrOff = ipOff + (src ? 12 : 16);
  const oldAddr = get32(buf, addrOff);
  if (l4proto === IPPROTO_TCP) {
    if (end - hdroff < 8) return false;
    const portOff = hdroff + (src ? 0 : 2);
    const oldPort = get16(buf, portOff);
    // Only a whole header has its checksum field (tcp_manip_pkt's hdrsize).
    if (end - hdroff >= 20) {
      let c = get16(buf, hdroff + 16);
      c = replace32(c, oldAddr, addr);
      c = replace16(c, oldPort, port);
      set16(buf, hdroff + 16, c);
    }
    set16(buf, portOff, port);
  } else if (l4proto === IPPROTO_UDP) {
    if (end - hdroff < 8) return false;
    const portOff = hdroff + (src ? 0 : 2);
    const oldPort = get16(buf, portOff);
    let c = get16(buf, hdroff + 6);
    if (c !== 0) {
      // A zero checksum means "none" and stays zero; a computed zero is sent as 0xffff.
      c = replace32(c, oldAddr, addr);
      c = replace16(c, oldPort, port);
      set16(buf, hdroff + 6, c === 0 ? 0xffff : c);
    } else if (zeroCsumPartial) {
      // The bug ea64d8d6c675 fixed: udp_manip_pkt took `check || ip_summed ==
      // CHECKSUM_PARTIAL` as "has a checksum". For a CHECKSUM_PARTIAL skb the field is the
      // pseudo-header seed: inet_proto_csum_replace4 folds the address change into it
      // uncomplemented, inet_proto_csum_replace2 leaves it alone for the port, and a zero
      // result becomes CSUM_MANGLED_0. The field was never a checksum of this header (VXLAN
      // sends none), so whatever lands on the wire is wrong.
      c = ~replace32(~c & 0xffff, oldAddr, addr) & 0xffff;
      set16(buf, hdroff + 6, c === 0 ? 0xffff : c);
    }
    set16(buf, portOff, port);
  } else if (l4proto === IPPROTO_SCTP) {
    // sctp_manip_pkt: 8 bytes are enough for the ports; with the whole 12-byte header the
    // CRC32c is recomputed from the header to the end of the packet.
    if (end - hdroff < 8) return false;
    set16(buf, hdroff + (src ? 0 : 2), port);
    refillSctpChecksum(buf, hdroff, end - hdroff);
  } else if (l4proto === IPPROTO_ICMP) {
    if (end - hdroff < 8) return false;
    if (isIcmpQuery(buf[hdroff]!)) {
      const oldId = get16(buf, hdroff + 4);
      set16(buf, hdroff + 2, replace16(get16(buf, hdroff + 2), oldId, port));
      set16(buf, hdroff + 4, port);
    }
  }
  set16(buf, ipOff + 10, replace32(get16(buf, ipOff + 10), oldAddr, addr));
  set32(buf, addrOff, addr);
  return true;
}

/**
 * nf_nat_packet: apply `conn`'s binding of type `manip` to a packet travelling in `dir`,
 * if the conn has one for that combination: SRC_NAT for "src" and DST_NAT for "dst" in the
 * original direction, swapped in the reply direction (so replies to a DNATed flow get
 * their source rewritten at POSTROUTING/INPUT, replies to a SNATed flow their destination
 * at PREROUTING/OUTPUT). An ICMP error RELATED to the conn is translated inside and out
 * (nf_nat_icmp_reply_translation). Returns false when the packet must be dropped (an ICMP
 * redirect about a NATed conn, or a header too short to rewrite).
 * `zeroCsumPartial`: the packet is CHECKSUM_PARTIAL on a kernel with the zero UDP checksum
 * bug (kernel.ts), so a UDP checksum of 0 is rewritten as the bug did.
 */
export function manipPacket(conn: Conn, dir: Dir, manip: NatManip, buf: Uint8Array, ipOff: number, len: number, zeroCsumPartial = false): boolean {
  const src = manip === "src";
  let statusBit = src ? IPS_SRC_NAT : IPS_DST_NAT;
  if (dir === 1) statusBit ^= IPS_NAT_MASK;
  const ihl = (buf[ipOff]! & 0x0f) * 4;
  const total = Math.min(get16(buf, ipOff + 2), len);
  const end = ipOff + total;
  const proto = buf[ipOff + 9]!;
  const other = dir === 0 ? conn.reply : conn.original;
  if (proto === IPPROTO_ICMP && conn.original.proto !== IPPROTO_ICMP) {
    return icmpReplyTranslation(conn, other, statusBit, src, buf, ipOff, ihl, end);
  }
  if (proto === IPPROTO_ICMP && end - (ipOff + ihl) >= 1 && isIcmpError(buf[ipOff + ihl]!)) {
    return icmpReplyTranslation(conn, other, statusBit, src, buf, ipOff, ihl, end);
  }
  if (!(conn.status & statusBit)) return true;
  // Target: the inverse of the other direction's tuple.
  const addr = src ? other.dst : other.src;
  const port = proto === IPPROTO_ICMP ? other.sport : src ? other.dport : other.sport;
  return manipIpv4(buf, ipOff, end, conn.original.proto === proto ? proto : -1, src, addr, port, zeroCsumPartial);
}

function icmpReplyTranslation(
  conn: Conn,
  other: Conn["original"],
  statusBit: number,
  src: boolean,
  buf: Uint8Array,
  ipOff: number,
  ihl: number,
  end: number,
): boolean {
  const l4off = ipOff + ihl;
  if (end - l4off < 8 + 20) return false;
  // Redirects about NATed conns would let the ends talk past the translation.
  if (buf[l4off] === ICMP_REDIRECT && conn.status & IPS_NAT_MASK) return false;
  if (!(conn.status & statusBit)) return true;
  // The quoted datagram travelled the other way: it gets the opposite manip, towards the
  // other direction's tuple itself.
  const inner = l4off + 8;
  const innerSrc = !src;
  const innerAddr = innerSrc ? other.src : other.dst;
  const innerPort = conn.original.proto === IPPROTO_ICMP ? other.sport : innerSrc ? other.sport : other.dport;
  if (!manipIpv4(buf, inner, end, conn.original.proto, innerSrc, innerAddr, innerPort)) return false;
  // The ICMP checksum covers the quoted bytes: recompute it.
  set16(buf, l4off + 2, 0);
  set16(buf, l4off + 2, finishChecksum(sumBytes(buf, l4off, end - l4off)));
  // Outer header: like the reply to the other direction (the ICMP error header itself is unchanged).
  return manipIpv4(buf, ipOff, end, IPPROTO_ICMP, src, src ? other.dst : other.src, 0);
}

/**
 * Checks every checksum a NAT rewrite touches: the IPv4 header, the TCP/UDP checksum with
 * its pseudo header (a UDP checksum of 0 counts as valid), SCTP's CRC32c, the ICMP checksum, and for an
 * ICMP error the quoted IPv4 header. For tests.
 */
export function fullChecksumsValid(buf: Uint8Array, ipOff: number, len: number): boolean {
  const ihl = (buf[ipOff]! & 0x0f) * 4;
  const total = Math.min(get16(buf, ipOff + 2), len);
  if (foldSum(sumBytes(buf, ipOff, ihl)) !== 0xffff) return false;
  const proto = buf[ipOff + 9]!;
  const l4off = ipOff + ihl;
  const l4len = total - ihl;
  const srcIp = get32(buf, ipOff + 12);
  const dstIp = get32(buf, ipOff + 16);
  if (proto === IPPROTO_TCP) {
    return foldSum(sumBytes(buf, l4off, l4len, pseudoHeaderSum(srcIp, dstIp, IPPROTO_TCP, l4len))) === 0xffff;
  }
  if (proto === IPPROTO_UDP) {
    if (get16(buf, l4off + 6) === 0) return true;
    return foldSum(sumBytes(buf, l4off, l4len, pseudoHeaderSum(srcIp, dstIp, IPPROTO_UDP, l4len))) === 0xffff;
  }
  if (proto === IPPROTO_SCTP) {
    if (l4len < 12) return false;
    const stored = (buf[l4off + 8]! | (buf[l4off + 9]! << 8) | (buf[l4off + 10]! << 16) | (buf[l4off + 11]! << 24)) >>> 0;
    return stored === sctpChecksum(buf, l4off, l4len);
  }
  if (proto === IPPROTO_ICMP) {
    if (foldSum(sumBytes(buf, l4off, l4len)) !== 0xffff) return false;
    if (isIcmpError(buf[l4off]!) && l4len >= 8 + 20) {
      const inner = l4off + 8;
      const innerIhl = (buf[inner]! & 0x0f) * 4;
      if (l4len >= 8 + innerIhl && foldSum(sumBytes(buf, inner, innerIhl)) !== 0xffff) return false;
    }
  }
  return true;
}
