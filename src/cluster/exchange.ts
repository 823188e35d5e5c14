/**
 * One exchange between two places in the cluster — a TCP connection carrying an HTTP
 * request, a UDP datagram and its answer, a DNS query, or a ping — run on the virtual
 * clock with tracing on, so every hop of the request and the reply is recorded.
 */
import { formatIpv4 } from "../base/index.js";
import { type TraceEvent, Tracer } from "../netdev/index.js";
import { type IcmpErrorReport, type NetworkNamespace, type TcpConnection, icmpErrorName } from "../netns/index.js";
import { DNS_CLASS_IN, DNS_TYPE_A, DnsRepr } from "../wire/index.js";
import { udpEnvelope } from "./apps.js";
import type { Cluster } from "./build.js";

export type ExchangeProto = "tcp" | "udp" | "icmp" | "dns";

export interface ExchangeSpec {
  title: string;
  from: NetworkNamespace;
  /** How the source is named to the user, e.g. `pod/default/client`. */
  fromLabel: string;
  dst: number;
  /** Destination port (ignored for icmp). */
  dstPort: number;
  proto: ExchangeProto;
  /** For dns: the name to resolve. */
  dnsName?: string;
  /** For udp: the payload (default a short text). */
  payload?: Uint8Array;
}

export interface ExchangeResult {
  title: string;
  proto: ExchangeProto;
  fromLabel: string;
  to: string;
  ok: boolean;
  /** One line: what came back (or did not). */
  outcome: string;
  /** For dns: the addresses in the answer. */
  resolved: number[];
  /** The client's source port (ICMP: the echo identifier); 0 when nothing was sent. */
  clientPort: number;
  events: TraceEvent[];
  startNs: number;
  endNs: number;
}

/** How long an exchange may take on the virtual clock before it is declared timed out. */
const EXCHANGE_TIMEOUT_NS = 10_000_000_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function runExchange(cluster: Cluster, spec: ExchangeSpec): ExchangeResult {
  const sim = cluster.sim;
  const tracer = new Tracer();
  const previous = sim.tracer;
  sim.tracer = tracer;
  const startNs = sim.now();
  const result: ExchangeResult = {
    title: spec.title,
    proto: spec.proto,
    fromLabel: spec.fromLabel,
    to: describeDst(cluster, spec),
    ok: false,
    outcome: "no answer (timed out)",
    resolved: [],
    clientPort: 0,
    events: tracer.events,
    startNs,
    endNs: startNs,
  };
  const onIcmpError = (_ns: NetworkNamespace, r: IcmpErrorReport): void => {
    result.ok = false;
    result.outcome = `${icmpErrorName(r.type, r.code, r.mtu)} from ${cluster.describe(r.from)}`;
  };
  spec.from.icmpErrorListeners.push(onIcmpError);
  try {
    switch (spec.proto) {
      case "tcp":
        runTcp(cluster, spec, result);
        break;
      case "udp":
      case "dns":
        runUdp(cluster, spec, result);
        break;
      case "icmp":
        runPing(cluster, spec, result);
        break;
    }
  } finally {
    spec.from.icmpErrorListeners.splice(spec.from.icmpErrorListeners.indexOf(onIcmpError), 1);
    sim.tracer = previous;
  }
  result.endNs = lastEventTime(result.events, startNs);
  return result;
}

function runTcp(cluster: Cluster, spec: ExchangeSpec, result: ExchangeResult): void {
  let response = "";
  let conn: TcpConnection;
  const request =
    `GET / HTTP/1.1\r\nHost: ${formatIpv4(spec.dst)}:${spec.dstPort}\r\nUser-Agent: podwire\r\nAccept: */*\r\n\r\n`;
  try {
    conn = spec.from.tcp.connect(spec.dst, spec.dstPort, {
      onConnected: (c) => c.send(encoder.encode(request)),
      onData: (_c, data) => {
        response += decoder.decode(data);
      },
      onPeerClosed: (c) => c.close(),
      onReset: () => {
        result.outcome = "connection refused (TCP RST)";
      },
    });
  } catch {
    result.outcome = "no route to host";
    return;
  }
  result.clientPort = conn.localPort;
  cluster.sim.run(cluster.sim.now() + EXCHANGE_TIMEOUT_NS);
  if (response.startsWith("HTTP/1.1 ")) {
    const status = response.slice(0, response.indexOf("\r\n"));
    const body = response.slice(response.indexOf("\r\n\r\n") + 4).trim();
    result.ok = status.startsWith("HTTP/1.1 200");
    result.outcome = `${status} — "${body}"${conn.state === "CLOSED" ? ", connection closed" : `, connection ${conn.state}`}`;
  }
}

