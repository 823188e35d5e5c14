/**
 * The regular lines of a kube-proxy transaction read straight from the text, without
 * tokens: `add|flush|delete chain F T NAME`, `add|delete element F T SET { KEY [comment "…"]
 * [: VERDICT] , … }`, and `add rule F T CHAIN` with the statements kube-proxy's per-Service
 * chains use (`ip saddr|daddr [!=] ADDR[/LEN]`, `meta l4proto PROTO`, `jump|goto CHAIN`,
 * `accept|drop|return`, `dnat to ADDR:PORT`, `numgen random mod N vmap { I : goto CHAIN , … }`),
 * one blank between words. They are nearly all the lines of a large sync.
 *
 * A line is read whole before anything is done with it; a line that is anything else, or is
 * spelled any other way (two blanks, a tab, a comment, a value the quick readers do not
 * take), is left to the general reader (script.ts), which reads it as it always has. A line
 * read here makes the same model objects and the same calls to the transaction (ops.ts), in
 * the same order, as the general reader: the accepted language and the errors do not
 * change (test/nftables/fast-line.test.ts loads scripts both ways and compares).
 */
import { dataType, type DataTypeName } from "./datatypes.js";
import { prefixMask } from "./ipv4.js";
import type { ElementData, Expr, Family, KeyPart, SetElement, Stmt, Verdict } from "./model.js";
import type { Ops, TableTx } from "./ops.js";
import { NO_FLAGS, shared, type ParsedRule } from "./parse-rule.js";
import type { Ref } from "./parse-values.js";
import { RESERVED } from "./cursor.js";
import { CLASS, FIRST, NAME, VALUE, type Token } from "./tokenize.js";

// Character classes: the lexer's (a name's first character, a name character, a value character).
const SP = 32;

/** Thrown (and caught in `read`) when a line is not one of the regular forms; nothing has been done with it by then. */
const NOT_REGULAR = new Error("not a regular line");

const PROTOCOLS = dataType("inet_proto").symbols!;
// The header and meta expressions every rule naming them shares (the general reader's objects).
const IP_SADDR = shared("ip saddr", () => ({ kind: "payload", proto: "ip", field: "saddr" }));
const IP_DADDR = shared("ip daddr", () => ({ kind: "payload", proto: "ip", field: "daddr" }));
const META_L4PROTO = shared("meta l4proto", () => ({ kind: "meta", key: "l4proto" }));
const VERDICT_WORDS = ["accept", "drop", "return", "continue"] as const;
let RESERVED_MAX = 0;
for (const w of RESERVED) RESERVED_MAX = Math.max(RESERVED_MAX, w.length);

/** A jump or goto read on a line, as the transaction checks it: its token is made only for an error. */
class LineRef implements Ref {
  readonly kind = "chain";
  constructor(
    readonly name: string,
    /** The verdict naming the chain (it gets the chain's own name string when checked). */
    readonly verdict: { chain: string },
    private readonly line: number,
    private readonly column: number,
  ) {}

  get tok(): Token {
    return { kind: "word", text: this.name, line: this.line, column: this.column };
  }
}

const NO_STARTS: Token[] = [];

/**
 * The keys 0, 1, 2, … of `numgen` verdict maps, shared by every map (keys are never changed
 * once read; an interval key is replaced, not changed, and these are single values).
 */
const SMALL_KEYS: KeyPart[][] = Array.from({ length: 256 }, (_, v) => [{ kind: "value", v }]);

/** The value parts of ports (`dnat to A:PORT`), one per port, shared by every rule and script (made when first read). */
const PORT_PARTS: (KeyPart | undefined)[] = new Array<KeyPart | undefined>(65536);

type JumpStmt = Stmt & { kind: "verdict"; verdict: { kind: "jump"; chain: string } };

