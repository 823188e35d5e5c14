/**
 * IP protocols an ipset port dimension can carry. tcp, udp, sctp and udplite have ports;
 * the others may only be stored with the pseudo port 0. ICMP (whose "port" is a type/code
 * pair with names such as `echo-request`) is not emulated.
 */
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE } from "../../wire/ipv4.js";

export { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE };

const NAMES: ReadonlyMap<number, string> = new Map([
  [IPPROTO_TCP, "tcp"],
  [IPPROTO_UDP, "udp"],
  [IPPROTO_SCTP, "sctp"],
  [IPPROTO_UDPLITE, "udplite"],
  [47, "gre"],
  [50, "esp"],
  [51, "ah"],
]);

const NUMBERS: ReadonlyMap<string, number> = new Map([...NAMES].map(([n, s]) => [s, n]));

/** The protocol number for a name (any case) or a number; -1 when unknown here. */
export function protoByName(text: string): number {
  const byName = NUMBERS.get(text.toLowerCase());
  if (byName !== undefined) return byName;
  if (/^[0-9]+$/.test(text)) {
    const n = Number(text);
    return NAMES.has(n) ? n : -1;
  }
  return -1;
}

export function protoName(proto: number): string {
  return NAMES.get(proto) ?? String(proto);
}

export function protoHasPorts(proto: number): boolean {
  return proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP || proto === IPPROTO_UDPLITE;
}
