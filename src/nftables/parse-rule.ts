/**
 * One rule's statements: matches (`ip daddr 10.0.0.1`, `ct state { established, related }`),
 * set lookups, verdict maps, and the statements kube-proxy and node dumps use. The
 * expression grammar is a small subset of nft's (src/parser_bison.y); anything else is an
 * error, never skipped.
 */
import { type DataTypeName, dataType } from "./datatypes.js";
import { NFT_ERROR } from "./errors.js";
import { BARE_META, META_KEYS, exprTypes, payloadType } from "./expr-types.js";
import type { Expr, RelOp, SetRef, Stmt } from "./model.js";
import type { Cursor } from "./cursor.js";
import type { Token } from "./tokenize.js";
import { ProtocolContext } from "./protocol-context.js";
import { type Ref, parseAtomAt, parseElementList, parseKey, parseKeyPart, parseTimeAt } from "./parse-values.js";

export interface ParsedRule {
  stmts: Stmt[];
  comment?: string;
  refs: Ref[];
  /** Where a `dnat/snat to ADDR:PORT` appears without a transport protocol match before it. */
  portWithoutL4?: Token;
  /** The first token of each statement, parallel to `stmts` (for context errors such as nat in a filter chain). */
  starts: Token[];
}

const REL_OPS: readonly RelOp[] = ["==", "!=", "<", ">", "<=", ">="];

export function parseRule(cur: Cursor): ParsedRule {
  const rule: ParsedRule = { stmts: [], refs: [], starts: [] };
  let l4 = false; // a transport protocol is known (nft's protocol context)
  const pctx = new ProtocolContext();
  if (cur.atEnd()) cur.unexpected("a rule");
  while (!cur.atEnd()) {
    const start = cur.peek();
    if (rule.comment !== undefined) cur.unexpected("end of rule after the comment");
    if (cur.acceptWord("comment")) {
      rule.comment = cur.expectString("comment").text;
      continue;
    }
    const stmt = parseStatement(cur, rule.refs);
    // nft's protocol context (rules found with nft 1.0.6, see protocol-context.ts).
    const conflict = pctx.update(stmt);
    if (conflict) cur.fail(NFT_ERROR.SEMANTIC, `conflicting protocols specified: ${conflict[0]} vs. ${conflict[1]}`, start);
    if (stmt.kind === "nat" && stmt.port && !l4) rule.portWithoutL4 ??= start;
    if (establishesL4(stmt)) l4 = true;
    rule.stmts.push(stmt);
    rule.starts.push(start);
  }
  return rule;
}

function establishesL4(s: Stmt): boolean {
  if (s.kind === "match" || s.kind === "lookup") {
    const left = s.left;
    const parts = left.kind === "concat" ? left.parts : [left];
    return parts.some(
      (p) =>
        (p.kind === "payload" && (p.proto === "tcp" || p.proto === "udp" || p.proto === "sctp")) ||
        (s.kind === "match" && p === left && ((p.kind === "meta" && p.key === "l4proto") || (p.kind === "payload" && p.field === "protocol"))),
    );
  }
  return false;
}

function parseStatement(cur: Cursor, refs: Ref[]): Stmt {
  const t = cur.peek();
  if (t.kind !== "word") return cur.unexpected("a statement or expression");
  switch (t.text) {
    case "accept":
    case "drop":
    case "return":
    case "continue":
      cur.next();
      return { kind: "verdict", verdict: { kind: t.text } };
    case "jump":
    case "goto": {
      cur.next();
      const name = cur.expectName("chain");
      const verdict = { kind: t.text, chain: name.text };
      refs.push({ kind: "chain", name: name.text, tok: name, verdict });
      return { kind: "verdict", verdict };
    }
    case "counter": {
      cur.next();
      let packets = 0;
      let bytes = 0;
      if (cur.acceptWord("packets")) {
        packets = Number(parseAtomAt(cur, "integer"));
        cur.expectWord("bytes");
        bytes = Number(parseAtomAt(cur, "integer"));
      }
      return { kind: "counter", packets, bytes };
    }
    case "notrack":
      cur.next();
      return { kind: "notrack" };
    case "log": {
      cur.next();
      if (cur.acceptWord("prefix")) return { kind: "log", prefix: cur.expectString("log prefix").text };
      return { kind: "log" };
    }
    case "reject":
      return parseReject(cur);
    case "dnat":
    case "snat":
      return parseNat(cur, t.text);
    case "masquerade": {
      cur.next();
      return { kind: "masquerade", flags: parseNatFlags(cur) };
    }
    case "add":
    case "update":
      return parseDynset(cur, t.text, refs);
    default:
      return parseExprStatement(cur, refs);
  }
}

