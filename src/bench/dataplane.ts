/**
 * Data-plane measurements through a mode's running cluster, the same for every mode:
 *  - modelled cost (the mode's counter: rules evaluated, or hash lookups) of the first
 *    packet of a new connection and of a later packet, on the client's node and summed over
 *    the whole path (every node the request and the reply cross); exact counts, untimed;
 *  - podwire's own rates end to end: new UDP connections per second (a new flow's first
 *    datagram from the client Pod to a ClusterIP, DNAT to an endpoint on another node, the
 *    echo back, reverse NAT), and established packets per second on one flow;
 *  - the fast core alone (the mode's classifier on the client node's rules), with the
 *    compiled engine and the reference interpreter;
 *  - the standalone JS limit (limit.ts) at this size, for the ratios.
 * Every warm-up (ARP, lazily built indexes, the JIT) runs before any timing: the core once
 * over every Service pick, the end-to-end loop once over the connections it will time.
 * The timed figures are `repeats` interleaved rounds (stats.ts); each is the median with
 * min and max, and each ratio to the limit is the median of the per-round ratios.
 * Timings use hostNowMs(); everything else runs on the cluster's virtual clock.
 */
import { hostNowMs } from "../base/index.js";
import type { PacketBuffer } from "../netdev/index.js";
import type { NetworkNamespace } from "../netns/index.js";
import { servicePicks } from "./iptables-mode.js";
import { ConntrackLimit, FirstPacketLimit } from "./limit.js";
import type { ProxyModeBench } from "./modes.js";
import { type Sample, interleave, nsPer, pairedRatio, summarize } from "./stats.js";
import { ENDPOINT_PORT, SERVICE_PORT, type Workload } from "./workload.js";

export interface DataplaneOptions {
  /** New connections timed end to end in each repetition (compiled engine). */
  connections: number;
  /** Requests per connection for the keepalive cost figure. */
  keepalive: number;
  /** Round trips timed on one established flow in each repetition. */
  roundTrips: number;
  /** Samples for the modelled first/later packet costs. */
  costSamples: number;
  /** First packets classified by the fast core alone in each repetition (compiled engine; the limit too): at most this many… */
  corePackets: number;
  /** …and no more than the warm-up's rate fills in this much host time (ms), at least 10,000 packets. */
  coreBudgetMs: number;
  /** Host-time budget of each reference-interpreter repetition, ms. */
  referenceBudgetMs: number;
  /** Interleaved repetitions of every timed figure (≥ 1). */
  repeats: number;
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
  newConnPerSec: Sample;
  newConnPerSecReference: Sample | null;
  establishedPps: Sample;
  coreNewConnPerSec: Sample | null;
  coreNewConnPerSecReference: Sample | null;
  coreMeanCost: number | null;
  coreMeanExprs: number | null;
  /** The JS limit: ns per first packet at this size, and ns per established packet (conntrack-style lookup). */
  limitFirstPacketNs: Sample;
  limitConntrackNs: Sample;
  /** Per-round ratios: core ns per first packet ÷ limit; new connection ns ÷ (limit first packet + limit conntrack, its reply); established ns per packet ÷ limit conntrack. */
  coreRatioToLimit: Sample | null;
  newConnRatioToLimit: Sample | null;
  establishedRatioToLimit: Sample | null;
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
  const clientPod = cluster.pod(w.clientPod.namespace, w.clientPod.name)!;
  const client = new Client(clientPod.ns);
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

    /** `count` new connections, the same window of Service picks every time; ns per connection (at most `budgetMs` of host time). */
    const newConn = (count: number, budgetMs: number): number => {
      let done = 0;
      let ms = 0;
      client.replies = 0;
      outer: while (done < count) {
        const batch = Math.min(PORTS, count - done);
        const t0 = hostNowMs();
        for (let k = 0; k < batch; k++) {
          send(PORT_BASE + k, picks[(done + k) & 65535]!);
          if ((k & 15) === 15 && hostNowMs() - t0 + ms > budgetMs) {
            done += k + 1;
            ms += hostNowMs() - t0;
            break outer;
          }
        }
        ms += hostNowMs() - t0;
        done += batch;
        flush(); // a port's next datagram must be a new connection again
      }
      flush();
      if (client.replies !== done) throw new Error(`lost replies: ${done - client.replies}`);
      return (ms * 1e6) / done;
    };
    /** `count` round trips on one established flow; ns per one-way packet. */
    const established = (count: number): number => {
      const svc = picks[0]!;
      client.replies = 0;
      const t0 = hostNowMs();
      for (let i = 0; i < count; i++) send(PORT_BASE, svc);
      const ms = hostNowMs() - t0;
      if (client.replies !== count) throw new Error(`lost replies on the established flow: ${count - client.replies}`);
      return (ms * 1e6) / (2 * count);
    };

