/** Encoding of a pcapng options list (draft-ietf-opsawg-pcapng §3.5), little-endian. */
import { OPT_ENDOFOPT, pad4 } from "./pcapng-format.js";

export type OptionValue = Uint8Array | string;

const utf8 = new TextEncoder();

/**
 * Encodes `[code, value]` pairs, each value padded to 4 bytes, then opt_endofopt. Empty or
 * absent values are left out; with nothing left the options field is empty (no end marker).
 */
export function encodeOptions(options: ReadonlyArray<readonly [number, OptionValue | undefined]>): Uint8Array {
  const parts: [number, Uint8Array][] = [];
  let len = 0;
  for (const [code, value] of options) {
    if (value === undefined) continue;
    const bytes = typeof value === "string" ? utf8.encode(value) : value;
    if (bytes.length === 0) continue;
    if (bytes.length > 0xffff) {
      throw new RangeError(`pcapng option ${code} is ${bytes.length} bytes; the limit is 65535`);
    }
    parts.push([code, bytes]);
    len += 4 + pad4(bytes.length);
  }
  if (parts.length === 0) return new Uint8Array(0);
  const out = new Uint8Array(len + 4);
  const v = new DataView(out.buffer);
  let off = 0;
  for (const [code, bytes] of parts) {
    v.setUint16(off, code, true);
    v.setUint16(off + 2, bytes.length, true);
    out.set(bytes, off + 4);
    off += 4 + pad4(bytes.length); // padding bytes stay zero
  }
  v.setUint16(off, OPT_ENDOFOPT, true);
  v.setUint16(off + 2, 0, true);
  return out;
}
