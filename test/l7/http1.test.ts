/** The HTTP/1.1 parser (RFC 9112): framing by Content-Length, chunked and connection close, however the bytes are split. */
import test from "ava";
import fc from "fast-check";
import { Http1Parser, HttpParseError, type HttpRequest, type HttpResponse, keepsAlive, serializeRequest } from "../../src/l7/http1.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

test("requests: head only, with a Content-Length body, with a chunked body (trailers dropped)", (t) => {
  const p = new Http1Parser<HttpRequest>("request");
  const text =
    "GET /a HTTP/1.1\r\nHost: x\r\n\r\n" +
    "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
    "PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n";
  const msgs = p.push(enc.encode(text));
  t.deepEqual(msgs.map((m) => [m.method, m.target, dec.decode(m.body)]), [["GET", "/a", ""], ["POST", "/b", "hello"], ["PUT", "/c", "abcde"]]);
  t.is(p.pending, 0);
});

test("responses: close-delimited bodies end with the connection; HEAD, 204 and 304 have none", (t) => {
  const p = new Http1Parser<HttpResponse>("response");
  p.expectResponseTo("HEAD");
  p.expectResponseTo("GET");
  p.expectResponseTo("GET");
  const msgs = p.push(enc.encode("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.0 200 OK\r\n\r\nuntil the end"));
  t.deepEqual(msgs.map((m) => [m.status, m.body.length]), [[200, 0], [204, 0]]);
  const last = p.end();
  t.deepEqual(last.map((m) => [m.version, dec.decode(m.body)]), [["HTTP/1.0", "until the end"]]);
});

test("malformed input is an HttpParseError, never a crash", (t) => {
  for (const bad of ["GARBAGE\r\n\r\n", "GET / HTTP/2.0\r\n\r\n", "GET / HTTP/1.1\r\nNo colon here\r\n\r\n", "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]) {
    t.throws(() => new Http1Parser<HttpRequest>("request").push(enc.encode(bad)), { instanceOf: HttpParseError }, JSON.stringify(bad));
  }
  t.throws(() => new Http1Parser<HttpResponse>("response").push(enc.encode("HTTP/1.1 abc OK\r\n\r\n")), { instanceOf: HttpParseError });
});

test("keep-alive rules: HTTP/1.1 unless Connection: close, HTTP/1.0 only with keep-alive", (t) => {
  t.true(keepsAlive("HTTP/1.1", []));
  t.false(keepsAlive("HTTP/1.1", [["Connection", "Close"]]));
  t.false(keepsAlive("HTTP/1.0", []));
  t.true(keepsAlive("HTTP/1.0", [["connection", "keep-alive"]]));
});

test("property: any split of a message stream parses to the same messages", (t) => {
  const reqArb = fc.record({
    method: fc.constantFrom("GET", "POST", "DELETE"),
    target: fc.constantFrom("/", "/a/b", "/q?x=1&y=2"),
    body: fc.string({ maxLength: 40 }),
    chunked: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.array(reqArb, { minLength: 1, maxLength: 4 }), fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 20 }), (reqs, cuts) => {
      const parts: Uint8Array[] = reqs.map((r) => {
        const body = enc.encode(r.body);
        if (!r.chunked) return serializeRequest({ method: r.method, target: r.target, version: "HTTP/1.1", headers: [["Host", "h"], ["Content-Length", String(body.length)]], body });
        const chunked = body.length === 0 ? "0\r\n\r\n" : `${body.length.toString(16)}\r\n${r.body}\r\n0\r\n\r\n`;
        return enc.encode(`${r.method} ${r.target} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`);
      });
      const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let o = 0;
      for (const p of parts) {
        all.set(p, o);
        o += p.length;
      }
      const p = new Http1Parser<HttpRequest>("request");
      const got: HttpRequest[] = [];
      let at = 0;
      for (const c of cuts) {
        got.push(...p.push(all.subarray(at, Math.min(all.length, at + c))));
        at = Math.min(all.length, at + c);
      }
      got.push(...p.push(all.subarray(at)));
      return got.length === reqs.length && got.every((g, i) => g.method === reqs[i]!.method && g.target === reqs[i]!.target && dec.decode(g.body) === reqs[i]!.body);
    }),
    { numRuns: 200, seed: 14 },
  );
  t.pass();
});