    // The limit at this size, on the same Service picks as the core.
    const limit = new FirstPacketLimit({ services: w.services, clusterIP: w.clusterIP, endpointIPs: w.endpointIPs, client: clientPod.spec.podIP, picks, seed: opts.seed });
    const ctLimit = new ConntrackLimit();

    // Warm-ups, untimed.
    limit.run(picks.length);
    ctLimit.run(2 * ctLimit.flows);
    newConn(opts.connections, Infinity);
    send(PORT_BASE, picks[0]!); // the established flow
    established(2000);
    const warm = mode.core(picks, picks.length, "compiled");
    const hasCore = warm !== null;
    const corePackets = warm === null ? 0 : Math.max(10_000, Math.min(opts.corePackets, Math.round((warm.packetsPerSec * opts.coreBudgetMs) / 1000)));
    let refCorePackets = 0;
    if (hasCore) {
      const probe = mode.core(picks, 50, "reference");
      if (probe) refCorePackets = Math.max(50, Math.min(opts.corePackets, Math.round((probe.packetsPerSec * opts.referenceBudgetMs) / 1000)));
    }
    const hasReference = mode.useEngine("reference");
    if (hasReference) {
      try {
        newConn(20, Infinity);
      } finally {
        mode.useEngine("compiled");
      }
    }
    flush();

    let coreCost: number | null = null;
    let coreExprs: number | null = null;
    const rounds = interleave(Math.max(1, opts.repeats), {
      limitFirst: () => limit.run(opts.corePackets),
      limitCt: () => ctLimit.run(opts.corePackets),
      core: () => {
        const c = hasCore ? mode.core(picks, corePackets, "compiled") : null;
        if (c === null) return null;
        coreCost = c.meanCost;
        coreExprs = c.meanExprs ?? null;
        return nsPer(c.packetsPerSec);
      },
      coreRef: () => {
        const c = refCorePackets > 0 ? mode.core(picks, refCorePackets, "reference") : null;
        return c === null ? null : nsPer(c.packetsPerSec);
      },
      newConn: () => newConn(opts.connections, Infinity),
      newConnRef: () => {
        if (!hasReference) return null;
        mode.useEngine("reference");
        try {
          return newConn(opts.connections, opts.referenceBudgetMs);
        } finally {
          mode.useEngine("compiled");
        }
      },
      established: () => {
        send(PORT_BASE, picks[0]!);
        const ns = established(opts.roundTrips);
        flush();
        return ns;
      },
    });

    const rate = (nsList: number[]): Sample | null => {
      const s = summarize(nsList.map((ns) => 1e9 / ns));
      return s;
    };
    const limitNewConn = rounds.limitFirst.map((ns, i) => ns + rounds.limitCt[i]!);
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
      newConnPerSec: rate(rounds.newConn)!,
      newConnPerSecReference: rate(rounds.newConnRef),
      establishedPps: rate(rounds.established)!,
      coreNewConnPerSec: rate(rounds.core),
      coreNewConnPerSecReference: rate(rounds.coreRef),
      coreMeanCost: coreCost,
      coreMeanExprs: coreExprs,
      limitFirstPacketNs: summarize(rounds.limitFirst)!,
      limitConntrackNs: summarize(rounds.limitCt)!,
      coreRatioToLimit: pairedRatio(rounds.core, rounds.limitFirst),
      newConnRatioToLimit: pairedRatio(rounds.newConn, limitNewConn),
      establishedRatioToLimit: pairedRatio(rounds.established, rounds.limitCt),
    };
  } finally {
    client.close();
  }
}
