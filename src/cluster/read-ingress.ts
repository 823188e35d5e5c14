/**
 * networking.k8s.io/v1 Ingress and IngressClass from a cluster file, checked as the API
 * server's validation (pkg/apis/networking/validation) checks them: rule hosts are DNS
 * names (a `*.` first label allowed), every path has a pathType, Exact and Prefix paths are
 * absolute and free of `//`, `/./`, `/../`, `%2f` and end in neither `/..` nor `/.`, a
 * backend is a Service (port by number or name) or a resource but not both, `defaultBackend`
 * or `rules` is given, the deprecated `kubernetes.io/ingress.class` annotation and
 * `ingressClassName` are not both set, and unknown fields are refused.
 */
import type { Ingress, IngressBackend, IngressClass, IngressPath, IngressPathType, IngressRule, IngressTls } from "../l7/objects.js";
import { checkTopLevel, readControllerName, readEnumValue, readHostname, readMeta, readPortName, readPortNumber, rejectUnknown } from "./read-l7-fields.js";
import type { KubeObject } from "./read-objects.js";
import { readName } from "./read-objects.js";
import { type Field, clip } from "./yaml-field.js";

export const INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class";
export const DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class";
export const SERVICE_UPSTREAM_ANNOTATION = "nginx.ingress.kubernetes.io/service-upstream";

const PATH_TYPES: readonly IngressPathType[] = ["Exact", "Prefix", "ImplementationSpecific"];
const INVALID_SEQUENCES = ["//", "/./", "/../", "%2f", "%2F"];
const INVALID_SUFFIXES = ["/..", "/."];

/** An Ingress as written; its class is settled later (readL7Objects), once every IngressClass is known. */
export interface IngressDraft {
  ingress: Ingress;
  classField: Field;
  annotationField: Field;
}

export function readIngress(obj: KubeObject, order: number): IngressDraft {
  const root = obj.root;
  checkTopLevel(root, "Ingress");
  const meta = readMeta(root, "Ingress", order, true);
  const spec = root.child("spec");
  rejectUnknown(spec, ["defaultBackend", "ingressClassName", "rules", "tls"], "Ingress spec");
  const rulesField = spec.child("rules");
  const defaultField = spec.child("defaultBackend");
  const rules = rulesField.items().map((r, i) => readRule(r, i));
  if (rules.length === 0 && defaultField.absent) {
    spec.fail("E_INGRESS", `Ingress ${meta.namespace}/${meta.name}: either \`defaultBackend\` or \`rules\` must be specified`, "add spec.rules (host and paths) or spec.defaultBackend");
  }
  const classField = spec.child("ingressClassName");
  const className = classField.absent ? null : readName(classField, "subdomain", "IngressClass");
  const annotationField = root.child("metadata").child("annotations").child(INGRESS_CLASS_ANNOTATION);
  if (className !== null && !annotationField.absent) {
    annotationField.fail("E_INGRESS_CLASS", `annotation ${INGRESS_CLASS_ANNOTATION} can not be set when the class field is also set`, "keep spec.ingressClassName and remove the deprecated annotation");
  }
  const annotationClass = annotationField.absent ? null : annotationField.requiredString();
  const upstream = meta.annotations[SERVICE_UPSTREAM_ANNOTATION];
  const ingress: Ingress = {
    ...meta,
    className: className ?? annotationClass,
    classSource: className !== null ? "ingressClassName" : annotationClass !== null ? "annotation" : null,
    defaultBackend: defaultField.absent ? null : readBackend(defaultField),
    rules,
    tls: spec.child("tls").items().map(readTls),
    serviceUpstream: upstream === "true",
  };
  if (upstream !== undefined && upstream !== "true" && upstream !== "false") {
    root.child("metadata").child("annotations").child(SERVICE_UPSTREAM_ANNOTATION).fail("E_ANNOTATION", `${SERVICE_UPSTREAM_ANNOTATION} ${JSON.stringify(clip(upstream))} is not "true" or "false"`, 'write "true" to proxy through the ClusterIP, or remove it');
  }
  return { ingress, classField, annotationField };
}

function readRule(f: Field, i: number): IngressRule {
  rejectUnknown(f, ["host", "http"], "an Ingress rule");
  const hostField = f.child("host");
  const host = hostField.absent || hostField.optString() === "" ? "" : readHostname(hostField, true);
  const http = f.child("http");
  rejectUnknown(http, ["paths"], "an Ingress rule's http");
  let paths: IngressPath[] | null = null;
  if (!http.absent) {
    const items = http.child("paths").items();
    if (items.length === 0) http.child("paths").fail("E_MISSING_FIELD", `${http.path}.paths is required`, "list at least one path with pathType and backend");
    paths = items.map((p, j) => readPath(p, `rules[${i}].http.paths[${j}]`));
  }
  return { host, paths, where: `rules[${i}]` };
}

