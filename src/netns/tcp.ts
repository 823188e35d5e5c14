/**
 * A minimal TCP endpoint (RFC 9293): enough for a "connection" to be real packets both
 * ways: three-way handshake, in-order data with ACKs, FIN in both directions, RST for
 * segments nobody wants. A SYN that gets no answer is retransmitted on Linux's timers (RTO
 * 1 s doubling, tcp_syn_retries 6: at 1, 3, 7, 15, 31 and 63 s, then connect() fails at
 * 127 s). Data is sent from a send buffer within the peer's window and the congestion
 * window (initial window 10 segments, slow start, then congestion avoidance), and kept until
 * acknowledged: the retransmission timer (RTO: 1 s, then TCP_RTO_MIN 200 ms once an RTT is
 * known — every emulated RTT is far below it — doubling up to 120 s, tcp_retries2 15) resends
 * from the first unacknowledged byte (go-back-N: the receiver keeps no out-of-order queue),
 * and an ICMP "fragmentation needed" about an outstanding segment lowers the path MTU and
 * the MSS and resends at once (tcp_v4_mtu_reduced → tcp_simple_retransmit). No SACK
 * recovery, no fast retransmit, no zero-window probes; anything unexpected is counted and
 * dropped.
 *
 * On the wire it looks like Linux with default sysctls: MSS, SACK-permitted, timestamps
 * (tcp_timestamps=1, RFC 7323) and window scale 7 in the SYN, the initial window of
 * tcp_select_initial_window, timestamps on every later segment, IP ID 0 on the SYN-ACK. An
 * application's answer leaves APP_RESPONSE_NS after the segment it answers, and one socket
 * never sends two segments at the same instant (netdev/timing.ts).
 */
import { formatIpv4 } from "../base/index.js";
import { APP_RESPONSE_NS, TCP_SEGMENT_GAP_NS, type PacketBuffer, type TimerTask } from "../netdev/index.js";
import {
  ICMP_DST_UNREACHABLE,
  ICMP_FRAG_NEEDED,
  ICMP_QUOTED_L4_MIN,
  IPPROTO_TCP,
  TCP_ACK,
  TCP_FIN,
  TCP_MIN_HEADER_LEN,
  TCP_OPT_MSS,
  TCP_OPT_NOP,
  TCP_OPT_SACK_PERMITTED,
  TCP_OPT_TIMESTAMPS,
  TCP_OPT_WINDOW_SCALE,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  get16,
  get32,
  ipv4,
  prependIpv4,
  prependTcp,
  set32,
  tcp,
  tcpOptionValue,
} from "../wire/index.js";
import { placePayload } from "./l4-build.js";
import type { NetworkNamespace } from "./netns.js";

