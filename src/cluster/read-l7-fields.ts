/**
 * Field checks the L7 readers share, as the API server applies them: unknown fields refused
 * (strict field validation, `kubectl apply --validate=strict`, the default since v1.27),
 * object metadata, DNS names with and without a wildcard label, enums and ranges — each
 * failure a located PodwireError saying what to do.
 */
import { nameProblem, quoteName } from "../base/index.js";
import type { L7Meta, LabelSelector } from "../l7/objects.js";
import { readLabels, readName } from "./read-objects.js";
import { type Field, clip } from "./yaml-field.js";

/** ObjectMeta fields a `kubectl get -o yaml` dump may hold. */
const METADATA_FIELDS = [
  "name",
  "namespace",
  "labels",
  "annotations",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "generateName",
  "ownerReferences",
  "finalizers",
  "managedFields",
  "selfLink",
];

/** Refuses keys outside `known`, as the API server's strict decoding does (`unknown field "spec.foo"`). */
export function rejectUnknown(f: Field, known: readonly string[], what: string): void {
  if (f.absent) return;
  if (!f.isMap()) f.typeError("a mapping");
  for (const [key, value] of f.entries()) {
    if (known.includes(key)) continue;
    const near = known.find((k) => k.toLowerCase() === key.toLowerCase());
    const hint = near !== undefined ? `did you mean ${near}? (field names are case-sensitive)` : `${what} has: ${known.join(", ")}`;
    value.fail("E_UNKNOWN_FIELD", `unknown field ${JSON.stringify(value.path)} (the API server refuses it)`, hint);
  }
}

/** The top level of an object: apiVersion, kind, metadata, spec, status (and `extra` keys, e.g. a Secret's data). */
export function checkTopLevel(root: Field, kind: string, extra: readonly string[] = ["spec", "status"]): void {
  rejectUnknown(root, ["apiVersion", "kind", "metadata", ...extra], kind);
  rejectUnknown(root.child("metadata"), METADATA_FIELDS, "metadata");
}

/** metadata: name (DNS subdomain), namespace (default `default`; ignored for cluster-scoped kinds), labels, annotations, creationTimestamp. */
export function readMeta(root: Field, kind: string, order: number, namespaced: boolean): L7Meta {
  const metadata = root.child("metadata");
  const nsField = metadata.child("namespace");
  const namespace = !namespaced ? "" : nsField.absent ? "default" : readName(nsField, "label", "namespace");
  return {
    namespace,
    name: readName(metadata.child("name"), "subdomain", kind),
    created: readTimestamp(metadata.child("creationTimestamp")),
    order,
    labels: readLabels(metadata.child("labels")),
    annotations: readLabels(metadata.child("annotations")),
    location: root.location(),
  };
}

/** RFC 3339 (metav1.Time), e.g. 2024-05-01T10:00:00Z; null when absent. */
function readTimestamp(f: Field): number | null {
  if (f.absent) return null;
  const text = f.requiredString();
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms)) f.fail("E_TIMESTAMP", `${f.path} ${JSON.stringify(clip(text))} is not an RFC 3339 time`, "write it as kubectl prints it, e.g. 2024-05-01T10:00:00Z");
  return ms;
}

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * A host name: a DNS-1123 subdomain, optionally with a `*.` first label (IsWildcardDNS1123Subdomain),
 * never an IP address. `what` names the field for messages.
 */
export function readHostname(f: Field, allowWildcard: boolean): string {
  const text = f.requiredString();
  if (/^[0-9.]+$/.test(text) || text.includes(":")) {
    f.fail("E_HOSTNAME", `${f.path} ${JSON.stringify(clip(text))} must be a DNS name, not an IP address`, "route by name, e.g. shop.example.com; an IP address matches the catch-all rules");
  }
  const wildcard = text.startsWith("*.");
  if (text.includes("*") && (!wildcard || !allowWildcard || text.indexOf("*", 1) >= 0)) {
    const hint = allowWildcard ? "a wildcard is only allowed as the whole first label, e.g. *.example.com" : "write a host name without a wildcard";
    f.fail("E_HOSTNAME", `${f.path} ${JSON.stringify(clip(text))} is not a valid ${allowWildcard ? "wildcard " : ""}host name`, hint);
  }
  const body = wildcard ? text.slice(2) : text;
  const problem = body.length > 253 ? "longer than 253 characters" : body.split(".").every((l) => LABEL.test(l) && l.length <= 63) ? null : "lower-case letters, digits, '-' and '.' only, each label starting and ending with a letter or digit";
  if (problem !== null) f.fail("E_HOSTNAME", `${f.path} ${JSON.stringify(clip(text))} is not a DNS-1123 subdomain: ${problem}`, "use a lower-case host name such as shop.example.com");
  return text;
}

