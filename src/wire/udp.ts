/**
 * UDP (RFC 768).
 *
 * ```
 *  0          2          4          6          8
 *  +----------+----------+----------+----------+--------
 *  | src port | dst port |  length  | checksum | payload
 * ```
 * The checksum covers a pseudo header (addresses, protocol, UDP length), the header and the
 * payload. A computed 0 is sent as 0xffff; a received 0 means the sender computed none.
 */
import { truncated, malformed } from "../base/errors.js";
import { get16, set16, checkField, placeBytes, checkRoom } from "./bytes.js";
import { sumBytes, finishChecksum, foldSum, pseudoHeaderSum, updateChecksum16, updateChecksum32 } from "./checksum.js";
import { IPPROTO_UDP, IPV4_MIN_HEADER_LEN } from "./ipv4.js";
import { ByteView } from "./view.js";

export const UDP_HEADER_LEN = 8;

const SRC_PORT = 0;
const DST_PORT = 2;
const LENGTH = 4;
const CHECKSUM = 6;

/** A checksum patched to 0 is sent as 0xffff: 0 on the wire means "none" (RFC 768). */
function patched(c: number): number {
  return c === 0 ? 0xffff : c;
}

/**
 * UDP header fields in place over `(b, o)`, `o` the offset of the UDP header: allocation-free
 * accessors for the per-packet path (no bounds checks). The port setters and `patchForAddr`
 * patch the checksum (RFC 1624) unless it is 0 ("none"), which stays 0.
 */
export const udp = {
  srcPort(b: Uint8Array, o: number): number {
    return (b[o + SRC_PORT]! << 8) | b[o + SRC_PORT + 1]!;
  },
  dstPort(b: Uint8Array, o: number): number {
    return (b[o + DST_PORT]! << 8) | b[o + DST_PORT + 1]!;
  },
  /** The length field: header plus payload. */
  length(b: Uint8Array, o: number): number {
    return (b[o + LENGTH]! << 8) | b[o + LENGTH + 1]!;
  },
  checksum(b: Uint8Array, o: number): number {
    return (b[o + CHECKSUM]! << 8) | b[o + CHECKSUM + 1]!;
  },
  /** Writes the bare checksum field. */
  setChecksum(b: Uint8Array, o: number, v: number): void {
    set16(b, o + CHECKSUM, v);
  },
  payloadOffset(_b: Uint8Array, o: number): number {
    return o + UDP_HEADER_LEN;
  },
  /** Rewrites the source port and patches a non-zero checksum. */
  setSrcPort(b: Uint8Array, o: number, v: number): void {
    const c = get16(b, o + CHECKSUM);
    if (c !== 0) set16(b, o + CHECKSUM, patched(updateChecksum16(c, get16(b, o + SRC_PORT), v)));
    set16(b, o + SRC_PORT, v);
  },
  /** Rewrites the destination port and patches a non-zero checksum. */
  setDstPort(b: Uint8Array, o: number, v: number): void {
    const c = get16(b, o + CHECKSUM);
    if (c !== 0) set16(b, o + CHECKSUM, patched(updateChecksum16(c, get16(b, o + DST_PORT), v)));
    set16(b, o + DST_PORT, v);
  },
  /** Patches a non-zero checksum for an IPv4 address that changed (pseudo header). */
  patchForAddr(b: Uint8Array, o: number, oldAddr: number, newAddr: number): void {
    const c = get16(b, o + CHECKSUM);
    if (c !== 0) set16(b, o + CHECKSUM, patched(updateChecksum32(c, oldAddr, newAddr)));
  },
  /** True when the checksum is right or 0 (none computed); covers `length` bytes. */
  verifyChecksum(b: Uint8Array, o: number, srcIp: number, dstIp: number): boolean {
    if (get16(b, o + CHECKSUM) === 0) return true;
    const l = get16(b, o + LENGTH);
    return foldSum(sumBytes(b, o, l, pseudoHeaderSum(srcIp, dstIp, IPPROTO_UDP, l))) === 0xffff;
  },
};

export class UdpPacket extends ByteView {
  /** Checks that `len` available bytes hold the header and that 8 <= length field <= len. */
  checkLen(len: number): this {
    const avail = Math.min(len, this.buf.length - this.offset);
    if (avail < UDP_HEADER_LEN) throw truncated("udp", `need ${UDP_HEADER_LEN} bytes, have ${avail}`);
    const l = this.length();
    if (l < UDP_HEADER_LEN) throw malformed("udp", `length field ${l} < 8`);
    if (l > avail) throw truncated("udp", `length field ${l}, have ${avail}`);
    return this;
  }

