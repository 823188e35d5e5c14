/**
 * IPv4 headers (RFC 791), options included.
 *
 * ```
 *  0       4       8              16    19                 31
 *  +-------+-------+--------------+------------------------+
 *  |version|  IHL  |  DSCP  |ECN  |      total length      |
 *  |        identification        |flags| fragment offset  |
 *  |   TTL         |  protocol    |    header checksum     |
 *  |                     source address                    |
 *  |                  destination address                  |
 *  |                 options (IHL > 5) ...                 |
 * ```
 */
import { truncated, malformed } from "../base/errors.js";
import { get16, get32, set16, set32, checkField, unsupported, checkRoom } from "./bytes.js";
import { sumBytes, finishChecksum, foldSum, updateChecksum16, updateChecksum32 } from "./checksum.js";
import { ByteView } from "./view.js";

export const IPV4_MIN_HEADER_LEN = 20;
export const IPV4_MAX_HEADER_LEN = 60;
// IP protocol numbers (IANA; include/uapi/linux/in.h). The only definitions in the tree.
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_DCCP = 33;
export const IPPROTO_SCTP = 132;
export const IPPROTO_UDPLITE = 136;

const VER_IHL = 0;
const TOS = 1;
const LENGTH = 2;
const IDENT = 4;
const FLG_OFF = 6;
const TTL = 8;
const PROTO = 9;
const CHECKSUM = 10;
const SRC = 12;
const DST = 16;

const FLAG_RESERVED = 0x8000;
const FLAG_DF = 0x4000;
const FLAG_MF = 0x2000;
const FRAG_OFFSET_MASK = 0x1fff;

/**
 * IPv4 header fields in place over `(b, o)`, `o` the offset of the IPv4 header: the
 * allocation-free accessors every layer's per-packet path uses. Small monomorphic functions
 * (V8 inlines them). They do not bounds-check: the caller has checked the header is there.
 * Their bodies read the bytes directly rather than through get16/get32: every byte of an
 * inlined callee counts against TurboFan's per-function inlining budget, and a nested call
 * costs its own bytes on top.
 * `setTtl`, `setSrc` and `setDst` patch the header checksum (RFC 1624) as a router or NAT
 * does; the transport checksum's pseudo header is the transport's business (`tcp.patchForAddr`).
 */
