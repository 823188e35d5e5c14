/**
 * Workload controllers, as far as the network sees them: Deployments, ReplicaSets,
 * StatefulSets, DaemonSets and Jobs become the Pods their controllers would create — the
 * replica count, the names the controllers give (`web-<template hash>-<suffix>`, `db-0`,
 * `agent-<suffix>` one per eligible node, `job-<suffix>`), the template's labels and ports,
 * and ownerReferences. A workload whose Pods the file already holds (a `kubectl get` dump)
 * is not expanded again: those Pods are used as they are.
 */
import { type KubeObject, type NodeDraft, type PodDraft, fitsNode, readLabels, readPodTemplate } from "./read-objects.js";
import type { Field } from "./yaml-field.js";

export const WORKLOAD_KINDS: Record<string, string> = {
  Deployment: "apps/v1",
  ReplicaSet: "apps/v1",
  StatefulSet: "apps/v1",
  DaemonSet: "apps/v1",
  Job: "batch/v1",
};

export function isWorkloadKind(kind: string): boolean {
  return kind in WORKLOAD_KINDS;
}

/** What one workload became. */
export interface WorkloadResult {
  kind: string;
  namespace: string;
  name: string;
  /** Pods made for it; 0 when the file already had them (see `existing`) or replicas is 0. */
  made: number;
  /** Pods of this workload already in the file. */
  existing: number;
}

/** The characters Kubernetes uses for generated names (rand.SafeEncodeString: no vowels, no 0/1/3). */
const SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

/** FNV-1a over the string's UTF-16 units: a stable hash for generated names. */
function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** A deterministic stand-in for the controllers' random or hashed suffixes. */
function safeSuffix(seed: string, length: number): string {
  let h = fnv1a32(seed);
  let out = "";
  for (let i = 0; i < length; i++) {
    if (i % 5 === 0 && i > 0) h = fnv1a32(`${seed}#${i}`);
    out += SAFE_ALPHABET[h % SAFE_ALPHABET.length];
    h = Math.floor(h / SAFE_ALPHABET.length);
  }
  return out;
}

/**
 * Expands every workload into Pods, unless `pods` (the file's own Pods) already holds Pods
 * it owns. DaemonSets need the nodes to know where their Pods go.
 */
export function expandWorkloads(workloads: KubeObject[], pods: readonly PodDraft[], nodes: readonly NodeDraft[]): { pods: PodDraft[]; results: WorkloadResult[] } {
  const ownedBy = (kind: string, namespace: string, name: string): PodDraft[] =>
    pods.filter((p) => p.namespace === namespace && p.owners.some((o) => o.kind === kind && o.name === name));
  // A Deployment's ReplicaSets are in the file (kubectl get all), or named by its Pods' owners.
  const replicaSetOwners = new Map<string, string>();
  for (const obj of workloads) {
    if (obj.kind !== "ReplicaSet") continue;
    for (const o of obj.root.child("metadata").child("ownerReferences").items()) {
      if (o.child("kind").optString() === "Deployment") replicaSetOwners.set(`${namespaceOf(obj)}/${nameOf(obj)}`, o.child("name").optString() ?? "");
    }
  }
  const made: PodDraft[] = [];
  const results: WorkloadResult[] = [];
  for (const obj of workloads) {
    const namespace = namespaceOf(obj);
    const name = nameOf(obj);
    const result: WorkloadResult = { kind: obj.kind, namespace, name, made: 0, existing: 0 };
    results.push(result);
    const existing = obj.kind === "Deployment" ? deploymentPods(obj, pods, replicaSetOwners) : ownedBy(obj.kind, namespace, name);
    // A ReplicaSet owned by a Deployment in the file is expanded by the Deployment.
    const deployment = replicaSetOwners.get(`${namespace}/${name}`);
    if (obj.kind === "ReplicaSet" && deployment !== undefined && workloads.some((w) => w.kind === "Deployment" && nameOf(w) === deployment && namespaceOf(w) === namespace)) {
      result.existing = existing.length;
      continue;
    }
    result.existing = existing.length;
    if (existing.length > 0) continue;
    if (obj.kind === "Deployment" && hasReplicaSetInFile(workloads, namespace, name)) continue;
    const podsOf = makePods(obj, namespace, name, nodes);
    result.made = podsOf.length;
    made.push(...podsOf);
  }
  return { pods: made, results };
}

function namespaceOf(obj: KubeObject): string {
  return obj.root.child("metadata").child("namespace").optString() || "default";
}

function nameOf(obj: KubeObject): string {
  return obj.root.child("metadata").child("name").requiredString();
}

function hasReplicaSetInFile(workloads: KubeObject[], namespace: string, deployment: string): boolean {
  return workloads.some(
    (w) => w.kind === "ReplicaSet" && namespaceOf(w) === namespace && w.root.child("metadata").child("ownerReferences").items().some((o) => o.child("kind").optString() === "Deployment" && o.child("name").optString() === deployment),
  );
}