export class RegularLines {
  private s = "";
  private i = 0;
  private end = 0;
  private line = 0;
  private lineStart = 0;
  /** The last table and chain names read (most lines name the table, and many the chain, of the line before), and the last rule's jump target. */
  private tableName = "";
  private chainName = "";
  private jumpTarget = "";
  /** What `table` read: the family, and where the table's name starts; and whether `chainRef` found a chain that exists. */
  private family: Family = "ip";
  private tableAt = 0;
  private refKnown = false;
  /** The table of the line being read (rules and elements). */
  private tt: TableTx | null = null;
  /**
   * The last rule's final `jump` statement: rules jumping to the same chain share it (a
   * statement is never changed once read; a million endpoint chains' `jump
   * mark-for-masquerade` are one object, not a million).
   */
  private jumpStmt: JumpStmt | null = null;
  /** `meta l4proto P` matches by protocol number, shared the same way; the last address part. */
  private readonly protoMatch: (Stmt | undefined)[] = [];
  private readonly stmtScratch: Stmt[] = [];
  private lastAddress: (KeyPart & { kind: "value" }) | null = null;

  constructor(private readonly ops: Ops) {}

  /**
   * Reads the command in `s` from `start` to `end` (one line, without its newline) when it is
   * a regular line, applying it, and returns true; returns false, having done nothing, when
   * it is not. `line` is its line number and `lineStart` where that line starts in `s` (for
   * columns). The transaction's errors (a chain that does not exist, …) are thrown as the
   * general reader throws them.
   */
  read(s: string, start: number, end: number, line: number, lineStart: number): boolean {
    if (start >= end) return false;
    this.s = s;
    this.i = start;
    this.end = end;
    this.line = line;
    this.lineStart = lineStart;
    this.tt = null;
    try {
      return this.command();
    } catch (err) {
      if (err === NOT_REGULAR) return false;
      throw err;
    }
  }

  // ---------------------------------------------------------------- scanning
  // Readers consume their word only; `sep` consumes the one blank between words.

  private fail(): never {
    throw NOT_REGULAR;
  }

  /** Is `word` next, as a whole word (a blank or the line's end after it)? Consumes it when it is. */
  private literal(word: string): boolean {
    const i = this.i;
    const j = i + word.length;
    if (j > this.end || !this.s.startsWith(word, i) || (j < this.end && this.s.charCodeAt(j) !== SP)) return false;
    this.i = j;
    return true;
  }

  private expect(word: string): void {
    if (!this.literal(word)) this.fail();
  }

  /** One blank, with more after it. */
  private sep(): void {
    const i = this.i;
    if (i + 1 >= this.end || this.s.charCodeAt(i) !== SP) this.fail();
    this.i = i + 1;
  }

  /** The end of the line (true), or one blank with more after it (consumed; false). */
  private atEnd(): boolean {
    if (this.i === this.end) return true;
    this.sep();
    return false;
  }

  private token(text: string, at: number): Token {
    return { kind: "word", text, line: this.line, column: at - this.lineStart + 1 };
  }

  /** A table, chain or set name (a letter or `_`, then letters, digits and / - _ .; a blank or the line's end after it), not a reserved word. (Readers return what they read; where it started is the position before.) */
  private name(): string {
    const s = this.s;
    const end = this.end;
    const at = this.i;
    const c = s.charCodeAt(at);
    if (at >= end || c >= 128 || !(CLASS[c]! & FIRST)) this.fail();
    let j = at + 1;
    for (; j < end; j++) {
      const d = s.charCodeAt(j);
      if (d >= 128 || !(CLASS[d]! & NAME)) break;
    }
    if (j < end && s.charCodeAt(j) !== SP) this.fail();
    const text = s.slice(at, j);
    // (Reserved words are short lower-case words.)
    if (j - at <= RESERVED_MAX && RESERVED.has(text)) this.fail();
    this.i = j;
    return text;
  }

