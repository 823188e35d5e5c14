/**
 * Parses `iptables-restore` input into a `RestoreDocument`: per table, its `:CHAIN` lines
 * and its commands, each with the line it came from. Nothing is applied here (see
 * apply-restore.ts); this layer only checks what one line can show on its own.
 *
 * Accepted lines: `*table`, `:CHAIN POLICY [packets:bytes]`, `COMMIT`, `#` comments, blank
 * lines, and commands `-A/-I/-D/-R/-N/-X/-F/-Z/-P`, optionally prefixed by `[packets:bytes]`
 * as `iptables-save -c` prints them.
 */
import { TABLE_NAMES, type Counters, type Rule, type TableName, type TargetSpec } from "./model.js";
import { RULES_ERROR, rulesError, type RulesErrorCode } from "./extensions/errors.js";
import { parseRuleWords, type ParsedRule, type RuleParseOptions } from "./extensions/rule-parse.js";
import { ownText, tokenizeInto, tokenizeLine, wordsOf, type Word } from "./restore-tokenize.js";

export type { Word } from "./restore-tokenize.js";
export { tokenizeLine } from "./restore-tokenize.js";
export { RULES_ERROR, type RulesErrorCode } from "./extensions/errors.js";

export interface ChainDecl {
  name: string;
  /** `-` (no change / user chain) is null. */
  policy: "ACCEPT" | "DROP" | null;
  counters: Counters;
  line: number;
  /** Column of the policy word, for policy errors. */
  policyColumn: number;
}

interface CommandBase {
  line: number;
  /** Column of the chain word (or of the command word when there is no chain). */
  chainColumn: number;
}

/** A rule-carrying command; `targetColumn` points at the `-j`/`-g` chain name, if any. */
interface RuleCommandBase extends CommandBase {
  chain: string;
  rule: Rule;
  targetColumn?: number;
}

export type RestoreCommand =
  | ({ op: "append" } & RuleCommandBase)
  | ({ op: "insert"; index: number } & RuleCommandBase)
  | ({ op: "delete" } & RuleCommandBase)
  | ({ op: "deleteNum"; chain: string; index: number } & CommandBase)
  | ({ op: "replace"; index: number } & RuleCommandBase)
  | ({ op: "newChain"; chain: string } & CommandBase)
  | ({ op: "deleteChain"; chain: string | null } & CommandBase)
  | ({ op: "flush"; chain: string | null } & CommandBase)
  | ({ op: "zero"; chain: string | null } & CommandBase)
  | ({ op: "policy"; chain: string; policy: string; policyColumn: number } & CommandBase);

export interface RestoreTable {
  name: TableName;
  line: number;
  chainDecls: ChainDecl[];
  commands: RestoreCommand[];
}

export interface RestoreDocument {
  tables: RestoreTable[];
}

const COMMANDS: Readonly<Record<string, RestoreCommand["op"] | "rename">> = {
  "-A": "append", "--append": "append",
  "-I": "insert", "--insert": "insert",
  "-D": "delete", "--delete": "delete",
  "-R": "replace", "--replace": "replace",
  "-N": "newChain", "--new-chain": "newChain", "--new": "newChain",
  "-X": "deleteChain", "--delete-chain": "deleteChain",
  "-F": "flush", "--flush": "flush",
  "-Z": "zero", "--zero": "zero",
  "-P": "policy", "--policy": "policy",
  "-E": "rename", "--rename-chain": "rename",
};

const COUNTERS_RE = /^\[([0-9]+):([0-9]+)\]$/;

/**
 * The chain names of one table section, so every mention of a chain (`-A NAME`, `-j NAME`)
 * becomes the one string of its declaration: the model keeps one copy of each name, and
 * later lookups by name compare pointers. Restore files name chains in nearly the order
 * they declared them, so the previous name and the one declared after it are tried before
 * the map.
 */
class ChainNames {
  private readonly order: string[] = [];
  /** The jump and goto target of each declared chain, shared by every rule that names it. */
  private readonly jumps: (TargetSpec | undefined)[] = [];
  private readonly gotos: (TargetSpec | undefined)[] = [];
  private readonly index = new Map<string, number>();
  private lastA = -1;
  private lastJ = -1;

  declare(name: string): string {
    const known = this.index.get(name);
    if (known !== undefined) return this.order[known]!;
    const own = ownText(name);
    this.index.set(own, this.order.length);
    this.order.push(own);
    return own;
  }