/** A Deployment's Pods are owned by one of its ReplicaSets (`<deployment>-<pod-template-hash>`). */
function deploymentPods(obj: KubeObject, pods: readonly PodDraft[], replicaSetOwners: Map<string, string>): PodDraft[] {
  const namespace = namespaceOf(obj);
  const name = nameOf(obj);
  return pods.filter(
    (p) =>
      p.namespace === namespace &&
      p.owners.some((o) => o.kind === "ReplicaSet" && (replicaSetOwners.get(`${namespace}/${o.name}`) === name || (p.labels["pod-template-hash"] !== undefined && o.name === `${name}-${p.labels["pod-template-hash"]}`))),
  );
}

function replicasOf(spec: Field, fallback: number): number {
  const at = spec.child("replicas");
  const n = at.optInt() ?? fallback;
  if (n < 0) at.fail("E_RANGE", `${at.path} ${n} is negative`, "use 0 or more replicas");
  return n;
}

function makePods(obj: KubeObject, namespace: string, name: string, nodes: readonly NodeDraft[]): PodDraft[] {
  const spec = obj.root.child("spec");
  const template = spec.child("template");
  const nameAt = obj.root.child("metadata").child("name");
  if (template.absent) template.missing();
  const templateLabels = readLabels(template.child("metadata").child("labels"));
  const make = (podName: string, ownerKind: string, ownerName: string, extraLabels: Record<string, string>): PodDraft => {
    const pod = readPodTemplate(template, podName, namespace, nameAt);
    pod.labels = { ...templateLabels, ...extraLabels };
    pod.owners = [{ kind: ownerKind, name: ownerName }];
    return pod;
  };
  switch (obj.kind) {
    case "Deployment":
    case "ReplicaSet": {
      const replicas = replicasOf(spec, 1);
      // The Deployment controller names its ReplicaSet after a hash of the Pod template.
      const hash = obj.kind === "Deployment" ? safeSuffix(`${namespace}/${name}/${JSON.stringify(template.toJS())}`, 10) : "";
      const rs = obj.kind === "Deployment" ? `${name}-${hash}` : name;
      const extra: Record<string, string> = obj.kind === "Deployment" ? { "pod-template-hash": hash } : {};
      return Array.from({ length: replicas }, (_, i) => make(`${rs}-${safeSuffix(`${namespace}/${rs}/${i}`, 5)}`, "ReplicaSet", rs, extra));
    }
    case "StatefulSet": {
      const replicas = replicasOf(spec, 1);
      return Array.from({ length: replicas }, (_, i) =>
        make(`${name}-${i}`, "StatefulSet", name, { "statefulset.kubernetes.io/pod-name": `${name}-${i}`, "apps.kubernetes.io/pod-index": String(i) }),
      );
    }
    case "DaemonSet": {
      const probe = readPodTemplate(template, name, namespace, nameAt);
      // The DaemonSet controller places one Pod on every node the Pod fits (it ignores spec.unschedulable).
      return nodes.filter((n) => fitsNode(probe, n, true)).map((n) => {
        const pod = make(`${name}-${safeSuffix(`${namespace}/${name}/${n.name}`, 5)}`, "DaemonSet", name, {});
        pod.nodeName = n.name;
        return pod;
      });
    }
    case "Job": {
      const parallelism = spec.child("parallelism").optInt() ?? 1;
      const completions = spec.child("completions").optInt() ?? parallelism;
      const running = Math.max(0, Math.min(parallelism, completions));
      return Array.from({ length: running }, (_, i) => {
        const podName = `${name}-${safeSuffix(`${namespace}/${name}/${i}`, 5)}`;
        return make(podName, "Job", name, { "batch.kubernetes.io/job-name": name, "job-name": name });
      });
    }
    default:
      return [];
  }
}

/** Where the built-in CoreDNS Deployment is said to come from in error locations. */
export const BUILTIN_COREDNS_SOURCE = "<built-in CoreDNS>";

/**
 * CoreDNS as kubeadm deploys it (two replicas, tolerating the control plane), for clusters
 * whose file has no CoreDNS Pods: every real cluster runs it behind `kube-system/kube-dns`.
 */
export const BUILTIN_COREDNS_YAML = `\
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    k8s-app: kube-dns
  name: coredns
  namespace: kube-system
spec:
  replicas: 2
  selector:
    matchLabels:
      k8s-app: kube-dns
  template:
    metadata:
      labels:
        k8s-app: kube-dns
    spec:
      containers:
      - image: registry.k8s.io/coredns/coredns:v1.11.3
        name: coredns
        ports:
        - containerPort: 53
          name: dns
          protocol: UDP
        - containerPort: 53
          name: dns-tcp
          protocol: TCP
        - containerPort: 9153
          name: metrics
          protocol: TCP
      tolerations:
      - key: CriticalAddonsOnly
        operator: Exists
      - effect: NoSchedule
        key: node-role.kubernetes.io/control-plane
`;

/** Is this Pod one of CoreDNS's (the kube-dns Service's selector)? */
export function isCoreDnsPod(pod: PodDraft): boolean {
  return pod.namespace === "kube-system" && pod.labels["k8s-app"] === "kube-dns";
}