  /** A name, compared in place with `known` first (most lines repeat the last table or chain name: no new string then). */
  private knownName(known: string): string {
    const at = this.i;
    const j = at + known.length;
    if (known !== "" && j <= this.end && this.s.startsWith(known, at) && (j === this.end || this.s.charCodeAt(j) === SP)) {
      this.i = j;
      return known;
    }
    return this.name();
  }

  /** The end of the value word (letters, digits, dots) at the position. */
  private valueEnd(): number {
    const s = this.s;
    const end = this.end;
    let j = this.i;
    for (; j < end; j++) {
      const d = s.charCodeAt(j);
      if (d >= 128 || !(CLASS[d]! & VALUE)) break;
    }
    return j;
  }

  /** A value word that is a dotted quad (four 1–3 digit octets up to 255, as the quick reader of parse-values.ts takes it). */
  private ipv4(): number {
    const s = this.s;
    const j = this.valueEnd();
    let n = 0;
    let octet = 0;
    let digits = 0;
    let dots = 0;
    for (let k = this.i; k < j; k++) {
      const c = s.charCodeAt(k);
      if (c >= 48 && c <= 57) {
        if (++digits > 3) this.fail();
        octet = octet * 10 + (c - 48);
      } else if (c === 46 && digits > 0 && dots < 3) {
        if (octet > 255) this.fail();
        n = n * 256 + octet;
        octet = 0;
        digits = 0;
        dots++;
      } else this.fail();
    }
    if (dots !== 3 || digits === 0 || octet > 255) this.fail();
    this.i = j;
    return n * 256 + octet;
  }

  /** A value word that is a decimal number of at most 10 digits, up to `max`. */
  private decimal(max: number): number {
    const s = this.s;
    const j = this.valueEnd();
    if (j === this.i || j - this.i > 10) this.fail();
    let n = 0;
    for (let k = this.i; k < j; k++) {
      const c = s.charCodeAt(k);
      if (c < 48 || c > 57) this.fail();
      n = n * 10 + (c - 48);
    }
    if (n > max) this.fail();
    this.i = j;
    return n;
  }

  /** A value word that is a protocol name (`tcp`, `udp`, …). */
  private protocol(): number {
    const j = this.valueEnd();
    const n = j - this.i;
    const s = this.s;
    const i = this.i;
    if (n === 3 && s.startsWith("tcp", i)) {
      this.i = j;
      return 6;
    }
    if (n === 3 && s.startsWith("udp", i)) {
      this.i = j;
      return 17;
    }
    const v = PROTOCOLS.get(s.slice(i, j));
    if (v === undefined) this.fail();
    this.i = j;
    return v;
  }

  // ---------------------------------------------------------------- commands

  private command(): boolean {
    const c = this.s.charCodeAt(this.i);
    if (c === 97 /* a */) {
      if (!this.literal("add")) return false;
      this.sep();
      if (this.literal("rule")) return this.rule();
      if (this.literal("chain")) return this.chain("add");
      if (this.literal("element")) return this.element("add");
      return false;
    }
    if (c === 102 /* f */) {
      if (!this.literal("flush")) return false;
      this.sep();
      return this.literal("chain") && this.chain("flush");
    }
    if (c === 100 /* d */) {
      if (!this.literal("delete")) return false;
      this.sep();
      if (this.literal("chain")) return this.chain("delete");
      if (this.literal("element")) return this.element("delete");
      return false;
    }
    return false;
  }

  /** ` F T ` (the family written out, as tableRef reads it), then the blank before what follows: into `family`, `tableName`, `tableAt`. */
  private table(): void {
    this.sep();
    if (this.literal("ip")) this.family = "ip";
    else if (this.literal("inet")) this.family = "inet";
    else if (this.literal("ip6")) this.family = "ip6";
    else this.fail();
    this.sep();
    this.tableAt = this.i;
    this.tableName = this.knownName(this.tableName);
    this.sep();
  }

