/**
 * What one flow did in one mode, in terms that compare across modes: the verdict class, the
 * endpoint that answered, and the source address that endpoint saw, normalised to a class
 * (`client`, `node <name>`, or who else holds the address).
 */
import { formatIpv4, parseIpv4 } from "../base/index.js";
import type { Cluster } from "../cluster/build.js";
import type { ExchangeResult } from "../cluster/exchange.js";
import type { TraceEvent } from "../netdev/index.js";

/** ok; refused (an ICMP destination unreachable or a TCP RST); dropped (silence); other. */
export type Verdict = "ok" | "refused" | "dropped" | "other";

export function verdictOf(result: ExchangeResult): Verdict {
  if (result.ok) return "ok";
  const o = result.outcome;
  if (o === "connection refused (TCP RST)" || /^ICMP (\w+ )*unreachable\b|^ICMP destination unreachable/.test(o)) return "refused";
  if (o === "no answer (timed out)") return "dropped";
  return "other";
}

/** What the answering endpoint saw: its own `IP:PORT`, and its peer's address. */
export interface Seen {
  endpoint: string;
  peer: number;
}

/** What the endpoint that answered saw; null when no endpoint answered. */
export function seenByEndpoint(result: ExchangeResult): Seen | null {
  if (!result.ok) return null;
  // The HTTP server says both in its body: "… at IP:PORT, you are IP:PORT".
  const body = / at (\d+\.\d+\.\d+\.\d+:\d+), you are (\d+\.\d+\.\d+\.\d+):\d+/.exec(result.outcome);
  if (body) return { endpoint: body[1]!, peer: parseIpv4(body[2]!) };
  return seenInTrace(result.events, result.clientPort);
}

/**
 * From the trace: the endpoint's socket receiving the request. UDP (echo, DNS): the first
 * datagram delivered to a socket other than the client's, whose source is the peer; TCP
 * (DNS over TCP): the server's socket `LOCAL ⇄ PEER`.
 */
function seenInTrace(events: readonly TraceEvent[], clientPort: number): Seen | null {
  for (const e of events) {
    if (e.action !== "deliver") continue;
    const udp = /^to UDP socket :(\d+)$/.exec(e.detail);
    if (udp && Number(udp[1]) !== clientPort) {
      const m = /^(\d+\.\d+\.\d+\.\d+)\.\d+ > (\d+\.\d+\.\d+\.\d+)\.(\d+):/.exec(e.summary);
      if (m) return { endpoint: `${m[2]}:${m[3]}`, peer: parseIpv4(m[1]!) };
    }
    const tcp = /^to TCP socket (\d+\.\d+\.\d+\.\d+):(\d+) ⇄ (\d+\.\d+\.\d+\.\d+):\d+/.exec(e.detail);
    if (tcp && Number(tcp[2]) !== clientPort) return { endpoint: `${tcp[1]}:${tcp[2]}`, peer: parseIpv4(tcp[3]!) };
  }
  return null;
}

/**
 * The source class: `client` when the endpoint saw one of the client's own addresses (for a
 * node, any address of the node), `node <name>` when it saw an address of another node
 * (masquerade), else who holds the address (`pod/NS/NAME 10.244.1.5`) or the bare address.
 */
export function sourceClass(cluster: Cluster, clientLabel: string, seen: number): string {
  const who = cluster.whoHas(seen);
  if (who !== null && who === clientLabel) return "client";
  if (who?.startsWith("node/")) return `node ${who.slice(5)}`;
  return who !== null ? `${who} ${formatIpv4(seen)}` : formatIpv4(seen);
}

/**
 * Where an endpoint sits, for deciding whether two endpoints see the same source: the
 * node, and whether it is on the Pod network or the node's host network (flannel
 * masquerades Pod traffic to the host network, not to Pods). `IP:PORT` in, e.g.
 * `worker-1 pod` or `control-plane host` out; null when nobody in the cluster holds it.
 */
export function endpointPlace(cluster: Cluster, endpoint: string): string | null {
  const ip = parseIpv4(endpoint.slice(0, endpoint.lastIndexOf(":")));
  const who = cluster.whoHas(ip);
  if (who === null) return null;
  if (who.startsWith("pod/")) {
    const pod = cluster.pods.get(who.slice(4));
    return pod ? `${pod.node.spec.name} pod` : null;
  }
  return who.startsWith("node/") ? `${who.slice(5)} host` : who;
}
