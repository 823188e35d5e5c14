/**
 * TCP segments (RFC 9293): header, raw options and payload. No state machine here.
 *
 * ```
 *  0          2          4                    8                    12     13     14       16         18       20
 *  +----------+----------+--------------------+--------------------+------+------+--------+----------+--------+--------
 *  | src port | dst port | sequence number    | ack number         |off/rs|flags | window | checksum | urgent | options
 * ```
 */
import { truncated, malformed } from "../base/errors.js";
import { get16, get32, set16, set32, checkField, placeBytes, checkRoom } from "./bytes.js";
import { sumBytes, finishChecksum, foldSum, pseudoHeaderSum, updateChecksum16, updateChecksum32 } from "./checksum.js";
import { IPPROTO_TCP, IPV4_MIN_HEADER_LEN } from "./ipv4.js";
import { SizedByteView } from "./view.js";

export const TCP_MIN_HEADER_LEN = 20;
export const TCP_MAX_HEADER_LEN = 60;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

export const TCP_OPT_EOL = 0;
export const TCP_OPT_NOP = 1;
export const TCP_OPT_MSS = 2;
export const TCP_OPT_WINDOW_SCALE = 3;
export const TCP_OPT_SACK_PERMITTED = 4;
export const TCP_OPT_SACK = 5;
export const TCP_OPT_TIMESTAMPS = 8;
/** NOP, NOP, kind 8, length 10 read as one 32-bit word: how Linux starts its aligned timestamps option. */
export const TCP_OPT_TS_ALIGNED_PREFIX = 0x0101080a;

const SRC_PORT = 0;
const DST_PORT = 2;
const SEQ = 4;
const ACK = 8;
const DATA_OFF = 12;
const FLAGS = 13;
const WINDOW = 14;
const CHECKSUM = 16;
const URGENT = 18;

/**
 * TCP header fields in place over `(b, o)`, `o` the offset of the TCP header: allocation-free
 * accessors for the per-packet path (no bounds checks; the caller checked the header is
 * there). The port setters patch the checksum (RFC 1624); so does `patchForAddr` for an
 * address rewritten in the IPv4 header, which the pseudo header covers.
 */
export const tcp = {
  srcPort(b: Uint8Array, o: number): number {
    return (b[o + SRC_PORT]! << 8) | b[o + SRC_PORT + 1]!;
  },
  dstPort(b: Uint8Array, o: number): number {
    return (b[o + DST_PORT]! << 8) | b[o + DST_PORT + 1]!;
  },
  seq(b: Uint8Array, o: number): number {
    return ((b[o + SEQ]! << 24) | (b[o + SEQ + 1]! << 16) | (b[o + SEQ + 2]! << 8) | b[o + SEQ + 3]!) >>> 0;
  },
  ack(b: Uint8Array, o: number): number {
    return ((b[o + ACK]! << 24) | (b[o + ACK + 1]! << 16) | (b[o + ACK + 2]! << 8) | b[o + ACK + 3]!) >>> 0;
  },
  /** Header length in bytes (data offset × 4), options included. */
  headerLen(b: Uint8Array, o: number): number {
    return (b[o + DATA_OFF]! >>> 4) << 2;
  },
  /** Offset of the payload (after the options). */
  payloadOffset(b: Uint8Array, o: number): number {
    return o + ((b[o + DATA_OFF]! >>> 4) << 2);
  },
  /** The eight flag bits FIN..CWR (TCP_* constants). */
  flags(b: Uint8Array, o: number): number {
    return b[o + FLAGS]!;
  },
  /** The raw (unscaled) window field. */
  window(b: Uint8Array, o: number): number {
    return (b[o + WINDOW]! << 8) | b[o + WINDOW + 1]!;
  },
  checksum(b: Uint8Array, o: number): number {
    return (b[o + CHECKSUM]! << 8) | b[o + CHECKSUM + 1]!;
  },
  /** Writes the bare checksum field. */
  setChecksum(b: Uint8Array, o: number, v: number): void {
    set16(b, o + CHECKSUM, v);
  },
  /** Rewrites the source port and patches the checksum. */
  setSrcPort(b: Uint8Array, o: number, v: number): void {
    set16(b, o + CHECKSUM, updateChecksum16(get16(b, o + CHECKSUM), get16(b, o + SRC_PORT), v));
    set16(b, o + SRC_PORT, v);
  },
  /** Rewrites the destination port and patches the checksum. */
  setDstPort(b: Uint8Array, o: number, v: number): void {
    set16(b, o + CHECKSUM, updateChecksum16(get16(b, o + CHECKSUM), get16(b, o + DST_PORT), v));
    set16(b, o + DST_PORT, v);
  },
  /** Patches the checksum for an IPv4 address that changed from `oldAddr` to `newAddr` (pseudo header). */
  patchForAddr(b: Uint8Array, o: number, oldAddr: number, newAddr: number): void {
    set16(b, o + CHECKSUM, updateChecksum32(get16(b, o + CHECKSUM), oldAddr, newAddr));
  },
  /** True when the checksum of the `len`-byte segment at `o` with this pseudo header is right. */
  verifyChecksum(b: Uint8Array, o: number, len: number, srcIp: number, dstIp: number): boolean {
    return foldSum(sumBytes(b, o, len, pseudoHeaderSum(srcIp, dstIp, IPPROTO_TCP, len))) === 0xffff;
  },
};

