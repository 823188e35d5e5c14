/**
 * HTTP/1.1 messages on a byte stream (RFC 9112): an incremental parser for requests and
 * responses (a head of CRLF-terminated lines, then a body framed by Content-Length, chunked
 * transfer coding, or — responses only — the end of the connection), and serialisers.
 * Bodies are kept whole: podwire's messages are small.
 */

export type HeaderList = [name: string, value: string][];

export interface HttpRequest {
  method: string;
  target: string;
  version: string;
  headers: HeaderList;
  body: Uint8Array;
}

export interface HttpResponse {
  version: string;
  status: number;
  reason: string;
  headers: HeaderList;
  body: Uint8Array;
}

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/** The first value of a header, case-insensitively; null when absent. */
export function header(headers: HeaderList, name: string): string | null {
  const n = name.toLowerCase();
  for (const [k, v] of headers) if (k.toLowerCase() === n) return v;
  return null;
}

export function withoutHeaders(headers: HeaderList, names: readonly string[]): HeaderList {
  const drop = new Set(names.map((n) => n.toLowerCase()));
  return headers.filter(([k]) => !drop.has(k.toLowerCase()));
}

/** Replaces every value of `name` with one (appended when absent). */
export function setHeader(headers: HeaderList, name: string, value: string): HeaderList {
  const out = withoutHeaders(headers, [name]);
  out.push([name, value]);
  return out;
}

/** Whether the connection stays open after this message (RFC 9112 §9.3). */
export function keepsAlive(version: string, headers: HeaderList): boolean {
  const conn = (header(headers, "connection") ?? "").toLowerCase().split(",").map((s) => s.trim());
  if (conn.includes("close")) return false;
  if (version === "HTTP/1.0") return conn.includes("keep-alive");
  return true;
}

export function serializeRequest(req: Omit<HttpRequest, "body"> & { body?: Uint8Array }): Uint8Array {
  const head = `${req.method} ${req.target} ${req.version}\r\n${req.headers.map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`;
  return concat(encoder.encode(head), req.body ?? new Uint8Array(0));
}

export function serializeResponse(res: HttpResponse): Uint8Array {
  const head = `${res.version} ${res.status} ${res.reason}\r\n${res.headers.map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`;
  return concat(encoder.encode(head), res.body);
}

export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** A message that does not parse: the proxy answers 400 and closes. */
export class HttpParseError extends Error {
  override readonly name = "HttpParseError";
}

type Head = { start: string; headers: HeaderList };

/** Largest head podwire accepts (nginx's large_client_header_buffers is 4 × 8 KiB). */
const MAX_HEAD = 32 * 1024;

/**
 * Incremental parser of a sequence of messages on one connection. `kind` says whether it
 * reads requests or responses; for responses, `expectBody(status)` is told the request
 * method so HEAD responses carry no body.
 */
export class Http1Parser<T extends HttpRequest | HttpResponse> {
  private buf: Uint8Array = new Uint8Array(0);
  private head: Head | null = null;
  private ended = false;
  /** The request methods of responses still to come (responses only). */
  private readonly methods: string[] = [];

  constructor(private readonly kind: T extends HttpRequest ? "request" : "response") {}

  /** Responses: the method of the request whose answer comes next (HEAD answers have no body). */
  expectResponseTo(method: string): void {
    this.methods.push(method);
  }

  /** Adds bytes; returns every message now complete. Throws HttpParseError on malformed input. */
  push(data: Uint8Array): T[] {
    this.buf = concat(this.buf, data);
    return this.drain();
  }

  /** The peer closed: a response framed by the connection's end is complete now. */
  end(): T[] {
    this.ended = true;
    return this.drain();
  }

  /** Bytes received but not yet part of a complete message. */
  get pending(): number {
    return this.buf.length;
  }

  private drain(): T[] {
    const out: T[] = [];
    for (;;) {
      if (this.head === null) {
        const end = indexOfCrlfCrlf(this.buf);
        if (end < 0) {
          if (this.buf.length > MAX_HEAD) throw new HttpParseError("message head too large");
          break;
        }
        this.head = parseHead(latin1.decode(this.buf.subarray(0, end)));
        this.buf = this.buf.subarray(end + 4);
        this.checkStart(this.head.start);
      }
      const body = this.takeBody(this.head);
      if (body === null) break;
      out.push(this.build(this.head, body));
      this.head = null;
    }
    return out;
  }

