/**
 * Prints a ruleset byte for byte as `nft list ruleset` (nft 1.0.6) does. Layout found with
 * the real nft: tabs; a table's `flags` then `comment`, a blank line after flags; sets and
 * maps before chains (each in creation order), a blank line between objects; a chain's
 * `comment` before its `type … hook … priority …; policy …;` line; names printed bare
 * (nft 1.0.6 quotes no names and accepts no quoted ones); element lists wrapped as
 * src/expression.c `calculate_delim` does.
 */
import { type DataTypeName, formatAtom } from "./datatypes.js";
import { exprTypes, UNQUALIFIED_META } from "./expr-types.js";
import type { Expr, Family, KeyPart, NftChain, NftRule, NftRuleset, NftSet, NftTable, SetElement, SetRef, Stmt, Verdict } from "./model.js";
import { formatPriority } from "./priority.js";
import { formatTime } from "./time.js";

export function printRuleset(rs: NftRuleset): string {
  return rs.tables.map(printTable).join("");
}

export function printTable(t: NftTable): string {
  let out = `table ${t.family} ${t.name} {\n`;
  let delim = "";
  if (t.flags.length > 0) {
    out += `\tflags ${t.flags.join(",")}\n`;
    delim = "\n";
  }
  if (t.comment !== undefined) out += `\tcomment "${t.comment}"\n`;
  for (const s of t.sets.values()) {
    out += delim + printSet(s);
    delim = "\n";
  }
  for (const c of t.chains.values()) {
    out += delim + printChain(t.family, c);
    delim = "\n";
  }
  return `${out}}\n`;
}

/** Flags as nft prints them: `timeout` is left out when it is the only flag and a default timeout is set. */
function printedFlags(s: NftSet): string[] {
  const order = ["constant", "dynamic", "interval", "timeout"] as const;
  const flags = order.filter((f) => s.flags.includes(f));
  if (flags.length === 1 && flags[0] === "timeout" && s.timeout !== undefined) return [];
  return flags;
}

export function printSet(s: NftSet): string {
  let out = `\t${s.isMap ? "map" : "set"} ${s.name} {\n`;
  out += `\t\ttype ${s.keyType.join(" . ")}${s.dataType ? ` : ${s.dataType.join(" . ")}` : ""}\n`;
  if (s.size !== undefined) out += `\t\tsize ${s.size}\n`;
  const flags = printedFlags(s);
  if (flags.length > 0) out += `\t\tflags ${flags.join(",")}\n`;
  if (s.timeout !== undefined) out += `\t\ttimeout ${formatTime(s.timeout)}\n`;
  if (s.autoMerge) out += "\t\tauto-merge\n";
  if (s.comment !== undefined) out += `\t\tcomment "${s.comment}"\n`;
  if (s.elements.length > 0) out += `\t\telements = ${printElements(s.keyType, s.dataType, s.elements, false)}\n`;
  return `${out}\t}\n`;
}

export function printChain(family: Family, c: NftChain): string {
  let out = `\tchain ${c.name} {\n`;
  if (c.comment !== undefined) out += `\t\tcomment "${c.comment}"\n`;
  if (c.base) out += `\t\ttype ${c.base.type} hook ${c.base.hook} priority ${formatPriority(c.base.priority, c.base.hook)}; policy ${c.base.policy};\n`;
  for (const r of c.rules) out += `\t\t${printRule(family, r)}\n`;
  return `${out}\t}\n`;
}

export function printRule(family: Family, r: NftRule): string {
  const parts = r.stmts.map((s) => printStmt(family, s));
  if (r.comment !== undefined) parts.push(`comment "${r.comment}"`);
  return parts.join(" ");
}

// ---------------------------------------------------------------- values

function printPart(type: DataTypeName, p: KeyPart): string {
  if (p.kind === "value") return formatAtom(type, p.v);
  if (p.kind === "range") return `${formatAtom(type, p.lo)}-${formatAtom(type, p.hi)}`;
  return `${formatAtom(type, p.v)}/${p.len}`;
}

function printKey(types: readonly DataTypeName[], key: readonly KeyPart[]): string {
  return key.map((p, i) => printPart(types[i]!, p)).join(" . ");
}

function printVerdict(v: Verdict): string {
  return "chain" in v ? `${v.kind} ${v.chain}` : v.kind;
}

function printElement(keyTypes: readonly DataTypeName[], dataTypes: readonly DataTypeName[] | undefined, e: SetElement): string {
  let out = printKey(keyTypes, e.key);
  if (e.timeout !== undefined) out += ` timeout ${formatTime(e.timeout)}`;
  if (e.expires !== undefined) out += ` expires ${formatTime(e.expires)}`;
  if (e.comment !== undefined) out += ` comment "${e.comment}"`;
  if (e.data) out += ` : ${e.data.kind === "verdict" ? printVerdict(e.data.verdict) : printKey(dataTypes ?? [], e.data.parts)}`;
  return out;
}

/** How many elements nft prints per line of a named set, by key type (0: one per line). */
function perLine(keyTypes: readonly DataTypeName[]): number {
  if (keyTypes.length !== 1) return 1;
  const t = keyTypes[0]!;
  if (["inet_proto", "inet_service", "mark", "integer", "iface_index", "nf_proto"].includes(t)) return 5;
  if (["ipv4_addr", "ct_state", "ct_status", "pkttype"].includes(t)) return 2;
  return 1;
}

