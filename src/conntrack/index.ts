/**
 * Connection tracking and NAT, after the kernel's nf_conntrack + nf_nat: tuples, states,
 * timeouts on the virtual clock, the table limit with early drop, NAT bindings with port
 * allocation, packet rewriting with incremental checksums, and `conntrack -L` output.
 * Imports only `base`, `wire` and `netdev`.
 */
export * from "./tuple.js";
export * from "./conn.js";
export * from "./tcp-state.js";
export { SCTP_STATE_NAMES, SCTP_CT_CLOSED, SCTP_CT_COOKIE_WAIT, SCTP_CT_COOKIE_ECHOED, SCTP_CT_ESTABLISHED, type SctpTrack } from "./sctp-track.js";
export { tcpFlagSet, tcpMalformed, canEarlyDrop } from "./tcp-track.js";
export * from "./timeouts.js";
export * from "./nat.js";
export { manipPacket, fullChecksumsValid } from "./manip.js";
export { formatConn } from "./format.js";
export * from "./table.js";
export * from "./kernel.js";
export type { NatRange } from "./nat-range.js";
