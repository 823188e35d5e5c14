/**
 * Byte sinks: where capture writers put their bytes. Writers reuse their scratch buffers,
 * so a sink must copy (or fully consume) a chunk before `write` returns.
 */
import { PendingFile } from "../base/index.js";

export interface ByteSink {
  /** Takes the bytes of `chunk`; the caller may overwrite `chunk` as soon as this returns. */
  write(chunk: Uint8Array): void;
  /** Finishes the output (a file sink renames its temporary file into place). */
  close(): void;
  /** Throws the output away (a file sink leaves an existing file at its path untouched). */
  abort?(): void;
}

/** Collects everything in one growing buffer; for tests and small captures. */
export class MemorySink implements ByteSink {
  private buf = new Uint8Array(4096);
  private len = 0;
  private closed = false;

  write(chunk: Uint8Array): void {
    if (this.closed) throw new Error("MemorySink: write after close");
    const need = this.len + chunk.length;
    if (need > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < need) cap *= 2;
      const grown = new Uint8Array(cap);
      grown.set(this.buf.subarray(0, this.len));
      this.buf = grown;
    }
    this.buf.set(chunk, this.len);
    this.len = need;
  }

  close(): void {
    this.closed = true;
  }

  get length(): number {
    return this.len;
  }

  /** A copy of everything written so far, concatenated. */
  bytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** Counts bytes and throws them away; for benchmarks. */
export class CountingSink implements ByteSink {
  bytesWritten = 0;
  writes = 0;
  write(chunk: Uint8Array): void {
    this.bytesWritten += chunk.length;
    this.writes++;
  }
  close(): void {}
}

export const FILE_SINK_BUFFER_BYTES = 256 * 1024;

/**
 * Streams to a file through one reusable buffer, so a capture is never held whole. The
 * bytes go to a temporary file beside `path`, renamed over it on `close()`: a run that
 * fails (and calls `abort()`) or is killed leaves an existing file as it was.
 */
export class FileSink implements ByteSink {
  private readonly file: PendingFile;
  private readonly buf: Uint8Array;
  private pos = 0;
  private closed = false;
  bytesWritten = 0;

  constructor(
    readonly path: string,
    bufferBytes = FILE_SINK_BUFFER_BYTES,
  ) {
    this.buf = new Uint8Array(bufferBytes);
    this.file = new PendingFile(path);
  }

  write(chunk: Uint8Array): void {
    if (this.closed) throw new Error(`FileSink ${this.path}: write after close`);
    const n = chunk.length;
    this.bytesWritten += n;
    const cap = this.buf.length;
    if (this.pos + n <= cap) {
      this.buf.set(chunk, this.pos);
      this.pos += n;
      if (this.pos === cap) this.flush();
      return;
    }
    // Top up the buffer and flush; a chunk at least a buffer long then goes straight out.
    const off = cap - this.pos;
    this.buf.set(chunk.subarray(0, off), this.pos);
    this.pos = cap;
    this.flush();
    if (n - off >= cap) {
      this.writeAll(chunk.subarray(off));
      return;
    }
    this.buf.set(chunk.subarray(off), 0);
    this.pos = n - off;
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.file.commit();
  }

  abort(): void {
    if (this.closed) return;
    this.closed = true;
    this.file.abort();
  }

  private flush(): void {
    if (this.pos > 0) this.writeAll(this.buf.subarray(0, this.pos));
    this.pos = 0;
  }

  private writeAll(bytes: Uint8Array): void {
    this.file.write(bytes);
  }
}
