/**
 * nft data types: how a value of each type is written, read, and laid out in bytes (the
 * layout decides the order `nft list` prints set elements in: see sort.ts). Names follow
 * nft's `type` keywords; symbol tables follow nftables' src/datatype.c, ct.c, meta.c, fib.c.
 */
import { ipv4ToInt } from "./ipv4.js";

export type DataTypeName =
  | "ipv4_addr"
  | "ipv6_addr"
  | "inet_proto"
  | "inet_service"
  | "mark"
  | "ifname"
  | "iface_index"
  | "nf_proto"
  | "pkttype"
  | "ct_state"
  | "ct_status"
  | "fib_addrtype"
  | "integer"
  | "boolean"
  | "verdict";

/** Types a set or map may be declared with (`type …` / `: …`). */
export const SET_KEY_TYPES: readonly DataTypeName[] = ["ipv4_addr", "ipv6_addr", "inet_proto", "inet_service", "mark", "ifname"];

export interface DataType {
  name: DataTypeName;
  /** Size of the value in bytes, as the kernel stores it (inet_proto is 1, inet_service 2). */
  bytes: number;
  /** Network (big-endian) or host (little-endian here: x86/arm64) byte order. */
  order: "big" | "host";
  /** A bitmask type: an implicit match tests "any of these bits", values print as `a,b`. */
  bitmask?: boolean;
  /** Names for values, printed in place of the number. */
  symbols?: ReadonlyMap<string, number>;
}

const sym = (pairs: [string, number][]): ReadonlyMap<string, number> => new Map(pairs);

const PROTOCOLS = sym([
  ["icmp", 1], ["igmp", 2], ["tcp", 6], ["udp", 17], ["ipv6-icmp", 58], ["icmpv6", 58], ["gre", 47], ["esp", 50], ["ah", 51], ["sctp", 132], ["udplite", 136],
]);

/** A few /etc/services names nft accepts for ports (it always prints numbers). */
export const SERVICE_NAMES: ReadonlyMap<string, number> = sym([
  ["ssh", 22], ["domain", 53], ["http", 80], ["https", 443], ["ntp", 123], ["smtp", 25], ["telnet", 23], ["ftp", 21],
]);

const TYPES: Record<DataTypeName, DataType> = {
  ipv4_addr: { name: "ipv4_addr", bytes: 4, order: "big" },
  ipv6_addr: { name: "ipv6_addr", bytes: 16, order: "big" },
  inet_proto: { name: "inet_proto", bytes: 1, order: "big", symbols: PROTOCOLS },
  inet_service: { name: "inet_service", bytes: 2, order: "big" },
  mark: { name: "mark", bytes: 4, order: "host" },
  ifname: { name: "ifname", bytes: 16, order: "host" },
  iface_index: { name: "iface_index", bytes: 4, order: "host" },
  nf_proto: { name: "nf_proto", bytes: 1, order: "host", symbols: sym([["ipv4", 2], ["ipv6", 10]]) },
  pkttype: { name: "pkttype", bytes: 1, order: "host", symbols: sym([["host", 0], ["unicast", 0], ["broadcast", 1], ["multicast", 2], ["other", 3]]) },
  // nf_conntrack_common.h: NF_CT_STATE_INVALID_BIT, NF_CT_STATE_BIT(IP_CT_ESTABLISHED …), UNTRACKED.
  ct_state: { name: "ct_state", bytes: 4, order: "host", bitmask: true, symbols: sym([["invalid", 1], ["established", 2], ["related", 4], ["new", 8], ["untracked", 64]]) },
  // enum ip_conntrack_status (IPS_*).
  ct_status: {
    name: "ct_status",
    bytes: 4,
    order: "host",
    bitmask: true,
    symbols: sym([["expected", 1], ["seen-reply", 2], ["assured", 4], ["confirmed", 8], ["snat", 16], ["dnat", 32], ["dying", 512]]),
  },
  // RTN_* route types, as `fib … type` prints them.
  fib_addrtype: {
    name: "fib_addrtype",
    bytes: 4,
    order: "host",
    symbols: sym([["unspec", 0], ["unicast", 1], ["local", 2], ["broadcast", 3], ["anycast", 4], ["multicast", 5], ["blackhole", 6], ["unreachable", 7], ["prohibit", 8], ["throw", 9], ["nat", 10], ["xresolve", 11]]),
  },
  integer: { name: "integer", bytes: 4, order: "host" },
  boolean: { name: "boolean", bytes: 1, order: "host", symbols: sym([["missing", 0], ["exists", 1]]) },
  verdict: { name: "verdict", bytes: 4, order: "host" },
};

