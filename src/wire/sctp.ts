/**
 * SCTP (RFC 9260): the common header, chunks, and the CRC32c checksum.
 *
 * ```
 *  0          2          4                     8                    12
 *  +----------+----------+---------------------+---------------------+--------
 *  | src port | dst port |  verification tag   |  checksum (CRC32c)  | chunks…
 * ```
 * Every chunk is `type(1) flags(1) length(2) value`, padded with zeros to a multiple of 4
 * bytes; the length field does not count the padding (§3.2).
 *
 * The checksum (§6.8, Appendix B) is CRC32c (Castagnoli, reflected polynomial 0x82F63B78)
 * over the whole packet with the checksum field zeroed, and it has no pseudo header: a NAT
 * that rewrites addresses leaves it alone, but one that rewrites a port must recompute it
 * over the whole packet (nf_nat_proto.c sctp_manip_pkt). It is not a one's-complement sum,
 * so there is no incremental update. The 32-bit result is placed least significant byte
 * first (Appendix B's `out_buf[0] = byte0`), which is how Linux's `sctp_compute_cksum`
 * (cpu_to_le32) and Wireshark read it: `checksum()` returns the CRC value itself.
 */
import { malformed, truncated } from "../base/errors.js";
import { checkField, checkRoom, get16, get32, placeBytes, set16, set32 } from "./bytes.js";
import { SizedByteView } from "./view.js";

export const SCTP_HEADER_LEN = 12;
export const SCTP_CHUNK_HEADER_LEN = 4;

/** Chunk type codes (RFC 9260 §3.2). */
export const SCTP_CHUNK_DATA = 0;
export const SCTP_CHUNK_INIT = 1;
export const SCTP_CHUNK_INIT_ACK = 2;
export const SCTP_CHUNK_SACK = 3;
export const SCTP_CHUNK_HEARTBEAT = 4;
export const SCTP_CHUNK_HEARTBEAT_ACK = 5;
export const SCTP_CHUNK_ABORT = 6;
export const SCTP_CHUNK_SHUTDOWN = 7;
export const SCTP_CHUNK_SHUTDOWN_ACK = 8;
export const SCTP_CHUNK_ERROR = 9;
export const SCTP_CHUNK_COOKIE_ECHO = 10;
export const SCTP_CHUNK_COOKIE_ACK = 11;
export const SCTP_CHUNK_SHUTDOWN_COMPLETE = 14;

/** The T bit of ABORT and SHUTDOWN COMPLETE: the sender had no TCB and reflected the peer's tag. */
export const SCTP_FLAG_T = 0x01;
/** DATA chunk flags: E (last fragment), B (first fragment), U (unordered). */
export const SCTP_DATA_E = 0x01;
export const SCTP_DATA_B = 0x02;
export const SCTP_DATA_U = 0x04;

/** The State Cookie parameter of INIT ACK (§3.3.3). */
export const SCTP_PARAM_STATE_COOKIE = 7;

const CHUNK_NAMES: Readonly<Record<number, string>> = {
  0: "DATA", 1: "INIT", 2: "INIT_ACK", 3: "SACK", 4: "HEARTBEAT", 5: "HEARTBEAT_ACK", 6: "ABORT", 7: "SHUTDOWN",
  8: "SHUTDOWN_ACK", 9: "ERROR", 10: "COOKIE_ECHO", 11: "COOKIE_ACK", 14: "SHUTDOWN_COMPLETE",
};

/** A chunk type's name as RFC 9260 writes it (`INIT_ACK`), or `type N` for others. */
export function sctpChunkName(type: number): string {
  return CHUNK_NAMES[type] ?? `type ${type}`;
}

// ---------------------------------------------------------------- CRC32c

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/**
 * Continues a CRC32c register over `buf[off, off+len)`. Start from 0xffffffff and
 * complement at the end (`crc32c` does both).
 */
