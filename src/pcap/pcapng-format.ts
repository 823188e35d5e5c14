/**
 * pcapng constants (draft-ietf-opsawg-pcapng): block types (§3.2/§4), option codes (§3.5 and
 * the option table of each block in §4) and the byte-order magic (§4.1).
 */

export const BLOCK_SHB = 0x0a0d0d0a;
export const BLOCK_IDB = 0x00000001;
/** Obsolete Packet Block (Appendix A); recognised only to be skipped. */
export const BLOCK_OPB = 0x00000002;
export const BLOCK_SPB = 0x00000003;
/** Interface Statistics Block (§4.6). */
export const BLOCK_ISB = 0x00000005;
export const BLOCK_EPB = 0x00000006;

export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
export const PCAPNG_VERSION_MAJOR = 1;
export const PCAPNG_VERSION_MINOR = 0;

/** §3.1: type + total length in front, total length again at the end. */
export const BLOCK_OVERHEAD = 12;

/** §3.5 generic options. */
export const OPT_ENDOFOPT = 0;
export const OPT_COMMENT = 1;
/** §4.1 SHB options. */
export const SHB_HARDWARE = 2;
export const SHB_OS = 3;
export const SHB_USERAPPL = 4;
/** §4.2 IDB options. */
export const IF_NAME = 2;
export const IF_DESCRIPTION = 3;
export const IF_TSRESOL = 9;
export const IF_TSOFFSET = 14;
/** §4.3 EPB options. */
export const EPB_FLAGS = 2;
/** §4.6 ISB options. */
export const ISB_STARTTIME = 2;
export const ISB_ENDTIME = 3;
export const ISB_IFRECV = 4;
export const ISB_IFDROP = 5;
export const ISB_FILTERACCEPT = 6;
export const ISB_OSDROP = 7;
export const ISB_USRDELIV = 8;

/**
 * epb_flags bits 0-1 (§4.3.1): the direction the packet went. 0 = not available,
 * 1 = inbound, 2 = outbound. Bits 2-4 (reception type) and the rest are left zero.
 */
export const EPB_FLAGS_INBOUND = 0x1;
export const EPB_FLAGS_OUTBOUND = 0x2;
export const EPB_FLAGS_DIRECTION_MASK = 0x3;

/** if_tsresol value meaning 10^-9 s units. */
export const TSRESOL_NANOS = 9;
/** §4.2: without if_tsresol, timestamps count microseconds. */
export const TSRESOL_DEFAULT = 6;

/** Rounds up to the 32-bit boundary every block body and option value is padded to. */
export function pad4(n: number): number {
  return n + ((4 - (n % 4)) % 4); // no 32-bit bit ops: lengths can pass 2^31
}
