/**
 * Parses `ipset restore` input. Accepted, as ipset 7.x accepts it: blank lines, lines
 * starting with `#`, a bare `COMMIT` (ignored), and the commands create, add, del, flush,
 * destroy, rename and swap under their long, one-letter and `-X` names. `-exist` / `-!`
 * inside a line are accepted and, as in real `ipset restore`, have no effect: only the
 * restore-wide flag counts. Create options are checked here against the type; whether an
 * entry fits its set is only known when the file is applied.
 */
import { PodwireError } from "../../base/errors.js";
import { makeHeader } from "./header.js";
import type { IpsetCreateOptions, IpsetEntryOptions } from "./model.js";
import { MAX_TIMEOUT, parseUint, U32_MAX } from "./numbers.js";
import type { Columns, IpsetCommand, IpsetRestoreDoc } from "./restore-doc.js";
import { tokenize, type Token } from "./restore-tokens.js";
import { typeSpec } from "./types/index.js";

const OPS: ReadonlyMap<string, IpsetCommand["op"]> = new Map([
  ...(["create", "n", "-N"].map((k) => [k, "create"]) as [string, "create"][]),
  ...(["add", "a", "-A"].map((k) => [k, "add"]) as [string, "add"][]),
  ...(["del", "d", "-D"].map((k) => [k, "del"]) as [string, "del"][]),
  ...(["flush", "f", "-F"].map((k) => [k, "flush"]) as [string, "flush"][]),
  ...(["destroy", "x", "-X"].map((k) => [k, "destroy"]) as [string, "destroy"][]),
  ...(["rename", "e", "-E"].map((k) => [k, "rename"]) as [string, "rename"][]),
  ...(["swap", "w", "-W"].map((k) => [k, "swap"]) as [string, "swap"][]),
]);

const NOT_IN_RESTORE = new Set(["list", "l", "-L", "save", "s", "-S", "restore", "r", "-R", "help", "version", "-V", "test", "t", "-T"]);

const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

class LineParser {
  private at = 0;
  readonly columns: Columns = {};

  constructor(
    private readonly tokens: Token[],
    private readonly file: string,
    private readonly line: number,
    private readonly endColumn: number,
  ) {}

  fail(code: string, detail: string, column: number, hint: string): never {
    throw new PodwireError(code, detail, { file: this.file, line: this.line, column }, hint);
  }

  more(): boolean {
    return this.at < this.tokens.length;
  }

  next(what: string, field: string): Token {
    const t = this.tokens[this.at++];
    if (t === undefined) this.fail("E_IPSET_SYNTAX", `missing ${what}`, this.endColumn, `write the ${what} here`);
    this.columns[field] = t.column;
    return t;
  }

  value(option: string): Token {
    return this.next(`value of ${option}`, `${option}:value`);
  }

  number(option: string, max: number): number {
    const t = this.value(option);
    const n = parseUint(t.text, max);
    if (n < 0) this.fail("E_IPSET_VALUE", `${option} ${JSON.stringify(t.text)} is not a number from 0 to ${max}`, t.column, `give ${option} a whole number`);
    return n;
  }

  option(seen: Set<string>): Token {
    const t = this.tokens[this.at++]!;
    if (seen.has(t.text)) this.fail("E_IPSET_OPTION", `option ${t.text} given twice`, t.column, "give each option once");
    seen.add(t.text);
    this.columns[t.text] = t.column;
    return t;
  }
}