export const ipv4 = {
  version(b: Uint8Array, o: number): number {
    return b[o + VER_IHL]! >>> 4;
  },
  /** Header length in bytes (IHL × 4). */
  headerLen(b: Uint8Array, o: number): number {
    return (b[o + VER_IHL]! & 0x0f) << 2;
  },
  /** Offset of the transport header (the first byte after the header and its options). */
  payloadOffset(b: Uint8Array, o: number): number {
    return o + ((b[o + VER_IHL]! & 0x0f) << 2);
  },
  /** The whole TOS byte (DSCP << 2 | ECN). */
  tos(b: Uint8Array, o: number): number {
    return b[o + TOS]!;
  },
  totalLen(b: Uint8Array, o: number): number {
    return (b[o + LENGTH]! << 8) | b[o + LENGTH + 1]!;
  },
  ident(b: Uint8Array, o: number): number {
    return (b[o + IDENT]! << 8) | b[o + IDENT + 1]!;
  },
  dontFrag(b: Uint8Array, o: number): boolean {
    return (b[o + FLG_OFF]! & (FLAG_DF >>> 8)) !== 0;
  },
  /** A fragment of a larger datagram: MF set or a non-zero offset (ip_is_fragment). */
  isFragment(b: Uint8Array, o: number): boolean {
    return (((b[o + FLG_OFF]! << 8) | b[o + FLG_OFF + 1]!) & (FLAG_MF | FRAG_OFFSET_MASK)) !== 0;
  },
  /** Fragment offset in bytes; non-zero for every fragment but the first (no transport header). */
  fragOffset(b: Uint8Array, o: number): number {
    return (((b[o + FLG_OFF]! << 8) | b[o + FLG_OFF + 1]!) & FRAG_OFFSET_MASK) << 3;
  },
  ttl(b: Uint8Array, o: number): number {
    return b[o + TTL]!;
  },
  /** Sets the TTL and patches the header checksum (ip_decrease_ttl's csum update). */
  setTtl(b: Uint8Array, o: number, v: number): void {
    const proto = b[o + PROTO]!; // shares the checksummed word with the TTL
    const c = updateChecksum16((b[o + CHECKSUM]! << 8) | b[o + CHECKSUM + 1]!, (b[o + TTL]! << 8) | proto, ((v & 0xff) << 8) | proto);
    b[o + TTL] = v;
    b[o + CHECKSUM] = c >>> 8;
    b[o + CHECKSUM + 1] = c;
  },
  protocol(b: Uint8Array, o: number): number {
    return b[o + PROTO]!;
  },
  checksum(b: Uint8Array, o: number): number {
    return (b[o + CHECKSUM]! << 8) | b[o + CHECKSUM + 1]!;
  },
  /** True when the header checksum is right (the header's sum folds to 0xffff). */
  verifyChecksum(b: Uint8Array, o: number): boolean {
    return foldSum(sumBytes(b, o, (b[o + VER_IHL]! & 0x0f) << 2)) === 0xffff;
  },
  src(b: Uint8Array, o: number): number {
    return ((b[o + SRC]! << 24) | (b[o + SRC + 1]! << 16) | (b[o + SRC + 2]! << 8) | b[o + SRC + 3]!) >>> 0;
  },
  dst(b: Uint8Array, o: number): number {
    return ((b[o + DST]! << 24) | (b[o + DST + 1]! << 16) | (b[o + DST + 2]! << 8) | b[o + DST + 3]!) >>> 0;
  },
  /** Rewrites the source address and patches the header checksum (RFC 1624). */
  setSrc(b: Uint8Array, o: number, v: number): void {
    set16(b, o + CHECKSUM, updateChecksum32(get16(b, o + CHECKSUM), get32(b, o + SRC), v));
    set32(b, o + SRC, v);
  },
  /** Rewrites the destination address and patches the header checksum (RFC 1624). */
  setDst(b: Uint8Array, o: number, v: number): void {
    set16(b, o + CHECKSUM, updateChecksum32(get16(b, o + CHECKSUM), get32(b, o + DST), v));
    set32(b, o + DST, v);
  },
};

export class Ipv4Packet extends ByteView {
  /**
   * Checks that `len` available bytes hold a whole datagram: version 4, IHL at least 5,
   * header within the bytes, and headerLen <= totalLen <= len (bytes past totalLen, such as
   * Ethernet padding, are allowed and ignored).
   */
  checkLen(len: number): this {
    const avail = Math.min(len, this.buf.length - this.offset);
    if (avail < IPV4_MIN_HEADER_LEN) throw truncated("ipv4", `need ${IPV4_MIN_HEADER_LEN} bytes, have ${avail}`);
    if (this.version() !== 4) {
      throw (this.version() === 6 ? unsupported : malformed)("ipv4", `version ${this.version()}`);
    }
    const hl = this.headerLen();
    if (hl < IPV4_MIN_HEADER_LEN) throw malformed("ipv4", `header length ${hl} < 20`);
    if (hl > avail) throw truncated("ipv4", `header length ${hl}, have ${avail}`);
    const total = this.totalLen();
    if (total < hl) throw malformed("ipv4", `total length ${total} < header length ${hl}`);
    if (total > avail) throw truncated("ipv4", `total length ${total}, have ${avail}`);
    return this;
  }

