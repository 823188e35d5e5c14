/**
 * Packet rewriting for NAT (net/netfilter/nf_nat_core.c nf_nat_packet / nf_nat_manip_pkt,
 * nf_nat_proto.c nf_nat_ipv4_manip_pkt, tcp/udp/sctp/icmp_manip_pkt and
 * nf_nat_icmp_reply_translation), with RFC 1624 incremental checksum updates. SCTP's
 * CRC32c has no pseudo header and no incremental form: a port change recomputes it.
 *
 * A packet in direction `dir` is made to look like the inverse of the conn's tuple for the
 * other direction; "src" rewrites the source address and port, "dst" the destination.
 */
import { foldSum, pseudoHeaderSum, sumBytes, updateChecksum32 } from "../wire/checksum.js";
import { ICMP_HEADER_LEN, ICMP_QUOTED_L4_MIN, ICMP_REDIRECT, icmp, isIcmpError, isIcmpQuery } from "../wire/icmp.js";
import { IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, IPV4_MIN_HEADER_LEN, ipv4 } from "../wire/ipv4.js";
import { ports } from "../wire/ports.js";
import { SCTP_HEADER_LEN, refillSctpChecksum, sctp, sctpChecksum } from "../wire/sctp.js";
import { TCP_MIN_HEADER_LEN, tcp } from "../wire/tcp.js";
import { udp } from "../wire/udp.js";
import type { Conn, Dir } from "./conn.js";
import { IPS_DST_NAT, IPS_NAT_MASK, IPS_SRC_NAT } from "./conn.js";
import type { NatManip } from "./nat.js";

/** Writes the source (`src`) or destination port without touching a checksum. */
function setPort(buf: Uint8Array, l4: number, src: boolean, port: number): void {
  if (src) ports.setSrc(buf, l4, port);
  else ports.setDst(buf, l4, port);
}

/**
 * nf_nat_ipv4_manip_pkt: rewrite the source (`src`) or destination address of the IPv4
 * header at `ipOff` to `addr`, and the transport part for protocol `l4proto` to `port`
 * (port or ICMP identifier), patching every checksum that covers them. `end` bounds the
 * bytes present: a transport header cut short (inside an ICMP error) keeps its checksum.
 * Returns false when the transport header is too short to rewrite.
 */