export function crc32cUpdate(crc: number, buf: Uint8Array, off: number, len: number): number {
  let c = crc >>> 0;
  const end = off + len;
  for (let i = off; i < end; i++) c = CRC32C_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** CRC32c of `buf[off, off+len)` (RFC 9260 Appendix B; RFC 3720 §B.4): 0xe3069283 for "123456789". */
export function crc32c(buf: Uint8Array, off = 0, len = buf.length - off): number {
  return ~crc32cUpdate(0xffffffff, buf, off, len) >>> 0;
}

/** The SCTP checksum of the packet at `buf[off, off+len)`: CRC32c with the checksum field read as zero. */
export function sctpChecksum(buf: Uint8Array, off: number, len: number): number {
  let c = crc32cUpdate(0xffffffff, buf, off, 8);
  c = crc32cUpdate(c, ZERO4, 0, 4);
  c = crc32cUpdate(c, buf, off + SCTP_HEADER_LEN, len - SCTP_HEADER_LEN);
  return ~c >>> 0;
}
const ZERO4 = new Uint8Array(4);

/** Reads the checksum field: the CRC value, stored least significant byte first. */
function getLe32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}
function setLe32(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}

/**
 * Recomputes the checksum of the SCTP packet at `buf[off, off+len)` in place, as the
 * kernel's NAT does after changing a port. `len` < 12 leaves it alone (a header cut short
 * inside an ICMP error has no checksum field to write).
 */
export function refillSctpChecksum(buf: Uint8Array, off: number, len: number): void {
  if (len < SCTP_HEADER_LEN) return;
  setLe32(buf, off + 8, sctpChecksum(buf, off, len));
}

/**
 * SCTP fields in place over `(b, o)`, `o` the offset of the common header, and chunk
 * header fields over `(b, at)`, `at` the offset of a chunk: allocation-free accessors for
 * the per-packet path (no bounds checks). A chunk walk steps `at` by `sctp.chunkSpan`.
 */
export const sctp = {
  verificationTag(b: Uint8Array, o: number): number {
    return get32(b, o + 4);
  },
  /** The CRC32c value carried in the checksum field (stored least significant byte first). */
  checksum(b: Uint8Array, o: number): number {
    return getLe32(b, o + 8);
  },
  /** Offset of the first chunk. */
  chunksOffset(_b: Uint8Array, o: number): number {
    return o + SCTP_HEADER_LEN;
  },
  chunkType(b: Uint8Array, at: number): number {
    return b[at]!;
  },
  chunkFlags(b: Uint8Array, at: number): number {
    return b[at + 1]!;
  },
  /** The chunk's length field (header and value, padding not counted). */
  chunkLen(b: Uint8Array, at: number): number {
    return get16(b, at + 2);
  },
  /** Bytes from this chunk to the next: the length rounded up to a multiple of 4 (§3.2). */
  chunkSpan(b: Uint8Array, at: number): number {
    return (get16(b, at + 2) + 3) & ~3;
  },
  /** Writes a chunk header (type, flags, length); the value is the caller's. */
  setChunkHeader(b: Uint8Array, at: number, type: number, flags: number, len: number): void {
    b[at] = type;
    b[at + 1] = flags;
    set16(b, at + 2, len);
  },
  /** Initiate Tag of an INIT or INIT ACK chunk at `at` (§3.3.2; 20 bytes must be present). */
  initiateTag(b: Uint8Array, at: number): number {
    return get32(b, at + SCTP_CHUNK_HEADER_LEN);
  },
};

/** Bytes of an INIT or INIT ACK chunk up to the Initial TSN (its fixed part, §3.3.2). */
export const SCTP_INIT_CHUNK_MIN_LEN = 20;

// ---------------------------------------------------------------- view