  version(): number {
    return this.buf[this.offset + VER_IHL]! >> 4;
  }
  setVersion(v: number): void {
    const o = this.offset + VER_IHL;
    this.buf[o] = (v << 4) | (this.buf[o]! & 0x0f);
  }
  /** Header length in bytes (IHL × 4). */
  headerLen(): number {
    return (this.buf[this.offset + VER_IHL]! & 0x0f) * 4;
  }
  setHeaderLen(bytes: number): void {
    const o = this.offset + VER_IHL;
    this.buf[o] = (this.buf[o]! & 0xf0) | ((bytes >> 2) & 0x0f);
  }
  dscp(): number {
    return this.buf[this.offset + TOS]! >> 2;
  }
  setDscp(v: number): void {
    const o = this.offset + TOS;
    this.buf[o] = (v << 2) | (this.buf[o]! & 0x03);
  }
  ecn(): number {
    return this.buf[this.offset + TOS]! & 0x03;
  }
  setEcn(v: number): void {
    const o = this.offset + TOS;
    this.buf[o] = (this.buf[o]! & 0xfc) | (v & 0x03);
  }
  totalLen(): number {
    return get16(this.buf, this.offset + LENGTH);
  }
  setTotalLen(v: number): void {
    set16(this.buf, this.offset + LENGTH, v);
  }
  ident(): number {
    return get16(this.buf, this.offset + IDENT);
  }
  setIdent(v: number): void {
    set16(this.buf, this.offset + IDENT, v);
  }
  dontFrag(): boolean {
    return (get16(this.buf, this.offset + FLG_OFF) & FLAG_DF) !== 0;
  }
  setDontFrag(v: boolean): void {
    const w = get16(this.buf, this.offset + FLG_OFF);
    set16(this.buf, this.offset + FLG_OFF, v ? w | FLAG_DF : w & ~FLAG_DF);
  }
  moreFrags(): boolean {
    return (get16(this.buf, this.offset + FLG_OFF) & FLAG_MF) !== 0;
  }
  setMoreFrags(v: boolean): void {
    const w = get16(this.buf, this.offset + FLG_OFF);
    set16(this.buf, this.offset + FLG_OFF, v ? w | FLAG_MF : w & ~FLAG_MF);
  }
  /** Fragment offset in bytes (the field counts 8-byte units). */
  fragOffset(): number {
    return (get16(this.buf, this.offset + FLG_OFF) & 0x1fff) * 8;
  }
  setFragOffset(bytes: number): void {
    const w = get16(this.buf, this.offset + FLG_OFF);
    set16(this.buf, this.offset + FLG_OFF, (w & (FLAG_RESERVED | FLAG_DF | FLAG_MF)) | ((bytes >> 3) & 0x1fff));
  }
  ttl(): number {
    return this.buf[this.offset + TTL]!;
  }
  setTtl(v: number): void {
    this.buf[this.offset + TTL] = v;
  }
  protocol(): number {
    return this.buf[this.offset + PROTO]!;
  }
  setProtocol(v: number): void {
    this.buf[this.offset + PROTO] = v;
  }
  checksum(): number {
    return get16(this.buf, this.offset + CHECKSUM);
  }
  setChecksum(v: number): void {
    set16(this.buf, this.offset + CHECKSUM, v);
  }
  srcAddr(): number {
    return get32(this.buf, this.offset + SRC);
  }
  setSrcAddr(v: number): void {
    set32(this.buf, this.offset + SRC, v);
  }
  dstAddr(): number {
    return get32(this.buf, this.offset + DST);
  }
  setDstAddr(v: number): void {
    set32(this.buf, this.offset + DST, v);
  }
  /** The option bytes (IHL > 5) as a subarray, padding included; empty when there are none. */
  options(): Uint8Array {
    const o = this.offset + IPV4_MIN_HEADER_LEN;
    return this.buf.subarray(o, this.offset + this.headerLen());
  }
  /** Absolute offset in `buf` of the first payload byte. */
  payloadOffset(): number {
    return this.offset + this.headerLen();
  }
  payloadLen(): number {
    return this.totalLen() - this.headerLen();
  }
  payload(): Uint8Array {
    return this.buf.subarray(this.payloadOffset(), this.offset + this.totalLen());
  }

  /** True when the header checksum is right (the sum over the header, checksum included, folds to 0xffff). */
  verifyChecksum(): boolean {
    return foldSum(sumBytes(this.buf, this.offset, this.headerLen())) === 0xffff;
  }
  fillChecksum(): void {
    this.setChecksum(0);
    this.setChecksum(finishChecksum(sumBytes(this.buf, this.offset, this.headerLen())));
  }

  /** Sets the TTL and patches the checksum in place (RFC 1624), as a router's forward path does. */
  setTtlWithChecksumUpdate(ttl: number): void {
    const o = this.offset + TTL;
    const oldWord = get16(this.buf, o);
    this.buf[o] = ttl;
    this.setChecksum(updateChecksum16(this.checksum(), oldWord, get16(this.buf, o)));
  }
  setSrcAddrWithChecksumUpdate(addr: number): void {
    this.setChecksum(updateChecksum32(this.checksum(), this.srcAddr(), addr));
    this.setSrcAddr(addr);
  }
  setDstAddrWithChecksumUpdate(addr: number): void {
    this.setChecksum(updateChecksum32(this.checksum(), this.dstAddr(), addr));
    this.setDstAddr(addr);
  }
}

