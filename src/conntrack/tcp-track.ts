/**
 * Per-packet TCP tracking: the flag-set classification, tcp_new, the state machine of
 * nf_conntrack_tcp_packet and the window checks of tcp_in_window
 * (net/netfilter/nf_conntrack_proto_tcp.c, Linux 6.x), on bytes.
 *
 * Left out: checksum verification (the kernel skips it too for locally generated or
 * offloaded packets), NAT sequence adjustment (no helpers here, so the offset is always 0),
 * SYN proxy, and the sysctls other than nf_conntrack_tcp_loose and nf_conntrack_tcp_be_liberal
 * (no_window_check and ignore_invalid_rst keep their default 0).
 */
import { get32 } from "../wire/bytes.js";
import { TCP_MIN_HEADER_LEN, TCP_OPT_EOL, TCP_OPT_NOP, TCP_OPT_SACK, TCP_OPT_SACK_PERMITTED, TCP_OPT_TS_ALIGNED_PREFIX, TCP_OPT_WINDOW_SCALE, tcp as tcpHdr } from "../wire/tcp.js";
import type { Conn, Dir } from "./conn.js";
import { IPS_ASSURED, IPS_SEEN_REPLY } from "./conn.js";
import {
  TCP_ACK_SET,
  TCP_CT_CLOSE,
  TCP_CT_ESTABLISHED,
  TCP_CT_FIN_WAIT,
  TCP_CT_IGNORE,
  TCP_CT_LAST_ACK,
  TCP_CT_MAX,
  TCP_CT_NONE,
  TCP_CT_RETRANS,
  TCP_CT_SYN_RECV,
  TCP_CT_SYN_SENT,
  TCP_CT_SYN_SENT2,
  TCP_CT_TIME_WAIT,
  TCP_CT_UNACK,
  TCP_CT_CLOSE_WAIT,
  TCP_EXP_CHALLENGE_ACK,
  TCP_FIN_SET,
  TCP_FLAG_BE_LIBERAL,
  TCP_FLAG_CLOSE_INIT,
  TCP_FLAG_DATA_UNACKNOWLEDGED,
  TCP_FLAG_MAXACK_SET,
  TCP_FLAG_SACK_PERM,
  TCP_FLAG_WINDOW_SCALE,
  TCP_NONE_SET,
  TCP_RST_SET,
  TCP_SIMULTANEOUS_OPEN,
  TCP_SYNACK_SET,
  TCP_SYN_SET,
  SEEN_WORDS,
  TD_END,
  TD_FLAGS,
  TD_MAX_ACK,
  TD_MAX_END,
  TD_MAX_WIN,
  TD_SCALE,
  TcpSeen,
  TcpTrack,
  scratchSeen,
  tcpTransition,
} from "./tcp-state.js";

/**
 * A new TcpTrack for an unconfirmed conn (tcp_new starts over on every packet before
 * confirmation): the conn's own one or the one its object had before reuse, reset in place,
 * unless a caller may hold the old one (Conn.escaped).
 */
function newTrack(conn: Conn): TcpTrack {
  if (conn.escaped) return new TcpTrack();
  const t = conn.tcp ?? conn.spareTcp;
  return t === null ? new TcpTrack() : t.reinit();
}

/** Outcomes of `tcpPacket`. */
export const TCP_RES_INVALID = -1;
/** Accepted without touching the timeout (ignored segments, SYN retransmits). */
export const TCP_RES_IGNORE = 0;
/** Accepted; state and timeout updated. */
export const TCP_RES_ACCEPT = 1;
/** Accepted, but the only answer was a RST: the entry is to be deleted now. */
export const TCP_RES_KILL = 2;
/** A SYN reopens a closed connection: delete the entry and look the packet up again. */
export const TCP_RES_REPEAT = 3;

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;
const URG = 0x20;

const MAX_RETRANS = 3; // nf_conntrack_tcp_max_retrans
const MAXACKWINCONST = 66000;
const TCP_MAX_WSCALE = 14;

