/**
 * The DER encoder and the self-signed certificates built with it, checked by Node's X.509
 * parser and, where installed, by OpenSSL's command line; the certificate book's SNI choice.
 */
import { spawnSync } from "node:child_process";
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { PodwireError } from "../../src/base/index.js";
import { certificateNameProblem, certificateNames, selfSignedCertificate } from "../../src/l7/tls-cert.js";
import { CertificateBook, nameCovers } from "../../src/l7/tls-certificates.js";
import { oid, sequence, smallInteger, tlv, unsignedInteger, x509Time } from "../../src/l7/tls-der.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const haveOpenssl = spawnSync("openssl", ["version"], { stdio: "ignore" }).status === 0;

test("DER: lengths short and long, minimal INTEGERs, OIDs and both certificate time forms", (t) => {
  t.is(hex(tlv(0x04, new Uint8Array(5))), "04050000000000");
  t.is(hex(tlv(0x04, new Uint8Array(200))).slice(0, 6), "0481c8");
  t.is(hex(tlv(0x04, new Uint8Array(300))).slice(0, 8), "0482012c");
  t.is(hex(tlv(0x04, new Uint8Array(70000))).slice(0, 10), "0483011170");
  t.is(hex(unsignedInteger(Uint8Array.of(0x80))), "02020080", "a set top bit gets a 0x00 in front");
  t.is(hex(unsignedInteger(Uint8Array.of(0, 0, 1))), "020101", "leading zeros dropped");
  t.is(hex(unsignedInteger(Uint8Array.of(0, 0))), "020100");
  t.is(hex(smallInteger(2)), "020102");
  t.is(hex(smallInteger(0)), "020100");
  t.is(hex(oid("1.2.840.113549")), "06062a864886f70d", "X.690 §8.19's rsadsi example");
  t.is(hex(oid("2.5.29.17")), "0603551d11");
  t.is(hex(sequence()), "3000");
  t.is(Buffer.from(x509Time(new Date(Date.UTC(2024, 0, 1)))).toString("latin1"), "\x17\x0d240101000000Z");
  t.is(Buffer.from(x509Time(new Date(Date.UTC(9999, 11, 31, 23, 59, 59)))).toString("latin1"), "\x18\x0f99991231235959Z");
  t.is(Buffer.from(x509Time(new Date(Date.UTC(2050, 5, 1)))).toString("latin1"), "\x18\x0f20500601000000Z", "GeneralizedTime from 2050 (RFC 5280 §4.1.2.5)");
  t.throws(() => oid("1"), { instanceOf: RangeError });
});

for (const keyType of ["ed25519", "ecdsa-p256"] as const) {
  test(`a self-signed ${keyType} certificate: names, validity, key and signature as Node's X.509 reads them`, (t) => {
    const c = selfSignedCertificate(["shop.example.com", "*.apps.example.com", "10.96.0.20"], { seed: 42, keyType });
    const x = new X509Certificate(c.certPem);
    t.is(x.subject, "O=podwire\nCN=shop.example.com");
    t.is(x.issuer, x.subject);
    t.is(x.subjectAltName, "DNS:shop.example.com, DNS:*.apps.example.com, IP Address:10.96.0.20");
    t.deepEqual(certificateNames(x), ["shop.example.com", "*.apps.example.com", "10.96.0.20"]);
    t.is(x.validFrom, "Jan  1 00:00:00 2024 GMT");
    t.is(x.validTo, "Dec 31 23:59:59 9999 GMT");
    t.false(x.ca);
    t.true(x.verify(x.publicKey), "self-signed: its own key verifies its signature");
    t.true(x.checkPrivateKey(createPrivateKey(c.keyPem)));
    t.is(x.publicKey.asymmetricKeyType, keyType === "ed25519" ? "ed25519" : "ec");
    t.is(x.checkHost("cart.apps.example.com"), "*.apps.example.com");
    t.is(x.checkHost("a.b.apps.example.com"), undefined, "a wildcard covers one label");
    t.is(x.checkIP("10.96.0.20"), "10.96.0.20");
    t.deepEqual(x.keyUsage, ["1.3.6.1.5.5.7.3.1"], "extendedKeyUsage serverAuth");
    t.is(x.serialNumber.length, 32, "16 bytes");
    t.is(c.source, `generated (${keyType})`);
  });
}

test("reproducible: the same seed and names give the same key; with Ed25519 the very same certificate bytes", (t) => {
  const a = selfSignedCertificate(["shop.example.com"], { seed: 1 });
  const b = selfSignedCertificate(["shop.example.com"], { seed: 1 });
  t.is(hex(b.certDer), hex(a.certDer));
  t.is(b.keyPem, a.keyPem);
  t.not(hex(selfSignedCertificate(["shop.example.com"], { seed: 2 }).certDer), hex(a.certDer));
  t.not(selfSignedCertificate(["cart.example.com"], { seed: 1 }).keyPem, a.keyPem, "each name set its own key");
  const p1 = selfSignedCertificate(["shop.example.com"], { seed: 1, keyType: "ecdsa-p256" });
  const p2 = selfSignedCertificate(["shop.example.com"], { seed: 1, keyType: "ecdsa-p256" });
  const pub = (pem: string) => createPublicKey(pem).export({ type: "spki", format: "der" }).toString("hex");
  t.is(pub(p2.keyPem), pub(p1.keyPem), "ECDSA: the same key (only the signature's nonce is random)");
});

