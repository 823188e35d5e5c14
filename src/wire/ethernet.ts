/**
 * Ethernet II frames (IEEE 802.3 with an EtherType; no 802.1Q tag handling).
 *
 * ```
 *  0      6      12   14
 *  +------+------+----+---------
 *  | dst  | src  |type| payload
 * ```
 */
import { truncated } from "../base/errors.js";
import { get16, getMac, set16, setMac, checkField, checkRoom } from "./bytes.js";
import { ByteView } from "./view.js";

export const ETHERNET_HEADER_LEN = 14;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;

const DST = 0;
const SRC = 6;
const TYPE = 12;

/**
 * Ethernet header fields in place over `(b, o)`, `o` the offset of the frame: allocation-free
 * accessors for the per-packet path (no bounds checks). MACs are 48-bit numbers.
 */
export const eth = {
  dst(b: Uint8Array, o: number): number {
    return (b[o]! * 0x10000 + ((b[o + 1]! << 8) | b[o + 2]!)) * 0x1000000 + ((b[o + 3]! << 16) | (b[o + 4]! << 8) | b[o + 5]!);
  },
  src(b: Uint8Array, o: number): number {
    return (b[o + SRC]! * 0x10000 + ((b[o + SRC + 1]! << 8) | b[o + SRC + 2]!)) * 0x1000000 + ((b[o + SRC + 3]! << 16) | (b[o + SRC + 4]! << 8) | b[o + SRC + 5]!);
  },
  setDst(b: Uint8Array, o: number, v: number): void {
    setMac(b, o + DST, v);
  },
  setSrc(b: Uint8Array, o: number, v: number): void {
    setMac(b, o + SRC, v);
  },
  /** A group (multicast or broadcast) destination: the I/G bit of the first octet. */
  isGroupDst(b: Uint8Array, o: number): boolean {
    return (b[o + DST]! & 1) === 1;
  },
  /** A group address as the source: invalid, so bridges do not learn it (br_handle_frame). */
  isGroupSrc(b: Uint8Array, o: number): boolean {
    return (b[o + SRC]! & 1) === 1;
  },
  etherType(b: Uint8Array, o: number): number {
    return (b[o + TYPE]! << 8) | b[o + TYPE + 1]!;
  },
  /** Offset of the payload (the IPv4 or ARP header). */
  payloadOffset(_b: Uint8Array, o: number): number {
    return o + ETHERNET_HEADER_LEN;
  },
};

/** A view of an Ethernet header at `buf[offset..]`; `wrap` rebinds it without allocating. */
export class EthernetFrame extends ByteView {
  /** Throws a truncated `WireError` unless `len` bytes from `offset` hold the header. */
  checkLen(len: number): this {
    const avail = Math.min(len, this.buf.length - this.offset);
    if (avail < ETHERNET_HEADER_LEN) {
      throw truncated("ethernet", `need ${ETHERNET_HEADER_LEN} bytes, have ${avail}`);
    }
    return this;
  }

  dstMac(): number {
    return getMac(this.buf, this.offset + DST);
  }
  setDstMac(v: number): void {
    setMac(this.buf, this.offset + DST, v);
  }
  srcMac(): number {
    return getMac(this.buf, this.offset + SRC);
  }
  setSrcMac(v: number): void {
    setMac(this.buf, this.offset + SRC, v);
  }
  etherType(): number {
    return get16(this.buf, this.offset + TYPE);
  }
  setEtherType(v: number): void {
    set16(this.buf, this.offset + TYPE, v);
  }
  /** Absolute offset in `buf` of the first payload byte. */
  payloadOffset(): number {
    return this.offset + ETHERNET_HEADER_LEN;
  }
}

export interface EthernetRepr {
  dst: number;
  src: number;
  etherType: number;
}

const view = new EthernetFrame(new Uint8Array(0));

export const EthernetRepr = {
  /** Parses the header of `len` available bytes at `buf[off..]`. */
  parse(buf: Uint8Array, off: number, len: number): EthernetRepr {
    const f = view.wrap(buf, off).checkLen(len);
    return { dst: f.dstMac(), src: f.srcMac(), etherType: f.etherType() };
  },
  /** Writes the 14-byte header; returns its length. */
  emit(repr: EthernetRepr, buf: Uint8Array, off: number): number {
    checkField("ethernet dst", repr.dst, 0xffff_ffff_ffff);
    checkField("ethernet src", repr.src, 0xffff_ffff_ffff);
    checkField("ethertype", repr.etherType, 0xffff);
    checkRoom(buf, off, ETHERNET_HEADER_LEN, "ethernet emit");
    const f = view.wrap(buf, off);
    f.setDstMac(repr.dst);
    f.setSrcMac(repr.src);
    f.setEtherType(repr.etherType);
    return ETHERNET_HEADER_LEN;
  },
  bufferLen(_repr: EthernetRepr): number {
    return ETHERNET_HEADER_LEN;
  },
};
