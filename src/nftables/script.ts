/**
 * Reads an nft script and applies it to a ruleset, command by command, as `nft -f` does:
 * the flat transaction lines knftables writes (`add table|chain|set|map|rule|element`,
 * `insert rule`, `create …`, `flush …`, `delete …`) and the nested `table … { … }` blocks
 * `nft list ruleset` prints. The whole script is one transaction: it applies to a copy and
 * the copy is returned only if every command succeeds.
 *
 * Element values are read by the type of their set, so reading and applying interleave.
 * In a nested table block nft declares the block's chains and sets before adding its rules
 * (so a rule may name a set declared below it); flat commands apply in order (a rule
 * cannot jump to a chain added on a later line).
 */
import { NFT_ERROR, type NftLocation } from "./errors.js";
import { Cursor } from "./cursor.js";
import { FAMILIES, cloneRuleset, type Family, type NftChain, type NftRule, type NftRuleset, type NftTable } from "./model.js";
import { parseBaseSpec, parsePolicy, parseSetBody, skipSeparators } from "./parse-decl.js";
import { parseRule, type ParsedRule } from "./parse-rule.js";
import { parseElementList, type Ref } from "./parse-values.js";
import { Ops } from "./ops.js";
import { tokenize } from "./tokenize.js";
import { validateRuleset } from "./validate.js";

/**
 * Applies `text` to a copy of `ruleset` and returns the result; throws a located `PodwireError` on the first error.
 * `ruleLocs`, when given, receives where each rule this script added was written (the
 * rule's first statement; keyed by the rule objects of the returned ruleset).
 */
export function applyNftScript(ruleset: NftRuleset, text: string, file = "<nft>", ruleLocs?: Map<NftRule, NftLocation>): NftRuleset {
  const rs = cloneRuleset(ruleset);
  const cur = new Cursor(tokenize(text, file), file);
  const ops = new Ops(rs, file);
  new ScriptReader(cur, ops).run();
  ops.finish();
  validateRuleset(rs, ops.ruleLocs, file);
  if (ruleLocs) for (const [rule, where] of ops.ruleLocs) ruleLocs.set(rule, where.loc);
  return rs;
}

/** A ruleset from scratch (e.g. `nft list ruleset` output or a knftables transaction). */
export function parseNftRuleset(text: string, file = "<nft>", ruleLocs?: Map<NftRule, NftLocation>): NftRuleset {
  return applyNftScript({ tables: [] }, text, file, ruleLocs);
}

interface TableRef {
  family: Family;
  name: string;
  loc: NftLocation;
}

class ScriptReader {
  constructor(
    private readonly cur: Cursor,
    private readonly ops: Ops,
  ) {}

  run(): void {
    const cur = this.cur;
    for (;;) {
      skipSeparators(cur);
      if (cur.peek().kind === "eof") return;
      this.command();
      if (!cur.atEnd() || cur.isPunct("}")) cur.unexpected("end of line or ;");
    }
  }

  private command(): void {
    const cur = this.cur;
    const verb = cur.peek();
    if (verb.kind !== "word") cur.unexpected("a command");
    if (verb.text === "table") return this.tableCommand("add");
    const op = verb.text;
    if (!["add", "create", "insert", "delete", "flush", "destroy"].includes(op)) {
      if (["define", "include", "list", "replace", "reset", "rename", "monitor", "describe", "export", "import"].includes(op)) cur.fail(NFT_ERROR.UNSUPPORTED, `podwire does not model "${op}"`, verb);
      cur.fail(NFT_ERROR.SYNTAX, `syntax error, unexpected "${op}"`, verb, "commands are add, create, insert, delete, flush, or a `table … { … }` block");
    }
    cur.next();
    const objTok = cur.expectWord(undefined, "table, chain, rule, set, map or element");
    const obj = objTok.text;
    if (op === "flush" && obj === "ruleset") {
      this.ops.flushRuleset();
      return;
    }
    if (op === "insert" && obj !== "rule") cur.unexpected('"rule"', objTok);
    switch (obj) {
      case "table":
        if (op === "add" || op === "create") return this.tableCommand(op, true);
        return this.ops.tableOp(op as "delete" | "flush", this.tableRef());
      case "chain":
        return this.chainCommand(op);
      case "set":
      case "map":
        return this.setCommand(op, obj === "map");
      case "rule":
        return this.ruleCommand(op);
      case "element":
        return this.elementCommand(op);
      default:
        return cur.unexpected("table, chain, rule, set, map or element", objTok);
    }
  }