  /** The body when complete (consumed from the buffer), else null. */
  private takeBody(head: Head): Uint8Array | null {
    const te = header(head.headers, "transfer-encoding");
    const cl = header(head.headers, "content-length");
    if (this.kind === "response") {
      const status = Number(head.start.split(" ")[1]);
      const method = this.methods[0] ?? "GET";
      if (method === "HEAD" || (status >= 100 && status < 200) || status === 204 || status === 304) return new Uint8Array(0);
    }
    if (te !== null) {
      if (te.toLowerCase().split(",").map((s) => s.trim()).pop() !== "chunked") {
        if (this.kind === "request") throw new HttpParseError(`unsupported Transfer-Encoding ${te}`);
        return this.untilEnd();
      }
      return this.takeChunked();
    }
    if (cl !== null) {
      if (!/^[0-9]+$/.test(cl.trim())) throw new HttpParseError(`bad Content-Length ${JSON.stringify(cl)}`);
      const n = Number(cl.trim());
      if (this.buf.length < n) return null;
      const body = this.buf.slice(0, n);
      this.buf = this.buf.subarray(n);
      return body;
    }
    return this.kind === "request" ? new Uint8Array(0) : this.untilEnd();
  }

  private untilEnd(): Uint8Array | null {
    if (!this.ended) return null;
    const body = this.buf.slice();
    this.buf = new Uint8Array(0);
    return body;
  }

  /** A chunked body (RFC 9112 §7.1), trailers discarded. */
  private takeChunked(): Uint8Array | null {
    let at = 0;
    const parts: Uint8Array[] = [];
    for (;;) {
      const lineEnd = indexOfCrlf(this.buf, at);
      if (lineEnd < 0) return null;
      const sizeText = latin1.decode(this.buf.subarray(at, lineEnd)).split(";")[0]!.trim();
      if (!/^[0-9a-fA-F]+$/.test(sizeText)) throw new HttpParseError(`bad chunk size ${JSON.stringify(sizeText)}`);
      const size = parseInt(sizeText, 16);
      at = lineEnd + 2;
      if (size === 0) {
        // Trailer lines up to an empty line.
        for (;;) {
          const e = indexOfCrlf(this.buf, at);
          if (e < 0) return null;
          const empty = e === at;
          at = e + 2;
          if (empty) break;
        }
        this.buf = this.buf.subarray(at);
        let len = 0;
        for (const p of parts) len += p.length;
        const body = new Uint8Array(len);
        let o = 0;
        for (const p of parts) {
          body.set(p, o);
          o += p.length;
        }
        return body;
      }
      if (this.buf.length < at + size + 2) return null;
      parts.push(this.buf.subarray(at, at + size));
      at += size + 2;
    }
  }

  /** The request or status line, checked as soon as the head is complete. */
  private checkStart(start: string): void {
    const [a, b, ...rest] = start.split(" ");
    if (this.kind === "request") {
      if (a === undefined || b === undefined || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(a) || !/^HTTP\/1\.[01]$/.test(rest.join(" "))) {
        throw new HttpParseError(`bad request line ${JSON.stringify(start.slice(0, 80))}`);
      }
      return;
    }
    const status = Number(b);
    if (a === undefined || !/^HTTP\/1\.[01]$/.test(a) || !/^[0-9]{3}$/.test(b ?? "") || status < 100) {
      throw new HttpParseError(`bad status line ${JSON.stringify(start.slice(0, 80))}`);
    }
  }

  private build(head: Head, body: Uint8Array): T {
    const [a, b, ...rest] = head.start.split(" ");
    if (this.kind === "request") return { method: a!, target: b!, version: rest.join(" "), headers: head.headers, body } as T;
    this.methods.shift();
    return { version: a!, status: Number(b), reason: rest.join(" "), headers: head.headers, body } as T;
  }
}

function parseHead(text: string): Head {
  const lines = text.split("\r\n");
  const start = lines[0] ?? "";
  const headers: HeaderList = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0 || /\s/.test(line.slice(0, colon))) throw new HttpParseError(`bad header line ${JSON.stringify(line.slice(0, 80))}`);
    headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return { start, headers };
}

function indexOfCrlfCrlf(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.length; i++) if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  return -1;
}

function indexOfCrlf(b: Uint8Array, from: number): number {
  for (let i = from; i + 1 < b.length; i++) if (b[i] === 13 && b[i + 1] === 10) return i;
  return -1;
}

/** The standard reason phrase of a status code. */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? "Unknown";
}

const REASONS: Record<number, string> = {
  200: "OK",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  404: "Not Found",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Temporarily Unavailable",
  504: "Gateway Time-out",
};
