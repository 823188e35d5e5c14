/**
 * A Kubernetes Secret of type `kubernetes.io/tls` as a TLS credential: `data` holds `tls.crt`
 * and `tls.key` base64-encoded (`stringData` the same in plain text, and wins, as the API
 * server merges it over `data`), each PEM: the certificate (chain, leaf first) and its
 * private key. Every problem is an error naming the field and what to do.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";
import { type InputLocation, PodwireError } from "../base/index.js";
import { type TlsCredential, certificateNames } from "./tls-cert.js";

export const SECRET_TYPE_TLS = "kubernetes.io/tls";

export interface SecretWhere {
  /** `namespace/name`, for messages. */
  name: string;
  /** The location of a field of the Secret (`type`, `data.tls.crt`, ...) in the user's file. */
  locate?(field: string): InputLocation | undefined;
}

/** Base64 as Go's encoding/base64 StdEncoding reads it (the API server's decoder for []byte): padded, line breaks ignored. */
function decodeBase64(text: string): Buffer | null {
  const s = text.replace(/[\r\n]/g, "");
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return null;
  return Buffer.from(s, "base64");
}

export function tlsCredentialFromSecret(secret: unknown, where: SecretWhere): TlsCredential {
  const fail = (field: string, detail: string, hint: string): never => {
    throw new PodwireError("E_TLS_SECRET", `Secret ${where.name}: ${field} ${detail}`, where.locate?.(field) ?? { field }, hint);
  };
  const obj = (secret ?? {}) as Record<string, unknown>;
  if (typeof secret !== "object" || secret === null) fail("(the object)", "is not a mapping", "give a Secret with type, data.tls.crt and data.tls.key");
  const type = obj.type ?? "Opaque";
  if (type !== SECRET_TYPE_TLS) fail("type", `is ${JSON.stringify(type)}, not ${SECRET_TYPE_TLS}`, `set type: ${SECRET_TYPE_TLS} (kubectl create secret tls NAME --cert=... --key=... makes one)`);
  for (const section of ["data", "stringData"]) {
    const v = obj[section];
    if (v !== undefined && v !== null && (typeof v !== "object" || Array.isArray(v))) fail(section, "is not a mapping", `write ${section} as key: value pairs`);
  }
  const data = (obj.data ?? {}) as Record<string, unknown>;
  const stringData = (obj.stringData ?? {}) as Record<string, unknown>;

  const text = (key: string): string => {
    const plain = stringData[key];
    if (plain !== undefined && plain !== null) {
      if (typeof plain !== "string") fail(`stringData.${key}`, "is not a string", "give the PEM text");
      return plain as string;
    }
    const encoded = data[key];
    if (encoded === undefined || encoded === null) fail(`data.${key}`, "is missing", `a ${SECRET_TYPE_TLS} Secret holds both tls.crt and tls.key`);
    if (typeof encoded !== "string") fail(`data.${key}`, "is not a string", "give the base64 of the PEM file, e.g. base64 -w0 tls.crt");
    const bytes = decodeBase64(encoded as string);
    if (bytes === null) fail(`data.${key}`, "is not valid base64", "give the base64 of the PEM file (base64 -w0), or put the PEM text under stringData");
    return bytes!.toString("utf8");
  };
  const fieldOf = (key: string): string => (stringData[key] !== undefined && stringData[key] !== null ? `stringData.${key}` : `data.${key}`);

  const crtText = text("tls.crt");
  const keyText = text("tls.key");
  const crtField = fieldOf("tls.crt");
  const keyField = fieldOf("tls.key");
  if (!crtText.includes("-----BEGIN CERTIFICATE-----")) fail(crtField, "does not hold a PEM certificate (no -----BEGIN CERTIFICATE----- line)", "give the certificate file in PEM form, leaf first");
  if (!/-----BEGIN ([A-Z]+ )?PRIVATE KEY-----/.test(keyText)) fail(keyField, "does not hold a PEM private key (no -----BEGIN ... PRIVATE KEY----- line)", "give the unencrypted private key in PEM form");
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(crtText);
  } catch (err) {
    return fail(crtField, `does not parse as an X.509 certificate (${(err as Error).message})`, "check the PEM was copied whole");
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyText);
  } catch (err) {
    return fail(keyField, `does not parse as a private key (${(err as Error).message})`, "give an unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1)");
  }
  if (!cert.checkPrivateKey(key)) fail(keyField, `is not the private key of the certificate in ${crtField} (${cert.subject.replace(/\n/g, ", ")})`, "give the key the certificate was issued for");
  const names = certificateNames(cert);
  if (names.length === 0) {
    fail(crtField, "has no subjectAltName DNS names: clients have ignored the subject CN since RFC 6125 (Go 1.15, Chrome 58)", "issue the certificate with the host names as subjectAltName DNS entries");
  }
  return { certPem: crtText, keyPem: keyText, names, source: `Secret ${where.name}` };
}
