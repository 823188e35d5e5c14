/**
 * The Layer 7 objects of a cluster file, read and validated together: Ingresses get their
 * class as the API server's DefaultIngressClass admission plugin gives it (no
 * ingressClassName and no `kubernetes.io/ingress.class` annotation: the IngressClass
 * annotated `ingressclass.kubernetes.io/is-default-class: "true"`; two such classes refuse
 * the Ingress, as the plugin does), Secrets of type `kubernetes.io/tls` become certificates,
 * Namespace labels are kept for Gateway allowedRoutes selectors.
 */
import type { InputLocation } from "../base/index.js";
import { type L7Objects, emptyL7Objects } from "../l7/objects.js";
import { tlsCredentialFromSecret } from "../l7/tls-secret.js";
import { readGateway, readGatewayClass, readHttpRoute, readReferenceGrant } from "./read-gateway.js";
import { type IngressDraft, readIngress, readIngressClass } from "./read-ingress.js";
import { readMeta } from "./read-l7-fields.js";
import { type KubeObject, readLabels } from "./read-objects.js";

/** The kinds this reader takes, with the apiVersions the API server serves for each. */
export const L7_KINDS: Record<string, readonly string[]> = {
  Ingress: ["networking.k8s.io/v1"],
  IngressClass: ["networking.k8s.io/v1"],
  GatewayClass: ["gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1"],
  Gateway: ["gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1"],
  HTTPRoute: ["gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1"],
  ReferenceGrant: ["gateway.networking.k8s.io/v1beta1", "gateway.networking.k8s.io/v1"],
};

export function isL7Kind(kind: string): boolean {
  return kind in L7_KINDS;
}

/** A Secret of type kubernetes.io/tls (other Secrets are none of podwire's business). */
export function isTlsSecret(obj: KubeObject): boolean {
  return obj.kind === "Secret" && obj.apiVersion === "v1" && obj.root.child("type").optString() === "kubernetes.io/tls";
}

export function readL7Objects(objects: readonly KubeObject[]): L7Objects {
  const out = emptyL7Objects();
  const ingressDrafts: IngressDraft[] = [];
  for (const [order, obj] of objects.entries()) {
    const versions = L7_KINDS[obj.kind];
    if (versions !== undefined && !versions.includes(obj.apiVersion)) {
      const removed = obj.kind === "Ingress" || obj.kind === "IngressClass" ? " (networking.k8s.io/v1beta1 and extensions/v1beta1 were removed in Kubernetes 1.22)" : "";
      obj.root.child("apiVersion").fail("E_API_VERSION", `${obj.kind} with apiVersion ${obj.apiVersion} is not served${removed}`, `use apiVersion: ${versions[0]}`);
    }
    switch (obj.kind) {
      case "Ingress":
        ingressDrafts.push(readIngress(obj, order));
        break;
      case "IngressClass":
        out.ingressClasses.push(readIngressClass(obj, order));
        break;
      case "GatewayClass":
        out.gatewayClasses.push(readGatewayClass(obj, order));
        break;
      case "Gateway":
        out.gateways.push(readGateway(obj, order));
        break;
      case "HTTPRoute":
        out.httpRoutes.push(readHttpRoute(obj, order));
        break;
      case "ReferenceGrant":
        out.referenceGrants.push(readReferenceGrant(obj, order));
        break;
      case "Namespace": {
        const name = obj.root.child("metadata").child("name").optString();
        if (name !== undefined) out.namespaceLabels.set(name, { ...readLabels(obj.root.child("metadata").child("labels")), "kubernetes.io/metadata.name": name });
        break;
      }
      case "Secret":
        if (isTlsSecret(obj)) out.tlsSecrets.push(readTlsSecret(obj, order));
        break;
      default:
        break;
    }
  }
  checkUnique(out, objects);
  const defaults = out.ingressClasses.filter((c) => c.isDefault);
  for (const d of ingressDrafts) {
    const ing = d.ingress;
    if (ing.className === null && defaults.length === 1) {
      ing.className = defaults[0]!.name;
      ing.classSource = "default class";
    } else if (ing.className === null && defaults.length > 1) {
      d.classField.fail(
        "E_INGRESS_CLASS",
        `Ingress ${ing.namespace}/${ing.name} has no ingressClassName and ${defaults.length} IngressClasses are marked default (${defaults.map((c) => c.name).join(", ")}): the DefaultIngressClass admission plugin refuses it`,
        "set spec.ingressClassName, or keep ingressclass.kubernetes.io/is-default-class on one class only",
      );
    }
    out.ingresses.push(ing);
  }
  return out;
}

function readTlsSecret(obj: KubeObject, order: number) {
  const meta = readMeta(obj.root, "Secret", order, true);
  const locate = (field: string): InputLocation => {
    let f = obj.root;
    const [section, ...rest] = field.split(".");
    f = f.child(section!);
    if (rest.length > 0) f = f.child(rest.join("."));
    return f.absent ? obj.root.location() : f.location();
  };
  const credential = tlsCredentialFromSecret(obj.root.toJS(), { name: `${meta.namespace}/${meta.name}`, locate });
  return { namespace: meta.namespace, name: meta.name, credential, location: meta.location };
}

/** Two objects of one kind with the same namespace and name: the API server would have one. */
function checkUnique(out: L7Objects, objects: readonly KubeObject[]): void {
  const lists: [string, { namespace: string; name: string; location: InputLocation }[]][] = [
    ["Ingress", out.ingresses],
    ["IngressClass", out.ingressClasses],
    ["GatewayClass", out.gatewayClasses],
    ["Gateway", out.gateways],
    ["HTTPRoute", out.httpRoutes],
    ["ReferenceGrant", out.referenceGrants],
    ["Secret", out.tlsSecrets],
  ];
  for (const [kind, list] of lists) {
    const seen = new Map<string, InputLocation>();
    for (const o of list) {
      const key = `${o.namespace}/${o.name}`;
      const first = seen.get(key);
      if (first !== undefined) {
        const obj = objects.find((x) => x.kind === kind && x.root.location().line === o.location.line && x.root.location().document === o.location.document);
        const detail = `${kind} ${o.namespace ? key : o.name} is defined twice (first at document ${first.document}, line ${first.line})`;
        if (obj) obj.root.child("metadata").child("name").fail("E_DUPLICATE", detail, "give each object its own name");
      }
      seen.set(key, o.location);
    }
  }
}
