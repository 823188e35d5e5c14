/**
 * `ipset save`: for each set in slot order a `create` line, then one `add` line per live
 * member. Members print in insertion order (the kernel prints hash-bucket order, which
 * depends on its random initval). Extensions print as ipset does: timeout (seconds left),
 * nomatch, packets and bytes, then the quoted comment.
 */
import { remainingSeconds } from "./entry-ext.js";
import { formatHeader } from "./header.js";
import type { Ipset } from "./ipset.js";
import type { IpsetMember } from "./model.js";
import type { IpsetRegistry } from "./registry.js";

function memberLine(set: Ipset, m: IpsetMember, now: number): string {
  const h = set.header;
  let line = `add ${set.name} ${m.key}`;
  if (h.timeout !== undefined) line += ` timeout ${remainingSeconds(m, now)}`;
  if (m.nomatch) line += " nomatch";
  if (h.counters) line += ` packets ${m.packets} bytes ${m.bytes}`;
  if (h.comment && m.comment !== undefined) line += ` comment "${m.comment}"`;
  return line;
}

/** One set as `ipset save NAME` prints it. */
export function saveIpset(set: Ipset, now: number): string {
  let out = `create ${set.name} ${set.type} ${formatHeader(set.spec, set.header)}\n`;
  for (const m of set.members()) out += `${memberLine(set, m, now)}\n`;
  return out;
}

export function saveIpsets(registry: IpsetRegistry): string {
  const now = registry.clock.now();
  return registry.list().map((s) => saveIpset(s, now)).join("");
}
