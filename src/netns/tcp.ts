/**
 * A minimal TCP endpoint (RFC 9293): enough for a "connection" to be real packets both
 * ways: three-way handshake, in-order data with ACKs, FIN in both directions, RST for
 * segments nobody wants. No retransmission, no congestion control, no reordering: the
 * emulated links do not lose or reorder, and anything unexpected is counted and dropped.
 */
import { formatIpv4 } from "../base/index.js";
import type { PacketBuffer } from "../netdev/index.js";
import { foldSum, prependIpv4, pseudoHeaderSum, sumBytes } from "../wire/index.js";
import { placePayload, prependTcp, readU16, readU32 } from "./l4-build.js";
import type { NetworkNamespace } from "./netns.js";

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

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
}

/** Linux's initial receive window for a 1460-byte MSS (10 segments rounded to 64240). */
const INITIAL_WINDOW = 64240;
/** Window scale shift Linux advertises with default buffer sizes. */
const WSCALE = 7;

export class TcpConnection {
  state: TcpState;
  sndNxt: number;
  sndUna: number;
  rcvNxt = 0;
  /** The peer's window scale, once the handshake agreed on scaling. */
  private sndWscale = 0;
  private wscaleOk = false;
  private ipIdent: number;
  bytesReceived = 0;
  bytesSent = 0;

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
    this.ipIdent = stack.ns.sim.rng.nextU32() & 0xffff;
  }

  get key(): string {
    return connKey(this.localIp, this.localPort, this.remoteIp, this.remotePort);
  }

  toString(): string {
    return `${formatIpv4(this.localIp)}:${this.localPort} ⇄ ${formatIpv4(this.remoteIp)}:${this.remotePort} ${this.state}`;
  }

  /** Sends data (one segment per call; callers keep it under the MSS). */
  send(data: Uint8Array): void {
    if (this.state !== "ESTABLISHED" && this.state !== "CLOSE_WAIT") throw new Error(`send() in state ${this.state}`);
    this.emit(TCP_PSH | TCP_ACK, data, null);
    this.sndNxt = (this.sndNxt + data.length) >>> 0;
    this.bytesSent += data.length;
  }

  /** Closes our half: FIN. */
  close(): void {
    if (this.state === "ESTABLISHED") {
      this.emit(TCP_FIN | TCP_ACK, null, null);
      this.sndNxt = (this.sndNxt + 1) >>> 0;
      this.state = "FIN_WAIT_1";
    } else if (this.state === "CLOSE_WAIT") {
      this.emit(TCP_FIN | TCP_ACK, null, null);
      this.sndNxt = (this.sndNxt + 1) >>> 0;
      this.state = "LAST_ACK";
    }
  }

  /** Sends our SYN (active open). */
  sendSyn(): void {
    this.emit(TCP_SYN, null, synOptions(this.stack.mssFor(this.remoteIp)));
    this.sndNxt = (this.sndNxt + 1) >>> 0;
  }

  sendSynAck(): void {
    this.emit(TCP_SYN | TCP_ACK, null, synOptions(this.stack.mssFor(this.remoteIp), this.wscaleOk));
    this.sndNxt = (this.sndNxt + 1) >>> 0;
  }

  /** Handles one segment for this connection; `l4` is the TCP header offset. */
  segment(pkt: PacketBuffer, l4: number): void {
    const b = pkt.buf;
    const flags = b[l4 + 13]!;
    const seq = readU32(b, l4 + 4);
    const ack = readU32(b, l4 + 8);
    const dataOff = l4 + (b[l4 + 12]! >>> 4) * 4;
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
      this.state = "ESTABLISHED";
      this.emit(TCP_ACK, null, null);
      this.app.onConnected?.(this);
      return;
    }
    if (this.state === "SYN_RECV") {
      if (!(flags & TCP_ACK) || ack !== this.sndNxt) {
        this.stack.countOutOfWindow();
        return;
      }
      this.sndUna = ack;
      this.state = "ESTABLISHED";
      this.app.onConnected?.(this);
      // Data may ride on the handshake's final ACK; fall through to process it.
    }
    if (seq !== this.rcvNxt) {
      // Out of order or a duplicate: acknowledge what we have (RFC 9293 §3.10.7.4) and drop.
      this.stack.countOutOfWindow();
      this.emit(TCP_ACK, null, null);
      return;
    }
    if (flags & TCP_ACK) this.sndUna = ack;
    let needAck = false;
    if (dataLen > 0) {
      this.rcvNxt = (this.rcvNxt + dataLen) >>> 0;
      this.bytesReceived += dataLen;
      needAck = true;
    }
    const finAcked = (flags & TCP_ACK) !== 0 && ack === this.sndNxt;
    if (flags & TCP_FIN) {
      this.rcvNxt = (this.rcvNxt + 1) >>> 0;
      needAck = true;
    }
    // Deliver data before state changes so the app can answer on the same connection.
    if (dataLen > 0) {
      const data = b.slice(dataOff, pkt.tail);
      this.app.onData?.(this, data);
      // If the app replied, its segment carried the ACK already.
      if (this.lastEmitAck === this.rcvNxt && !(flags & TCP_FIN)) needAck = false;
    }
    switch (this.state) {
      case "ESTABLISHED":
        if (flags & TCP_FIN) {
          this.state = "CLOSE_WAIT";
          needAck = false;
          this.app.onPeerClosed?.(this);
          // An application that closes at once sends FIN+ACK, which acknowledges the peer's FIN.
          if (this.state === "CLOSE_WAIT") this.emit(TCP_ACK, null, null);
        }
        break;
      case "FIN_WAIT_1":
        if (flags & TCP_FIN) {
          this.state = finAcked ? "TIME_WAIT" : "CLOSING";
        } else if (finAcked) {
          this.state = "FIN_WAIT_2";
        }
        break;
      case "FIN_WAIT_2":
        if (flags & TCP_FIN) this.state = "TIME_WAIT";
        break;
      case "CLOSING":
        if (finAcked) this.state = "TIME_WAIT";
        break;
      case "LAST_ACK":
        if (finAcked) {
          this.state = "CLOSED";
          this.stack.forget(this);
          this.app.onClosed?.(this);
        }
        break;
      default:
        break;
    }
    if (needAck) this.emit(TCP_ACK, null, null);
    if (this.state === "TIME_WAIT") {
      // TIME_WAIT lasts 60 s in Linux; the emulation forgets the socket at once.
      this.state = "CLOSED";
      this.stack.forget(this);
      this.app.onClosed?.(this);
    }
  }

  private lastEmitAck = -1;

  private emit(flags: number, data: Uint8Array | null, options: Uint8Array | null): void {
    const ns = this.stack.ns;
    const route = ns.routeOutput(this.remoteIp);
    if (route === null) {
      ns.stats.countDrop("no-route");
      return;
    }
    const pkt = ns.sim.pool.acquire();
    placePayload(pkt, data);
    const ackNum = flags & TCP_ACK ? this.rcvNxt : 0;
    let window = INITIAL_WINDOW;
    // The window field of a SYN is never scaled (RFC 7323 §2.2).
    if (!(flags & TCP_SYN) && this.wscaleOk) window = INITIAL_WINDOW >>> WSCALE;
    prependTcp(pkt, { srcPort: this.localPort, dstPort: this.remotePort, seq: this.sndNxt, ack: ackNum, flags, window, options }, this.localIp, this.remoteIp);
    // A connected socket numbers its DF packets with a per-socket counter (inet_id).
    this.ipIdent = (this.ipIdent + 1) & 0xffff;
    prependIpv4(pkt, { src: this.localIp, dst: this.remoteIp, protocol: 6, ttl: 64, ident: this.ipIdent, dontFrag: true });
    if (flags & TCP_ACK) this.lastEmitAck = this.rcvNxt;
    ns.ipOutput(pkt, route, true);
  }

  /** Reads the peer's SYN options that change what we send (window scaling). */
  readSynOptions(b: Uint8Array, l4: number): void {
    const end = l4 + (b[l4 + 12]! >>> 4) * 4;
    let i = l4 + 20;
    while (i < end) {
      const kind = b[i]!;
      if (kind === 0) break;
      if (kind === 1) {
        i++;
        continue;
      }
      const len = b[i + 1]!;
      if (len < 2 || i + len > end) break;
      if (kind === 3 && len === 3) {
        this.wscaleOk = true;
        this.sndWscale = b[i + 2]!;
      }
      i += len;
    }
  }

  /** The peer's advertised window scale (0 when not negotiated). */
  get peerWindowScale(): number {
    return this.sndWscale;
  }
}

