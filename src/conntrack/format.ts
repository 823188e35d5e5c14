/**
 * `conntrack -L` lines, as conntrack-tools prints a dump from nf_conntrack_netlink.c
 * (libnetfilter_conntrack's default output): protocol name padded to 8 and number,
 * seconds left, TCP or SCTP state, original tuple, [UNREPLIED], reply tuple, [ASSURED], mark, use.
 * With accounting on, `packets=N bytes=N` follows each tuple.
 */
import { NS_PER_SEC } from "../base/clock.js";
import type { Conn } from "./conn.js";
import { IPS_ASSURED, IPS_SEEN_REPLY } from "./conn.js";
import { formatTuple, protoName } from "./tuple.js";

export function formatConn(conn: Conn, now: number, acct: boolean): string {
  const o = conn.original;
  // ctnetlink_dump_timeout: whole seconds left, never negative.
  const secs = Math.max(0, Math.floor((conn.timeoutAt - now) / NS_PER_SEC));
  let s = `${protoName(o.proto).padEnd(8)} ${o.proto} ${secs} `;
  if (conn.tcp) s += `${conn.tcpStateName} `;
  else if (conn.sctp) s += `${conn.sctpStateName} `;
  s += `${formatTuple(o)} `;
  if (acct) s += `packets=${conn.num[2]} bytes=${conn.num[4]} `;
  if (!(conn.status & IPS_SEEN_REPLY)) s += "[UNREPLIED] ";
  s += `${formatTuple(conn.reply)} `;
  if (acct) s += `packets=${conn.num[3]} bytes=${conn.num[5]} `;
  if (conn.status & IPS_ASSURED) s += "[ASSURED] ";
  s += `mark=${conn.mark >>> 0} use=1`;
  return s;
}
