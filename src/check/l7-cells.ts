/**
 * `check`'s L7 cells: one per Ingress path and per HTTPRoute match of every L7 controller,
 * sent as a real HTTP request from the first outside host to the controller's external
 * address (as `trace --to http://…` resolves it). The request is made to match its rule: the
 * rule's host (a wildcard's `*` becomes `check`), its path, and the method, header and
 * query parameter values an HTTPRoute match asks for.
 *
 * What should happen comes from the objects through the pure routing modules (l7/route-*.ts:
 * a rule another one shadows by precedence expects that other rule's backend), never from
 * what the controller did: ok when a Pod of the expected Service answers (any one, for weighted
 * backends); an expected failure when the route can only answer 503 (no ready endpoints), 500
 * (an invalid backendRef) or a redirect. HTTPS listeners and Ingress TLS are not checked
 * here (plain HTTP only): `podwire trace --to https://…` follows them.
 */
import { formatIpv4 } from "../base/index.js";
import type { RunningCluster } from "../cluster/boot.js";
import { runHttpExchange } from "../cluster/http-exchange.js";
import type { L7Controller } from "../cluster/l7-runtime.js";
import type { RouteDecision, RouteRequest } from "../l7/decision.js";
import type { HttpRouteMatch } from "../l7/objects.js";
import { CATCH_ALL } from "../l7/route-ingress.js";
import type { CheckCell } from "./run.js";
import type { SkippedTarget } from "./plan.js";

export interface L7CellPlan {
  controller: L7Controller;
  /** The URL as a user would write it. */
  url: string;
  request: RouteRequest;
  /** `Ingress default/shop rules[0].http.paths[1]`. */
  rule: string;
}

/** Every rule of every controller as a request that should match it; regex-only matches are skipped. */
export function planL7Cells(running: RunningCluster): { plans: L7CellPlan[]; skipped: SkippedTarget[]; notes: string[] } {
  const plans: L7CellPlan[] = [];
  const skipped: SkippedTarget[] = [];
  const notes: string[] = [];
  for (const c of running.l7.controllers) {
    const entry = running.l7.externalEntry(c, "http");
    const port = c.httpPorts[0];
    if (port === undefined) continue;
    notes.push(...c.notes.map((n) => `${c.pod.key}: ${n}`));
    if (entry === null) {
      skipped.push({ target: `L7 routes of ${c.pod.key}`, reason: "the controller has no LoadBalancer, NodePort or hostNetwork address outside the cluster" });
      continue;
    }
    if (c.httpsPorts.length > 0) notes.push(`${c.pod.key}: HTTPS routes are not checked here (plain HTTP only); follow one with podwire trace --to https://HOST/PATH`);
    const hostFor = (h: string) => (h === "" || h === CATCH_ALL ? formatIpv4(entry.ip) : h.replace(/^\*\./, "check."));
    for (const server of c.ingressTable.servers) {
      for (const loc of server.locations) {
        const host = hostFor(server.host);
        const path = loc.path.path === "" ? "/" : loc.path.path;
        plans.push({ controller: c, url: `http://${host}${path}`, request: req(host, path, "GET", [], entry.podPort), rule: `Ingress ${loc.ingress.namespace}/${loc.ingress.name} ${loc.where}` });
      }
    }
    for (const att of c.gatewayTable.attachments) {
      if (att.entry.listener.protocol !== "HTTP" || att.entry.localPort !== port) continue;
      const hostnames = att.hostnames ?? (att.entry.listener.hostname !== null ? [att.entry.listener.hostname] : [""]);
      for (const m of att.route.rules.flatMap((r) => r.matches)) {
        const rule = `HTTPRoute ${att.route.namespace}/${att.route.name} ${m.where}`;
        const built = requestFor(m, hostFor(hostnames[0]!), entry.podPort);
        if (built === null) {
          skipped.push({ target: rule, reason: "a RegularExpression match: check cannot make up a request for it (trace one with --header and the path)" });
          continue;
        }
        plans.push({ controller: c, url: `http://${hostFor(hostnames[0]!)}${built.target}`, request: built, rule });
      }
    }
  }
  return { plans, skipped, notes };
}

function req(host: string, target: string, method: string, headers: [string, string][], port: number): RouteRequest {
  return { host, target, method, headers: [["Host", host], ...headers], port, scheme: "http" };
}

