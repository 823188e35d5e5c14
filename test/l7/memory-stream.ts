/** Two ByteStreams joined in memory: what one side sends, the other receives (queued, delivered by `flush`). */
import type { ByteStream, StreamHandler } from "../../src/l7/stream.js";

export class MemoryNet {
  private readonly queue: (() => void)[] = [];

  /** Delivers everything queued, including what handlers queue meanwhile. */
  flush(): void {
    for (let i = 0; i < 100_000 && this.queue.length > 0; i++) this.queue.shift()!();
  }

  post(fn: () => void): void {
    this.queue.push(fn);
  }

  pair(a: { ip: number; port: number }, b: { ip: number; port: number }): [MemoryStream, MemoryStream] {
    const x = new MemoryStream(this, a, b);
    const y = new MemoryStream(this, b, a);
    x.peer = y;
    y.peer = x;
    this.post(() => {
      x.open();
      y.open();
    });
    return [x, y];
  }
}

export class MemoryStream implements ByteStream {
  peer!: MemoryStream;
  private handler: StreamHandler = {};
  private readonly pending: Uint8Array[] = [];
  private opened = false;
  private ended = false;
  /** Our sending half is closed. */
  sentEnd = false;
  /** Everything we sent, for assertions. */
  readonly sent: Uint8Array[] = [];

  constructor(
    private readonly net: MemoryNet,
    private readonly local: { ip: number; port: number },
    private readonly remote: { ip: number; port: number },
  ) {}

  get localIp() {
    return this.local.ip;
  }
  get localPort() {
    return this.local.port;
  }
  get remoteIp() {
    return this.remote.ip;
  }
  get remotePort() {
    return this.remote.port;
  }

  setHandler(h: StreamHandler): void {
    this.handler = h;
    if (this.opened) h.onOpen?.(this);
    for (const c of this.pending.splice(0)) h.onData?.(this, c);
    if (this.ended) h.onEnd?.(this);
  }

  open(): void {
    this.opened = true;
    this.handler.onOpen?.(this);
  }

  send(data: Uint8Array): void {
    if (this.sentEnd) throw new Error("send after end");
    const copy = data.slice();
    this.sent.push(copy);
    this.net.post(() => this.peer.receive(copy));
  }

  end(): void {
    if (this.sentEnd) return;
    this.sentEnd = true;
    this.net.post(() => this.peer.peerEnd());
  }

  /** The peer reset the connection. */
  fail(reason: string): void {
    this.net.post(() => this.peer.handler.onError?.(this.peer, reason));
  }

  private receive(data: Uint8Array): void {
    if (this.handler.onData) this.handler.onData(this, data);
    else this.pending.push(data);
  }

  private peerEnd(): void {
    this.ended = true;
    this.handler.onEnd?.(this);
  }

  text(): string {
    return this.sent.map((c) => new TextDecoder().decode(c)).join("");
  }
}
