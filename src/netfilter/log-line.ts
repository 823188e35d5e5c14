/** The line a LOG target writes (the fields of the kernel's nf_log_ip_packet, IPv4 only). */
import { formatIpv4 } from "../base/index.js";
import type { PacketContext } from "./packet-context.js";

export function logLine(prefix: string | null, ctx: PacketContext): string {
  return `${prefix ?? ""}IN=${ctx.inIface} OUT=${ctx.outIface} SRC=${formatIpv4(ctx.src)} DST=${formatIpv4(ctx.dst)} LEN=${ctx.len} PROTO=${ctx.proto}${ctx.hasPorts ? ` SPT=${ctx.sport} DPT=${ctx.dport}` : ""} MARK=0x${ctx.mark.toString(16)}`;
}
