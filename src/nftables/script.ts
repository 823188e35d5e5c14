/**
 * Reads an nft script and applies it to a ruleset, command by command, as `nft -f` does:
 * the flat transaction lines knftables writes (`add table|chain|set|map|rule|element`,
 * `insert rule`, `create …`, `flush …`, `delete …`) and the nested `table … { … }` blocks
 * `nft list ruleset` prints. The whole script is one transaction: its changes are kept
 * aside (ops.ts) and make a new ruleset only if every command and the final validation
 * succeed; it costs what the script touches, not the size of the ruleset.
 *
 * Element values are read by the type of their set, so reading and applying interleave.
 * In a nested table block nft declares the block's chains and sets before adding its rules
 * (so a rule may name a set declared below it); flat commands apply in order (a rule
 * cannot jump to a chain added on a later line).
 */
import type { NftChanges } from "./changes.js";
import { NFT_ERROR, type NftLocation } from "./errors.js";
import { Cursor } from "./cursor.js";
import { FAMILIES, type Family, type NftRule, type NftRuleset } from "./model.js";
import { parseBaseSpec, parsePolicy, parseSetBody, skipSeparators } from "./parse-decl.js";
import { parseRule, type ParsedRule } from "./parse-rule.js";
import { parseElementList, type Ref } from "./parse-values.js";
import { Ops, type TableTx } from "./ops.js";
import { Lexer, type Token } from "./tokenize.js";
import { RegularLines } from "./fast-line.js";

export interface ApplyNftOptions {
  /** Receives where each rule this script added was written (the rule's first statement; keyed by the rule objects of the returned ruleset). */
  ruleLocs?: Map<NftRule, NftLocation>;
  /** Receives what the script changed (added to what it already holds, so one object can collect several scripts). Unchanged on error. */
  changes?: NftChanges;
  /**
   * The input ruleset is not used again (the caller replaces it with the result): its tables'
   * chain and set maps and its sets' element stores are updated in place, so the script costs
   * what it touches. Without it they are copied for the tables the script touches, and the
   * input stays as it was. Either way an error leaves the input unchanged.
   */
  consume?: boolean;
  /**
   * Read kube-proxy's regular lines without tokens (fast-line.ts; the default). false reads
   * every line with the general reader: the same result, for tests that compare the two.
   */
  regularLines?: boolean;
  /** Receives how many lines were read as regular lines (added to what it holds). */
  stats?: { regularLines: number };
}

/**
 * Applies `text` (one string, or lines each ending with a newline the strings leave out) to
 * `ruleset` as one transaction and returns the result; throws a located `PodwireError` on
 * the first error, leaving `ruleset` as it was. Chains and sets the script did not change
 * are the same objects in the result. The fourth argument may be a `ruleLocs` map (see
 * `ApplyNftOptions`).
 */
export function applyNftScript(ruleset: NftRuleset, text: string | readonly string[], file = "<nft>", options?: Map<NftRule, NftLocation> | ApplyNftOptions): NftRuleset {
  const opts: ApplyNftOptions = options instanceof Map ? { ruleLocs: options } : (options ?? {});
  const consume = opts.consume === true;
  const regular = opts.regularLines !== false;
  const read = (record: boolean): Ops => {
    const ops = new Ops(ruleset, file, { consume, record });
    const lexer = new Lexer(text, file);
    const reader = new ScriptReader(new Cursor(lexer, file), ops, regular ? lexer : null);
    reader.run();
    if (opts.stats) opts.stats.regularLines += reader.regularCount;
    return ops;
  };
  const record = opts.ruleLocs !== undefined;
  let ops = read(record);
  let rs: NftRuleset;
  try {
    rs = ops.commit(opts.changes);
  } catch (err) {
    if (record) throw err;
    // Errors found when committing point at statements: read the script again keeping locations.
    ops = read(true);
    rs = ops.commit(opts.changes);
  }
  if (opts.ruleLocs) for (const [rule, where] of ops.ruleLocs) opts.ruleLocs.set(rule, where.loc);
  return rs;
}

