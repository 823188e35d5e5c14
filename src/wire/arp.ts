/**
 * ARP for IPv4 over Ethernet (RFC 826). Other hardware or protocol types are not handled.
 *
 * ```
 *  0     2     4    5    6     8        14       18       24       28
 *  +-----+-----+----+----+-----+--------+--------+--------+--------+
 *  |htype|ptype|hlen|plen| op  | sha    | spa    | tha    | tpa    |
 * ```
 */
import { truncated, malformed } from "../base/errors.js";
import { get16, get32, getMac, set16, set32, setMac, unsupported, checkField, checkRoom } from "./bytes.js";
import { ETHERTYPE_IPV4 } from "./ethernet.js";
import { ByteView } from "./view.js";

export const ARP_LEN = 28;
export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;
export const ARP_HTYPE_ETHERNET = 1;

const HTYPE = 0;
const PTYPE = 2;
const HLEN = 4;
const PLEN = 5;
const OPER = 6;
const SHA = 8;
const SPA = 14;
const THA = 18;
const TPA = 24;

/**
 * ARP fields in place over `(b, o)`, `o` the offset of the ARP header: allocation-free
 * accessors (no bounds checks beyond `isEthernetIpv4`).
 */
export const arp = {
  /** True when `len` bytes at `o` hold a whole Ethernet/IPv4 ARP packet (the only kind handled). */
  isEthernetIpv4(b: Uint8Array, o: number, len: number): boolean {
    return (
      len >= ARP_LEN &&
      get16(b, o + HTYPE) === ARP_HTYPE_ETHERNET &&
      get16(b, o + PTYPE) === ETHERTYPE_IPV4 &&
      b[o + HLEN] === 6 &&
      b[o + PLEN] === 4
    );
  },
  operation(b: Uint8Array, o: number): number {
    return get16(b, o + OPER);
  },
  senderMac(b: Uint8Array, o: number): number {
    return getMac(b, o + SHA);
  },
  senderIp(b: Uint8Array, o: number): number {
    return get32(b, o + SPA);
  },
  targetMac(b: Uint8Array, o: number): number {
    return getMac(b, o + THA);
  },
  targetIp(b: Uint8Array, o: number): number {
    return get32(b, o + TPA);
  },
};

export class ArpPacket extends ByteView {
  /**
   * Checks that `len` bytes hold an Ethernet/IPv4 ARP packet: truncated when short,
   * unsupported for other hardware/protocol types, malformed for wrong address lengths.
   */
  checkLen(len: number): this {
    const avail = Math.min(len, this.buf.length - this.offset);
    if (avail < OPER) throw truncated("arp", `need ${ARP_LEN} bytes, have ${avail}`);
    if (this.hardwareType() !== ARP_HTYPE_ETHERNET) throw unsupported("arp", `hardware type ${this.hardwareType()}`);
    if (this.protocolType() !== ETHERTYPE_IPV4) throw unsupported("arp", `protocol type 0x${this.protocolType().toString(16)}`);
    if (this.hardwareLen() !== 6 || this.protocolLen() !== 4) {
      throw malformed("arp", `address lengths ${this.hardwareLen()}/${this.protocolLen()}, expected 6/4`);
    }
    if (avail < ARP_LEN) throw truncated("arp", `need ${ARP_LEN} bytes, have ${avail}`);
    return this;
  }

  hardwareType(): number {
    return get16(this.buf, this.offset + HTYPE);
  }
  setHardwareType(v: number): void {
    set16(this.buf, this.offset + HTYPE, v);
  }
  protocolType(): number {
    return get16(this.buf, this.offset + PTYPE);
  }
  setProtocolType(v: number): void {
    set16(this.buf, this.offset + PTYPE, v);
  }
  hardwareLen(): number {
    return this.buf[this.offset + HLEN]!;
  }
  setHardwareLen(v: number): void {
    this.buf[this.offset + HLEN] = v;
  }
  protocolLen(): number {
    return this.buf[this.offset + PLEN]!;
  }
  setProtocolLen(v: number): void {
    this.buf[this.offset + PLEN] = v;
  }
  operation(): number {
    return get16(this.buf, this.offset + OPER);
  }
  setOperation(v: number): void {
    set16(this.buf, this.offset + OPER, v);
  }
  senderMac(): number {
    return getMac(this.buf, this.offset + SHA);
  }
  setSenderMac(v: number): void {
    setMac(this.buf, this.offset + SHA, v);
  }
  senderIp(): number {
    return get32(this.buf, this.offset + SPA);
  }
  setSenderIp(v: number): void {
    set32(this.buf, this.offset + SPA, v);
  }
  targetMac(): number {
    return getMac(this.buf, this.offset + THA);
  }
  setTargetMac(v: number): void {
    setMac(this.buf, this.offset + THA, v);
  }
  targetIp(): number {
    return get32(this.buf, this.offset + TPA);
  }
  setTargetIp(v: number): void {
    set32(this.buf, this.offset + TPA, v);
  }
}

export interface ArpRepr {
  op: 1 | 2;
  senderMac: number;
  senderIp: number;
  targetMac: number;
  targetIp: number;
}

const view = new ArpPacket(new Uint8Array(0));

export const ArpRepr = {
  /** Parses an Ethernet/IPv4 request or reply; other operations are unsupported. */
  parse(buf: Uint8Array, off: number, len: number): ArpRepr {
    const p = view.wrap(buf, off).checkLen(len);
    const op = p.operation();
    if (op !== ARP_REQUEST && op !== ARP_REPLY) throw unsupported("arp", `operation ${op}`);
    return {
      op,
      senderMac: p.senderMac(),
      senderIp: p.senderIp(),
      targetMac: p.targetMac(),
      targetIp: p.targetIp(),
    };
  },
  /** Writes the 28-byte packet; returns its length. */
  emit(repr: ArpRepr, buf: Uint8Array, off: number): number {
    checkField("arp senderMac", repr.senderMac, 0xffff_ffff_ffff);
    checkField("arp targetMac", repr.targetMac, 0xffff_ffff_ffff);
    checkRoom(buf, off, ARP_LEN, "arp emit");
    const p = view.wrap(buf, off);
    p.setHardwareType(ARP_HTYPE_ETHERNET);
    p.setProtocolType(ETHERTYPE_IPV4);
    p.setHardwareLen(6);
    p.setProtocolLen(4);
    p.setOperation(repr.op);
    p.setSenderMac(repr.senderMac);
    p.setSenderIp(repr.senderIp);
    p.setTargetMac(repr.targetMac);
    p.setTargetIp(repr.targetIp);
    return ARP_LEN;
  },
  bufferLen(_repr: ArpRepr): number {
    return ARP_LEN;
  },
};
