/**
 * nft's transport-layer protocol context within one rule, as far as podwire needs it: which
 * transport protocol later header matches must agree with ("conflicting protocols
 * specified: sctp vs. udp") and which one a `th` match is printed as. The update rules are
 * empirical (nft 1.0.6, found by loading random rules):
 * - header matches (tcp/udp/sctp, alone or in a concatenation) and protocol matches
 *   (`meta l4proto X`, `ip protocol X`) add their protocol to the context;
 * - a header match is refused when the context holds another protocol than its own
 *   (`sctp dport 1 meta l4proto udp udp dport 2` and `tcp dport 1 meta l4proto sctp
 *   ip daddr . tcp dport { … }` are both refused); a protocol match itself never is.
 */
import type { Stmt } from "./model.js";

export type Transport = "tcp" | "udp" | "sctp";

/** The transport protocol of an inet_proto number (6, 17, 132: what nft prints as tcp, udp, sctp), else undefined. */
export function transportNumber(v: number | string): Transport | undefined {
  return v === 6 ? "tcp" : v === 17 ? "udp" : v === 132 ? "sctp" : undefined;
}

function asTransport(name: string): Transport | undefined {
  return name === "tcp" || name === "udp" || name === "sctp" ? name : undefined;
}

/** `meta l4proto X` / `ip protocol X` / `ip6 nexthdr X` with X a transport protocol: X. */
export function protocolMatched(s: Stmt): Transport | undefined {
  if (s.kind !== "match" || s.op !== "==" || s.right.length !== 1 || s.right[0]!.kind !== "value") return undefined;
  const l = s.left;
  const isProto = (l.kind === "meta" && l.key === "l4proto") || (l.kind === "payload" && (l.field === "protocol" || l.field === "nexthdr"));
  return isProto ? transportNumber(s.right[0]!.v) : undefined;
}

export class ProtocolContext {
  /** Transport protocols named so far, in order. */
  private readonly seen: Transport[] = [];

  /** The last protocol match (`meta l4proto X`), which decides how a later `th` match is decoded. */
  private matched: Transport | undefined;

  /**
   * The protocol a later `th` match is decoded as: the last protocol match, else the first
   * header match (`tcp dport { 1, 2 } meta l4proto sctp th dport 1` lists as
   * `tcp dport { 1, 2 } sctp dport 1`, which nft itself then refuses to load).
   */
  transport(): Transport | undefined {
    return this.matched ?? this.seen[0];
  }

  /** Takes in one statement; returns `[named before, this one]` when it names a conflicting protocol. */
  update(s: Stmt): [Transport, Transport] | null {
    const dep = protocolMatched(s);
    if (dep) {
      this.matched = dep;
      if (!this.seen.includes(dep)) this.seen.push(dep);
      return null;
    }
    if (s.kind !== "match" && s.kind !== "lookup" && s.kind !== "vmap") return null;
    const parts = s.left.kind === "concat" ? s.left.parts : [s.left];
    for (const p of parts) {
      if (p.kind !== "payload") continue;
      const t = asTransport(p.proto);
      if (!t) continue;
      const other = this.seen.find((x) => x !== t);
      if (other) return [other, t];
      if (!this.seen.includes(t)) this.seen.push(t);
    }
    return null;
  }
}
