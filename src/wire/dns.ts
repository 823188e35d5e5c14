/**
 * DNS messages (RFC 1035 §4), as much as a cluster DNS server and its clients need:
 * header, questions and resource records, with name compression (§4.1.4).
 *
 * Names are text without the trailing dot ("" is the root). They are compared without
 * regard to ASCII case (RFC 4343) but kept as given.
 */
import { truncated, malformed } from "../base/errors.js";
import { get16, get32, set16, set32, checkField } from "./bytes.js";

export const DNS_PORT = 53;
export const DNS_HEADER_LEN = 12;

export const DNS_TYPE_A = 1;
export const DNS_TYPE_NS = 2;
export const DNS_TYPE_CNAME = 5;
export const DNS_TYPE_SOA = 6;
export const DNS_TYPE_PTR = 12;
export const DNS_TYPE_MX = 15;
export const DNS_TYPE_TXT = 16;
export const DNS_TYPE_AAAA = 28;
export const DNS_TYPE_SRV = 33;
export const DNS_TYPE_ANY = 255;
export const DNS_CLASS_IN = 1;

export const DNS_OPCODE_QUERY = 0;
export const DNS_RCODE_NOERROR = 0;
export const DNS_RCODE_FORMERR = 1;
export const DNS_RCODE_SERVFAIL = 2;
export const DNS_RCODE_NXDOMAIN = 3;
export const DNS_RCODE_NOTIMP = 4;
export const DNS_RCODE_REFUSED = 5;

const MAX_LABEL = 63;
/** Longest name on the wire, length bytes and the final zero included (RFC 1035 §2.3.4). */
const MAX_NAME_WIRE = 255;
/** More pointer hops than any sane message has: a loop, not a name. */
const MAX_POINTER_HOPS = 64;

export interface DnsFlags {
  /** true in responses. */
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  rcode: number;
  /** Authenticated data and checking disabled (RFC 4035); parse fills them, emit defaults to false. */
  ad?: boolean;
  cd?: boolean;
}

export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}

/**
 * A resource record. `data` is the IPv4 address for type A, the target name for
 * CNAME/NS/PTR, and raw RDATA bytes otherwise (kept as received; raw bytes are also
 * accepted on emit for any type).
 */
export interface DnsRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  data: number | string | Uint8Array;
}

export interface DnsRepr {
  id: number;
  flags: DnsFlags;
  questions: DnsQuestion[];
  answers: DnsRecord[];
  /** Authority section (e.g. the SOA of an NXDOMAIN answer); parse sets it only when non-empty. */
  authority?: DnsRecord[];
  /** Additional section; parse sets it only when non-empty. */
  additional?: DnsRecord[];
}

function nameIsTarget(type: number): boolean {
  return type === DNS_TYPE_CNAME || type === DNS_TYPE_NS || type === DNS_TYPE_PTR;
}

// ---- parsing ----

/** Reads a possibly compressed name at `pos`; returns the name and sets `nameEnd` to the byte after it in place. */
let nameEnd = 0;
function readName(buf: Uint8Array, msg: number, end: number, pos: number): string {
  let name = "";
  let wire = 0;
  let hops = 0;
  let after = -1;
  for (;;) {
    if (pos >= end) throw truncated("dns", "name runs past the message");
    const b = buf[pos]!;
    if (b === 0) {
      wire += 1;
      if (wire > MAX_NAME_WIRE) throw malformed("dns", "name longer than 255 bytes");
      nameEnd = after >= 0 ? after : pos + 1;
      return name;
    }
    const top = b & 0xc0;
    if (top === 0xc0) {
      if (pos + 1 >= end) throw truncated("dns", "compression pointer cut short");
      if (++hops > MAX_POINTER_HOPS) throw malformed("dns", "compression pointer loop");
      if (after < 0) after = pos + 2;
      const target = msg + (((b & 0x3f) << 8) | buf[pos + 1]!);
      if (target >= end) throw malformed("dns", "compression pointer past the message");
      pos = target;
      continue;
    }
    if (top !== 0) throw malformed("dns", `label type 0x${top.toString(16)}`);
    if (pos + 1 + b > end) throw truncated("dns", "label runs past the message");
    wire += b + 1;
    if (wire + 1 > MAX_NAME_WIRE) throw malformed("dns", "name longer than 255 bytes");
    let label = "";
    for (let i = pos + 1; i <= pos + b; i++) label += String.fromCharCode(buf[i]!);
    name = name ? `${name}.${label}` : label;
    pos += 1 + b;
  }
}

