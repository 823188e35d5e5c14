/**
 * Reading the SNI from a real ClientHello (the one Node's TLS client sends) however the bytes
 * arrive, and telling apart "wait for more", "not TLS at all" and "broken".
 */
import test from "ava";
import type { ByteStream, StreamHandler } from "../../src/l7/stream.js";
import { settleTls, tlsClient } from "../../src/l7/tls.js";
import { alertName, fatalAlertRecord, peekClientHello } from "../../src/l7/tls-hello.js";

/** The first flight a TLS client sends for `servername`, taken from a stream nobody answers. */
async function clientHello(servername: string): Promise<Uint8Array> {
  const sent: Uint8Array[] = [];
  const inner: ByteStream = {
    localIp: 1,
    localPort: 1,
    remoteIp: 2,
    remotePort: 443,
    setHandler: (h: StreamHandler) => h.onOpen?.(inner),
    send: (d) => sent.push(d.slice()),
    end: () => {},
  };
  tlsClient(inner, { servername, rejectUnauthorized: false, alpn: ["http/1.1"] }).setHandler({});
  await settleTls();
  return Buffer.concat(sent);
}

/** Re-frames one handshake record's body as records of at most `size` bytes (RFC 8446 §5.1 allows any split). */
function refragment(hello: Uint8Array, size: number): Uint8Array {
  const body = hello.subarray(5);
  const out: number[] = [];
  for (let at = 0; at < body.length; at += size) {
    const part = body.subarray(at, at + size);
    out.push(22, 3, 1, part.length >> 8, part.length & 0xff, ...part);
  }
  return Uint8Array.from(out);
}

test("the server name of a real ClientHello, whole, one byte short, in pieces, and over several records", async (t) => {
  const hello = await clientHello("Shop.Example.com");
  t.is(hello[0], 22);
  t.deepEqual(peekClientHello(hello), { kind: "hello", servername: "shop.example.com" }, "lower-cased, as names compare");
  for (let n = 0; n < hello.length; n += 37) t.deepEqual(peekClientHello(hello.subarray(0, n)), { kind: "need-more" }, `${n} bytes`);
  t.deepEqual(peekClientHello(hello.subarray(0, hello.length - 1)), { kind: "need-more" });
  t.deepEqual(peekClientHello(refragment(hello, 50)), { kind: "hello", servername: "shop.example.com" });
  t.deepEqual(peekClientHello(refragment(hello, 2)), { kind: "hello", servername: "shop.example.com" }, "even the 4-byte handshake header split");
  t.deepEqual(peekClientHello(refragment(hello, 2).subarray(0, 40)), { kind: "need-more" });
});

test("no SNI: a client connecting to an IP address sends none", async (t) => {
  t.deepEqual(peekClientHello(await clientHello("10.96.0.20")), { kind: "hello", servername: undefined });
});

test("not TLS, and broken TLS, are told apart with a reason", async (t) => {
  const enc = (s: string) => new TextEncoder().encode(s);
  t.deepEqual(peekClientHello(enc("GET / HTTP/1.1\r\n")), { kind: "not-tls", reason: "the client sent plain HTTP to a TLS port" });
  t.deepEqual(peekClientHello(Uint8Array.of(0x00, 1, 2)), { kind: "not-tls", reason: "the first byte 0x00 is not a TLS handshake record (0x16)" });
  t.deepEqual(peekClientHello(Uint8Array.of(22, 2, 0, 0, 1, 1)), { kind: "not-tls", reason: "record version 2.0 is not TLS (3.x)" });
  t.deepEqual(peekClientHello(Uint8Array.of(22, 3, 1, 0, 0)), { kind: "malformed", reason: "record length 0 (must be 1 to 16384, RFC 8446 §5.1)" });
  t.deepEqual(peekClientHello(Uint8Array.of(22, 3, 1, 0x40, 1)), { kind: "malformed", reason: "record length 16385 (must be 1 to 16384, RFC 8446 §5.1)" });
  t.deepEqual(peekClientHello(Uint8Array.of(22, 3, 1, 0, 4, 1, 0x01, 0, 0)), { kind: "malformed", reason: "a ClientHello of 65540 bytes (more than 65536)" });
  const hello = await clientHello("shop.example.com");
  // An alert record where the rest of the ClientHello should continue.
  const split = refragment(hello, 100);
  const broken = Uint8Array.from([...split.subarray(0, 105), 21, 3, 3, 0, 2, 2, 40]);
  t.deepEqual(peekClientHello(broken), { kind: "malformed", reason: "record type 21 inside the ClientHello (expected handshake, 22)" });
  // A server_name extension whose list length overruns it.
  const bad = Uint8Array.from(hello);
  const at = Buffer.from(bad).indexOf(Buffer.from("shop.example.com")) - 5; // the list length before type and name length
  bad[at] = 0xff;
  t.is(peekClientHello(bad).kind, "malformed");
});

test("alert records and names", (t) => {
  t.deepEqual([...fatalAlertRecord(112)], [21, 3, 3, 0, 2, 2, 112]);
  t.is(alertName(112), "unrecognized_name (112)");
  t.is(alertName(40), "handshake_failure (40)");
  t.is(alertName(200), "unknown alert (200)");
});