/** A ruleset from scratch (e.g. `nft list ruleset` output or a knftables transaction). */
export function parseNftRuleset(text: string, file = "<nft>", ruleLocs?: Map<NftRule, NftLocation>): NftRuleset {
  return applyNftScript({ tables: [] }, text, file, ruleLocs);
}

interface TableRef {
  family: Family;
  name: string;
  loc: Token;
}

interface PendingRule {
  chain: string;
  rule: ParsedRule;
  start: Token;
}

class ScriptReader {
  private readonly regular: RegularLines | null;
  /** Lines read as regular lines. */
  regularCount = 0;

  constructor(
    private readonly cur: Cursor,
    private readonly ops: Ops,
    /** The lexer under `cur`, to read regular lines from directly (null: every line through the cursor). */
    private readonly lexer: Lexer | null,
  ) {
    this.regular = lexer ? new RegularLines(ops) : null;
  }

  /** Reads the lines ahead that are regular (fast-line.ts) while nothing of them has been tokenized. */
  private regularLines(): void {
    const lexer = this.lexer!;
    const regular = this.regular!;
    while (this.cur.drained()) {
      const ahead = lexer.lineAhead();
      if (ahead === null || !regular.read(ahead.s, ahead.start, ahead.end, ahead.line, ahead.lineStart)) return;
      lexer.skipLine(ahead.end);
      this.regularCount++;
    }
  }

