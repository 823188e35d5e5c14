/**
 * A read position over tokens with the helpers every parser file shares: peeking,
 * expecting, and errors located at a token.
 */
import { NFT_ERROR, nftError, type NftErrorCode, type NftLocation } from "./errors.js";
import type { Lexer, Token } from "./tokenize.js";

/**
 * Words nft's scanner reserves everywhere, so it refuses them as table, chain and set names
 * (checked against nft 1.0.6: `counter`, `type`, `ip` are refused; `filter`, `input`,
 * `state` are not, their keywords being scoped). Not the full list of scanner.l.
 */
export const RESERVED = new Set([
  "ip", "ip6", "inet", "arp", "bridge", "netdev", "tcp", "udp", "sctp", "th", "icmp", "icmpv6", "ether", "vlan",
  "table", "chain", "rule", "set", "map", "element", "elements", "ruleset", "add", "delete", "insert", "create", "flush", "list", "replace", "reset", "rename",
  "accept", "drop", "jump", "goto", "return", "continue", "queue", "type", "hook", "priority", "policy", "device", "flags", "size", "timeout", "comment",
  "counter", "meta", "ct", "mark", "log", "reject", "dnat", "snat", "masquerade", "redirect", "notrack", "numgen", "fib", "random", "missing", "exists",
  "vmap", "update", "limit", "handle", "position", "index", "define", "include", "tproxy",
]);

const NAME_START = /^[A-Za-z_.]/;
const NAME_REST = /^[A-Za-z0-9/\-_.]*$/;

export class Cursor {
  /** The absolute index of the next token. */
  pos = 0;
  /** Tokens from absolute index `start` on, read ahead as far as a peek needed. */
  private buf: Token[];
  private start = 0;
  private readonly lexer: Lexer | null;

  /** Over a lexer (tokens read as needed), or a list of tokens ending with `eof`. */
  constructor(source: Lexer | Token[], readonly file: string) {
    if (Array.isArray(source)) {
      this.buf = source;
      this.lexer = null;
    } else {
      this.buf = [];
      this.lexer = source;
    }
  }

  peek(offset = 0): Token {
    const i = Math.max(0, this.pos + offset - this.start);
    const buf = this.buf;
    if (i < buf.length) return buf[i]!;
    return this.fill(i);
  }

  private fill(i: number): Token {
    const buf = this.buf;
    const lexer = this.lexer;
    if (lexer !== null) {
      while (buf.length <= i && (buf.length === 0 || buf[buf.length - 1]!.kind !== "eof")) buf.push(lexer.next());
      if (i < buf.length) return buf[i]!;
    }
    return buf[buf.length - 1]!;
  }

  /** Every token read so far has been consumed (the lexer is where the cursor is). */
  drained(): boolean {
    return this.pos - this.start >= this.buf.length;
  }

  next(): Token {
    const t = this.peek();
    if (t.kind !== "eof") this.pos++;
    return t;
  }

  /** Forgets the tokens read before the current one (between commands: nothing goes back that far). */
  release(): void {
    const drop = this.pos - 1 - this.start;
    if (this.lexer === null || drop < 512) return;
    this.buf = this.buf.slice(drop);
    this.start += drop;
  }

  loc(t: Token = this.peek()): NftLocation {
    return { file: this.file, line: t.line, column: t.column };
  }

  fail(code: NftErrorCode, detail: string, t: Token = this.peek(), hint?: string): never {
    throw nftError(code, detail, this.loc(t), hint);
  }

  describe(t: Token): string {
    if (t.kind === "eof") return "end of file";
    if (t.kind === "newline") return "end of line";
    if (t.kind === "string") return `quoted string "${t.text}"`;
    return `"${t.text}"`;
  }

  unexpected(expecting: string, t: Token = this.peek()): never {
    return this.fail(NFT_ERROR.SYNTAX, `syntax error, unexpected ${this.describe(t)}, expecting ${expecting}`, t);
  }

  isWord(text?: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t.kind === "word" && (text === undefined || t.text === text);
  }

  isPunct(text: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t.kind === "punct" && t.text === text;
  }

  acceptWord(text: string): boolean {
    if (!this.isWord(text)) return false;
    this.pos++;
    return true;
  }

  acceptPunct(text: string): boolean {
    if (!this.isPunct(text)) return false;
    this.pos++;
    return true;
  }

  expectWord(text?: string, expecting = text ? `"${text}"` : "a word"): Token {
    if (!this.isWord(text)) this.unexpected(expecting);
    return this.next();
  }

  expectPunct(text: string): Token {
    if (!this.isPunct(text)) this.unexpected(`"${text}"`);
    return this.next();
  }

  expectString(what: string): Token {
    if (this.peek().kind !== "string") this.unexpected(`a quoted ${what}`);
    return this.next();
  }

  /** A table, chain or set name: an identifier that is not a reserved word. */
  expectName(what: string): Token {
    const t = this.peek();
    if (t.kind !== "word" || !isName(t.text) || RESERVED.has(t.text)) {
      this.unexpected(`a ${what} name (letters, digits and / - _ ., starting with a letter)`);
    }
    return this.next();
  }

  skipNewlines(): void {
    while (this.peek().kind === "newline") this.pos++;
  }

  /** End of a command or rule: newline, `;`, `}` or end of input (not consumed). */
  atEnd(): boolean {
    const t = this.peek();
    return t.kind === "newline" || t.kind === "eof" || (t.kind === "punct" && (t.text === ";" || t.text === "}"));
  }
}

/** `[A-Za-z_.][A-Za-z0-9/\-_.]*`: a word the scanner read as a name (it starts with a letter or `_`) passes at once. */
function isName(text: string): boolean {
  const c = text.charCodeAt(0);
  const letter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
  if (letter && text.indexOf(":") < 0) return true;
  return NAME_START.test(text) && NAME_REST.test(text.slice(1));
}
