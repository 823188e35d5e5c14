/**
 * The first step of building a packet a namespace originates: its payload, placed where
 * the wire layer's prepend builders (prependTcp, prependIcmp, prependIpv4) then write the
 * headers inside-out into the headroom in front of it.
 */
import type { PacketBuffer } from "../netdev/index.js";

/** Copies `data` into a fresh packet so that headers can be prepended in front of it. */
export function placePayload(pkt: PacketBuffer, data: Uint8Array | null): void {
  if (data !== null && data.length > 0) pkt.buf.set(data, pkt.head);
  pkt.tail = pkt.head + (data === null ? 0 : data.length);
}