export class SctpPacket extends SizedByteView {
  /** Checks that the header is present and every chunk header and length lies inside `len`. */
  checkLen(len: number): this {
    const avail = Math.min(len, this.buf.length - this.offset);
    if (avail < SCTP_HEADER_LEN) throw truncated("sctp", `need ${SCTP_HEADER_LEN} bytes, have ${avail}`);
    this.len = avail;
    let at = SCTP_HEADER_LEN;
    while (at < avail) {
      if (avail - at < SCTP_CHUNK_HEADER_LEN) throw truncated("sctp", `chunk header at ${at}: ${avail - at} bytes left`);
      const clen = get16(this.buf, this.offset + at + 2);
      if (clen < SCTP_CHUNK_HEADER_LEN) throw malformed("sctp", `chunk at ${at} has length ${clen}`);
      if (at + clen > avail) throw truncated("sctp", `chunk at ${at} of length ${clen}, have ${avail - at}`);
      at += (clen + 3) & ~3;
    }
    return this;
  }

  srcPort(): number {
    return get16(this.buf, this.offset);
  }
  setSrcPort(v: number): void {
    set16(this.buf, this.offset, v);
  }
  dstPort(): number {
    return get16(this.buf, this.offset + 2);
  }
  setDstPort(v: number): void {
    set16(this.buf, this.offset + 2, v);
  }
  verificationTag(): number {
    return get32(this.buf, this.offset + 4);
  }
  setVerificationTag(v: number): void {
    set32(this.buf, this.offset + 4, v);
  }
  /** The CRC32c value carried in the checksum field. */
  checksum(): number {
    return getLe32(this.buf, this.offset + 8);
  }
  setChecksum(v: number): void {
    setLe32(this.buf, this.offset + 8, v);
  }
  verifyChecksum(): boolean {
    return this.checksum() === sctpChecksum(this.buf, this.offset, this.len);
  }
  fillChecksum(): void {
    this.setChecksum(sctpChecksum(this.buf, this.offset, this.len));
  }

  /** Absolute offset of the first chunk. */
  chunksOffset(): number {
    return this.offset + SCTP_HEADER_LEN;
  }
  /**
   * Calls `fn(type, flags, valueOff, valueLen)` for each chunk (absolute value offset) until
   * it returns false. Call after `checkLen`.
   */
  forEachChunk(fn: (type: number, flags: number, valueOff: number, valueLen: number) => boolean | void): void {
    let at = this.offset + SCTP_HEADER_LEN;
    const end = this.offset + this.len;
    while (at + SCTP_CHUNK_HEADER_LEN <= end) {
      const clen = get16(this.buf, at + 2);
      if (clen < SCTP_CHUNK_HEADER_LEN) return;
      if (fn(this.buf[at]!, this.buf[at + 1]!, at + SCTP_CHUNK_HEADER_LEN, clen - SCTP_CHUNK_HEADER_LEN) === false) return;
      at += (clen + 3) & ~3;
    }
  }
  /** Type of the first chunk, or -1 when there is none. */
  firstChunkType(): number {
    return this.len >= SCTP_HEADER_LEN + SCTP_CHUNK_HEADER_LEN ? this.buf[this.offset + SCTP_HEADER_LEN]! : -1;
  }
}

// ---------------------------------------------------------------- chunks

/** INIT and INIT ACK (§3.3.2, §3.3.3). Parameters other than the State Cookie are not modelled. */
export interface SctpInitChunk {
  type: "INIT" | "INIT_ACK";
  initiateTag: number;
  /** Advertised receiver window credit. */
  aRwnd: number;
  outStreams: number;
  inStreams: number;
  initialTsn: number;
  /** INIT ACK's State Cookie parameter (required there). */
  cookie?: Uint8Array;
}

export interface SctpDataChunk {
  type: "DATA";
  /** U/B/E bits; default B|E (a whole unfragmented message). */
  flags?: number;
  tsn: number;
  streamId: number;
  streamSeq: number;
  /** Payload protocol identifier. */
  ppid: number;
  data: Uint8Array;
}

export interface SctpSackChunk {
  type: "SACK";
  cumTsnAck: number;
  aRwnd: number;
  /** Gap ack blocks as [start, end] offsets from the cumulative TSN. */
  gaps?: [number, number][];
  dupTsns?: number[];
}

