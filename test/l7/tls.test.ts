/**
 * TLS over two ByteStreams joined in memory (no cluster): the handshake, SNI choosing the
 * certificate, refusals with a real alert, certificate checks, payloads far larger than one
 * record, delivered in small pieces, half-close, and the key log.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { PodwireError } from "../../src/base/index.js";
import type { ByteStream, StreamHandler } from "../../src/l7/stream.js";
import { memoryPair } from "./tls-pair.js";
import { type TlsStream, settleTls, tlsClient, tlsServer } from "../../src/l7/tls.js";
import { CertificateBook } from "../../src/l7/tls-certificates.js";
import { TlsKeyLog } from "../../src/l7/tls-keylog.js";

/** What one side of a TLS connection saw. */
function recorder() {
  const seen = { open: 0, data: [] as Uint8Array[], end: 0, close: 0, errors: [] as string[] };
  const handler: StreamHandler = {
    onOpen: () => seen.open++,
    onData: (_s, d) => seen.data.push(d.slice()),
    onEnd: () => seen.end++,
    onClose: () => seen.close++,
    onError: (_s, r) => seen.errors.push(r),
  };
  return { seen, handler, text: () => Buffer.concat(seen.data).toString("latin1"), bytes: () => Buffer.concat(seen.data) };
}

const book = new CertificateBook(7);
const shop = book.generate(["shop.example.com"]);
const wild = book.generate(["*.apps.example.com"]);

