/**
 * TLS over a ByteStream (podwire's TCP, or anything else with the interface), with Node's own
 * `tls` module doing the protocol: real records, real handshakes, real secrets.
 *
 *   tlsServer(inner, { contextFor, keylog?, alpn?, minVersion?, maxVersion? }, onSecure) → TlsStream
 *     Reads the ClientHello's server_name itself (tls-hello.ts), asks `contextFor(name)` for a
 *     certificate (name undefined when the client sent none) and hands the connection to a
 *     server-side TLSSocket with that certificate. `contextFor` returning undefined refuses
 *     the handshake with a fatal alert on the wire — unrecognized_name (112, RFC 6066 §3),
 *     or handshake_failure (40) when there was no name — then FIN. Bytes that are not a
 *     ClientHello are refused (decode_error alert when malformed; plain HTTP just gets FIN).
 *     `onSecure(plain, servername)` is called once the handshake is done.
 *   tlsClient(inner, { servername, ca?, rejectUnauthorized?, keylog?, alpn?, ... }) → TlsStream
 *     Starts the handshake as soon as `inner` is open (at once if it already is). The
 *     certificate is checked against `ca` (PEMs; default Node's root store) and `servername`
 *     unless rejectUnauthorized is false. An IP address as servername is checked against the
 *     certificate's IP entries and sends no SNI (RFC 6066 §3 allows only host names).
 *
 * The returned TlsStream is the plaintext side: the same ByteStream interface (onOpen when the
 * handshake is done; send/end before that are queued), plus `tls` describing the session.
 * Failures — an alert from the peer, a certificate that does not verify, a reset — reach the
 * handler's onError with one line saying what happened. `end()` sends close_notify and then
 * FIN; a peer's close_notify (or FIN) is onEnd; the other direction stays open (half-close).
 * `keylog(line)` receives each secret line (tls-keylog.ts collects them for Wireshark).
 *
 * Timing: Node produces TLS output asynchronously. Over a stream with a simulator (`inner.sim`)
 * the output is sent APP_RESPONSE_NS after the virtual instant the input that caused it
 * arrived, like any podwire application's answer, and the simulator must be driven by
 * `runUntilSettled(sim, { untilNs })` (tls-pump.ts) instead of `sim.run()`: plain `run()`
 * would carry on without waiting for TLS. Streams without a simulator send at once;
 * `await settleTls()` waits for their exchanges.
 *
 * Reproducibility: with the pump, the same run gives the same frames at the same instants and
 * of the same sizes; only the bytes TLS draws at random (randoms, key shares, tickets, and so
 * every ciphertext) differ, as OpenSSL cannot be seeded. Generated certificates (tls-cert.ts)
 * are derived from the run's seed; Ed25519 ones are identical run to run.
 *
 * Around it: tls-cert.ts builds self-signed certificates (tls-der.ts the DER), tls-certificates.ts
 * chooses one by SNI, tls-secret.ts reads kubernetes.io/tls Secrets, tls-keylog.ts writes the
 * SSLKEYLOGFILE, tls-hello.ts reads ClientHellos and writes alerts, tls-pump.ts drives the clock.
 */
import { constants as tlsConstants } from "node:crypto";
import { Duplex } from "node:stream";
import { type SecureContext, type SecureVersion, TLSSocket, connect, createSecureContext } from "node:tls";
import { parseIpv4 } from "../base/index.js";
import { APP_RESPONSE_NS } from "../netdev/index.js";
import type { Simulator } from "../netdev/simulator.js";
import type { ByteStream, StreamHandler } from "./stream.js";
import type { TlsCredential } from "./tls-cert.js";
import { ALERT_DECODE_ERROR, ALERT_HANDSHAKE_FAILURE, ALERT_UNRECOGNIZED_NAME, MAX_CLIENT_HELLO, alertName, fatalAlertRecord, peekClientHello } from "./tls-hello.js";
import { noteTlsActivity, noteTlsWork } from "./tls-pump.js";

export { runUntilSettled, settleTls } from "./tls-pump.js";
export { type CertKeyType, type TlsCredential, selfSignedCertificate } from "./tls-cert.js";
export { CertificateBook } from "./tls-certificates.js";
export { TlsKeyLog } from "./tls-keylog.js";
export { tlsCredentialFromSecret } from "./tls-secret.js";
export { peekClientHello } from "./tls-hello.js";

