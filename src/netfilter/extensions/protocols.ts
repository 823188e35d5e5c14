/**
 * IP protocol names. iptables-save prints `-p` by the name `getprotobynumber` gives, i.e.
 * the first name in /etc/protocols; this is the Debian netbase table, so output does not
 * depend on the host. Parsing also accepts xtables' own aliases (`icmpv6`, `mh`, `all`).
 */

const NETBASE: readonly [string, number][] = [
  ["ip", 0], ["hopopt", 0], ["icmp", 1], ["igmp", 2], ["ggp", 3], ["ipencap", 4], ["st", 5],
  ["tcp", 6], ["egp", 8], ["igp", 9], ["pup", 12], ["udp", 17], ["hmp", 20], ["xns-idp", 22],
  ["rdp", 27], ["iso-tp4", 29], ["dccp", 33], ["xtp", 36], ["ddp", 37], ["idpr-cmtp", 38],
  ["ipv6", 41], ["ipv6-route", 43], ["ipv6-frag", 44], ["idrp", 45], ["rsvp", 46], ["gre", 47],
  ["esp", 50], ["ah", 51], ["skip", 57], ["ipv6-icmp", 58], ["ipv6-nonxt", 59], ["ipv6-opts", 60],
  ["rspf", 73], ["vmtp", 81], ["eigrp", 88], ["ospf", 89], ["ax.25", 93], ["ipip", 94],
  ["etherip", 97], ["encap", 98], ["pim", 103], ["ipcomp", 108], ["vrrp", 112], ["l2tp", 115],
  ["isis", 124], ["sctp", 132], ["fc", 133], ["mobility-header", 135], ["udplite", 136],
  ["mpls-in-ip", 137], ["manet", 138], ["hip", 139], ["shim6", 140], ["wesp", 141], ["rohc", 142],
  ["ethernet", 143],
];

const XTABLES_ALIASES: readonly [string, number][] = [
  ["all", 0], ["icmpv6", 58], ["ipv6-mh", 135], ["mh", 135],
];

const BY_NAME = new Map<string, number>([...NETBASE, ...XTABLES_ALIASES]);
const BY_NUMBER = new Map<number, string>();
for (const [name, num] of NETBASE) if (num !== 0 && !BY_NUMBER.has(num)) BY_NUMBER.set(num, name);

// The protocol numbers live in wire; re-exported for the extensions.
import { IPPROTO_DCCP, IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE } from "../../wire/ipv4.js";
export { IPPROTO_DCCP, IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE };

/** A protocol name (case-insensitive) or number 0..255; null when unknown. */
export function parseProtocol(text: string): number | null {
  const lower = text.toLowerCase();
  if (/^[0-9]+$/.test(lower)) {
    const n = Number(lower);
    return n <= 255 ? n : null;
  }
  return BY_NAME.get(lower) ?? null;
}

/** The name iptables-save prints for a protocol number, or the number itself. */
export function protocolName(proto: number): string {
  return BY_NUMBER.get(proto) ?? String(proto);
}

/** Protocols whose headers carry ports (needed by multiport and by NAT port ranges). */
export function hasPorts(proto: number): boolean {
  return proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP || proto === IPPROTO_DCCP || proto === IPPROTO_UDPLITE;
}
