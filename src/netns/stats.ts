/** Per-namespace counters: a count for every reason a packet was dropped, and the good paths. */
export class NetnsStats {
  delivered = 0;
  forwarded = 0;
  sent = 0;
  icmpErrorsSent = 0;
  /** ICMP errors not sent because of icmp_ratelimit. */
  icmpRateLimited = 0;
  readonly drops = new Map<string, number>();

  countDrop(reason: DropReason): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }

  totalDrops(): number {
    let n = 0;
    for (const v of this.drops.values()) n += v;
    return n;
  }
}

/** Why the stack dropped a packet. Each has its own counter. */
export type DropReason =
  | "not-for-us" // unicast frame for another MAC (PACKET_OTHERHOST)
  | "unknown-ethertype"
  | "arp-malformed"
  | "ip-header-invalid"
  | "ip-checksum"
  | "ip-fragment" // fragments are not reassembled by podwire
  | "forwarding-disabled"
  | "ttl-exceeded"
  | "no-route"
  | "frag-needed" // DF set and larger than the next hop's MTU
  | "fragmentation-unsupported" // DF clear and too big: Linux would fragment
  | "local-mtu-exceeded" // a local socket sent more than the route MTU with DF (EMSGSIZE)
  | "neigh-failed" // ARP got no answer
  | "neigh-queue-full"
  | "martian-source"
  | "udp-checksum"
  | "udp-no-socket"
  | "udp-malformed"
  | "tcp-checksum"
  | "tcp-malformed"
  | "tcp-no-socket"
  | "tcp-out-of-window"
  | "sctp-checksum"
  | "sctp-malformed"
  | "sctp-no-socket" // out of the blue: answered with ABORT or discarded (RFC 9260 §8.4)
  | "icmp-malformed"
  | "icmp-checksum"
  | "icmp-unhandled"
  | "netfilter";