  private tableRef(): TableRef {
    const cur = this.cur;
    let family: Family = "ip";
    const fam = cur.peek();
    if (fam.kind === "word" && ["arp", "bridge", "netdev"].includes(fam.text)) cur.fail(NFT_ERROR.UNSUPPORTED, `podwire models the ip, ip6 and inet families, not "${fam.text}"`, fam);
    if (fam.kind === "word" && (FAMILIES as readonly string[]).includes(fam.text) && cur.peek(1).kind === "word") {
      family = fam.text as Family;
      cur.next();
    }
    const name = cur.expectName("table");
    return { family, name: name.text, loc: cur.loc(name) };
  }

  /** `table F N { … }` or `add|create table F N [{ … }]` (the `table` word is next when `seenTable` is false). */
  private tableCommand(op: "add" | "create", seenTable = false): void {
    const cur = this.cur;
    if (!seenTable) cur.expectWord("table");
    const ref = this.tableRef();
    const table = this.ops.addTable(ref.family, ref.name, op === "create", ref.loc);
    if (cur.isPunct("{")) this.tableBlock(table);
  }

  private tableBlock(table: NftTable): void {
    const cur = this.cur;
    cur.expectPunct("{");
    const pending: { chain: NftChain; rule: ParsedRule; loc: NftLocation }[] = [];
    const refs: Ref[] = [];
    for (;;) {
      skipSeparators(cur);
      if (cur.acceptPunct("}")) break;
      const w = cur.expectWord(undefined, "chain, set, map, comment or flags");
      if (w.text === "comment") table.comment = cur.expectString("comment").text;
      else if (w.text === "flags") {
        do {
          const f = cur.expectWord(undefined, "dormant");
          if (f.text !== "dormant") cur.fail(NFT_ERROR.SYNTAX, `unknown table flag "${f.text}"`, f, "the only table flag is dormant");
          if (!table.flags.includes("dormant")) table.flags.push("dormant");
        } while (cur.acceptPunct(","));
      } else if (w.text === "chain") {
        const name = cur.expectName("chain");
        const chain = this.ops.addChain(table, name.text, undefined, false, cur.loc(name));
        this.chainBody(chain, pending);
      } else if (w.text === "set" || w.text === "map") {
        const name = cur.expectName(w.text);
        const decl = parseSetBody(cur, w.text === "map", refs);
        this.ops.addSet(table, name.text, w.text === "map", decl, false, cur.loc(name));
      } else cur.fail(NFT_ERROR.UNSUPPORTED, `podwire does not model "${w.text}" in a table`, w, "a table holds chain, set, map, comment and flags");
      if (!cur.atEnd()) cur.unexpected("end of line");
    }
    this.ops.checkRefs(table, refs);
    for (const p of pending) this.ops.addRule(table, p.chain, p.rule, p.loc, undefined);
  }

  /** A nested chain body: `{ [comment] [type … ; policy … ;] rules }`. Rules are collected for after the block's declarations. */
  private chainBody(chain: NftChain, pending: { chain: NftChain; rule: ParsedRule; loc: NftLocation }[]): void {
    const cur = this.cur;
    cur.expectPunct("{");
    for (;;) {
      skipSeparators(cur);
      if (cur.acceptPunct("}")) return;
      if (cur.isWord("type") && cur.isWord(undefined, 1) && cur.isWord("hook", 2)) {
        cur.next();
        this.ops.setBase(chain, parseBaseSpec(cur), cur.loc());
        continue;
      }
      if (cur.isWord("policy") && chain.base) {
        cur.next();
        chain.base.policy = parsePolicy(cur);
        continue;
      }
      if (cur.isWord("comment") && cur.peek(1).kind === "string" && (cur.peek(2).kind === "newline" || cur.isPunct(";", 2))) {
        cur.next();
        chain.comment = cur.next().text;
        continue;
      }
      const loc = cur.loc();
      pending.push({ chain, rule: parseRule(cur), loc });
    }
  }

