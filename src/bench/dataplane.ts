/**
 * Data-plane measurements through a mode's running cluster, the same for every mode:
 *  - modelled cost (the mode's counter: rules evaluated, or hash lookups) of the first
 *    packet of a new connection and of a later packet, on the client's node and summed over
 *    the whole path (every node the request and the reply cross);
 *  - podwire's own rates end to end: new UDP connections per second (a new flow's first
 *    datagram from the client Pod to a ClusterIP, DNAT to an endpoint on another node, the
 *    echo back, reverse NAT), and established packets per second on one flow;
 *  - the fast core alone (the mode's classifier on the client node's rules), with the
 *    compiled engine and the reference interpreter.
 * Every timing uses hostNowMs(); everything else runs on the cluster's virtual clock.
 */
import { hostNowMs } from "../base/index.js";
import type { PacketBuffer } from "../netdev/index.js";
import type { NetworkNamespace } from "../netns/index.js";
import { servicePicks } from "./iptables-mode.js";
import type { CoreFigures, ProxyModeBench } from "./modes.js";
import { ENDPOINT_PORT, SERVICE_PORT, type Workload } from "./workload.js";

export interface DataplaneOptions {
  /** New connections timed end to end with the compiled engine. */
  connections: number;
  /** Requests per connection for the keepalive cost figure. */
  keepalive: number;
  /** Round trips timed on one established flow. */
  roundTrips: number;
  /** Samples for the modelled first/later packet costs. */
  costSamples: number;
  /** First packets classified by the fast core alone (compiled engine). */
  corePackets: number;
  /** Host-time budget for each reference-interpreter measurement, ms. */
  referenceBudgetMs: number;
  seed: number;
}

export interface DataplaneFigures {
  /** Modelled cost on the client's node of the first packet of a new connection. */
  firstPacketCost: number;
  /** nftables mode: nft expressions the kernel evaluates for that packet on the client's node (null in other modes). */
  firstPacketExprs: number | null;
  /** … of a later packet of an established connection (mean of request and reply). */
  laterPacketCost: number;
  /** The same, summed over every node on the path (request and reply). */
  firstPacketCostPath: number;
  laterPacketCostPath: number;
  /** Packets of one request through the client's node (request + reply). */
  packetsPerRequest: number;
  /** Modelled cost per request, a new connection for each request (keepalive 1). */
  perRequestCostNoKeepalive: number;
  /** … with `keepalive` requests per connection. */
  perRequestCostKeepalive: number;
  newConnPerSec: number;
  newConnPerSecReference: number | null;
  newConnReferenceCount: number | null;
  establishedPps: number;
  coreNewConnPerSec: number | null;
  coreNewConnPerSecReference: number | null;
  coreMeanCost: number | null;
  coreMeanExprs: number | null;
}

const PORT_BASE = 20000;
const PORTS = 8192;

class Client {
  replies = 0;
  private readonly handler = { onDatagram: (ns: NetworkNamespace, pkt: PacketBuffer): void => this.onDatagram(ns, pkt) };
  constructor(readonly ns: NetworkNamespace) {
    for (let p = PORT_BASE; p < PORT_BASE + PORTS; p++) ns.bindUdp(p, this.handler);
  }
  private onDatagram(ns: NetworkNamespace, pkt: PacketBuffer): void {
    this.replies++;
    ns.sim.pool.release(pkt);
  }
  close(): void {
    for (let p = PORT_BASE; p < PORT_BASE + PORTS; p++) this.ns.unbindUdp(p);
  }
}