function parseReject(cur: Cursor): Stmt {
  cur.next();
  if (!cur.acceptWord("with")) return { kind: "reject" };
  const kind = cur.peek();
  if (cur.acceptWord("tcp")) {
    cur.expectWord("reset");
    return { kind: "reject", with: { type: "tcp reset" } };
  }
  if (cur.acceptWord("icmp") || cur.acceptWord("icmpv6") || cur.acceptWord("icmpx")) {
    cur.acceptWord("type");
    const code = cur.expectWord(undefined, "an ICMP reject code");
    const codes = kind.text === "icmp" ? ICMP_CODES : kind.text === "icmpv6" ? ICMPV6_CODES : ICMPX_CODES;
    if (!codes.includes(code.text)) cur.fail(NFT_ERROR.BAD_VALUE, `"${code.text}" is not an ${kind.text} reject code`, code, `use one of ${codes.join(", ")}`);
    return { kind: "reject", with: { type: kind.text as "icmp", code: code.text } };
  }
  return cur.unexpected("icmp, icmpv6, icmpx or tcp reset");
}

const ICMP_CODES = ["net-unreachable", "host-unreachable", "prot-unreachable", "port-unreachable", "net-prohibited", "host-prohibited", "admin-prohibited"];
const ICMPV6_CODES = ["no-route", "admin-prohibited", "addr-unreachable", "port-unreachable", "policy-fail", "reject-route"];
const ICMPX_CODES = ["port-unreachable", "admin-prohibited", "no-route", "host-unreachable"];

function parseNat(cur: Cursor, type: "dnat" | "snat"): Stmt {
  cur.next();
  const stmt: Extract<Stmt, { kind: "nat" }> = { kind: "nat", type, flags: NO_FLAGS };
  if (cur.isWord("ip") || cur.isWord("ip6")) stmt.family = cur.next().text as "ip";
  cur.expectWord("to");
  if (!cur.isPunct(":")) stmt.addr = parseKeyPart(cur, stmt.family === "ip6" ? "ipv6_addr" : "ipv4_addr", false);
  if (cur.acceptPunct(":")) stmt.port = parseKeyPart(cur, "inet_service", false);
  if (!stmt.addr && !stmt.port) cur.unexpected("an address");
  stmt.flags = parseNatFlags(cur);
  return stmt;
}

/** The flags of the many nat statements without any (read-only). */
export const NO_FLAGS: string[] = Object.freeze([]) as unknown as string[];

function parseNatFlags(cur: Cursor): string[] {
  if (!cur.isWord("random") && !cur.isWord("fully-random") && !cur.isWord("persistent")) return NO_FLAGS;
  const flags: string[] = [];
  while (cur.isWord("random") || cur.isWord("fully-random") || cur.isWord("persistent")) {
    flags.push(cur.next().text);
    if (!cur.acceptPunct(",")) break;
  }
  return flags;
}

function parseDynset(cur: Cursor, op: "add" | "update", refs: Ref[]): Stmt {
  cur.next();
  const at = cur.expectPunct("@");
  const name = cur.expectName("set");
  refs.push({ kind: "set", name: name.text, tok: at });
  cur.expectPunct("{");
  const key = parseExpr(cur);
  const stmt: Extract<Stmt, { kind: "dynset" }> = { kind: "dynset", op, set: name.text, key };
  if (cur.acceptWord("timeout")) stmt.timeout = parseTimeAt(cur);
  cur.expectPunct("}");
  return stmt;
}

