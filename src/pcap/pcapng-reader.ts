/**
 * pcapng reader (draft-ietf-opsawg-pcapng): SHB, IDB, EPB (with epb_flags), SPB and ISB in
 * either byte order, several sections, unknown blocks skipped by their length (§3.1).
 */
import { WireError, malformed, truncated } from "../base/errors.js";
import type { Capture, CaptureInterface, CapturePacket, CaptureStatistics } from "./capture.js";
import {
  BLOCK_EPB,
  BLOCK_IDB,
  BLOCK_ISB,
  BLOCK_OVERHEAD,
  BLOCK_SHB,
  BLOCK_SPB,
  BYTE_ORDER_MAGIC,
  EPB_FLAGS,
  EPB_FLAGS_DIRECTION_MASK,
  EPB_FLAGS_INBOUND,
  EPB_FLAGS_OUTBOUND,
  IF_DESCRIPTION,
  IF_NAME,
  IF_TSOFFSET,
  IF_TSRESOL,
  ISB_ENDTIME,
  ISB_FILTERACCEPT,
  ISB_IFDROP,
  ISB_IFRECV,
  ISB_OSDROP,
  ISB_STARTTIME,
  ISB_USRDELIV,
  OPT_COMMENT,
  OPT_ENDOFOPT,
  PCAPNG_VERSION_MAJOR,
  TSRESOL_DEFAULT,
  pad4,
} from "./pcapng-format.js";

const PROTO = "pcapng";
// ignoreBOM keeps a leading U+FEFF, so strings round-trip exactly.
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

/** How one interface's timestamp units become ns since 1970: units * mul / div + offset. */
interface TimeScale {
  mul: bigint;
  div: bigint;
  offsetNs: bigint;
  snaplen: number;
}

export function readPcapng(bytes: Uint8Array): Capture {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const interfaces: CaptureInterface[] = [];
  const packets: CapturePacket[] = [];
  const statistics: CaptureStatistics[] = [];
  let scales: TimeScale[] = []; // this section's interfaces
  let sectionBase = 0; // index in `interfaces` of this section's interface 0
  let le = true;
  let off = 0;

  while (off < bytes.length) {
    if (bytes.length - off < BLOCK_OVERHEAD) throw truncated(PROTO, `block header at offset ${off} cut short`);
    const type = v.getUint32(off, le);
    if (type === BLOCK_SHB) {
      // §4.1: the SHB type reads the same both ways; the magic after the length says which.
      const magic = v.getUint32(off + 8, true);
      if (magic === BYTE_ORDER_MAGIC) le = true;
      else if (magic === swap32(BYTE_ORDER_MAGIC)) le = false;
      else throw malformed(PROTO, `bad byte-order magic 0x${magic.toString(16)} at offset ${off}`);
    } else if (off === 0) {
      throw malformed(PROTO, "file does not start with a section header block");
    }
    const len = v.getUint32(off + 4, le);
    if (len < BLOCK_OVERHEAD || len % 4 !== 0) throw malformed(PROTO, `block length ${len} at offset ${off}`);
    if (len > bytes.length - off) {
      throw truncated(PROTO, `block at offset ${off} claims ${len} bytes, ${bytes.length - off} left`);
    }
    if (v.getUint32(off + len - 4, le) !== len) {
      throw malformed(PROTO, `block at offset ${off}: trailing length differs from leading ${len}`);
    }
    const body = off + 8;
    const end = off + len - 4;

    switch (type) {
      case BLOCK_SHB: {
        if (end - body < 16) throw malformed(PROTO, `section header at offset ${off} too short`);
        const major = v.getUint16(body + 4, le);
        if (major !== PCAPNG_VERSION_MAJOR) {
          throw new WireError("unsupported", PROTO, `version ${major}.${v.getUint16(body + 6, le)}`);
        }
        sectionBase = interfaces.length;
        scales = [];
        break;
      }
      case BLOCK_IDB: {
        if (end - body < 8) throw malformed(PROTO, `interface block at offset ${off} too short`);
        const iface: CaptureInterface = {
          linktype: v.getUint16(body, le),
          snaplen: v.getUint32(body + 4, le),
          tsresol: TSRESOL_DEFAULT,
        };
        let offsetSec = 0n;
        forEachOption(v, body + 8, end, le, (code, at, n) => {
          if (code === IF_NAME) iface.name = decodeString(bytes, at, n);
          else if (code === IF_DESCRIPTION) iface.description = decodeString(bytes, at, n);
          else if (code === IF_TSRESOL && n >= 1) iface.tsresol = bytes[at]!;
          else if (code === IF_TSOFFSET && n >= 8) offsetSec = v.getBigInt64(at, le);
        });
        interfaces.push(iface);
        scales.push(timeScale(iface.tsresol, offsetSec, iface.snaplen));
        break;
      }
      case BLOCK_EPB: {
        // §4.3: interface id, timestamp high/low, captured length, original length, data.
        if (end - body < 20) throw malformed(PROTO, `packet block at offset ${off} too short`);
        const ifId = v.getUint32(body, le);
        const scale = scales[ifId];
        if (!scale) throw malformed(PROTO, `packet block at offset ${off} names undefined interface ${ifId}`);
        const hi = v.getUint32(body + 4, le);
        const lo = v.getUint32(body + 8, le);
        const caplen = v.getUint32(body + 12, le);
        const origLen = v.getUint32(body + 16, le);
        const data = body + 20;
        if (caplen > end - data) throw malformed(PROTO, `packet block at offset ${off}: data overruns block`);
        const pkt: CapturePacket = {
          interfaceId: sectionBase + ifId,
          tsNs: toNs(scale, hi, lo),
          data: bytes.subarray(data, data + caplen),
          origLen,
        };
        // Padded data may reach the end exactly (no options); pad4 cannot pass `end` as both are aligned.
        forEachOption(v, data + pad4(caplen), end, le, (code, at, n) => {
          if (code === OPT_COMMENT && pkt.comment === undefined) pkt.comment = decodeString(bytes, at, n);
          else if (code === EPB_FLAGS && n >= 4 && pkt.flags === undefined) {
            const flags = v.getUint32(at, le);
            pkt.flags = flags;
            const dir = flags & EPB_FLAGS_DIRECTION_MASK;
            if (dir === EPB_FLAGS_INBOUND) pkt.direction = "inbound";
            else if (dir === EPB_FLAGS_OUTBOUND) pkt.direction = "outbound";
          }
        });
        packets.push(pkt);
        break;
      }
      case BLOCK_ISB: {
        // §4.6: interface id, timestamp high/low, options.
        if (end - body < 12) throw malformed(PROTO, `statistics block at offset ${off} too short`);
        const ifId = v.getUint32(body, le);
        const scale = scales[ifId];
        if (!scale) throw malformed(PROTO, `statistics block at offset ${off} names undefined interface ${ifId}`);
        const st: CaptureStatistics = {
          interfaceId: sectionBase + ifId,
          tsNs: toNs(scale, v.getUint32(body + 4, le), v.getUint32(body + 8, le)),
        };
        forEachOption(v, body + 12, end, le, (code, at, n) => {
          if (code === OPT_COMMENT && st.comment === undefined) st.comment = decodeString(bytes, at, n);
          if (n < 8) return;
          // isb_starttime/endtime: two 32-bit words, high then low, as an EPB timestamp.
          if (code === ISB_STARTTIME) st.startNs = toNs(scale, v.getUint32(at, le), v.getUint32(at + 4, le));
          else if (code === ISB_ENDTIME) st.endNs = toNs(scale, v.getUint32(at, le), v.getUint32(at + 4, le));
          else if (code === ISB_IFRECV) st.ifRecv = v.getBigUint64(at, le);
          else if (code === ISB_IFDROP) st.ifDrop = v.getBigUint64(at, le);
          else if (code === ISB_FILTERACCEPT) st.filterAccept = v.getBigUint64(at, le);
          else if (code === ISB_OSDROP) st.osDrop = v.getBigUint64(at, le);
          else if (code === ISB_USRDELIV) st.usrDeliv = v.getBigUint64(at, le);
        });
        statistics.push(st);
        break;
      }
      case BLOCK_SPB: {
        // §4.4: original length then data; the interface is the section's first, no timestamp.
        if (end - body < 4) throw malformed(PROTO, `simple packet block at offset ${off} too short`);
        const scale = scales[0];
        if (!scale) throw malformed(PROTO, `simple packet block at offset ${off} before any interface`);
        const origLen = v.getUint32(body, le);
        let caplen = Math.min(origLen, end - body - 4);
        if (scale.snaplen !== 0 && caplen > scale.snaplen) caplen = scale.snaplen;
        packets.push({
          interfaceId: sectionBase,
          tsNs: 0n,
          data: bytes.subarray(body + 4, body + 4 + caplen),
          origLen,
        });
        break;
      }
      default:
        break; // §3.1: a reader skips blocks it does not know
    }
    off += len;
  }
  return { format: "pcapng", interfaces, packets, statistics };
}

