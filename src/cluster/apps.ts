/**
 * The programs that run in Pods: a tiny HTTP server for TCP container ports, a UDP echo
 * for UDP ports, a minimal SCTP server for SCTP ports, and a DNS server (UDP and TCP) for
 * CoreDNS. Each speaks real protocol bytes.
 */
import { formatIpv4 } from "../base/index.js";
import type { PacketBuffer } from "../netdev/index.js";
import type { NetworkNamespace, SctpEnvelope, SctpHandler, SctpStack, TcpApp, TcpConnection, UdpHandler } from "../netns/index.js";
import {
  DNS_CLASS_IN, DNS_RCODE_NXDOMAIN, DNS_TYPE_A, DNS_TYPE_SOA, DnsRepr, type DnsRecord, DnsTcpReader, IPPROTO_UDP, type SctpChunk, type SctpRepr, frameDnsTcp, get32, ipv4,
  ports, prependIpv4, set32, udp,
} from "../wire/index.js";
import { controllerNamesOf } from "../l7/controller.js";
import type { Cluster, PodRuntime } from "./build.js";
import type { ClusterSpec, NodeSpec } from "./spec.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Reads the UDP source address/port and payload of a datagram whose head is at IPv4. */
export function udpEnvelope(pkt: PacketBuffer): { srcIp: number; dstIp: number; srcPort: number; dstPort: number; payload: Uint8Array } {
  const b = pkt.buf;
  const h = pkt.head;
  const l4 = ipv4.payloadOffset(b, h);
  return {
    srcIp: ipv4.src(b, h),
    dstIp: ipv4.dst(b, h),
    srcPort: udp.srcPort(b, l4),
    dstPort: udp.dstPort(b, l4),
    payload: b.subarray(udp.payloadOffset(b, l4), l4 + udp.length(b, l4)),
  };
}

/**
 * UDP echo (RFC 862), answered by swapping addresses and ports in place: the UDP checksum
 * is unchanged by the swap (one's-complement addition commutes), the IPv4 header is new.
 * Allocation-free, so the throughput benchmark can use it.
 */
export class UdpEcho implements UdpHandler {
  echoed = 0;
  onDatagram(ns: NetworkNamespace, pkt: PacketBuffer): void {
    const b = pkt.buf;
    const h = pkt.head;
    const l4 = ipv4.payloadOffset(b, h);
    const src = ipv4.src(b, h);
    const dst = ipv4.dst(b, h);
    const route = ns.routeOutput(src);
    if (route === null) {
      ns.dropPkt(pkt, "no-route");
      return;
    }
    ports.swap(b, l4);
    pkt.head = l4;
    pkt.mark = 0;
    prependIpv4(pkt, { src: dst, dst: src, protocol: IPPROTO_UDP, ttl: 64, ident: 0, dontFrag: true });
    this.echoed++;
    if (ns.sim.tracer) ns.sim.trace(ns.name, route.dev.name, "reply", "UDP echo", pkt, true);
    ns.ipOutput(pkt, route, true);
  }
}

/** A one-request HTTP/1.1 server: answers any request with 200 and closes, like `Connection: close`. */
export function httpServer(pod: string, container: string) {
  return (_conn: TcpConnection) => {
    let request = "";
    return {
      onData(c: TcpConnection, data: Uint8Array) {
        request += decoder.decode(data);
        if (!request.includes("\r\n\r\n")) return;
        const body = `hello from ${pod} (container ${container}) at ${formatIpv4(c.localIp)}:${c.localPort}, you are ${formatIpv4(c.remoteIp)}:${c.remotePort}${forwardedNote(request)}\n`;
        const response =
          "HTTP/1.1 200 OK\r\n" +
          "Content-Type: text/plain\r\n" +
          `Content-Length: ${encoder.encode(body).length}\r\n` +
          "Connection: close\r\n\r\n" +
          body;
        c.send(encoder.encode(response));
        c.close();
      },
      onPeerClosed(c: TcpConnection) {
        c.close();
      },
    };
  };
}

/**
 * What a proxied request says about its client, for the answer: nothing for a direct request
 * (those answers keep their bytes), else the request line, Host and X-Forwarded-For the
 * proxy (an ingress controller) sent, e.g. `; GET /cart Host shop.example.com,
 * X-Forwarded-For 192.168.56.100`.
 */