  srcPort(): number {
    return get16(this.buf, this.offset + SRC_PORT);
  }
  setSrcPort(v: number): void {
    set16(this.buf, this.offset + SRC_PORT, v);
  }
  dstPort(): number {
    return get16(this.buf, this.offset + DST_PORT);
  }
  setDstPort(v: number): void {
    set16(this.buf, this.offset + DST_PORT, v);
  }
  /** The length field: header plus payload. */
  length(): number {
    return get16(this.buf, this.offset + LENGTH);
  }
  setLength(v: number): void {
    set16(this.buf, this.offset + LENGTH, v);
  }
  checksum(): number {
    return get16(this.buf, this.offset + CHECKSUM);
  }
  setChecksum(v: number): void {
    set16(this.buf, this.offset + CHECKSUM, v);
  }
  /** Absolute offset in `buf` of the first payload byte. */
  payloadOffset(): number {
    return this.offset + UDP_HEADER_LEN;
  }
  payloadLen(): number {
    return this.length() - UDP_HEADER_LEN;
  }
  payload(): Uint8Array {
    return this.buf.subarray(this.offset + UDP_HEADER_LEN, this.offset + this.length());
  }

  /** True when the checksum is right, or is 0 (none computed). */
  verifyChecksum(srcIp: number, dstIp: number): boolean {
    if (this.checksum() === 0) return true;
    const l = this.length();
    return foldSum(sumBytes(this.buf, this.offset, l, pseudoHeaderSum(srcIp, dstIp, IPPROTO_UDP, l))) === 0xffff;
  }
  /** Computes the checksum over the pseudo header and `length()` bytes; 0 is sent as 0xffff. */
  fillChecksum(srcIp: number, dstIp: number): void {
    this.setChecksum(0);
    const l = this.length();
    const c = finishChecksum(sumBytes(this.buf, this.offset, l, pseudoHeaderSum(srcIp, dstIp, IPPROTO_UDP, l)));
    this.setChecksum(c === 0 ? 0xffff : c);
  }

  // NAT rewrites (RFC 1624). A zero checksum means "none" and stays zero.
  setSrcPortWithChecksumUpdate(port: number): void {
    this.patch(updateChecksum16(this.checksum(), this.srcPort(), port));
    this.setSrcPort(port);
  }
  setDstPortWithChecksumUpdate(port: number): void {
    this.patch(updateChecksum16(this.checksum(), this.dstPort(), port));
    this.setDstPort(port);
  }
  /** Patches the checksum for an IP address change in the pseudo header (call alongside the IPv4 rewrite). */
  updateChecksumForAddrChange(oldAddr: number, newAddr: number): void {
    this.patch(updateChecksum32(this.checksum(), oldAddr, newAddr));
  }
  private patch(c: number): void {
    if (this.checksum() === 0) return;
    this.setChecksum(c === 0 ? 0xffff : c);
  }
}

export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  /** Payload bytes to copy after the header (skipped when they already are those bytes). */
  payload?: Uint8Array;
  /** Without `payload`: this many payload bytes are already in place after the header. */
  payloadLen?: number;
}

const view = new UdpPacket(new Uint8Array(0));

function payloadLenOf(repr: UdpRepr): number {
  return repr.payload ? repr.payload.length : (repr.payloadLen ?? 0);
}

export const UdpRepr = {
  /**
   * Parses the datagram in `len` available bytes at `buf[off..]`. With both addresses
   * given, a non-zero checksum is verified. The payload is a subarray of `buf`.
   */
  parse(buf: Uint8Array, off: number, len: number, srcIp?: number, dstIp?: number): UdpRepr {
    const p = view.wrap(buf, off).checkLen(len);
    if (srcIp !== undefined && dstIp !== undefined && !p.verifyChecksum(srcIp, dstIp)) {
      throw malformed("udp", "bad checksum");
    }
    return { srcPort: p.srcPort(), dstPort: p.dstPort(), payload: p.payload() };
  },
  /**
   * Writes the header at `buf[off..]` around the payload (copied from `repr.payload`, or
   * already in place for `repr.payloadLen`), fills the checksum unless told not to, and
   * returns the datagram length.
   */
  emit(repr: UdpRepr, buf: Uint8Array, off: number, srcIp: number, dstIp: number, computeChecksum = true): number {
    checkField("udp src port", repr.srcPort, 0xffff);
    checkField("udp dst port", repr.dstPort, 0xffff);
    const len = UDP_HEADER_LEN + payloadLenOf(repr);
    checkField("udp length", len, 0xffff - IPV4_MIN_HEADER_LEN);
    checkRoom(buf, off, len, "udp emit");
    if (repr.payload) placeBytes(buf, off + UDP_HEADER_LEN, repr.payload);
    const p = view.wrap(buf, off);
    p.setSrcPort(repr.srcPort);
    p.setDstPort(repr.dstPort);
    p.setLength(len);
    if (computeChecksum) p.fillChecksum(srcIp, dstIp);
    else p.setChecksum(0);
    return len;
  },
  headerLen(_repr: UdpRepr): number {
    return UDP_HEADER_LEN;
  },
  /** The whole datagram's length (header + payload). */
  bufferLen(repr: UdpRepr): number {
    return UDP_HEADER_LEN + payloadLenOf(repr);
  },
};
