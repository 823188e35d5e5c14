/**
 * ICMP for IPv4 (RFC 792): echo, destination unreachable, time exceeded; other types are
 * kept verbatim so they round-trip.
 *
 * ```
 *  0      1      2          4                   8
 *  +------+------+----------+-------------------+--------
 *  | type | code | checksum | rest of header    | data
 * ```
 * The checksum covers the whole ICMP message (header and data).
 */
import { truncated, malformed } from "../base/errors.js";
import { get16, get32, set16, set32, checkField, placeBytes, checkRoom } from "./bytes.js";
import { sumBytes, finishChecksum, foldSum, updateChecksum16 } from "./checksum.js";
import { IPV4_MIN_HEADER_LEN } from "./ipv4.js";
import { SizedByteView } from "./view.js";

export const ICMP_HEADER_LEN = 8;

export const ICMP_ECHO_REPLY = 0;
export const ICMP_DST_UNREACHABLE = 3;
/** Deprecated (RFC 6633) but still an error type to conntrack and IPVS. */
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_REDIRECT = 5;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAM_PROBLEM = 12;
export const ICMP_TIMESTAMP = 13;
export const ICMP_TIMESTAMP_REPLY = 14;
export const ICMP_INFO_REQUEST = 15;
export const ICMP_INFO_REPLY = 16;
export const ICMP_ADDRESS = 17;
export const ICMP_ADDRESS_REPLY = 18;

// Destination unreachable codes (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1).
export const ICMP_NET_UNREACHABLE = 0;
export const ICMP_HOST_UNREACHABLE = 1;
export const ICMP_PROTO_UNREACHABLE = 2;
export const ICMP_PORT_UNREACHABLE = 3;
/** Fragmentation needed and DF set; carries the next-hop MTU (RFC 1191). */
export const ICMP_FRAG_NEEDED = 4;
export const ICMP_NET_PROHIBITED = 9;
export const ICMP_HOST_PROHIBITED = 10;
/** Communication administratively prohibited (iptables `--reject-with icmp-admin-prohibited`). */
export const ICMP_ADMIN_PROHIBITED = 13;

// Time exceeded codes.
export const ICMP_TTL_EXCEEDED = 0;
export const ICMP_FRAG_REASSEMBLY_EXCEEDED = 1;

/** Bytes past the quoted IP header every ICMP error carries at least (RFC 792's "first 64 bits"): the ports. */
export const ICMP_QUOTED_L4_MIN = 8;

/** Largest IPv4 datagram carrying an ICMP error that Linux sends (RFC 1812 §4.3.2.3). */
export const ICMP_ERROR_MAX_DATAGRAM = 576;

/**
 * How many bytes of the offending datagram (from its IP header on) an ICMP error quotes,
 * as Linux's icmp_send sizes it: the error datagram is at most 576 bytes (or the route's
 * MTU when smaller), less its own IP header (20 + options) and the 8-byte ICMP header.
 */
export function icmpQuoteLength(offendingDatagramLen: number, optionsLen = 0, routeMtu = ICMP_ERROR_MAX_DATAGRAM): number {
  const room = Math.min(routeMtu, ICMP_ERROR_MAX_DATAGRAM) - IPV4_MIN_HEADER_LEN - optionsLen - ICMP_HEADER_LEN;
  return Math.max(0, Math.min(offendingDatagramLen, room));
}

const TYPE = 0;
const CODE = 1;
const CHECKSUM = 2;
const REST = 4;

/** Error messages, which quote the offending datagram (the kernel's icmp_is_err). */
export function isIcmpError(type: number): boolean {
  return type === ICMP_DST_UNREACHABLE || type === ICMP_SOURCE_QUENCH || type === ICMP_REDIRECT || type === ICMP_TIME_EXCEEDED || type === ICMP_PARAM_PROBLEM;
}

/** Query messages with an identifier, which NAT rewrites like a port (echo, timestamp, info, address mask; icmp_manip_pkt). */
export function isIcmpQuery(type: number): boolean {
  return type === ICMP_ECHO_REPLY || type === ICMP_ECHO_REQUEST || (type >= ICMP_TIMESTAMP && type <= ICMP_ADDRESS_REPLY);
}

/**
 * ICMP header fields in place over `(b, o)`, `o` the offset of the ICMP header:
 * allocation-free accessors for the per-packet path (no bounds checks). `setType` and
 * `setEchoIdent` patch the checksum (RFC 1624); `fillChecksum` recomputes it over the
 * whole message (needed after changing quoted bytes).
 */
