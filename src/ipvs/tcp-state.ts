/**
 * The IPVS TCP state machine (net/netfilter/ipvs/ip_vs_proto_tcp.c `tcp_states`,
 * `tcp_state_idx`, `set_tcp_state`). Unlike conntrack it looks only at the flags of one
 * packet and the direction: INPUT (client to director), OUTPUT (real server replies, seen
 * only in NAT mode) and INPUT-ONLY (DR/TUN, where replies bypass the director).
 */
import {
  TCP_S_CLOSE as sCL,
  TCP_S_CLOSE_WAIT as sCW,
  TCP_S_ESTABLISHED as sES,
  TCP_S_FIN_WAIT as sFW,
  TCP_S_LAST_ACK as sLA,
  TCP_S_LISTEN as sLI,
  TCP_S_SYN_RECV as sSR,
  TCP_S_SYN_SENT as sSS,
  TCP_S_TIME_WAIT as sTW,
} from "./constants.js";

export const DIR_INPUT = 0;
export const DIR_OUTPUT = 1;
export const DIR_INPUT_ONLY = 2;

// Rows: per direction, the events syn, fin, ack, rst; columns: the current state
//   sNO  sES  sSS  sSR  sFW  sTW  sCL  sCW  sLA  sLI  sSA
const TABLE: readonly (readonly number[])[] = [
  // INPUT
  [sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR],
  [sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW],
  [sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES],
  [sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR],
  // OUTPUT
  [sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR],
  [sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW],
  [sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES],
  [sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL],
  // INPUT-ONLY
  [sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR],
  [sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW],
  [sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES],
  [sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL],
];

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;

/** tcp_state_idx: RST wins over SYN over FIN over ACK; -1 for none of them. */
export function tcpEventIndex(flags: number): number {
  if (flags & RST) return 3;
  if (flags & SYN) return 0;
  if (flags & FIN) return 1;
  if (flags & ACK) return 2;
  return -1;
}

/**
 * The next state for a packet with TCP `flags` in direction `dir` (DIR_*). A packet with
 * none of SYN/FIN/ACK/RST moves the connection to CLOSE, as set_tcp_state does.
 */
export function nextTcpState(state: number, dir: number, flags: number): number {
  const idx = tcpEventIndex(flags);
  if (idx < 0) return sCL;
  return TABLE[dir * 4 + idx]![state]!;
}