function parseCreate(p: LineParser, line: number): IpsetCommand {
  const name = p.next("set name", "name").text;
  const typeTok = p.next("set type", "type");
  const spec = typeSpec(typeTok.text);
  if (spec === undefined) {
    p.fail("E_IPSET_TYPE", `set type ${JSON.stringify(typeTok.text)} is not known`, typeTok.column, "podwire emulates hash:ip, hash:ip,port, hash:ip,port,ip, hash:ip,port,net, hash:net and bitmap:port");
  }
  const o: IpsetCreateOptions = {};
  const seen = new Set<string>();
  while (p.more()) {
    const t = p.option(seen);
    switch (t.text) {
      case "family":
        o.family = p.value("family").text;
        break;
      case "hashsize":
      case "maxelem":
      case "initval":
        o[t.text] = p.number(t.text, U32_MAX);
        break;
      case "bucketsize":
        o.bucketsize = p.number("bucketsize", 255);
        break;
      case "timeout":
        o.timeout = p.number("timeout", MAX_TIMEOUT);
        break;
      case "counters":
      case "comment":
        o[t.text] = true;
        break;
      case "range": {
        const v = p.value("range");
        const m = /^([^-]+)-([^-]+)$/.exec(v.text);
        const min = m ? parseUint(m[1]!, 65535) : -1;
        const max = m ? parseUint(m[2]!, 65535) : -1;
        if (min < 0 || max < 0) p.fail("E_IPSET_VALUE", `range ${JSON.stringify(v.text)} is not FROM-TO with ports 0 to 65535`, v.column, "write e.g. range 0-65535");
        o.range = { min, max };
        break;
      }
      default:
        p.fail("E_IPSET_OPTION", `unknown create option ${JSON.stringify(t.text)} for ${spec.name}`, t.column, spec.kind === "bitmap" ? "bitmap:port takes range, timeout, counters, comment" : "hash types take family, hashsize, maxelem, bucketsize, initval, timeout, counters, comment");
    }
  }
  try {
    makeHeader(spec, o);
  } catch (e) {
    if (!(e instanceof PodwireError)) throw e;
    const field = e.location?.field ?? "type";
    // A misplaced option points at its keyword, a bad value at the value.
    const valueColumn = e.code === "E_IPSET_OPTION" ? undefined : p.columns[`${field}:value`];
    p.fail(e.code, e.detail, valueColumn ?? p.columns[field] ?? p.columns.type!, e.hint ?? "");
  }
  return { op: "create", line, columns: p.columns, name, type: typeTok.text, options: o };
}

function parseAdd(p: LineParser, line: number): IpsetCommand {
  const name = p.next("set name", "name").text;
  const entry = p.next("entry", "entry").text;
  const o: IpsetEntryOptions = {};
  const seen = new Set<string>();
  while (p.more()) {
    const t = p.option(seen);
    switch (t.text) {
      case "timeout":
        o.timeout = p.number("timeout", MAX_TIMEOUT);
        break;
      case "packets":
      case "bytes":
        o[t.text] = p.number(t.text, MAX_COUNTER);
        break;
      case "comment":
        o.comment = p.value("comment").text;
        break;
      case "nomatch":
        o.nomatch = true;
        break;
      default:
        p.fail("E_IPSET_OPTION", `unknown add option ${JSON.stringify(t.text)}`, t.column, "add takes timeout, nomatch, packets, bytes and comment");
    }
  }
  return { op: "add", line, columns: p.columns, name, entry, options: o };
}

function parseCommand(p: LineParser, opTok: Token, line: number): IpsetCommand {
  const op = OPS.get(opTok.text);
  if (op === undefined) {
    if (NOT_IN_RESTORE.has(opTok.text)) p.fail("E_IPSET_SYNTAX", `${opTok.text} is not allowed in a restore file`, opTok.column, "restore files hold create, add, del, flush, destroy, rename and swap");
    p.fail("E_IPSET_SYNTAX", `unknown command ${JSON.stringify(opTok.text)}`, opTok.column, "restore files hold create, add, del, flush, destroy, rename and swap");
  }
  p.columns.command = opTok.column;
  let cmd: IpsetCommand;
  switch (op) {
    case "create":
      return parseCreate(p, line);
    case "add":
      return parseAdd(p, line);
    case "del": {
      const name = p.next("set name", "name").text;
      cmd = { op, line, columns: p.columns, name, entry: p.next("entry", "entry").text };
      break;
    }
    case "flush":
    case "destroy":
      cmd = { op, line, columns: p.columns, name: p.more() ? p.next("set name", "name").text : undefined };
      break;
    case "rename":
    case "swap": {
      const name = p.next("set name", "name").text;
      cmd = { op, line, columns: p.columns, name, to: p.next("second set name", "to").text };
      break;
    }
  }
  if (p.more()) {
    const extra = p.next("argument", "extra");
    p.fail("E_IPSET_SYNTAX", `unexpected argument ${JSON.stringify(extra.text)}`, extra.column, `${op} takes no options`);
  }
  return cmd;
}

export function parseIpsetRestore(text: string, file = "<ipset>"): IpsetRestoreDoc {
  const commands: IpsetCommand[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const lineNo = i + 1;
    if (raw.trimStart().startsWith("#")) continue;
    const tokens = tokenize(raw, file, lineNo).filter((t) => t.quoted || (t.text !== "-exist" && t.text !== "-!"));
    if (tokens.length === 0) continue;
    if (tokens.length === 1 && tokens[0]!.text === "COMMIT") continue;
    const p = new LineParser(tokens.slice(1), file, lineNo, raw.trimEnd().length + 1);
    commands.push(parseCommand(p, tokens[0]!, lineNo));
  }
  return { file, commands };
}
