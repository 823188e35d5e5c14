/**
 * What a load used and what it left out, in one line for stderr:
 *
 *   read 3 Nodes, 12 Deployments → 12 Pods, 12 Services; ignored: 1 NetworkPolicy (not emulated), 2 ConfigMap
 *
 * Left-out objects that change how traffic flows (NetworkPolicy, Gateway API routes other
 * than HTTPRoute, IPv6 families) are marked, so `--strict` can refuse them. Ingress,
 * IngressClass, GatewayClass, Gateway and HTTPRoute are read (cluster/read-l7.ts).
 */
import { PodwireError, type InputLocation } from "../base/index.js";

/** Kinds whose absence from the emulation changes what traffic does, with why. */
const TRAFFIC_KINDS: Record<string, string> = {
  NetworkPolicy: "not emulated: traffic it would block passes",
  AdminNetworkPolicy: "not emulated: traffic it would block passes",
  BaselineAdminNetworkPolicy: "not emulated: traffic it would block passes",
  CiliumNetworkPolicy: "not emulated: traffic it would block passes",
  GRPCRoute: "not emulated yet: no L7 routing",
  TLSRoute: "not emulated yet: no L7 routing",
  TCPRoute: "not emulated yet",
  UDPRoute: "not emulated yet",
};

/** Kinds left out that do not change the dataplane, with a reason where one helps. */
const QUIET_REASONS: Record<string, string> = {
  Endpoints: "kube-proxy reads EndpointSlices",
};

export interface IgnoredEntry {
  /** A kind, or a singular phrase such as `IPv6 Service family` (pluralised at its end). */
  what: string;
  count: number;
  reason: string;
  /** Leaving it out changes what traffic does (refused under --strict). */
  affectsTraffic: boolean;
  /** Where the first one is. */
  location: InputLocation;
}

export interface LoadSummary {
  /** Kinds read and used, in first-seen order, with counts; workloads with the Pods they became. */
  read: { kind: string; count: number; madePods?: number }[];
  ignored: IgnoredEntry[];
  /** Add-ons podwire supplied because the file lacks them. */
  added: string[];
  /** The line for stderr. */
  text: string;
}

const plural = (kind: string, n: number): string => (n === 1 ? kind : kind.endsWith("s") ? `${kind}es` : kind.endsWith("y") ? `${kind.slice(0, -1)}ies` : `${kind}s`);

export class SummaryBuilder {
  private readonly read = new Map<string, { count: number; madePods?: number }>();
  private readonly ignored = new Map<string, IgnoredEntry>();
  private readonly addedParts: string[] = [];

  /** Something podwire adds that every real cluster has (CoreDNS). */
  added(what: string): void {
    this.addedParts.push(what);
  }

  used(kind: string, madePods?: number): void {
    const entry = this.read.get(kind) ?? { count: 0 };
    entry.count++;
    if (madePods !== undefined) entry.madePods = (entry.madePods ?? 0) + madePods;
    this.read.set(kind, entry);
  }

  /** An object of a kind podwire does not use. */
  ignoredKind(kind: string, location: InputLocation): void {
    const traffic = TRAFFIC_KINDS[kind];
    this.ignore(kind, traffic ?? QUIET_REASONS[kind] ?? "", traffic !== undefined, location);
  }

  ignore(what: string, reason: string, affectsTraffic: boolean, location: InputLocation): void {
    const entry = this.ignored.get(what);
    if (entry) entry.count++;
    else this.ignored.set(what, { what, count: 1, reason, affectsTraffic, location });
  }

  build(): LoadSummary {
    const read = [...this.read].map(([kind, e]) => ({ kind, ...e }));
    const ignored = [...this.ignored.values()];
    const readText = read.map((r) => `${r.count} ${plural(r.kind, r.count)}${r.madePods !== undefined ? ` → ${r.madePods} ${plural("Pod", r.madePods)}` : ""}`).join(", ");
    const ignoredText = ignored.map((i) => `${i.count} ${plural(i.what, i.count)}${i.reason ? ` (${i.reason})` : ""}`).join(", ");
    const addedText = this.addedParts.join(", ");
    return { read, ignored, added: [...this.addedParts], text: `read ${readText || "nothing"}${addedText ? `; added: ${addedText}` : ""}${ignoredText ? `; ignored: ${ignoredText}` : ""}` };
  }
}

/** `--strict`: an ignored object that changes what traffic does is an error. */
export function enforceStrict(summary: LoadSummary): void {
  const first = summary.ignored.find((i) => i.affectsTraffic);
  if (!first) return;
  const all = summary.ignored.filter((i) => i.affectsTraffic).map((i) => `${i.count} ${i.what}`).join(", ");
  throw new PodwireError(
    "E_STRICT",
    `--strict: the file has objects that change traffic but are not emulated: ${all} (${first.reason})`,
    first.location,
    "remove them from the file, or run without --strict to check the cluster without them",
  );
}