test("certificate names: DNS labels, one leading wildcard label, IPv4 addresses; anything else is a clear error", (t) => {
  t.is(certificateNameProblem("shop.example.com"), null);
  t.is(certificateNameProblem("*.example.com"), null);
  t.is(certificateNameProblem("10.0.0.1"), null);
  t.regex(certificateNameProblem("*.com")!, /wildcard/);
  t.regex(certificateNameProblem("a.*.example.com")!, /wildcard/);
  t.regex(certificateNameProblem("shop_1.example.com")!, /label "shop_1"/);
  t.regex(certificateNameProblem("-a.example.com")!, /label "-a"/);
  t.is(certificateNameProblem(""), "is empty");
  const err = t.throws(() => selfSignedCertificate(["shop.example.com", "bad name"], { seed: 1 }), { instanceOf: PodwireError });
  t.is(err!.message, 'the certificate name "bad name" has the label "bad name", which is not 1-63 letters, digits and inner hyphens (hint: use DNS names such as shop.example.com or *.example.com)');
  t.throws(() => selfSignedCertificate([], { seed: 1 }), { message: /at least one host name/ });
  // A name longer than a CN may be (64) is carried in the SAN only.
  const long = `${"a".repeat(60)}.example.com`;
  const x = new X509Certificate(selfSignedCertificate([long], { seed: 1 }).certPem);
  t.is(x.subject, "O=podwire");
  t.is(x.subjectAltName, `DNS:${long}`);
});

(haveOpenssl ? test : test.skip)("OpenSSL's command line reads the certificate as we meant it and verifies it against itself", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-cert-"));
  try {
    for (const keyType of ["ed25519", "ecdsa-p256"] as const) {
      const c = selfSignedCertificate(["shop.example.com", "*.example.net"], { seed: 9, keyType });
      const file = join(dir, `${keyType}.pem`);
      writeFileSync(file, c.certPem);
      const text = spawnSync("openssl", ["x509", "-in", file, "-noout", "-text"], { encoding: "utf8" });
      t.is(text.status, 0, text.stderr);
      t.regex(text.stdout, /Version: 3 \(0x2\)/);
      t.regex(text.stdout, keyType === "ed25519" ? /Signature Algorithm: ED25519/ : /Signature Algorithm: ecdsa-with-SHA256/);
      t.regex(text.stdout, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
      t.regex(text.stdout, /X509v3 Key Usage: critical\s+Digital Signature/);
      t.regex(text.stdout, /X509v3 Extended Key Usage:\s+TLS Web Server Authentication/);
      t.regex(text.stdout, /X509v3 Subject Alternative Name:\s+DNS:shop\.example\.com, DNS:\*\.example\.net/);
      t.regex(text.stdout, /Not After : Dec 31 23:59:59 9999 GMT/);
      const verify = spawnSync("openssl", ["verify", "-CAfile", file, "-purpose", "sslserver", file], { encoding: "utf8" });
      t.is(verify.stdout.trim(), `${file}: OK`, verify.stderr);
      // asn1parse walks every TLV: a bad length would stop it.
      const parse = spawnSync("openssl", ["asn1parse", "-in", file], { encoding: "utf8" });
      t.is(parse.status, 0, parse.stderr);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the certificate book: exact names before wildcards, one label per wildcard, then the default", (t) => {
  const book = new CertificateBook(5);
  const exact = book.generate(["shop.example.com"]);
  const wild = book.generate(["*.example.com"]);
  t.is(book.generate(["shop.example.com"]), exact, "generated once per name set");
  t.is(book.lookup("shop.example.com"), exact);
  t.is(book.lookup("SHOP.Example.com."), exact, "case and a trailing dot do not matter");
  t.is(book.lookup("cart.example.com"), wild);
  t.is(book.lookup("a.cart.example.com"), undefined);
  t.is(book.lookup("example.com"), undefined);
  t.is(book.lookup(undefined), undefined);
  const fallback = book.generate(["ingress.local"]);
  book.fallback = fallback;
  t.is(book.lookup("other.org"), fallback);
  t.is(book.lookup(undefined), fallback);
  t.is(book.certificates().length, 3);
  t.true(nameCovers("*.example.com", "Cart.Example.com"));
  t.false(nameCovers("*.example.com", "example.com"));
  t.false(nameCovers("*.example.com", "a.b.example.com"));
  t.true(nameCovers("shop.example.com", "shop.example.com."));
});
