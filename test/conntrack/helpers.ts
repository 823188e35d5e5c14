/** Packet builders and a table factory for the conntrack tests. */
import { VirtualClock } from "../../src/base/clock.js";
import { Rng } from "../../src/base/rng.js";
import { ipv4 } from "../../src/base/ipv4-int.js";
import { buildIcmpFrame, buildTcpFrame, buildUdpFrame } from "../../src/wire/builder.js";
import { ConntrackTable } from "../../src/conntrack/index.js";
import type { ConntrackOptions } from "../../src/conntrack/index.js";

/** An IPv4 packet: the header is at `buf[ipOff]`, `len` bytes in all. */
export interface Pkt {
  buf: Uint8Array;
  ipOff: number;
  len: number;
}

const MACS = { srcMac: 0x0a580af40102, dstMac: 0x0a580af40101 };

function frame(build: (b: { buf: Uint8Array; head: number; tail: number }) => number): Pkt {
  const b = { buf: new Uint8Array(2048), head: 0, tail: 0 };
  const n = build(b);
  return { buf: b.buf, ipOff: 14, len: n - 14 };
}

export function udp(src: string | number, dst: string | number, sport: number, dport: number, payloadLen = 8, checksum = true): Pkt {
  return frame((b) =>
    buildUdpFrame(b, { ...MACS, srcIp: addr(src), dstIp: addr(dst) }, { srcPort: sport, dstPort: dport, payload: new Uint8Array(payloadLen).fill(0x61) }, checksum),
  );
}

export const SYN = 0x02;
export const ACK = 0x10;
export const FIN = 0x01;
export const RST = 0x04;
export const PSH = 0x08;

export function tcp(
  src: string | number,
  dst: string | number,
  sport: number,
  dport: number,
  seq: number,
  ack: number,
  flags: number,
  opts: { window?: number; payloadLen?: number; options?: Uint8Array } = {},
): Pkt {
  return frame((b) =>
    buildTcpFrame(
      b,
      { ...MACS, srcIp: addr(src), dstIp: addr(dst) },
      {
        srcPort: sport,
        dstPort: dport,
        seq: seq >>> 0,
        ack: ack >>> 0,
        flags,
        window: opts.window ?? 64240,
        payload: new Uint8Array(opts.payloadLen ?? 0).fill(0x62),
        ...(opts.options ? { options: opts.options } : {}),
      },
    ),
  );
}

export function echo(src: string | number, dst: string | number, kind: "echo-request" | "echo-reply", ident: number, seq = 1): Pkt {
  return frame((b) => buildIcmpFrame(b, { ...MACS, srcIp: addr(src), dstIp: addr(dst) }, { kind, ident, seq, data: new Uint8Array(16).fill(0x63) }));
}

/** An ICMP error from `src` to `dst` quoting the first `quoteLen` bytes (default IP header + 8) of `quoted`. */
export function icmpError(src: string | number, dst: string | number, kind: "dst-unreachable" | "time-exceeded", code: number, quoted: Pkt, quoteLen?: number): Pkt {
  const ihl = (quoted.buf[quoted.ipOff]! & 15) * 4;
  const q = quoted.buf.slice(quoted.ipOff, quoted.ipOff + Math.min(quoteLen ?? ihl + 8, quoted.len));
  return frame((b) => buildIcmpFrame(b, { ...MACS, srcIp: addr(src), dstIp: addr(dst) }, { kind, code, quoted: q }));
}

export function addr(a: string | number): number {
  return typeof a === "number" ? a : ipv4(a);
}

export function makeTable(opts: Partial<ConntrackOptions> = {}): { ct: ConntrackTable; clock: VirtualClock } {
  const clock = new VirtualClock(0);
  const ct = new ConntrackTable({ clock, rng: new Rng(1), ...opts });
  return { ct, clock };
}

export const SEC = 1_000_000_000;

/** Reads the source/destination address and ports of a packet. */
export function fields(p: Pkt): { src: number; dst: number; sport: number; dport: number } {
  const b = p.buf;
  const o = p.ipOff;
  const l4 = o + (b[o]! & 15) * 4;
  const g32 = (i: number) => ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
  return { src: g32(o + 12), dst: g32(o + 16), sport: (b[l4]! << 8) | b[l4 + 1]!, dport: (b[l4 + 2]! << 8) | b[l4 + 3]! };
}
