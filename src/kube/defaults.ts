/**
 * The API server's defaulting, in one place. podwire reads objects as a user writes them;
 * the API server fills absent fields before any controller or kube-proxy sees an object, so
 * podwire fills them first, the same way.
 *
 * Every function here is pure: it takes a document body (plain JSON-like data, as parsed
 * from YAML) and returns a new, defaulted body. The input is never mutated, and a value the
 * user gave is never changed: only absent fields are filled. "Absent" means what Go's JSON
 * decoder cannot tell from absent, field by field, as upstream types declare them:
 *  - pointer fields (`*int32 replicas`, `*string` EndpointPort name): absent or null;
 *  - plain string, int and bool fields: absent, null or the zero value ("", 0), as Go sees
 *    no difference between `type: ""` and no `type`;
 *  - lists and maps: absent, null or empty.
 * A field of the wrong type (a string where an object belongs) is left as it is, for the
 * readers to report with its location.
 *
 * Upstream sources (kubernetes/kubernetes), cited at each rule:
 *  - pkg/apis/core/v1/defaults.go            (SetDefaults_Service, _Pod, _PodSpec, ...)
 *  - pkg/apis/core/v1/zz_generated.defaults.go (declarative `+default` markers: container
 *    port protocol TCP, and which SetDefaults_* run for which object)
 *  - pkg/api/v1/service/util.go              (ExternallyAccessible)
 *  - pkg/registry/core/service/storage/alloc.go (initIPFamilyFields: ipFamilyPolicy and
 *    ipFamilies, done by the Service REST storage on create, not by the scheme defaulter)
 *  - pkg/apis/discovery/v1/defaults.go       (SetDefaults_EndpointPort)
 *  - pkg/apis/apps/v1/defaults.go            (Deployment, DaemonSet, StatefulSet, ReplicaSet)
 *  - pkg/apis/batch/v1/defaults.go           (Job, CronJob)
 *
 * Deliberate differences from upstream, all in the direction of "never change what the
 * user gave":
 *  - SetDefaults_Service drops `sessionAffinityConfig` when affinity is None; it is kept
 *    here (kube-proxy ignores it then, so nothing observable changes).
 *  - initIPFamilyFields appends families to a partly given `ipFamilies` list; here a given
 *    list is kept as it is and only an absent one is filled.
 *  - The API server validates after defaulting (an IPv6 clusterIP on an IPv4-only cluster,
 *    a Job with restartPolicy Always). Nothing here validates.
 * Not done here: allocation (clusterIP/clusterIPs, nodePorts, healthCheckNodePort: see
 * allocate.ts), the controllers' work (EndpointSlices, Pods from templates), resource
 * quantity rounding and volume-source defaults (irrelevant to the dataplane).
 */

export type ApiBody = Record<string, unknown>;
export type IPFamily = "IPv4" | "IPv6";

export interface ApiDefaultsOptions {
  /**
   * The cluster's Service IP families, primary first (`--service-cluster-ip-range`):
   * ["IPv4"] (the default) for a single-stack IPv4 cluster, two entries for dual-stack.
   */
  serviceIPFamilies?: readonly IPFamily[];
}

/** core/v1 DefaultClientIPServiceAffinitySeconds. */
export const DEFAULT_CLIENT_IP_AFFINITY_SECONDS = 10800;
/** core/v1 DefaultTerminationGracePeriodSeconds. */
export const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS = 30;
/** core/v1 DefaultSchedulerName. */
export const DEFAULT_SCHEDULER_NAME = "default-scheduler";
/** core/v1 TerminationMessagePathDefault. */
export const DEFAULT_TERMINATION_MESSAGE_PATH = "/dev/termination-log";

// ---------------------------------------------------------------------------------------
// Dispatch

/**
 * Applies the API server's defaults for `kind` in `apiVersion` and returns a new body.
 * Kinds (or versions) with no defaults that matter here come back as an unchanged copy.
 */