function readRecord(buf: Uint8Array, msg: number, end: number, pos: number, out: DnsRecord[]): number {
  const name = readName(buf, msg, end, pos);
  pos = nameEnd;
  if (pos + 10 > end) throw truncated("dns", "resource record header cut short");
  const type = get16(buf, pos);
  const klass = get16(buf, pos + 2);
  const ttl = get32(buf, pos + 4);
  const rdlen = get16(buf, pos + 8);
  pos += 10;
  if (pos + rdlen > end) throw truncated("dns", "RDATA runs past the message");
  let data: number | string | Uint8Array;
  if (type === DNS_TYPE_A) {
    if (rdlen !== 4) throw malformed("dns", `A record with ${rdlen} bytes of RDATA`);
    data = get32(buf, pos);
  } else if (nameIsTarget(type)) {
    data = readName(buf, msg, end, pos);
    if (nameEnd !== pos + rdlen) throw malformed("dns", "RDATA length does not match the name in it");
  } else {
    data = buf.subarray(pos, pos + rdlen);
  }
  out.push({ name, type, class: klass, ttl, data });
  return pos + rdlen;
}

// ---- emitting ----

/** Names already written (lower-cased) and where, for compression pointers. */
interface NameTable {
  names: string[];
  offsets: number[];
}