/** tcp_valid_flags: combinations of FIN SYN RST ACK URG that a segment may carry (PSH/ECE/CWR always allowed). */
const VALID_FLAGS = new Uint8Array(64);
for (const f of [SYN, SYN | URG, SYN | ACK, RST, RST | ACK, FIN | ACK, FIN | ACK | URG, ACK, ACK | URG]) VALID_FLAGS[f] = 1;

function before(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}
function after(a: number, b: number): boolean {
  return ((b - a) | 0) < 0;
}

/** get_conntrack_index: which row of the transition table a segment uses. */
export function tcpFlagSet(flags: number): number {
  if (flags & RST) return TCP_RST_SET;
  if (flags & SYN) return flags & ACK ? TCP_SYNACK_SET : TCP_SYN_SET;
  if (flags & FIN) return TCP_FIN_SET;
  if (flags & ACK) return TCP_ACK_SET;
  return TCP_NONE_SET;
}

/**
 * tcp_error: true when the segment is malformed (header shorter than 20 bytes or longer
 * than the segment) or carries an impossible flag combination.
 */
export function tcpMalformed(buf: Uint8Array, l4off: number, l4len: number): boolean {
  if (l4len < TCP_MIN_HEADER_LEN) return true;
  const doff = tcpHdr.headerLen(buf, l4off);
  if (doff < TCP_MIN_HEADER_LEN || l4len < doff) return true;
  return VALID_FLAGS[tcpHdr.flags(buf, l4off) & (FIN | SYN | RST | ACK | URG)] === 0;
}

/** seq + payload length + SYN + FIN (segment_seq_plus_len). */
function segEnd(buf: Uint8Array, l4off: number, l4len: number): number {
  const seq = tcpHdr.seq(buf, l4off);
  const doff = tcpHdr.headerLen(buf, l4off);
  const flags = tcpHdr.flags(buf, l4off);
  return (seq + l4len - doff + (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0)) >>> 0;
}

/** tcp_options: window scale and SACK-permitted from a SYN's options into `seen`. */
function readOptions(buf: Uint8Array, l4off: number, seen: TcpSeen): void {
  const doff = tcpHdr.headerLen(buf, l4off);
  let length = doff - TCP_MIN_HEADER_LEN;
  if (length === 0) return;
  seen.tdScale = 0;
  seen.flags &= TCP_FLAG_BE_LIBERAL;
  let p = l4off + TCP_MIN_HEADER_LEN; // the options
  while (length > 0) {
    const kind = buf[p++]!;
    if (kind === TCP_OPT_EOL) return;
    if (kind === TCP_OPT_NOP) {
      length--;
      continue;
    }
    if (length < 2) return;
    const size = buf[p++]!;
    if (size < 2 || size > length) return;
    if (kind === TCP_OPT_SACK_PERMITTED && size === 2) seen.flags |= TCP_FLAG_SACK_PERM;
    else if (kind === TCP_OPT_WINDOW_SCALE && size === 3) {
      seen.tdScale = Math.min(buf[p]!, TCP_MAX_WSCALE);
      seen.flags |= TCP_FLAG_WINDOW_SCALE;
    }
    p += size - 2;
    length -= size;
  }
}

/** tcp_sack: the highest right edge of the SACK blocks, or `sack` when there are none. */
function highestSack(buf: Uint8Array, l4off: number, sack: number): number {
  const doff = tcpHdr.headerLen(buf, l4off);
  let length = doff - TCP_MIN_HEADER_LEN;
  if (length === 0) return sack;
  let p = l4off + TCP_MIN_HEADER_LEN; // the options
  // Fast path: timestamps only (NOP NOP TS 10).
  if (length === 12 && get32(buf, p) === TCP_OPT_TS_ALIGNED_PREFIX) return sack;
  while (length > 0) {
    const kind = buf[p++]!;
    if (kind === TCP_OPT_EOL) return sack;
    if (kind === TCP_OPT_NOP) {
      length--;
      continue;
    }
    if (length < 2) return sack;
    const size = buf[p++]!;
    if (size < 2 || size > length) return sack;
    if (kind === TCP_OPT_SACK && size >= 10 && (size - 2) % 8 === 0) {
      // SACK blocks (RFC 2018 §3): 8 bytes each, left edge then right edge.
      for (let i = 0; i < size - 2; i += 8) {
        const edge = get32(buf, p + i + 4);
        if (after(edge, sack)) sack = edge;
      }
      return sack;
    }
    p += size - 2;
    length -= size;
  }
  return sack;
}

