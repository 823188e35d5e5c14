/**
 * Self-signed X.509 v3 server certificates (RFC 5280) for the host names a run needs, built
 * in DER by hand (Node has no certificate generator) and signed with node:crypto.
 *
 * Reproducible: the key is derived from the run's seed and the names (not drawn from
 * OpenSSL's generator), the serial number too, and the validity is fixed (from the capture
 * epoch, 2024-01-01, to 9999-12-31, RFC 5280's "no well-defined expiration"). With the
 * default Ed25519 key the signature is deterministic (RFC 8032) as well, so the same seed
 * gives the same certificate bytes; ECDSA P-256 signatures carry a random nonce (OpenSSL 3.0
 * cannot be told otherwise), so those certificates differ run to run in the signature only —
 * and, DER being what it is, sometimes in length by a byte or two.
 */
import { X509Certificate, createECDH, createHash, createPrivateKey, createPublicKey, sign, type KeyObject } from "node:crypto";
import { DEFAULT_EPOCH_SECONDS, PodwireError, parseIpv4 } from "../base/index.js";
import { bitString, boolean, explicit, ia5String, implicitPrimitive, octetString, oid, sequence, set, smallInteger, unsignedInteger, utf8String, x509Time } from "./tls-der.js";

export type CertKeyType = "ed25519" | "ecdsa-p256";

/** A certificate and its private key, as a TLS server is configured with them. */
export interface TlsCredential {
  /** PEM (`-----BEGIN CERTIFICATE-----`), possibly a chain, leaf first. */
  certPem: string;
  /** PEM of the private key (PKCS#8, or whatever a Secret held). */
  keyPem: string;
  /** The DNS names (and IP addresses) the leaf certificate is for: its subjectAltName entries. */
  names: string[];
  /** Where it came from, for messages: `generated (ed25519)`, `Secret shop/shop-tls`. */
  source: string;
}

export interface SelfSignedOptions {
  /** The run's seed: same seed and names, same key (and with Ed25519, the same certificate). */
  seed: number | string;
  /** Default ed25519: fixed-size, deterministic signatures keep TLS records the same size run to run. */
  keyType?: CertKeyType;
}

const OID = {
  commonName: "2.5.4.3",
  organization: "2.5.4.10",
  ed25519: "1.3.101.112",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
};

/** RFC 5280's ub-common-name: a longer first name is left out of the subject (the SAN carries it). */
const UB_COMMON_NAME = 64;
const NOT_BEFORE = new Date(DEFAULT_EPOCH_SECONDS * 1000);
const NOT_AFTER = new Date(Date.UTC(9999, 11, 31, 23, 59, 59));

/** A host name a certificate may carry: DNS labels (RFC 1123), a leading `*.` wildcard label, or an IPv4 address. */
export function certificateNameProblem(name: string): string | null {
  if (name.length === 0) return "is empty";
  if (parseIpv4(name) >= 0) return null;
  if (name.length > 253) return "is longer than 253 characters";
  const labels = name.split(".");
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (l === "*" && i === 0 && labels.length > 2) continue;
    if (l.includes("*")) return "has a wildcard that is not the whole leftmost label of a name with at least three labels (e.g. *.example.com)";
    if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(l)) return `has the label ${JSON.stringify(l)}, which is not 1-63 letters, digits and inner hyphens`;
  }
  return null;
}

/**
 * Derives the key pair from the seed and names: Ed25519 from a 32-byte seed (RFC 8032
 * §5.1.5), P-256 from a scalar in [1, n-1] with its public point computed by OpenSSL.
 */
function deriveKey(keyType: CertKeyType, seed: number | string, names: readonly string[]): KeyObject {
  const material = createHash("sha256").update(`podwire tls key|${keyType}|${seed}|${names.join(",")}`).digest();
  if (keyType === "ed25519") {
    // PKCS#8 PrivateKeyInfo for Ed25519 (RFC 8410 §7): a fixed prefix, then the 32-byte seed.
    const prefix = Buffer.from("302e020100300506032b657004220420", "hex");
    return createPrivateKey({ key: Buffer.concat([prefix, material]), format: "der", type: "pkcs8" });
  }
  const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
  const d = (BigInt(`0x${material.toString("hex")}`) % (n - 1n)) + 1n;
  const dBytes = Buffer.from(d.toString(16).padStart(64, "0"), "hex");
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(dBytes);
  const pub = ecdh.getPublicKey();
  const b64u = (b: Buffer): string => b.toString("base64url");
  return createPrivateKey({ key: { kty: "EC", crv: "P-256", d: b64u(dBytes), x: b64u(pub.subarray(1, 33)), y: b64u(pub.subarray(33, 65)) }, format: "jwk" });
}

