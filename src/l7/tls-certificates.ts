/**
 * The certificates one TLS server holds, chosen by the name the client asked for (SNI): an
 * exact name first, then a wildcard covering exactly the leftmost label (RFC 6125 §6.4.3, as
 * OpenSSL and browsers match `*.example.com`), then the default, if any. Certificates are
 * added from Secrets or generated for names on demand, once per name set per run.
 */
import { type CertKeyType, type TlsCredential, selfSignedCertificate } from "./tls-cert.js";

/** Whether a certificate name (maybe `*.` wildcard) covers `host` (both compared case-insensitively). */
export function nameCovers(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  const h = host.toLowerCase().replace(/\.$/, "");
  if (!p.startsWith("*.")) return p === h;
  const dot = h.indexOf(".");
  return dot > 0 && h.slice(dot + 1) === p.slice(2);
}

export class CertificateBook {
  private readonly exact = new Map<string, TlsCredential>();
  private readonly wildcards: Array<{ suffix: string; cred: TlsCredential }> = [];
  private readonly generated = new Map<string, TlsCredential>();
  /** Served when no name matches (or the client sent none); undefined refuses those handshakes. */
  fallback: TlsCredential | undefined;

  constructor(private readonly seed: number | string, private readonly keyType: CertKeyType = "ed25519") {}

  /** Serves `cred` for `names` (default: its own SAN names). The first added for a name wins, as nginx takes the first matching server block. */
  add(cred: TlsCredential, names: readonly string[] = cred.names): void {
    for (const raw of names) {
      const name = raw.toLowerCase();
      if (name.startsWith("*.")) {
        if (!this.wildcards.some((w) => w.suffix === name.slice(1))) this.wildcards.push({ suffix: name.slice(1), cred });
      } else if (!this.exact.has(name)) this.exact.set(name, cred);
    }
  }

  /** A self-signed certificate for `names`, generated once per run (same names, same credential) and added. */
  generate(names: readonly string[]): TlsCredential {
    const key = names.map((n) => n.toLowerCase()).join(",");
    let cred = this.generated.get(key);
    if (cred === undefined) {
      cred = selfSignedCertificate(names, { seed: this.seed, keyType: this.keyType });
      this.generated.set(key, cred);
      this.add(cred);
    }
    return cred;
  }

  /** The credential for a ClientHello's server_name (undefined: the client sent none). */
  lookup(servername: string | undefined): TlsCredential | undefined {
    if (servername === undefined) return this.fallback;
    const host = servername.toLowerCase().replace(/\.$/, "");
    const hit = this.exact.get(host);
    if (hit !== undefined) return hit;
    const dot = host.indexOf(".");
    if (dot > 0) {
      const suffix = host.slice(dot);
      const w = this.wildcards.find((x) => x.suffix === suffix);
      if (w !== undefined) return w.cred;
    }
    return this.fallback;
  }

  /** Every certificate held, PEM, e.g. for a client's `ca` list. */
  certificates(): string[] {
    const all = new Set<TlsCredential>([...this.exact.values(), ...this.wildcards.map((w) => w.cred)]);
    if (this.fallback !== undefined) all.add(this.fallback);
    return [...all].map((c) => c.certPem);
  }
}
