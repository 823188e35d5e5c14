/**
 * pcapng writer, little-endian (draft-ietf-opsawg-pcapng): one Section Header Block, an
 * Interface Description Block per `addInterface`, an Enhanced Packet Block per packet (with
 * epb_flags when a direction is given) and Interface Statistics Blocks on request (dumpcap
 * writes one per interface when a capture ends). IDBs may follow EPBs in a section (§3.3),
 * so interfaces can be added at any time before the packets that use them.
 */
import { DEFAULT_EPOCH_SECONDS, NS_PER_SEC } from "../base/clock.js";
import { assertEpochSeconds, assertU16, assertU32, assertVirtualNs } from "./assert.js";
import { DEFAULT_SNAPLEN, LINKTYPE_ETHERNET } from "./linktype.js";
import { encodeOptions } from "./pcapng-options.js";
import {
  BLOCK_EPB,
  BLOCK_IDB,
  BLOCK_ISB,
  BLOCK_OVERHEAD,
  BLOCK_SHB,
  BYTE_ORDER_MAGIC,
  EPB_FLAGS,
  IF_DESCRIPTION,
  IF_NAME,
  IF_TSRESOL,
  ISB_ENDTIME,
  ISB_FILTERACCEPT,
  ISB_IFDROP,
  ISB_IFRECV,
  ISB_OSDROP,
  ISB_STARTTIME,
  ISB_USRDELIV,
  OPT_COMMENT,
  PCAPNG_VERSION_MAJOR,
  PCAPNG_VERSION_MINOR,
  SHB_HARDWARE,
  SHB_OS,
  SHB_USERAPPL,
  TSRESOL_NANOS,
  pad4,
} from "./pcapng-format.js";
import type { ByteSink } from "./sink.js";
import { writeNs64 } from "./timestamp.js";

export interface PcapngWriterOptions {
  hardware?: string;
  os?: string;
  /** Name of the writing application; default "podwire". */
  userappl?: string;
  /** Wall-clock seconds since 1970 that virtual time 0 maps to. */
  epochSeconds?: number;
}

export interface PcapngInterface {
  name: string;
  description?: string;
  linktype?: number;
  /** 0 means no limit (§4.2). */
  snaplen?: number;
}

export interface PcapngPacketOptions {
  comment?: string;
  /** Length on the wire; default the data length. */
  origLen?: number;
  /**
   * The epb_flags word (§4.3.1); bits 0-1 are the direction (EPB_FLAGS_INBOUND,
   * EPB_FLAGS_OUTBOUND). Absent: no epb_flags option.
   */
  flags?: number;
}

/** An Interface Statistics Block's counters (§4.6); absent ones are left out. */
export interface PcapngInterfaceStatistics {
  /** isb_starttime / isb_endtime: virtual ns, like packet timestamps. */
  startNs?: number;
  endNs?: number;
  /** isb_ifrecv: packets received from the interface since the capture started. */
  ifRecv?: number | bigint;
  /** isb_ifdrop: packets the interface dropped since the capture started. */
  ifDrop?: number | bigint;
  filterAccept?: number | bigint;
  osDrop?: number | bigint;
  usrDeliv?: number | bigint;
  comment?: string;
}

/** EPB fixed part (§4.3): type, length, interface id, ts high, ts low, caplen, origlen. */
const EPB_HEAD_LEN = 28;