/** An expression, then what follows it: `vmap`, `set`, `[op] value`, `[!=] @set`, `[!=] { … }`. */
function parseExprStatement(cur: Cursor, refs: Ref[]): Stmt {
  const left = parseExpr(cur);
  if (cur.acceptWord("vmap")) return { kind: "vmap", left, map: parseSetRef(cur, exprTypes(left), ["verdict"], refs) };
  if (cur.isWord("set")) {
    const t = cur.next();
    const settable = (left.kind === "meta" && left.key === "mark") || (left.kind === "ct" && left.key === "mark");
    if (!settable) cur.fail(NFT_ERROR.UNSUPPORTED, "podwire models `set` only for meta mark and ct mark", t);
    if (cur.isWord() && !/^[0-9]/.test(cur.peek().text)) return { kind: "set", target: left, value: parseExpr(cur) };
    return { kind: "set", target: left, value: { kind: "const", v: Number(parseAtomAt(cur, "mark")) } };
  }
  if (left.kind === "fib" && left.result === "oif" && (cur.isWord("missing") || cur.isWord("exists"))) {
    return { kind: "match", left, op: "implicit", right: [{ kind: "value", v: cur.next().text === "exists" ? 1 : 0 }] };
  }
  let op: RelOp = "implicit";
  const opTok = cur.peek();
  if (opTok.kind === "punct" && (REL_OPS as readonly string[]).includes(opTok.text)) {
    cur.next();
    op = opTok.text as RelOp;
  }
  const types = exprTypes(left);
  if (cur.isPunct("@") || cur.isPunct("{")) {
    if (op !== "implicit" && op !== "==" && op !== "!=") cur.fail(NFT_ERROR.SYNTAX, `"${op}" cannot compare with a set`, opTok);
    const set = parseSetRef(cur, types, undefined, refs);
    // nft turns a one-element anonymous set into a plain comparison (`!= { 1.1.1.1 }` → `!= 1.1.1.1`),
    // but not one of concatenations.
    if (set.kind === "anon" && set.elements.length === 1 && types.length === 1) return { kind: "match", left, op: normaliseOp(op, types), right: set.elements[0]!.key };
    return { kind: "lookup", left, negate: op === "!=", set };
  }
  if (cur.atEnd()) cur.unexpected(`a ${types.join(" . ")} value to compare with`);
  const right = parseKey(cur, types);
  return { kind: "match", left, op: normaliseOp(op, types), right };
}

/** An implicit match is `==`, except on bitmask types where it means "any of these bits". */
function normaliseOp(op: RelOp, types: DataTypeName[]): RelOp {
  if (op !== "implicit") return op;
  return types.length === 1 && dataType(types[0]!).bitmask ? "implicit" : "==";
}

function parseSetRef(cur: Cursor, keyTypes: DataTypeName[], data: DataTypeName[] | undefined, refs: Ref[]): SetRef {
  if (cur.isPunct("@")) {
    const at = cur.next();
    const name = cur.expectName("set");
    refs.push({ kind: "set", name: name.text, tok: at });
    return { kind: "named", name: name.text };
  }
  if (!cur.isPunct("{")) cur.unexpected('"@set" or "{"');
  return { kind: "anon", elements: parseElementList(cur, keyTypes, data, refs) };
}

/** `a . b . c` of primaries, each optionally masked (`meta mark & 0x4000`). */
export function parseExpr(cur: Cursor): Expr {
  const parts: Expr[] = [parseMasked(cur)];
  while (cur.isPunct(".")) {
    cur.next();
    parts.push(parseMasked(cur));
  }
  return parts.length === 1 ? parts[0]! : { kind: "concat", parts };
}

const BINOPS: Record<string, "&" | "|" | "^"> = { "&": "&", "|": "|", "^": "^", and: "&", or: "|", xor: "^" };

function parseMasked(cur: Cursor): Expr {
  let e = parsePrimary(cur);
  for (;;) {
    const t = cur.peek();
    const op = (t.kind === "punct" || t.kind === "word") && Object.prototype.hasOwnProperty.call(BINOPS, t.text) ? BINOPS[t.text]! : undefined;
    if (!op) return e;
    cur.next();
    const types = exprTypes(e);
    if (types.length !== 1 || !["mark", "integer", "ct_state", "ct_status"].includes(types[0]!)) cur.fail(NFT_ERROR.UNSUPPORTED, `podwire models "${t.text}" only on marks`, t);
    e = { kind: "binop", op, left: e, right: Number(parseAtomAt(cur, types[0]!)) };
  }
}