export function applyApiDefaults(kind: string, apiVersion: string, body: ApiBody, options: ApiDefaultsOptions = {}): ApiBody {
  const group = apiGroup(apiVersion);
  switch (`${group}/${kind}`) {
    case "core/Service":
      return defaultService(body, options);
    case "core/Endpoints":
      return defaultEndpoints(body);
    case "core/Pod":
      return defaultPod(body);
    case "core/PodTemplate":
      return defaultPodTemplate(body);
    case "core/ReplicationController":
      return defaultReplicationController(body);
    case "core/Node":
      return defaultNode(body);
    case "discovery.k8s.io/EndpointSlice":
      return defaultEndpointSlice(body);
    case "apps/Deployment":
      return defaultDeployment(body);
    case "apps/ReplicaSet":
      return defaultReplicaSet(body);
    case "apps/StatefulSet":
      return defaultStatefulSet(body);
    case "apps/DaemonSet":
      return defaultDaemonSet(body);
    case "batch/Job":
      return defaultJob(body);
    case "batch/CronJob":
      return defaultCronJob(body);
    default:
      return structuredClone(body);
  }
}

/**
 * The group of an apiVersion, "core" for the legacy group. Only the versions whose
 * defaults are the ones implemented here are recognised: apps/v1 (apps/v1beta1 and
 * extensions/v1beta1 had different Deployment defaults), batch/v1, discovery.k8s.io/v1 and
 * v1beta1 (the same EndpointPort defaults).
 */
function apiGroup(apiVersion: string): string {
  switch (apiVersion) {
    case "v1":
      return "core";
    case "apps/v1":
      return "apps";
    case "batch/v1":
      return "batch";
    case "discovery.k8s.io/v1":
    case "discovery.k8s.io/v1beta1":
      return "discovery.k8s.io";
    default:
      return `unknown:${apiVersion}`;
  }
}

// ---------------------------------------------------------------------------------------
// Service

/**
 * A Service, as SetDefaults_Service (pkg/apis/core/v1/defaults.go) and then the Service
 * REST storage's initIPFamilyFields (pkg/registry/core/service/storage/alloc.go) leave it.
 */
export function defaultService(body: ApiBody, options: ApiDefaultsOptions = {}): ApiBody {
  const out = structuredClone(body);
  defaultNamespace(out);
  const spec = objField(out, "spec");
  if (!spec) return out;

  // pkg/apis/core/v1/defaults.go SetDefaults_Service, in its order.
  if (unsetString(spec.sessionAffinity)) spec.sessionAffinity = "None";
  if (spec.sessionAffinity === "ClientIP") {
    const config = objField(spec, "sessionAffinityConfig");
    const clientIP = config && objField(config, "clientIP");
    if (clientIP && unsetPointer(clientIP.timeoutSeconds)) clientIP.timeoutSeconds = DEFAULT_CLIENT_IP_AFFINITY_SECONDS;
  }
  if (unsetString(spec.type)) spec.type = "ClusterIP";
  for (const port of objItems(spec.ports)) {
    if (unsetString(port.protocol)) port.protocol = "TCP";
    // `targetPort` is an IntOrString: 0 and "" are its zero values.
    const tp = port.targetPort;
    if ((tp === undefined || tp === null || tp === 0 || tp === "") && typeof port.port === "number") port.targetPort = port.port;
  }
  // ExternallyAccessible (pkg/api/v1/service/util.go): NodePort, LoadBalancer, or a
  // ClusterIP Service with externalIPs.
  if (externallyAccessible(spec) && unsetString(spec.externalTrafficPolicy)) spec.externalTrafficPolicy = "Cluster";
  if (unsetPointer(spec.internalTrafficPolicy) && (spec.type === "ClusterIP" || spec.type === "NodePort" || spec.type === "LoadBalancer")) {
    spec.internalTrafficPolicy = "Cluster";
  }
  if (spec.type === "LoadBalancer" && unsetPointer(spec.allocateLoadBalancerNodePorts)) spec.allocateLoadBalancerNodePorts = true;
  if (spec.type === "LoadBalancer") {
    // status.loadBalancer.ingress[].ipMode: VIP for an ingress with an IP.
    const status = isObj(out.status) ? out.status : undefined;
    const lb = status && isObj(status.loadBalancer) ? status.loadBalancer : undefined;
    for (const ing of objItems(lb?.ingress)) {
      if (typeof ing.ip === "string" && ing.ip !== "" && unsetPointer(ing.ipMode)) ing.ipMode = "VIP";
    }
  }

  defaultServiceIPFamilies(spec, options.serviceIPFamilies ?? ["IPv4"]);
  // publishNotReadyAddresses has no default: absent stays absent (false).
  return out;
}

