/**
 * The programs that run in Pods: a tiny HTTP server for TCP container ports, a UDP echo
 * for UDP ports, and a DNS server for CoreDNS. Each speaks real protocol bytes.
 */
import { formatIpv4 } from "../base/index.js";
import type { PacketBuffer } from "../netdev/index.js";
import type { NetworkNamespace, TcpConnection, UdpHandler } from "../netns/index.js";
import { DNS_CLASS_IN, DNS_RCODE_NXDOMAIN, DNS_TYPE_A, DnsRepr, type DnsRecord, prependIpv4 } from "../wire/index.js";
import type { Cluster, PodRuntime } from "./build.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Reads the UDP source address/port and payload of a datagram whose head is at IPv4. */
export function udpEnvelope(pkt: PacketBuffer): { srcIp: number; dstIp: number; srcPort: number; dstPort: number; payload: Uint8Array } {
  const b = pkt.buf;
  const h = pkt.head;
  const l4 = h + (b[h]! & 0x0f) * 4;
  const udpLen = (b[l4 + 4]! << 8) | b[l4 + 5]!;
  return {
    srcIp: ((b[h + 12]! << 24) | (b[h + 13]! << 16) | (b[h + 14]! << 8) | b[h + 15]!) >>> 0,
    dstIp: ((b[h + 16]! << 24) | (b[h + 17]! << 16) | (b[h + 18]! << 8) | b[h + 19]!) >>> 0,
    srcPort: (b[l4]! << 8) | b[l4 + 1]!,
    dstPort: (b[l4 + 2]! << 8) | b[l4 + 3]!,
    payload: b.subarray(l4 + 8, l4 + udpLen),
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
    const ihl = (b[h]! & 0x0f) * 4;
    const l4 = h + ihl;
    const src = ((b[h + 12]! << 24) | (b[h + 13]! << 16) | (b[h + 14]! << 8) | b[h + 15]!) >>> 0;
    const dst = ((b[h + 16]! << 24) | (b[h + 17]! << 16) | (b[h + 18]! << 8) | b[h + 19]!) >>> 0;
    const route = ns.routeOutput(src);
    if (route === null) {
      ns.dropPkt(pkt, "no-route");
      return;
    }
    for (let i = 0; i < 2; i++) {
      const t = b[l4 + i]!;
      b[l4 + i] = b[l4 + 2 + i]!;
      b[l4 + 2 + i] = t;
    }
    pkt.head = l4;
    pkt.mark = 0;
    prependIpv4(pkt, { src: dst, dst: src, protocol: 17, ttl: 64, ident: 0, dontFrag: true });
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
        const body = `hello from ${pod} (container ${container}) at ${formatIpv4(c.localIp)}:${c.localPort}, you are ${formatIpv4(c.remoteIp)}:${c.remotePort}\n`;
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
 * CoreDNS, as far as Pod addresses go so far: A records for
 * `<a-b-c-d>.<namespace>.pod.cluster.local` (CoreDNS's `pods insecure` mode) plus any names
 * registered by later layers (Services), NXDOMAIN for the rest.
 */
export class DnsServer implements UdpHandler {
  /** Records by lower-case name without the trailing dot (Service names, as the kubernetes plugin serves them). */
  readonly records = new Map<string, number[]>();
  queries = 0;
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

  onDatagram(ns: NetworkNamespace, pkt: PacketBuffer): void {
    const d = udpEnvelope(pkt);
    let query: DnsRepr;
    try {
      query = DnsRepr.parse(d.payload, 0, d.payload.length);
    } catch {
      ns.dropPkt(pkt, "udp-malformed");
      return;
    }
    this.queries++;
    const answers: DnsRecord[] = [];
    let rcode = 0;
    for (const q of query.questions) {
      const ips = this.lookup(q.name);
      if (ips === null) {
        rcode = DNS_RCODE_NXDOMAIN;
        continue;
      }
      if (q.type === DNS_TYPE_A) for (const ip of ips) answers.push({ name: q.name, type: DNS_TYPE_A, class: DNS_CLASS_IN, ttl: 30, data: ip });
    }
    const response: DnsRepr = {
      id: query.id,
      flags: { qr: true, opcode: query.flags.opcode, aa: true, tc: false, rd: query.flags.rd, ra: true, rcode },
      questions: query.questions,
      answers,
    };
    const bytes = new Uint8Array(DnsRepr.bufferLen(response));
    DnsRepr.emit(response, bytes, 0);
    ns.sim.pool.release(pkt);
    ns.sendUdp(d.dstPort, d.srcIp, d.srcPort, bytes, d.dstIp);
  }
}

/**
 * Starts the servers for every container port of every Pod (CoreDNS gets the DNS server),
 * and the API server's port on control-plane nodes (the `kubernetes` Service's endpoint).
 */
export function startPodApps(cluster: Cluster): Map<string, DnsServer> {
  const dns = new Map<string, DnsServer>();
  for (const pod of cluster.pods.values()) startApps(pod, dns);
  for (const node of cluster.nodes.values()) {
    if (node.spec.controlPlane) node.ns.tcp.listen(APISERVER_PORT, httpServer(`node/${node.spec.name}`, "kube-apiserver"));
  }
  return dns;
}

/** kube-apiserver's secure port on control-plane nodes. */
export const APISERVER_PORT = 6443;

function startApps(pod: PodRuntime, dns: Map<string, DnsServer>): void {
  const isDns = pod.spec.labels["k8s-app"] === "kube-dns";
  for (const c of pod.spec.containers) {
    for (const port of c.ports) {
      if (port.protocol === "TCP") {
        if (isDns && port.containerPort === 53) continue; // DNS over TCP is not emulated
        pod.ns.tcp.listen(port.containerPort, httpServer(pod.key, c.name));
      } else if (port.protocol === "UDP") {
        if (isDns && port.containerPort === 53) {
          const server = new DnsServer();
          dns.set(pod.key, server);
          pod.ns.bindUdp(53, server);
        } else {
          pod.ns.bindUdp(port.containerPort, new UdpEcho());
        }
      }
    }
  }
}
