/**
 * The common part of every header view: a window onto bytes at an offset, which `wrap`
 * moves without allocating, so the hot path keeps one view object per header type.
 */
export abstract class ByteView {
  constructor(
    public buf: Uint8Array,
    public offset = 0,
  ) {}

  /** Points the view at other bytes. */
  wrap(buf: Uint8Array, offset = 0): this {
    this.buf = buf;
    this.offset = offset;
    return this;
  }
}

/** A view over a header without a length field of its own (ICMP, TCP): the message length travels with it. */
export abstract class SizedByteView {
  constructor(
    public buf: Uint8Array,
    public offset = 0,
    public len = buf.length - offset,
  ) {}

  wrap(buf: Uint8Array, offset = 0, len = buf.length - offset): this {
    this.buf = buf;
    this.offset = offset;
    this.len = len;
    return this;
  }
}