function parsePrimary(cur: Cursor): Expr {
  const t = cur.peek();
  if (t.kind !== "word") return cur.unexpected("an expression");
  const w = t.text;
  if (w === "ip" || w === "ip6" || w === "tcp" || w === "udp" || w === "sctp" || w === "th") {
    cur.next();
    const f = cur.expectWord(undefined, `a ${w} header field`);
    if (!payloadType(w, f.text)) cur.fail(NFT_ERROR.UNSUPPORTED, `podwire does not model "${w} ${f.text}"`, f, "supported: ip saddr|daddr|protocol, ip6 saddr|daddr|nexthdr, tcp|udp|sctp|th sport|dport");
    // A `th` match may be renamed in place (dependency.ts): each gets its own object.
    return w === "th" ? { kind: "payload", proto: w, field: f.text } : shared(`${w} ${f.text}`, () => ({ kind: "payload", proto: w, field: f.text }));
  }
  if (w === "meta") {
    cur.next();
    const k = cur.expectWord(undefined, "a meta key");
    if (!META_KEYS[k.text]) cur.fail(NFT_ERROR.UNSUPPORTED, `podwire does not model "meta ${k.text}"`, k, `supported: ${Object.keys(META_KEYS).join(", ")}`);
    return shared(`meta ${k.text}`, () => ({ kind: "meta", key: k.text }));
  }
  if (BARE_META.has(w)) {
    cur.next();
    return shared(`meta ${w}`, () => ({ kind: "meta", key: w }));
  }
  if (w === "ct") {
    cur.next();
    const k = cur.expectWord(undefined, "a ct key");
    if (k.text === "state" || k.text === "status" || k.text === "mark") return { kind: "ct", key: k.text };
    if (k.text === "original" || k.text === "reply") {
      cur.expectWord("ip");
      const f = cur.expectWord(undefined, "saddr or daddr");
      if (f.text !== "saddr" && f.text !== "daddr") cur.fail(NFT_ERROR.UNSUPPORTED, `podwire does not model "ct ${k.text} ip ${f.text}"`, f);
      return { kind: "ctTuple", dir: k.text, proto: "ip", field: f.text };
    }
    return cur.fail(NFT_ERROR.UNSUPPORTED, `podwire does not model "ct ${k.text}"`, k, "supported: ct state, ct status, ct mark, ct original|reply ip saddr|daddr");
  }
  if (w === "fib") return parseFib(cur);
  if (w === "numgen") {
    cur.next();
    const mode = cur.expectWord(undefined, "random or inc");
    if (mode.text !== "random" && mode.text !== "inc") cur.unexpected("random or inc", mode);
    cur.expectWord("mod");
    const mod = Number(parseAtomAt(cur, "integer"));
    if (mod === 0) cur.fail(NFT_ERROR.BAD_VALUE, "numgen modulus must be above 0", cur.peek(-1 as number));
    let offset = 0;
    if (cur.acceptWord("offset")) offset = Number(parseAtomAt(cur, "integer"));
    return { kind: "numgen", mode: mode.text, mod, offset };
  }
  return cur.fail(NFT_ERROR.UNSUPPORTED, `unknown statement or expression "${w}"`, t, "podwire models the nft expressions kube-proxy and typical node rulesets use");
}

/**
 * Header and meta expressions are the same for every rule that names them, and nothing
 * changes them once parsed: rules share one object each (a ruleset of a million rules holds
 * a handful, not millions).
 */
const SHARED_EXPRS = new Map<string, Expr>();
export function shared(key: string, make: () => Expr): Expr {
  let e = SHARED_EXPRS.get(key);
  if (e === undefined) SHARED_EXPRS.set(key, (e = make()));
  return e;
}

function parseFib(cur: Cursor): Expr {
  cur.next();
  const flags: string[] = [];
  for (;;) {
    const f = cur.expectWord(undefined, "saddr, daddr, mark, iif or oif");
    if (!["saddr", "daddr", "mark", "iif", "oif"].includes(f.text)) cur.unexpected("saddr, daddr, mark, iif or oif", f);
    flags.push(f.text);
    if (!cur.acceptPunct(".")) break;
  }
  const r = cur.expectWord(undefined, "type, oif or oifname");
  if (r.text !== "type" && r.text !== "oif" && r.text !== "oifname") cur.unexpected("type, oif or oifname", r);
  if (!flags.includes("saddr") && !flags.includes("daddr")) cur.fail(NFT_ERROR.SEMANTIC, "fib: need either saddr or daddr", r);
  return { kind: "fib", flags, result: r.text };
}