/** SYN options in Linux's order without timestamps: MSS, NOP, WS, NOP, NOP, SACK-permitted. */
function synOptions(mss: number, withWscale = true): Uint8Array {
  const o = new Uint8Array(12);
  o[0] = 2;
  o[1] = 4;
  o[2] = mss >>> 8;
  o[3] = mss & 255;
  o[4] = 1;
  if (withWscale) {
    o[5] = 3;
    o[6] = 3;
    o[7] = WSCALE;
  } else {
    o[5] = 1;
    o[6] = 1;
    o[7] = 1;
  }
  o[8] = 1;
  o[9] = 1;
  o[10] = 4;
  o[11] = 2;
  return o;
}

function connKey(localIp: number, localPort: number, remoteIp: number, remotePort: number): string {
  return `${localIp}:${localPort}:${remoteIp}:${remotePort}`;
}

/** The TCP part of a namespace: listeners, connections, RSTs for strays. */
export class TcpStack {
  private readonly listeners = new Map<number, (conn: TcpConnection) => TcpApp>();
  private readonly conns = new Map<string, TcpConnection>();

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

  /** MSS for a destination: the route MTU minus 40 bytes of IPv4 and TCP headers. */
  mssFor(dst: number): number {
    const route = this.ns.routeOutput(dst);
    const mtu = route === null ? 1500 : Math.min(route.dev.mtu, 65535);
    return Math.min(mtu - 40, 65495);
  }