// The flag bits are wire's; re-exported for this module's users.
export { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from "../wire/index.js";

export type TcpState =
  | "SYN_SENT"
  | "SYN_RECV"
  | "ESTABLISHED"
  | "FIN_WAIT_1"
  | "FIN_WAIT_2"
  | "CLOSING"
  | "TIME_WAIT"
  | "CLOSE_WAIT"
  | "LAST_ACK"
  | "CLOSED";

/** What an application sees of a connection. */
export interface TcpApp {
  onConnected?(conn: TcpConnection): void;
  onData?(conn: TcpConnection, data: Uint8Array): void;
  /** The peer sent FIN (its half is closed). */
  onPeerClosed?(conn: TcpConnection): void;
  onClosed?(conn: TcpConnection): void;
  onReset?(conn: TcpConnection): void;
  /** connect() gave up: every SYN retransmission went unanswered (ETIMEDOUT). */
  onTimeout?(conn: TcpConnection): void;
}

/** TCP_TIMEOUT_INIT: the first retransmission timeout of a SYN (RFC 6298 §2.1: 1 s). */
export const TCP_TIMEOUT_INIT_NS = 1_000_000_000;
/** TCP_RTO_MAX: the backoff's ceiling. */
const TCP_RTO_MAX_NS = 120_000_000_000;
/** TCP_RTO_MIN: the least retransmission timeout once an RTT is measured (200 ms). */
export const TCP_RTO_MIN_NS = 200_000_000;
/** net.ipv4.tcp_retries2: retransmission timeouts before an established connection is given up. */
export const TCP_RETRIES2 = 15;
/** TCP_INIT_CWND: the initial congestion window, in segments (RFC 6928). */
export const TCP_INIT_CWND = 10;
/** ip_rt_min_pmtu: an ICMP cannot lower a path MTU below 552 bytes. */
const IP_RT_MIN_PMTU = 552;

function before(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}
function after(a: number, b: number): boolean {
  return ((b - a) | 0) < 0;
}
/** net.ipv4.tcp_syn_retries (default 6). */
export const TCP_SYN_RETRIES = 6;

/**
 * Receive space for the initial window: tcp_full_space() with the default tcp_rmem[1]
 * (131072) and a scaling ratio of one half (tcp_adv_win_scale = 1), i.e. 65536.
 */
const INITIAL_SPACE = 65536;
/** Window scale Linux advertises with default buffers: ilog2(tcp_rmem[2] = 6 MiB) - 15. */
const WSCALE = 7;
/** TCPOLEN_TSTAMP_ALIGNED: NOP, NOP, kind 8, length 10, TSval, TSecr. */
const TS_ALIGNED = 12;

/**
 * The initial receive window Linux offers, as tcp_select_initial_window computes it
 * (net/ipv4/tcp_output.c): the receive space rounded down to a multiple of the MSS the
 * window is quantised on, at most 65535 (the SYN's window is never scaled). With the MSS of
 * a 1500-byte MTU that is 44 × 1460 = 64240 in a SYN and 45 × 1448 = 65160 in a SYN-ACK
 * with timestamps (the MSS less the option, tcp_openreq_init_rwin); on `lo`, 65495 and 65483.
 */
export function initialWindow(mss: number): number {
  let space = INITIAL_SPACE;
  if (space > mss) space -= space % mss;
  return Math.min(space, 0xffff);
}

/** The Linux TCP timestamp clock: ms (tcp_clock_ms), from the virtual clock. */
function tcpClockMs(nowNs: number): number {
  return Math.floor(nowNs / 1_000_000);
}

/** A per-connection timestamp offset (Linux: secure_tcp_ts_off, a keyed hash): here mixed from the ISS, drawing no random numbers. */
function tsOffsetFor(iss: number): number {
  let x = (iss ^ 0x9e3779b9) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

type Route = NonNullable<ReturnType<NetworkNamespace["routeOutput"]>>;

export class TcpConnection implements TimerTask {
  state: TcpState;
  sndNxt: number;
  sndUna: number;
  rcvNxt = 0;
  /** The peer's window scale, once the handshake agreed on scaling. */
  private sndWscale = 0;
  private wscaleOk = false;
  /** Both ends sent the timestamps option (RFC 7323 §3.2), so every segment carries it. */
  private tsOk = false;
  private sackOk = false;
  /** The MSS the peer announced (536 when it sent none, RFC 9293 §3.7.1). */
  private peerMss = 536;
  /** The window we offered in our SYN or SYN-ACK (unscaled). */
  private rcvWnd = 0;
  /** TS.Recent: the peer's latest TSval, echoed in TSecr. */
  private tsRecent = 0;
  private readonly tsOffset: number;
  private ipIdent: number;
  /** Our FIN has been sent (its sequence number is sndNxt - 1). */
  private finSent = false;
  /** Depth of application callbacks in progress: segments the application sends then wait APP_RESPONSE_NS. */
  private upcalls = 0;
  /** When this socket's last segment goes out; the next is at least TCP_SEGMENT_GAP_NS later. */
  private lastTxAt = -Infinity;
  /** Segments built but not yet sent (FIFO, one timer each), and their routes. */
  private readonly txQueue: PacketBuffer[] = [];
  private readonly txRoutes: Route[] = [];
  bytesReceived = 0;
  bytesSent = 0;
  /** SYNs retransmitted so far (Linux counts them in TCPSynRetrans). */
  synRetransmits = 0;
  /** The SYN retransmission timer (icsk_retransmit_timer while SYN_SENT); null when not armed. */
  private synTimer: TimerTask | null = null;
  private rto = TCP_TIMEOUT_INIT_NS;
  /** What the application wrote and the peer has not acknowledged yet, from `sndUna` on (sk_write_queue and the retransmit queue together). */
  private readonly sendBuf: Uint8Array[] = [];
  private sendBufLen = 0;
  /** The peer's receive window in bytes (its window field, scaled). */
  private sndWnd = 0;
  /** The congestion window and slow-start threshold, in bytes. */
  private cwnd = 0;
  private ssthresh = 0x7fffffff;
  /** The highest sequence number sent so far (snd_nxt before a go-back-N rewinds it). */
  private sndMax = 0;
  /** close() was called: a FIN follows the buffered data. */
  private finQueued = false;
  /** The data retransmission timer; null when nothing is outstanding. */
  private rtoTimer: TimerTask | null = null;
  private dataRto = TCP_TIMEOUT_INIT_NS;
  /** Consecutive retransmission timeouts of the current head segment (icsk_retransmits). */
  private rtoRetries = 0;
  /** Segments sent again (RTO or PMTU), as Linux counts them in RetransSegs. */
  retransmittedSegments = 0;

  constructor(
    readonly stack: TcpStack,
    readonly localIp: number,
    readonly localPort: number,
    readonly remoteIp: number,
    readonly remotePort: number,
    public app: TcpApp,
    state: TcpState,
    iss: number,
  ) {
    this.state = state;
    this.sndNxt = iss;
    this.sndUna = iss;
    this.tsOffset = tsOffsetFor(iss);
    this.ipIdent = stack.ns.sim.rng.nextU32() & 0xffff;
  }

  get key(): string {
    return connKey(this.localIp, this.localPort, this.remoteIp, this.remotePort);
  }

  toString(): string {
    return `${formatIpv4(this.localIp)}:${this.localPort} ⇄ ${formatIpv4(this.remoteIp)}:${this.remotePort} ${this.state}`;
  }

  /**
   * The most payload one segment carries: the smaller of our MSS and the peer's, less the
   * timestamps option when it is on (Linux's mss_cache).
   */
  get sendMss(): number {
    return Math.min(this.stack.mssFor(this.remoteIp), this.peerMss) - (this.tsOk ? TS_ALIGNED : 0);
  }

  /**
   * Sends data: queued on the send buffer and sent in segments of at most `sendMss` bytes
   * as far as the peer's window and the congestion window allow (the rest as ACKs open
   * them); PSH on the segment that empties the buffer.
   */
  send(data: Uint8Array): void {
    if (this.state !== "ESTABLISHED" && this.state !== "CLOSE_WAIT") throw new Error(`send() in state ${this.state}`);
    if (data.length === 0) return;
    this.sendBuf.push(data.slice());
    this.sendBufLen += data.length;
    this.push(true);
  }

  /** Bytes written and not yet acknowledged. */
  get unacknowledged(): number {
    return this.sendBufLen;
  }

  /** The sequence number after the highest byte (or SYN/FIN) sent so far. */
  get highestSent(): number {
    return this.state === "SYN_SENT" || this.state === "SYN_RECV" ? this.sndNxt : this.sndMax;
  }

  /** The bytes of the send buffer from `off` (relative to sndUna), `len` of them. */
  private bufSlice(off: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    let skip = off;
    let at = 0;
    for (const chunk of this.sendBuf) {
      if (skip >= chunk.length) {
        skip -= chunk.length;
        continue;
      }
      const n = Math.min(chunk.length - skip, len - at);
      out.set(chunk.subarray(skip, skip + n), at);
      at += n;
      skip = 0;
      if (at === len) break;
    }
    return out;
  }

  /**
   * tcp_write_xmit: segments from sndNxt while the peer's window and the congestion window
   * have room, then the queued FIN once every byte before it is out.
   */
  private push(fromApp: boolean): void {
    const mss = Math.max(1, this.sendMss);
    if (this.cwnd === 0) this.cwnd = TCP_INIT_CWND * mss;
    for (;;) {
      const off = (this.sndNxt - this.sndUna) >>> 0;
      const unsent = this.sendBufLen - off;
      if (unsent <= 0) break;
      const room = Math.min(this.sndWnd, this.cwnd) - off;
      if (room <= 0) break;
      const len = Math.min(mss, unsent, room);
      const part = this.bufSlice(off, len);
      const end = (this.sndNxt + len) >>> 0;
      this.emit((off + len === this.sendBufLen ? TCP_PSH : 0) | TCP_ACK, part, null, fromApp);
      if (after(end, this.sndMax)) {
        const fresh = (end - (before(this.sndNxt, this.sndMax) ? this.sndMax : this.sndNxt)) >>> 0;
        this.bytesSent += fresh;
        if (fresh < len) this.countRetransmit();
        this.sndMax = end;
      } else {
        this.countRetransmit();
      }
      this.sndNxt = end;
    }
    if (this.finQueued && !this.finSent && ((this.sndNxt - this.sndUna) >>> 0) === this.sendBufLen) {
      this.emit(TCP_FIN | TCP_ACK, null, null, fromApp);
      this.sndNxt = (this.sndNxt + 1) >>> 0;
      if (after(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
      this.finSent = true;
    }
    if (this.sndNxt !== this.sndUna && this.rtoTimer === null) this.armRto();
  }

  private countRetransmit(): void {
    this.retransmittedSegments++;
    this.stack.retransmittedSegments++;
  }

  /** The retransmission timer for outstanding data (tcp_retransmit_timer). */
  private armRto(): void {
    const timer: TimerTask = {
      fire: () => {
        if (this.rtoTimer !== timer) return;
        this.rtoTimer = null;
        if (this.sndUna === this.sndMax || this.state === "CLOSED") return;
        if (this.rtoRetries >= TCP_RETRIES2) {
          // tcp_write_timeout: the connection is given up (ETIMEDOUT).
          this.state = "CLOSED";
          this.stack.forget(this);
          this.app.onTimeout?.(this);
          return;
        }
        this.rtoRetries++;
        // tcp_enter_loss: everything outstanding is lost; slow start again from one segment.
        const mss = Math.max(1, this.sendMss);
        const flight = (this.sndMax - this.sndUna) >>> 0;
        this.ssthresh = Math.max(flight >>> 1, 2 * mss);
        this.cwnd = mss;
        this.rewind();
        this.dataRto = Math.min(this.dataRto * 2, TCP_RTO_MAX_NS);
        this.push(false);
        if (this.rtoTimer === null && this.sndNxt !== this.sndUna) this.armRto();
      },
    };
    this.rtoTimer = timer;
    this.stack.ns.sim.schedule(this.dataRto, timer);
  }

  /** Go back to the first unacknowledged byte (a FIN already sent is sent again after the data). */
  private rewind(): void {
    this.sndNxt = this.sndUna;
    if (this.finSent && this.sndUna !== this.sndMax) this.finSent = false;
  }

  /**
   * The ACK of a segment from the peer: acknowledged bytes leave the send buffer, the
   * windows open (slow start below ssthresh, then about one MSS per RTT), the timer restarts.
   */
  private onAck(ack: number, windowField: number): void {
    this.sndWnd = windowField * (this.wscaleOk ? 1 << this.sndWscale : 1);
    if (after(ack, this.sndMax)) return; // acknowledges what was never sent
    if (after(ack, this.sndUna)) {
      let acked = (ack - this.sndUna) >>> 0;
      const dataAcked = Math.min(acked, this.sendBufLen);
      let drop = dataAcked;
      while (drop > 0 && this.sendBuf.length > 0) {
        const head = this.sendBuf[0]!;
        if (head.length <= drop) {
          drop -= head.length;
          this.sendBuf.shift();
        } else {
          this.sendBuf[0] = head.subarray(drop);
          drop = 0;
        }
      }
      this.sendBufLen -= dataAcked;
      acked = dataAcked;
      const mss = Math.max(1, this.sendMss);
      if (this.cwnd < this.ssthresh) this.cwnd += acked;
      else this.cwnd += Math.max(1, Math.floor((mss * mss) / this.cwnd));
      this.sndUna = ack;
      if (before(this.sndNxt, ack)) this.sndNxt = ack;
      this.rtoRetries = 0;
      this.dataRto = TCP_RTO_MIN_NS;
      this.rtoTimer = null;
    }
    if (this.sndUna !== this.sndMax && this.rtoTimer === null) this.armRto();
  }

  /**
   * tcp_v4_mtu_reduced: an ICMP "fragmentation needed" said the path takes at most `mtu`
   * bytes. The path MTU is lowered (ip_rt_min_pmtu 552 at least) and, when the MSS shrank,
   * the outstanding data is sent again at once in smaller segments (tcp_simple_retransmit).
   */
  mtuReduced(mtu: number): void {
    if (this.state === "CLOSED" || this.state === "SYN_SENT" || this.state === "SYN_RECV") return;
    const before = this.sendMss;
    this.stack.ns.updatePmtu(this.remoteIp, Math.max(mtu, IP_RT_MIN_PMTU));
    if (this.sendMss >= before) return;
    this.rewind();
    this.push(false);
  }

  /** Closes our half: FIN. A connection still in SYN_SENT is just abandoned (tcp_close: no FIN, no RST). */
  close(): void {
    if (this.state === "SYN_SENT") {
      this.synTimer = null;
      this.state = "CLOSED";
      this.stack.forget(this);
      return;
    }
    if (this.state === "ESTABLISHED" || this.state === "CLOSE_WAIT") {
      // The FIN goes out after the buffered data (tcp_send_fin queues it behind it).
      this.finQueued = true;
      this.state = this.state === "ESTABLISHED" ? "FIN_WAIT_1" : "LAST_ACK";
      this.push(true);
    }
  }

  /** Sends our SYN (active open) with MSS, SACK-permitted, timestamps and window scale. */
  sendSyn(): void {
    const mss = this.stack.mssFor(this.remoteIp);
    // tcp_connect_init: the window is quantised on the advertised MSS (no timestamps yet).
    this.rcvWnd = initialWindow(mss);
    this.emit(TCP_SYN, null, synOptions(mss, true, true, true, this.tsVal(), 0), false);
    this.sndNxt = (this.sndNxt + 1) >>> 0;
    this.armSynTimer();
  }

  /** tcp_retransmit_timer for a SYN: resend it, back off (rto × 2), give up after tcp_syn_retries. */
  private armSynTimer(): void {
    const timer: TimerTask = {
      fire: () => {
        if (this.synTimer !== timer || this.state !== "SYN_SENT") return;
        if (this.synRetransmits >= TCP_SYN_RETRIES) {
          this.synTimer = null;
          this.state = "CLOSED";
          this.stack.forget(this);
          this.app.onTimeout?.(this);
          return;
        }
        this.synRetransmits++;
        this.stack.synRetransmits++;
        const mss = this.stack.mssFor(this.remoteIp);
        // The same sequence number; the options again, with a fresh TSval.
        const next = this.sndNxt;
        this.sndNxt = this.sndUna;
        this.emit(TCP_SYN, null, synOptions(mss, true, true, true, this.tsVal(), 0), false);
        this.sndNxt = next;
        this.rto = Math.min(this.rto * 2, TCP_RTO_MAX_NS);
        this.armSynTimer();
      },
    };
    this.synTimer = timer;
    this.stack.ns.sim.schedule(this.rto, timer);
  }

  /** Answers a SYN, offering back what the peer offered (tcp_synack_options). */
  sendSynAck(): void {
    const mss = this.stack.mssFor(this.remoteIp);
    // tcp_openreq_init_rwin: quantised on the MSS less the timestamps option when it is on.
    this.rcvWnd = initialWindow(mss - (this.tsOk ? TS_ALIGNED : 0));
    this.emit(TCP_SYN | TCP_ACK, null, synOptions(mss, this.sackOk, this.tsOk, this.wscaleOk, this.tsVal(), this.tsRecent), false);
    this.sndNxt = (this.sndNxt + 1) >>> 0;
  }

  /** Handles one segment for this connection; `l4` is the TCP header offset. */
  segment(pkt: PacketBuffer, l4: number): void {
    const b = pkt.buf;
    const flags = tcp.flags(b, l4);
    const seq = tcp.seq(b, l4);
    const ack = tcp.ack(b, l4);
    const dataOff = tcp.payloadOffset(b, l4);
    const dataLen = pkt.tail - dataOff;

    if (flags & TCP_RST) {
      this.state = "CLOSED";
      this.stack.forget(this);
      this.app.onReset?.(this);
      return;
    }
    if (this.state === "SYN_SENT") {
      if ((flags & (TCP_SYN | TCP_ACK)) !== (TCP_SYN | TCP_ACK) || ack !== this.sndNxt) {
        this.stack.countOutOfWindow();
        return;
      }
      this.readSynOptions(b, l4);
      this.rcvNxt = (seq + 1) >>> 0;
      this.sndUna = ack;
      this.sndMax = ack;
      this.dataRto = TCP_RTO_MIN_NS; // the handshake gave an RTT sample
      this.state = "ESTABLISHED";
      this.synTimer = null;
      this.emit(TCP_ACK, null, null, false);
      this.upcalls++;
      try {
        this.app.onConnected?.(this);
      } finally {
        this.upcalls--;
      }
      return;
    }
    if (this.state === "SYN_RECV") {
      if ((flags & (TCP_SYN | TCP_ACK)) === TCP_SYN && ((seq + 1) >>> 0) === this.rcvNxt) {
        // tcp_check_req: the peer retransmitted its SYN (our SYN-ACK was lost): answer it again.
        this.sndNxt = (this.sndNxt - 1) >>> 0;
        this.sendSynAck();
        return;
      }
      if (!(flags & TCP_ACK) || ack !== this.sndNxt) {
        this.stack.countOutOfWindow();
        return;
      }
      this.sndUna = ack;
      this.sndMax = ack;
      this.dataRto = TCP_RTO_MIN_NS;
      this.state = "ESTABLISHED";
      this.upcalls++;
      try {
        this.app.onConnected?.(this);
      } finally {
        this.upcalls--;
      }
      // Data may ride on the handshake's final ACK; fall through to process it.
    }
    if (seq !== this.rcvNxt) {
      // Out of order or a duplicate: acknowledge what we have (RFC 9293 §3.10.7.4) and drop.
      this.stack.countOutOfWindow();
      this.emit(TCP_ACK, null, null, false);
      return;
    }
    if (this.tsOk) {
      const tsval = readTsVal(b, l4);
      if (tsval !== null) this.tsRecent = tsval;
    }

    // The ACK first (RFC 9293 §3.10.7.4, fifth check), against what we had sent when the
    // segment arrived: FIN_WAIT_1 becomes FIN_WAIT_2 only once our FIN is acknowledged.
    if (flags & TCP_ACK) {
      this.onAck(ack, tcp.window(b, l4));
      const finAcked = this.finSent && ack === this.sndMax;
      if (finAcked) {
        if (this.state === "FIN_WAIT_1") this.state = "FIN_WAIT_2";
        else if (this.state === "CLOSING") this.state = "TIME_WAIT";
        else if (this.state === "LAST_ACK") {
          this.state = "CLOSED";
          this.stack.forget(this);
          this.app.onClosed?.(this);
          return;
        }
      }
    }

    // Then the text and the FIN (seventh and eighth checks). A FIN is acknowledged by
    // whatever the application sends in answer; when it sends nothing, by a bare ACK.
    let needAck = false;
    const fin = (flags & TCP_FIN) !== 0;
    let data: Uint8Array | null = null;
    if (dataLen > 0) {
      this.rcvNxt = (this.rcvNxt + dataLen) >>> 0;
      this.bytesReceived += dataLen;
      needAck = true;
      data = b.slice(dataOff, pkt.tail);
    }
    if (fin) {
      this.rcvNxt = (this.rcvNxt + 1) >>> 0;
      needAck = true;
    }
    const before = this.state;
    if (fin) {
      if (before === "ESTABLISHED") this.state = "CLOSE_WAIT";
      else if (before === "FIN_WAIT_1") this.state = "CLOSING";
      else if (before === "FIN_WAIT_2") this.state = "TIME_WAIT";
    }
    this.upcalls++;
    try {
      // Data before the end of the stream, so the app can answer on the same connection.
      if (data !== null) this.app.onData?.(this, data);
      if (fin && before === "ESTABLISHED" && this.state === "CLOSE_WAIT") this.app.onPeerClosed?.(this);
    } finally {
      this.upcalls--;
    }
    // The ACK may have opened the windows: send what waits in the buffer.
    if (flags & TCP_ACK && this.state !== "CLOSED") this.push(false);
    // If the application answered, its segment carried the ACK already.
    if (needAck && this.lastEmitAck !== this.rcvNxt) this.emit(TCP_ACK, null, null, false);
    if (this.state === "TIME_WAIT") {
      // TIME_WAIT lasts 60 s in Linux; the emulation forgets the socket at once.
      this.state = "CLOSED";
      this.stack.forget(this);
      this.app.onClosed?.(this);
    }
  }

  private lastEmitAck = -1;

  /** The TSval to send now: the ms clock plus this connection's offset. */
  private tsVal(): number {
    return (tcpClockMs(this.stack.ns.sim.now()) + this.tsOffset) >>> 0;
  }

  /** The window field: the SYN's unscaled, later ones scaled as tcp_select_window rounds them. */
  private windowField(flags: number): number {
    // The window field of a SYN is never scaled (RFC 7323 §2.2).
    if (flags & TCP_SYN) return this.rcvWnd;
    if (this.wscaleOk) return Math.ceil(this.rcvWnd / (1 << WSCALE));
    return this.rcvWnd;
  }

  private emit(flags: number, data: Uint8Array | null, options: Uint8Array | null, fromApp: boolean): void {
    const ns = this.stack.ns;
    const route = ns.routeOutput(this.remoteIp);
    if (route === null) {
      ns.stats.countDrop("no-route");
      return;
    }
    const pkt = ns.sim.pool.acquire();
    placePayload(pkt, data);
    const ackNum = flags & TCP_ACK ? this.rcvNxt : 0;
    if (options === null && this.tsOk) options = tsOption(this.tsVal(), this.tsRecent);
    prependTcp(pkt, { srcPort: this.localPort, dstPort: this.remotePort, seq: this.sndNxt, ack: ackNum, flags, window: this.windowField(flags), options }, this.localIp, this.remoteIp);
    let ident = 0;
    if ((flags & (TCP_SYN | TCP_ACK)) !== (TCP_SYN | TCP_ACK)) {
      // A connected socket numbers its DF packets with a per-socket counter (inet_id).
      this.ipIdent = (this.ipIdent + 1) & 0xffff;
      ident = this.ipIdent;
    }
    // A SYN-ACK goes out from the listener (ip_build_and_send_pkt): with DF, IP ID 0.
    prependIpv4(pkt, { src: this.localIp, dst: this.remoteIp, protocol: IPPROTO_TCP, ttl: 64, ident, dontFrag: true });
    // Linux leaves the TCP checksum to the device (every podwire device offers it): the
    // skb is CHECKSUM_PARTIAL (the bytes carry the final checksum all the same).
    pkt.csumPartial = true;
    if (flags & TCP_ACK) this.lastEmitAck = this.rcvNxt;
    // When it leaves: an application's answer after APP_RESPONSE_NS, and never two segments
    // of one socket at the same instant (TCP_SEGMENT_GAP_NS apart, in order).
    const now = ns.sim.now();
    let at = fromApp && this.upcalls > 0 ? now + APP_RESPONSE_NS : now;
    if (at < this.lastTxAt + TCP_SEGMENT_GAP_NS) at = this.lastTxAt + TCP_SEGMENT_GAP_NS;
    this.lastTxAt = at;
    if (at === now && this.txQueue.length === 0) {
      ns.ipOutput(pkt, route, true);
      return;
    }
    this.txQueue.push(pkt);
    this.txRoutes.push(route);
    ns.sim.schedule(at - now, this);
  }

  /** A queued segment is due (TimerTask): send the oldest. */
  fire(): void {
    const pkt = this.txQueue.shift();
    const route = this.txRoutes.shift();
    if (pkt !== undefined && route !== undefined) this.stack.ns.ipOutput(pkt, route, true);
  }

  /** Reads the peer's SYN options: MSS, window scale, SACK-permitted, timestamps (and its window, never scaled in a SYN). */
  readSynOptions(b: Uint8Array, l4: number): void {
    this.sndWnd = tcp.window(b, l4);
    const mss = tcpOptionValue(b, l4, TCP_OPT_MSS, 4);
    if (mss >= 0) this.peerMss = get16(b, mss);
    const wscale = tcpOptionValue(b, l4, TCP_OPT_WINDOW_SCALE, 3);
    if (wscale >= 0) {
      this.wscaleOk = true;
      this.sndWscale = b[wscale]!;
    }
    if (tcpOptionValue(b, l4, TCP_OPT_SACK_PERMITTED, 2) >= 0) this.sackOk = true;
    const ts = tcpOptionValue(b, l4, TCP_OPT_TIMESTAMPS, 10);
    if (ts >= 0) {
      this.tsOk = true;
      this.tsRecent = get32(b, ts);
    }
  }

  /** The peer's advertised window scale (0 when not negotiated). */
  get peerWindowScale(): number {
    return this.sndWscale;
  }

  /** Whether both ends agreed on the timestamps option. */
  get timestamps(): boolean {
    return this.tsOk;
  }
}

/**
 * SYN and SYN-ACK options in the order tcp_options_write puts them: MSS; SACK-permitted
 * folded with the timestamps option (or NOP, NOP, SACK-permitted without it); NOP and
 * window scale. With everything on: 20 bytes, as a Linux SYN has.
 */
function synOptions(mss: number, sack: boolean, ts: boolean, wscale: boolean, tsval: number, tsecr: number): Uint8Array {
  const o: number[] = [TCP_OPT_MSS, 4, mss >>> 8, mss & 255];
  if (ts) {
    o.push(...(sack ? [TCP_OPT_SACK_PERMITTED, 2] : [TCP_OPT_NOP, TCP_OPT_NOP]), TCP_OPT_TIMESTAMPS, 10);
    o.push(tsval >>> 24, (tsval >>> 16) & 255, (tsval >>> 8) & 255, tsval & 255);
    o.push(tsecr >>> 24, (tsecr >>> 16) & 255, (tsecr >>> 8) & 255, tsecr & 255);
  } else if (sack) {
    o.push(TCP_OPT_NOP, TCP_OPT_NOP, TCP_OPT_SACK_PERMITTED, 2);
  }
  if (wscale) o.push(TCP_OPT_NOP, TCP_OPT_WINDOW_SCALE, 3, WSCALE);
  return Uint8Array.from(o);
}

/** NOP, NOP, timestamps: the 12 option bytes of every segment once timestamps are on. */
function tsOption(tsval: number, tsecr: number): Uint8Array {
  const o = new Uint8Array(TS_ALIGNED);
  o.set(TS_OPTION_PREFIX);
  set32(o, 4, tsval);
  set32(o, 8, tsecr);
  return o;
}
const TS_OPTION_PREFIX = Uint8Array.of(TCP_OPT_NOP, TCP_OPT_NOP, TCP_OPT_TIMESTAMPS, 10);

/** The TSval of a segment's timestamps option, or null without one. */
function readTsVal(b: Uint8Array, l4: number): number | null {
  const ts = tcpOptionValue(b, l4, TCP_OPT_TIMESTAMPS, 10);
  return ts < 0 ? null : get32(b, ts);
}

function connKey(localIp: number, localPort: number, remoteIp: number, remotePort: number): string {
  return `${localIp}:${localPort}:${remoteIp}:${remotePort}`;
}

/** The TCP part of a namespace: listeners, connections, RSTs for strays. */
export class TcpStack {
  private readonly listeners = new Map<number, (conn: TcpConnection) => TcpApp>();
  private readonly conns = new Map<string, TcpConnection>();
  /** SYN retransmissions of this namespace's connections (netstat's TCPSynRetrans). */
  synRetransmits = 0;

  constructor(readonly ns: NetworkNamespace) {}

  /** Whether a listener holds `port`. */
  isListening(port: number): boolean {
    return this.listeners.has(port);
  }

  listen(port: number, accept: (conn: TcpConnection) => TcpApp): void {
    if (this.listeners.has(port)) throw new Error(`${this.ns.name}: TCP port ${port} is in use`);
    this.listeners.set(port, accept);
  }

  /** Active open: sends a SYN and returns the connection (SYN_SENT). */
  connect(dstIp: number, dstPort: number, app: TcpApp, srcPort = 0): TcpConnection {
    const route = this.ns.routeOutput(dstIp);
    if (route === null) throw new Error(`${this.ns.name}: no route to ${formatIpv4(dstIp)}`);
    const src = this.ns.selectSource(route);
    const port = srcPort !== 0 ? srcPort : this.ns.ephemeralPort((p) => this.conns.has(connKey(src, p, dstIp, dstPort)) || this.listeners.has(p));
    const conn = new TcpConnection(this, src, port, dstIp, dstPort, app, "SYN_SENT", this.ns.sim.rng.nextU32());
    this.conns.set(conn.key, conn);
    conn.sendSyn();
    return conn;
  }

  connections(): TcpConnection[] {
    return [...this.conns.values()];
  }

  forget(conn: TcpConnection): void {
    this.conns.delete(conn.key);
  }

  /** MSS for a destination: the path MTU (the route's device, or less as ICMP taught) minus 40 bytes of IPv4 and TCP headers. */
  mssFor(dst: number): number {
    const route = this.ns.routeOutput(dst);
    const mtu = route === null ? 1500 : this.ns.pathMtu(dst, Math.min(route.dev.mtu, 65535));
    return Math.min(mtu - 40, 65495);
  }

  /** Segments sent again by this namespace's connections (RetransSegs). */
  retransmittedSegments = 0;
  /** ICMP errors about segments outside a connection's window (LINUX_MIB_OUTOFWINDOWICMPS). */
  outOfWindowIcmps = 0;

  /**
   * tcp_v4_err for an ICMP error quoting one of our segments (`q` the quoted IPv4 header):
   * ignored unless its sequence number is between snd_una and snd_nxt; "fragmentation
   * needed" lowers the path MTU (tcp_v4_mtu_reduced). Other errors are left to the
   * namespace's listeners, as before.
   */
  icmpError(b: Uint8Array, q: number, quotedLen: number, type: number, code: number, mtu: number): void {
    const ihl = ipv4.headerLen(b, q);
    if (quotedLen < ihl + ICMP_QUOTED_L4_MIN) return;
    const th = q + ihl;
    const conn = this.conns.get(connKey(ipv4.src(b, q), tcp.srcPort(b, th), ipv4.dst(b, q), tcp.dstPort(b, th)));
    if (conn === undefined) return;
    const seq = tcp.seq(b, th);
    // between(seq, snd_una, snd_nxt): Linux's snd_nxt is the highest sent (a go-back-N here rewinds sndNxt).
    if (before(seq, conn.sndUna) || !before(seq, conn.highestSent)) {
      this.outOfWindowIcmps++;
      return;
    }
    if (type === ICMP_DST_UNREACHABLE && code === ICMP_FRAG_NEEDED) conn.mtuReduced(mtu);
  }

  countOutOfWindow(): void {
    this.ns.stats.countDrop("tcp-out-of-window");
  }

  /** A TCP segment for a local address; `pkt.head` at IPv4. Consumes `pkt`. */
  receive(pkt: PacketBuffer): void {
    const b = pkt.buf;
    const h = pkt.head;
    const l4 = ipv4.payloadOffset(b, h);
    const len = pkt.tail - l4;
    if (len < TCP_MIN_HEADER_LEN || tcp.headerLen(b, l4) < TCP_MIN_HEADER_LEN || tcp.headerLen(b, l4) > len) return this.ns.dropPkt(pkt, "tcp-malformed");
    const src = ipv4.src(b, h);
    const dst = ipv4.dst(b, h);
    if (!tcp.verifyChecksum(b, l4, len, src, dst)) return this.ns.dropPkt(pkt, "tcp-checksum");
    const srcPort = tcp.srcPort(b, l4);
    const dstPort = tcp.dstPort(b, l4);
    const flags = tcp.flags(b, l4);
    const conn = this.conns.get(connKey(dst, dstPort, src, srcPort));
    if (conn !== undefined) {
      if (this.ns.sim.tracer) this.ns.sim.trace(this.ns.name, "", "deliver", `to TCP socket ${conn.toString()}`, pkt, true);
      conn.segment(pkt, l4);
      this.ns.sim.pool.release(pkt);
      return;
    }
    const accept = this.listeners.get(dstPort);
    if (accept !== undefined && (flags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_SYN) {
      const conn = new TcpConnection(this, dst, dstPort, src, srcPort, {}, "SYN_RECV", this.ns.sim.rng.nextU32());
      conn.app = accept(conn);
      conn.rcvNxt = (tcp.seq(b, l4) + 1) >>> 0;
      conn.readSynOptions(b, l4);
      this.conns.set(conn.key, conn);
      if (this.ns.sim.tracer) this.ns.sim.trace(this.ns.name, "", "deliver", `SYN to listener :${dstPort}`, pkt, true);
      conn.sendSynAck();
      this.ns.sim.pool.release(pkt);
      return;
    }
    if (!(flags & TCP_RST)) this.sendReset(pkt, l4, len);
    this.ns.dropPkt(pkt, "tcp-no-socket");
  }

  /** A RST answering `pkt` (head at IPv4), as REJECT --reject-with tcp-reset sends it. */
  sendResetFor(pkt: PacketBuffer): void {
    const l4 = ipv4.payloadOffset(pkt.buf, pkt.head);
    const len = pkt.tail - l4;
    if (len < TCP_MIN_HEADER_LEN || tcp.flags(pkt.buf, l4) & TCP_RST) return;
    this.sendReset(pkt, l4, len);
  }

  /** tcp_v4_send_reset: RST for a segment that matches no socket (RFC 9293 §3.10.7.1). */
  private sendReset(pkt: PacketBuffer, l4: number, len: number): void {
    const b = pkt.buf;
    const h = pkt.head;
    const src = ipv4.src(b, h);
    const dst = ipv4.dst(b, h);
    const flags = tcp.flags(b, l4);
    const seq = tcp.seq(b, l4);
    const dataLen = len - tcp.headerLen(b, l4);
    const route = this.ns.routeOutput(src);
    if (route === null) return;
    const rst = this.ns.sim.pool.acquire();
    placePayload(rst, null);
    let rseq = 0;
    let rack = 0;
    let rflags = TCP_RST;
    if (flags & TCP_ACK) {
      rseq = tcp.ack(b, l4);
    } else {
      rack = (seq + dataLen + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0)) >>> 0;
      rflags |= TCP_ACK;
    }
    prependTcp(rst, { srcPort: tcp.dstPort(b, l4), dstPort: tcp.srcPort(b, l4), seq: rseq, ack: rack, flags: rflags, window: 0, options: null }, dst, src);
    prependIpv4(rst, { src: dst, dst: src, protocol: IPPROTO_TCP, ttl: 64, ident: 0, dontFrag: true });
    if (this.ns.sim.tracer) this.ns.sim.trace(this.ns.name, route.dev.name, "reply", "TCP RST: no socket", rst, true);
    this.ns.ipOutput(rst, route, true);
  }
}