export function measureDataplane(mode: ProxyModeBench, w: Workload, opts: DataplaneOptions): DataplaneFigures {
  const cluster = mode.cluster;
  const sim = cluster.sim;
  const nodes = [...cluster.nodes.values()];
  const clientNode = cluster.nodes.get(w.clientPod.node)!;
  const client = new Client(cluster.pod(w.clientPod.namespace, w.clientPod.name)!.ns);
  const payload = new Uint8Array(32);
  const picks = servicePicks(w.services, 65536, opts.seed);
  const flush = (): void => {
    for (const n of nodes) n.netfilter.conntrack.flush();
  };
  const pathCost = (): number => {
    let s = 0;
    for (const n of nodes) s += mode.cost(n);
    return s;
  };
  const send = (port: number, service: number): void => {
    client.ns.sendUdp(port, w.clusterIP(service), SERVICE_PORT, payload);
    sim.run();
  };
  try {
    // Warm up: ARP everywhere (every endpoint directly, then through Services), JIT.
    for (const ip of w.endpointIPs) {
      client.ns.sendUdp(PORT_BASE, ip, ENDPOINT_PORT, payload);
      sim.run();
    }
    for (let i = 0; i < Math.min(2000, PORTS); i++) send(PORT_BASE + i, picks[i]!);
    flush();

    // Modelled costs: a new flow's round trip (first packet NEW + the reply), then a second
    // round trip on the same flow (two established packets).
    let first = 0;
    let later = 0;
    let firstExprs = 0;
    const exprs = (): number => (mode.exprCost ? mode.exprCost(clientNode) : 0);
    let firstPath = 0;
    let laterPath = 0;
    const samples = Math.min(opts.costSamples, PORTS);
    client.replies = 0;
    for (let k = 0; k < samples; k++) {
      const svc = picks[(k * 7919) & 65535]!;
      const c0 = mode.cost(clientNode);
      const p0 = pathCost();
      const x0 = exprs();
      send(PORT_BASE + k, svc);
      const c1 = mode.cost(clientNode);
      const p1 = pathCost();
      const x1 = exprs();
      send(PORT_BASE + k, svc);
      const c2 = mode.cost(clientNode);
      const p2 = pathCost();
      const x2 = exprs();
      const est = (c2 - c1) / 2;
      first += c1 - c0 - est;
      firstExprs += x1 - x0 - (x2 - x1) / 2;
      later += est;
      firstPath += p1 - p0 - (p2 - p1) / 2;
      laterPath += (p2 - p1) / 2;
    }
    if (client.replies !== 2 * samples) throw new Error(`lost replies while sampling costs: ${2 * samples - client.replies}`);
    first /= samples;
    firstExprs /= samples;
    later /= samples;
    firstPath /= samples;
    laterPath /= samples;
    flush();

    // New connections per second, compiled engine.
    const newConn = (count: number, budgetMs: number): { perSec: number; count: number } => {
      let done = 0;
      let ms = 0;
      client.replies = 0;
      while (done < count && ms < budgetMs) {
        const batch = Math.min(PORTS, count - done);
        const t0 = hostNowMs();
        for (let k = 0; k < batch; k++) {
          send(PORT_BASE + k, picks[(done + k) & 65535]!);
          if ((k & 15) === 15 && hostNowMs() - t0 + ms > budgetMs) {
            done += k + 1;
            ms += hostNowMs() - t0;
            flush();
            if (client.replies !== done) throw new Error(`lost replies: ${done - client.replies}`);
            return { perSec: done / (ms / 1000), count: done };
          }
        }
        ms += hostNowMs() - t0;
        done += batch;
        flush();
      }
      if (client.replies !== done) throw new Error(`lost replies: ${done - client.replies}`);
      return { perSec: done / (ms / 1000), count: done };
    };
    newConn(Math.min(2000, opts.connections), Infinity); // warm-up
    const compiled = newConn(opts.connections, Infinity);
    let reference: { perSec: number; count: number } | null = null;
    if (mode.useEngine("reference")) {
      try {
        newConn(20, Infinity);
        reference = newConn(opts.connections, opts.referenceBudgetMs);
      } finally {
        mode.useEngine("compiled");
      }
    }

    // Established packets per second on one flow (request + reply per round trip).
    const svc = picks[0]!;
    client.replies = 0;
    for (let i = 0; i < 2000; i++) send(PORT_BASE, svc);
    const t0 = hostNowMs();
    for (let i = 0; i < opts.roundTrips; i++) send(PORT_BASE, svc);
    const estMs = hostNowMs() - t0;
    if (client.replies !== opts.roundTrips + 2000) throw new Error(`lost replies on the established flow: ${opts.roundTrips + 2000 - client.replies}`);
    flush();

    // The fast core alone.
    let coreCompiled: CoreFigures | null = null;
    let coreReference: CoreFigures | null = null;
    if (mode.core(picks, 20_000, "compiled") !== null) {
      coreCompiled = mode.core(picks, opts.corePackets, "compiled");
      const probe = mode.core(picks, 50, "reference");
      if (probe) {
        const n = Math.max(50, Math.min(opts.corePackets, Math.round((probe.packetsPerSec * opts.referenceBudgetMs) / 1000)));
        coreReference = mode.core(picks, n, "reference");
      }
    }

    const K = opts.keepalive;
    const P = 2;
    return {
      firstPacketCost: first,
      firstPacketExprs: mode.exprCost ? firstExprs : null,
      laterPacketCost: later,
      firstPacketCostPath: firstPath,
      laterPacketCostPath: laterPath,
      packetsPerRequest: P,
      perRequestCostNoKeepalive: first + (P - 1) * later,
      perRequestCostKeepalive: (first + (P * K - 1) * later) / K,
      newConnPerSec: compiled.perSec,
      newConnPerSecReference: reference?.perSec ?? null,
      newConnReferenceCount: reference?.count ?? null,
      establishedPps: (2 * opts.roundTrips) / (estMs / 1000),
      coreNewConnPerSec: coreCompiled?.packetsPerSec ?? null,
      coreNewConnPerSecReference: coreReference?.packetsPerSec ?? null,
      coreMeanCost: coreCompiled?.meanCost ?? null,
      coreMeanExprs: coreCompiled?.meanExprs ?? null,
    };
  } finally {
    client.close();
  }
}

