/** The data type(s) of an expression: what its values are read and printed as. */
import type { DataTypeName } from "./datatypes.js";
import type { Expr } from "./model.js";

const PAYLOAD: Record<string, DataTypeName> = {
  "ip saddr": "ipv4_addr",
  "ip daddr": "ipv4_addr",
  "ip protocol": "inet_proto",
  "ip6 saddr": "ipv6_addr",
  "ip6 daddr": "ipv6_addr",
  "ip6 nexthdr": "inet_proto",
};

export const META_KEYS: Record<string, DataTypeName> = {
  l4proto: "inet_proto",
  mark: "mark",
  iifname: "ifname",
  oifname: "ifname",
  iif: "iface_index",
  oif: "iface_index",
  nfproto: "nf_proto",
  pkttype: "pkttype",
  protocol: "integer",
};

/** Meta keys nft prints without `meta` (src/meta.c `meta_key_is_unqualified`). */
export const UNQUALIFIED_META = new Set(["iifname", "oifname", "iif", "oif"]);

/** Meta keys accepted without `meta` on input. */
export const BARE_META = new Set(["iifname", "oifname", "iif", "oif", "mark"]);

export function payloadType(proto: string, field: string): DataTypeName | undefined {
  if (proto === "tcp" || proto === "udp" || proto === "sctp" || proto === "th") return field === "sport" || field === "dport" ? "inet_service" : undefined;
  return PAYLOAD[`${proto} ${field}`];
}

export function exprTypes(e: Expr): DataTypeName[] {
  switch (e.kind) {
    case "payload":
      return [payloadType(e.proto, e.field)!];
    case "meta":
      return [META_KEYS[e.key]!];
    case "ct":
      return [e.key === "state" ? "ct_state" : e.key === "status" ? "ct_status" : "mark"];
    case "ctTuple":
      return ["ipv4_addr"];
    case "fib":
      return [e.result === "type" ? "fib_addrtype" : e.result === "oif" ? "iface_index" : "ifname"];
    case "numgen":
      return ["integer"];
    case "concat":
      return e.parts.flatMap(exprTypes);
    case "binop":
      return exprTypes(e.left);
  }
}