  countOutOfWindow(): void {
    this.ns.stats.countDrop("tcp-out-of-window");
  }

  /** A TCP segment for a local address; `pkt.head` at IPv4. Consumes `pkt`. */
  receive(pkt: PacketBuffer): void {
    const b = pkt.buf;
    const h = pkt.head;
    const l4 = h + (b[h]! & 0x0f) * 4;
    const len = pkt.tail - l4;
    if (len < 20 || (b[l4 + 12]! >>> 4) * 4 < 20 || (b[l4 + 12]! >>> 4) * 4 > len) return this.ns.dropPkt(pkt, "tcp-malformed");
    const src = readIp(b, h + 12);
    const dst = readIp(b, h + 16);
    if (foldSum(sumBytes(b, l4, len, pseudoHeaderSum(src, dst, 6, len))) !== 0xffff) return this.ns.dropPkt(pkt, "tcp-checksum");
    const srcPort = readU16(b, l4);
    const dstPort = readU16(b, l4 + 2);
    const flags = b[l4 + 13]!;
    const conn = this.conns.get(connKey(dst, dstPort, src, srcPort));
    if (conn !== undefined) {
      if (this.ns.sim.tracer) this.ns.sim.trace(this.ns.name, "", "deliver", `to TCP socket ${conn.toString()}`, undefined);
      conn.segment(pkt, l4);
      this.ns.sim.pool.release(pkt);
      return;
    }
    const accept = this.listeners.get(dstPort);
    if (accept !== undefined && (flags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_SYN) {
      const conn = new TcpConnection(this, dst, dstPort, src, srcPort, {}, "SYN_RECV", this.ns.sim.rng.nextU32());
      conn.app = accept(conn);
      conn.rcvNxt = (readU32(b, l4 + 4) + 1) >>> 0;
      conn.readSynOptions(b, l4);
      this.conns.set(conn.key, conn);
      if (this.ns.sim.tracer) this.ns.sim.trace(this.ns.name, "", "deliver", `SYN to listener :${dstPort}`, undefined);
      conn.sendSynAck();
      this.ns.sim.pool.release(pkt);
      return;
    }
    if (!(flags & TCP_RST)) this.sendReset(pkt, l4, len);
    this.ns.dropPkt(pkt, "tcp-no-socket");
  }

  /** A RST answering `pkt` (head at IPv4), as REJECT --reject-with tcp-reset sends it. */
  sendResetFor(pkt: PacketBuffer): void {
    const l4 = pkt.head + (pkt.buf[pkt.head]! & 0x0f) * 4;
    const len = pkt.tail - l4;
    if (len < 20 || pkt.buf[l4 + 13]! & TCP_RST) return;
    this.sendReset(pkt, l4, len);
  }

  /** tcp_v4_send_reset: RST for a segment that matches no socket (RFC 9293 §3.10.7.1). */
  private sendReset(pkt: PacketBuffer, l4: number, len: number): void {
    const b = pkt.buf;
    const h = pkt.head;
    const src = readIp(b, h + 12);
    const dst = readIp(b, h + 16);
    const flags = b[l4 + 13]!;
    const seq = readU32(b, l4 + 4);
    const dataLen = len - (b[l4 + 12]! >>> 4) * 4;
    const route = this.ns.routeOutput(src);
    if (route === null) return;
    const rst = this.ns.sim.pool.acquire();
    placePayload(rst, null);
    let rseq = 0;
    let rack = 0;
    let rflags = TCP_RST;
    if (flags & TCP_ACK) {
      rseq = readU32(b, l4 + 8);
    } else {
      rack = (seq + dataLen + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0)) >>> 0;
      rflags |= TCP_ACK;
    }
    prependTcp(rst, { srcPort: readU16(b, l4 + 2), dstPort: readU16(b, l4), seq: rseq, ack: rack, flags: rflags, window: 0, options: null }, dst, src);
    prependIpv4(rst, { src: dst, dst: src, protocol: 6, ttl: 64, ident: 0, dontFrag: true });
    if (this.ns.sim.tracer) this.ns.sim.trace(this.ns.name, route.dev.name, "reply", "TCP RST: no socket", rst, true);
    this.ns.ipOutput(rst, route, true);
  }
}

function readIp(b: Uint8Array, off: number): number {
  return readU32(b, off);
}
