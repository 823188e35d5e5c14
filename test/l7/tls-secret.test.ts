/**
 * kubernetes.io/tls Secrets as TLS credentials: what is accepted, every way one can be wrong
 * (each error names the field), and a Secret made by OpenSSL's command line serving a real
 * handshake.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { PodwireError } from "../../src/base/index.js";
import { settleTls, tlsClient, tlsServer } from "../../src/l7/tls.js";
import { selfSignedCertificate } from "../../src/l7/tls-cert.js";
import { tlsCredentialFromSecret } from "../../src/l7/tls-secret.js";
import { memoryPair } from "./tls-pair.js";

const b64 = (s: string): string => Buffer.from(s).toString("base64");
const shop = selfSignedCertificate(["shop.example.com", "*.shop.example.com"], { seed: 1 });
const other = selfSignedCertificate(["other.example.com"], { seed: 1 });
const where = { name: "shop/shop-tls" };
const secret = (data: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ type: "kubernetes.io/tls", data, ...extra });

function fails(t: import("ava").ExecutionContext, s: unknown, message: string, field: string): void {
  const err = t.throws(() => tlsCredentialFromSecret(s, where), { instanceOf: PodwireError });
  t.is(err!.detail, message);
  t.is(err!.code, "E_TLS_SECRET");
  t.is(err!.location?.field, field);
}

test("a valid Secret: the PEMs, the SAN names, where it came from; stringData wins over data", (t) => {
  const cred = tlsCredentialFromSecret(secret({ "tls.crt": b64(shop.certPem), "tls.key": b64(shop.keyPem) }), where);
  t.is(cred.certPem, shop.certPem);
  t.is(cred.keyPem, shop.keyPem);
  t.deepEqual(cred.names, ["shop.example.com", "*.shop.example.com"]);
  t.is(cred.source, "Secret shop/shop-tls");
  // Base64 folded over lines, as YAML block scalars hold it, still reads (Go's decoder skips newlines).
  const folded = b64(shop.certPem).replace(/(.{76})/g, "$1\n");
  t.deepEqual(tlsCredentialFromSecret(secret({ "tls.crt": folded, "tls.key": b64(shop.keyPem) }), where).names, cred.names);
  const mixed = tlsCredentialFromSecret(secret({ "tls.crt": b64(other.certPem), "tls.key": b64(other.keyPem) }, { stringData: { "tls.crt": shop.certPem, "tls.key": shop.keyPem } }), where);
  t.deepEqual(mixed.names, cred.names);
});

test("every mistake names its field and says what to do", (t) => {
  const crt = b64(shop.certPem);
  const key = b64(shop.keyPem);
  fails(t, { type: "Opaque", data: { "tls.crt": crt, "tls.key": key } }, 'Secret shop/shop-tls: type is "Opaque", not kubernetes.io/tls', "type");
  fails(t, { data: { "tls.crt": crt, "tls.key": key } }, 'Secret shop/shop-tls: type is "Opaque", not kubernetes.io/tls', "type");
  fails(t, secret({ "tls.crt": crt }), "Secret shop/shop-tls: data.tls.key is missing", "data.tls.key");
  fails(t, secret({ "tls.key": key }), "Secret shop/shop-tls: data.tls.crt is missing", "data.tls.crt");
  fails(t, secret({ "tls.crt": 12, "tls.key": key }), "Secret shop/shop-tls: data.tls.crt is not a string", "data.tls.crt");
  fails(t, secret({ "tls.crt": "not base64!", "tls.key": key }), "Secret shop/shop-tls: data.tls.crt is not valid base64", "data.tls.crt");
  fails(t, secret({ "tls.crt": crt.slice(0, -1), "tls.key": key }), "Secret shop/shop-tls: data.tls.crt is not valid base64", "data.tls.crt");
  fails(t, secret({ "tls.crt": b64("hello"), "tls.key": key }), "Secret shop/shop-tls: data.tls.crt does not hold a PEM certificate (no -----BEGIN CERTIFICATE----- line)", "data.tls.crt");
  fails(t, secret({ "tls.crt": crt, "tls.key": crt }), "Secret shop/shop-tls: data.tls.key does not hold a PEM private key (no -----BEGIN ... PRIVATE KEY----- line)", "data.tls.key");
  const broken = shop.certPem.replace(/\n[A-Za-z0-9+/]{10}/, "\nAAAAAAAAAA");
  const err = t.throws(() => tlsCredentialFromSecret(secret({ "tls.crt": b64(broken), "tls.key": key }), where), { instanceOf: PodwireError });
  t.regex(err!.detail, /^Secret shop\/shop-tls: data\.tls\.crt does not parse as an X\.509 certificate \(/);
  fails(
    t,
    secret({ "tls.crt": crt, "tls.key": b64(other.keyPem) }),
    "Secret shop/shop-tls: data.tls.key is not the private key of the certificate in data.tls.crt (O=podwire, CN=shop.example.com)",
    "data.tls.key",
  );
  fails(t, secret({ "tls.crt": crt }, { stringData: { "tls.key": other.keyPem } }), "Secret shop/shop-tls: stringData.tls.key is not the private key of the certificate in data.tls.crt (O=podwire, CN=shop.example.com)", "stringData.tls.key");
  fails(t, secret([] as unknown as Record<string, unknown>), "Secret shop/shop-tls: data is not a mapping", "data");
  fails(t, "text", "Secret shop/shop-tls: (the object) is not a mapping", "(the object)");
});

test("errors carry the location the caller gives for the field, and a hint", (t) => {
  const err = t.throws(
    () => tlsCredentialFromSecret(secret({ "tls.crt": b64(shop.certPem) }), { name: "shop/shop-tls", locate: (field) => ({ file: "cluster.yaml", line: 42, document: 3, field }) }),
    { instanceOf: PodwireError },
  );
  t.is(err!.message, "cluster.yaml:42, document 3, field data.tls.key: Secret shop/shop-tls: data.tls.key is missing (hint: a kubernetes.io/tls Secret holds both tls.crt and tls.key)");
});

const haveOpenssl = spawnSync("openssl", ["version"], { stdio: "ignore" }).status === 0;

(haveOpenssl ? test : test.skip)("a Secret made with OpenSSL (RSA, as kubectl create secret tls users make them) serves a handshake; one without SAN names is refused", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-secret-"));
  try {
    const make = (name: string, san: string | null) => {
      const args = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=shop.example.com", "-keyout", join(dir, `${name}.key`), "-out", join(dir, `${name}.crt`)];
      if (san !== null) args.push("-addext", `subjectAltName=${san}`);
      const r = spawnSync("openssl", args, { encoding: "utf8" });
      t.is(r.status, 0, r.stderr);
      return { "tls.crt": readFileSync(join(dir, `${name}.crt`)).toString("base64"), "tls.key": readFileSync(join(dir, `${name}.key`)).toString("base64") };
    };
    const cred = tlsCredentialFromSecret(secret(make("good", "DNS:shop.example.com")), where);
    t.deepEqual(cred.names, ["shop.example.com"]);
    fails(t, secret(make("nosan", null)), "Secret shop/shop-tls: data.tls.crt has no subjectAltName DNS names: clients have ignored the subject CN since RFC 6125 (Go 1.15, Chrome 58)", "data.tls.crt");

    // The Secret's certificate in a real handshake, over two streams joined in memory.
    const { client: c, server: s } = memoryPair();
    tlsServer(s, { contextFor: () => cred }, (p) => p.setHandler({ onData: (x, d) => x.send(d) }));
    let echoed = "";
    const errors: string[] = [];
    const plain = tlsClient(c, { servername: "shop.example.com", ca: cred.certPem });
    plain.setHandler({ onOpen: (x) => x.send(new TextEncoder().encode("ping")), onData: (_x, d) => (echoed += new TextDecoder().decode(d)), onError: (_x, r) => errors.push(r) });
    await settleTls();
    t.deepEqual(errors, []);
    t.is(echoed, "ping");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
