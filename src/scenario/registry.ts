/** Every scenario, in the order of the reference table (../shared/reference/service-networking-problems.md). */
import { LOST_CLIENT_IP } from "./cases/lost-client-ip.js";
import { STALE_UDP_CONNTRACK } from "./cases/stale-udp-conntrack.js";
import { CONNTRACK_TABLE_FULL } from "./cases/conntrack-table-full.js";
import { REJECT_VS_CONNTRACK } from "./cases/reject-vs-conntrack.js";
import { RULE_SYNC_LATENCY } from "./cases/rule-sync-latency.js";
import { WHICH_RULE } from "./cases/which-rule.js";
import { BRIDGE_NF_CALL_OFF } from "./cases/bridge-nf-call-off.js";
import { HAIRPIN } from "./cases/hairpin.js";
import { INVALID_RST } from "./cases/invalid-rst.js";
import { VXLAN_MTU } from "./cases/vxlan-mtu.js";
import { LEGACY_VS_NFT } from "./cases/legacy-vs-nft.js";
import { DNS_CONNTRACK_RACE } from "./cases/dns-conntrack-race.js";
import { SNAT_PORT_COLLISION } from "./cases/snat-port-collision.js";
import { DOUBLE_NAT_CHECKSUM } from "./cases/double-nat-checksum.js";
import { IPVS_CONN_REUSE } from "./cases/ipvs-conn-reuse.js";
import type { Scenario } from "./types.js";

export const SCENARIOS: readonly Scenario[] = [LOST_CLIENT_IP, DNS_CONNTRACK_RACE, SNAT_PORT_COLLISION, DOUBLE_NAT_CHECKSUM, IPVS_CONN_REUSE, BRIDGE_NF_CALL_OFF, HAIRPIN, INVALID_RST, VXLAN_MTU, LEGACY_VS_NFT, STALE_UDP_CONNTRACK, CONNTRACK_TABLE_FULL, REJECT_VS_CONNTRACK, RULE_SYNC_LATENCY, WHICH_RULE].sort((a, b) => a.number - b.number);