function initSender(sender: TcpSeen, receiver: TcpSeen, buf: Uint8Array, l4off: number, end: number, win: number, dir: Dir): void {
  sender.tdEnd = end;
  sender.tdMaxEnd = end;
  sender.tdMaxWin = win === 0 ? 1 : win;
  readOptions(buf, l4off, sender);
  // RFC 1323: scaling is on only when both sides announce it.
  if (dir === 1 && !(sender.flags & TCP_FLAG_WINDOW_SCALE && receiver.flags & TCP_FLAG_WINDOW_SCALE)) {
    sender.tdScale = 0;
    receiver.tdScale = 0;
  }
}

/** tcp_new: sets up tracking for the first segment of an unconfirmed conn; false when it cannot start one. */
function tcpNew(tcp: TcpTrack, buf: Uint8Array, l4off: number, l4len: number, loose: boolean): boolean {
  const flags = tcpHdr.flags(buf, l4off);
  const newState = tcpTransition(0, tcpFlagSet(flags), TCP_CT_NONE);
  if (newState >= TCP_CT_MAX) return false;
  const s0 = tcp.seen[0];
  const win = tcpHdr.window(buf, l4off);
  if (newState === TCP_CT_SYN_SENT) {
    s0.tdEnd = segEnd(buf, l4off, l4len);
    s0.tdMaxWin = win === 0 ? 1 : win;
    s0.tdMaxEnd = s0.tdEnd;
    readOptions(buf, l4off, s0);
  } else if (!loose) {
    return false;
  } else {
    // Picked up mid-stream: the history is lost, so take what the segment says and be liberal.
    s0.tdEnd = segEnd(buf, l4off, l4len);
    s0.tdMaxWin = win === 0 ? 1 : win;
    s0.tdMaxEnd = (s0.tdEnd + s0.tdMaxWin) >>> 0;
    s0.flags = TCP_FLAG_SACK_PERM | TCP_FLAG_BE_LIBERAL;
    tcp.seen[1].flags = TCP_FLAG_SACK_PERM | TCP_FLAG_BE_LIBERAL;
  }
  tcp.lastIndex = TCP_NONE_SET;
  return true;
}

const WIN_IGNORE = 0;
const WIN_INVALID = 1;
const WIN_ACCEPT = 2;

/**
 * nf_tcp_log_invalid: a liberal sender (picked up mid-stream; `senderFlags` are its
 * TCP_FLAG_* bits) or the nf_conntrack_tcp_be_liberal sysctl turns any verdict into accept. Kernels before 6.1
 * (`strict`, see kernel.ts) had no ignore: every failed check was INVALID.
 */
function verdictFor(senderFlags: number, res: number, liberal: boolean, strict = false): number {
  if (liberal || senderFlags & TCP_FLAG_BE_LIBERAL) return WIN_ACCEPT;
  return strict ? WIN_INVALID : res;
}

/**
 * tcp_in_window. The two directions' window words are read and written in `tcp.words`
 * (sender at `s`, receiver at `r`, see SEEN_WORDS): every packet of every TCP flow comes
 * here, and the words are one load away from the TcpTrack.
 */