function manipIpv4(buf: Uint8Array, ipOff: number, end: number, l4proto: number, src: boolean, addr: number, port: number, zeroCsumPartial = false): boolean {
  const hdroff = ipv4.payloadOffset(buf, ipOff);
  const oldAddr = src ? ipv4.src(buf, ipOff) : ipv4.dst(buf, ipOff);
  // Each transport needs the 8 bytes an ICMP error is sure to quote (the ports, the ICMP id).
  if (l4proto === IPPROTO_TCP) {
    if (end - hdroff < ICMP_QUOTED_L4_MIN) return false;
    // Only a whole header has its checksum field (tcp_manip_pkt's hdrsize).
    if (end - hdroff >= TCP_MIN_HEADER_LEN) {
      tcp.patchForAddr(buf, hdroff, oldAddr, addr);
      if (src) tcp.setSrcPort(buf, hdroff, port);
      else tcp.setDstPort(buf, hdroff, port);
    } else setPort(buf, hdroff, src, port);
  } else if (l4proto === IPPROTO_UDP) {
    if (end - hdroff < ICMP_QUOTED_L4_MIN) return false;
    const c = udp.checksum(buf, hdroff);
    if (c !== 0) {
      // A zero checksum means "none" and stays zero; a computed zero is sent as 0xffff.
      udp.patchForAddr(buf, hdroff, oldAddr, addr);
      if (src) udp.setSrcPort(buf, hdroff, port);
      else udp.setDstPort(buf, hdroff, port);
    } else {
      if (zeroCsumPartial) {
        // The bug ea64d8d6c675 fixed: udp_manip_pkt took `check || ip_summed ==
        // CHECKSUM_PARTIAL` as "has a checksum". For a CHECKSUM_PARTIAL skb the field is the
        // pseudo-header seed: inet_proto_csum_replace4 folds the address change into it
        // uncomplemented, inet_proto_csum_replace2 leaves it alone for the port, and a zero
        // result becomes CSUM_MANGLED_0. The field was never a checksum of this header (VXLAN
        // sends none), so whatever lands on the wire is wrong.
        const seed = ~updateChecksum32(~c & 0xffff, oldAddr, addr) & 0xffff;
        udp.setChecksum(buf, hdroff, seed === 0 ? 0xffff : seed);
      }
      setPort(buf, hdroff, src, port);
    }
  } else if (l4proto === IPPROTO_SCTP) {
    // sctp_manip_pkt: 8 bytes are enough for the ports; with the whole 12-byte header the
    // CRC32c is recomputed from the header to the end of the packet.
    if (end - hdroff < ICMP_QUOTED_L4_MIN) return false;
    setPort(buf, hdroff, src, port);
    refillSctpChecksum(buf, hdroff, end - hdroff);
  } else if (l4proto === IPPROTO_ICMP) {
    if (end - hdroff < ICMP_QUOTED_L4_MIN) return false;
    if (isIcmpQuery(icmp.type(buf, hdroff))) icmp.setEchoIdent(buf, hdroff, port);
  }
  if (src) ipv4.setSrc(buf, ipOff, addr);
  else ipv4.setDst(buf, ipOff, addr);
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
  const ihl = ipv4.headerLen(buf, ipOff);
  const total = Math.min(ipv4.totalLen(buf, ipOff), len);
  const end = ipOff + total;
  const proto = ipv4.protocol(buf, ipOff);
  const other = dir === 0 ? conn.reply : conn.original;
  if (proto === IPPROTO_ICMP && conn.original.proto !== IPPROTO_ICMP) {
    return icmpReplyTranslation(conn, other, statusBit, src, buf, ipOff, ihl, end);
  }
  if (proto === IPPROTO_ICMP && end - (ipOff + ihl) >= 1 && isIcmpError(icmp.type(buf, ipOff + ihl))) {
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
  if (end - l4off < ICMP_HEADER_LEN + IPV4_MIN_HEADER_LEN) return false;
  // Redirects about NATed conns would let the ends talk past the translation.
  if (icmp.type(buf, l4off) === ICMP_REDIRECT && conn.status & IPS_NAT_MASK) return false;
  if (!(conn.status & statusBit)) return true;
  // The quoted datagram travelled the other way: it gets the opposite manip, towards the
  // other direction's tuple itself.
  const inner = icmp.payloadOffset(buf, l4off);
  const innerSrc = !src;
  const innerAddr = innerSrc ? other.src : other.dst;
  const innerPort = conn.original.proto === IPPROTO_ICMP ? other.sport : innerSrc ? other.sport : other.dport;
  if (!manipIpv4(buf, inner, end, conn.original.proto, innerSrc, innerAddr, innerPort)) return false;
  // The ICMP checksum covers the quoted bytes: recompute it.
  icmp.fillChecksum(buf, l4off, end - l4off);
  // Outer header: like the reply to the other direction (the ICMP error header itself is unchanged).
  return manipIpv4(buf, ipOff, end, IPPROTO_ICMP, src, src ? other.dst : other.src, 0);
}

/**
 * Checks every checksum a NAT rewrite touches: the IPv4 header, the TCP/UDP checksum with
 * its pseudo header (a UDP checksum of 0 counts as valid), SCTP's CRC32c, the ICMP checksum, and for an
 * ICMP error the quoted IPv4 header. For tests.
 */
export function fullChecksumsValid(buf: Uint8Array, ipOff: number, len: number): boolean {
  const ihl = ipv4.headerLen(buf, ipOff);
  const total = Math.min(ipv4.totalLen(buf, ipOff), len);
  if (!ipv4.verifyChecksum(buf, ipOff)) return false;
  const proto = ipv4.protocol(buf, ipOff);
  const l4off = ipOff + ihl;
  const l4len = total - ihl;
  const srcIp = ipv4.src(buf, ipOff);
  const dstIp = ipv4.dst(buf, ipOff);
  if (proto === IPPROTO_TCP) return tcp.verifyChecksum(buf, l4off, l4len, srcIp, dstIp);
  if (proto === IPPROTO_UDP) {
    if (udp.checksum(buf, l4off) === 0) return true;
    // Over the IP payload, whatever the UDP length field says.
    return foldSum(sumBytes(buf, l4off, l4len, pseudoHeaderSum(srcIp, dstIp, IPPROTO_UDP, l4len))) === 0xffff;
  }
  if (proto === IPPROTO_SCTP) {
    if (l4len < SCTP_HEADER_LEN) return false;
    return sctp.checksum(buf, l4off) === sctpChecksum(buf, l4off, l4len);
  }
  if (proto === IPPROTO_ICMP) {
    if (!icmp.verifyChecksum(buf, l4off, l4len)) return false;
    if (isIcmpError(icmp.type(buf, l4off)) && l4len >= ICMP_HEADER_LEN + IPV4_MIN_HEADER_LEN) {
      const inner = icmp.payloadOffset(buf, l4off);
      if (l4len >= ICMP_HEADER_LEN + ipv4.headerLen(buf, inner) && !ipv4.verifyChecksum(buf, inner)) return false;
    }
  }
  return true;
}
