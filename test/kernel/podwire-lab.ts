/**
 * The podwire half of the differential suite: the topology of kernel-lab.ts built from
 * podwire NetworkNamespaces and veths, the same ruleset loaded into R through
 * parseRestore/applyRestore, and client/server behaviour that mirrors the python helpers:
 *
 * - a UDP probe is a connected socket: it takes a datagram only from (dst, dport) and an
 *   ICMP error only when the quoted datagram is its own (the kernel's __udp4_lib_err lookup);
 * - a TCP probe connects, sends "hello", reads until EOF, then closes; an ICMP error about
 *   its SYN aborts it (tcp_v4_err in SYN_SENT), a RST means "reset";
 * - a ping probe sends one echo request (56 data bytes) and takes the echo reply or an
 *   ICMP error quoting it;
 * - the servers on S answer `ep=<local address:port> peer=<remote address:port>`.
 *
 * Every probe waits at most `timeoutSec` of virtual time, like the python client.
 */
import { formatIpv4, ipv4, NS_PER_MS, NS_PER_SEC, parseCidr } from "../../src/base/index.js";
import { type PacketBuffer, Simulator, createVethPair } from "../../src/netdev/index.js";
import { applyRestore } from "../../src/netfilter/apply-restore.js";
import type { EngineKind } from "../../src/netfilter/engine.js";
import { type Ruleset, newRuleset } from "../../src/netfilter/model.js";
import { parseRestore } from "../../src/netfilter/restore-parse.js";
import { NamespaceNetfilter } from "../../src/netns/netfilter-glue.js";
import { type IcmpErrorReport, NetworkNamespace } from "../../src/netns/index.js";
import { cloneRuleset, type NftRuleset } from "../../src/nftables/index.js";
import type { TcpConnection } from "../../src/netns/tcp.js";
import { type Batch, ENDPOINTS, type Outcome, type Probe, SERVER_PORTS } from "./common.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
function rd16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

export interface PodwireRun {
  outcomes: Outcome[][];
  conntrack: string[];
  nf: NamespaceNetfilter;
}

interface Pending {
  probe: Probe;
  dst: number;
  outcome: Outcome | null;
  /** TCP: still has packets to exchange after the outcome is known (the close). */
  closing: boolean;
}

export function podwireTopology(seed: number) {
  const sim = new Simulator(seed);
  const c = new NetworkNamespace(sim, "C");
  const r = new NetworkNamespace(sim, "R");
  const s = new NetworkNamespace(sim, "S");
  r.ipForward = true;
  const [cEth, rEth0] = createVethPair(sim, { name: "eth0", mac: 0x02000000010a }, { name: "r0", mac: 0x020000000101 });
  const [rEth1, sEth] = createVethPair(sim, { name: "r1", mac: 0x020000000201 }, { name: "eth0", mac: 0x02000000020a });
  c.addDevice(cEth);
  r.addDevice(rEth0);
  r.addDevice(rEth1);
  s.addDevice(sEth);
  c.addAddress(cEth, ipv4("10.0.1.2"), 24);
  r.addAddress(rEth0, ipv4("10.0.1.1"), 24);
  r.addAddress(rEth1, ipv4("10.0.2.1"), 24);
  // Secondary addresses add no prefix route in Linux.
  ENDPOINTS.forEach((ep, i) => s.addAddress(sEth, ipv4(ep), 24, { noPrefixRoute: i > 0 }));
  c.addRoute(parseCidr("0.0.0.0/0")!, cEth, { gateway: ipv4("10.0.1.1") });
  s.addRoute(parseCidr("0.0.0.0/0")!, sEth, { gateway: ipv4("10.0.2.1") });
  r.addRoute(parseCidr("10.96.0.0/16")!, rEth1);
  for (const port of SERVER_PORTS) {
    s.bindUdp(port, {
      onDatagram(ns: NetworkNamespace, pkt: PacketBuffer) {
        const b = pkt.buf;
        const h = pkt.head;
        const l4 = h + (b[h]! & 0x0f) * 4;
        const src = rd32(b, h + 12);
        const dst = rd32(b, h + 16);
        const sport = rd16(b, l4);
        const dport = rd16(b, l4 + 2);
        ns.sim.pool.release(pkt);
        if (!ENDPOINTS.includes(formatIpv4(dst) as (typeof ENDPOINTS)[number])) return; // the python server binds the endpoint addresses only
        ns.sendUdp(dport, src, sport, enc.encode(`ep=${formatIpv4(dst)}:${dport} peer=${formatIpv4(src)}:${sport}`), dst);
      },
    });
    s.tcp.listen(port, () => ({
      onData(conn: TcpConnection) {
        conn.send(enc.encode(`ep=${formatIpv4(conn.localIp)}:${conn.localPort} peer=${formatIpv4(conn.remoteIp)}:${conn.remotePort}`));
        conn.close();
      },
    }));
  }
  return { sim, c, r, s };
}

/**
 * Runs the probes through podwire's C–R–S topology with `rules` (restore text, or a ruleset to
 * clone) in R, and with `opts.nft` (cloned), when given, as R's nft ruleset beside them.
 */