/** A view of a TCP segment of `len` bytes at `buf[offset..]` (the IP payload length). */
export class TcpPacket extends SizedByteView {
  /** Checks that a segment of `len` bytes (default: the wrapped length) holds its header, and bounds the view to it. */
  checkLen(len = this.len): this {
    const avail = Math.min(len, this.buf.length - this.offset);
    if (avail < TCP_MIN_HEADER_LEN) throw truncated("tcp", `need ${TCP_MIN_HEADER_LEN} bytes, have ${avail}`);
    const hl = this.headerLen();
    if (hl < TCP_MIN_HEADER_LEN) throw malformed("tcp", `data offset ${hl} < 20`);
    if (hl > avail) throw truncated("tcp", `header length ${hl}, have ${avail}`);
    this.len = avail;
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
  seq(): number {
    return get32(this.buf, this.offset + SEQ);
  }
  setSeq(v: number): void {
    set32(this.buf, this.offset + SEQ, v);
  }
  ack(): number {
    return get32(this.buf, this.offset + ACK);
  }
  setAck(v: number): void {
    set32(this.buf, this.offset + ACK, v);
  }
  /** Data offset in 32-bit words. */
  dataOffset(): number {
    return this.buf[this.offset + DATA_OFF]! >> 4;
  }
  /** Header length in bytes (data offset × 4). */
  headerLen(): number {
    return (this.buf[this.offset + DATA_OFF]! >> 4) * 4;
  }
  /** Sets the data offset from a byte length, clearing the reserved bits. */
  setHeaderLen(bytes: number): void {
    this.buf[this.offset + DATA_OFF] = (bytes >> 2) << 4;
  }
  /** The eight flag bits FIN..CWR (see the TCP_* constants). */
  flags(): number {
    return this.buf[this.offset + FLAGS]!;
  }
  setFlags(v: number): void {
    this.buf[this.offset + FLAGS] = v;
  }
  window(): number {
    return get16(this.buf, this.offset + WINDOW);
  }
  setWindow(v: number): void {
    set16(this.buf, this.offset + WINDOW, v);
  }
  checksum(): number {
    return get16(this.buf, this.offset + CHECKSUM);
  }
  setChecksum(v: number): void {
    set16(this.buf, this.offset + CHECKSUM, v);
  }
  urgent(): number {
    return get16(this.buf, this.offset + URGENT);
  }
  setUrgent(v: number): void {
    set16(this.buf, this.offset + URGENT, v);
  }
  /** Raw option bytes (padding included) as a subarray; empty when there are none. */
  options(): Uint8Array {
    return this.buf.subarray(this.offset + TCP_MIN_HEADER_LEN, this.offset + this.headerLen());
  }
  /** Absolute offset in `buf` of the first payload byte. */
  payloadOffset(): number {
    return this.offset + this.headerLen();
  }
  payloadLen(): number {
    return this.len - this.headerLen();
  }
  payload(): Uint8Array {
    return this.buf.subarray(this.offset + this.headerLen(), this.offset + this.len);
  }

  verifyChecksum(srcIp: number, dstIp: number): boolean {
    return foldSum(sumBytes(this.buf, this.offset, this.len, pseudoHeaderSum(srcIp, dstIp, IPPROTO_TCP, this.len))) === 0xffff;
  }
  fillChecksum(srcIp: number, dstIp: number): void {
    this.setChecksum(0);
    this.setChecksum(finishChecksum(sumBytes(this.buf, this.offset, this.len, pseudoHeaderSum(srcIp, dstIp, IPPROTO_TCP, this.len))));
  }

  // NAT rewrites (RFC 1624).
  setSrcPortWithChecksumUpdate(port: number): void {
    this.setChecksum(updateChecksum16(this.checksum(), this.srcPort(), port));
    this.setSrcPort(port);
  }
  setDstPortWithChecksumUpdate(port: number): void {
    this.setChecksum(updateChecksum16(this.checksum(), this.dstPort(), port));
    this.setDstPort(port);
  }
  /** Patches the checksum for an IP address change in the pseudo header (call alongside the IPv4 rewrite). */
  updateChecksumForAddrChange(oldAddr: number, newAddr: number): void {
    this.setChecksum(updateChecksum32(this.checksum(), oldAddr, newAddr));
  }
}

/** One TCP option. NOPs are listed (kind 1, empty data); End of Option List stops the walk. */
export interface TcpOption {
  kind: number;
  /** The bytes after kind and length. */
  data: Uint8Array;
}

const FIXED_OPTION_LEN: Record<number, number> = {
  [TCP_OPT_MSS]: 4,
  [TCP_OPT_WINDOW_SCALE]: 3,
  [TCP_OPT_SACK_PERMITTED]: 2,
  [TCP_OPT_TIMESTAMPS]: 10,
};

/** Splits raw option bytes into options; malformed when a length is impossible or runs past the end. */
export function parseTcpOptions(bytes: Uint8Array): TcpOption[] {
  const out: TcpOption[] = [];
  let i = 0;
  while (i < bytes.length) {
    const kind = bytes[i]!;
    if (kind === TCP_OPT_EOL) break;
    if (kind === TCP_OPT_NOP) {
      out.push({ kind, data: bytes.subarray(i + 1, i + 1) });
      i++;
      continue;
    }
    if (i + 1 >= bytes.length) throw malformed("tcp", `option ${kind} has no length byte`);
    const len = bytes[i + 1]!;
    if (len < 2 || i + len > bytes.length) throw malformed("tcp", `option ${kind} length ${len}`);
    const fixed = FIXED_OPTION_LEN[kind];
    if (fixed !== undefined && len !== fixed) throw malformed("tcp", `option ${kind} length ${len}, expected ${fixed}`);
    out.push({ kind, data: bytes.subarray(i + 2, i + len) });
    i += len;
  }
  return out;
}

/**
 * Offset of the value of the last option `kind` with length `len` in the options of the TCP
 * header at `b[o..]`, or -1 (allocation-free; later options win as in tcp_parse_options).
 * The walk stops at End of Option List or at a length that is impossible or runs past the
 * header, keeping what it found before.
 */
export function tcpOptionValue(b: Uint8Array, o: number, kind: number, len: number): number {
  const end = tcp.payloadOffset(b, o);
  let at = -1;
  let i = o + TCP_MIN_HEADER_LEN;
  while (i < end) {
    const k = b[i]!;
    if (k === TCP_OPT_EOL) break;
    if (k === TCP_OPT_NOP) {
      i++;
      continue;
    }
    const l = i + 1 < end ? b[i + 1]! : 0;
    if (l < 2 || i + l > end) break;
    if (k === kind && l === len) at = i + 2;
    i += l;
  }
  return at;
}

/** The MSS option's value, or undefined when absent (or the options do not parse). */
export function tcpMssOption(bytes: Uint8Array): number | undefined {
  try {
    for (const o of parseTcpOptions(bytes)) if (o.kind === TCP_OPT_MSS) return get16(o.data, 0);
  } catch {
    return undefined;
  }
  return undefined;
}

/** A 4-byte MSS option (RFC 9293 §3.7.1). */
export function buildMssOption(mss: number): Uint8Array {
  checkField("tcp mss", mss, 0xffff);
  return Uint8Array.of(TCP_OPT_MSS, 4, mss >>> 8, mss & 0xff);
}

// tcpdump's letters and order (print-tcp.c tcp_flag_values).
const FLAG_LETTERS: [number, string][] = [
  [TCP_FIN, "F"],
  [TCP_SYN, "S"],
  [TCP_RST, "R"],
  [TCP_PSH, "P"],
  [TCP_ACK, "."],
  [TCP_URG, "U"],
  [TCP_ECE, "E"],
  [TCP_CWR, "W"],
];

/** Flags the way tcpdump prints them: `[S]`, `[S.]`, `[P.]`, `[none]`. */
export function tcpFlagsString(flags: number): string {
  let s = "";
  for (const [bit, letter] of FLAG_LETTERS) if (flags & bit) s += letter;
  return `[${s || "none"}]`;
}

export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  urgent?: number;
  /** Raw option bytes, kept byte for byte; emit pads with zeros to a multiple of 4. */
  options?: Uint8Array;
  payload: Uint8Array;
}

