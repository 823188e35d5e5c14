/** Reads a pcap or pcapng capture, telling them apart by their first four bytes. */
import { readFileSync } from "node:fs";
import { WireError, truncated } from "../base/errors.js";
import type { Capture } from "./capture.js";
import { isPcapMagic, readPcap } from "./pcap-reader.js";
import { readPcapng } from "./pcapng-reader.js";
import { BLOCK_SHB } from "./pcapng-format.js";

/** Parses a whole capture; malformed or truncated input throws `WireError`. */
export function readCapture(bytes: Uint8Array): Capture {
  if (bytes.length < 4) throw truncated("pcap", `${bytes.length} bytes is too short for a capture file`);
  const first = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  if (first === BLOCK_SHB) return readPcapng(bytes);
  if (isPcapMagic(first)) return readPcap(bytes);
  throw new WireError("unsupported", "pcap", `unknown file magic 0x${first.toString(16).padStart(8, "0")}`);
}

/** Reads a capture file whole (not streamed); packet data views the file's bytes. */
export function readCaptureFile(path: string): Capture {
  return readCapture(readFileSync(path));
}