  /** The declared string for `name` (or an own copy when it was not declared here); `jump`: a jump target, else an `-A` chain. */
  canonical(name: string, jump: boolean): string {
    const at = this.find(name, jump);
    return at < 0 ? ownText(name) : this.order[at]!;
  }

  /** The jump (or goto) target naming `name`: one object per declared chain. */
  target(name: string, kind: "jump" | "goto"): TargetSpec {
    const at = this.find(name, true);
    if (at < 0) return { kind, chain: ownText(name) };
    const list = kind === "jump" ? this.jumps : this.gotos;
    return (list[at] ??= { kind, chain: this.order[at]! });
  }

  private find(name: string, jump: boolean): number {
    const last = jump ? this.lastJ : this.lastA;
    let at = -1;
    if (last >= 0 && this.order[last] === name) at = last;
    else if (last + 1 < this.order.length && this.order[last + 1] === name) at = last + 1;
    else at = this.index.get(name) ?? -1;
    if (at >= 0) {
      if (jump) this.lastJ = at;
      else this.lastA = at;
    }
    return at;
  }
}

/** What a streaming parse hands out, in line order (see `parseRestoreInto`). */
export interface RestoreSink {
  /** A `*table` line. */
  table(name: TableName, line: number): void;
  decl(decl: ChainDecl): void;
  command(cmd: RestoreCommand): void;
  /** The table's COMMIT line. */
  commit(): void;
}

export function parseRestore(text: string, file = "<rules>"): RestoreDocument {
  const tables: RestoreTable[] = [];
  let current: RestoreTable | null = null;
  parseRestoreInto(text, file, {
    table: (name, line) => {
      current = { name, line, chainDecls: [], commands: [] };
    },
    decl: (d) => current!.chainDecls.push(d),
    command: (c) => current!.commands.push(c),
    commit: () => {
      tables.push(current!);
      current = null;
    },
  });
  return { tables };
}

/**
 * Parses restore text line by line into `sink`, so a large restore can be applied without
 * first holding every command of it (apply-restore.ts `restoreText`). Throws at the first
 * line it cannot parse; what the sink saw until then is the caller's to discard.
 */
export function parseRestoreInto(text: string, file: string, sink: RestoreSink): void {
  let current: { name: TableName; line: number } | null = null;
  let names = new ChainNames();
  const words: Word[] = [];
  const fail = (code: RulesErrorCode, detail: string, line: number, column: number | undefined, hint?: string): never => {
    throw rulesError(code, detail, { file, line, column }, hint);
  };
  let lineNo = 0;
  for (let at = 0; at < text.length; ) {
    let nl = text.indexOf("\n", at);
    if (nl < 0) nl = text.length;
    lineNo++;
    const line = text.charCodeAt(nl - 1) === 13 && nl > at ? text.slice(at, nl - 1) : text.slice(at, nl);
    at = nl + 1;
    const first = line.charCodeAt(0);
    if (first === 35 /* # */ || line.length === 0 || ((first <= 32 || first > 127) && line.trim() === "")) continue;
    if (first === 42 /* * */) {
      if (current) fail(RULES_ERROR.MISSING_COMMIT, `table "${current.name}" (line ${current.line}) has no COMMIT before the next table`, lineNo, 1, "end each table with a COMMIT line");
      const name = line.slice(1).trim();
      if (!(TABLE_NAMES as readonly string[]).includes(name)) {
        fail(RULES_ERROR.UNKNOWN_TABLE, `unknown table "${name}"`, lineNo, 2, `podwire models the tables ${TABLE_NAMES.join(", ")}`);
      }
      current = { name: name as TableName, line: lineNo };
      names = new ChainNames();
      sink.table(current.name, lineNo);
      continue;
    }
    const n = tokenizeInto(line, words, lineNo, file);
    if (n === 0) continue;
    if (words[0]!.text === "COMMIT" && !words[0]!.quoted) {
      if (!current) fail(RULES_ERROR.SYNTAX, "COMMIT outside a table", lineNo, words[0]!.column, "start the table with a *table line");
      if (n > 1) fail(RULES_ERROR.SYNTAX, `unexpected "${words[1]!.text}" after COMMIT`, lineNo, words[1]!.column);
      sink.commit();
      current = null;
      continue;
    }
    if (!current) {
      fail(RULES_ERROR.SYNTAX, "line outside a table", lineNo, 1, "start the table with a line such as *filter");
    }
    const tableName = current!.name;
    if (first === 58 /* : */) {
      const decl = parseChainDecl(line, lineNo, fail);
      decl.name = names.declare(decl.name);
      sink.decl(decl);
      continue;
    }
    sink.command(parseCommand(words, n, lineNo, tableName, file, fail, names));
  }
  const open = current as { name: TableName; line: number } | null;
  if (open) {
    fail(RULES_ERROR.MISSING_COMMIT, `table "${open.name}" has no COMMIT`, open.line, 1, "end each table with a COMMIT line (iptables-restore refuses it otherwise)");
  }
}

