/**
 * TCP connection-tracking states, the transition table and per-direction window data,
 * numbered and laid out as in net/netfilter/nf_conntrack_proto_tcp.c (Linux 6.x).
 */

export const TCP_CT_NONE = 0;
export const TCP_CT_SYN_SENT = 1;
export const TCP_CT_SYN_RECV = 2;
export const TCP_CT_ESTABLISHED = 3;
export const TCP_CT_FIN_WAIT = 4;
export const TCP_CT_CLOSE_WAIT = 5;
export const TCP_CT_LAST_ACK = 6;
export const TCP_CT_TIME_WAIT = 7;
export const TCP_CT_CLOSE = 8;
export const TCP_CT_SYN_SENT2 = 9;
/** "Invalid" in the transition table (sIV). */
export const TCP_CT_MAX = 10;
/** "Ignore" in the transition table (sIG). */
export const TCP_CT_IGNORE = 11;
/** Timeout slots past the states. */
export const TCP_CT_RETRANS = 12;
export const TCP_CT_UNACK = 13;
export const TCP_CT_TIMEOUT_MAX = 14;

export const TCP_STATE_NAMES: readonly string[] = [
  "NONE",
  "SYN_SENT",
  "SYN_RECV",
  "ESTABLISHED",
  "FIN_WAIT",
  "CLOSE_WAIT",
  "LAST_ACK",
  "TIME_WAIT",
  "CLOSE",
  "SYN_SENT2",
];

export type TcpStateName =
  | "NONE"
  | "SYN_SENT"
  | "SYN_RECV"
  | "ESTABLISHED"
  | "FIN_WAIT"
  | "CLOSE_WAIT"
  | "LAST_ACK"
  | "TIME_WAIT"
  | "CLOSE"
  | "SYN_SENT2";

// Which flag combination a segment carries (enum tcp_bit_set).
export const TCP_SYN_SET = 0;
export const TCP_SYNACK_SET = 1;
export const TCP_FIN_SET = 2;
export const TCP_ACK_SET = 3;
export const TCP_RST_SET = 4;
export const TCP_NONE_SET = 5;

// Per-direction flags (IP_CT_TCP_FLAG_*, include/uapi/linux/netfilter/nf_conntrack_tcp.h).
export const TCP_FLAG_WINDOW_SCALE = 0x01;
export const TCP_FLAG_SACK_PERM = 0x02;
export const TCP_FLAG_CLOSE_INIT = 0x04;
export const TCP_FLAG_BE_LIBERAL = 0x08;
export const TCP_FLAG_DATA_UNACKNOWLEDGED = 0x10;
export const TCP_FLAG_MAXACK_SET = 0x20;
export const TCP_EXP_CHALLENGE_ACK = 0x40;
export const TCP_SIMULTANEOUS_OPEN = 0x80;

// sNO (NONE) never appears as a target state.
const sSS = TCP_CT_SYN_SENT;
const sSR = TCP_CT_SYN_RECV;
const sES = TCP_CT_ESTABLISHED;
const sFW = TCP_CT_FIN_WAIT;
const sCW = TCP_CT_CLOSE_WAIT;
const sLA = TCP_CT_LAST_ACK;
const sTW = TCP_CT_TIME_WAIT;
const sCL = TCP_CT_CLOSE;
const sS2 = TCP_CT_SYN_SENT2;
const sIV = TCP_CT_MAX;
const sIG = TCP_CT_IGNORE;

/**
 * tcp_conntracks[dir][flag set][old state] → new state, flattened. Rows are the
 * kernel's (columns sNO sSS sSR sES sFW sCW sLA sTW sCL sS2).
 */
// prettier-ignore
const TABLE = Uint8Array.from([
  // ORIGINAL
  /* syn    */ sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2,
  /* synack */ sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR,
  /* fin    */ sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV,
  /* ack    */ sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV,
  /* rst    */ sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL,
  /* none   */ sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV,
  // REPLY
  /* syn    */ sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2,
  /* synack */ sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR,
  /* fin    */ sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV,
  /* ack    */ sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG,
  /* rst    */ sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL,
  /* none   */ sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV,
]);

/** The transition for a segment of flag set `index` in direction `dir` from state `old`. */
export function tcpTransition(dir: number, index: number, old: number): number {
  return TABLE[dir * 60 + index * 10 + old]!;
}

/**
 * The window words of one direction in `TcpTrack.words`: direction d's word k is at
 * d × SEEN_WORDS + k. The per-packet window check (tcp-track.ts inWindow) reads them there
 * directly; `TcpSeen` names them for everything else.
 */
