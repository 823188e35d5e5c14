/**
 * A long transfer, as a file server and its client make one: the server answers each
 * request with `size` bytes and closes; the client downloads them, noting when the
 * transfer completed, or that a reset cut it short (and after how many bytes). Both sit on
 * the namespaces' TcpStacks, so every segment, window and retransmission is real.
 */
import type { NetworkNamespace, TcpConnection } from "../netns/index.js";

const encoder = new TextEncoder();

/** The body's byte at `i` (a pattern the client checks). */
function patternAt(i: number): number {
  return (i * 31 + 7) & 255;
}

/** Serves `size` bytes to every connection on `port` of `ns`, after its request arrives, then closes. */
export function serveBulk(ns: NetworkNamespace, port: number, size: number): { resets: number } {
  const body = new Uint8Array(size);
  for (let i = 0; i < size; i++) body[i] = patternAt(i);
  const stats = { resets: 0 };
  ns.tcp.listen(port, () => {
    let answered = false;
    return {
      onData: (c) => {
        if (answered) return;
        answered = true;
        c.send(body);
        c.close();
      },
      onPeerClosed: (c) => c.close(),
      onReset: () => {
        stats.resets++;
      },
    };
  });
  return stats;
}

export class Download {
  readonly startedAt: number;
  received = 0;
  /** The bytes came back in order and as sent. */
  intact = true;
  completedAt: number | null = null;
  resetAt: number | null = null;
  readonly conn: TcpConnection;

  constructor(
    ns: NetworkNamespace,
    dst: number,
    dstPort: number,
    readonly size: number,
  ) {
    this.startedAt = ns.sim.now();
    this.conn = ns.tcp.connect(dst, dstPort, {
      onConnected: (c) => c.send(encoder.encode("GET /file HTTP/1.1\r\nHost: files\r\n\r\n")),
      onData: (_c, data) => {
        for (let i = 0; i < data.length; i++) if (data[i] !== patternAt(this.received + i)) this.intact = false;
        this.received += data.length;
      },
      onPeerClosed: (c) => {
        if (this.received === this.size) this.completedAt = ns.sim.now();
        c.close();
      },
      onReset: () => {
        this.resetAt = ns.sim.now();
      },
    });
  }

  get done(): boolean {
    return this.completedAt !== null || this.resetAt !== null;
  }
}
