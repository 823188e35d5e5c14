/**
 * The few places where podwire's netfilter behaves differently by kernel version, because
 * the failures people debugged depend on which kernel their nodes ran. Everything else is
 * modelled on a current kernel; a node without a `kernelVersion` runs DEFAULT_KERNEL.
 *
 * - Clash resolution at confirm (net/netfilter/nf_conntrack_core.c, __nf_conntrack_confirm
 *   → nf_ct_resolve_clash): two unconfirmed entries of one flow race to the hash; the loser
 *   is found at insertion time.
 *   · before 5.0: a clash is merged only for a protocol that allows it (UDP) when neither
 *     entry is NATed; a NATed loser is dropped (insert_failed, drop).
 *   · 5.0–5.6 (ed07d9a021df "resolve clash for matching conntracks"): also merged when the
 *     winner did no NAT or both entries have identical tuples both ways (nf_ct_match: the
 *     same DNAT endpoint); otherwise dropped. insert_failed counts every clash.
 *   · 5.7 and later (6a757c07e51f "allow insertion of clashing entries"): a UDP loser whose
 *     reply tuple is unique is inserted in the reply direction only, with IPS_NAT_CLASH and
 *     a fixed 1 s timeout (nf_ct_resolve_clash_harder); resolved clashes count in
 *     clash_resolve, only drops in insert_failed.
 * - The NAT port search start (nf_nat_l4proto_unique_tuple): before 6ed5943f8735 ("remove
 *   l4 protocol port rovers", 4.19) a per-protocol rover shared by every CPU, updated after
 *   the search: concurrent searches start at the same port and pick the same one.
 * - udp_manip_pkt's zero checksum (ea64d8d6c675 "never update the UDP checksum when it's
 *   0", 5.7; stable 5.6.13, 5.4.41, 4.19.123, 4.14.181): before it, a UDP checksum of 0 was
 *   "updated" when the skb was CHECKSUM_PARTIAL — true of a VXLAN packet whose inner TCP
 *   checksum is offloaded — and written as CSUM_MANGLED_0 (0xffff): a checksum the receiver
 *   checks and finds wrong.
 * - tcp_in_window's verdict on a segment outside the window (net/netfilter/
 *   nf_conntrack_proto_tcp.c): before "netfilter: conntrack: ignore overly delayed tcp
 *   packets" (6e250dcbff1d, 6.1, as kind#3588 dates it) every failed check made the packet
 *   INVALID — an old retransmit or a late duplicate under the window's lower bound, a
 *   slightly overshooting sender too; since then those are ignored (accepted, the state left
 *   alone) and only a sequence number over the upper bound or an ACK of unseen data is INVALID.
 */

export interface KernelVersion {
  major: number;
  minor: number;
  patch: number;
}

/** What a node runs when the Cluster document does not say (a current LTS kernel). */
export const DEFAULT_KERNEL: KernelVersion = { major: 6, minor: 6, patch: 0 };

/** `5.4`, `5.4.40`, `4.14.180-…` → a version; null when it is not one. */
export function parseKernelVersion(text: string): KernelVersion | null {
  const m = /^(\d{1,2})\.(\d{1,3})(?:\.(\d{1,4}))?(?:[-+~][0-9A-Za-z.+~-]*)?$/.exec(text.trim());
  if (m === null) return null;
  return { major: Number(m[1]), minor: Number(m[2]), patch: m[3] === undefined ? 0 : Number(m[3]) };
}

export function formatKernelVersion(v: KernelVersion): string {
  return `${v.major}.${v.minor}.${v.patch}`;
}

/** a < b? */
function before(a: KernelVersion, major: number, minor: number, patch = 0): boolean {
  if (a.major !== major) return a.major < major;
  if (a.minor !== minor) return a.minor < minor;
  return a.patch < patch;
}

export type ClashResolution = "unnated-only" | "match" | "reply-only";

/** How __nf_conntrack_confirm treats a clash on this kernel. */
export function clashResolution(v: KernelVersion): ClashResolution {
  if (before(v, 5, 0)) return "unnated-only";
  if (before(v, 5, 7)) return "match";
  return "reply-only";
}

/** Whether the NAT port search starts at the shared rover (kernels before 4.19). */
export function natPortRover(v: KernelVersion): boolean {
  return before(v, 4, 19);
}

/**
 * Whether udp_manip_pkt rewrites a zero UDP checksum of a CHECKSUM_PARTIAL skb (the bug
 * ea64d8d6c675 fixed; the stable trees got the fix in 5.6.13, 5.4.41, 4.19.123, 4.14.181).
 */
export function natUpdatesZeroUdpChecksum(v: KernelVersion): boolean {
  if (!before(v, 5, 7)) return false;
  const fixedIn: Record<string, number> = { "5.6": 13, "5.4": 41, "4.19": 123, "4.14": 181 };
  const stable = fixedIn[`${v.major}.${v.minor}`];
  return stable === undefined || v.patch < stable;
}

/** Whether tcp_in_window ignores (rather than marks INVALID) segments under the window's lower bound (6.1 and later). */
export function tcpIgnoresOverlyDelayed(v: KernelVersion): boolean {
  return !before(v, 6, 1);
}