function forwardedNote(request: string): string {
  const head = request.slice(0, request.indexOf("\r\n\r\n")).split("\r\n");
  const value = (name: string) => head.find((l) => l.toLowerCase().startsWith(`${name}:`))?.slice(name.length + 1).trim();
  const xff = value("x-forwarded-for");
  if (xff === undefined) return "";
  const [method, target] = (head[0] ?? "").split(" ");
  return `; ${method} ${target} Host ${value("host") ?? "-"}, X-Forwarded-For ${xff}`;
}

/** The receive window and stream counts podwire's SCTP endpoints announce (Linux's defaults for a small socket). */
export const SCTP_A_RWND = 106496;
export const SCTP_STREAMS = 10;

/**
 * A one-message SCTP server for an SCTP container port (RFC 9260 §5): INIT is answered with
 * an INIT ACK whose State Cookie carries both tags and initial TSNs (so, like a real
 * endpoint, it keeps no state until COOKIE ECHO), COOKIE ECHO with COOKIE ACK, each DATA
 * chunk with a SACK bundled with one DATA message naming the Pod and the peer (the HTTP
 * server's "hello from …"), SHUTDOWN with SHUTDOWN ACK, HEARTBEAT with HEARTBEAT ACK.
 * Packets whose verification tag is not this endpoint's are discarded (§8.5).
 */
export class SctpServer implements SctpHandler {
  /** Associations by peer address and port: [peer tag, own tag, next TSN to send, stream sequence]. */
  private readonly assocs = new Map<string, { peerTag: number; ownTag: number; tsn: number; ssn: number }>();
  messages = 0;
  constructor(
    readonly pod: string,
    readonly container: string,
  ) {}

  onPacket(stack: SctpStack, from: SctpEnvelope, repr: SctpRepr): void {
    const key = `${from.srcIp}:${from.srcPort}`;
    const send = (tag: number, chunks: SctpChunk[]): void => {
      stack.send({ srcPort: from.dstPort, dstPort: from.srcPort, verificationTag: tag, chunks }, from.srcIp, from.dstIp);
    };
    const first = repr.chunks[0]!;
    if (first.type === "INIT") {
      if (repr.verificationTag !== 0 || first.initiateTag === 0) return; // §8.5.1 (A), §3.3.2
      const ownTag = (stack.ns.sim.rng.nextU32() | 1) >>> 0;
      const ownTsn = stack.ns.sim.rng.nextU32();
      const cookie = new Uint8Array(16);
      set32(cookie, 0, first.initiateTag);
      set32(cookie, 4, ownTag);
      set32(cookie, 8, first.initialTsn);
      set32(cookie, 12, ownTsn);
      send(first.initiateTag, [{ type: "INIT_ACK", initiateTag: ownTag, aRwnd: SCTP_A_RWND, outStreams: SCTP_STREAMS, inStreams: SCTP_STREAMS, initialTsn: ownTsn, cookie }]);
      return;
    }
    let a = this.assocs.get(key);
    const out: SctpChunk[] = [];
    for (const c of repr.chunks) {
      if (c.type === "COOKIE_ECHO") {
        if (c.cookie.length !== 16 || get32(c.cookie, 4) !== repr.verificationTag) return;
        a = { peerTag: get32(c.cookie, 0), ownTag: get32(c.cookie, 4), tsn: get32(c.cookie, 12), ssn: 0 };
        this.assocs.set(key, a);
        out.push({ type: "COOKIE_ACK" });
        continue;
      }
      if (a === undefined || repr.verificationTag !== a.ownTag) {
        if (c.type === "ABORT" || c.type === "SHUTDOWN_COMPLETE") this.assocs.delete(key);
        return;
      }
      switch (c.type) {
        case "DATA": {
          this.messages++;
          const text = `hello from ${this.pod} (container ${this.container}) at ${formatIpv4(from.dstIp)}:${from.dstPort}, you are ${formatIpv4(from.srcIp)}:${from.srcPort}\n`;
          out.push({ type: "SACK", cumTsnAck: c.tsn, aRwnd: SCTP_A_RWND });
          out.push({ type: "DATA", tsn: a.tsn, streamId: c.streamId, streamSeq: a.ssn, ppid: c.ppid, data: encoder.encode(text) });
          a.tsn = (a.tsn + 1) >>> 0;
          a.ssn = (a.ssn + 1) & 0xffff;
          break;
        }
        case "SHUTDOWN":
          out.push({ type: "SHUTDOWN_ACK" });
          break;
        case "SHUTDOWN_COMPLETE":
        case "ABORT":
          this.assocs.delete(key);
          return;
        case "HEARTBEAT":
          out.push({ type: "HEARTBEAT_ACK", info: c.info });
          break;
        default:
          break;
      }
    }
    if (out.length > 0 && a !== undefined) send(a.peerTag, out);
  }
}