export const icmp = {
  type(b: Uint8Array, o: number): number {
    return b[o + TYPE]!;
  },
  code(b: Uint8Array, o: number): number {
    return b[o + CODE]!;
  },
  checksum(b: Uint8Array, o: number): number {
    return (b[o + CHECKSUM]! << 8) | b[o + CHECKSUM + 1]!;
  },
  /** Changes the type and patches the checksum (echo request → reply in place). */
  setType(b: Uint8Array, o: number, v: number): void {
    const oldWord = get16(b, o + TYPE);
    b[o + TYPE] = v;
    set16(b, o + CHECKSUM, updateChecksum16(get16(b, o + CHECKSUM), oldWord, get16(b, o + TYPE)));
  },
  /** The 4 type-specific bytes after the checksum, as one number. */
  rest(b: Uint8Array, o: number): number {
    return get32(b, o + REST);
  },
  echoIdent(b: Uint8Array, o: number): number {
    return (b[o + REST]! << 8) | b[o + REST + 1]!;
  },
  /** Rewrites the echo identifier and patches the checksum (NAT of queries rewrites it like a port). */
  setEchoIdent(b: Uint8Array, o: number, v: number): void {
    set16(b, o + CHECKSUM, updateChecksum16(get16(b, o + CHECKSUM), get16(b, o + REST), v));
    set16(b, o + REST, v);
  },
  echoSeq(b: Uint8Array, o: number): number {
    return (b[o + REST + 2]! << 8) | b[o + REST + 3]!;
  },
  /** Next-hop MTU of "fragmentation needed" (type 3 code 4, RFC 1191); the low half of `rest`. */
  nextHopMtu(b: Uint8Array, o: number): number {
    return (b[o + REST + 2]! << 8) | b[o + REST + 3]!;
  },
  /** Offset of the data: the quoted datagram's IPv4 header in an error message. */
  payloadOffset(_b: Uint8Array, o: number): number {
    return o + ICMP_HEADER_LEN;
  },
  /** True when the checksum over the `len`-byte message is right. */
  verifyChecksum(b: Uint8Array, o: number, len: number): boolean {
    return foldSum(sumBytes(b, o, len)) === 0xffff;
  },
  /** Recomputes the checksum over the `len`-byte message. */
  fillChecksum(b: Uint8Array, o: number, len: number): void {
    set16(b, o + CHECKSUM, 0);
    set16(b, o + CHECKSUM, finishChecksum(sumBytes(b, o, len)));
  },
};

/** A view of an ICMP message of `len` bytes at `buf[offset..]` (the IP payload length). */
export class IcmpPacket extends SizedByteView {
  /** Checks that the message of `len` bytes (default: the wrapped length) holds the 8-byte header, and bounds the view to it. */
  checkLen(len = this.len): this {
    const avail = Math.min(len, this.buf.length - this.offset);
    if (avail < ICMP_HEADER_LEN) throw truncated("icmp", `need ${ICMP_HEADER_LEN} bytes, have ${avail}`);
    this.len = avail;
    return this;
  }

  type(): number {
    return this.buf[this.offset + TYPE]!;
  }
  setType(v: number): void {
    this.buf[this.offset + TYPE] = v;
  }
  code(): number {
    return this.buf[this.offset + CODE]!;
  }
  setCode(v: number): void {
    this.buf[this.offset + CODE] = v;
  }
  checksum(): number {
    return get16(this.buf, this.offset + CHECKSUM);
  }
  setChecksum(v: number): void {
    set16(this.buf, this.offset + CHECKSUM, v);
  }
  /** The 4 type-specific bytes after the checksum, as one number. */
  rest(): number {
    return get32(this.buf, this.offset + REST);
  }
  setRest(v: number): void {
    set32(this.buf, this.offset + REST, v);
  }
  echoIdent(): number {
    return get16(this.buf, this.offset + REST);
  }
  setEchoIdent(v: number): void {
    set16(this.buf, this.offset + REST, v);
  }
  echoSeq(): number {
    return get16(this.buf, this.offset + REST + 2);
  }
  setEchoSeq(v: number): void {
    set16(this.buf, this.offset + REST + 2, v);
  }
  /** Next-hop MTU of a "fragmentation needed" message (type 3 code 4, RFC 1191). */
  nextHopMtu(): number {
    return get16(this.buf, this.offset + REST + 2);
  }
  setNextHopMtu(v: number): void {
    set16(this.buf, this.offset + REST + 2, v);
  }
  /** Absolute offset in `buf` of the data after the 8-byte header. */
  payloadOffset(): number {
    return this.offset + ICMP_HEADER_LEN;
  }
  payloadLen(): number {
    return this.len - ICMP_HEADER_LEN;
  }
  payload(): Uint8Array {
    return this.buf.subarray(this.offset + ICMP_HEADER_LEN, this.offset + this.len);
  }
  verifyChecksum(): boolean {
    return foldSum(sumBytes(this.buf, this.offset, this.len)) === 0xffff;
  }
  fillChecksum(): void {
    this.setChecksum(0);
    this.setChecksum(finishChecksum(sumBytes(this.buf, this.offset, this.len)));
  }
  /** Rewrites the echo identifier with an RFC 1624 checksum patch (NAT of pings rewrites it like a port). */
  setEchoIdentWithChecksumUpdate(v: number): void {
    this.setChecksum(updateChecksum16(this.checksum(), this.echoIdent(), v));
    this.setEchoIdent(v);
  }
}

