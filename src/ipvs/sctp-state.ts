/**
 * The IPVS SCTP state machine (net/netfilter/ipvs/ip_vs_proto_sctp.c `sctp_events`,
 * `sctp_states`, `set_sctp_state`). Like the TCP one (tcp-state.ts) it looks at one packet
 * and its direction only — INPUT (client to director), OUTPUT (the real server's packets,
 * seen in NAT mode) and INPUT-ONLY (DR/TUN) — and the states are "as seen in real server":
 * INIT1 after the client's first INIT, COOKIE_SENT after the server's INIT ACK,
 * COOKIE_REPLIED after the client's COOKIE ECHO, ESTABLISHED after the server's COOKIE ACK.
 * The event is the packet's first chunk, except that a COOKIE ECHO or COOKIE ACK bundled
 * with a following ABORT counts as the ABORT. Unlike conntrack, no verification tag is
 * checked.
 */
import {
  SCTP_S_CLOSED as sCL,
  SCTP_S_COOKIE as sCO,
  SCTP_S_COOKIE_ECHOED as sCE,
  SCTP_S_COOKIE_REPLIED as sCR,
  SCTP_S_COOKIE_SENT as sCS,
  SCTP_S_COOKIE_WAIT as sCW,
  SCTP_S_ESTABLISHED as sES,
  SCTP_S_INIT as sIN,
  SCTP_S_INIT1 as sI1,
  SCTP_S_REJECTED as sRJ,
  SCTP_S_SHUTDOWN_ACK_SENT as sSA,
  SCTP_S_SHUTDOWN_RECEIVED as sSR,
  SCTP_S_SHUTDOWN_SENT as sSS,
} from "./constants.js";
import { SCTP_CHUNK_ABORT as CHUNK_ABORT, SCTP_CHUNK_COOKIE_ACK as CHUNK_COOKIE_ACK, SCTP_CHUNK_COOKIE_ECHO as CHUNK_COOKIE_ECHO, SCTP_CHUNK_HEADER_LEN, sctp } from "../wire/sctp.js";

/** enum ipvs_sctp_event_t. */
export const SCTP_EV_DATA = 0;
export const SCTP_EV_INIT = 1;
export const SCTP_EV_INIT_ACK = 2;
export const SCTP_EV_COOKIE_ECHO = 3;
export const SCTP_EV_COOKIE_ACK = 4;
export const SCTP_EV_SHUTDOWN = 5;
export const SCTP_EV_SHUTDOWN_ACK = 6;
export const SCTP_EV_SHUTDOWN_COMPLETE = 7;
export const SCTP_EV_ERROR = 8;
export const SCTP_EV_ABORT = 9;
/** No chunk header to read: set_sctp_state returns without touching state or timeout. */
export const SCTP_EV_NONE = -1;

export const SCTP_EVENT_NAMES: readonly string[] = ["DATA", "INIT", "INIT_ACK", "COOKIE_ECHO", "COOKIE_ACK", "SHUTDOWN", "SHUTDOWN_ACK", "SHUTDOWN_COMPLETE", "ERROR", "ABORT"];


/**
 * sctp_events, indexed by chunk type (RFC 9260 §3.2): SACK, HEARTBEAT, HEARTBEAT ACK and the
 * ECN chunks count as DATA, and so does every type past SHUTDOWN COMPLETE (14).
 */
const EVENTS: readonly number[] = [
  SCTP_EV_DATA, // 0 DATA
  SCTP_EV_INIT, // 1 INIT
  SCTP_EV_INIT_ACK, // 2 INIT ACK
  SCTP_EV_DATA, // 3 SACK
  SCTP_EV_DATA, // 4 HEARTBEAT
  SCTP_EV_DATA, // 5 HEARTBEAT ACK
  SCTP_EV_ABORT, // 6 ABORT
  SCTP_EV_SHUTDOWN, // 7 SHUTDOWN
  SCTP_EV_SHUTDOWN_ACK, // 8 SHUTDOWN ACK
  SCTP_EV_ERROR, // 9 ERROR
  SCTP_EV_COOKIE_ECHO, // 10 COOKIE ECHO
  SCTP_EV_COOKIE_ACK, // 11 COOKIE ACK
  SCTP_EV_DATA, // 12 ECNE
  SCTP_EV_DATA, // 13 CWR
  SCTP_EV_SHUTDOWN_COMPLETE, // 14 SHUTDOWN COMPLETE
];