/** The subjectPublicKey bits, for the key identifier (RFC 5280 §4.2.1.2, method 1: SHA-1 of them). */
function publicKeyBits(key: KeyObject, keyType: CertKeyType): Buffer {
  const jwk = createPublicKey(key).export({ format: "jwk" });
  const x = Buffer.from(jwk.x!, "base64url");
  return keyType === "ed25519" ? x : Buffer.concat([Buffer.of(4), x, Buffer.from(jwk.y!, "base64url")]);
}

function generalName(name: string): Uint8Array {
  const ip = parseIpv4(name);
  if (ip >= 0) return implicitPrimitive(7, Uint8Array.of(ip >>> 24, (ip >>> 16) & 0xff, (ip >>> 8) & 0xff, ip & 0xff)); // iPAddress
  return implicitPrimitive(2, new TextEncoder().encode(name.toLowerCase())); // dNSName (IA5String)
}

function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? sequence(oid(id), boolean(true), octetString(value)) : sequence(oid(id), octetString(value));
}

/** A self-signed server certificate for `names` (the first is also the subject's CN). */
export function selfSignedCertificate(names: readonly string[], opts: SelfSignedOptions): TlsCredential & { certDer: Uint8Array } {
  if (names.length === 0) throw new PodwireError("E_TLS_NAME", "a certificate needs at least one host name", undefined, "name the hosts the certificate is for");
  for (const name of names) {
    const problem = certificateNameProblem(name);
    if (problem !== null) throw new PodwireError("E_TLS_NAME", `the certificate name ${JSON.stringify(name)} ${problem}`, undefined, "use DNS names such as shop.example.com or *.example.com");
  }
  const keyType = opts.keyType ?? "ed25519";
  const key = deriveKey(keyType, opts.seed, names);
  const spki = createPublicKey(key).export({ type: "spki", format: "der" });
  const algorithm = sequence(oid(keyType === "ed25519" ? OID.ed25519 : OID.ecdsaWithSha256));
  const serialSeed = createHash("sha256").update(`podwire tls serial|${opts.seed}|${names.join(",")}`).digest().subarray(0, 16);
  serialSeed[0] = (serialSeed[0]! & 0x7f) | 0x40; // positive, 16 bytes, no leading zero (§4.1.2.2: at most 20 octets)
  const rdn = [set(sequence(oid(OID.organization), utf8String("podwire")))];
  if (names[0]!.length <= UB_COMMON_NAME) rdn.push(set(sequence(oid(OID.commonName), utf8String(names[0]!))));
  const subject = sequence(...rdn);
  const ski = createHash("sha1").update(publicKeyBits(key, keyType)).digest();
  const extensions = sequence(
    extension(OID.basicConstraints, true, sequence()), // cA FALSE (the default, so an empty SEQUENCE)
    extension(OID.keyUsage, true, bitString(Uint8Array.of(0x80), 7)), // digitalSignature
    extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))),
    extension(OID.subjectKeyIdentifier, false, octetString(ski)),
    extension(OID.subjectAltName, false, sequence(...names.map(generalName))),
  );
  const tbs = sequence(
    explicit(0, smallInteger(2)), // v3
    unsignedInteger(serialSeed),
    algorithm,
    subject, // issuer: self-signed
    sequence(x509Time(NOT_BEFORE), x509Time(NOT_AFTER)),
    subject,
    new Uint8Array(spki),
    explicit(3, extensions),
  );
  const signature = sign(keyType === "ed25519" ? null : "sha256", tbs, key);
  const certDer = sequence(tbs, algorithm, bitString(new Uint8Array(signature)));
  return {
    certPem: toPem("CERTIFICATE", certDer),
    keyPem: key.export({ type: "pkcs8", format: "pem" }) as string,
    names: [...names],
    source: `generated (${keyType})`,
    certDer,
  };
}

export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** The subjectAltName DNS names and IP addresses of a certificate, as Node reads them. */
export function certificateNames(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  if (san === undefined) return [];
  return san
    .split(", ")
    .map((entry) => {
      const m = /^(DNS|IP Address):(.*)$/.exec(entry);
      return m === null ? null : m[2]!;
    })
    .filter((n): n is string => n !== null);
}