function readPath(f: Field, where: string): IngressPath {
  rejectUnknown(f, ["path", "pathType", "backend"], "an Ingress path");
  const typeField = f.child("pathType");
  if (typeField.absent) typeField.fail("E_MISSING_FIELD", `${typeField.path}: pathType must be specified`, "add pathType: Prefix (or Exact, or ImplementationSpecific)");
  const pathType = readEnumValue(typeField, PATH_TYPES, undefined);
  const pathField = f.child("path");
  const path = pathField.absent ? "" : (pathField.optString() ?? "");
  if (pathType !== "ImplementationSpecific" || path !== "") {
    if (!path.startsWith("/")) pathField.fail("E_INGRESS_PATH", `${pathField.path} ${JSON.stringify(clip(path))} must be an absolute path`, "start the path with /");
  }
  if (pathType !== "ImplementationSpecific") {
    for (const seq of INVALID_SEQUENCES) if (path.includes(seq)) pathField.fail("E_INGRESS_PATH", `${pathField.path} ${JSON.stringify(clip(path))} must not contain '${seq}'`, "write the path in normal form");
    for (const suf of INVALID_SUFFIXES) if (path.endsWith(suf)) pathField.fail("E_INGRESS_PATH", `${pathField.path} ${JSON.stringify(clip(path))} cannot end with '${suf}'`, "write the path in normal form");
  }
  const backendField = f.child("backend");
  if (backendField.absent) backendField.missing();
  return { path, pathType, backend: readBackend(backendField), where };
}

function readBackend(f: Field): IngressBackend {
  rejectUnknown(f, ["service", "resource"], "an Ingress backend");
  const svc = f.child("service");
  const res = f.child("resource");
  if (!svc.absent && !res.absent) f.fail("E_INGRESS_BACKEND", `${f.path}: cannot set both resource and service backends`, "keep one of service and resource");
  if (svc.absent && res.absent) f.fail("E_INGRESS_BACKEND", `${f.path}: resource or service backend is required`, "add service: {name: ..., port: {number: 80}}");
  if (!res.absent) {
    rejectUnknown(res, ["apiGroup", "kind", "name"], "a resource backend");
    const apiGroup = res.child("apiGroup").optString() ?? null;
    return { service: null, resource: { apiGroup, kind: res.child("kind").requiredString(), name: res.child("name").requiredString() }, location: f.location() };
  }
  rejectUnknown(svc, ["name", "port"], "a service backend");
  const name = readName(svc.child("name"), "dns1035", "Service");
  const port = svc.child("port");
  rejectUnknown(port, ["name", "number"], "a service backend port");
  const hasName = !port.child("name").absent && port.child("name").optString() !== "";
  const hasNumber = !port.child("number").absent && port.child("number").optInt() !== 0;
  if (hasName && hasNumber) port.fail("E_INGRESS_BACKEND", `${port.path}: cannot set both port name & port number`, "keep one of name and number");
  if (!hasName && !hasNumber) port.fail("E_INGRESS_BACKEND", `${port.path}: port name or number is required`, "add number: 80 (the Service port) or name: http");
  return { service: { name, port: hasName ? { name: readPortName(port.child("name")) } : { number: readPortNumber(port.child("number")) } }, resource: null, location: f.location() };
}

function readTls(f: Field): IngressTls {
  rejectUnknown(f, ["hosts", "secretName"], "an Ingress tls entry");
  const secretField = f.child("secretName");
  const secretName = secretField.absent || secretField.optString() === "" ? null : readName(secretField, "subdomain", "Secret");
  return { hosts: f.child("hosts").items().map((h) => readHostname(h, true)), secretName };
}

export function readIngressClass(obj: KubeObject, order: number): IngressClass {
  const root = obj.root;
  checkTopLevel(root, "IngressClass", ["spec"]);
  const meta = readMeta(root, "IngressClass", order, false);
  const spec = root.child("spec");
  rejectUnknown(spec, ["controller", "parameters"], "IngressClass spec");
  const params = spec.child("parameters");
  rejectUnknown(params, ["apiGroup", "kind", "name", "namespace", "scope"], "IngressClass parameters");
  if (!params.absent) {
    params.child("kind").requiredString();
    params.child("name").requiredString();
    readEnumValue(params.child("scope"), ["Cluster", "Namespace"] as const, "Cluster");
  }
  const isDefaultText = meta.annotations[DEFAULT_CLASS_ANNOTATION];
  return { ...meta, controller: readControllerName(spec.child("controller"), 250), isDefault: isDefaultText === "true" };
}
