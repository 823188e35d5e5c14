/**
 * A controller's TLS: the certificates it serves, chosen by SNI, and the wrapping of an
 * accepted connection in TLS (l7/tls.ts) before the proxy sees it.
 *
 * - Ingress `spec.tls[]`: the hosts listed get the certificate of the Secret `secretName`
 *   (a `kubernetes.io/tls` Secret in the Ingress's namespace). A missing Secret or no
 *   secretName: ingress-nginx would serve its "Fake Certificate"; podwire generates a
 *   self-signed certificate for those hosts for the run instead (and says so), so clients
 *   can still check the name.
 * - Gateway HTTPS listeners: the first certificateRef's Secret (another namespace needs a
 *   ReferenceGrant there) for the listener's hostname; missing: generated likewise.
 * - A name nothing covers, or no SNI: the controller's default certificate (ingress-nginx's
 *   is for `ingress.local`), generated per run.
 *
 * Generated certificates come from the run's seed (tls-cert.ts): same seed, same certificate.
 */
import type { Gateway, Ingress, L7Objects, ReferenceGrant, TlsSecret } from "../l7/objects.js";
import type { ByteStream, StreamHandler } from "../l7/stream.js";
import { CertificateBook } from "../l7/tls-certificates.js";
import { type TlsStream, tlsServer } from "../l7/tls.js";

export interface L7Certificates {
  book: CertificateBook;
  notes: string[];
  /** Wraps an accepted connection in TLS; `onPlain` gets the decrypted stream once the handshake is done. */
  serve(stream: ByteStream, onPlain: (plain: TlsStream) => void): void;
}

export function l7Certificates(seed: number, ingresses: readonly Ingress[], gateways: readonly Gateway[], objects: L7Objects, keylog?: (line: string) => void): L7Certificates {
  const book = new CertificateBook(seed);
  const notes: string[] = [];
  const secret = (ns: string, name: string): TlsSecret | undefined => objects.tlsSecrets.find((s) => s.namespace === ns && s.name === name);
  for (const ing of ingresses) {
    for (const t of ing.tls) {
      const hosts = t.hosts.length > 0 ? t.hosts : ing.rules.map((r) => r.host).filter((h) => h !== "");
      if (hosts.length === 0) continue;
      const s = t.secretName === null ? undefined : secret(ing.namespace, t.secretName);
      if (s !== undefined) {
        book.add(s.credential, hosts);
        continue;
      }
      book.generate(hosts);
      notes.push(
        t.secretName === null
          ? `Ingress ${ing.namespace}/${ing.name}: tls for ${hosts.join(", ")} names no secretName: a self-signed certificate was generated for the run`
          : `Ingress ${ing.namespace}/${ing.name}: Secret ${ing.namespace}/${t.secretName} is not in the file: a self-signed certificate for ${hosts.join(", ")} was generated for the run`,
      );
    }
  }
  for (const gw of gateways) {
    for (const l of gw.listeners) {
      if (l.protocol !== "HTTPS" || l.tls === null || l.tls.mode !== "Terminate") continue;
      const ref = l.tls.certificateRefs[0];
      const names = l.hostname !== null ? [l.hostname] : [];
      const s = ref === undefined || ref.group !== "" || ref.kind !== "Secret" ? undefined : secret(ref.namespace, ref.name);
      const allowed = s !== undefined && (ref!.namespace === gw.namespace || secretGranted(objects.referenceGrants, gw, ref!.namespace, ref!.name));
      if (s !== undefined && allowed) {
        book.add(s.credential, names.length > 0 ? names : s.credential.names);
        continue;
      }
      const why = s !== undefined ? `Secret ${ref!.namespace}/${ref!.name} is in another namespace and no ReferenceGrant allows it` : ref === undefined ? "no certificateRef" : `Secret ${ref.namespace}/${ref.name} is not in the file`;
      if (names.length > 0) book.generate(names);
      notes.push(`Gateway ${gw.namespace}/${gw.name} listener ${l.name}: ${why}: ${names.length > 0 ? `a self-signed certificate for ${names.join(", ")} was generated for the run` : "requests get the default certificate"}`);
    }
  }
  book.fallback = book.generate(["ingress.local"]);
  return {
    book,
    notes,
    serve(stream, onPlain) {
      // nginx answers plain HTTP on its TLS port with a 400 (ngx_http_request.c, NGX_HTTP_TO_HTTPS).
      const first = (data: Uint8Array): void => {
        if (data.length > 0 && data[0] !== TLS_HANDSHAKE_RECORD && /^[A-Z]+ /.test(new TextDecoder("latin1").decode(data.subarray(0, 8)))) {
          stream.send(PLAIN_HTTP_TO_HTTPS);
          stream.end();
          return;
        }
        tlsServer(replaying(stream, data), { contextFor: (name) => book.lookup(name), alpn: ["http/1.1"], ...(keylog ? { keylog } : {}) }, (plain) => onPlain(plain));
      };
      stream.setHandler({ onData: (_s, data) => first(data), onEnd: () => stream.end() });
    },
  };
}

/** The first byte of a TLS record carrying a handshake message (a ClientHello). */
const TLS_HANDSHAKE_RECORD = 0x16;

const PLAIN_HTTP_TO_HTTPS = ((): Uint8Array => {
  const body =
    "<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n" +
    "<center>The plain HTTP request was sent to HTTPS port</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
  return new TextEncoder().encode(`HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
})();

/** `inner` with `first` handed to the next handler before anything else arrives. */
function replaying(inner: ByteStream, first: Uint8Array): ByteStream {
  return {
    get localIp() {
      return inner.localIp;
    },
    get localPort() {
      return inner.localPort;
    },
    get remoteIp() {
      return inner.remoteIp;
    },
    get remotePort() {
      return inner.remotePort;
    },
    ...(inner.sim !== undefined ? { sim: inner.sim } : {}),
    setHandler(h) {
      const self = this as ByteStream;
      inner.setHandler({
        ...h,
        onOpen: h.onOpen ? () => h.onOpen!(self) : undefined,
        onData: (_s, d) => h.onData?.(self, d),
        onEnd: () => h.onEnd?.(self),
        onClose: () => h.onClose?.(self),
        onError: (_s, r) => h.onError?.(self, r),
      } as StreamHandler);
      h.onData?.(self, first);
    },
    send: (d) => inner.send(d),
    end: () => inner.end(),
  };
}

/** A ReferenceGrant in the Secret's namespace lets Gateways of `gw`'s namespace use it. */
function secretGranted(grants: readonly ReferenceGrant[], gw: Gateway, ns: string, name: string): boolean {
  return grants.some((g) => g.namespace === ns && g.from.some((f) => f.group === "gateway.networking.k8s.io" && f.kind === "Gateway" && f.namespace === gw.namespace) && g.to.some((t) => t.group === "" && t.kind === "Secret" && (t.name === null || t.name === name)));
}
