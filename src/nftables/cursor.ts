/**
 * A read position over tokens with the helpers every parser file shares: peeking,
 * expecting, and errors located at a token.
 */
import { NFT_ERROR, nftError, type NftErrorCode, type NftLocation } from "./errors.js";
import type { Token } from "./tokenize.js";

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

export class Cursor {
  pos = 0;
  constructor(
    readonly tokens: Token[],
    readonly file: string,
  ) {}

  peek(offset = 0): Token {
    return this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)]!;
  }

  next(): Token {
    const t = this.peek();
    if (t.kind !== "eof") this.pos++;
    return t;
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
    if (t.kind !== "word" || !/^[A-Za-z_.][A-Za-z0-9/\-_.]*$/.test(t.text) || RESERVED.has(t.text)) {
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