/**
 * CoreDNS, as far as Pod addresses go so far: A records for
 * `<a-b-c-d>.<namespace>.pod.cluster.local` (CoreDNS's `pods insecure` mode) plus any names
 * registered by later layers (Services), NXDOMAIN for the rest. It answers over UDP and
 * over TCP (RFC 1035 §4.2.2, RFC 7766) with one lookup.
 */
export class DnsServer implements UdpHandler {
  /** Records by lower-case name without the trailing dot (Service names, as the kubernetes plugin serves them). */
  readonly records = new Map<string, number[]>();
  /** Queries answered, over either transport. */
  queries = 0;
  /** Queries answered over TCP. */
  tcpQueries = 0;
  /** TCP connections closed because a message in them did not parse. */
  tcpMalformed = 0;
  constructor(readonly zone = "cluster.local") {}

  /** Replaces the addresses of one name (an empty list: the name exists with no A records). */
  setRecords(name: string, ips: number[]): void {
    this.records.set(name.toLowerCase().replace(/\.$/, ""), [...ips]);
  }

  clearServices(): void {
    this.records.clear();
  }

  lookup(name: string): number[] | null {
    const key = name.toLowerCase().replace(/\.$/, "");
    const direct = this.records.get(key);
    if (direct) return direct;
    const m = /^(\d+)-(\d+)-(\d+)-(\d+)\.[a-z0-9-]+\.pod\./.exec(key);
    if (m && key.endsWith(`.pod.${this.zone}`)) {
      const octets = m.slice(1, 5).map(Number);
      if (octets.every((o) => o <= 255)) return [((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0];
    }
    return null;
  }

  /** The response to one query: the lookup both transports share. */
  respond(query: DnsRepr): DnsRepr {
    const answers: DnsRecord[] = [];
    let rcode = 0;
    let nodata = false;
    for (const q of query.questions) {
      const ips = this.lookup(q.name);
      if (ips === null) {
        rcode = DNS_RCODE_NXDOMAIN;
        continue;
      }
      if (q.type === DNS_TYPE_A) for (const ip of ips) answers.push({ name: q.name, type: DNS_TYPE_A, class: DNS_CLASS_IN, ttl: 30, data: ip });
      // The name exists but has no records of this type (AAAA of an IPv4 Service): NOERROR
      // with no answers — NODATA, with the zone's SOA for negative caching (RFC 2308 §2.2).
      else nodata = true;
    }
    const response: DnsRepr = {
      id: query.id,
      flags: { qr: true, opcode: query.flags.opcode, aa: true, tc: false, rd: query.flags.rd, ra: true, rcode },
      questions: query.questions,
      answers,
    };
    if (nodata && rcode === 0 && answers.length === 0) response.authority = [this.soa()];
    return response;
  }

  /** The zone's SOA as CoreDNS's kubernetes plugin writes it (`ns.dns.<zone>`, `hostmaster.<zone>`, minimum 30 s). */
  private soa(): DnsRecord {
    const names = [`ns.dns.${this.zone}`, `hostmaster.${this.zone}`];
    const bytes: number[] = [];
    for (const n of names) {
      for (const label of n.split(".")) bytes.push(label.length, ...encoder.encode(label));
      bytes.push(0);
    }
    // serial, refresh, retry, expire, minimum
    for (const v of [1_700_000_000, 7200, 1800, 86400, 30]) bytes.push(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
    return { name: this.zone, type: DNS_TYPE_SOA, class: DNS_CLASS_IN, ttl: 30, data: Uint8Array.from(bytes) };
  }

  /** Answers one query message with the response's bytes; null when the message does not parse. */
  answer(message: Uint8Array): Uint8Array | null {
    let query: DnsRepr;
    try {
      query = DnsRepr.parse(message, 0, message.length);
    } catch {
      return null;
    }
    this.queries++;
    const response = this.respond(query);
    const bytes = new Uint8Array(DnsRepr.bufferLen(response));
    DnsRepr.emit(response, bytes, 0);
    return bytes;
  }

  onDatagram(ns: NetworkNamespace, pkt: PacketBuffer): void {
    const d = udpEnvelope(pkt);
    const bytes = this.answer(d.payload);
    if (bytes === null) {
      ns.dropPkt(pkt, "udp-malformed");
      return;
    }
    ns.sim.pool.release(pkt);
    ns.sendUdp(d.dstPort, d.srcIp, d.srcPort, bytes, d.dstIp);
  }

  /**
   * DNS over TCP, a listener's accept function for port 53: each message has a 2-byte length
   * prefix and may arrive split or several to a segment (RFC 7766 §6.2.1); every complete
   * query is answered in order, a malformed one closes the connection, and the server closes
   * when the client does.
   */
  readonly acceptTcp = (_conn: TcpConnection): TcpApp => {
    const reader = new DnsTcpReader();
    return {
      onData: (c, data) => {
        for (const message of reader.push(data)) {
          if (c.state !== "ESTABLISHED") return;
          const bytes = this.answer(message);
          if (bytes === null) {
            this.tcpMalformed++;
            c.close();
            return;
          }
          this.tcpQueries++;
          sendStream(c, frameDnsTcp(bytes));
        }
      },
      onPeerClosed: (c) => c.close(),
    };
  };
}

/** Sends bytes as segments of at most one MSS each (TcpConnection.send sends one segment). */
function sendStream(c: TcpConnection, bytes: Uint8Array): void {
  const mss = c.stack.mssFor(c.remoteIp);
  for (let off = 0; off < bytes.length; off += mss) c.send(bytes.subarray(off, off + mss));
}

/**
 * Starts the servers for every container port of every Pod (CoreDNS gets the DNS server),
 * and the API server's port on control-plane nodes (the `kubernetes` Service's endpoint).
 */
export function startPodApps(cluster: Cluster): Map<string, DnsServer> {
  const dns = new Map<string, DnsServer>();
  for (const pod of cluster.pods.values()) startApps(pod, dns);
  const apiserver = apiserverNode(cluster.spec);
  for (const node of cluster.nodes.values()) {
    // A hostNetwork Pod that declares 6443 (a static kube-apiserver Pod) is the API server itself.
    if ((node.spec.controlPlane || node.spec === apiserver) && !node.ns.tcp.isListening(APISERVER_PORT)) {
      node.ns.tcp.listen(APISERVER_PORT, httpServer(`node/${node.spec.name}`, "kube-apiserver"));
    }
  }
  return dns;
}

/** kube-apiserver's secure port on control-plane nodes. */
export const APISERVER_PORT = 6443;

/** The node the `kubernetes` Service points at: the first control-plane node, else (no node says so) the first node. */
export function apiserverNode(spec: ClusterSpec): NodeSpec | undefined {
  return spec.nodes.find((n) => n.controlPlane) ?? spec.nodes[0];
}

/** Starts one Pod's servers (a Pod created at run time gets them too: pod-lifecycle.ts). */
export function startApps(pod: PodRuntime, dns: Map<string, DnsServer>): void {
  const isDns = pod.spec.labels["k8s-app"] === "kube-dns";
  // One server per CoreDNS Pod serves both UDP 53 and TCP 53.
  const dnsServer = (): DnsServer => {
    let server = dns.get(pod.key);
    if (server === undefined) {
      server = new DnsServer();
      dns.set(pod.key, server);
    }
    return server;
  };
  for (const c of pod.spec.containers) {
    for (const port of c.ports) {
      const servesDns = isDns && port.containerPort === 53;
      if (port.protocol === "TCP") {
        // An L7 controller Pod's TCP ports are the proxy's (cluster/l7-runtime.ts starts them).
        if (controllerNamesOf(pod.spec).length > 0) continue;
        pod.ns.tcp.listen(port.containerPort, servesDns ? dnsServer().acceptTcp : httpServer(pod.key, c.name));
      } else if (port.protocol === "UDP") {
        pod.ns.bindUdp(port.containerPort, servesDns ? dnsServer() : new UdpEcho());
      } else if (port.protocol === "SCTP" && !pod.ns.sctp.isBound(port.containerPort)) {
        pod.ns.sctp.bind(port.containerPort, new SctpServer(pod.key, c.name));
      }
    }
  }
}