function trimDot(name: string): string {
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

/** Writes `name` uncompressed at `pos` (or only measures it when `buf` is null); returns the next position. */
function writeName(buf: Uint8Array | null, pos: number, name: string): number {
  const n = trimDot(name);
  if (n === "") {
    if (buf) buf[pos] = 0;
    return pos + 1;
  }
  const start = pos;
  for (const label of n.split(".")) {
    if (label.length === 0 || label.length > MAX_LABEL) throw new RangeError(`dns label length ${label.length} in ${JSON.stringify(name)}`);
    if (buf) buf[pos] = label.length;
    for (let i = 0; i < label.length; i++) {
      const c = label.charCodeAt(i);
      if (c > 0xff) throw new RangeError(`dns name has a non-byte character: ${JSON.stringify(name)}`);
      if (buf) buf[pos + 1 + i] = c;
    }
    pos += 1 + label.length;
  }
  if (buf) buf[pos] = 0;
  pos += 1;
  if (pos - start > MAX_NAME_WIRE) throw new RangeError(`dns name longer than 255 bytes: ${JSON.stringify(name)}`);
  return pos;
}

/** Writes an owner name, as a pointer when an equal name was written before. */
function writeOwnerName(buf: Uint8Array | null, msg: number, pos: number, name: string, table: NameTable): number {
  const key = trimDot(name).toLowerCase();
  const i = table.names.indexOf(key);
  if (i >= 0 && key !== "") {
    if (buf) set16(buf, pos, 0xc000 | table.offsets[i]!);
    return pos + 2;
  }
  if (pos - msg < 0x4000) {
    table.names.push(key);
    table.offsets.push(pos - msg);
  }
  return writeName(buf, pos, name);
}

function writeRecord(buf: Uint8Array | null, msg: number, pos: number, r: DnsRecord, table: NameTable): number {
  checkField("dns type", r.type, 0xffff);
  checkField("dns class", r.class, 0xffff);
  checkField("dns ttl", r.ttl, 0xffff_ffff);
  pos = writeOwnerName(buf, msg, pos, r.name, table);
  const rdata = pos + 10;
  let end: number;
  if (typeof r.data === "number") {
    if (r.type !== DNS_TYPE_A) throw new RangeError(`dns record type ${r.type} with a numeric address`);
    if (buf) set32(buf, rdata, r.data);
    end = rdata + 4;
  } else if (typeof r.data === "string") {
    if (!nameIsTarget(r.type)) throw new RangeError(`dns record type ${r.type} with a name as data`);
    end = writeName(buf, rdata, r.data);
  } else {
    if (buf) buf.set(r.data, rdata);
    end = rdata + r.data.length;
  }
  checkField("dns rdata length", end - rdata, 0xffff);
  if (buf) {
    set16(buf, pos, r.type);
    set16(buf, pos + 2, r.class);
    set32(buf, pos + 4, r.ttl);
    set16(buf, pos + 8, end - rdata);
  }
  return end;
}

function layout(repr: DnsRepr, buf: Uint8Array | null, off: number): number {
  const f = repr.flags;
  checkField("dns id", repr.id, 0xffff);
  checkField("dns opcode", f.opcode, 15);
  checkField("dns rcode", f.rcode, 15);
  const authority = repr.authority ?? [];
  const additional = repr.additional ?? [];
  for (const n of [repr.questions.length, repr.answers.length, authority.length, additional.length]) checkField("dns section count", n, 0xffff);
  if (buf) {
    set16(buf, off, repr.id);
    buf[off + 2] = (f.qr ? 0x80 : 0) | (f.opcode << 3) | (f.aa ? 0x04 : 0) | (f.tc ? 0x02 : 0) | (f.rd ? 0x01 : 0);
    buf[off + 3] = (f.ra ? 0x80 : 0) | (f.ad ? 0x20 : 0) | (f.cd ? 0x10 : 0) | f.rcode;
    set16(buf, off + 4, repr.questions.length);
    set16(buf, off + 6, repr.answers.length);
    set16(buf, off + 8, authority.length);
    set16(buf, off + 10, additional.length);
  }
  const table: NameTable = { names: [], offsets: [] };
  let pos = off + DNS_HEADER_LEN;
  for (const q of repr.questions) {
    checkField("dns type", q.type, 0xffff);
    checkField("dns class", q.class, 0xffff);
    pos = writeOwnerName(buf, off, pos, q.name, table);
    if (buf) {
      set16(buf, pos, q.type);
      set16(buf, pos + 2, q.class);
    }
    pos += 4;
  }
  for (const section of [repr.answers, authority, additional]) {
    for (const r of section) pos = writeRecord(buf, off, pos, r, table);
  }
  return pos - off;
}

export const DnsRepr = {
  /** Parses the DNS message of exactly `len` bytes at `buf[off..]` (a UDP payload). Raw RDATA is a subarray of `buf`. */
  parse(buf: Uint8Array, off: number, len: number): DnsRepr {
    const end = Math.min(off + len, buf.length);
    if (end - off < DNS_HEADER_LEN) throw truncated("dns", `need ${DNS_HEADER_LEN} bytes, have ${Math.max(0, end - off)}`);
    const b2 = buf[off + 2]!;
    const b3 = buf[off + 3]!;
    const flags: DnsFlags = {
      qr: (b2 & 0x80) !== 0,
      opcode: (b2 >> 3) & 0x0f,
      aa: (b2 & 0x04) !== 0,
      tc: (b2 & 0x02) !== 0,
      rd: (b2 & 0x01) !== 0,
      ra: (b3 & 0x80) !== 0,
      rcode: b3 & 0x0f,
      ad: (b3 & 0x20) !== 0,
      cd: (b3 & 0x10) !== 0,
    };
    const qd = get16(buf, off + 4);
    const an = get16(buf, off + 6);
    const ns = get16(buf, off + 8);
    const ar = get16(buf, off + 10);
    let pos = off + DNS_HEADER_LEN;
    const questions: DnsQuestion[] = [];
    for (let i = 0; i < qd; i++) {
      const name = readName(buf, off, end, pos);
      pos = nameEnd;
      if (pos + 4 > end) throw truncated("dns", "question cut short");
      questions.push({ name, type: get16(buf, pos), class: get16(buf, pos + 2) });
      pos += 4;
    }
    const answers: DnsRecord[] = [];
    for (let i = 0; i < an; i++) pos = readRecord(buf, off, end, pos, answers);
    const authority: DnsRecord[] = [];
    for (let i = 0; i < ns; i++) pos = readRecord(buf, off, end, pos, authority);
    const additional: DnsRecord[] = [];
    for (let i = 0; i < ar; i++) pos = readRecord(buf, off, end, pos, additional);
    const repr: DnsRepr = { id: get16(buf, off), flags, questions, answers };
    if (authority.length) repr.authority = authority;
    if (additional.length) repr.additional = additional;
    return repr;
  },
  /** Writes the message (owner names equal to an earlier name become pointers); returns its length. */
  emit(repr: DnsRepr, buf: Uint8Array, off: number): number {
    const n = layout(repr, null, off);
    if (off + n > buf.length) throw new RangeError(`dns message of ${n} bytes does not fit`);
    return layout(repr, buf, off);
  },
  bufferLen(repr: DnsRepr): number {
    return layout(repr, null, 0);
  },
};

/** Mnemonic for a record type as dig and tcpdump print it, e.g. `A`, `SRV`, or `TYPE99`. */
export function dnsTypeName(type: number): string {
  return DNS_TYPE_NAMES[type] ?? `TYPE${type}`;
}

const DNS_TYPE_NAMES: Record<number, string> = {
  [DNS_TYPE_A]: "A",
  [DNS_TYPE_NS]: "NS",
  [DNS_TYPE_CNAME]: "CNAME",
  [DNS_TYPE_SOA]: "SOA",
  [DNS_TYPE_PTR]: "PTR",
  [DNS_TYPE_MX]: "MX",
  [DNS_TYPE_TXT]: "TXT",
  [DNS_TYPE_AAAA]: "AAAA",
  [DNS_TYPE_SRV]: "SRV",
  [DNS_TYPE_ANY]: "ANY",
};

// ---- DNS over TCP (RFC 1035 §4.2.2, RFC 7766 §8) ----

/** Longest message a 2-byte length prefix can announce. */
export const DNS_TCP_MAX_MESSAGE = 0xffff;

/** One message with its 2-byte big-endian length prefix, as DNS over TCP sends it. */
export function frameDnsTcp(message: Uint8Array): Uint8Array {
  if (message.length > DNS_TCP_MAX_MESSAGE) throw new RangeError(`dns message of ${message.length} bytes is too long for TCP`);
  const out = new Uint8Array(2 + message.length);
  set16(out, 0, message.length);
  out.set(message, 2);
  return out;
}

/**
 * Reassembles length-prefixed DNS messages from a TCP byte stream: a message (or its
 * prefix) may arrive split over segments, and one segment may carry several (RFC 7766 §6.2.1).
 */
export class DnsTcpReader {
  private pending = new Uint8Array(0);

  /** Adds received bytes; returns the messages completed by them, in order, without prefixes. */
  push(data: Uint8Array): Uint8Array[] {
    const buf = new Uint8Array(this.pending.length + data.length);
    buf.set(this.pending, 0);
    buf.set(data, this.pending.length);
    const messages: Uint8Array[] = [];
    let pos = 0;
    while (buf.length - pos >= 2) {
      const len = get16(buf, pos);
      if (buf.length - pos - 2 < len) break;
      messages.push(buf.slice(pos + 2, pos + 2 + len));
      pos += 2 + len;
    }
    this.pending = buf.slice(pos);
    return messages;
  }

  /** Bytes of an incomplete message held back. */
  get buffered(): number {
    return this.pending.length;
  }
}

/** Why `name` cannot be written as a query name (RFC 1035 §2.3.4), or null when it can. */
export function dnsNameProblem(name: string): string | null {
  const n = trimDot(name);
  if (n === "") return "the name is empty";
  if (/[^\x21-\x7e]/.test(n)) return "the name has a space, control or non-ASCII character";
  for (const label of n.split(".")) {
    if (label.length === 0) return "the name has an empty label (two dots in a row, or a leading dot)";
    if (label.length > MAX_LABEL) return `the label ${JSON.stringify(label.slice(0, 20) + "…")} is longer than ${MAX_LABEL} bytes`;
  }
  if (n.length + 2 > MAX_NAME_WIRE) return `the name is longer than ${MAX_NAME_WIRE - 2} characters`;
  return null;
}