/** What the handshake settled, once it is done. */
export interface TlsSessionInfo {
  /** The server name the client sent (SNI); undefined when it sent none. */
  servername: string | undefined;
  /** `TLSv1.3`, `TLSv1.2`. */
  protocol: string;
  /** The cipher suite's IANA name, e.g. TLS_AES_256_GCM_SHA384. */
  cipher: string;
  /** The application protocol ALPN agreed on (RFC 7301), or null. */
  alpn: string | null;
  /**
   * The certificate used: on the server, the credential `contextFor` chose (its names and
   * source, e.g. `Secret shop/shop-tls`); on the client, the names of the one the server sent.
   */
  certificate: { names: string[]; source: string };
}

export interface TlsStream extends ByteStream {
  /** Null until the handshake is done. */
  readonly tls: TlsSessionInfo | null;
}

interface VersionOptions {
  minVersion?: SecureVersion;
  maxVersion?: SecureVersion;
}

export interface TlsServerOptions extends VersionOptions {
  /** The certificate for the name the client asked for (undefined: it sent no SNI); undefined refuses the handshake with an alert. */
  contextFor(servername: string | undefined): TlsCredential | undefined;
  /** Receives each SSLKEYLOGFILE line of the connection's secrets. */
  keylog?(line: string): void;
  /** Application protocols the server accepts, in preference order (ALPN), e.g. ["http/1.1"]. */
  alpn?: string[];
}

export interface TlsClientOptions extends VersionOptions {
  /** The host name sent as SNI and checked against the certificate (an IPv4 address: checked, not sent). */
  servername: string;
  /** Certificates (PEM) to trust; default Node's bundled root CAs. */
  ca?: string | string[];
  /** Default true: a certificate that does not verify fails the connection (curl without -k). */
  rejectUnauthorized?: boolean;
  keylog?(line: string): void;
  /** Application protocols to offer (ALPN), e.g. ["http/1.1"]. */
  alpn?: string[];
}

// ---------------------------------------------------------------------------------------------
// The plaintext side

/** The application's view of a TLS connection: a ByteStream fed by the TLSSocket. */
class PlainStream implements TlsStream {
  tls: TlsSessionInfo | null = null;
  private handler: StreamHandler = {};
  private readonly pending: Uint8Array[] = [];
  private opened = false;
  private ended = false;
  private closed = false;
  private failure: string | null = null;
  /** The TLSSocket once there is one; writes wait in `queued` until the handshake is done. */
  socket: TLSSocket | null = null;
  private readonly queued: Uint8Array[] = [];
  private endQueued = false;

  constructor(private readonly inner: ByteStream) {}

  get localIp(): number {
    return this.inner.localIp;
  }
  get localPort(): number {
    return this.inner.localPort;
  }
  get remoteIp(): number {
    return this.inner.remoteIp;
  }
  get remotePort(): number {
    return this.inner.remotePort;
  }
  get sim(): Simulator | undefined {
    return this.inner.sim;
  }

  setHandler(h: StreamHandler): void {
    this.handler = h;
    if (this.opened) h.onOpen?.(this);
    for (const chunk of this.pending.splice(0)) h.onData?.(this, chunk);
    if (this.ended) h.onEnd?.(this);
    if (this.failure !== null) h.onError?.(this, this.failure);
    else if (this.closed) h.onClose?.(this);
  }

  send(data: Uint8Array): void {
    if (this.failure !== null || this.closed) return;
    if (data.length === 0) return;
    if (!this.opened || this.socket === null) {
      this.queued.push(data.slice());
      return;
    }
    noteTlsWork(this.sim);
    this.socket.write(data);
  }

  end(): void {
    if (this.failure !== null || this.closed) return;
    if (!this.opened || this.socket === null) {
      this.endQueued = true;
      return;
    }
    noteTlsWork(this.sim);
    this.socket.end();
  }

  /** The handshake is done: send what the application wrote meanwhile (first, keeping its order), then tell it. */
  secure(info: TlsSessionInfo): void {
    this.tls = info;
    this.opened = true;
    for (const chunk of this.queued.splice(0)) this.send(chunk);
    this.handler.onOpen?.(this);
    if (this.endQueued) this.end();
  }

  data(chunk: Uint8Array): void {
    if (this.handler.onData) this.handler.onData(this, chunk);
    else this.pending.push(chunk);
  }

