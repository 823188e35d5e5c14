/**
 * VXLAN (RFC 7348 §5): an 8-byte header in a UDP datagram, then the inner Ethernet frame.
 *
 * ```
 *  0       1                   4                   7          8
 *  +-------+-------------------+-------------------+----------+
 *  | flags |     reserved      |        VNI        | reserved |
 * ```
 * The I flag (0x08) must be set; other flag and reserved bits are ignored on receipt.
 */
import { truncated, malformed } from "../base/errors.js";
import { checkRoom } from "./bytes.js";
import { ByteView } from "./view.js";

export const VXLAN_HEADER_LEN = 8;
/** Flannel's VXLAN port (Linux's historical default), not IANA's 4789. */
export const VXLAN_PORT = 8472;
export const VXLAN_IANA_PORT = 4789;
/** The "VNI is valid" flag. */
export const VXLAN_FLAG_I = 0x08;
export const VXLAN_MAX_VNI = 0xffffff;

const FLAGS = 0;
const VNI = 4;

/** VXLAN header fields in place over `(b, o)`, `o` the offset of the VXLAN header (no bounds checks). */
export const vxlan = {
  flags(b: Uint8Array, o: number): number {
    return b[o + FLAGS]!;
  },
  /** The I flag: the VNI is valid (receivers drop headers without it). */
  hasVni(b: Uint8Array, o: number): boolean {
    return (b[o + FLAGS]! & VXLAN_FLAG_I) !== 0;
  },
  /** The 24-bit VXLAN Network Identifier. */
  vni(b: Uint8Array, o: number): number {
    return (b[o + VNI]! << 16) | (b[o + VNI + 1]! << 8) | b[o + VNI + 2]!;
  },
  /** Offset of the inner Ethernet frame. */
  payloadOffset(_b: Uint8Array, o: number): number {
    return o + VXLAN_HEADER_LEN;
  },
};

export class VxlanHeader extends ByteView {
  /** Checks for 8 bytes with the I flag set (malformed otherwise). */
  checkLen(len: number): this {
    const avail = Math.min(len, this.buf.length - this.offset);
    if (avail < VXLAN_HEADER_LEN) throw truncated("vxlan", `need ${VXLAN_HEADER_LEN} bytes, have ${avail}`);
    if ((this.flags() & VXLAN_FLAG_I) === 0) throw malformed("vxlan", "I flag not set");
    return this;
  }

  flags(): number {
    return this.buf[this.offset + FLAGS]!;
  }
  setFlags(v: number): void {
    this.buf[this.offset + FLAGS] = v;
  }
  /** The 24-bit VXLAN Network Identifier. */
  vni(): number {
    const o = this.offset + VNI;
    return (this.buf[o]! << 16) | (this.buf[o + 1]! << 8) | this.buf[o + 2]!;
  }
  setVni(v: number): void {
    const o = this.offset + VNI;
    this.buf[o] = v >>> 16;
    this.buf[o + 1] = v >>> 8;
    this.buf[o + 2] = v;
  }
  /** Absolute offset in `buf` of the inner Ethernet frame. */
  payloadOffset(): number {
    return this.offset + VXLAN_HEADER_LEN;
  }
}

export interface VxlanRepr {
  vni: number;
}

const view = new VxlanHeader(new Uint8Array(0));

export const VxlanRepr = {
  parse(buf: Uint8Array, off: number, len: number): VxlanRepr {
    return { vni: view.wrap(buf, off).checkLen(len).vni() };
  },
  /** Writes the header with only the I flag set; a VNI outside 0..0xffffff is a RangeError. */
  emit(repr: VxlanRepr, buf: Uint8Array, off: number): number {
    if (!Number.isInteger(repr.vni) || repr.vni < 0 || repr.vni > VXLAN_MAX_VNI) {
      throw new RangeError(`vxlan vni out of range: ${repr.vni}`);
    }
    checkRoom(buf, off, VXLAN_HEADER_LEN, "vxlan emit");
    buf.fill(0, off, off + VXLAN_HEADER_LEN);
    view.wrap(buf, off).setFlags(VXLAN_FLAG_I);
    view.setVni(repr.vni);
    return VXLAN_HEADER_LEN;
  },
  bufferLen(_repr: VxlanRepr): number {
    return VXLAN_HEADER_LEN;
  },
};