function requestFor(m: HttpRouteMatch, host: string, port: number): RouteRequest | null {
  if (m.path.type === "RegularExpression" || m.headers.some((h) => h.type !== "Exact") || m.queryParams.some((q) => q.type !== "Exact")) return null;
  const query = m.queryParams.map((q) => `${encodeURIComponent(q.name)}=${encodeURIComponent(q.value)}`).join("&");
  return req(host, `${m.path.value}${query ? `?${query}` : ""}`, m.method ?? "GET", m.headers.map((h) => [h.name, h.value]), port);
}

/** What the routing modules say the request should get: the Services that may answer, or the status. */
function expectationOf(d: RouteDecision): { services: string[] } | { status: number; why: string } {
  const a = d.action;
  if (a.type === "respond") return { status: a.status, why: a.why };
  if (a.type === "redirect") return { status: a.status, why: `redirect to ${a.location}` };
  const usable = a.backends.filter((b) => b.weight > 0);
  if (usable.length === 0) return { status: 500, why: "every backendRef has weight 0" };
  if (usable.every((b) => b.invalid !== null)) return { status: 500, why: usable[0]!.invalid! };
  if (usable.every((b) => b.invalid !== null || b.backend.problem !== null)) return { status: 503, why: usable.find((b) => b.backend.problem !== null)!.backend.problem! };
  return { services: usable.filter((b) => b.invalid === null && b.backend.problem === null).map((b) => `${b.backend.namespace}/${b.backend.service}`) };
}

export function runL7Cell(running: RunningCluster, plan: L7CellPlan): CheckCell {
  const ext = [...running.cluster.externals.values()][0]!;
  const entry = running.l7.externalEntry(plan.controller, "http")!;
  const decision = running.l7.route(plan.controller, plan.request);
  const expected = expectationOf(decision);
  const routed = decision.kind === "default" ? "no route" : `${decision.kind} ${decision.namespace}/${decision.name} ${decision.rule}`;
  const cell: CheckCell = {
    kind: "l7Route",
    row: `ext/${ext.spec.name}`,
    rowRank: 9000,
    from: `ext/${ext.spec.name}`,
    column: plan.url,
    columnNote: plan.rule,
    service: "services" in expected ? expected.services.join("+") : null,
    to: `${plan.url} via ${entry.via}`,
    proto: "tcp",
    port: entry.port,
    outcome: "ok",
    expected: null,
    endpoint: null,
    reason: null,
    note: `${plan.rule}` === routed ? null : `routing sends it to ${routed} (precedence)`,
  };
  const r = runHttpExchange(running.cluster, running.l7, {
    title: `check ${plan.url}`,
    from: ext.ns,
    fromLabel: `ext/${ext.spec.name}`,
    dst: entry.ip,
    dstPort: entry.port,
    to: cell.to,
    scheme: "http",
    host: plan.request.host,
    requests: [{ method: plan.request.method, target: plan.request.target, headers: plan.request.headers.filter(([k]) => k !== "Host") }],
  });
  const res = r.responses[0];
  const answered = /hello from (\S+) \(container [^)]*\) at (\S+),/.exec(r.outcome);
  if ("status" in expected) {
    cell.expected = `${routed}: ${expected.status} (${expected.why})`;
    if (res?.status === expected.status) {
      cell.outcome = "expected-failure";
      cell.reason = `the controller answered ${res.status}`;
    } else {
      cell.outcome = "unexpected-failure";
      cell.reason = `expected ${expected.status}, got ${res ? res.status : r.outcome}`;
    }
    return cell;
  }
  const pod = answered ? answered[1]! : null;
  const podService = pod === null ? null : serviceOfPod(running, pod, expected.services);
  if (res?.status === 200 && podService !== null) {
    cell.endpoint = `pod/${pod} (${answered![2]})`;
    return cell;
  }
  cell.outcome = "unexpected-failure";
  cell.reason = res === undefined ? `${r.outcome}` : pod !== null ? `answered by ${pod}, which is not behind ${expected.services.join(" or ")}` : `HTTP ${res.status} from the controller (${r.log[0]?.detail ?? "no log"})`;
  return cell;
}

/** The expected Service a Pod is an endpoint of, if any. */
function serviceOfPod(running: RunningCluster, podKey: string, services: string[]): string | null {
  const pod = running.cluster.pods.get(podKey);
  if (!pod) return null;
  const ip = formatIpv4(pod.spec.podIP);
  for (const s of services) {
    const [ns, name] = s.split("/");
    const slices = running.services.model.endpointSlices.filter((e) => e.namespace === ns && e.serviceName === name);
    if (slices.some((sl) => sl.endpoints.some((e) => e.addresses.includes(ip)))) return s;
  }
  return null;
}
