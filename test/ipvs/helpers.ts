/** Packet builders and a table factory for the IPVS tests. */
import { VirtualClock } from "../../src/base/clock.js";
import { ipv4 } from "../../src/base/ipv4-int.js";
import { buildIcmpFrame, buildTcpFrame, buildUdpFrame } from "../../src/wire/builder.js";
import { IpvsTable } from "../../src/ipvs/index.js";
import type { IpvsTableOptions } from "../../src/ipvs/index.js";

export interface Pkt {
  buf: Uint8Array;
  ipOff: number;
  len: number;
}

export const SEC = 1_000_000_000;
export const SYN = 0x02;
export const ACK = 0x10;
export const FIN = 0x01;
export const RST = 0x04;
export const PSH = 0x08;

const MACS = { srcMac: 0x0a580af40102, dstMac: 0x0a580af40101 };

export function addr(a: string | number): number {
  return typeof a === "number" ? a >>> 0 : ipv4(a);
}

function frame(build: (b: { buf: Uint8Array; head: number; tail: number }) => number): Pkt {
  const b = { buf: new Uint8Array(1600), head: 0, tail: 0 };
  const n = build(b);
  return { buf: b.buf, ipOff: 14, len: n - 14 };
}

export function tcp(src: string | number, sport: number, dst: string | number, dport: number, flags: number, opts: { seq?: number; ack?: number; payloadLen?: number; ttl?: number } = {}): Pkt {
  return frame((b) =>
    buildTcpFrame(
      b,
      { ...MACS, srcIp: addr(src), dstIp: addr(dst), ...(opts.ttl !== undefined ? { ttl: opts.ttl } : {}) },
      { srcPort: sport, dstPort: dport, seq: (opts.seq ?? 1000) >>> 0, ack: (opts.ack ?? 0) >>> 0, flags, window: 64240, payload: new Uint8Array(opts.payloadLen ?? 0).fill(0x62) },
    ),
  );
}

export function udp(src: string | number, sport: number, dst: string | number, dport: number, payloadLen = 8, checksum = true): Pkt {
  return frame((b) => buildUdpFrame(b, { ...MACS, srcIp: addr(src), dstIp: addr(dst) }, { srcPort: sport, dstPort: dport, payload: new Uint8Array(payloadLen).fill(0x61) }, checksum));
}

export function echo(src: string | number, dst: string | number, ident = 7): Pkt {
  return frame((b) => buildIcmpFrame(b, { ...MACS, srcIp: addr(src), dstIp: addr(dst) }, { kind: "echo-request", ident, seq: 1, data: new Uint8Array(16) }));
}

/** An ICMP error from `src` to `dst` quoting the IP header + 8 bytes of `quoted`. */
export function icmpError(src: string | number, dst: string | number, quoted: Pkt, kind: "dst-unreachable" | "time-exceeded" = "dst-unreachable", code = 4): Pkt {
  const ihl = (quoted.buf[quoted.ipOff]! & 15) * 4;
  const q = quoted.buf.slice(quoted.ipOff, quoted.ipOff + Math.min(ihl + 8, quoted.len));
  return frame((b) => buildIcmpFrame(b, { ...MACS, srcIp: addr(src), dstIp: addr(dst) }, { kind, code, quoted: q }));
}

export function fields(p: Pkt): { src: string; dst: string; sport: number; dport: number; ttl: number } {
  const b = p.buf;
  const o = p.ipOff;
  const l4 = o + (b[o]! & 15) * 4;
  const ip = (i: number) => `${b[i]}.${b[i + 1]}.${b[i + 2]}.${b[i + 3]}`;
  return { src: ip(o + 12), dst: ip(o + 16), sport: (b[l4]! << 8) | b[l4 + 1]!, dport: (b[l4 + 2]! << 8) | b[l4 + 3]!, ttl: b[o + 8]! };
}

export function makeTable(opts: Partial<IpvsTableOptions> = {}): { t: IpvsTable; clock: VirtualClock } {
  const clock = new VirtualClock(0);
  const t = new IpvsTable({ clock, ...opts });
  return { t, clock };
}

export const VIP = addr("10.96.0.10");
export function ep(i: number): number {
  return addr("10.244.1.0") + 10 + i;
}