function inWindow(
  tcp: TcpTrack,
  dir: Dir,
  index: number,
  buf: Uint8Array,
  l4off: number,
  flags: number,
  seq: number,
  ack: number,
  winRaw: number,
  end: number,
  liberal: boolean,
  strict: boolean,
): number {
  const w = tcp.words;
  const s = dir * SEEN_WORDS;
  const r = SEEN_WORDS - s;
  let win = winRaw;
  let sack = ack;
  if (w[r + TD_FLAGS]! & TCP_FLAG_SACK_PERM) sack = highestSack(buf, l4off, sack);

  if (w[s + TD_MAX_WIN] === 0) {
    if (flags & SYN) {
      initSender(tcp.seen[dir], tcp.seen[dir ^ 1]!, buf, l4off, end, win, dir);
      if (!(flags & ACK)) return WIN_ACCEPT; // simultaneous open
    } else {
      // Mid-stream: use the data in the packet.
      w[s + TD_END] = end;
      const swin = (win << w[s + TD_SCALE]!) >>> 0;
      w[s + TD_MAX_WIN] = swin === 0 ? 1 : swin;
      w[s + TD_MAX_END] = end + w[s + TD_MAX_WIN]!;
      if (w[r + TD_MAX_WIN] === 0) {
        w[r + TD_END] = sack;
        w[r + TD_MAX_END] = sack;
      } else if (sack === ((w[r + TD_END]! + 1) >>> 0)) {
        w[r + TD_END] = sack; // likely a keepalive answer
      }
    }
  } else if (flags & SYN && after(end, w[s + TD_END]!) && (tcp.state === TCP_CT_SYN_SENT || tcp.state === TCP_CT_SYN_RECV)) {
    // A reinitialised connection (RFC 793): start over for this direction.
    initSender(tcp.seen[dir], tcp.seen[dir ^ 1]!, buf, l4off, end, win, dir);
    if (dir === 1 && !(flags & ACK)) return WIN_ACCEPT;
  }

  if (!(flags & ACK)) {
    ack = sack = w[r + TD_END]!;
  } else if ((flags & (ACK | RST)) === (ACK | RST) && ack === 0) {
    ack = sack = w[r + TD_END]!; // broken stacks: RST+ACK with ack 0
  }

  if (flags & RST && seq === 0 && tcp.state === TCP_CT_SYN_SENT) {
    seq = end = w[s + TD_END]!; // RST answering a SYN
  }

  const sMaxWin = w[s + TD_MAX_WIN]!;
  const sMaxEnd = w[s + TD_MAX_END]!;
  const rEnd = w[r + TD_END]!;
  const rMaxWin = w[r + TD_MAX_WIN]!;
  const maxAckWin = sMaxWin > MAXACKWINCONST ? sMaxWin : MAXACKWINCONST;
  const seqOk = before(seq, (sMaxEnd + 1) >>> 0);
  if (!seqOk) {
    const overshot = (end - sMaxEnd + 1) >>> 0;
    const ackOk = after(sack, (rEnd - maxAckWin - 1) >>> 0);
    const inRecvWin = rMaxWin !== 0 && after(end, (w[s + TD_END]! - rMaxWin - 1) >>> 0);
    if (inRecvWin && ackOk && overshot <= rMaxWin && before(sack, (rEnd + 1) >>> 0)) {
      // A sender overshooting the receive window a little: remember the data, ignore the packet.
      if (strict) return verdictFor(w[s + TD_FLAGS]!, WIN_INVALID, liberal);
      w[s + TD_END] = end;
      w[s + TD_FLAGS] |= TCP_FLAG_DATA_UNACKNOWLEDGED;
      return verdictFor(w[s + TD_FLAGS]!, WIN_IGNORE, liberal);
    }
    return verdictFor(w[s + TD_FLAGS]!, WIN_INVALID, liberal); // SEQ is over the upper bound
  }
  if (!before(sack, (rEnd + 1) >>> 0)) return verdictFor(w[s + TD_FLAGS]!, WIN_INVALID, liberal); // ACK over upper bound
  const inRecvWin = rMaxWin === 0 || after(end, (w[s + TD_END]! - rMaxWin - 1) >>> 0);
  if (!inRecvWin) return verdictFor(w[s + TD_FLAGS]!, WIN_IGNORE, liberal, strict); // already ACKed data retransmitted
  if (!after(sack, (rEnd - maxAckWin - 1) >>> 0)) return verdictFor(w[s + TD_FLAGS]!, WIN_IGNORE, liberal, strict); // ACK under lower bound

  if (!(flags & SYN)) win = (win << w[s + TD_SCALE]!) >>> 0;

  // Update the sender.
  const swin = (win + (sack - ack)) >>> 0;
  if (sMaxWin < swin) w[s + TD_MAX_WIN] = swin;
  if (after(end, w[s + TD_END]!)) {
    w[s + TD_END] = end;
    w[s + TD_FLAGS] |= TCP_FLAG_DATA_UNACKNOWLEDGED;
  }
  if (flags & ACK) {
    if (!(w[s + TD_FLAGS]! & TCP_FLAG_MAXACK_SET)) {
      w[s + TD_MAX_ACK] = ack;
      w[s + TD_FLAGS] |= TCP_FLAG_MAXACK_SET;
    } else if (after(ack, w[s + TD_MAX_ACK]!)) {
      w[s + TD_MAX_ACK] = ack;
    }
  }
  // Update the receiver.
  if (rMaxWin !== 0 && after(end, sMaxEnd)) {
    w[r + TD_MAX_WIN] = rMaxWin + (end - sMaxEnd);
  }
  if (after((sack + win) >>> 0, (w[r + TD_MAX_END]! - 1) >>> 0)) {
    // A zero window still lets one byte through (the probe).
    w[r + TD_MAX_END] = win === 0 ? sack + win + 1 : sack + win;
  }
  if (ack === w[r + TD_END]) w[r + TD_FLAGS] &= ~TCP_FLAG_DATA_UNACKNOWLEDGED;

  // Retransmission counting.
  if (index === TCP_ACK_SET) {
    if (tcp.lastDir === dir && tcp.lastSeq === seq && tcp.lastAck === ack && tcp.lastEnd === end && tcp.lastWin === winRaw) {
      tcp.retrans++;
    } else {
      tcp.lastDir = dir;
      tcp.lastSeq = seq;
      tcp.lastAck = ack;
      tcp.lastEnd = end;
      tcp.lastWin = winRaw;
      tcp.retrans = 0;
    }
  }
  return WIN_ACCEPT;
}