export const SEEN_WORDS = 6;
export const TD_END = 0;
export const TD_MAX_END = 1;
export const TD_MAX_WIN = 2;
export const TD_MAX_ACK = 3;
export const TD_SCALE = 4;
export const TD_FLAGS = 5;

/**
 * Window-tracking data of one direction (struct ip_ct_tcp_state). Sequence values are u32;
 * they live in a typed array shared with the conn's `TcpTrack` so that updating them per
 * packet allocates nothing (numbers past 2^30 would otherwise be boxed).
 */
export class TcpSeen {
  constructor(
    private readonly a: Uint32Array,
    private readonly o: number,
  ) {}
  /** max(seq + len) seen from this side. */
  get tdEnd(): number {
    return this.a[this.o + TD_END]!;
  }
  set tdEnd(v: number) {
    this.a[this.o + TD_END] = v;
  }
  /** max(ack + max(win, 1)) seen from the other side: the right edge this side may send to. */
  get tdMaxEnd(): number {
    return this.a[this.o + TD_MAX_END]!;
  }
  set tdMaxEnd(v: number) {
    this.a[this.o + TD_MAX_END] = v;
  }
  /** max(win) advertised by this side (scaled). */
  get tdMaxWin(): number {
    return this.a[this.o + TD_MAX_WIN]!;
  }
  set tdMaxWin(v: number) {
    this.a[this.o + TD_MAX_WIN] = v;
  }
  /** Highest ack sent by this side. */
  get tdMaxAck(): number {
    return this.a[this.o + TD_MAX_ACK]!;
  }
  set tdMaxAck(v: number) {
    this.a[this.o + TD_MAX_ACK] = v;
  }
  /** Window scale this side announced. */
  get tdScale(): number {
    return this.a[this.o + TD_SCALE]!;
  }
  set tdScale(v: number) {
    this.a[this.o + TD_SCALE] = v;
  }
  /** TCP_FLAG_* bits. */
  get flags(): number {
    return this.a[this.o + TD_FLAGS]!;
  }
  set flags(v: number) {
    this.a[this.o + TD_FLAGS] = v;
  }

  reset(): void {
    this.tdEnd = 0;
    this.tdMaxEnd = 0;
    this.tdMaxWin = 0;
    this.tdMaxAck = 0;
    this.tdScale = 0;
    this.flags &= TCP_FLAG_BE_LIBERAL;
  }

  toJSON(): object {
    return { tdEnd: this.tdEnd, tdMaxEnd: this.tdMaxEnd, tdMaxWin: this.tdMaxWin, tdMaxAck: this.tdMaxAck, tdScale: this.tdScale, flags: this.flags };
  }
}

/** A scratch `TcpSeen` for parsing options outside a conn. */
export function scratchSeen(): TcpSeen {
  return new TcpSeen(new Uint32Array(6), 0);
}

const SEQ = 12;
const ACKN = 13;
const END = 14;

/** A connection's TCP state (struct ip_ct_tcp). */
export class TcpTrack {
  state = TCP_CT_NONE;
  /** Both directions' window data (SEEN_WORDS each), then last_seq, last_ack, last_end. */
  readonly words = new Uint32Array(15);
  readonly seen: [TcpSeen, TcpSeen] = [new TcpSeen(this.words, 0), new TcpSeen(this.words, SEEN_WORDS)];
  lastDir = 0;
  lastIndex = TCP_NONE_SET;
  lastWin = 0;
  lastWscale = 0;
  lastFlags = 0;
  retrans = 0;

  /** Back to the state of a new TcpTrack, in place (a reused conn's, see conn-pool.ts). */
  reinit(): this {
    this.state = TCP_CT_NONE;
    this.words.fill(0);
    this.lastDir = 0;
    this.lastIndex = TCP_NONE_SET;
    this.lastWin = 0;
    this.lastWscale = 0;
    this.lastFlags = 0;
    this.retrans = 0;
    return this;
  }

  get lastSeq(): number {
    return this.words[SEQ]!;
  }
  set lastSeq(v: number) {
    this.words[SEQ] = v;
  }
  get lastAck(): number {
    return this.words[ACKN]!;
  }
  set lastAck(v: number) {
    this.words[ACKN] = v;
  }
  get lastEnd(): number {
    return this.words[END]!;
  }
  set lastEnd(v: number) {
    this.words[END] = v;
  }
}