  /** The table `table` read, as `ops.table` finds it (its located error made only when there is none). */
  private tableTx(): TableTx {
    return this.ops.findTable(this.family, this.tableName) ?? this.ops.table(this.family, this.tableName, this.token(this.tableName, this.tableAt));
  }

  /** `add|flush|delete chain F T NAME` (no `{ … }`). */
  private chain(op: "add" | "flush" | "delete"): boolean {
    this.table();
    const at = this.i;
    const name = this.knownName(this.chainName);
    if (!this.atEnd()) this.fail();
    // As chainCommand: the table looked up, then the chain added, flushed or deleted.
    const tt = this.tableTx();
    this.chainName = name;
    const tok = this.token(name, at);
    if (op === "add") this.ops.addChain(tt, name, undefined, false, tok);
    else this.ops.chainOp(op, tt, name, tok);
    return true;
  }

  /** `add rule F T CHAIN STATEMENT …` (the statements of `statement`). */
  private rule(): boolean {
    // As ruleCommand: the table looked up, then the chain named.
    this.table();
    const tt = this.tableTx();
    this.tt = tt;
    const chainAt = this.i;
    const chain = this.chainRef(this.chainName);
    const known = this.refKnown;
    this.sep();
    const body = this.i;
    const scratch = this.stmtScratch;
    scratch.length = 0;
    const record = this.ops.recording;
    const starts: Token[] = record ? [] : NO_STARTS;
    const refs: LineRef[] = [];
    let l4 = false;
    do {
      if (record) starts.push(this.token("", this.i));
      const stmt = this.statement(refs, l4);
      if (stmt.kind === "match" && stmt.left === META_L4PROTO) l4 = true;
      scratch.push(stmt);
    } while (!this.atEnd());
    // (An array grown by push keeps room for 16 or more: a million rules' statement lists are made to size.)
    const stmts = scratch.slice();
    const chainName = known ? chain : this.ops.chain(tt, chain, this.token(chain, chainAt)).name;
    this.chainName = chainName;
    const parsed: ParsedRule = { stmts, refs, starts };
    this.ops.addRule(tt, chainName, parsed, this.token("", body), undefined);
    // The target's own name now (checked references take the chain's name string), and the statement, for the next rule.
    const last = stmts[stmts.length - 1]!;
    if (last.kind === "verdict" && last.verdict.kind === "jump" && last !== this.jumpStmt) {
      this.jumpTarget = last.verdict.chain;
      this.jumpStmt = last as JumpStmt;
    }
    return true;
  }

  /**
   * A chain name in a rule: `last` again (compared in place), else one of the chains just
   * added (found in the transaction's recent chains without making a string: `known` then,
   * it exists), else read.
   */
  private chainRef(last: string): string {
    const at = this.i;
    const j = at + last.length;
    this.refKnown = false;
    if (last !== "" && j <= this.end && (j === this.end || this.s.charCodeAt(j) === SP) && this.s.startsWith(last, at)) {
      this.i = j;
      return last;
    }
    const c = this.tt?.recentAt(this.s, at, this.end);
    if (c !== undefined) {
      this.i = at + c.name.length;
      this.refKnown = true;
      return c.name;
    }
    return this.name();
  }

  private ref(name: string, at: number, verdict: { chain: string }): LineRef {
    return new LineRef(name, verdict, this.line, at - this.lineStart + 1);
  }

