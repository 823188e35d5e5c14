/**
 * One exchange between two places in the cluster — a TCP connection carrying an HTTP
 * request, a UDP datagram and its answer, an SCTP association carrying one message, a DNS
 * query over UDP or TCP, or a ping — run on
 * the virtual clock with tracing on, so every hop of the request and the reply is recorded.
 */
import { formatIpv4 } from "../base/index.js";
import { type TraceEvent, Tracer } from "../netdev/index.js";
import { type IcmpErrorReport, type NetworkNamespace, type TcpConnection, icmpErrorName } from "../netns/index.js";
import { DNS_CLASS_IN, DNS_TYPE_A, DnsRepr, DnsTcpReader, type SctpChunk, frameDnsTcp, ipv4 } from "../wire/index.js";
import { SCTP_A_RWND, SCTP_STREAMS, udpEnvelope } from "./apps.js";
import type { Cluster } from "./build.js";
import { CLUSTER_DOMAIN } from "./services.js";

export type ExchangeProto = "tcp" | "udp" | "sctp" | "icmp" | "dns";
export type DnsTransport = "udp" | "tcp";

/** The name a DNS trace asks for by default: the `kubernetes` Service, which every cluster has. */
export const DEFAULT_DNS_QUERY = `kubernetes.default.svc.${CLUSTER_DOMAIN}`;

/** What a DNS answer said: the name asked, the rcode's name, the A records' addresses. */
export interface DnsAnswer {
  name: string;
  rcode: string;
  addresses: number[];
}

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
  /** For dns: UDP (default) or TCP with the 2-byte length prefix (RFC 1035 §4.2.2). */
  dnsTransport?: DnsTransport;
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
  /** For dns: the answer, once one parsed; null before (or without) one. */
  answer: DnsAnswer | null;
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
    answer: null,
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
        runUdp(cluster, spec, result);
        break;
      case "sctp":
        runSctp(cluster, spec, result);
        break;
      case "dns":
        if (spec.dnsTransport === "tcp") runDnsTcp(cluster, spec, result);
        else runDnsUdp(cluster, spec, result);
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
  // The client gives up: a connection still trying stops retransmitting its SYN.
  if (conn.state === "SYN_SENT") conn.close();
  if (response.startsWith("HTTP/1.1 ")) {
    const status = response.slice(0, response.indexOf("\r\n"));
    // One line, however the body is laid out (an ingress controller's error page is HTML).
    const body = response.slice(response.indexOf("\r\n\r\n") + 4).trim().replace(/\s+/g, " ");
    // The connection carried a request and an HTTP answer of any status: the path works (an
    // ingress controller answers a request for no routed host with its own 404).
    result.ok = /^HTTP\/1\.1 [1-5][0-9][0-9]( |$)/.test(status);
    result.outcome = `${status} — "${body}"${conn.state === "CLOSED" ? ", connection closed" : `, connection ${conn.state}`}`;
  }
}

function runUdp(cluster: Cluster, spec: ExchangeSpec, result: ExchangeResult): void {
  udpRoundTrip(cluster, spec, result, () => spec.payload ?? encoder.encode(`hello from ${spec.fromLabel}`), (d) => {
    result.ok = true;
    result.outcome = `reply "${decoder.decode(d.payload)}" from ${cluster.describe(d.srcIp)}:${d.srcPort}`;
  });
}

/**
 * An SCTP association from an ephemeral port (RFC 9260 §5.1): INIT, INIT ACK, COOKIE ECHO
 * bundled with one DATA message (as Linux bundles a first send), COOKIE ACK and the
 * server's SACK + DATA answer, then SHUTDOWN / SHUTDOWN ACK / SHUTDOWN COMPLETE. Every
 * packet checks the verification tag the client chose. ok once the answer's DATA arrives.
 */