  private chainCommand(op: string): void {
    const cur = this.cur;
    const ref = this.tableRef();
    const name = cur.expectName("chain");
    const table = this.ops.table(ref.family, ref.name, ref.loc);
    if (op === "delete" || op === "flush" || op === "destroy") return this.ops.chainOp(op, table, name.text, cur.loc(name));
    let base;
    let comment: string | undefined;
    let policy: "accept" | "drop" | undefined;
    if (cur.acceptPunct("{")) {
      for (;;) {
        skipSeparators(cur);
        if (cur.acceptPunct("}")) break;
        const w = cur.expectWord(undefined, "type, policy or comment");
        if (w.text === "type") base = parseBaseSpec(cur);
        else if (w.text === "policy") policy = parsePolicy(cur);
        else if (w.text === "comment") comment = cur.expectString("comment").text;
        else cur.fail(NFT_ERROR.UNSUPPORTED, `unknown chain property "${w.text}"`, w, "podwire models type … hook … priority, policy and comment");
        if (!cur.atEnd()) cur.unexpected("; or }");
      }
    }
    if (policy && !base) cur.fail(NFT_ERROR.SEMANTIC, "a policy needs a base chain (type … hook … priority …)", name);
    if (base && policy) base.policy = policy;
    const chain = this.ops.addChain(table, name.text, base, op === "create", cur.loc(name));
    if (comment !== undefined) chain.comment = comment;
  }

  private setCommand(op: string, isMap: boolean): void {
    const cur = this.cur;
    const ref = this.tableRef();
    const name = cur.expectName(isMap ? "map" : "set");
    const table = this.ops.table(ref.family, ref.name, ref.loc);
    if (op === "delete" || op === "flush" || op === "destroy") return this.ops.setOp(op, table, name.text, isMap, cur.loc(name));
    if (!cur.isPunct("{")) cur.unexpected('"{" and the set\'s type');
    const refs: Ref[] = [];
    const decl = parseSetBody(cur, isMap, refs);
    this.ops.checkRefs(table, refs);
    this.ops.addSet(table, name.text, isMap, decl, op === "create", cur.loc(name));
  }

  private ruleCommand(op: string): void {
    const cur = this.cur;
    const ref = this.tableRef();
    const table = this.ops.table(ref.family, ref.name, ref.loc);
    const chainTok = cur.expectName("chain");
    const chain = this.ops.chain(table, chainTok.text, cur.loc(chainTok));
    if (op === "delete" || op === "destroy") {
      cur.expectWord("handle");
      const h = cur.expectWord(undefined, "a rule handle");
      return this.ops.deleteRule(chain, Number(h.text), cur.loc(h));
    }
    if (op !== "add" && op !== "insert") cur.fail(NFT_ERROR.SYNTAX, `cannot ${op} a rule`, chainTok);
    let position: { kind: "handle" | "index"; n: number; loc: NftLocation } | undefined;
    if (cur.isWord("position") || cur.isWord("handle") || cur.isWord("index")) {
      const kw = cur.next();
      const n = cur.expectWord(undefined, "a number");
      if (!/^[0-9]+$/.test(n.text)) cur.fail(NFT_ERROR.BAD_VALUE, `invalid ${kw.text} "${n.text}"`, n);
      position = { kind: kw.text === "index" ? "index" : "handle", n: Number(n.text), loc: cur.loc(n) };
    }
    const loc = cur.loc();
    const rule = parseRule(cur);
    this.ops.addRule(table, chain, rule, loc, { insert: op === "insert", position });
  }

  private elementCommand(op: string): void {
    const cur = this.cur;
    const ref = this.tableRef();
    const table = this.ops.table(ref.family, ref.name, ref.loc);
    const name = cur.expectName("set");
    const set = this.ops.set(table, name.text, cur.loc(name));
    const refs: Ref[] = [];
    const listTok = cur.peek();
    // `delete element` names keys only, even in a map.
    const elements = parseElementList(cur, set.keyType, op === "delete" || op === "destroy" ? undefined : set.dataType, refs);
    this.ops.checkRefs(table, refs);
    this.ops.elements(op, table, set, elements, cur.loc(listTok));
  }
}

