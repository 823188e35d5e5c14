import { formatIpv4 } from "../../../base/ipv4-int.js";

/** A net as `ipset save` prints it: a /32 without its suffix. */
export function formatNet(net: number, cidr: number): string {
  return cidr === 32 ? formatIpv4(net) : `${formatIpv4(net)}/${cidr}`;
}