  peerEnded(): void {
    if (this.ended || this.failure !== null) return;
    this.ended = true;
    this.handler.onEnd?.(this);
  }

  close(): void {
    if (this.closed || this.failure !== null) return;
    this.closed = true;
    this.handler.onClose?.(this);
  }

  fail(reason: string): void {
    if (this.failure !== null || this.closed) return;
    this.failure = reason;
    this.handler.onError?.(this, reason);
  }
}

// ---------------------------------------------------------------------------------------------
// The ciphertext side: a Duplex the TLSSocket reads and writes, bridged to the inner stream

class CipherPipe {
  readonly duplex: Duplex;
  private readonly out: Uint8Array[] = [];
  private outEnd = false;
  private endSent = false;
  private flushScheduled = false;
  private inputEnded = false;
  /** The inner stream failed (reset, timeout): nothing more can be sent on it. */
  innerDead = false;

  constructor(private readonly inner: ByteStream) {
    this.duplex = new Duplex({
      allowHalfOpen: true,
      read() {},
      write: (chunk: Buffer, _enc, cb) => {
        this.out.push(new Uint8Array(chunk));
        this.flushLater();
        cb();
      },
      final: (cb) => {
        this.finish();
        cb();
      },
      destroy: (err, cb) => {
        // A TLS failure ends the connection as OpenSSL applications do: whatever alert was
        // written goes out, then FIN.
        this.finish();
        cb(err);
      },
    });
  }

  /** Ciphertext from the peer. */
  feed(data: Uint8Array): void {
    if (this.inputEnded) return;
    noteTlsWork(this.inner.sim);
    this.duplex.push(data);
  }

  /** The peer's FIN (or the stream's end). */
  feedEnd(): void {
    if (this.inputEnded) return;
    this.inputEnded = true;
    noteTlsWork(this.inner.sim);
    this.duplex.push(null);
  }

  /** Sends `bytes` and then FIN, bypassing TLS (an alert written before any TLSSocket exists). */
  refuse(bytes: Uint8Array | null): void {
    if (bytes !== null) this.out.push(bytes);
    this.finish();
  }

  private finish(): void {
    if (this.outEnd) return;
    this.outEnd = true;
    this.flushLater();
  }

  private flushLater(): void {
    noteTlsActivity();
    const sim = this.inner.sim;
    if (sim === undefined) {
      this.flush();
      return;
    }
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Like any podwire application's answer, TLS's leaves APP_RESPONSE_NS after the input that caused it.
    sim.schedule(APP_RESPONSE_NS, { fire: () => this.flush() });
  }