  private statement(refs: LineRef[], l4: boolean): Stmt {
    if (this.s.charCodeAt(this.i) === 106 /* j */ && this.s.startsWith("jump ", this.i)) {
      // The same target as the rule before (`jump mark-for-masquerade`): its name string, and its statement, again.
      this.i += 5;
      const at = this.i;
      const name = this.chainRef(this.jumpTarget);
      if (name === this.jumpTarget && this.jumpStmt !== null) {
        refs.push(this.ref(name, at, this.jumpStmt.verdict));
        return this.jumpStmt;
      }
      const verdict = { kind: "jump" as const, chain: name };
      refs.push(this.ref(name, at, verdict));
      return { kind: "verdict", verdict };
    }
    const c = this.s.charCodeAt(this.i);
    if (c === 105 /* i */) {
      this.expect("ip");
      this.sep();
      let left: Expr;
      if (this.literal("saddr")) left = IP_SADDR;
      else if (this.literal("daddr")) left = IP_DADDR;
      else return this.fail();
      this.sep();
      let op: "==" | "!=" = "==";
      if (this.literal("!=")) {
        op = "!=";
        this.sep();
      }
      return { kind: "match", left, op, right: [this.ipv4Part()] };
    }
    if (c === 109 /* m */) {
      this.expect("meta");
      this.sep();
      this.expect("l4proto");
      this.sep();
      const v = this.protocol();
      return (this.protoMatch[v] ??= { kind: "match", left: META_L4PROTO, op: "==", right: [{ kind: "value", v }] });
    }
    if (c === 106 /* j */ || c === 103 /* g */) return { kind: "verdict", verdict: this.jump(refs) };
    if (c === 97 /* a */ || c === 99 /* c */ || c === 100 /* d */ || c === 114 /* r */) {
      for (const k of VERDICT_WORDS) if (this.literal(k)) return { kind: "verdict", verdict: { kind: k } };
    }
    if (c === 100 /* d */) {
      this.expect("dnat");
      this.sep();
      this.expect("to");
      this.sep();
      // A port mapping needs a transport protocol match before it (the general reader reports that).
      if (!l4) this.fail();
      const addr = this.addressPart(this.ipv4());
      if (this.s.charCodeAt(this.i) !== 58 /* : */) this.fail();
      this.i++;
      const p = this.decimal(65535);
      const port = (PORT_PARTS[p] ??= { kind: "value", v: p });
      return { kind: "nat", type: "dnat", flags: NO_FLAGS, addr, port };
    }
    if (c === 110 /* n */) return this.numgenVmap(refs);
    return this.fail();
  }

  /** The value part of address `v`: the last one again when it is the same (an endpoint chain's two rules name its address). */
  private addressPart(v: number): KeyPart {
    const last = this.lastAddress;
    if (last !== null && last.v === v) return last;
    return (this.lastAddress = { kind: "value", v });
  }

  /** An address, or `addr/len` (masked, as the general reader stores it; a /32 is the address). */
  private ipv4Part(): KeyPart {
    const v = this.ipv4();
    if (this.s.charCodeAt(this.i) !== 47 /* / */) return this.addressPart(v);
    this.i++;
    const len = this.decimal(32);
    const masked = (v & prefixMask(len)) >>> 0;
    return len === 32 ? { kind: "value", v: masked } : { kind: "prefix", v: masked, len };
  }

  /** `jump|goto NAME` (the reference is checked when the rule or element is applied). */
  private jump(refs: LineRef[]): Verdict {
    let kind: "jump" | "goto";
    if (this.literal("jump")) kind = "jump";
    else if (this.literal("goto")) kind = "goto";
    else return this.fail();
    this.sep();
    const at = this.i;
    const name = this.chainRef(this.jumpTarget);
    const verdict = { kind, chain: name };
    refs.push(this.ref(name, at, verdict));
    return verdict;
  }

  /** `numgen random mod N vmap { I : goto|jump CHAIN , … }`. */
  private numgenVmap(refs: LineRef[]): Stmt {
    this.expect("numgen");
    this.sep();
    this.expect("random");
    this.sep();
    this.expect("mod");
    this.sep();
    const mod = this.decimal(0xffffffff);
    if (mod === 0) this.fail();
    this.sep();
    this.expect("vmap");
    this.sep();
    this.expect("{");
    const elements: SetElement[] = [];
    for (;;) {
      this.sep();
      const v = this.decimal(0xffffffff);
      const el: SetElement = { key: v < SMALL_KEYS.length ? SMALL_KEYS[v]! : [{ kind: "value", v }] };
      this.sep();
      this.expect(":");
      this.sep();
      el.data = { kind: "verdict", verdict: this.jump(refs) };
      elements.push(el);
      this.sep();
      if (this.literal(",")) continue;
      this.expect("}");
      break;
    }
    const left: Expr = { kind: "numgen", mode: "random", mod, offset: 0 };
    return { kind: "vmap", left, map: { kind: "anon", elements } };
  }

