/**
 * The server's first look at a TLS connection: the ClientHello's server_name (SNI, RFC 6066
 * §3) read from the raw records before any TLS library sees them, so the certificate can be
 * chosen — or the handshake refused with a real alert record on the wire — and so routing
 * can know the name. Also the alert record itself (RFC 8446 §5.1, §6) and alert names.
 * TLS record and handshake fields are read at their offsets here, not through src/wire: they
 * live in a TCP byte stream, not a packet, and this file is their only reader.
 */

export type HelloPeek =
  | { kind: "need-more" }
  | { kind: "hello"; servername: string | undefined }
  | { kind: "not-tls"; reason: string }
  | { kind: "malformed"; reason: string };

const CONTENT_HANDSHAKE = 22;
const CONTENT_ALERT = 21;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const SNI_HOST_NAME = 0;
/** A ClientHello bigger than this is refused (OpenSSL's limit for it is 128 KiB; real ones are under 2 KiB). */
export const MAX_CLIENT_HELLO = 64 * 1024;

/**
 * Reads the ClientHello from the first bytes of a connection: the handshake message may span
 * several records and TCP segments, so `need-more` until it is whole.
 */
export function peekClientHello(bytes: Uint8Array): HelloPeek {
  if (bytes.length === 0) return { kind: "need-more" };
  if (bytes[0] !== CONTENT_HANDSHAKE) return { kind: "not-tls", reason: notTlsReason(bytes) };
  // Reassemble the handshake fragments of consecutive handshake records.
  const parts: Uint8Array[] = [];
  let have = 0;
  let need = -1;
  let at = 0;
  while (need < 0 || have < need) {
    if (at + 5 > bytes.length) return { kind: "need-more" };
    if (bytes[at] !== CONTENT_HANDSHAKE) return { kind: "malformed", reason: `record type ${bytes[at]} inside the ClientHello (expected handshake, 22)` };
    if (bytes[at + 1] !== 3) return { kind: "not-tls", reason: `record version ${bytes[at + 1]}.${bytes[at + 2]} is not TLS (3.x)` };
    const len = (bytes[at + 3]! << 8) | bytes[at + 4]!;
    if (len === 0 || len > 16384) return { kind: "malformed", reason: `record length ${len} (must be 1 to 16384, RFC 8446 §5.1)` };
    if (at + 5 + len > bytes.length) return { kind: "need-more" };
    parts.push(bytes.subarray(at + 5, at + 5 + len));
    have += len;
    at += 5 + len;
    if (need < 0 && have >= 4) {
      const first = joined(parts, 4);
      if (first[0] !== HANDSHAKE_CLIENT_HELLO) return { kind: "malformed", reason: `the first handshake message is type ${first[0]}, not ClientHello (1)` };
      need = 4 + ((first[1]! << 16) | (first[2]! << 8) | first[3]!);
      if (need > MAX_CLIENT_HELLO) return { kind: "malformed", reason: `a ClientHello of ${need} bytes (more than ${MAX_CLIENT_HELLO})` };
    }
  }
  return readHello(joined(parts, need).subarray(4));
}

function joined(parts: Uint8Array[], len: number): Uint8Array {
  const out = new Uint8Array(len);
  let at = 0;
  for (const p of parts) {
    const n = Math.min(p.length, len - at);
    out.set(p.subarray(0, n), at);
    at += n;
    if (at === len) break;
  }
  return out;
}

/** The ClientHello body (RFC 8446 §4.1.2): version, random, session id, suites, compression, extensions. */
function readHello(b: Uint8Array): HelloPeek {
  const bad = (what: string): HelloPeek => ({ kind: "malformed", reason: `ClientHello ${what}` });
  let at = 2 + 32;
  if (at + 1 > b.length) return bad("truncated before the session id");
  at += 1 + b[at]!;
  if (at + 2 > b.length) return bad("truncated before the cipher suites");
  at += 2 + ((b[at]! << 8) | b[at + 1]!);
  if (at + 1 > b.length) return bad("truncated before the compression methods");
  at += 1 + b[at]!;
  if (at === b.length) return { kind: "hello", servername: undefined }; // no extensions at all (SSL 3-style)
  if (at + 2 > b.length) return bad("truncated before the extensions");
  const end = at + 2 + ((b[at]! << 8) | b[at + 1]!);
  if (end > b.length) return bad("extensions run past its end");
  at += 2;
  while (at + 4 <= end) {
    const type = (b[at]! << 8) | b[at + 1]!;
    const len = (b[at + 2]! << 8) | b[at + 3]!;
    const data = at + 4;
    if (data + len > end) return bad(`extension ${type} runs past the extensions`);
    if (type === EXT_SERVER_NAME) return readServerName(b.subarray(data, data + len));
    at = data + len;
  }
  return { kind: "hello", servername: undefined };
}