/** nf_tcp_handle_invalid: an out-of-window FIN/RST answering one from the other side shortens an assured entry's life. */
function handleInvalid(conn: Conn, tcp: TcpTrack, dir: Dir, index: number, now: number, t: Float64Array): void {
  if (!(conn.status & IPS_ASSURED)) return;
  if (index !== TCP_RST_SET && index !== TCP_FIN_SET) return;
  if (tcp.lastDir !== dir && (tcp.lastIndex === TCP_FIN_SET || tcp.lastIndex === TCP_RST_SET)) {
    const expires = conn.timeoutAt - now;
    if (expires < 120e9) return;
    if (expires > t[TCP_CT_UNACK]!) conn.timeoutAt = now + t[TCP_CT_UNACK]!;
  } else {
    tcp.lastIndex = index;
    tcp.lastDir = dir;
  }
}

/**
 * nf_conntrack_tcp_packet for one segment of `l4len` bytes at `buf[l4off..]` travelling in
 * direction `dir` of `conn`. Updates the state, the window data, ASSURED and the timeout
 * (absolute virtual ns) and returns a TCP_RES_* code. `timeouts` is indexed by state.
 */
export function tcpPacket(
  conn: Conn,
  dir: Dir,
  buf: Uint8Array,
  l4off: number,
  l4len: number,
  now: number,
  timeouts: Float64Array,
  loose: boolean,
  /** nf_conntrack_tcp_be_liberal. */
  liberal = false,
  /** A kernel before 6.1: segments outside the window are INVALID, never ignored (kernel.ts). */
  strict = false,
): number {
  if (tcpMalformed(buf, l4off, l4len)) return TCP_RES_INVALID;
  let tcp = conn.tcp;
  if (!conn.confirmed) {
    tcp = conn.tcp = newTrack(conn);
    if (!tcpNew(tcp, buf, l4off, l4len, loose)) return TCP_RES_INVALID;
  }
  if (!tcp) return TCP_RES_INVALID;
  const flags = tcpHdr.flags(buf, l4off);
  let oldState = tcp.state;
  const index = tcpFlagSet(flags);
  let newState = tcpTransition(dir, index, oldState);
  const seqNo = tcpHdr.seq(buf, l4off);
  const ackNo = tcpHdr.ack(buf, l4off);
  const winRaw = tcpHdr.window(buf, l4off);
  const end = (seqNo + l4len - tcpHdr.headerLen(buf, l4off) + (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0)) >>> 0;
  let skipWindow = false;

  switch (newState) {
    case TCP_CT_SYN_SENT:
    case TCP_CT_IGNORE: {
      if (newState === TCP_CT_SYN_SENT) {
        if (oldState < TCP_CT_TIME_WAIT) break;
        // A SYN on a closed or aborted connection: start a fresh entry.
        if ((tcp.seen[dir].flags | tcp.seen[dir ^ 1]!.flags) & TCP_FLAG_CLOSE_INIT || (tcp.lastDir === dir && tcp.lastIndex === TCP_RST_SET)) {
          return TCP_RES_REPEAT;
        }
      }
      // Ignored: our view may be out of sync. b) a SYN/ACK answering a SYN we ignored resyncs us.
      if (index === TCP_SYNACK_SET && tcp.lastIndex === TCP_SYN_SET && tcp.lastDir !== dir && ackNo === tcp.lastEnd) {
        oldState = TCP_CT_SYN_SENT;
        newState = TCP_CT_SYN_RECV;
        const ld = tcp.seen[tcp.lastDir]!;
        ld.tdEnd = tcp.lastEnd;
        ld.tdMaxEnd = tcp.lastEnd;
        ld.tdMaxWin = tcp.lastWin === 0 ? 1 : tcp.lastWin;
        ld.tdScale = tcp.lastWscale;
        tcp.lastFlags &= ~TCP_EXP_CHALLENGE_ACK;
        ld.flags = tcp.lastFlags;
        tcp.seen[dir].reset();
        break;
      }
      tcp.lastIndex = index;
      tcp.lastDir = dir;
      tcp.lastSeq = seqNo;
      tcp.lastEnd = end;
      tcp.lastWin = winRaw;
      if (index === TCP_SYN_SET && dir === 0) {
        // a) a SYN in the original direction: note its options for a later resync.
        const probe = scratchSeen();
        tcp.lastFlags = 0;
        tcp.lastWscale = 0;
        readOptions(buf, l4off, probe);
        if (probe.flags & TCP_FLAG_WINDOW_SCALE) {
          tcp.lastFlags |= TCP_FLAG_WINDOW_SCALE;
          tcp.lastWscale = probe.tdScale;
        }
        if (probe.flags & TCP_FLAG_SACK_PERM) tcp.lastFlags |= TCP_FLAG_SACK_PERM;
        if (oldState === TCP_CT_LAST_ACK) tcp.lastFlags |= TCP_EXP_CHALLENGE_ACK;
      }
      if (oldState === TCP_CT_SYN_SENT && index === TCP_ACK_SET && dir === 1) tcp.lastAck = ackNo;
      return TCP_RES_IGNORE;
    }
    case TCP_CT_MAX:
      return TCP_RES_INVALID;
    case TCP_CT_TIME_WAIT:
      // RFC 5961 challenge ACK answering a SYN in LAST_ACK is not the last ACK.
      if (oldState === TCP_CT_LAST_ACK && index === TCP_ACK_SET && tcp.lastDir !== dir && tcp.lastIndex === TCP_SYN_SET && tcp.lastFlags & TCP_EXP_CHALLENGE_ACK) {
        tcp.lastFlags &= ~TCP_EXP_CHALLENGE_ACK;
        return TCP_RES_IGNORE;
      }
      break;
    case TCP_CT_SYN_SENT2:
      tcp.lastFlags |= TCP_SIMULTANEOUS_OPEN;
      break;
    case TCP_CT_SYN_RECV:
      if (dir === 1 && index === TCP_ACK_SET && tcp.lastFlags & TCP_SIMULTANEOUS_OPEN) newState = TCP_CT_ESTABLISHED;
      break;
    case TCP_CT_CLOSE: {
      if (index !== TCP_RST_SET) break;
      if (canEarlyDrop(tcp.state)) {
        skipWindow = true;
        break;
      }
      const peer = tcp.seen[dir ^ 1]!;
      if (peer.flags & TCP_FLAG_MAXACK_SET && tcp.lastIndex !== TCP_SYN_SET) {
        const established = tcp.state === TCP_CT_ESTABLISHED;
        if (seqNo === 0 && !established) break;
        if (before(seqNo, peer.tdMaxAck)) return TCP_RES_INVALID; // invalid RST
        if (!established || seqNo === peer.tdMaxAck) break;
        if (tcp.lastIndex === TCP_ACK_SET && tcp.lastDir === dir && seqNo === tcp.lastEnd) break;
        newState = oldState; // inexact RST: keep the state to allow a challenge ACK
      }
      if (
        ((conn.status & IPS_SEEN_REPLY && tcp.lastIndex === TCP_SYN_SET) || (!(conn.status & IPS_ASSURED) && tcp.lastIndex === TCP_ACK_SET)) &&
        ackNo === tcp.lastEnd
      ) {
        skipWindow = true; // RST answering a SYN or ACK we let through
        break;
      }
      if (oldState === TCP_CT_SYN_SENT && tcp.lastIndex === TCP_ACK_SET && tcp.lastDir === 1 && seqNo === tcp.lastAck) skipWindow = true;
      break;
    }
    default:
      break;
  }

  if (!skipWindow) {
    const res = inWindow(tcp, dir, index, buf, l4off, flags, seqNo, ackNo, winRaw, end, liberal, strict);
    if (res === WIN_IGNORE) return TCP_RES_IGNORE;
    if (res === WIN_INVALID) {
      handleInvalid(conn, tcp, dir, index, now, timeouts);
      return TCP_RES_INVALID;
    }
  }

  // In window from here on.
  tcp.lastIndex = index;
  tcp.lastDir = dir;
  tcp.state = newState;
  if (oldState !== newState && newState === TCP_CT_FIN_WAIT) tcp.seen[dir].flags |= TCP_FLAG_CLOSE_INIT;

  let timeout: number;
  const tNew = timeouts[newState]!;
  if (tcp.retrans >= MAX_RETRANS && tNew > timeouts[TCP_CT_RETRANS]!) timeout = timeouts[TCP_CT_RETRANS]!;
  else if (index === TCP_RST_SET) timeout = timeouts[TCP_CT_CLOSE]!;
  else if ((tcp.words[TD_FLAGS]! | tcp.words[SEEN_WORDS + TD_FLAGS]!) & TCP_FLAG_DATA_UNACKNOWLEDGED && tNew > timeouts[TCP_CT_UNACK]!) timeout = timeouts[TCP_CT_UNACK]!;
  else if (tcp.lastWin === 0 && tNew > timeouts[TCP_CT_RETRANS]!) timeout = timeouts[TCP_CT_RETRANS]!;
  else timeout = tNew;

  if (!(conn.status & IPS_SEEN_REPLY)) {
    // Only a RST came back: nothing was established, drop the entry at once.
    if (flags & RST) return TCP_RES_KILL;
    // A retransmitted SYN does not extend the entry's life.
    if (index === TCP_SYN_SET && oldState === TCP_CT_SYN_SENT) return TCP_RES_IGNORE;
    // Picked up mid-stream without a reply yet: no 5-day timeout.
    if (newState === TCP_CT_ESTABLISHED && timeout > timeouts[TCP_CT_UNACK]!) timeout = timeouts[TCP_CT_UNACK]!;
  } else if (!(conn.status & IPS_ASSURED) && (oldState === TCP_CT_SYN_RECV || oldState === TCP_CT_ESTABLISHED) && newState === TCP_CT_ESTABLISHED) {
    conn.status |= IPS_ASSURED;
  }
  conn.timeoutAt = now + timeout;
  return TCP_RES_ACCEPT;
}

/** tcp_can_early_drop: closing states may be evicted even when ASSURED. */
export function canEarlyDrop(state: number): boolean {
  return state === TCP_CT_FIN_WAIT || state === TCP_CT_LAST_ACK || state === TCP_CT_TIME_WAIT || state === TCP_CT_CLOSE || state === TCP_CT_CLOSE_WAIT;
}