type Fail = (code: RulesErrorCode, detail: string, line: number, column: number | undefined, hint?: string) => never;

function parseChainDecl(line: string, lineNo: number, fail: Fail): ChainDecl {
  // `:NAME POLICY [p:b]`, split on blanks like iptables-restore's strtok (no quoting).
  const parts: { text: string; column: number }[] = [];
  const re = /[^ \t]+/g;
  const body = line.slice(1);
  for (let m = re.exec(body); m; m = re.exec(body)) parts.push({ text: m[0], column: m.index + 2 });
  const [name, policy, counters, extra] = parts;
  if (!name) return fail(RULES_ERROR.SYNTAX, "chain line without a chain name", lineNo, 2, "write :NAME POLICY [0:0], with - as the policy of user chains");
  if (!policy) return fail(RULES_ERROR.SYNTAX, `chain line for "${name.text}" has no policy`, lineNo, name.column + name.text.length, "write :NAME POLICY [0:0], with - as the policy of user chains");
  if (policy.text !== "ACCEPT" && policy.text !== "DROP" && policy.text !== "-") {
    fail(RULES_ERROR.BAD_POLICY, `invalid policy "${policy.text}" for chain "${name.text}"`, lineNo, policy.column, "use ACCEPT or DROP for built-in chains and - for user chains");
  }
  let ctr: Counters = { packets: 0, bytes: 0 };
  if (counters && counters.text !== "[0:0]") {
    const m = COUNTERS_RE.exec(counters.text);
    if (!m) return fail(RULES_ERROR.SYNTAX, `invalid counters "${counters.text}"`, lineNo, counters.column, "write [packets:bytes]");
    ctr = { packets: Number(m[1]), bytes: Number(m[2]) };
  }
  if (extra) fail(RULES_ERROR.SYNTAX, `unexpected "${extra.text}" on a chain line`, lineNo, extra.column);
  return { name: name.text, policy: policy.text === "-" ? null : (policy.text as "ACCEPT" | "DROP"), counters: ctr, line: lineNo, policyColumn: policy.column };
}