/**
 * The event of the SCTP packet whose common header is at `l4` (the datagram ends at
 * `end`), as set_sctp_state picks it; SCTP_EV_NONE when the first chunk header is cut off.
 */
export function sctpEvent(buf: Uint8Array, l4: number, end: number): number {
  const c = sctp.chunksOffset(buf, l4);
  if (c + SCTP_CHUNK_HEADER_LEN > end) return SCTP_EV_NONE;
  let type = sctp.chunkType(buf, c);
  // §3.3.7: control chunks may be bundled before an ABORT, which is what counts then.
  if (type === CHUNK_COOKIE_ECHO || type === CHUNK_COOKIE_ACK) {
    if (sctp.chunkLen(buf, c) >= SCTP_CHUNK_HEADER_LEN) {
      const next = c + sctp.chunkSpan(buf, c);
      if (next + SCTP_CHUNK_HEADER_LEN <= end && sctp.chunkType(buf, next) === CHUNK_ABORT) type = CHUNK_ABORT;
    }
  }
  return type < EVENTS.length ? EVENTS[type]! : SCTP_EV_DATA;
}

// sctp_states[direction][event][state]; columns:
//   sNO  sI1  sIN  sCS  sCR  sCW  sCO  sCE  sES  sSS  sSR  sSA  sRJ  sCL
// rows per direction: d(ata), i(nit), i_a, c_e, c_a, s(hutdown), s_a, s_c, err, ab(ort)
const TABLE: readonly (readonly number[])[] = [
  // INPUT
  [sES, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL],
  [sI1, sIN, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sIN, sIN],
  [sCW, sCW, sCW, sCS, sCR, sCO, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL],
  [sCR, sIN, sIN, sCR, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL],
  [sES, sI1, sIN, sCS, sCR, sCW, sCO, sES, sES, sSS, sSR, sSA, sRJ, sCL],
  [sSR, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sSR, sSS, sSR, sSA, sRJ, sCL],
  [sCL, sIN, sIN, sCS, sCR, sCW, sCO, sCE, sES, sCL, sSR, sCL, sRJ, sCL],
  [sCL, sCL, sCL, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sCL, sRJ, sCL],
  [sCL, sI1, sIN, sCS, sCR, sCW, sCO, sCL, sES, sSS, sSR, sSA, sRJ, sCL],
  [sCL, sCL, sCL, sCL, sCL, sRJ, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL],
  // OUTPUT
  [sES, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL],
  [sCW, sCW, sCW, sCW, sCW, sCW, sCW, sCW, sES, sCW, sCW, sCW, sCW, sCW],
  [sCS, sCS, sCS, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL],
  [sCE, sCE, sCE, sCE, sCE, sCE, sCE, sCE, sES, sSS, sSR, sSA, sRJ, sCL],
  [sES, sES, sES, sES, sES, sES, sES, sES, sES, sSS, sSR, sSA, sRJ, sCL],
  [sSS, sSS, sSS, sSS, sSS, sSS, sSS, sSS, sSS, sSS, sSR, sSA, sRJ, sCL],
  [sSA, sSA, sSA, sSA, sSA, sCW, sCO, sCE, sES, sSA, sSA, sSA, sRJ, sCL],
  [sCL, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL],
  [sCL, sCL, sCL, sCL, sCL, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL],
  [sCL, sRJ, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL],
  // INPUT-ONLY
  [sES, sI1, sIN, sCS, sCR, sES, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL],
  [sI1, sIN, sIN, sIN, sIN, sIN, sCO, sCE, sES, sSS, sSR, sSA, sIN, sIN],
  [sCE, sCE, sCE, sCE, sCE, sCE, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL],
  [sES, sES, sES, sES, sES, sES, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL],
  [sES, sI1, sIN, sES, sES, sCW, sES, sES, sES, sSS, sSR, sSA, sRJ, sCL],
  [sSR, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sSR, sSS, sSR, sSA, sRJ, sCL],
  [sCL, sIN, sIN, sCS, sCR, sCW, sCO, sCE, sCL, sCL, sSR, sCL, sRJ, sCL],
  [sCL, sCL, sCL, sCL, sCL, sCW, sCO, sCE, sES, sSS, sCL, sCL, sRJ, sCL],
  [sCL, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL],
  [sCL, sCL, sCL, sCL, sCL, sRJ, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL],
];

/** sctp_states[dir][event][state]: the next state for an SCTP_EV_* event in direction `dir` (DIR_*). */
export function nextSctpState(state: number, dir: number, event: number): number {
  return TABLE[dir * 10 + event]![state]!;
}