/** Walks an options list (§3.5) from `start` to `end`, stopping at opt_endofopt. */
function forEachOption(
  v: DataView,
  start: number,
  end: number,
  le: boolean,
  visit: (code: number, at: number, len: number) => void,
): void {
  let p = start;
  while (end - p >= 4) {
    const code = v.getUint16(p, le);
    const n = v.getUint16(p + 2, le);
    if (code === OPT_ENDOFOPT) return;
    if (pad4(n) > end - p - 4) throw malformed(PROTO, `option ${code} at offset ${p} overruns its block`);
    visit(code, p + 4, n);
    p += 4 + pad4(n);
  }
}

/** §4.2 if_tsresol: high bit clear = 10^-n s units, set = 2^-n s units. */
function timeScale(tsresol: number, offsetSec: bigint, snaplen: number): TimeScale {
  const n = BigInt(tsresol & 0x7f);
  const offsetNs = offsetSec * 1_000_000_000n;
  if (tsresol & 0x80) return { mul: 1_000_000_000n, div: 1n << n, offsetNs, snaplen };
  if (n <= 9n) return { mul: 10n ** (9n - n), div: 1n, offsetNs, snaplen };
  return { mul: 1n, div: 10n ** (n - 9n), offsetNs, snaplen };
}

function toNs(s: TimeScale, hi: number, lo: number): bigint {
  const units = (BigInt(hi) << 32n) | BigInt(lo);
  return (s.div === 1n ? units * s.mul : (units * s.mul) / s.div) + s.offsetNs;
}

// §3.5: strings are UTF-8 with no terminator; invalid sequences decode to U+FFFD.
function decodeString(bytes: Uint8Array, at: number, n: number): string {
  return utf8.decode(bytes.subarray(at, at + n));
}

function swap32(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}
