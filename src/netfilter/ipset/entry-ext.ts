/**
 * Per-entry extensions: which `add` options a set accepts (timeout needs a timeout set,
 * counters a counters set, comment a comment set, nomatch a type with a net dimension), and
 * how they are stored. A timeout of 0 means "never expires"; remaining time prints as the
 * kernel does, whole seconds rounded down but never 0 while the member lives.
 */
import { NS_PER_SEC } from "../../base/clock.js";
import { ipsetError } from "./errors.js";
import type { IpsetEntryOptions, IpsetHeader, IpsetMember } from "./model.js";
import { MAX_TIMEOUT } from "./numbers.js";
import type { IpsetTypeSpec } from "./types/index.js";

/** Longest comment the kernel keeps (IPSET_MAX_COMMENT_SIZE). */
export const MAX_COMMENT = 255;

function unsupported(what: string, createFlag: string): never {
  throw ipsetError("E_IPSET_OPTION", `${what} cannot be used: the set was created without ${createFlag} support`, `create the set with \`${createFlag}\``, what);
}

export function checkEntryOptions(spec: IpsetTypeSpec, h: IpsetHeader, o: IpsetEntryOptions): void {
  if (o.timeout !== undefined) {
    if (h.timeout === undefined) unsupported("timeout", "timeout");
    if (!Number.isInteger(o.timeout) || o.timeout < 0 || o.timeout > MAX_TIMEOUT) {
      throw ipsetError("E_IPSET_VALUE", `timeout ${o.timeout} is out of range 0-${MAX_TIMEOUT}`, "give the timeout in whole seconds", "timeout");
    }
  }
  if (o.packets !== undefined && !h.counters) unsupported("packets", "counters");
  if (o.bytes !== undefined && !h.counters) unsupported("bytes", "counters");
  if (o.comment !== undefined) {
    if (!h.comment) unsupported("comment", "comment");
    if (o.comment === "" || o.comment.length > MAX_COMMENT || o.comment.includes('"') || /[\n\r]/.test(o.comment)) {
      throw ipsetError("E_IPSET_VALUE", "the comment must be 1 to 255 characters without quotes or newlines", "shorten the comment or drop its quotes", "comment");
    }
  }
  if (o.nomatch && !spec.hasNet) {
    throw ipsetError("E_IPSET_OPTION", `${spec.name} entries cannot be nomatch`, "nomatch is for types with a net dimension (hash:net, hash:ip,port,net)", "nomatch");
  }
}

/** Sets a member's extensions from `add` options (replacing them on `-exist` re-adds). */
export function setExtensions(m: IpsetMember, h: IpsetHeader, o: IpsetEntryOptions, now: number): void {
  const timeout = o.timeout ?? h.timeout ?? 0;
  m.expiresAt = timeout === 0 ? Infinity : now + timeout * NS_PER_SEC;
  m.nomatch = o.nomatch ?? false;
  if (o.packets !== undefined) m.packets = o.packets;
  if (o.bytes !== undefined) m.bytes = o.bytes;
  m.comment = o.comment;
}

/** Seconds left as `ipset save` prints them; 0 for a member that never expires. */
export function remainingSeconds(m: IpsetMember, now: number): number {
  if (m.expiresAt === Infinity) return 0;
  const left = Math.floor((m.expiresAt - now) / NS_PER_SEC);
  return left === 0 ? 1 : left;
}
