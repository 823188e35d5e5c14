/** Hand-built capture bytes in either byte order, for reader tests (not a test file). */

export class Bytes {
  private out: number[] = [];
  constructor(readonly le: boolean) {}
  u8(...xs: number[]): this {
    this.out.push(...xs);
    return this;
  }
  u16(x: number): this {
    return this.le ? this.u8(x & 0xff, x >>> 8) : this.u8(x >>> 8, x & 0xff);
  }
  u32(x: number): this {
    const b = [x >>> 24, (x >>> 16) & 0xff, (x >>> 8) & 0xff, x & 0xff];
    return this.u8(...(this.le ? b.reverse() : b));
  }
  raw(b: Uint8Array | number[]): this {
    return this.u8(...b);
  }
  get length(): number {
    return this.out.length;
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

/** One option: code, length, value padded to 4. */
export function option(le: boolean, code: number, value: Uint8Array | number[] | string): number[] {
  const v = typeof value === "string" ? [...Buffer.from(value, "utf8")] : [...value];
  const b = new Bytes(le).u16(code).u16(v.length).raw(v);
  while (b.length % 4) b.u8(0);
  return [...b.bytes()];
}

/** A whole block: type, total length, body (padded to 4), total length. */
export function block(le: boolean, type: number, body: number[]): number[] {
  const padded = [...body];
  while (padded.length % 4) padded.push(0);
  const len = padded.length + 12;
  return [...new Bytes(le).u32(type).u32(len).raw(padded).u32(len).bytes()];
}

export function shb(le: boolean, options: number[] = []): number[] {
  return block(le, 0x0a0d0d0a, [
    ...new Bytes(le).u32(0x1a2b3c4d).u16(1).u16(0).u32(0xffffffff).u32(0xffffffff).raw(options).bytes(),
  ]);
}

export function idb(le: boolean, linktype: number, snaplen: number, options: number[] = []): number[] {
  return block(le, 1, [...new Bytes(le).u16(linktype).u16(0).u32(snaplen).raw(options).bytes()]);
}

export function epb(le: boolean, ifId: number, hi: number, lo: number, data: number[], origLen = data.length, options: number[] = []): number[] {
  const b = new Bytes(le).u32(ifId).u32(hi).u32(lo).u32(data.length).u32(origLen).raw(data);
  while (b.length % 4) b.u8(0);
  return block(le, 6, [...b.raw(options).bytes()]);
}

export function spb(le: boolean, origLen: number, data: number[]): number[] {
  return block(le, 3, [...new Bytes(le).u32(origLen).raw(data).bytes()]);
}

export const END = [0, 0, 0, 0];
