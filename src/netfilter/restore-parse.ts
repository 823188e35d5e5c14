/**
 * Parses `iptables-restore` input into a `RestoreDocument`: per table, its `:CHAIN` lines
 * and its commands, each with the line it came from. Nothing is applied here (see
 * apply-restore.ts); this layer only checks what one line can show on its own.
 *
 * Accepted lines: `*table`, `:CHAIN POLICY [packets:bytes]`, `COMMIT`, `#` comments, blank
 * lines, and commands `-A/-I/-D/-R/-N/-X/-F/-Z/-P`, optionally prefixed by `[packets:bytes]`
 * as `iptables-save -c` prints them.
 */
import { TABLE_NAMES, type Counters, type Rule, type TableName } from "./model.js";
import { RULES_ERROR, rulesError, type RulesErrorCode } from "./extensions/errors.js";
import { parseRuleWords, type ParsedRule, type RuleParseOptions } from "./extensions/rule-parse.js";
import { tokenizeLine, wordsOf, type Word } from "./restore-tokenize.js";

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

export function parseRestore(text: string, file = "<rules>"): RestoreDocument {
  const tables: RestoreTable[] = [];
  let current: RestoreTable | null = null;
  const lines = text.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const fail = (code: RulesErrorCode, detail: string, line: number, column: number | undefined, hint?: string): never => {
    throw rulesError(code, detail, { file, line, column }, hint);
  };

  lines.forEach((raw, idx) => {
    const lineNo = idx + 1;
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.trim() === "" || line.startsWith("#")) return;
    if (line.startsWith("*")) {
      if (current) fail(RULES_ERROR.MISSING_COMMIT, `table "${current.name}" (line ${current.line}) has no COMMIT before the next table`, lineNo, 1, "end each table with a COMMIT line");
      const name = line.slice(1).trim();
      if (!(TABLE_NAMES as readonly string[]).includes(name)) {
        fail(RULES_ERROR.UNKNOWN_TABLE, `unknown table "${name}"`, lineNo, 2, `podwire models the tables ${TABLE_NAMES.join(", ")}`);
      }
      current = { name: name as TableName, line: lineNo, chainDecls: [], commands: [] };
      return;
    }
    const words = tokenizeLine(line, lineNo, file);
    if (words.length === 0) return;
    if (words[0]!.text === "COMMIT" && !words[0]!.quoted) {
      if (!current) fail(RULES_ERROR.SYNTAX, "COMMIT outside a table", lineNo, words[0]!.column, "start the table with a *table line");
      if (words.length > 1) fail(RULES_ERROR.SYNTAX, `unexpected "${words[1]!.text}" after COMMIT`, lineNo, words[1]!.column);
      tables.push(current!);
      current = null;
      return;
    }
    if (!current) {
      fail(RULES_ERROR.SYNTAX, "line outside a table", lineNo, 1, "start the table with a line such as *filter");
    }
    const table: RestoreTable = current!;
    if (line.startsWith(":")) {
      table.chainDecls.push(parseChainDecl(line, lineNo, fail));
      return;
    }
    table.commands.push(parseCommand(words, lineNo, table.name, file, fail));
  });
  const open = current as RestoreTable | null;
  if (open) {
    fail(RULES_ERROR.MISSING_COMMIT, `table "${open.name}" has no COMMIT`, open.line, 1, "end each table with a COMMIT line (iptables-restore refuses it otherwise)");
  }
  return { tables };
}

type Fail = (code: RulesErrorCode, detail: string, line: number, column: number | undefined, hint?: string) => never;

function parseChainDecl(line: string, lineNo: number, fail: Fail): ChainDecl {
  // `:NAME POLICY [p:b]`, split on blanks like iptables-restore's strtok (no quoting).
  const parts: { text: string; column: number }[] = [];
  const re = /[^ \t]+/g;
  for (let m = re.exec(line.slice(1)); m; m = re.exec(line.slice(1))) parts.push({ text: m[0], column: m.index + 2 });
  const [name, policy, counters, extra] = parts;
  if (!name) return fail(RULES_ERROR.SYNTAX, "chain line without a chain name", lineNo, 2, "write :NAME POLICY [0:0], with - as the policy of user chains");
  if (!policy) return fail(RULES_ERROR.SYNTAX, `chain line for "${name.text}" has no policy`, lineNo, name.column + name.text.length, "write :NAME POLICY [0:0], with - as the policy of user chains");
  if (policy.text !== "ACCEPT" && policy.text !== "DROP" && policy.text !== "-") {
    fail(RULES_ERROR.BAD_POLICY, `invalid policy "${policy.text}" for chain "${name.text}"`, lineNo, policy.column, "use ACCEPT or DROP for built-in chains and - for user chains");
  }
  let ctr: Counters = { packets: 0, bytes: 0 };
  if (counters) {
    const m = COUNTERS_RE.exec(counters.text);
    if (!m) return fail(RULES_ERROR.SYNTAX, `invalid counters "${counters.text}"`, lineNo, counters.column, "write [packets:bytes]");
    ctr = { packets: Number(m[1]), bytes: Number(m[2]) };
  }
  if (extra) fail(RULES_ERROR.SYNTAX, `unexpected "${extra.text}" on a chain line`, lineNo, extra.column);
  return { name: name.text, policy: policy.text === "-" ? null : (policy.text as "ACCEPT" | "DROP"), counters: ctr, line: lineNo, policyColumn: policy.column };
}