export type IcmpRepr =
  | { kind: "echo-request" | "echo-reply"; ident: number; seq: number; data: Uint8Array }
  | {
      kind: "dst-unreachable";
      code: number;
      /** Meaningful only for code 4 (ICMP_FRAG_NEEDED); 0 otherwise. Parse always fills it. */
      nextHopMtu?: number;
      /** The start of the offending datagram, IP header first (see icmpQuoteLength). */
      quoted: Uint8Array;
    }
  | { kind: "time-exceeded"; code: number; quoted: Uint8Array }
  /** Anything else, or a known type in a non-canonical form; `rest` is bytes 4..7. */
  | { kind: "other"; type: number; code: number; rest: number; data: Uint8Array };

const view = new IcmpPacket(new Uint8Array(0));

function dataOf(repr: IcmpRepr): Uint8Array {
  switch (repr.kind) {
    case "echo-request":
    case "echo-reply":
    case "other":
      return repr.data;
    case "dst-unreachable":
    case "time-exceeded":
      return repr.quoted;
  }
}

export const IcmpRepr = {
  /**
   * Parses the ICMP message of exactly `len` bytes at `buf[off..]` (the IP payload),
   * checking its checksum unless `verifyChecksum` is false. Data is a subarray of `buf`.
   */
  parse(buf: Uint8Array, off: number, len: number, verifyChecksum = true): IcmpRepr {
    const p = view.wrap(buf, off, len).checkLen();
    if (verifyChecksum && !p.verifyChecksum()) throw malformed("icmp", "bad checksum");
    const type = p.type();
    const code = p.code();
    const data = p.payload();
    if ((type === ICMP_ECHO_REQUEST || type === ICMP_ECHO_REPLY) && code === 0) {
      const kind = type === ICMP_ECHO_REQUEST ? "echo-request" : "echo-reply";
      return { kind, ident: p.echoIdent(), seq: p.echoSeq(), data };
    }
    // Unused header bytes must be zero in the canonical forms; otherwise keep them via "other".
    if (type === ICMP_DST_UNREACHABLE && get16(buf, off + REST) === 0) {
      return { kind: "dst-unreachable", code, nextHopMtu: p.nextHopMtu(), quoted: data };
    }
    if (type === ICMP_TIME_EXCEEDED && p.rest() === 0) {
      return { kind: "time-exceeded", code, quoted: data };
    }
    return { kind: "other", type, code, rest: p.rest(), data };
  },
  /** Writes the whole message with its checksum; returns its length. */
  emit(repr: IcmpRepr, buf: Uint8Array, off: number): number {
    const data = dataOf(repr);
    const len = ICMP_HEADER_LEN + data.length;
    checkField("icmp length", len, 0xffff - IPV4_MIN_HEADER_LEN);
    checkRoom(buf, off, len, "icmp emit");
    // Place the data first: it may alias bytes this header is about to overwrite.
    placeBytes(buf, off + ICMP_HEADER_LEN, data);
    const p = view.wrap(buf, off, len);
    switch (repr.kind) {
      case "echo-request":
      case "echo-reply":
        checkField("icmp echo ident", repr.ident, 0xffff);
        checkField("icmp echo seq", repr.seq, 0xffff);
        p.setType(repr.kind === "echo-request" ? ICMP_ECHO_REQUEST : ICMP_ECHO_REPLY);
        p.setCode(0);
        p.setEchoIdent(repr.ident);
        p.setEchoSeq(repr.seq);
        break;
      case "dst-unreachable":
        checkField("icmp code", repr.code, 0xff);
        checkField("icmp next-hop mtu", repr.nextHopMtu ?? 0, 0xffff);
        p.setType(ICMP_DST_UNREACHABLE);
        p.setCode(repr.code);
        p.setRest(repr.nextHopMtu ?? 0);
        break;
      case "time-exceeded":
        checkField("icmp code", repr.code, 0xff);
        p.setType(ICMP_TIME_EXCEEDED);
        p.setCode(repr.code);
        p.setRest(0);
        break;
      case "other":
        checkField("icmp type", repr.type, 0xff);
        checkField("icmp code", repr.code, 0xff);
        checkField("icmp rest", repr.rest, 0xffff_ffff);
        p.setType(repr.type);
        p.setCode(repr.code);
        p.setRest(repr.rest);
        break;
    }
    p.fillChecksum();
    return len;
  },
  bufferLen(repr: IcmpRepr): number {
    return ICMP_HEADER_LEN + dataOf(repr).length;
  },
};