/** server_name (RFC 6066 §3): a list holding at most one host_name, ASCII, without a trailing dot. */
function readServerName(e: Uint8Array): HelloPeek {
  if (e.length < 2) return { kind: "malformed", reason: "ClientHello server_name extension is empty" };
  const listEnd = 2 + ((e[0]! << 8) | e[1]!);
  if (listEnd > e.length) return { kind: "malformed", reason: "ClientHello server_name list runs past the extension" };
  let at = 2;
  while (at + 3 <= listEnd) {
    const type = e[at]!;
    const len = (e[at + 1]! << 8) | e[at + 2]!;
    if (at + 3 + len > listEnd) return { kind: "malformed", reason: "ClientHello server_name entry runs past the list" };
    if (type === SNI_HOST_NAME) {
      const name = e.subarray(at + 3, at + 3 + len);
      if (name.length === 0 || name.some((c) => c < 0x21 || c > 0x7e)) return { kind: "malformed", reason: "ClientHello host_name is empty or not printable ASCII" };
      return { kind: "hello", servername: String.fromCharCode(...name).toLowerCase() };
    }
    at += 3 + len;
  }
  return { kind: "hello", servername: undefined };
}

function notTlsReason(bytes: Uint8Array): string {
  const head = String.fromCharCode(...bytes.subarray(0, Math.min(bytes.length, 8)));
  if (/^(GET|POST|PUT|HEAD|DELETE|OPTIONS|PATCH|CONNECT|PRI) /.test(head) || /^[A-Z]{3,7} \//.test(head)) return "the client sent plain HTTP to a TLS port";
  return `the first byte 0x${bytes[0]!.toString(16).padStart(2, "0")} is not a TLS handshake record (0x16)`;
}

/** Alert descriptions (RFC 8446 §6, RFC 6066 §3 for unrecognized_name). */
export const ALERTS: Readonly<Record<number, string>> = {
  0: "close_notify",
  10: "unexpected_message",
  20: "bad_record_mac",
  22: "record_overflow",
  40: "handshake_failure",
  42: "bad_certificate",
  43: "unsupported_certificate",
  44: "certificate_revoked",
  45: "certificate_expired",
  46: "certificate_unknown",
  47: "illegal_parameter",
  48: "unknown_ca",
  49: "access_denied",
  50: "decode_error",
  51: "decrypt_error",
  70: "protocol_version",
  71: "insufficient_security",
  80: "internal_error",
  86: "inappropriate_fallback",
  90: "user_canceled",
  109: "missing_extension",
  110: "unsupported_extension",
  112: "unrecognized_name",
  113: "bad_certificate_status_response",
  115: "unknown_psk_identity",
  116: "certificate_required",
  120: "no_application_protocol",
};

export const ALERT_HANDSHAKE_FAILURE = 40;
export const ALERT_DECODE_ERROR = 50;
export const ALERT_UNRECOGNIZED_NAME = 112;

export function alertName(description: number): string {
  return `${ALERTS[description] ?? "unknown alert"} (${description})`;
}

/**
 * A fatal alert as a plaintext record, as a server sends it before any keys exist (RFC 8446
 * §5.1, §6.2: AlertLevel fatal = 2): record version 3.3 as TLS 1.3's legacy_record_version.
 */
export function fatalAlertRecord(description: number): Uint8Array {
  return Uint8Array.of(CONTENT_ALERT, 3, 3, 0, 2, 2, description);
}
