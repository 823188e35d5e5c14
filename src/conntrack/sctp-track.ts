/**
 * SCTP connection tracking, after net/netfilter/nf_conntrack_proto_sctp.c (Linux 6.x): the
 * state of an association as seen from the middle, driven by the chunk types of each
 * packet through the kernel's transition table, the verification tags of both directions
 * (RFC 9260 §8.5), and the per-state timeouts. NEW conns are made by any chunk the table
 * lets start one (INIT in practice) and refused for ABORT, SHUTDOWN COMPLETE and COOKIE ACK
 * (§8.4) or for DATA/SACK with no INIT seen.
 *
 * Not modelled: the CRC32c check at PREROUTING (sctp_error with nf_conntrack_checksum),
 * multi-homing (the HEARTBEAT-created secondary conns are tracked but nothing uses them).
 */
import { SCTP_CHUNK_ABORT, SCTP_CHUNK_COOKIE_ACK, SCTP_CHUNK_COOKIE_ECHO, SCTP_CHUNK_DATA, SCTP_CHUNK_HEARTBEAT,
  SCTP_CHUNK_HEARTBEAT_ACK, SCTP_CHUNK_INIT, SCTP_CHUNK_INIT_ACK, SCTP_CHUNK_SHUTDOWN, SCTP_CHUNK_SHUTDOWN_ACK,
  SCTP_CHUNK_SHUTDOWN_COMPLETE, SCTP_CHUNK_ERROR, SCTP_CHUNK_HEADER_LEN, SCTP_FLAG_T, SCTP_HEADER_LEN, SCTP_INIT_CHUNK_MIN_LEN, sctp } from "../wire/sctp.js";
import type { Conn, Dir } from "./conn.js";
import { IPS_ASSURED } from "./conn.js";

// enum sctp_conntrack
export const SCTP_CT_NONE = 0;
export const SCTP_CT_CLOSED = 1;
export const SCTP_CT_COOKIE_WAIT = 2;
export const SCTP_CT_COOKIE_ECHOED = 3;
export const SCTP_CT_ESTABLISHED = 4;
export const SCTP_CT_SHUTDOWN_SENT = 5;
export const SCTP_CT_SHUTDOWN_RECD = 6;
export const SCTP_CT_SHUTDOWN_ACK_SENT = 7;
export const SCTP_CT_HEARTBEAT_SENT = 8;
/** SCTP_CONNTRACK_MAX: "invalid" in the transition table. */
export const SCTP_CT_MAX = 9;

export const SCTP_STATE_NAMES: readonly string[] = [
  "NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED", "SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT",
];

/** The per-conn SCTP state (ct->proto.sctp). Tags are kept as unsigned numbers. */
export interface SctpTrack {
  state: number;
  /** Verification tag expected on packets of each direction. */
  vtag: [number, number];
  /** An INIT was seen in that direction (INIT collision handling). */
  init: [boolean, boolean];
  /** SCTP_FLAG_HEARTBEAT_VTAG_FAILED. */
  heartbeatVtagFailed: boolean;
  lastDir: Dir;
}

const sNO = SCTP_CT_NONE;
const sCL = SCTP_CT_CLOSED;
const sCW = SCTP_CT_COOKIE_WAIT;
const sCE = SCTP_CT_COOKIE_ECHOED;
const sES = SCTP_CT_ESTABLISHED;
const sSS = SCTP_CT_SHUTDOWN_SENT;
const sSR = SCTP_CT_SHUTDOWN_RECD;
const sSA = SCTP_CT_SHUTDOWN_ACK_SENT;
const sHS = SCTP_CT_HEARTBEAT_SENT;
const sIV = SCTP_CT_MAX;