function runUdp(cluster: Cluster, spec: ExchangeSpec, result: ExchangeResult): void {
  const ns = spec.from;
  const port = ns.ephemeralPort((p) => ns.udpPortInUse(p));
  result.clientPort = port;
  let payload = spec.payload ?? encoder.encode(`hello from ${spec.fromLabel}`);
  let queryId = 0;
  if (spec.proto === "dns") {
    queryId = cluster.sim.rng.nextU32() & 0xffff;
    const q: DnsRepr = {
      id: queryId,
      flags: { qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, rcode: 0 },
      questions: [{ name: spec.dnsName ?? "", type: DNS_TYPE_A, class: DNS_CLASS_IN }],
      answers: [],
    };
    payload = new Uint8Array(DnsRepr.bufferLen(q));
    DnsRepr.emit(q, payload, 0);
  }
  ns.bindUdp(port, {
    onDatagram: (_ns, pkt) => {
      const d = udpEnvelope(pkt);
      if (spec.proto === "dns") {
        try {
          const answer = DnsRepr.parse(d.payload, 0, d.payload.length);
          result.resolved = answer.answers.filter((a) => a.type === DNS_TYPE_A).map((a) => a.data as number);
          result.ok = answer.id === queryId && answer.flags.rcode === 0 && result.resolved.length > 0;
          result.outcome =
            answer.flags.rcode === 0
              ? `${spec.dnsName} → ${result.resolved.map(formatIpv4).join(", ") || "(no A records)"} (from ${cluster.describe(d.srcIp)})`
              : `${spec.dnsName}: ${dnsRcodeName(answer.flags.rcode)}`;
        } catch {
          result.outcome = "malformed DNS answer";
        }
      } else {
        result.ok = true;
        result.outcome = `reply "${decoder.decode(d.payload)}" from ${cluster.describe(d.srcIp)}:${d.srcPort}`;
      }
      ns.sim.pool.release(pkt);
    },
  });
  try {
    if (!ns.sendUdp(port, spec.dst, spec.dstPort, payload)) result.outcome = "no route to host";
    else cluster.sim.run(cluster.sim.now() + EXCHANGE_TIMEOUT_NS);
  } finally {
    ns.unbindUdp(port);
  }
}

function runPing(cluster: Cluster, spec: ExchangeSpec, result: ExchangeResult): void {
  const ns = spec.from;
  const ident = cluster.sim.rng.nextU32() & 0xffff;
  result.clientPort = ident;
  const sentAt = cluster.sim.now();
  ns.bindPing(ident, {
    onEchoReply: (_ns, pkt, seq) => {
      const h = pkt.head;
      const b = pkt.buf;
      const from = ((b[h + 12]! << 24) | (b[h + 13]! << 16) | (b[h + 14]! << 8) | b[h + 15]!) >>> 0;
      const rttUs = (cluster.sim.now() - sentAt) / 1000;
      result.ok = true;
      result.outcome = `echo reply from ${cluster.describe(from)}: icmp_seq=${seq} ttl=${b[h + 8]} time=${rttUs.toFixed(1)} µs (virtual)`;
    },
  });
  try {
    if (!ns.sendPing(spec.dst, ident, 1)) result.outcome = "no route to host";
    else cluster.sim.run(cluster.sim.now() + EXCHANGE_TIMEOUT_NS);
  } finally {
    ns.unbindPing(ident);
  }
}

function describeDst(cluster: Cluster, spec: ExchangeSpec): string {
  const who = cluster.describe(spec.dst);
  if (spec.proto === "icmp") return who;
  if (spec.proto === "dns") return `${who} port 53 (DNS ${spec.dnsName})`;
  return `${who} port ${spec.dstPort}/${spec.proto}`;
}

function lastEventTime(events: TraceEvent[], start: number): number {
  return events.length === 0 ? start : events[events.length - 1]!.time;
}

const RCODE_NAMES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"];

function dnsRcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? `RCODE${rcode}`;
}