  run(): void {
    const cur = this.cur;
    for (;;) {
      // Separators one at a time: after each newline the next line may be a regular one.
      for (;;) {
        if (this.regular !== null) this.regularLines();
        const t = cur.peek();
        if (t.kind !== "newline" && !(t.kind === "punct" && t.text === ";")) break;
        cur.next();
      }
      if (cur.peek().kind === "eof") return;
      this.command();
      if (!cur.atEnd() || cur.isPunct("}")) cur.unexpected("end of line or ;");
      cur.release();
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
    return { family, name: name.text, loc: name };
  }

  /** `table F N { … }` or `add|create table F N [{ … }]` (the `table` word is next when `seenTable` is false). */
  private tableCommand(op: "add" | "create", seenTable = false): void {
    const cur = this.cur;
    if (!seenTable) cur.expectWord("table");
    const ref = this.tableRef();
    const table = this.ops.addTable(ref.family, ref.name, op === "create", ref.loc);
    if (cur.isPunct("{")) this.tableBlock(table);
  }

  private tableBlock(table: TableTx): void {
    const cur = this.cur;
    cur.expectPunct("{");
    const pending: PendingRule[] = [];
    const refs: Ref[] = [];
    for (;;) {
      skipSeparators(cur);
      if (cur.acceptPunct("}")) break;
      const w = cur.expectWord(undefined, "chain, set, map, comment or flags");
      if (w.text === "comment") this.ops.setTableComment(table, cur.expectString("comment").text);
      else if (w.text === "flags") {
        do {
          const f = cur.expectWord(undefined, "dormant");
          if (f.text !== "dormant") cur.fail(NFT_ERROR.SYNTAX, `unknown table flag "${f.text}"`, f, "the only table flag is dormant");
          this.ops.addTableFlag(table, "dormant");
        } while (cur.acceptPunct(","));
      } else if (w.text === "chain") {
        const name = cur.expectName("chain");
        this.ops.addChain(table, name.text, undefined, false, name);
        this.chainBody(table, name.text, pending);
      } else if (w.text === "set" || w.text === "map") {
        const name = cur.expectName(w.text);
        const decl = parseSetBody(cur, w.text === "map", refs);
        this.ops.addSet(table, name.text, w.text === "map", decl, false, name);
      } else cur.fail(NFT_ERROR.UNSUPPORTED, `podwire does not model "${w.text}" in a table`, w, "a table holds chain, set, map, comment and flags");
      if (!cur.atEnd()) cur.unexpected("end of line");
    }
    this.ops.checkRefs(table, refs);
    for (const p of pending) this.ops.addRule(table, p.chain, p.rule, p.start, undefined);
  }

  /** A nested chain body: `{ [comment] [type … ; policy … ;] rules }`. Rules are collected for after the block's declarations. */
  private chainBody(table: TableTx, chain: string, pending: PendingRule[]): void {
    const cur = this.cur;
    cur.expectPunct("{");
    for (;;) {
      skipSeparators(cur);
      if (cur.acceptPunct("}")) return;
      if (cur.isWord("type") && cur.isWord(undefined, 1) && cur.isWord("hook", 2)) {
        cur.next();
        const spec = parseBaseSpec(cur);
        this.ops.setBase(table, chain, spec, cur.peek());
        continue;
      }
      if (cur.isWord("policy") && table.chain(chain)!.base) {
        cur.next();
        this.ops.setPolicy(table, chain, parsePolicy(cur));
        continue;
      }
      if (cur.isWord("comment") && cur.peek(1).kind === "string" && (cur.peek(2).kind === "newline" || cur.isPunct(";", 2))) {
        cur.next();
        this.ops.setChainComment(table, chain, cur.next().text);
        continue;
      }
      const start = cur.peek();
      pending.push({ chain, rule: parseRule(cur), start });
    }
  }

  private chainCommand(op: string): void {
    const cur = this.cur;
    const ref = this.tableRef();
    const name = cur.expectName("chain");
    const table = this.ops.table(ref.family, ref.name, ref.loc);
    if (op === "delete" || op === "flush" || op === "destroy") return this.ops.chainOp(op, table, name.text, name);
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
    this.ops.addChain(table, name.text, base, op === "create", name);
    if (comment !== undefined) this.ops.setChainComment(table, name.text, comment);
  }

  private setCommand(op: string, isMap: boolean): void {
    const cur = this.cur;
    const ref = this.tableRef();
    const name = cur.expectName(isMap ? "map" : "set");
    const table = this.ops.table(ref.family, ref.name, ref.loc);
    if (op === "delete" || op === "flush" || op === "destroy") return this.ops.setOp(op, table, name.text, isMap, name);
    if (!cur.isPunct("{")) cur.unexpected('"{" and the set\'s type');
    const refs: Ref[] = [];
    const decl = parseSetBody(cur, isMap, refs);
    this.ops.checkRefs(table, refs);
    this.ops.addSet(table, name.text, isMap, decl, op === "create", name);
  }

  private ruleCommand(op: string): void {
    const cur = this.cur;
    const ref = this.tableRef();
    const table = this.ops.table(ref.family, ref.name, ref.loc);
    const chainTok = cur.expectName("chain");
    const chain = this.ops.chain(table, chainTok.text, chainTok).name;
    if (op === "delete" || op === "destroy") {
      cur.expectWord("handle");
      const h = cur.expectWord(undefined, "a rule handle");
      return this.ops.deleteRule(table, chain, Number(h.text), h);
    }
    if (op !== "add" && op !== "insert") cur.fail(NFT_ERROR.SYNTAX, `cannot ${op} a rule`, chainTok);
    let position: { kind: "handle" | "index"; n: number; loc: Token } | undefined;
    if (cur.isWord("position") || cur.isWord("handle") || cur.isWord("index")) {
      const kw = cur.next();
      const n = cur.expectWord(undefined, "a number");
      if (!/^[0-9]+$/.test(n.text)) cur.fail(NFT_ERROR.BAD_VALUE, `invalid ${kw.text} "${n.text}"`, n);
      position = { kind: kw.text === "index" ? "index" : "handle", n: Number(n.text), loc: n };
    }
    const start = cur.peek();
    const rule = parseRule(cur);
    this.ops.addRule(table, chain, rule, start, op === "insert" || position ? { insert: op === "insert", position } : undefined);
  }

  private elementCommand(op: string): void {
    const cur = this.cur;
    const ref = this.tableRef();
    const table = this.ops.table(ref.family, ref.name, ref.loc);
    const name = cur.expectName("set");
    const set = this.ops.set(table, name.text, name);
    const refs: Ref[] = [];
    const listTok = cur.peek();
    // `delete element` names keys only, even in a map.
    const elements = parseElementList(cur, set.keyType, op === "delete" || op === "destroy" ? undefined : set.dataType, refs);
    this.ops.checkRefs(table, refs);
    this.ops.elements(op, table, name.text, elements, listTok);
  }
}