/** sctp_conntracks[dir][chunk row][state], rows in sctp_new_state's order. */
const TRANSITIONS: readonly (readonly (readonly number[])[])[] = [
  [
    /*                  sNO, sCL, sCW, sCE, sES, sSS, sSR, sSA, sHS */
    /* init         */ [sCL, sCL, sCW, sCE, sES, sCL, sCL, sSA, sCW],
    /* init_ack     */ [sCL, sCL, sCW, sCE, sES, sSS, sSR, sSA, sCL],
    /* abort        */ [sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL],
    /* shutdown     */ [sCL, sCL, sCW, sCE, sSS, sSS, sSR, sSA, sCL],
    /* shutdown_ack */ [sSA, sCL, sCW, sCE, sES, sSA, sSA, sSA, sSA],
    /* error        */ [sCL, sCL, sCW, sCE, sES, sSS, sSR, sSA, sCL],
    /* cookie_echo  */ [sCL, sCL, sCE, sCE, sES, sSS, sSR, sSA, sCL],
    /* cookie_ack   */ [sCL, sCL, sCW, sES, sES, sSS, sSR, sSA, sCL],
    /* shutdown_comp*/ [sCL, sCL, sCW, sCE, sES, sSS, sSR, sCL, sCL],
    /* heartbeat    */ [sHS, sCL, sCW, sCE, sES, sSS, sSR, sSA, sHS],
    /* heartbeat_ack*/ [sCL, sCL, sCW, sCE, sES, sSS, sSR, sSA, sHS],
  ],
  [
    /* init         */ [sIV, sCL, sCW, sCE, sES, sSS, sSR, sSA, sIV],
    /* init_ack     */ [sIV, sCW, sCW, sCE, sES, sSS, sSR, sSA, sIV],
    /* abort        */ [sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sIV],
    /* shutdown     */ [sIV, sCL, sCW, sCE, sSR, sSS, sSR, sSA, sIV],
    /* shutdown_ack */ [sIV, sCL, sCW, sCE, sES, sSA, sSA, sSA, sIV],
    /* error        */ [sIV, sCL, sCW, sCL, sES, sSS, sSR, sSA, sIV],
    /* cookie_echo  */ [sIV, sCL, sCE, sCE, sES, sSS, sSR, sSA, sIV],
    /* cookie_ack   */ [sIV, sCL, sCW, sES, sES, sSS, sSR, sSA, sIV],
    /* shutdown_comp*/ [sIV, sCL, sCW, sCE, sES, sSS, sSR, sCL, sIV],
    /* heartbeat    */ [sIV, sCL, sCW, sCE, sES, sSS, sSR, sSA, sHS],
    /* heartbeat_ack*/ [sIV, sCL, sCW, sCE, sES, sSS, sSR, sSA, sES],
  ],
];

/** The table row of a chunk type, or -1 for chunks that do not change the state (DATA, SACK, …). */
function chunkRow(type: number): number {
  switch (type) {
    case SCTP_CHUNK_INIT:
      return 0;
    case SCTP_CHUNK_INIT_ACK:
      return 1;
    case SCTP_CHUNK_ABORT:
      return 2;
    case SCTP_CHUNK_SHUTDOWN:
      return 3;
    case SCTP_CHUNK_SHUTDOWN_ACK:
      return 4;
    case SCTP_CHUNK_ERROR:
      return 5;
    case SCTP_CHUNK_COOKIE_ECHO:
      return 6;
    case SCTP_CHUNK_COOKIE_ACK:
      return 7;
    case SCTP_CHUNK_SHUTDOWN_COMPLETE:
      return 8;
    case SCTP_CHUNK_HEARTBEAT:
      return 9;
    case SCTP_CHUNK_HEARTBEAT_ACK:
      return 10;
    default:
      return -1;
  }
}

/** sctp_new_state. */
export function sctpNewState(dir: Dir, cur: number, chunkType: number): number {
  const row = chunkRow(chunkType);
  return row < 0 ? cur : TRANSITIONS[dir]![row]![cur]!;
}

export const SCTP_RES_ACCEPT = 0;
/** -NF_ACCEPT: the packet is INVALID (and a new conn is not created). */
export const SCTP_RES_INVALID = 1;
/** Accepted without refreshing the timeout (an INIT retransmitted into CLOSED). */
export const SCTP_RES_IGNORE = 2;


/** Chunk walk state reused across calls (for_each_sctp_chunk); the kernel's bitmap of types seen. */
const seen = new Uint8Array(256);

