/**
 * The two port fields every port-carrying transport starts with (TCP, UDP, SCTP, DCCP,
 * UDP-Lite: source port at 0, destination port at 2), over `(b, o)`, `o` the transport
 * header's offset — for code that reads ports without caring which transport it is
 * (conntrack tuples, rule matching, flow hashing). The setters write the bare field: a NAT
 * rewrite goes through `tcp.setSrcPort` / `udp.setSrcPort`, which patch the checksum.
 */
import { set16 } from "./bytes.js";

/** Bytes from the transport header's start that hold both ports. */
export const PORTS_LEN = 4;

export const ports = {
  src(b: Uint8Array, o: number): number {
    return (b[o]! << 8) | b[o + 1]!;
  },
  dst(b: Uint8Array, o: number): number {
    return (b[o + 2]! << 8) | b[o + 3]!;
  },
  setSrc(b: Uint8Array, o: number, v: number): void {
    set16(b, o, v);
  },
  setDst(b: Uint8Array, o: number, v: number): void {
    set16(b, o + 2, v);
  },
  /** Swaps source and destination port (an answer sent back in place). Checksums are unchanged: the sum commutes. */
  swap(b: Uint8Array, o: number): void {
    const hi = b[o]!;
    const lo = b[o + 1]!;
    b[o] = b[o + 2]!;
    b[o + 1] = b[o + 3]!;
    b[o + 2] = hi;
    b[o + 3] = lo;
  },
};