export function dataType(name: DataTypeName): DataType {
  return TYPES[name];
}

export function isDataTypeName(s: string): s is DataTypeName {
  return Object.prototype.hasOwnProperty.call(TYPES, s);
}

/** The name printed for `v` of type `t`, if the type has one (first name wins: `host`, `icmpv6`). */
function symbolOf(t: DataType, v: number): string | undefined {
  if (!t.symbols) return undefined;
  for (const [name, value] of t.symbols) if (value === v && name !== "ipv6-icmp") return name;
  return undefined;
}

const hex8 = (v: number): string => `0x${(v >>> 0).toString(16).padStart(8, "0")}`;

/** Prints one value as `nft list` does. */
export function formatAtom(type: DataTypeName, v: number | string): string {
  const t = TYPES[type];
  switch (type) {
    case "ipv4_addr": {
      const n = v as number;
      return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
    }
    case "ipv6_addr":
    case "integer":
    case "inet_service":
      return String(v);
    case "mark":
      return hex8(v as number);
    case "ifname":
    case "iface_index":
      return `"${v as string}"`;
    default: {
      if (t.bitmask) {
        // Bits print in ascending order, comma-joined without blanks (`snat,dnat`).
        const names: string[] = [];
        for (let bit = 1; bit !== 0 && bit <= (v as number); bit <<= 1) {
          if ((v as number) & bit) names.push(symbolOf(t, bit) ?? hex8(bit));
        }
        return names.join(",");
      }
      return symbolOf(t, v as number) ?? String(v);
    }
  }
}

/** Parses one plain (non-range) value of a type from its token text, or returns an error message. */
export function parseAtom(type: DataTypeName, text: string, quoted: boolean): number | string | { error: string } {
  const t = TYPES[type];
  const num = (): number | null => (/^(0x[0-9a-f]+|[0-9]+)$/i.test(text) ? Number(text) : null);
  switch (type) {
    case "ipv4_addr": {
      const n = ipv4ToInt(text);
      return n === null ? { error: `"${text}" is not an IPv4 address` } : n;
    }
    case "ipv6_addr": {
      const s = normaliseIpv6(text);
      return s === null ? { error: `"${text}" is not an IPv6 address` } : s;
    }
    case "ifname":
    case "iface_index":
      if (text.length === 0 || text.length > 15) return { error: `"${text}" is not an interface name` };
      return text;
    case "inet_service": {
      const n = num() ?? SERVICE_NAMES.get(text) ?? null;
      return n === null || n > 65535 ? { error: `"${text}" is not a port number` } : n;
    }
    case "mark":
    case "integer": {
      const n = num();
      return n === null || n > 0xffffffff ? { error: `"${text}" is not a 32-bit number` } : n;
    }
    default: {
      if (quoted) return { error: `unexpected quoted string "${text}"` };
      const s = t.symbols?.get(text);
      if (s !== undefined) return s;
      const n = num();
      const max = 2 ** (8 * t.bytes) - 1;
      if (n !== null && n <= max) return n;
      return { error: `"${text}" is not a valid ${type}` };
    }
  }
}

/** Lower-case, compressed RFC 5952 text of an IPv6 address, or null. */
export function normaliseIpv6(text: string): string | null {
  const groups = ipv6Groups(text);
  if (!groups) return null;
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

export function ipv6Groups(text: string): number[] | null {
  if (!/^[0-9a-fA-F:]+$/.test(text) || text.split("::").length > 2) return null;
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const parse = (s: string | undefined): number[] | null => {
    if (!s) return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const h = parse(head);
  const tl = parse(tail);
  if (!h || !tl) return null;
  if (tail === undefined && !text.includes("::")) return h.length === 8 ? h : null;
  if (h.length + tl.length > 7) return null;
  return [...h, ...new Array<number>(8 - h.length - tl.length).fill(0), ...tl];
}
