/** Classic pcap reader, either byte order, µs or ns (draft-ietf-opsawg-pcap §4, §5). */
import { WireError, truncated } from "../base/errors.js";
import type { Capture, CapturePacket } from "./capture.js";
import {
  PCAP_FILE_HEADER_LEN,
  PCAP_MAGIC_MICROS,
  PCAP_MAGIC_NANOS,
  PCAP_RECORD_HEADER_LEN,
  PCAP_VERSION_MAJOR,
} from "./pcap-writer.js";

const PROTO = "pcap";

/** The four byte sequences a pcap file can start with. */
export function isPcapMagic(leWord: number): boolean {
  return (
    leWord === PCAP_MAGIC_MICROS ||
    leWord === PCAP_MAGIC_NANOS ||
    leWord === swap32(PCAP_MAGIC_MICROS) ||
    leWord === swap32(PCAP_MAGIC_NANOS)
  );
}

export function readPcap(bytes: Uint8Array): Capture {
  if (bytes.length < PCAP_FILE_HEADER_LEN) {
    throw truncated(PROTO, `file header needs ${PCAP_FILE_HEADER_LEN} bytes, have ${bytes.length}`);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicLe = v.getUint32(0, true);
  const le = magicLe === PCAP_MAGIC_MICROS || magicLe === PCAP_MAGIC_NANOS;
  if (!le && magicLe !== swap32(PCAP_MAGIC_MICROS) && magicLe !== swap32(PCAP_MAGIC_NANOS)) {
    throw new WireError("unsupported", PROTO, `unknown magic 0x${magicLe.toString(16)}`);
  }
  const nanos = v.getUint32(0, le) === PCAP_MAGIC_NANOS;
  const major = v.getUint16(4, le);
  if (major !== PCAP_VERSION_MAJOR) {
    throw new WireError("unsupported", PROTO, `version ${major}.${v.getUint16(6, le)}`);
  }
  const snaplen = v.getUint32(16, le);
  // §4: the link type is the low 16 bits; the upper bits describe FCS presence.
  const linktype = v.getUint32(20, le) & 0xffff;
  const fracToNs = nanos ? 1 : 1000;

  const packets: CapturePacket[] = [];
  let off = PCAP_FILE_HEADER_LEN;
  while (off < bytes.length) {
    if (bytes.length - off < PCAP_RECORD_HEADER_LEN) {
      throw truncated(PROTO, `record header at offset ${off} cut short`);
    }
    const sec = v.getUint32(off, le);
    const frac = v.getUint32(off + 4, le);
    const caplen = v.getUint32(off + 8, le);
    const origLen = v.getUint32(off + 12, le);
    const start = off + PCAP_RECORD_HEADER_LEN;
    if (caplen > bytes.length - start) {
      throw truncated(PROTO, `record at offset ${off} claims ${caplen} bytes, ${bytes.length - start} left`);
    }
    packets.push({
      interfaceId: 0,
      tsNs: BigInt(sec) * 1_000_000_000n + BigInt(frac * fracToNs),
      data: bytes.subarray(start, start + caplen),
      origLen,
    });
    off = start + caplen;
  }
  return {
    format: "pcap",
    linktype,
    nanos,
    interfaces: [{ linktype, snaplen, tsresol: nanos ? 9 : 6 }],
    packets,
    statistics: [],
  };
}

function swap32(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}