function externallyAccessible(spec: ApiBody): boolean {
  return spec.type === "LoadBalancer" || spec.type === "NodePort" || (spec.type === "ClusterIP" && Array.isArray(spec.externalIPs) && spec.externalIPs.length > 0);
}

/**
 * pkg/registry/core/service/storage/alloc.go initIPFamilyFields, for a create:
 *  - ExternalName Services get nothing;
 *  - ipFamilyPolicy: RequireDualStack for a headless Service without a selector, else
 *    SingleStack;
 *  - ipFamilies (only when absent): the family of each given cluster IP (an IPv6 literal
 *    gives IPv6), else the cluster's primary family; a headless selectorless Service whose
 *    policy is not SingleStack gets both families, even on a single-stack cluster; any
 *    other non-SingleStack Service gets the second family when the cluster is dual-stack.
 */
function defaultServiceIPFamilies(spec: ApiBody, clusterFamilies: readonly IPFamily[]): void {
  if (spec.type === "ExternalName") return;
  const primary: IPFamily = clusterFamilies[0] ?? "IPv4";
  const clusterIPs = givenClusterIPs(spec);
  const headlessSelectorless = clusterIPs[0] === "None" && unsetMap(spec.selector);

  if (unsetPointer(spec.ipFamilyPolicy)) spec.ipFamilyPolicy = headlessSelectorless ? "RequireDualStack" : "SingleStack";
  if (!unsetList(spec.ipFamilies)) return;

  const families: IPFamily[] = [];
  for (const ip of clusterIPs) {
    if (ip === "None") break;
    families.push(ipFamilyOf(ip));
  }
  if (families.length === 0) families.push(primary);
  const singleStack = spec.ipFamilyPolicy === "SingleStack";
  if (headlessSelectorless) {
    if (families.length < 2 && !singleStack) families.push(otherFamily(families[0]!));
  } else if (!singleStack && families.length === 1 && clusterFamilies.length === 2) {
    families.push(otherFamily(families[0]!));
  }
  spec.ipFamilies = families;
}

/** spec.clusterIPs, or [spec.clusterIP] as the API server normalises a v1 create. */
function givenClusterIPs(spec: ApiBody): string[] {
  if (Array.isArray(spec.clusterIPs) && spec.clusterIPs.length > 0) return spec.clusterIPs.filter((ip): ip is string => typeof ip === "string" && ip !== "");
  if (typeof spec.clusterIP === "string" && spec.clusterIP !== "") return [spec.clusterIP];
  return [];
}

function ipFamilyOf(ip: string): IPFamily {
  return ip.includes(":") ? "IPv6" : "IPv4";
}

function otherFamily(f: IPFamily): IPFamily {
  return f === "IPv4" ? "IPv6" : "IPv4";
}

// ---------------------------------------------------------------------------------------
// Endpoints and EndpointSlices

/**
 * An EndpointSlice, as pkg/apis/discovery/v1/defaults.go SetDefaults_EndpointPort leaves
 * it: each port's name "" and protocol TCP when absent (both are pointers there, so a
 * given "" stays ""). Endpoint conditions are NOT defaulted: kube-proxy gives an absent
 * `ready` or `serving` its own meaning (true), and the API server leaves them nil.
 */