function printElements(keyTypes: readonly DataTypeName[], dataTypes: readonly DataTypeName[] | undefined, els: readonly SetElement[], anonymous: boolean): string {
  const n = anonymous ? Infinity : perLine(keyTypes);
  let out = "{ ";
  els.forEach((e, i) => {
    if (i > 0) out += i % n === 0 ? ",\n\t\t\t     " : ", ";
    out += printElement(keyTypes, dataTypes, e);
  });
  return `${out} }`;
}

// ---------------------------------------------------------------- expressions and statements

export function printExpr(e: Expr): string {
  switch (e.kind) {
    case "payload":
      return `${e.proto} ${e.field}`;
    case "meta":
      return UNQUALIFIED_META.has(e.key) ? e.key : `meta ${e.key}`;
    case "ct":
      return `ct ${e.key}`;
    case "ctTuple":
      return `ct ${e.dir} ${e.proto} ${e.field}`;
    case "fib":
      return `fib ${e.flags.join(" . ")} ${e.result}`;
    case "numgen":
      return `numgen ${e.mode} mod ${e.mod}${e.offset ? ` offset ${e.offset}` : ""}`;
    case "concat":
      return e.parts.map(printExpr).join(" . ");
    case "binop":
      return `${printExpr(e.left)} ${e.op} ${formatAtom(exprTypes(e.left)[0]!, e.right)}`;
  }
}

/** n if `mask` is n ones followed by zeros (a prefix mask), else 0. */
function leadingOnes(mask: number): number {
  const m = mask >>> 0;
  for (let len = 1; len <= 32; len++) if (m === (len === 32 ? 0xffffffff : ((0xffffffff << (32 - len)) >>> 0))) return len;
  return 0;
}

function printSetRef(ref: SetRef, keyTypes: DataTypeName[], dataTypes: DataTypeName[] | undefined): string {
  return ref.kind === "named" ? `@${ref.name}` : printElements(keyTypes, dataTypes, ref.elements, true);
}

export function printStmt(family: Family, s: Stmt): string {
  switch (s.kind) {
    case "match": {
      const types = exprTypes(s.left);
      if (s.left.kind === "fib" && s.left.result === "oif" && s.right[0]?.kind === "value" && typeof s.right[0].v === "number") {
        return `${printExpr(s.left)} ${s.right[0].v ? "exists" : "missing"}`;
      }
      // nft shows `x & mask == v` with a mask of leading ones as a prefix: `meta mark 0xfffffff5/30`.
      if (s.op === "==" && s.left.kind === "binop" && s.left.op === "&" && s.right.length === 1 && s.right[0]!.kind === "value") {
        const len = leadingOnes(s.left.right);
        if (len > 0 && len < 32) return `${printExpr(s.left.left)} ${printPart(types[0]!, s.right[0]!)}/${len}`;
      }
      const showEq = s.op === "==" && (s.left.kind === "binop" || types.length === 1 && ["ct_state", "ct_status"].includes(types[0]!));
      const op = s.op === "implicit" || (s.op === "==" && !showEq) ? "" : `${s.op} `;
      return `${printExpr(s.left)} ${op}${printKey(types, s.right)}`;
    }
    case "lookup":
      return `${printExpr(s.left)} ${s.negate ? "!= " : ""}${printSetRef(s.set, exprTypes(s.left), undefined)}`;
    case "vmap":
      return `${printExpr(s.left)} vmap ${printSetRef(s.map, exprTypes(s.left), ["verdict"])}`;
    case "verdict":
      return printVerdict(s.verdict);
    case "counter":
      return `counter packets ${s.packets} bytes ${s.bytes}`;
    case "set":
      return `${printExpr(s.target)} set ${s.value.kind === "const" ? formatAtom("mark", s.value.v) : printExpr(s.value)}`;
    case "nat": {
      // In an inet table the address family is part of the statement (`dnat ip to`).
      const fam = family === "inet" && s.addr ? ` ${s.family ?? "ip"}` : "";
      const addrType: DataTypeName = s.family === "ip6" ? "ipv6_addr" : "ipv4_addr";
      const addr = s.addr ? printPart(addrType, s.addr) : "";
      const port = s.port ? `:${printPart("inet_service", s.port)}` : "";
      return `${s.type}${fam} to ${addr}${port}${s.flags.length ? ` ${s.flags.join(",")}` : ""}`;
    }
    case "masquerade":
      return `masquerade${s.flags.length ? ` ${s.flags.join(",")}` : ""}`;
    case "reject": {
      const w = s.with;
      if (!w) return "reject";
      if (w.type === "tcp reset") return "reject with tcp reset";
      // The family's default (port-unreachable) is not printed.
      const dflt = family === "inet" ? "icmpx" : family === "ip6" ? "icmpv6" : "icmp";
      if (w.type === dflt && w.code === "port-unreachable") return "reject";
      return `reject with ${w.type} ${w.code}`;
    }
    case "log":
      return s.prefix !== undefined ? `log prefix "${s.prefix}"` : "log";
    case "notrack":
      return "notrack";
    case "dynset":
      return `${s.op} @${s.set} { ${printExpr(s.key)}${s.timeout !== undefined ? ` timeout ${formatTime(s.timeout)}` : ""} }`;
  }
}