const view = new TcpPacket(new Uint8Array(0));

function headerLenOf(repr: TcpRepr): number {
  const n = repr.options ? repr.options.length : 0;
  return TCP_MIN_HEADER_LEN + ((n + 3) & ~3);
}

export const TcpRepr = {
  /**
   * Parses the segment of exactly `len` bytes at `buf[off..]` (the IP payload). With both
   * addresses given the checksum is verified. Options and payload are subarrays of `buf`.
   */
  parse(buf: Uint8Array, off: number, len: number, srcIp?: number, dstIp?: number): TcpRepr {
    const p = view.wrap(buf, off, len).checkLen();
    if (srcIp !== undefined && dstIp !== undefined && !p.verifyChecksum(srcIp, dstIp)) {
      throw malformed("tcp", "bad checksum");
    }
    const repr: TcpRepr = {
      srcPort: p.srcPort(),
      dstPort: p.dstPort(),
      seq: p.seq(),
      ack: p.ack(),
      flags: p.flags(),
      window: p.window(),
      urgent: p.urgent(),
      payload: p.payload(),
    };
    if (p.headerLen() > TCP_MIN_HEADER_LEN) repr.options = p.options();
    return repr;
  },
  /** Writes header, options and payload (not copied when already in place), fills the checksum; returns the segment length. */
  emit(repr: TcpRepr, buf: Uint8Array, off: number, srcIp: number, dstIp: number, computeChecksum = true): number {
    const hl = headerLenOf(repr);
    if (hl > TCP_MAX_HEADER_LEN) throw new RangeError(`tcp options too long: ${repr.options!.length} bytes`);
    checkField("tcp src port", repr.srcPort, 0xffff);
    checkField("tcp dst port", repr.dstPort, 0xffff);
    checkField("tcp seq", repr.seq, 0xffff_ffff);
    checkField("tcp ack", repr.ack, 0xffff_ffff);
    checkField("tcp flags", repr.flags, 0xff);
    checkField("tcp window", repr.window, 0xffff);
    checkField("tcp urgent", repr.urgent ?? 0, 0xffff);
    const len = hl + repr.payload.length;
    checkField("tcp segment length", len, 0xffff - IPV4_MIN_HEADER_LEN);
    checkRoom(buf, off, len, "tcp emit");
    placeBytes(buf, off + hl, repr.payload);
    const p = view.wrap(buf, off, len);
    p.setSrcPort(repr.srcPort);
    p.setDstPort(repr.dstPort);
    p.setSeq(repr.seq);
    p.setAck(repr.ack);
    p.setHeaderLen(hl);
    p.setFlags(repr.flags);
    p.setWindow(repr.window);
    p.setUrgent(repr.urgent ?? 0);
    if (repr.options) {
      const o = off + TCP_MIN_HEADER_LEN;
      buf.set(repr.options, o);
      buf.fill(0, o + repr.options.length, off + hl);
    }
    if (computeChecksum) p.fillChecksum(srcIp, dstIp);
    else p.setChecksum(0);
    return len;
  },
  headerLen: headerLenOf,
  /** The whole segment's length (header + options + payload). */
  bufferLen(repr: TcpRepr): number {
    return headerLenOf(repr) + repr.payload.length;
  },
};