export class PcapngWriter {
  readonly epochSeconds: number;
  private readonly snaplens: number[] = [];
  private readonly head = new Uint8Array(EPB_HEAD_LEN);
  private readonly headView = new DataView(this.head.buffer);
  /** tails[p]: p zero bytes of data padding, then the trailing block length. */
  private readonly tails: Uint8Array[] = [0, 1, 2, 3].map((p) => new Uint8Array(p + 4));
  private readonly tailViews = this.tails.map((t) => new DataView(t.buffer));
  /** epb_flags (code 2, length 4, value) then opt_endofopt. */
  private readonly flagsOption = Uint8Array.of(EPB_FLAGS, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  private readonly flagsView = new DataView(this.flagsOption.buffer);
  private closed = false;

  /** Writes the Section Header Block at once (§4.1). */
  constructor(
    private readonly sink: ByteSink,
    opts: PcapngWriterOptions = {},
  ) {
    this.epochSeconds = opts.epochSeconds ?? DEFAULT_EPOCH_SECONDS;
    assertEpochSeconds(this.epochSeconds);
    const options = encodeOptions([
      [SHB_HARDWARE, opts.hardware],
      [SHB_OS, opts.os],
      [SHB_USERAPPL, opts.userappl ?? "podwire"],
    ]);
    const len = BLOCK_OVERHEAD + 16 + options.length;
    const b = new Uint8Array(len);
    const v = new DataView(b.buffer);
    v.setUint32(0, BLOCK_SHB, true);
    v.setUint32(4, len, true);
    v.setUint32(8, BYTE_ORDER_MAGIC, true);
    v.setUint16(12, PCAPNG_VERSION_MAJOR, true);
    v.setUint16(14, PCAPNG_VERSION_MINOR, true);
    // Section length -1: not specified, so the section can be streamed.
    v.setUint32(16, 0xffff_ffff, true);
    v.setUint32(20, 0xffff_ffff, true);
    b.set(options, 24);
    v.setUint32(len - 4, len, true);
    sink.write(b);
  }

  get interfaceCount(): number {
    return this.snaplens.length;
  }

  /** Writes an Interface Description Block (§4.2) with ns timestamps; returns its id. */
  addInterface(iface: PcapngInterface): number {
    this.assertOpen();
    const linktype = iface.linktype ?? LINKTYPE_ETHERNET;
    const snaplen = iface.snaplen ?? DEFAULT_SNAPLEN;
    assertU16("linktype", linktype);
    assertU32("snaplen", snaplen);
    const options = encodeOptions([
      [IF_NAME, iface.name],
      [IF_DESCRIPTION, iface.description],
      [IF_TSRESOL, Uint8Array.of(TSRESOL_NANOS)],
    ]);
    const len = BLOCK_OVERHEAD + 8 + options.length;
    const b = new Uint8Array(len);
    const v = new DataView(b.buffer);
    v.setUint32(0, BLOCK_IDB, true);
    v.setUint32(4, len, true);
    v.setUint16(8, linktype, true);
    v.setUint16(10, 0, true); // reserved
    v.setUint32(12, snaplen, true);
    b.set(options, 16);
    v.setUint32(len - 4, len, true);
    this.sink.write(b);
    this.snaplens.push(snaplen);
    return this.snaplens.length - 1;
  }

  /**
   * Appends an Enhanced Packet Block (§4.3) on interface `ifId` at virtual time `tsNs`.
   * Bytes past the interface's snaplen are dropped; the original length is kept.
   */
  writePacket(ifId: number, tsNs: number, data: Uint8Array, opts?: PcapngPacketOptions): void {
    this.assertOpen();
    this.assertInterface(ifId);
    assertVirtualNs(tsNs);
    const origLen = opts?.origLen ?? data.length;
    assertU32("origLen", origLen);
    if (data.length > origLen) {
      throw new RangeError(`captured length ${data.length} exceeds original length ${origLen}`);
    }
    const snaplen = this.snaplens[ifId]!;
    const caplen = snaplen !== 0 && data.length > snaplen ? snaplen : data.length;
    const padded = pad4(caplen);
    const flags = opts?.flags;
    let options: Uint8Array | undefined;
    if (opts?.comment) {
      options = encodeOptions([
        [EPB_FLAGS, flags === undefined ? undefined : this.u32Bytes(flags)],
        [OPT_COMMENT, opts.comment],
      ]);
    } else if (flags !== undefined) {
      // The common case: epb_flags alone, from a preset buffer (no allocation per packet).
      assertU32("epb_flags", flags);
      this.flagsView.setUint32(4, flags, true);
      options = this.flagsOption;
    }
    const len = EPB_HEAD_LEN + padded + (options ? options.length : 0) + 4;

    const v = this.headView;
    v.setUint32(0, BLOCK_EPB, true);
    v.setUint32(4, len, true);
    v.setUint32(8, ifId, true);
    this.writeTs(v, 12, tsNs); // if_tsresol = 9: units are ns since 1970
    v.setUint32(20, caplen, true);
    v.setUint32(24, origLen, true);
    this.sink.write(this.head);
    this.sink.write(caplen === data.length ? data : data.subarray(0, caplen));
    const padLen = padded - caplen;
    if (options) {
      if (padLen > 0) this.sink.write(this.tails[padLen]!.subarray(0, padLen));
      this.sink.write(options);
      this.tailViews[0]!.setUint32(0, len, true);
      this.sink.write(this.tails[0]!);
    } else {
      this.tailViews[padLen]!.setUint32(padLen, len, true);
      this.sink.write(this.tails[padLen]!);
    }
  }

  /**
   * Appends an Interface Statistics Block (§4.6) for interface `ifId`, its counters taken at
   * virtual time `tsNs`. Counters are 64-bit; start and end times use the interface's ns units.
   */
  writeInterfaceStatistics(ifId: number, tsNs: number, stats: PcapngInterfaceStatistics): void {
    this.assertOpen();
    this.assertInterface(ifId);
    assertVirtualNs(tsNs);
    const options = encodeOptions([
      [OPT_COMMENT, stats.comment],
      [ISB_STARTTIME, stats.startNs === undefined ? undefined : this.tsBytes(stats.startNs)],
      [ISB_ENDTIME, stats.endNs === undefined ? undefined : this.tsBytes(stats.endNs)],
      [ISB_IFRECV, u64Bytes("isb_ifrecv", stats.ifRecv)],
      [ISB_IFDROP, u64Bytes("isb_ifdrop", stats.ifDrop)],
      [ISB_FILTERACCEPT, u64Bytes("isb_filteraccept", stats.filterAccept)],
      [ISB_OSDROP, u64Bytes("isb_osdrop", stats.osDrop)],
      [ISB_USRDELIV, u64Bytes("isb_usrdeliv", stats.usrDeliv)],
    ]);
    const len = BLOCK_OVERHEAD + 12 + options.length;
    const b = new Uint8Array(len);
    const v = new DataView(b.buffer);
    v.setUint32(0, BLOCK_ISB, true);
    v.setUint32(4, len, true);
    v.setUint32(8, ifId, true);
    this.writeTs(v, 12, tsNs);
    b.set(options, 20);
    v.setUint32(len - 4, len, true);
    this.sink.write(b);
  }

  /** Closes the sink. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sink.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error("PcapngWriter: write after close");
  }

  private assertInterface(ifId: number): void {
    if (!Number.isInteger(ifId) || ifId < 0 || ifId >= this.snaplens.length) {
      throw new RangeError(`unknown pcapng interface id ${ifId} (${this.snaplens.length} defined)`);
    }
  }

  /** A virtual time as the two 32-bit words (high, low) of ns since 1970, at `off`. */
  private writeTs(v: DataView, off: number, tsNs: number): void {
    const frac = tsNs % NS_PER_SEC;
    writeNs64(v, off, off + 4, this.epochSeconds + (tsNs - frac) / NS_PER_SEC, frac, true);
  }

  /** An isb_starttime/isb_endtime value: the EPB timestamp format (§4.6). */
  private tsBytes(tsNs: number): Uint8Array {
    assertVirtualNs(tsNs);
    const b = new Uint8Array(8);
    this.writeTs(new DataView(b.buffer), 0, tsNs);
    return b;
  }

  private u32Bytes(x: number): Uint8Array {
    assertU32("epb_flags", x);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, x, true);
    return b;
  }
}

/** A 64-bit counter option value, little-endian; undefined stays undefined (left out). */
function u64Bytes(name: string, x: number | bigint | undefined): Uint8Array | undefined {
  if (x === undefined) return undefined;
  const n = typeof x === "bigint" ? x : Number.isSafeInteger(x) && x >= 0 ? BigInt(x) : -1n;
  if (n < 0n || n > 0xffff_ffff_ffff_ffffn) throw new RangeError(`${name} must be a 64-bit unsigned integer, got ${x}`);
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n, true);
  return b;
}