export type SctpChunk =
  | SctpInitChunk
  | SctpDataChunk
  | SctpSackChunk
  | { type: "COOKIE_ECHO"; cookie: Uint8Array }
  | { type: "COOKIE_ACK" }
  /** `tBit`: the tag is the one of the packet being answered (the sender has no TCB). */
  | { type: "ABORT"; tBit: boolean }
  | { type: "SHUTDOWN"; cumTsnAck: number }
  | { type: "SHUTDOWN_ACK" }
  | { type: "SHUTDOWN_COMPLETE"; tBit: boolean }
  | { type: "HEARTBEAT" | "HEARTBEAT_ACK"; info: Uint8Array }
  /** Any other chunk, kept as bytes. */
  | { type: "other"; code: number; flags: number; value: Uint8Array };

export interface SctpRepr {
  srcPort: number;
  dstPort: number;
  verificationTag: number;
  chunks: SctpChunk[];
}

const CODE_OF: Readonly<Record<Exclude<SctpChunk["type"], "other">, number>> = {
  DATA: SCTP_CHUNK_DATA, INIT: SCTP_CHUNK_INIT, INIT_ACK: SCTP_CHUNK_INIT_ACK, SACK: SCTP_CHUNK_SACK,
  HEARTBEAT: SCTP_CHUNK_HEARTBEAT, HEARTBEAT_ACK: SCTP_CHUNK_HEARTBEAT_ACK, ABORT: SCTP_CHUNK_ABORT,
  SHUTDOWN: SCTP_CHUNK_SHUTDOWN, SHUTDOWN_ACK: SCTP_CHUNK_SHUTDOWN_ACK, COOKIE_ECHO: SCTP_CHUNK_COOKIE_ECHO,
  COOKIE_ACK: SCTP_CHUNK_COOKIE_ACK, SHUTDOWN_COMPLETE: SCTP_CHUNK_SHUTDOWN_COMPLETE,
};

/** The chunk's type code. */
export function sctpChunkCode(c: SctpChunk): number {
  return c.type === "other" ? c.code : CODE_OF[c.type];
}

