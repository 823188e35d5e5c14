/**
 * nft's payload dependency elimination (src/payload.c `payload_dependency_kill`), applied
 * when a rule is stored so the model is what `nft list` shows: a protocol match
 * (`ip protocol tcp`, `ip6 nexthdr tcp`, `meta l4proto tcp`, in inet `meta nfproto ipv4`)
 * followed, before any other statement, by a header match of that protocol is implied by it
 * and disappears; a `th` header match after it becomes that protocol's (`meta l4proto tcp
 * th dport 80` → `tcp dport 80`). Semantics are unchanged: a `tcp dport` match implies TCP.
 */
import type { Expr, Family, Stmt } from "./model.js";
import { ProtocolContext, transportNumber } from "./protocol-context.js";

function dependencyOf(s: Stmt, family: Family): string | undefined {
  if (s.kind !== "match" || s.op !== "==" || s.right.length !== 1 || s.right[0]!.kind !== "value") return undefined;
  const v = s.right[0]!.v as number;
  const l = s.left;
  const l4 = (l.kind === "payload" && ((l.proto === "ip" && l.field === "protocol") || (l.proto === "ip6" && l.field === "nexthdr"))) || (l.kind === "meta" && l.key === "l4proto");
  if (l4) return transportNumber(v);
  if (family === "inet" && l.kind === "meta" && l.key === "nfproto") return v === 2 ? "ip" : v === 10 ? "ip6" : undefined;
  return undefined;
}

function leftOf(s: Stmt): Expr | undefined {
  return s.kind === "match" || s.kind === "lookup" || s.kind === "vmap" ? s.left : undefined;
}

function uses(e: Expr, proto: string): boolean {
  if (e.kind === "payload") return e.proto === proto || (e.proto === "th" && ["tcp", "udp", "sctp"].includes(proto));
  if (e.kind === "concat") return e.parts.some((p) => uses(p, proto));
  if (e.kind === "binop") return uses(e.left, proto);
  return false;
}

function usesTh(e: Expr): boolean {
  if (e.kind === "payload") return e.proto === "th";
  if (e.kind === "concat") return e.parts.some(usesTh);
  if (e.kind === "binop") return usesTh(e.left);
  return false;
}

function renameTh(e: Expr, proto: "tcp" | "udp" | "sctp"): void {
  if (e.kind === "payload" && e.proto === "th") e.proto = proto;
  else if (e.kind === "concat") e.parts.forEach((p) => renameTh(p, proto));
  else if (e.kind === "binop") renameTh(e.left, proto);
}

/**
 * Once the rule's protocol context knows the transport protocol, nft prints a later `th`
 * header match as that protocol's (`tcp dport 80 th sport 1` → `tcp dport 80 tcp sport 1`):
 * it decodes the bytes with the protocol it knows.
 */
export function renameLaterTh(stmts: Stmt[]): void {
  // Only rules with a `th` match after another header or protocol match change.
  let th = false;
  for (let i = 1; i < stmts.length && !th; i++) {
    const left = leftOf(stmts[i]!);
    th = left !== undefined && usesTh(left);
  }
  if (!th) return;
  const pctx = new ProtocolContext();
  for (const s of stmts) {
    const left = leftOf(s);
    if (!left) continue;
    const known = pctx.transport();
    if (known) renameTh(left, known);
    pctx.update(s);
  }
}

const NONE: ReadonlySet<number> = new Set();

/** Indices of the statements to drop; renames `th` in place. */
export function killDependencies(stmts: Stmt[], family: Family): ReadonlySet<number> {
  let candidate = false;
  for (let i = 0; i + 1 < stmts.length && !candidate; i++) candidate = dependencyOf(stmts[i]!, family) !== undefined;
  if (!candidate) return NONE;
  const drop = new Set<number>();
  stmts.forEach((s, i) => {
    const proto = dependencyOf(s, family);
    if (!proto) return;
    for (let j = i + 1; j < stmts.length; j++) {
      const left = leftOf(stmts[j]!);
      if (!left) return;
      // A meta equality in between becomes nft's dependency candidate instead (`meta l4proto
      // sctp iifname "eth0" sctp dport 1` keeps its l4proto match); header matches do not.
      const m = stmts[j]!;
      // The same protocol match again, with a header match of it further on, lists once
      // (`meta l4proto sctp meta l4proto sctp iifname "eth0" sctp dport 1`); without one both stay.
      const laterHeader = stmts.slice(j + 1).some((x) => {
        const l = leftOf(x);
        return l !== undefined && uses(l, proto) && !(l.kind === "payload" && l.proto === "th");
      });
      if (laterHeader && dependencyOf(m, family) === proto && JSON.stringify(m) === JSON.stringify(s)) {
        drop.add(i);
        return;
      }
      if (m.kind === "match" && m.left.kind === "meta" && (m.op === "==" || m.op === "implicit")) return;
      if (uses(left, proto)) {
        drop.add(i);
        if (proto !== "ip" && proto !== "ip6") renameTh(left, proto as "tcp");
        return;
      }
    }
  });
  return drop;
}

/** Header offsets of the fields nft merges into one comparison (src/payload.c `payload_can_merge`). */
// Only the port pair: nft 1.0.6 lists `ip daddr A ip saddr B` unchanged (found by loading random rules).
const OFFSETS: Record<string, number> = { sport: 0, dport: 2 };
const WIDTHS: Record<string, number> = { sport: 2, dport: 2 };

function fieldKey(s: Stmt): { proto: string; key: string } | undefined {
  if (s.kind !== "match" || s.op !== "==" || s.right.length !== 1 || s.right[0]!.kind !== "value" || s.left.kind !== "payload") return undefined;
  const l = s.left;
  const key = l.proto === "ip" || l.proto === "ip6" ? `${l.proto} ${l.field}` : l.field;
  return OFFSETS[key] === undefined ? undefined : { proto: l.proto, key };
}

/**
 * nft merges consecutive equality matches on adjacent fields of one header into a single
 * comparison and prints them back in header order: `udp dport 53 udp sport 1` lists as
 * `udp sport 1 udp dport 53`.
 */
export function orderMergedPayloads(stmts: Stmt[]): void {
  for (let i = 0; i + 1 < stmts.length; i++) {
    const a = fieldKey(stmts[i]!);
    const b = fieldKey(stmts[i + 1]!);
    if (!a || !b || a.proto !== b.proto) continue;
    const oa = OFFSETS[a.key]!;
    const ob = OFFSETS[b.key]!;
    if (ob + WIDTHS[b.key]! === oa) {
      [stmts[i], stmts[i + 1]] = [stmts[i + 1]!, stmts[i]!];
      i++;
    } else if (oa + WIDTHS[a.key]! === ob) {
      i++;
    }
  }
}