function parseCommand(words: Word[], lineNo: number, table: TableName, file: string, fail: Fail): RestoreCommand {
  let counters: Counters | undefined;
  let k = 0;
  const first = words[0]!;
  const cm = first.quoted ? null : COUNTERS_RE.exec(first.text);
  if (cm) {
    counters = { packets: Number(cm[1]), bytes: Number(cm[2]) };
    k = 1;
  }
  const cmdWord = words[k];
  if (!cmdWord) return fail(RULES_ERROR.SYNTAX, "counters without a command", lineNo, first.column);
  const op = cmdWord.quoted ? undefined : COMMANDS[cmdWord.text];
  if (cmdWord.text === "-t" || cmdWord.text === "--table") {
    return fail(RULES_ERROR.SYNTAX, "-t cannot be used in restore input", lineNo, cmdWord.column, "select the table with a *table line");
  }
  if (!op) return fail(RULES_ERROR.SYNTAX, `expected a command (-A, -I, -D, -R, -N, -X, -F, -Z, -P), found "${cmdWord.text}"`, lineNo, cmdWord.column);
  if (op === "rename") return fail(RULES_ERROR.SYNTAX, "-E (rename chain) is not supported", lineNo, cmdWord.column);
  const rest = words.slice(k + 1);
  const takesRule = op === "append" || op === "insert" || op === "replace" || op === "delete";
  if (counters && !takesRule) fail(RULES_ERROR.SYNTAX, `[packets:bytes] cannot prefix ${cmdWord.text}`, lineNo, first.column);

  const chainWord = rest[0];
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
  const chain = chainWord.text;
  const base = { line: lineNo, chainColumn: chainWord.column };
  const after = rest.slice(1);
  const noMore = (from: number): void => {
    if (after[from]) fail(RULES_ERROR.SYNTAX, `unexpected "${after[from]!.text}" after ${cmdWord.text} ${chain}`, lineNo, after[from]!.column);
  };

  switch (op) {
    case "newChain":
    case "deleteChain":
    case "flush":
    case "zero":
      noMore(0);
      return { op, chain, ...base } as RestoreCommand;
    case "policy": {
      const pw = after[0];
      if (!pw) return fail(RULES_ERROR.SYNTAX, `-P ${chain} needs a policy`, lineNo, chainWord.column + chain.length);
      noMore(1);
      return { op, chain, policy: pw.text, policyColumn: pw.column, ...base };
    }
    default:
      break;
  }

  const ruleOpts: RuleParseOptions = { file, line: lineNo, table };
  let index: number | undefined;
  let ruleWords = after;
  const isNum = (w: Word | undefined): boolean => w !== undefined && !w.quoted && /^[0-9]+$/.test(w.text);
  if (op === "insert" || op === "replace" || op === "delete") {
    if (isNum(after[0])) {
      index = Number(after[0]!.text);
      if (index < 1) fail(RULES_ERROR.NO_SUCH_RULE, `invalid rule number "${after[0]!.text}"`, lineNo, after[0]!.column, "rule numbers start at 1");
      ruleWords = after.slice(1);
    } else if (op === "replace") {
      fail(RULES_ERROR.SYNTAX, `-R ${chain} needs a rule number`, lineNo, chainWord.column + chain.length);
    }
  }
  if (op === "delete" && index !== undefined) {
    noMore(1);
    return { op: "deleteNum", chain, index, ...base };
  }
  const parsed: ParsedRule = parseRuleWords(ruleWords, ruleOpts);
  if (counters) parsed.rule.counters = counters;
  const cmd = { chain, rule: parsed.rule, ...base, ...(parsed.targetWord ? { targetColumn: parsed.targetWord.column } : {}) };
  if (op === "append") return { op, ...cmd };
  if (op === "delete") return { op, ...cmd };
  if (op === "insert") return { op, index: index ?? 1, ...cmd };
  return { op: "replace", index: index!, ...cmd };
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