export interface Ipv4Repr {
  src: number;
  dst: number;
  protocol: number;
  /** Bytes after the header. */
  payloadLen: number;
  ttl: number;
  ident: number;
  dontFrag: boolean;
  moreFrags?: boolean;
  /** In bytes; a multiple of 8. */
  fragOffset?: number;
  dscp?: number;
  ecn?: number;
  /** Raw option bytes; emit pads them with zeros (End of Option List) to a multiple of 4. */
  options?: Uint8Array;
}

const view = new Ipv4Packet(new Uint8Array(0));

function headerLenOf(repr: Ipv4Repr): number {
  const n = repr.options ? repr.options.length : 0;
  return IPV4_MIN_HEADER_LEN + ((n + 3) & ~3);
}

export const Ipv4Repr = {
  /**
   * Parses the datagram in `len` available bytes at `buf[off..]`, checking the header
   * checksum unless `verifyChecksum` is false. Options come back as a subarray of `buf`.
   */
  parse(buf: Uint8Array, off: number, len: number, verifyChecksum = true): Ipv4Repr {
    const p = view.wrap(buf, off).checkLen(len);
    if (verifyChecksum && !p.verifyChecksum()) throw malformed("ipv4", "bad header checksum");
    const repr: Ipv4Repr = {
      src: p.srcAddr(),
      dst: p.dstAddr(),
      protocol: p.protocol(),
      payloadLen: p.payloadLen(),
      ttl: p.ttl(),
      ident: p.ident(),
      dontFrag: p.dontFrag(),
      moreFrags: p.moreFrags(),
      fragOffset: p.fragOffset(),
      dscp: p.dscp(),
      ecn: p.ecn(),
    };
    if (p.headerLen() > IPV4_MIN_HEADER_LEN) repr.options = p.options();
    return repr;
  },
  /**
   * Writes the header (options padded) with a correct checksum and returns the header
   * length; the payload belongs at `off + headerLen` and is not touched.
   */
  emit(repr: Ipv4Repr, buf: Uint8Array, off: number): number {
    const hl = headerLenOf(repr);
    if (hl > IPV4_MAX_HEADER_LEN) throw new RangeError(`ipv4 options too long: ${repr.options!.length} bytes`);
    checkField("ipv4 total length", hl + repr.payloadLen, 0xffff);
    checkField("ipv4 ttl", repr.ttl, 0xff);
    checkField("ipv4 protocol", repr.protocol, 0xff);
    checkField("ipv4 ident", repr.ident, 0xffff);
    checkField("ipv4 dscp", repr.dscp ?? 0, 0x3f);
    checkField("ipv4 ecn", repr.ecn ?? 0, 3);
    const frag = repr.fragOffset ?? 0;
    checkField("ipv4 fragment offset", frag, 0x1fff * 8);
    if (frag % 8 !== 0) throw new RangeError(`ipv4 fragment offset not a multiple of 8: ${frag}`);
    checkRoom(buf, off, hl, "ipv4 emit");
    const p = view.wrap(buf, off);
    buf[off + VER_IHL] = 0x40 | (hl >> 2);
    buf[off + TOS] = ((repr.dscp ?? 0) << 2) | (repr.ecn ?? 0);
    p.setTotalLen(hl + repr.payloadLen);
    p.setIdent(repr.ident);
    set16(buf, off + FLG_OFF, (repr.dontFrag ? FLAG_DF : 0) | (repr.moreFrags ? FLAG_MF : 0) | (frag >> 3));
    p.setTtl(repr.ttl);
    p.setProtocol(repr.protocol);
    p.setSrcAddr(repr.src);
    p.setDstAddr(repr.dst);
    if (repr.options) {
      const o = off + IPV4_MIN_HEADER_LEN;
      buf.set(repr.options, o);
      buf.fill(0, o + repr.options.length, off + hl);
    }
    p.fillChecksum();
    return hl;
  },
  headerLen: headerLenOf,
  /** The whole datagram's length (header + payload). */
  bufferLen(repr: Ipv4Repr): number {
    return headerLenOf(repr) + repr.payloadLen;
  },
};