function isNumber(w: Word | undefined): boolean {
  if (w === undefined || w.quoted || w.text.length === 0) return false;
  for (let i = 0; i < w.text.length; i++) {
    const c = w.text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Parses the command in `words[0…n)`. */
function parseCommand(words: Word[], n: number, lineNo: number, table: TableName, file: string, fail: Fail, names: ChainNames): RestoreCommand {
  let counters: Counters | undefined;
  let k = 0;
  const first = words[0]!;
  const cm = first.quoted || first.text.charCodeAt(0) !== 91 /* [ */ ? null : COUNTERS_RE.exec(first.text);
  if (cm) {
    counters = { packets: Number(cm[1]), bytes: Number(cm[2]) };
    k = 1;
  }
  const cmdWord = k < n ? words[k] : undefined;
  if (!cmdWord) return fail(RULES_ERROR.SYNTAX, "counters without a command", lineNo, first.column);
  const op = cmdWord.quoted ? undefined : COMMANDS[cmdWord.text];
  if (cmdWord.text === "-t" || cmdWord.text === "--table") {
    return fail(RULES_ERROR.SYNTAX, "-t cannot be used in restore input", lineNo, cmdWord.column, "select the table with a *table line");
  }
  if (!op) return fail(RULES_ERROR.SYNTAX, `expected a command (-A, -I, -D, -R, -N, -X, -F, -Z, -P), found "${cmdWord.text}"`, lineNo, cmdWord.column);
  if (op === "rename") return fail(RULES_ERROR.SYNTAX, "-E (rename chain) is not supported", lineNo, cmdWord.column);
  const takesRule = op === "append" || op === "insert" || op === "replace" || op === "delete";
  if (counters && !takesRule) fail(RULES_ERROR.SYNTAX, `[packets:bytes] cannot prefix ${cmdWord.text}`, lineNo, first.column);

  // words[rest] is the chain word, words[after…n) what follows it.
  const rest = k + 1;
  const chainWord = rest < n ? words[rest] : undefined;
  const optionalChain = op === "deleteChain" || op === "flush" || op === "zero";
  if (!chainWord || (optionalChain && chainWord.text.startsWith("-") && !chainWord.quoted)) {
    if (optionalChain) {
      if (chainWord) fail(RULES_ERROR.SYNTAX, `unexpected "${chainWord.text}" after ${cmdWord.text}`, lineNo, chainWord.column);
      return { op, chain: null, line: lineNo, chainColumn: cmdWord.column } as RestoreCommand;
    }
    return fail(RULES_ERROR.SYNTAX, `${cmdWord.text} needs a chain name`, lineNo, cmdWord.column + cmdWord.text.length);
  }
  if (chainWord.text === "" || chainWord.text.startsWith("-") || chainWord.text === "!") {
    fail(RULES_ERROR.SYNTAX, `invalid chain name "${chainWord.text}"`, lineNo, chainWord.column);
  }
  const chain = names.canonical(chainWord.text, false);
  const base = { line: lineNo, chainColumn: chainWord.column };
  const after = rest + 1;
  const noMore = (from: number): void => {
    const w = after + from < n ? words[after + from] : undefined;
    if (w) fail(RULES_ERROR.SYNTAX, `unexpected "${w.text}" after ${cmdWord.text} ${chain}`, lineNo, w.column);
  };

  switch (op) {
    case "newChain":
    case "deleteChain":
    case "flush":
    case "zero":
      noMore(0);
      return { op, chain, ...base } as RestoreCommand;
    case "policy": {
      const pw = after < n ? words[after] : undefined;
      if (!pw) return fail(RULES_ERROR.SYNTAX, `-P ${chain} needs a policy`, lineNo, chainWord.column + chain.length);
      noMore(1);
      return { op, chain, policy: pw.text, policyColumn: pw.column, ...base };
    }
    default:
      break;
  }

  const ruleOpts: RuleParseOptions = { file, line: lineNo, table };
  let index: number | undefined;
  let ruleFrom = after;
  const next = after < n ? words[after] : undefined;
  if (op === "insert" || op === "replace" || op === "delete") {
    if (isNumber(next)) {
      index = Number(next!.text);
      if (index < 1) fail(RULES_ERROR.NO_SUCH_RULE, `invalid rule number "${next!.text}"`, lineNo, next!.column, "rule numbers start at 1");
      ruleFrom = after + 1;
    } else if (op === "replace") {
      fail(RULES_ERROR.SYNTAX, `-R ${chain} needs a rule number`, lineNo, chainWord.column + chain.length);
    }
  }
  if (op === "delete" && index !== undefined) {
    noMore(1);
    return { op: "deleteNum", chain, index, ...base };
  }
  const parsed: ParsedRule = parseRuleWords(words, ruleOpts, ruleFrom, n);
  const rule = parsed.rule;
  if (counters) rule.counters = counters;
  const t = rule.target;
  if (t.kind === "jump" || t.kind === "goto") rule.target = names.target(t.chain, t.kind);
  const targetColumn = parsed.targetWord?.column;
  let cmd: RestoreCommand;
  if (op === "append" || op === "delete") cmd = { op, chain, rule, line: lineNo, chainColumn: chainWord.column };
  else if (op === "insert") cmd = { op, index: index ?? 1, chain, rule, line: lineNo, chainColumn: chainWord.column };
  else cmd = { op: "replace", index: index!, chain, rule, line: lineNo, chainColumn: chainWord.column };
  if (targetColumn !== undefined) (cmd as { targetColumn?: number }).targetColumn = targetColumn;
  return cmd;
}

/**
 * Parses one rule given as words (what follows `-A CHAIN`) or as a line of text. Used by
 * trace tools and tests; `table` enables the table checks of targets such as DNAT.
 */
export function parseRule(words: readonly (Word | string)[] | string, opts: RuleParseOptions = {}): Rule {
  let ws: Word[];
  if (typeof words === "string") ws = tokenizeLine(words, opts.line, opts.file);
  else if (words.every((w) => typeof w === "string")) ws = wordsOf(words as string[]);
  else ws = words.map((w) => (typeof w === "string" ? { text: w, column: 0, quoted: false } : w));
  return parseRuleWords(ws, opts).rule;
}

export type { RuleParseOptions } from "./extensions/rule-parse.js";
