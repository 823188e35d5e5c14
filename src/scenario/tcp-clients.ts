/**
 * TCP clients scenarios drive on the virtual clock without stepping it themselves: an HTTP
 * GET that records when it connected and answered (or that it never did), and an idle
 * connection that stays open, as a connection pool, a websocket or a database client keeps
 * one. Both go through the namespace's TcpStack, so every segment is real.
 */
import type { NetworkNamespace, TcpConnection } from "../netns/index.js";

const encoder = new TextEncoder();

/** One HTTP/1.1 request over a new connection, with `Connection: close`. */
export class HttpGet {
  readonly startedAt: number;
  connectedAt: number | null = null;
  answeredAt: number | null = null;
  status: number | null = null;
  reset = false;
  readonly conn: TcpConnection;
  private response = "";

  constructor(ns: NetworkNamespace, dst: number, dstPort: number, host = "service") {
    this.startedAt = ns.sim.now();
    this.conn = ns.tcp.connect(dst, dstPort, {
      onConnected: (c) => {
        this.connectedAt = ns.sim.now();
        c.send(encoder.encode(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
      },
      onData: (_c, data) => {
        this.response += new TextDecoder().decode(data);
        const m = /^HTTP\/1\.1 (\d{3})/.exec(this.response);
        if (m && this.answeredAt === null) {
          this.answeredAt = ns.sim.now();
          this.status = Number(m[1]);
        }
      },
      onPeerClosed: (c) => c.close(),
      onReset: () => {
        this.reset = true;
      },
    });
  }

  get ok(): boolean {
    return this.status !== null && this.status < 500;
  }

  /** The client's source port. */
  get port(): number {
    return this.conn.localPort;
  }
}

/** A connection opened and then left idle (it never sends, the server never closes it). */
export class IdleConnection {
  readonly startedAt: number;
  connectedAt: number | null = null;
  readonly conn: TcpConnection;

  constructor(ns: NetworkNamespace, dst: number, dstPort: number) {
    this.startedAt = ns.sim.now();
    this.conn = ns.tcp.connect(dst, dstPort, {
      onConnected: () => {
        this.connectedAt = ns.sim.now();
      },
    });
  }

  get established(): boolean {
    return this.conn.state === "ESTABLISHED";
  }
}