function runSctp(cluster: Cluster, spec: ExchangeSpec, result: ExchangeResult): void {
  const ns = spec.from;
  const port = ns.ephemeralPort((p) => ns.sctp.isBound(p));
  result.clientPort = port;
  const ownTag = (cluster.sim.rng.nextU32() | 1) >>> 0;
  const ownTsn = cluster.sim.rng.nextU32();
  let peerTag = 0;
  let phase: "init" | "cookie" | "established" | "shutdown" | "closed" = "init";
  const message = spec.payload ?? encoder.encode(`hello from ${spec.fromLabel}`);
  const send = (tag: number, chunks: SctpChunk[]): boolean =>
    ns.sctp.send({ srcPort: port, dstPort: spec.dstPort, verificationTag: tag, chunks }, spec.dst);
  ns.sctp.bind(port, {
    onPacket: (_stack, from, repr) => {
      if (from.srcIp !== spec.dst || from.srcPort !== spec.dstPort) return; // not our peer: an un-NAT went wrong
      const abort = repr.chunks.find((c) => c.type === "ABORT");
      if (abort) {
        // An ABORT answering our INIT carries our tag (T bit clear) or reflects it (T bit set).
        if (repr.verificationTag !== ownTag && !(abort.type === "ABORT" && abort.tBit && repr.verificationTag === peerTag)) return;
        result.ok = false;
        result.outcome = phase === "init" ? `association refused (SCTP ABORT) from ${cluster.describe(from.srcIp)}:${from.srcPort}` : "association aborted (SCTP ABORT)";
        phase = "closed";
        return;
      }
      if (repr.verificationTag !== ownTag) return; // §8.5: not for this association
      const out: SctpChunk[] = [];
      for (const c of repr.chunks) {
        if (c.type === "INIT_ACK" && phase === "init") {
          if (!c.cookie) return;
          peerTag = c.initiateTag;
          phase = "cookie";
          out.push({ type: "COOKIE_ECHO", cookie: c.cookie });
          out.push({ type: "DATA", tsn: ownTsn, streamId: 0, streamSeq: 0, ppid: 0, data: message });
        } else if (c.type === "COOKIE_ACK" && phase === "cookie") {
          phase = "established";
        } else if (c.type === "DATA" && phase === "established") {
          result.ok = true;
          result.outcome = `reply "${decoder.decode(c.data).trim()}" from ${cluster.describe(from.srcIp)}:${from.srcPort}`;
          out.push({ type: "SACK", cumTsnAck: c.tsn, aRwnd: SCTP_A_RWND });
          out.push({ type: "SHUTDOWN", cumTsnAck: c.tsn });
          phase = "shutdown";
        } else if (c.type === "SHUTDOWN_ACK" && phase === "shutdown") {
          out.push({ type: "SHUTDOWN_COMPLETE", tBit: false });
          phase = "closed";
        }
      }
      if (out.length > 0) send(peerTag, out);
    },
  });
  try {
    const init: SctpChunk = { type: "INIT", initiateTag: ownTag, aRwnd: SCTP_A_RWND, outStreams: SCTP_STREAMS, inStreams: SCTP_STREAMS, initialTsn: ownTsn };
    if (!send(0, [init])) result.outcome = "no route to host";
    else cluster.sim.run(cluster.sim.now() + EXCHANGE_TIMEOUT_NS);
  } finally {
    ns.sctp.unbind(port);
  }
}

function runDnsUdp(cluster: Cluster, spec: ExchangeSpec, result: ExchangeResult): void {
  let query: DnsQuery;
  udpRoundTrip(
    cluster,
    spec,
    result,
    () => (query = newDnsQuery(cluster, spec)).bytes,
    (d) => readDnsAnswer(cluster, query, result, d.payload, d.srcIp, "udp"),
  );
}

/** Sends one datagram from an ephemeral port and hands each datagram that comes back to `onReply`. */
function udpRoundTrip(
  cluster: Cluster,
  spec: ExchangeSpec,
  result: ExchangeResult,
  payload: () => Uint8Array,
  onReply: (d: ReturnType<typeof udpEnvelope>) => void,
): void {
  const ns = spec.from;
  const port = ns.ephemeralPort((p) => ns.udpPortInUse(p));
  result.clientPort = port;
  // Built after the port is drawn, so the random draws keep their order (same seed, same bytes).
  const bytes = payload();
  ns.bindUdp(port, {
    onDatagram: (_ns, pkt) => {
      onReply(udpEnvelope(pkt));
      ns.sim.pool.release(pkt);
    },
  });
  try {
    if (!ns.sendUdp(port, spec.dst, spec.dstPort, bytes)) result.outcome = "no route to host";
    else cluster.sim.run(cluster.sim.now() + EXCHANGE_TIMEOUT_NS);
  } finally {
    ns.unbindUdp(port);
  }
}

/**
 * DNS over TCP (RFC 7766): connect, send the query with its 2-byte length prefix, read the
 * answer (reassembled if it spans segments), then close; the server closes in turn.
 */