test("handshake with SNI, ALPN and TLS 1.3; request and response both ways; the key log has each secret once", async (t) => {
  const { client, server } = memoryPair();
  const log = new TlsKeyLog();
  const names: Array<string | undefined> = [];
  const srv = recorder();
  let accepted: TlsStream | null = null;
  tlsServer(server, { contextFor: (n) => (names.push(n), book.lookup(n)), keylog: log.sink, alpn: ["http/1.1"] }, (plain, name) => {
    accepted = plain;
    t.is(name, "shop.example.com");
    plain.setHandler({
      ...srv.handler,
      onData: (s, d) => {
        srv.handler.onData!(s, d);
        if (srv.text().endsWith("\r\n\r\n")) s.send(new TextEncoder().encode("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
      },
    });
  });
  const cli = recorder();
  const plain = tlsClient(client, { servername: "shop.example.com", ca: shop.certPem, keylog: log.sink, alpn: ["http/1.1"] });
  plain.setHandler(cli.handler);
  // Written before the handshake is done: queued, then sent.
  plain.send(new TextEncoder().encode("GET /cart HTTP/1.1\r\nHost: shop.example.com\r\n\r\n"));
  await settleTls();
  t.deepEqual(names, ["shop.example.com"]);
  t.deepEqual(cli.seen.errors, []);
  t.is(cli.seen.open, 1);
  t.is(cli.text(), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  t.is(srv.text(), "GET /cart HTTP/1.1\r\nHost: shop.example.com\r\n\r\n");
  t.deepEqual(plain.tls, {
    servername: "shop.example.com",
    protocol: "TLSv1.3",
    cipher: plain.tls!.cipher,
    alpn: "http/1.1",
    certificate: { names: ["shop.example.com"], source: "sent by the server" },
  });
  t.deepEqual(accepted!.tls!.certificate, { names: ["shop.example.com"], source: "generated (ed25519)" });
  t.regex(plain.tls!.cipher, /^TLS_(AES|CHACHA20)/);
  t.is(accepted!.tls!.alpn, "http/1.1");
  // TLS 1.3: five secrets per connection (RFC 8446 §7.1 and NSS's key log labels), logged by both ends, kept once.
  const labels = log.lines.map((l) => l.split(" ")[0]).sort();
  t.deepEqual(labels, ["CLIENT_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0", "EXPORTER_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "SERVER_TRAFFIC_SECRET_0"]);
  t.true(log.lines.every((l) => /^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]{64,96}$/.test(l)), log.lines.join("\n"));
  t.true(log.text().startsWith("# "));
});

test("SNI picks the certificate: exact name, then the wildcard; the client trusts only the certificate it was given", async (t) => {
  for (const [servername, ca] of [["shop.example.com", shop], ["cart.apps.example.com", wild]] as const) {
    const { client, server } = memoryPair();
    const chosen: string[] = [];
    tlsServer(server, { contextFor: (n) => { const c = book.lookup(n); chosen.push(c?.names.join(",") ?? "-"); return c; } }, (p) => p.setHandler({}));
    const cli = recorder();
    tlsClient(client, { servername, ca: ca.certPem }).setHandler(cli.handler);
    await settleTls();
    t.deepEqual(cli.seen.errors, [], servername);
    t.is(cli.seen.open, 1);
    t.deepEqual(chosen, [ca.names.join(",")]);
  }
  // Given the other certificate as its only trust anchor, the client refuses the one the server chose.
  const { client, server } = memoryPair();
  tlsServer(server, { contextFor: (n) => book.lookup(n) }, (p) => p.setHandler({}));
  const cli = recorder();
  tlsClient(client, { servername: "shop.example.com", ca: wild.certPem }).setHandler(cli.handler);
  await settleTls();
  t.is(cli.seen.open, 0);
  t.is(cli.seen.errors.length, 1);
  t.regex(cli.seen.errors[0]!, /^the server's certificate for shop\.example\.com was rejected: it is self-signed and not among the trusted certificates \(DEPTH_ZERO_SELF_SIGNED_CERT\)/);
});

test("a certificate for another name is refused by name; rejectUnauthorized false accepts it (curl -k)", async (t) => {
  const { client, server } = memoryPair();
  tlsServer(server, { contextFor: () => shop }, (p) => p.setHandler({}));
  const cli = recorder();
  tlsClient(client, { servername: "other.example.com", ca: shop.certPem }).setHandler(cli.handler);
  await settleTls();
  t.is(cli.seen.errors.length, 1);
  t.regex(cli.seen.errors[0]!, /was rejected: it is not for this host name \(Host: other\.example\.com\. is not in the cert's altnames: DNS:shop\.example\.com\)/);
  const p2 = memoryPair();
  tlsServer(p2.server, { contextFor: () => shop }, (p) => p.setHandler({}));
  const ok = recorder();
  tlsClient(p2.client, { servername: "other.example.com", rejectUnauthorized: false }).setHandler(ok.handler);
  await settleTls();
  t.deepEqual(ok.seen.errors, []);
  t.is(ok.seen.open, 1);
});

test("strict SNI: an unknown name gets a fatal unrecognized_name alert record on the wire, then FIN; no name gets handshake_failure", async (t) => {
  const { client, server, wire } = memoryPair();
  const srv = recorder();
  const stream = tlsServer(server, { contextFor: (n) => book.lookup(n) }, () => t.fail("no handshake should complete"));
  stream.setHandler(srv.handler);
  const cli = recorder();
  tlsClient(client, { servername: "nobody.example.org", ca: shop.certPem }).setHandler(cli.handler);
  await settleTls();
  t.deepEqual([...Buffer.concat(wire.ba)], [21, 3, 3, 0, 2, 2, 112], "one alert record: fatal, unrecognized_name");
  t.true(wire.baFin);
  t.deepEqual(srv.seen.errors, ['no certificate for the server name "nobody.example.org": refused with a unrecognized_name (112) alert']);
  t.deepEqual(cli.seen.errors, ["the server sent a TLS alert: unrecognized_name (112)"]);

  const p2 = memoryPair();
  const srv2 = recorder();
  tlsServer(p2.server, { contextFor: (n) => book.lookup(n) }, () => t.fail()).setHandler(srv2.handler);
  const cli2 = recorder();
  // An IP address as the name: checked against the certificate, never sent as SNI (RFC 6066 §3).
  tlsClient(p2.client, { servername: "10.96.0.20", ca: shop.certPem }).setHandler(cli2.handler);
  await settleTls();
  t.deepEqual([...Buffer.concat(p2.wire.ba)], [21, 3, 3, 0, 2, 2, 40]);
  t.deepEqual(srv2.seen.errors, ["the client sent no server name (SNI) and there is no default certificate: refused with a handshake_failure (40) alert"]);
  t.deepEqual(cli2.seen.errors, ["the server sent a TLS alert: handshake_failure (40)"]);
});

test("a default certificate serves clients without SNI; checked against an IP address SAN", async (t) => {
  const b = new CertificateBook(3);
  b.fallback = b.generate(["ingress.local", "10.96.0.20"]);
  const { client, server } = memoryPair();
  const names: Array<string | undefined> = [];
  tlsServer(server, { contextFor: (n) => (names.push(n), b.lookup(n)) }, (p) => p.setHandler({}));
  const cli = recorder();
  const plain = tlsClient(client, { servername: "10.96.0.20", ca: b.fallback.certPem });
  plain.setHandler(cli.handler);
  await settleTls();
  t.deepEqual(cli.seen.errors, []);
  t.deepEqual(names, [undefined]);
  t.is(plain.tls!.servername, undefined);
});

test("plain HTTP sent to the TLS port is refused without an alert; a broken ClientHello gets decode_error", async (t) => {
  const { client, server, wire } = memoryPair();
  const srv = recorder();
  tlsServer(server, { contextFor: () => shop }, () => t.fail()).setHandler(srv.handler);
  client.setHandler({});
  client.send(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: shop.example.com\r\n\r\n"));
  await settleTls();
  t.deepEqual(wire.ba, []);
  t.true(wire.baFin);
  t.deepEqual(srv.seen.errors, ["no TLS ClientHello: the client sent plain HTTP to a TLS port"]);

  const p2 = memoryPair();
  const srv2 = recorder();
  tlsServer(p2.server, { contextFor: () => shop }, () => t.fail()).setHandler(srv2.handler);
  p2.client.setHandler({});
  // A handshake record holding a ServerHello (type 2) where the ClientHello belongs.
  p2.client.send(Uint8Array.of(22, 3, 1, 0, 4, 2, 0, 0, 0));
  await settleTls();
  t.deepEqual([...Buffer.concat(p2.wire.ba)], [21, 3, 3, 0, 2, 2, 50]);
  t.deepEqual(srv2.seen.errors, ["malformed ClientHello: the first handshake message is type 2, not ClientHello (1): refused with a decode_error (50) alert"]);

  const p3 = memoryPair();
  const srv3 = recorder();
  tlsServer(p3.server, { contextFor: () => shop }, () => t.fail()).setHandler(srv3.handler);
  p3.client.setHandler({});
  p3.client.end();
  await settleTls();
  t.deepEqual(srv3.seen.errors, ["the client closed the connection without sending a ClientHello"]);
});

test("payloads of several records (300 KiB each way) arrive whole through 200-byte pieces (the ClientHello split too)", async (t) => {
  const { client, server, wire } = memoryPair(200);
  const up = new Uint8Array(300 * 1024).map((_, i) => (i * 7 + 3) & 0xff);
  const down = new Uint8Array(300 * 1024 + 17).map((_, i) => (i * 13 + 1) & 0xff);
  const srv = recorder();
  tlsServer(server, { contextFor: () => shop }, (p) => {
    p.setHandler({
      ...srv.handler,
      onData: (s, d) => {
        srv.handler.onData!(s, d);
        if (srv.bytes().length === up.length) s.send(down);
      },
    });
  });
  const cli = recorder();
  const plain = tlsClient(client, { servername: "shop.example.com", ca: shop.certPem });
  plain.setHandler(cli.handler);
  plain.send(up);
  await settleTls();
  t.deepEqual(cli.seen.errors, []);
  t.true(Buffer.from(up).equals(srv.bytes()), "upload intact");
  t.true(Buffer.from(down).equals(cli.bytes()), "download intact");
  // More ciphertext than plaintext: record headers and tags on at least 19 records of 16 KiB.
  const sent = wire.ab.reduce((n, c) => n + c.length, 0);
  t.true(sent > up.length + 19 * (5 + 16), `${sent} bytes of ciphertext for ${up.length} of plaintext`);
});

test("half-close: the client ends after its request; the server still answers, then ends; both see end and close", async (t) => {
  const { client, server, wire } = memoryPair();
  const srv = recorder();
  tlsServer(server, { contextFor: () => shop }, (p) => {
    p.setHandler({
      ...srv.handler,
      onEnd: (s) => {
        srv.handler.onEnd!(s);
        // The request is complete only now: answer after the client's close_notify.
        s.send(new TextEncoder().encode(`you sent ${srv.bytes().length} bytes`));
        s.end();
      },
    });
  });
  const cli = recorder();
  const plain = tlsClient(client, { servername: "shop.example.com", ca: shop.certPem });
  plain.setHandler(cli.handler);
  plain.send(new TextEncoder().encode("hello, then nothing more"));
  plain.end();
  await settleTls();
  t.deepEqual([cli.seen.errors, srv.seen.errors], [[], []]);
  t.is(srv.text(), "hello, then nothing more");
  t.is(srv.seen.end, 1);
  t.is(cli.text(), "you sent 24 bytes");
  t.is(cli.seen.end, 1);
  t.is(cli.seen.close, 1);
  t.is(srv.seen.close, 1);
  t.true(wire.abFin && wire.baFin, "FIN both ways after close_notify");
});

test("TLS 1.2 when asked: the key log holds a CLIENT_RANDOM line", async (t) => {
  const { client, server } = memoryPair();
  const log = new TlsKeyLog();
  tlsServer(server, { contextFor: () => shop, maxVersion: "TLSv1.2", keylog: log.sink }, (p) => p.setHandler({}));
  const cli = recorder();
  const plain = tlsClient(client, { servername: "shop.example.com", ca: shop.certPem, maxVersion: "TLSv1.2", keylog: log.sink });
  plain.setHandler(cli.handler);
  await settleTls();
  t.deepEqual(cli.seen.errors, []);
  t.is(plain.tls!.protocol, "TLSv1.2");
  t.is(log.lines.length, 1);
  t.regex(log.lines[0]!, /^CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}$/);
});

test("the server's peer resetting the connection mid-handshake reaches onError; nothing is sent afterwards", async (t) => {
  const { client, server, wire } = memoryPair();
  const srv = recorder();
  let inner: StreamHandler | null = null;
  // Catch the server's inner handler so the test can play the TCP layer's reset.
  const spy: ByteStream = { ...server, setHandler: (h) => { inner = h; server.setHandler(h); } };
  tlsServer(spy, { contextFor: () => shop }, () => t.fail()).setHandler(srv.handler);
  client.setHandler({});
  inner!.onError!(spy, "connection reset");
  await settleTls();
  t.deepEqual(srv.seen.errors, ["connection reset during the TLS handshake"]);
  t.deepEqual(wire.ba, []);
});

test("the key log file: written whole through a temporary file; a bad path is an error naming the option", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-keylog-"));
  try {
    const log = new TlsKeyLog();
    log.sink("CLIENT_RANDOM aa bb\n");
    log.sink("CLIENT_RANDOM aa bb");
    log.sink("\n");
    const path = join(dir, "keys.log");
    log.write(path);
    t.is(readFileSync(path, "utf8"), "# SSL/TLS secrets log file, generated by podwire\nCLIENT_RANDOM aa bb\n");
    t.deepEqual(readdirSync(dir), ["keys.log"], "no temporary file left behind");
    const err = t.throws(() => log.write(join(dir, "missing", "keys.log")), { instanceOf: PodwireError });
    t.regex(err!.detail, /^--keylog: the directory .*missing for .* does not exist$/);
    const dirErr = t.throws(() => log.write(dir, "--tls-keylog"), { instanceOf: PodwireError });
    t.regex(dirErr!.detail, /^--tls-keylog: .* is a directory$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