  /** `add|delete element F T SET { ELEMENT , … }` of a set whose key parts are addresses, protocols and ports, and whose data (if any) is a verdict. */
  private element(op: "add" | "delete"): boolean {
    this.table();
    const tt = this.tableTx();
    this.tt = tt;
    const set = tt.set(this.name());
    // (No such set: the general reader reports it.)
    if (set === undefined) this.fail();
    const types = set.keyType;
    for (const ty of types) if (ty !== "ipv4_addr" && ty !== "inet_proto" && ty !== "inet_service") this.fail();
    const data = op === "delete" ? undefined : set.dataType;
    if (data !== undefined && !(data.length === 1 && data[0] === "verdict")) this.fail();
    this.sep();
    const listAt = this.i;
    this.expect("{");
    const refs: LineRef[] = [];
    const elements: SetElement[] = [];
    for (;;) {
      this.sep();
      const el: SetElement = { key: this.key(types) };
      this.sep();
      if (this.literal("comment")) {
        this.sep();
        el.comment = this.quoted();
        this.sep();
      }
      if (data !== undefined) {
        this.expect(":");
        this.sep();
        el.data = this.verdictData(refs);
        this.sep();
      }
      elements.push(el);
      if (this.literal(",")) continue;
      this.expect("}");
      if (!this.atEnd()) this.fail();
      break;
    }
    // As elementCommand: the set looked up (above), references checked, then the elements applied.
    this.ops.checkRefs(tt, refs);
    this.ops.elements(op, tt, set.name, elements, { kind: "punct", text: "{", line: this.line, column: listAt - this.lineStart + 1 });
    return true;
  }

  /** A key of `types`, parts joined by ` . `. */
  private key(types: readonly DataTypeName[]): KeyPart[] {
    const parts: KeyPart[] = [];
    for (let k = 0; k < types.length; k++) {
      if (k > 0) {
        this.sep();
        this.expect(".");
        this.sep();
      }
      const ty = types[k]!;
      parts.push({ kind: "value", v: ty === "ipv4_addr" ? this.ipv4() : ty === "inet_proto" ? this.protocol() : this.decimal(65535) });
    }
    // The value must end the word (`10.0.0.1-…`, `80/…` are for the general reader).
    if (this.i < this.end && this.s.charCodeAt(this.i) !== SP) this.fail();
    return parts;
  }

  /** A verdict as map data: `accept|drop|return|continue`, `jump|goto CHAIN`. */
  private verdictData(refs: LineRef[]): ElementData {
    const c = this.s.charCodeAt(this.i);
    if (c === 106 /* j */ || c === 103 /* g */) return { kind: "verdict", verdict: this.jump(refs) };
    for (const k of VERDICT_WORDS) if (this.literal(k)) return { kind: "verdict", verdict: { kind: k } };
    return this.fail();
  }

  /** A double-quoted string on this line (nft strings have no escapes). */
  private quoted(): string {
    const s = this.s;
    if (s.charCodeAt(this.i) !== 34 /* " */) this.fail();
    const close = s.indexOf('"', this.i + 1);
    if (close < 0 || close >= this.end) this.fail();
    const text = s.slice(this.i + 1, close);
    this.i = close + 1;
    // A string is a word of its own: a blank or the line's end after it.
    if (this.i < this.end && s.charCodeAt(this.i) !== SP) this.fail();
    return text;
  }
}