function runDnsTcp(cluster: Cluster, spec: ExchangeSpec, result: ExchangeResult): void {
  const reader = new DnsTcpReader();
  let query: DnsQuery | null = null;
  let answered = false;
  let conn: TcpConnection;
  try {
    conn = spec.from.tcp.connect(spec.dst, spec.dstPort, {
      onConnected: (c) => {
        query = newDnsQuery(cluster, spec);
        c.send(frameDnsTcp(query.bytes));
      },
      onData: (c, data) => {
        const [message] = reader.push(data);
        if (message === undefined || answered || query === null) return;
        answered = true;
        readDnsAnswer(cluster, query, result, message, c.remoteIp, "tcp");
        c.close();
      },
      onPeerClosed: (c) => {
        if (!answered) result.outcome = "connection closed by the server without an answer";
        c.close();
      },
      onReset: () => {
        result.ok = false;
        result.outcome = answered ? `${result.outcome}, then reset (TCP RST)` : "connection refused (TCP RST)";
      },
    });
  } catch {
    result.outcome = "no route to host";
    return;
  }
  result.clientPort = conn.localPort;
  cluster.sim.run(cluster.sim.now() + EXCHANGE_TIMEOUT_NS);
}

/** A query on its way: its ID, the name asked and the message bytes (without a TCP prefix). */
interface DnsQuery {
  id: number;
  name: string;
  bytes: Uint8Array;
}

/** A recursive A query for the spec's name: the one both transports send. */
function newDnsQuery(cluster: Cluster, spec: ExchangeSpec): DnsQuery {
  const id = cluster.sim.rng.nextU32() & 0xffff;
  const name = spec.dnsName ?? "";
  const q: DnsRepr = {
    id,
    flags: { qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, rcode: 0 },
    questions: [{ name, type: DNS_TYPE_A, class: DNS_CLASS_IN }],
    answers: [],
  };
  const bytes = new Uint8Array(DnsRepr.bufferLen(q));
  DnsRepr.emit(q, bytes, 0);
  return { id, name, bytes };
}

/** Reads an answer message into the result (addresses, rcode, outcome): the one parser both transports use. */
function readDnsAnswer(cluster: Cluster, query: DnsQuery, result: ExchangeResult, message: Uint8Array, from: number, transport: DnsTransport): void {
  // UDP outcomes read as they always did; TCP ones say so.
  const via = transport === "tcp" ? " over TCP" : "";
  let answer: DnsRepr;
  try {
    answer = DnsRepr.parse(message, 0, message.length);
  } catch {
    result.ok = false;
    result.outcome = `malformed DNS answer${via}`;
    return;
  }
  const addresses = answer.answers.filter((a) => a.type === DNS_TYPE_A).map((a) => a.data as number);
  const rcode = dnsRcodeName(answer.flags.rcode);
  result.resolved = addresses;
  result.answer = { name: query.name, rcode, addresses };
  result.ok = answer.id === query.id && answer.flags.rcode === 0 && addresses.length > 0;
  const idNote = answer.id === query.id ? "" : ` (answer ID ${answer.id} does not match query ID ${query.id})`;
  result.outcome =
    answer.flags.rcode === 0
      ? `${query.name} → ${addresses.map(formatIpv4).join(", ") || "(no A records)"} (from ${cluster.describe(from)}${via})${idNote}`
      : `${query.name}: ${rcode}${transport === "tcp" ? " (over TCP)" : ""}${idNote}`;
}

function runPing(cluster: Cluster, spec: ExchangeSpec, result: ExchangeResult): void {
  const ns = spec.from;
  const ident = cluster.sim.rng.nextU32() & 0xffff;
  result.clientPort = ident;
  const sentAt = cluster.sim.now();
  ns.bindPing(ident, {
    onEchoReply: (_ns, pkt, seq) => {
      const from = ipv4.src(pkt.buf, pkt.head);
      const rttUs = (cluster.sim.now() - sentAt) / 1000;
      result.ok = true;
      result.outcome = `echo reply from ${cluster.describe(from)}: icmp_seq=${seq} ttl=${ipv4.ttl(pkt.buf, pkt.head)} time=${rttUs.toFixed(1)} µs (virtual)`;
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
  if (spec.proto === "dns") return `${who} port ${spec.dstPort}${spec.dnsTransport === "tcp" ? "/tcp" : ""} (DNS ${spec.dnsName})`;
  return `${who} port ${spec.dstPort}/${spec.proto}`;
}

function lastEventTime(events: TraceEvent[], start: number): number {
  return events.length === 0 ? start : events[events.length - 1]!.time;
}

const RCODE_NAMES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"];

/** The rcode's mnemonic (RFC 1035 §4.1.1), e.g. NXDOMAIN. */
export function dnsRcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? `RCODE${rcode}`;
}