export function podwireRun(rules: string | Ruleset, batches: Batch[], timeoutSec: number, opts: { engine: EngineKind; seed?: number; icmpRatemask?: number; nft?: NftRuleset }): PodwireRun {
  const { sim, c, r, s } = podwireTopology(opts.seed ?? 1);
  // The kernel lab sets the same sysctl in its router and server namespaces.
  r.icmpRatemask = opts.icmpRatemask ?? 0;
  s.icmpRatemask = opts.icmpRatemask ?? 0;
  const rs = typeof rules === "string" ? applyRestore(newRuleset(), parseRestore(rules, "kernel-case.rules")) : structuredClone(rules);
  const nf = new NamespaceNetfilter(r, rs, { engine: opts.engine });
  r.nf = nf;
  if (opts.nft) nf.setNftRuleset(cloneRuleset(opts.nft));

  const pending: Pending[] = [];
  c.icmpErrorListeners.push((_ns, rep: IcmpErrorReport) => {
    for (const p of pending) {
      if (p.outcome !== null) continue;
      const pr = p.probe;
      const proto = pr.proto === "udp" ? 17 : pr.proto === "tcp" ? 6 : 1;
      if (rep.origProto !== proto || rep.origDst !== p.dst) continue;
      if (proto !== 1 && (rep.origSrcPort !== pr.sport || rep.origDstPort !== pr.dport)) continue;
      p.outcome = { kind: "icmp", type: rep.type, code: rep.code, from: formatIpv4(rep.from) };
      p.closing = false;
      if (proto === 17) c.unbindUdp(pr.sport);
      if (proto === 1) c.unbindPing(pr.sport & 0xffff);
      return;
    }
  });

  const start = (p: Pending): void => {
    const pr = p.probe;
    if (pr.proto === "udp") {
      c.bindUdp(pr.sport, {
        onDatagram(ns, pkt) {
          const b = pkt.buf;
          const h = pkt.head;
          const l4 = h + (b[h]! & 0x0f) * 4;
          const from = rd32(b, h + 12);
          const fromPort = rd16(b, l4);
          const text = dec.decode(b.subarray(l4 + 8, pkt.tail));
          ns.sim.pool.release(pkt);
          if (p.outcome !== null || from !== p.dst || fromPort !== pr.dport) return; // a connected socket filters
          p.outcome = parseReply(text);
          c.unbindUdp(pr.sport);
        },
      });
      c.sendUdp(pr.sport, p.dst, pr.dport, enc.encode("probe"));
    } else if (pr.proto === "tcp") {
      let got = "";
      let connected = false;
      c.tcp.connect(
        p.dst,
        pr.dport,
        {
          onConnected(conn) {
            connected = true;
            conn.send(enc.encode("hello"));
          },
          onData(_conn, data) {
            got += dec.decode(data);
          },
          onPeerClosed(conn) {
            if (p.outcome === null) {
              p.outcome = parseReply(got);
              p.closing = true;
            }
            conn.close();
          },
          onClosed() {
            p.closing = false;
          },
          onReset() {
            if (p.outcome === null) p.outcome = connected ? { kind: "error", detail: `reset after connect, got ${JSON.stringify(got)}` } : { kind: "reset" };
            p.closing = false;
          },
        },
        pr.sport,
      );
    } else {
      c.bindPing(pr.sport & 0xffff, {
        onEchoReply(_ns, pkt) {
          if (p.outcome !== null) return;
          p.outcome = { kind: "echo", from: formatIpv4(rd32(pkt.buf, pkt.head + 12)) };
          c.unbindPing(pr.sport & 0xffff);
        },
      });
      c.sendPing(p.dst, pr.sport & 0xffff, 1);
    }
  };

  /** Runs the simulation until every probe has its outcome (and TCP closes are through) or the timeout. */
  const runUntilDone = (group: Pending[]): void => {
    const deadline = sim.now() + timeoutSec * NS_PER_SEC;
    while (sim.now() < deadline && group.some((p) => p.outcome === null || p.closing)) {
      sim.run(Math.min(deadline, sim.now() + NS_PER_MS));
    }
    for (const p of group) {
      if (p.outcome === null) {
        p.outcome = { kind: "timeout" };
        if (p.probe.proto === "udp") c.unbindUdp(p.probe.sport);
        if (p.probe.proto === "icmp") c.unbindPing(p.probe.sport & 0xffff);
      }
    }
    // Let the last ACKs through, as the python client sleeps before exiting.
    sim.run(sim.now() + 10 * NS_PER_MS);
  };

  const outcomes: Outcome[][] = [];
  for (const batch of batches) {
    const group = batch.probes.map((probe): Pending => ({ probe, dst: ipv4(probe.dst), outcome: null, closing: false }));
    if (batch.parallel) {
      pending.push(...group);
      for (const p of group) start(p);
      runUntilDone(group);
    } else {
      for (const p of group) {
        pending.push(p);
        start(p);
        runUntilDone([p]);
      }
    }
    pending.length = 0;
    outcomes.push(group.map((p) => p.outcome!));
  }
  return { outcomes, conntrack: nf.conntrack.list(), nf };
}

function parseReply(text: string): Outcome {
  const m = /^ep=(\S+) peer=(\S+)$/.exec(text);
  if (!m) return { kind: "error", detail: `unparsable reply ${JSON.stringify(text)}` };
  return { kind: "reply", ep: m[1]!, peer: m[2]! };
}
