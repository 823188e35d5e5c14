/**
 * Classic pcap writer, little-endian (draft-ietf-opsawg-pcap §4 File Header, §5 Packet
 * Record; libpcap's savefile format).
 */
import { DEFAULT_EPOCH_SECONDS, NS_PER_SEC, NS_PER_US } from "../base/clock.js";
import { DEFAULT_SNAPLEN, LINKTYPE_ETHERNET } from "./linktype.js";
import type { ByteSink } from "./sink.js";
import { assertEpochSeconds, assertU16, assertU32, assertVirtualNs } from "./assert.js";

/** Magic for microsecond timestamps (§4). */
export const PCAP_MAGIC_MICROS = 0xa1b2c3d4;
/** Magic for nanosecond timestamps (§4). */
export const PCAP_MAGIC_NANOS = 0xa1b23c4d;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
export const PCAP_FILE_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;

const U32_MAX = 0xffff_ffff;

export interface PcapWriterOptions {
  /** Nanosecond timestamps (magic 0xa1b23c4d); default true. False: µs, rounded down. */
  nanos?: boolean;
  snaplen?: number;
  linktype?: number;
  /** Wall-clock seconds since 1970 that virtual time 0 maps to. */
  epochSeconds?: number;
}

export class PcapWriter {
  readonly nanos: boolean;
  readonly snaplen: number;
  readonly linktype: number;
  readonly epochSeconds: number;
  private readonly scratch = new Uint8Array(PCAP_RECORD_HEADER_LEN);
  private readonly view = new DataView(this.scratch.buffer);
  private closed = false;

  /** Writes the file header at once, so it is written exactly once. */
  constructor(
    private readonly sink: ByteSink,
    opts: PcapWriterOptions = {},
  ) {
    this.nanos = opts.nanos ?? true;
    this.snaplen = opts.snaplen ?? DEFAULT_SNAPLEN;
    this.linktype = opts.linktype ?? LINKTYPE_ETHERNET;
    this.epochSeconds = opts.epochSeconds ?? DEFAULT_EPOCH_SECONDS;
    assertU32("snaplen", this.snaplen);
    if (this.snaplen === 0) throw new RangeError("snaplen must be positive");
    // §4: the LinkType field's low 16 bits are the link type; the top bits carry FCS info.
    assertU16("linktype", this.linktype);
    assertEpochSeconds(this.epochSeconds);

    const header = new Uint8Array(PCAP_FILE_HEADER_LEN);
    const h = new DataView(header.buffer);
    h.setUint32(0, this.nanos ? PCAP_MAGIC_NANOS : PCAP_MAGIC_MICROS, true);
    h.setUint16(4, PCAP_VERSION_MAJOR, true);
    h.setUint16(6, PCAP_VERSION_MINOR, true);
    h.setUint32(8, 0, true); // reserved (was thiszone)
    h.setUint32(12, 0, true); // reserved (was sigfigs)
    h.setUint32(16, this.snaplen, true);
    h.setUint32(20, this.linktype, true);
    sink.write(header);
  }

  /**
   * Appends one packet record. `tsNs` is virtual ns since the run started; `origLen` is the
   * length on the wire. Bytes past the snaplen are dropped; `origLen` is kept.
   */
  writePacket(tsNs: number, data: Uint8Array, origLen: number = data.length): void {
    if (this.closed) throw new Error("PcapWriter: write after close");
    assertVirtualNs(tsNs);
    assertU32("origLen", origLen);
    if (data.length > origLen) {
      throw new RangeError(`captured length ${data.length} exceeds original length ${origLen}`);
    }
    const frac = tsNs % NS_PER_SEC;
    const sec = this.epochSeconds + (tsNs - frac) / NS_PER_SEC;
    if (sec > U32_MAX) throw new RangeError(`timestamp ${sec}s does not fit pcap's 32-bit seconds`);
    const caplen = data.length > this.snaplen ? this.snaplen : data.length;
    const v = this.view;
    v.setUint32(0, sec, true);
    v.setUint32(4, this.nanos ? frac : Math.floor(frac / NS_PER_US), true);
    v.setUint32(8, caplen, true);
    v.setUint32(12, origLen, true);
    this.sink.write(this.scratch);
    this.sink.write(caplen === data.length ? data : data.subarray(0, caplen));
  }

  /** Closes the sink. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sink.close();
  }
}