export function readEnumValue<T extends string>(f: Field, valid: readonly T[], fallback: T | undefined): T {
  if (f.absent) {
    if (fallback !== undefined) return fallback;
    return f.missing();
  }
  const v = f.requiredString();
  if (!(valid as readonly string[]).includes(v)) {
    const near = valid.find((x) => x.toLowerCase() === v.toLowerCase());
    f.fail("E_ENUM", `${f.path} ${JSON.stringify(clip(v))} is not a supported value`, near !== undefined ? `did you mean ${near}? (values are case-sensitive)` : `use one of: ${valid.join(", ")}`);
  }
  return v as T;
}

export function readPortNumber(f: Field): number {
  const n = f.requiredInt();
  if (n < 1 || n > 65535) f.fail("E_PORT", `${f.path} ${n} is not a port number`, "use a port from 1 to 65535");
  return n;
}

/** IANA_SVC_NAME (validation.IsValidPortName). */
export function readPortName(f: Field): string {
  const s = f.requiredString();
  if (s.length > 15 || !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(s) || !/[a-z]/.test(s) || s.includes("--")) {
    f.fail("E_PORT_NAME", `${f.path} ${JSON.stringify(clip(s))} is not a valid port name`, "a port name is up to 15 lower-case letters, digits and single hyphens, with a letter");
  }
  return s;
}

/** A domain-prefixed path, e.g. k8s.io/ingress-nginx (validation.IsDomainPrefixedPath). */
export function readControllerName(f: Field, max: number): string {
  const s = f.requiredString();
  const slash = s.indexOf("/");
  const domain = slash < 0 ? "" : s.slice(0, slash);
  const path = slash < 0 ? "" : s.slice(slash + 1);
  if (s.length > max) f.fail("E_CONTROLLER_NAME", `${f.path} is ${s.length} characters long (at most ${max})`, "use a shorter controller name");
  if (domain === "" || path === "" || nameProblem(domain, "subdomain") !== null || !/^[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/.test(path)) {
    f.fail("E_CONTROLLER_NAME", `${f.path} ${quoteName(s)} is not a domain-prefixed path`, "write it as DOMAIN/PATH, e.g. k8s.io/ingress-nginx or example.com/gateway-controller");
  }
  return s;
}

/** metav1.LabelSelector. */
export function readSelector(f: Field): LabelSelector {
  rejectUnknown(f, ["matchLabels", "matchExpressions"], "a label selector");
  return {
    matchLabels: readLabels(f.child("matchLabels")),
    matchExpressions: f.child("matchExpressions").items().map((e) => {
      rejectUnknown(e, ["key", "operator", "values"], "a selector requirement");
      const operator = readEnumValue(e.child("operator"), ["In", "NotIn", "Exists", "DoesNotExist"] as const, undefined);
      const values = e.child("values").items().map((v) => v.requiredString());
      if ((operator === "In" || operator === "NotIn") && values.length === 0) e.child("values").fail("E_SELECTOR", `${e.path}: operator ${operator} needs values`, "add values");
      if ((operator === "Exists" || operator === "DoesNotExist") && values.length > 0) e.child("values").fail("E_SELECTOR", `${e.path}: operator ${operator} takes no values`, "remove values");
      return { key: e.child("key").requiredString(), operator, values };
    }),
  };
}

/** A list no longer than `max` (the CRDs' MaxItems), optionally at least `min` long. */
export function limitedItems(f: Field, max: number, min = 0): Field[] {
  const items = f.items();
  if (items.length > max) f.fail("E_TOO_MANY", `${f.path} has ${items.length} entries (at most ${max})`, `split it: the API allows ${max}`);
  if (items.length < min) f.fail("E_MISSING_FIELD", `${f.path} needs at least ${min} entr${min === 1 ? "y" : "ies"}`, `add ${f.path}`);
  return items;
}