export function defaultEndpointSlice(body: ApiBody): ApiBody {
  const out = structuredClone(body);
  defaultNamespace(out);
  for (const port of objItems(out.ports)) {
    if (unsetPointer(port.name)) port.name = "";
    if (unsetPointer(port.protocol)) port.protocol = "TCP";
  }
  return out;
}

/** v1 Endpoints: subsets[].ports[].protocol TCP (pkg/apis/core/v1/defaults.go SetDefaults_Endpoints). */
export function defaultEndpoints(body: ApiBody): ApiBody {
  const out = structuredClone(body);
  defaultNamespace(out);
  for (const subset of objItems(out.subsets)) {
    for (const port of objItems(subset.ports)) {
      if (unsetString(port.protocol)) port.protocol = "TCP";
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Pods

/**
 * A Pod, as zz_generated.defaults.go SetObjectDefaults_Pod runs it: SetDefaults_Pod (Pod
 * only), SetDefaults_PodSpec, then each container's defaults.
 */
export function defaultPod(body: ApiBody): ApiBody {
  const out = structuredClone(body);
  defaultNamespace(out);
  const spec = objField(out, "spec");
  if (spec) fillPodSpec(spec, true);
  return out;
}

/** A v1 PodTemplate object: its template's spec gets the PodSpec defaults. */
export function defaultPodTemplate(body: ApiBody): ApiBody {
  const out = structuredClone(body);
  defaultNamespace(out);
  fillTemplate(out);
  return out;
}

/**
 * The Pod-only defaults (SetDefaults_Pod) apply when `isPod`; a template inside a workload
 * gets only SetDefaults_PodSpec and the container defaults, as upstream (a template's
 * defaults are kept minimal so that new ones do not roll every workload's Pods).
 */
function fillPodSpec(spec: ApiBody, isPod: boolean): void {
  const containers = objItems(spec.containers);
  const initContainers = objItems(spec.initContainers);
  const ephemeral = objItems(spec.ephemeralContainers);

  if (isPod) {
    // pkg/apis/core/v1/defaults.go SetDefaults_Pod.
    for (const c of [...containers, ...initContainers]) {
      // Requests default to limits, key by key.
      const resources = isObj(c.resources) ? c.resources : undefined;
      const limits = resources && isObj(resources.limits) ? resources.limits : undefined;
      if (resources && limits && Object.keys(limits).length > 0) {
        const requests = objField(resources, "requests");
        if (requests) {
          for (const [k, v] of Object.entries(limits)) if (!(k in requests)) requests[k] = structuredClone(v);
        }
      }
    }
    if (unsetPointer(spec.enableServiceLinks)) spec.enableServiceLinks = true;
    if (spec.hostNetwork === true) {
      // defaultHostNetworkPorts: with host networking every container port is a host port.
      for (const c of [...containers, ...initContainers]) {
        for (const p of objItems(c.ports)) {
          if (unsetNumber(p.hostPort) && typeof p.containerPort === "number") p.hostPort = p.containerPort;
        }
      }
    }
    // hostNetwork itself has no default: it is a plain bool, absent (false) stays absent,
    // as `kubectl get -o yaml` shows it.
  }

  // pkg/apis/core/v1/defaults.go SetDefaults_PodSpec.
  if (unsetString(spec.dnsPolicy)) spec.dnsPolicy = "ClusterFirst";
  if (unsetString(spec.restartPolicy)) spec.restartPolicy = "Always";
  if (unsetPointer(spec.securityContext)) spec.securityContext = {};
  if (unsetPointer(spec.terminationGracePeriodSeconds)) spec.terminationGracePeriodSeconds = DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS;
  if (unsetString(spec.schedulerName)) spec.schedulerName = DEFAULT_SCHEDULER_NAME;

  for (const c of [...initContainers, ...containers, ...ephemeral]) fillContainer(c);
}

/**
 * SetDefaults_Container, the declarative `+default="TCP"` on ContainerPort.protocol
 * (zz_generated.defaults.go), env fieldRef apiVersion, probes and HTTP handlers.
 */
function fillContainer(c: ApiBody): void {
  if (unsetString(c.imagePullPolicy)) c.imagePullPolicy = imageTag(typeof c.image === "string" ? c.image : "") === "latest" ? "Always" : "IfNotPresent";
  if (unsetString(c.terminationMessagePath)) c.terminationMessagePath = DEFAULT_TERMINATION_MESSAGE_PATH;
  if (unsetString(c.terminationMessagePolicy)) c.terminationMessagePolicy = "File";
  for (const p of objItems(c.ports)) {
    if (unsetString(p.protocol)) p.protocol = "TCP";
  }
  for (const e of objItems(c.env)) {
    const fieldRef = isObj(e.valueFrom) && isObj(e.valueFrom.fieldRef) ? e.valueFrom.fieldRef : undefined;
    if (fieldRef && unsetString(fieldRef.apiVersion)) fieldRef.apiVersion = "v1"; // SetDefaults_ObjectFieldSelector
  }
  for (const key of ["livenessProbe", "readinessProbe", "startupProbe"]) {
    const probe = c[key];
    if (!isObj(probe)) continue;
    // SetDefaults_Probe
    if (unsetNumber(probe.timeoutSeconds)) probe.timeoutSeconds = 1;
    if (unsetNumber(probe.periodSeconds)) probe.periodSeconds = 10;
    if (unsetNumber(probe.successThreshold)) probe.successThreshold = 1;
    if (unsetNumber(probe.failureThreshold)) probe.failureThreshold = 3;
    fillHandler(probe);
    // GRPCAction.service is `+default=""` (a pointer).
    if (isObj(probe.grpc) && unsetPointer(probe.grpc.service)) probe.grpc.service = "";
  }
  if (isObj(c.lifecycle)) {
    for (const hook of [c.lifecycle.postStart, c.lifecycle.preStop]) if (isObj(hook)) fillHandler(hook);
  }
}

/** SetDefaults_HTTPGetAction. */
function fillHandler(handler: ApiBody): void {
  const get = handler.httpGet;
  if (!isObj(get)) return;
  if (unsetString(get.path)) get.path = "/";
  if (unsetString(get.scheme)) get.scheme = "HTTP";
}

/**
 * The tag of an image reference as ParseImageName (pkg/util/parsers) sees it: "latest"
 * when the reference has neither tag nor digest, "" when it has only a digest.
 */
export function imageTag(image: string): string {
  const at = image.indexOf("@");
  const name = at >= 0 ? image.slice(0, at) : image;
  const last = name.slice(name.lastIndexOf("/") + 1); // a registry's ":port" is before the last "/"
  const colon = last.indexOf(":");
  const tag = colon >= 0 ? last.slice(colon + 1) : "";
  return tag === "" && at < 0 ? "latest" : tag;
}

/** A Pod template (`.spec.template`): its spec gets the PodSpec defaults. */
function fillTemplate(holder: ApiBody): void {
  const template = objField(holder, "template");
  const spec = template && objField(template, "spec");
  if (spec) fillPodSpec(spec, false);
}

// ---------------------------------------------------------------------------------------
// Nodes

/**
 * A Node. Upstream's only Node default (SetDefaults_NodeStatus) copies status.capacity to
 * status.allocatable when allocatable is absent; nothing else, and nothing about the
 * dataplane (podCIDR, addresses and taints are set by the node controllers and kubelet).
 * Node is cluster-scoped: no namespace.
 */
export function defaultNode(body: ApiBody): ApiBody {
  const out = structuredClone(body);
  const status = isObj(out.status) ? out.status : undefined;
  if (status && isObj(status.capacity) && unsetPointer(status.allocatable)) status.allocatable = structuredClone(status.capacity);
  return out;
}

// ---------------------------------------------------------------------------------------
// Workloads

/** core/v1 ReplicationController: selector and labels from the template's labels, replicas 1. */
export function defaultReplicationController(body: ApiBody): ApiBody {
  const out = structuredClone(body);
  defaultNamespace(out);
  const spec = objField(out, "spec");
  if (!spec) return out;
  const template = isObj(spec.template) ? spec.template : undefined;
  const labels = template && isObj(template.metadata) && isObj(template.metadata.labels) ? template.metadata.labels : undefined;
  if (labels) {
    if (unsetMap(spec.selector)) spec.selector = structuredClone(labels);
    const meta = objField(out, "metadata");
    if (meta && unsetMap(meta.labels)) meta.labels = structuredClone(labels);
  }
  if (unsetPointer(spec.replicas)) spec.replicas = 1; // declarative (+default=1)
  fillTemplate(spec);
  return out;
}

/** apps/v1 Deployment (pkg/apis/apps/v1/defaults.go SetDefaults_Deployment). */
export function defaultDeployment(body: ApiBody): ApiBody {
  const out = structuredClone(body);
  defaultNamespace(out);
  const spec = objField(out, "spec");
  if (!spec) return out;
  if (unsetPointer(spec.replicas)) spec.replicas = 1;
  const strategy = objField(spec, "strategy");
  if (strategy) {
    if (unsetString(strategy.type)) strategy.type = "RollingUpdate";
    if (strategy.type === "RollingUpdate") {
      const ru = objField(strategy, "rollingUpdate");
      if (ru && unsetPointer(ru.maxUnavailable)) ru.maxUnavailable = "25%";
      if (ru && unsetPointer(ru.maxSurge)) ru.maxSurge = "25%";
    }
  }
  if (unsetPointer(spec.revisionHistoryLimit)) spec.revisionHistoryLimit = 10;
  if (unsetPointer(spec.progressDeadlineSeconds)) spec.progressDeadlineSeconds = 600;
  fillTemplate(spec);
  return out;
}

/** apps/v1 ReplicaSet (SetDefaults_ReplicaSet): replicas 1. */
export function defaultReplicaSet(body: ApiBody): ApiBody {
  const out = structuredClone(body);
  defaultNamespace(out);
  const spec = objField(out, "spec");
  if (!spec) return out;
  if (unsetPointer(spec.replicas)) spec.replicas = 1;
  fillTemplate(spec);
  return out;
}

/**
 * apps/v1 StatefulSet (SetDefaults_StatefulSet). The PVC retention policy default is
 * behind StatefulSetAutoDeletePVC, on by default since 1.27 (GA in 1.32).
 */
export function defaultStatefulSet(body: ApiBody): ApiBody {
  const out = structuredClone(body);
  defaultNamespace(out);
  const spec = objField(out, "spec");
  if (!spec) return out;
  if (unsetString(spec.podManagementPolicy)) spec.podManagementPolicy = "OrderedReady";
  const strategy = objField(spec, "updateStrategy");
  if (strategy) {
    if (unsetString(strategy.type)) {
      strategy.type = "RollingUpdate";
      objField(strategy, "rollingUpdate");
    }
    if (strategy.type === "RollingUpdate" && isObj(strategy.rollingUpdate) && unsetPointer(strategy.rollingUpdate.partition)) {
      strategy.rollingUpdate.partition = 0;
    }
  }
  const retention = objField(spec, "persistentVolumeClaimRetentionPolicy");
  if (retention) {
    if (unsetString(retention.whenDeleted)) retention.whenDeleted = "Retain";
    if (unsetString(retention.whenScaled)) retention.whenScaled = "Retain";
  }
  if (unsetPointer(spec.replicas)) spec.replicas = 1;
  if (unsetPointer(spec.revisionHistoryLimit)) spec.revisionHistoryLimit = 10;
  fillTemplate(spec);
  return out;
}

/** apps/v1 DaemonSet (SetDefaults_DaemonSet). */
export function defaultDaemonSet(body: ApiBody): ApiBody {
  const out = structuredClone(body);
  defaultNamespace(out);
  const spec = objField(out, "spec");
  if (!spec) return out;
  const strategy = objField(spec, "updateStrategy");
  if (strategy) {
    if (unsetString(strategy.type)) strategy.type = "RollingUpdate";
    if (strategy.type === "RollingUpdate") {
      const ru = objField(strategy, "rollingUpdate");
      if (ru && unsetPointer(ru.maxUnavailable)) ru.maxUnavailable = 1;
      if (ru && unsetPointer(ru.maxSurge)) ru.maxSurge = 0;
    }
  }
  if (unsetPointer(spec.revisionHistoryLimit)) spec.revisionHistoryLimit = 10;
  fillTemplate(spec);
  return out;
}

/** batch/v1 Job (pkg/apis/batch/v1/defaults.go SetDefaults_Job). */
export function defaultJob(body: ApiBody): ApiBody {
  const out = structuredClone(body);
  defaultNamespace(out);
  const spec = objField(out, "spec");
  if (!spec) return out;
  if (unsetPointer(spec.completions) && unsetPointer(spec.parallelism)) {
    spec.completions = 1;
    spec.parallelism = 1;
  }
  if (unsetPointer(spec.parallelism)) spec.parallelism = 1;
  if (unsetPointer(spec.backoffLimit)) spec.backoffLimit = 6;
  const template = isObj(spec.template) ? spec.template : undefined;
  const labels = template && isObj(template.metadata) && isObj(template.metadata.labels) ? template.metadata.labels : undefined;
  if (labels) {
    const meta = objField(out, "metadata");
    if (meta && unsetMap(meta.labels)) meta.labels = structuredClone(labels);
  }
  if (unsetPointer(spec.completionMode)) spec.completionMode = "NonIndexed";
  if (unsetPointer(spec.suspend)) spec.suspend = false;
  fillTemplate(spec);
  return out;
}

/** batch/v1 CronJob (SetDefaults_CronJob); its job template's Pod template gets PodSpec defaults. */
export function defaultCronJob(body: ApiBody): ApiBody {
  const out = structuredClone(body);
  defaultNamespace(out);
  const spec = objField(out, "spec");
  if (!spec) return out;
  if (unsetString(spec.concurrencyPolicy)) spec.concurrencyPolicy = "Allow";
  if (unsetPointer(spec.suspend)) spec.suspend = false;
  if (unsetPointer(spec.successfulJobsHistoryLimit)) spec.successfulJobsHistoryLimit = 3;
  if (unsetPointer(spec.failedJobsHistoryLimit)) spec.failedJobsHistoryLimit = 1;
  const jobTemplate = isObj(spec.jobTemplate) ? spec.jobTemplate : undefined;
  if (jobTemplate && isObj(jobTemplate.spec)) fillTemplate(jobTemplate.spec);
  return out;
}

// ---------------------------------------------------------------------------------------
// Helpers

/**
 * metadata.namespace "default" for a namespaced object without one. Strictly this is the
 * client's doing (kubectl sends the context's namespace) and the API server's (the request
 * path's namespace), not a scheme default; podwire has no context, so "default" it is.
 */
function defaultNamespace(out: ApiBody): void {
  const meta = objField(out, "metadata");
  if (meta && unsetString(meta.namespace)) meta.namespace = "default";
}

function isObj(v: unknown): v is ApiBody {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The object at `parent[key]`, created when absent or null; undefined when it is of another type. */
function objField(parent: ApiBody, key: string): ApiBody | undefined {
  const v = parent[key];
  if (v === undefined || v === null) {
    const created: ApiBody = {};
    parent[key] = created;
    return created;
  }
  return isObj(v) ? v : undefined;
}

/** The object elements of a list (others are skipped, left for the readers to report). */
function objItems(v: unknown): ApiBody[] {
  return Array.isArray(v) ? v.filter(isObj) : [];
}

const unsetPointer = (v: unknown): boolean => v === undefined || v === null;
const unsetString = (v: unknown): boolean => v === undefined || v === null || v === "";
const unsetNumber = (v: unknown): boolean => v === undefined || v === null || v === 0;
const unsetList = (v: unknown): boolean => v === undefined || v === null || (Array.isArray(v) && v.length === 0);
const unsetMap = (v: unknown): boolean => v === undefined || v === null || (isObj(v) && Object.keys(v).length === 0);
