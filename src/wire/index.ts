/**
 * Wire formats: Ethernet, ARP, IPv4, ICMP, UDP, TCP, SCTP, VXLAN and DNS, checksums, zero-copy
 * builders and a tcpdump-style summary. Imports only `base`.
 *
 * Each protocol has two faces (after smoltcp's wire module):
 * - a view class over `(buf, offset)` with accessor pairs (`srcAddr()` / `setSrcAddr()`),
 *   reading and writing big-endian bytes in place. `wrap()` rebinds a view so the hot path
 *   reuses one object. `checkLen(len)` validates untrusted input and throws a `WireError`;
 *   once it has passed, no accessor reads out of bounds. Setters do not validate.
 * - a plain `XxxRepr` value with `XxxRepr.parse(buf, off, len)` (throws only `WireError`),
 *   `XxxRepr.emit(repr, buf, off, ...)` and `XxxRepr.bufferLen(repr)`. Emitting a value that
 *   cannot be encoded, or that does not fit in `buf`, is a programming error: `RangeError`.
 *
 * Offsets returned by views (`payloadOffset()`) are absolute positions in `buf`.
 *
 * For the per-packet path each protocol also has a plain object of field accessors over
 * `(bytes, offset)` — `ipv4.dst(b, o)`, `ipv4.setTtl(b, o, v)`, `tcp.setDstPort(b, o, v)`,
 * `eth.etherType(b, o)`, `ports.src(b, o)` — tiny functions V8 inlines, with no view object
 * to rebind; setters of checksummed fields patch the checksum (RFC 1624). Every layer above
 * reads and writes header fields through these and the protocol constants here (IPPROTO_*,
 * ETHERTYPE_*, *_HEADER_LEN), never by offset arithmetic of its own.
 */
export * from "./checksum.js";
export * from "./ethernet.js";
export * from "./arp.js";
export * from "./ipv4.js";
export * from "./icmp.js";
export * from "./udp.js";
export * from "./tcp.js";
export * from "./sctp.js";
export * from "./vxlan.js";
export * from "./ports.js";
export * from "./dns.js";
export * from "./builder.js";
export * from "./summary.js";
export { get16, set16, get32, set32, getMac, setMac } from "./bytes.js";
export * from "./view.js";