/**
 * do_basic_checks: fills `seen`; false when the packet is malformed (no chunk, a zero
 * length, COOKIE ACK/ECHO not first, INIT/INIT ACK/SHUTDOWN COMPLETE not alone).
 */
function basicChecks(b: Uint8Array, l4: number, end: number): boolean {
  seen.fill(0);
  let flag = false;
  let count = 0;
  for (let at = sctp.chunksOffset(b, l4); at + SCTP_CHUNK_HEADER_LEN <= end; count++) {
    const type = sctp.chunkType(b, at);
    const len = sctp.chunkLen(b, at);
    if (type === SCTP_CHUNK_INIT || type === SCTP_CHUNK_INIT_ACK || type === SCTP_CHUNK_SHUTDOWN_COMPLETE) flag = true;
    if (((type === SCTP_CHUNK_COOKIE_ACK || type === SCTP_CHUNK_COOKIE_ECHO || flag) && count !== 0) || len === 0) return false;
    seen[type] = 1;
    at += sctp.chunkSpan(b, at);
  }
  return count !== 0;
}

/**
 * nf_conntrack_sctp_packet (with sctp_new for an unconfirmed conn) for the SCTP packet at
 * `b[l4, l4+l4len)`. Updates the conn's state, tags, ASSURED bit and timeout.
 */
export function sctpPacket(conn: Conn, dir: Dir, b: Uint8Array, l4: number, l4len: number, now: number, timeouts: Float64Array, isNew: boolean): number {
  if (l4len < SCTP_HEADER_LEN) return SCTP_RES_INVALID;
  const end = l4 + l4len;
  if (!basicChecks(b, l4, end)) return SCTP_RES_INVALID;
  const vtag = sctp.verificationTag(b, l4);

  if (isNew || conn.sctp === null) {
    // OOTB packets with these chunks are discarded (RFC 9260 §8.4).
    if (seen[SCTP_CHUNK_ABORT] || seen[SCTP_CHUNK_SHUTDOWN_COMPLETE] || seen[SCTP_CHUNK_COOKIE_ACK]) return SCTP_RES_INVALID;
    if (!sctpNew(conn, b, l4, end, vtag)) return SCTP_RES_INVALID;
  }
  const ct = conn.sctp!;

  // The verification tag check (§8.5), except for chunks with their own rules (§8.5.1).
  if (
    !seen[SCTP_CHUNK_INIT] && !seen[SCTP_CHUNK_SHUTDOWN_COMPLETE] && !seen[SCTP_CHUNK_COOKIE_ECHO] && !seen[SCTP_CHUNK_ABORT] &&
    !seen[SCTP_CHUNK_SHUTDOWN_ACK] && !seen[SCTP_CHUNK_HEARTBEAT] && !seen[SCTP_CHUNK_HEARTBEAT_ACK] && vtag !== ct.vtag[dir]
  ) {
    return SCTP_RES_INVALID;
  }

  const other: Dir = dir === 0 ? 1 : 0;
  let oldState = SCTP_CT_NONE;
  let newState = SCTP_CT_NONE;
  let ignore = false;
  for (let at = sctp.chunksOffset(b, l4); at + SCTP_CHUNK_HEADER_LEN <= end; ) {
    const type = sctp.chunkType(b, at);
    const flags = sctp.chunkFlags(b, at);
    const next = at + sctp.chunkSpan(b, at);
    if (type === SCTP_CHUNK_INIT) {
      if (vtag !== 0) return SCTP_RES_INVALID; // (A)
    } else if (type === SCTP_CHUNK_ABORT || type === SCTP_CHUNK_SHUTDOWN_COMPLETE) {
      // (B), (C): own tag, or the peer's with the T bit.
      if (vtag !== ct.vtag[flags & SCTP_FLAG_T ? other : dir]) return SCTP_RES_INVALID;
    } else if (type === SCTP_CHUNK_COOKIE_ECHO) {
      if (vtag !== ct.vtag[dir]) return SCTP_RES_INVALID; // (D)
    } else if (type === SCTP_CHUNK_COOKIE_ACK) {
      ct.init[0] = false;
      ct.init[1] = false;
    } else if (type === SCTP_CHUNK_HEARTBEAT || type === SCTP_CHUNK_HEARTBEAT_ACK) {
      if (ct.vtag[dir] === 0) {
        ct.vtag[dir] = vtag;
      } else if (vtag !== ct.vtag[dir]) {
        if (seen[SCTP_CHUNK_DATA] || ignore) return SCTP_RES_INVALID;
        if (type === SCTP_CHUNK_HEARTBEAT) {
          ct.heartbeatVtagFailed = true;
          ct.lastDir = dir;
          ignore = true;
          at = next;
          continue;
        }
        if (!ct.heartbeatVtagFailed || ct.lastDir === dir) return SCTP_RES_INVALID;
        ct.heartbeatVtagFailed = false;
        ct.vtag[dir] = vtag;
        ct.vtag[other] = 0;
      } else if (ct.heartbeatVtagFailed) {
        ct.heartbeatVtagFailed = false;
      }
    }

    oldState = ct.state;
    newState = sctpNewState(dir, oldState, type);
    if (newState === SCTP_CT_MAX) return SCTP_RES_INVALID;

    if (type === SCTP_CHUNK_INIT) {
      if (at + SCTP_INIT_CHUNK_MIN_LEN > end) return SCTP_RES_INVALID; // the 16-byte INIT header
      const initTag = sctp.initiateTag(b, at);
      // Do not record an INIT that matches the peer's tag (stale or retransmitted).
      if (oldState === SCTP_CT_NONE || ct.vtag[other] !== initTag) {
        if (ct.init[dir] && ct.init[other]) ct.init[other] = false;
        ct.init[dir] = true;
      }
      ct.vtag[other] = initTag;
      // An INIT retransmitted into CLOSED does not keep the entry alive.
      if (newState === SCTP_CT_CLOSED && oldState === SCTP_CT_CLOSED && conn.confirmed) ignore = true;
    } else if (type === SCTP_CHUNK_INIT_ACK) {
      if (at + SCTP_INIT_CHUNK_MIN_LEN > end) return SCTP_RES_INVALID;
      const initTag = sctp.initiateTag(b, at);
      const tag = ct.vtag[other];
      if (!ct.init[other] && tag !== 0 && tag !== initTag) return SCTP_RES_INVALID;
      if (ct.init[dir] && ct.init[other] && tag !== initTag) return SCTP_RES_INVALID; // collision
      ct.vtag[other] = initTag;
    }

    ct.state = newState;
    if (oldState !== newState && newState === SCTP_CT_ESTABLISHED) conn.status |= IPS_ASSURED;
    at = next;
  }

  if (ignore) return SCTP_RES_IGNORE;
  conn.timeoutAt = now + timeouts[newState]!;
  return SCTP_RES_ACCEPT;
}