  /** Hands everything written so far to the inner stream in one send (as OpenSSL's buffered BIO does a flight), then FIN if due. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.innerDead) {
      this.out.length = 0;
      return;
    }
    if (this.out.length > 0) {
      const chunks = this.out.splice(0);
      const bytes = chunks.length === 1 ? chunks[0]! : joinChunks(chunks);
      try {
        this.inner.send(bytes);
      } catch {
        // The connection closed under us (an RST crossed our answer): the bytes have nowhere to go.
        this.innerDead = true;
        return;
      }
    }
    if (this.outEnd && !this.endSent) {
      this.endSent = true;
      this.inner.end();
    }
  }
}

function joinChunks(chunks: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const c of chunks) len += c.length;
  const out = new Uint8Array(len);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Wiring a TLSSocket to both sides

const contexts = new WeakMap<TlsCredential, Map<string, SecureContext>>();

function secureContextFor(cred: TlsCredential, v: VersionOptions): SecureContext {
  let byVersion = contexts.get(cred);
  if (byVersion === undefined) contexts.set(cred, (byVersion = new Map()));
  const key = `${v.minVersion ?? ""}-${v.maxVersion ?? ""}`;
  let ctx = byVersion.get(key);
  if (ctx === undefined) {
    // SSL_OP_NO_TICKET: stateful session tickets (a fixed-size session ID), not stateless
    // ones, whose encrypted session state changes length with the random bytes in it (one
    // AES block, 16 bytes, in some runs): the same run then gives frames of the same sizes.
    ctx = createSecureContext({ cert: cred.certPem, key: cred.keyPem, secureOptions: tlsConstants.SSL_OP_NO_TICKET, ...versions(v) });
    byVersion.set(key, ctx);
  }
  return ctx;
}

function versions(v: VersionOptions): VersionOptions {
  const out: VersionOptions = {};
  if (v.minVersion !== undefined) out.minVersion = v.minVersion;
  if (v.maxVersion !== undefined) out.maxVersion = v.maxVersion;
  return out;
}

function sessionInfo(socket: TLSSocket, servername: string | undefined, certificate: TlsSessionInfo["certificate"]): TlsSessionInfo {
  const cipher = socket.getCipher() as { standardName?: string; name: string } | undefined;
  return {
    servername,
    protocol: socket.getProtocol() ?? "unknown",
    cipher: cipher?.standardName ?? cipher?.name ?? "unknown",
    alpn: typeof socket.alpnProtocol === "string" ? socket.alpnProtocol : null,
    certificate,
  };
}

/** The subjectAltName entries of the certificate the server sent (`DNS:a, IP Address:b`). */
function peerCertificateNames(socket: TLSSocket): string[] {
  const san = socket.getPeerCertificate()?.subjectaltname ?? "";
  return san
    .split(", ")
    .map((e) => /^(?:DNS|IP Address):(.*)$/.exec(e)?.[1])
    .filter((n): n is string => n !== undefined);
}

/** The events every TLSSocket reports to its plaintext side. */
function wire(socket: TLSSocket, plain: PlainStream, pipe: CipherPipe, peer: "client" | "server", keylog: ((line: string) => void) | undefined, servername: string | undefined): void {
  plain.socket = socket;
  socket.on("data", (chunk: Buffer) => {
    noteTlsActivity();
    plain.data(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
  });
  socket.on("end", () => {
    noteTlsActivity();
    plain.peerEnded();
  });
  socket.on("error", (err: Error) => {
    noteTlsActivity();
    plain.fail(describeTlsError(err, peer, servername));
  });
  socket.on("close", () => {
    noteTlsActivity();
    if (!pipe.innerDead) plain.close();
  });
  if (keylog !== undefined) {
    socket.on("keylog", (line: Buffer) => {
      noteTlsActivity();
      keylog(line.toString("latin1"));
    });
  }
}

/** What the inner stream's events do once TLS runs over it. */
function innerHandler(plain: PlainStream, pipe: CipherPipe, onData: (data: Uint8Array) => void, onEnd: () => void): StreamHandler {
  return {
    onData: (_s, data) => onData(data),
    onEnd: () => onEnd(),
    onError: (_s, reason) => {
      pipe.innerDead = true;
      plain.fail(plain.tls === null ? `${reason} during the TLS handshake` : reason);
      noteTlsWork(plain.sim);
      plain.socket?.destroy();
    },
    onClose: () => {
      // Both TCP directions are done: whatever TLS still waits for will not come.
      onEnd();
    },
  };
}

export function tlsServer(inner: ByteStream, opts: TlsServerOptions, onSecure: (plain: TlsStream, servername: string | undefined) => void): TlsStream {
  const plain = new PlainStream(inner);
  const pipe = new CipherPipe(inner);
  let hello: Uint8Array = new Uint8Array(0);
  let phase: "hello" | "tls" | "refused" = "hello";
  const refuse = (reason: string, alert: number | null): void => {
    phase = "refused";
    pipe.refuse(alert === null ? null : fatalAlertRecord(alert));
    plain.fail(alert === null ? reason : `${reason}: refused with a ${alertName(alert)} alert`);
  };
  const onData = (data: Uint8Array): void => {
    if (phase === "tls") {
      pipe.feed(data);
      return;
    }
    if (phase === "refused") return;
    hello = joinChunks([hello, data]);
    const peek = peekClientHello(hello);
    if (peek.kind === "need-more") {
      if (hello.length > MAX_CLIENT_HELLO + 1024) refuse("the ClientHello never ended", ALERT_DECODE_ERROR);
      return;
    }
    if (peek.kind === "not-tls") return refuse(`no TLS ClientHello: ${peek.reason}`, null);
    if (peek.kind === "malformed") return refuse(`malformed ClientHello: ${peek.reason}`, ALERT_DECODE_ERROR);
    const servername = peek.servername;
    const cred = opts.contextFor(servername);
    if (cred === undefined) {
      return servername === undefined
        ? refuse("the client sent no server name (SNI) and there is no default certificate", ALERT_HANDSHAKE_FAILURE)
        : refuse(`no certificate for the server name ${JSON.stringify(servername)}`, ALERT_UNRECOGNIZED_NAME);
    }
    phase = "tls";
    const socket = new TLSSocket(pipe.duplex, {
      isServer: true,
      secureContext: secureContextFor(cred, opts),
      ...(opts.alpn !== undefined ? { ALPNProtocols: opts.alpn } : {}),
    });
    wire(socket, plain, pipe, "client", opts.keylog, servername);
    socket.on("secure", () => {
      noteTlsActivity();
      plain.secure(sessionInfo(socket, servername, { names: cred.names, source: cred.source }));
      onSecure(plain, servername);
    });
    pipe.feed(hello);
  };
  const onEnd = (): void => {
    if (phase === "hello") {
      refuse(hello.length === 0 ? "the client closed the connection without sending a ClientHello" : "the client closed the connection in the middle of its ClientHello", null);
      return;
    }
    if (phase === "tls") pipe.feedEnd();
  };
  inner.setHandler(innerHandler(plain, pipe, onData, onEnd));
  return plain;
}

export function tlsClient(inner: ByteStream, opts: TlsClientOptions): TlsStream {
  const plain = new PlainStream(inner);
  const pipe = new CipherPipe(inner);
  const isIp = parseIpv4(opts.servername) >= 0;
  let started = false;
  const start = (): void => {
    if (started) return;
    started = true;
    noteTlsWork(inner.sim);
    const socket = connect({
      socket: pipe.duplex,
      // RFC 6066 §3: "Literal IPv4 and IPv6 addresses are not permitted in HostName"; `host` is what the certificate is checked against then.
      ...(isIp ? { host: opts.servername } : { servername: opts.servername }),
      ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
      rejectUnauthorized: opts.rejectUnauthorized ?? true,
      ...(opts.alpn !== undefined ? { ALPNProtocols: opts.alpn } : {}),
      ...versions(opts),
    });
    wire(socket, plain, pipe, "server", opts.keylog, isIp ? undefined : opts.servername);
    socket.on("secureConnect", () => {
      noteTlsActivity();
      plain.secure(sessionInfo(socket, isIp ? undefined : opts.servername, { names: peerCertificateNames(socket), source: "sent by the server" }));
    });
  };
  const handler = innerHandler(
    plain,
    pipe,
    (data) => pipe.feed(data),
    () => {
      if (!started) plain.fail("the connection closed before the TLS handshake began");
      else pipe.feedEnd();
    },
  );
  inner.setHandler({ ...handler, onOpen: () => start() });
  return plain;
}

// ---------------------------------------------------------------------------------------------
// Errors in one line

/** OpenSSL's certificate verification results Node reports as error codes (x509_vfy.h). */
const UNTRUSTED: Readonly<Record<string, string>> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: "it is self-signed and not among the trusted certificates",
  SELF_SIGNED_CERT_IN_CHAIN: "its chain ends in a self-signed certificate that is not trusted",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "its issuer is not among the trusted certificates",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "its issuer is not among the trusted certificates",
  CERT_HAS_EXPIRED: "it has expired",
  CERT_NOT_YET_VALID: "it is not valid yet",
  ERR_TLS_CERT_ALTNAME_INVALID: "it is not for this host name",
};

/** One line for a TLSSocket error: an alert the peer sent, a certificate that did not verify, or what OpenSSL said. */
export function describeTlsError(err: Error & { code?: string; reason?: string }, peer: "client" | "server", servername?: string): string {
  const alert = /alert number (\d+)/.exec(err.message);
  if (alert !== null) return `the ${peer} sent a TLS alert: ${alertName(Number(alert[1]))}`;
  const code = err.code ?? "";
  const why = UNTRUSTED[code];
  if (why !== undefined) {
    const detail = code === "ERR_TLS_CERT_ALTNAME_INVALID" ? (err.reason ?? err.message) : code;
    return `the server's certificate${servername ? ` for ${servername}` : ""} was rejected: ${why} (${detail}); trust it with the client's ca option, or turn verification off (rejectUnauthorized: false, curl -k)`;
  }
  if (code === "ECONNRESET" || /socket disconnected/i.test(err.message)) return `the ${peer} closed the connection during the TLS handshake`;
  return `TLS failed: ${err.reason ?? err.message.split("\n")[0]}${code ? ` (${code})` : ""}`;
}