/** Bytes of the chunk's value (after its 4-byte header, before padding). */
function valueLen(c: SctpChunk): number {
  switch (c.type) {
    case "INIT":
    case "INIT_ACK":
      // The chunk length leaves out the padding of its last parameter (§3.2).
      return 16 + (c.cookie ? 4 + c.cookie.length : 0);
    case "DATA":
      return 12 + c.data.length;
    case "SACK":
      return 12 + 4 * (c.gaps?.length ?? 0) + 4 * (c.dupTsns?.length ?? 0);
    case "COOKIE_ECHO":
      return c.cookie.length;
    case "SHUTDOWN":
      return 4;
    case "HEARTBEAT":
    case "HEARTBEAT_ACK":
      return 4 + c.info.length;
    case "other":
      return c.value.length;
    default:
      return 0;
  }
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

function chunkFlags(c: SctpChunk): number {
  switch (c.type) {
    case "DATA":
      return c.flags ?? SCTP_DATA_B | SCTP_DATA_E;
    case "ABORT":
    case "SHUTDOWN_COMPLETE":
      return c.tBit ? SCTP_FLAG_T : 0;
    case "other":
      return c.flags;
    default:
      return 0;
  }
}

/** Writes one chunk at `b[o..]`, zero padding included; returns the padded length. */
function emitChunk(c: SctpChunk, b: Uint8Array, o: number): number {
  const vlen = valueLen(c);
  const total = SCTP_CHUNK_HEADER_LEN + vlen;
  checkField("sctp chunk length", total, 0xffff);
  b[o] = sctpChunkCode(c);
  b[o + 1] = chunkFlags(c);
  set16(b, o + 2, total);
  const v = o + SCTP_CHUNK_HEADER_LEN;
  switch (c.type) {
    case "INIT":
    case "INIT_ACK":
      set32(b, v, c.initiateTag);
      set32(b, v + 4, c.aRwnd);
      set16(b, v + 8, c.outStreams);
      set16(b, v + 10, c.inStreams);
      set32(b, v + 12, c.initialTsn);
      if (c.cookie) {
        set16(b, v + 16, SCTP_PARAM_STATE_COOKIE);
        set16(b, v + 18, 4 + c.cookie.length);
        placeBytes(b, v + 20, c.cookie);
      }
      break;
    case "DATA":
      set32(b, v, c.tsn);
      set16(b, v + 4, c.streamId);
      set16(b, v + 6, c.streamSeq);
      set32(b, v + 8, c.ppid);
      placeBytes(b, v + 12, c.data);
      break;
    case "SACK": {
      set32(b, v, c.cumTsnAck);
      set32(b, v + 4, c.aRwnd);
      const gaps = c.gaps ?? [];
      const dups = c.dupTsns ?? [];
      set16(b, v + 8, gaps.length);
      set16(b, v + 10, dups.length);
      let at = v + 12;
      for (const [s, e] of gaps) {
        set16(b, at, s);
        set16(b, at + 2, e);
        at += 4;
      }
      for (const d of dups) {
        set32(b, at, d);
        at += 4;
      }
      break;
    }
    case "COOKIE_ECHO":
      placeBytes(b, v, c.cookie);
      break;
    case "SHUTDOWN":
      set32(b, v, c.cumTsnAck);
      break;
    case "HEARTBEAT":
    case "HEARTBEAT_ACK":
      // One Heartbeat Info parameter (type 1) holding the sender's opaque bytes.
      set16(b, v, 1);
      set16(b, v + 2, 4 + c.info.length);
      placeBytes(b, v + 4, c.info);
      break;
    case "other":
      placeBytes(b, v, c.value);
      break;
    default:
      break;
  }
  const padded = pad4(total);
  b.fill(0, o + total, o + padded);
  return padded;
}

function parseChunk(b: Uint8Array, type: number, flags: number, v: number, vlen: number): SctpChunk {
  const need = (n: number, what: string): void => {
    if (vlen < n) throw malformed("sctp", `${what} chunk value of ${vlen} bytes, need ${n}`);
  };
  switch (type) {
    case SCTP_CHUNK_INIT:
    case SCTP_CHUNK_INIT_ACK: {
      need(16, sctpChunkName(type));
      const c: SctpInitChunk = {
        type: type === SCTP_CHUNK_INIT ? "INIT" : "INIT_ACK",
        initiateTag: get32(b, v),
        aRwnd: get32(b, v + 4),
        outStreams: get16(b, v + 8),
        inStreams: get16(b, v + 10),
        initialTsn: get32(b, v + 12),
      };
      // Variable parameters: type(2) length(2) value, padded to 4.
      let at = v + 16;
      const end = v + vlen;
      while (at + 4 <= end) {
        const ptype = get16(b, at);
        const plen = get16(b, at + 2);
        if (plen < 4 || at + plen > end) throw malformed("sctp", `${sctpChunkName(type)} parameter of length ${plen}`);
        if (ptype === SCTP_PARAM_STATE_COOKIE) c.cookie = b.subarray(at + 4, at + plen);
        at += pad4(plen);
      }
      return c;
    }
    case SCTP_CHUNK_DATA:
      need(12, "DATA");
      return { type: "DATA", flags, tsn: get32(b, v), streamId: get16(b, v + 4), streamSeq: get16(b, v + 6), ppid: get32(b, v + 8), data: b.subarray(v + 12, v + vlen) };
    case SCTP_CHUNK_SACK: {
      need(12, "SACK");
      const ngaps = get16(b, v + 8);
      const ndups = get16(b, v + 10);
      need(12 + 4 * ngaps + 4 * ndups, "SACK");
      const gaps: [number, number][] = [];
      const dupTsns: number[] = [];
      let at = v + 12;
      for (let i = 0; i < ngaps; i++, at += 4) gaps.push([get16(b, at), get16(b, at + 2)]);
      for (let i = 0; i < ndups; i++, at += 4) dupTsns.push(get32(b, at));
      return { type: "SACK", cumTsnAck: get32(b, v), aRwnd: get32(b, v + 4), gaps, dupTsns };
    }
    case SCTP_CHUNK_COOKIE_ECHO:
      return { type: "COOKIE_ECHO", cookie: b.subarray(v, v + vlen) };
    case SCTP_CHUNK_COOKIE_ACK:
      return { type: "COOKIE_ACK" };
    case SCTP_CHUNK_ABORT:
      return { type: "ABORT", tBit: (flags & SCTP_FLAG_T) !== 0 };
    case SCTP_CHUNK_SHUTDOWN:
      need(4, "SHUTDOWN");
      return { type: "SHUTDOWN", cumTsnAck: get32(b, v) };
    case SCTP_CHUNK_SHUTDOWN_ACK:
      return { type: "SHUTDOWN_ACK" };
    case SCTP_CHUNK_SHUTDOWN_COMPLETE:
      return { type: "SHUTDOWN_COMPLETE", tBit: (flags & SCTP_FLAG_T) !== 0 };
    case SCTP_CHUNK_HEARTBEAT:
    case SCTP_CHUNK_HEARTBEAT_ACK:
      need(4, sctpChunkName(type));
      // The Heartbeat Info parameter: type 1, length, the sender's opaque bytes.
      return { type: type === SCTP_CHUNK_HEARTBEAT ? "HEARTBEAT" : "HEARTBEAT_ACK", info: b.subarray(v + 4, v + Math.max(4, Math.min(vlen, get16(b, v + 2)))) };
    default:
      return { type: "other", code: type, flags, value: b.subarray(v, v + vlen) };
  }
}

const view = new SctpPacket(new Uint8Array(0));

export const SctpRepr = {
  /**
   * Parses the packet in `len` available bytes at `buf[off..]`; with `verify`, a wrong
   * CRC32c is an error. Byte fields (cookies, data) are subarrays of `buf`.
   */
  parse(buf: Uint8Array, off: number, len: number, verify = false): SctpRepr {
    const p = view.wrap(buf, off, len).checkLen(len);
    if (verify && !p.verifyChecksum()) throw malformed("sctp", "bad CRC32c checksum");
    const chunks: SctpChunk[] = [];
    p.forEachChunk((type, flags, v, vlen) => {
      chunks.push(parseChunk(buf, type, flags, v, vlen));
    });
    return { srcPort: p.srcPort(), dstPort: p.dstPort(), verificationTag: p.verificationTag(), chunks };
  },
  /** Writes the packet at `buf[off..]`, fills the CRC32c and returns its length. */
  emit(repr: SctpRepr, buf: Uint8Array, off: number): number {
    checkField("sctp src port", repr.srcPort, 0xffff);
    checkField("sctp dst port", repr.dstPort, 0xffff);
    checkField("sctp verification tag", repr.verificationTag, 0xffffffff);
    const len = SctpRepr.bufferLen(repr);
    checkRoom(buf, off, len, "sctp emit");
    set16(buf, off, repr.srcPort);
    set16(buf, off + 2, repr.dstPort);
    set32(buf, off + 4, repr.verificationTag);
    let at = off + SCTP_HEADER_LEN;
    for (const c of repr.chunks) at += emitChunk(c, buf, at);
    view.wrap(buf, off, len).fillChecksum();
    return len;
  },
  /** The whole packet's length: header plus padded chunks. */
  bufferLen(repr: SctpRepr): number {
    let n = SCTP_HEADER_LEN;
    for (const c of repr.chunks) n += pad4(SCTP_CHUNK_HEADER_LEN + valueLen(c));
    return n;
  },
};
