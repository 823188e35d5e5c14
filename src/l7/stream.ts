/**
 * A reliable, ordered byte stream as an application sees it: a podwire TCP connection, or
 * TLS running over one. The HTTP proxy and clients are written against this interface so the
 * same code serves `http://` and `https://`.
 */
import type { Simulator } from "../netdev/simulator.js";
import type { TcpApp, TcpConnection } from "../netns/tcp.js";

/** What a stream's owner is told. Every callback is optional. */
export interface StreamHandler {
  onOpen?(stream: ByteStream): void;
  onData?(stream: ByteStream, data: Uint8Array): void;
  /** The peer finished sending (TCP FIN, or TLS close_notify). */
  onEnd?(stream: ByteStream): void;
  /** Both halves are closed; no more callbacks. */
  onClose?(stream: ByteStream): void;
  /** Reset, timeout or a TLS alert: the stream is dead. */
  onError?(stream: ByteStream, reason: string): void;
}

export interface ByteStream {
  readonly localIp: number;
  readonly localPort: number;
  readonly remoteIp: number;
  readonly remotePort: number;
  /**
   * The simulator whose virtual clock the stream runs on (absent for streams joined in
   * memory): TLS over the stream schedules its output on it and tells the pump (tls-pump.ts).
   */
  readonly sim?: Simulator;
  /** Replaces the handler; data that arrived before a handler was set is delivered to it. */
  setHandler(handler: StreamHandler): void;
  send(data: Uint8Array): void;
  /** Closes our sending half (FIN once the buffered data is out). */
  end(): void;
}

/** Wraps a TCP connection; install the returned `app` on the connection (listen's accept, or connect). */
export function tcpStream(conn: TcpConnection): { stream: ByteStream; app: TcpApp } {
  let handler: StreamHandler = {};
  const pending: Uint8Array[] = [];
  let opened = false;
  let ended = false;
  const stream: ByteStream = {
    get localIp() {
      return conn.localIp;
    },
    get localPort() {
      return conn.localPort;
    },
    get remoteIp() {
      return conn.remoteIp;
    },
    get remotePort() {
      return conn.remotePort;
    },
    sim: conn.stack.ns.sim,
    setHandler(h: StreamHandler) {
      handler = h;
      if (opened) h.onOpen?.(stream);
      // Bytes that came before anyone listened are handed over once, in order.
      for (const chunk of pending.splice(0)) h.onData?.(stream, chunk);
      if (ended) h.onEnd?.(stream);
    },
    send(data: Uint8Array) {
      conn.send(data);
    },
    end() {
      conn.close();
    },
  };
  const deliver = (data: Uint8Array) => {
    if (handler.onData) handler.onData(stream, data);
    else pending.push(data);
  };
  const app: TcpApp = {
    onConnected() {
      opened = true;
      handler.onOpen?.(stream);
    },
    onData(_c, data) {
      deliver(data);
    },
    onPeerClosed() {
      ended = true;
      handler.onEnd?.(stream);
    },
    onClosed() {
      handler.onClose?.(stream);
    },
    onReset() {
      handler.onError?.(stream, "connection reset");
    },
    onTimeout() {
      handler.onError?.(stream, "connection timed out");
    },
  };
  return { stream, app };
}