/** sctp_new: checks the first packet of a conn and records the tags it announces. */
function sctpNew(conn: Conn, b: Uint8Array, l4: number, end: number, vtag: number): boolean {
  const ct: SctpTrack = { state: SCTP_CT_NONE, vtag: [0, 0], init: [false, false], heartbeatVtagFailed: false, lastDir: 0 };
  for (let at = sctp.chunksOffset(b, l4); at + SCTP_CHUNK_HEADER_LEN <= end; ) {
    const type = sctp.chunkType(b, at);
    const span = sctp.chunkSpan(b, at);
    const s = sctpNewState(0, SCTP_CT_NONE, type);
    if (s === SCTP_CT_NONE || s === SCTP_CT_MAX) return false;
    if (type === SCTP_CHUNK_INIT) {
      if (vtag !== 0) return false; // §8.5.1 (A)
      if (at + SCTP_INIT_CHUNK_MIN_LEN > end) return false;
      ct.vtag[1] = sctp.initiateTag(b, at);
    } else if (type === SCTP_CHUNK_HEARTBEAT) {
      ct.vtag[0] = vtag;
    } else if (type === SCTP_CHUNK_SHUTDOWN_ACK) {
      // An OOTB SHUTDOWN ACK expects a SHUTDOWN COMPLETE (or an ABORT) back with its tag.
      ct.vtag[1] = vtag;
    }
    at += span;
  }
  conn.sctp = ct;
  return true;
}
