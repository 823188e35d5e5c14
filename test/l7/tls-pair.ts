/**
 * A test helper: two ByteStreams joined in memory, as a network would join them.
 */
import type { ByteStream, StreamHandler } from "../../src/l7/stream.js";

interface MemoryStream extends ByteStream {
  peer: MemoryStream | null;
  receive(d: Uint8Array): void;
  receiveEnd(): void;
}

/**
 * Two connected ByteStreams, open at once: bytes sent on one arrive on the other in pieces of
 * at most `segment` bytes, each piece on a later turn of the event loop (as a network would),
 * and `wire` records what crossed, per direction.
 */
export function memoryPair(segment = 1448) {
  const wire = { ab: [] as Uint8Array[], ba: [] as Uint8Array[], abFin: false, baFin: false };
  const make = (local: number, remote: number): MemoryStream => {
    let handler: StreamHandler = {};
    const pending: Uint8Array[] = [];
    let ended = false;
    const s: MemoryStream = {
      localIp: local,
      localPort: 1000 + local,
      remoteIp: remote,
      remotePort: 1000 + remote,
      peer: null,
      setHandler(h: StreamHandler) {
        handler = h;
        h.onOpen?.(s);
        for (const c of pending.splice(0)) h.onData?.(s, c);
        if (ended) h.onEnd?.(s);
      },
      send(data: Uint8Array) {
        (local === 1 ? wire.ab : wire.ba).push(data.slice());
        for (let at = 0; at < data.length; at += segment) {
          const piece = data.slice(at, at + segment);
          setImmediate(() => s.peer!.receive(piece));
        }
      },
      end() {
        if (local === 1) wire.abFin = true;
        else wire.baFin = true;
        setImmediate(() => s.peer!.receiveEnd());
      },
      receive(d: Uint8Array) {
        if (handler.onData) handler.onData(s, d);
        else pending.push(d);
      },
      receiveEnd() {
        ended = true;
        handler.onEnd?.(s);
      },
    };
    return s;
  };
  const a = make(1, 2);
  const b = make(2, 1);
  a.peer = b;
  b.peer = a;
  return { client: a as ByteStream, server: b as ByteStream, wire };
}
