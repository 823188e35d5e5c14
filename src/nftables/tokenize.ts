/**
 * Splits nft input into tokens, in the spirit of nftables' flex scanner (src/scanner.l):
 * names start with a letter or `_` and go on with letters, digits and `/ - _ .` (so
 * `service-ULMVA6XW-ns1/svc1/tcp/p80` is one word); values starting with a digit run over
 * digits, letters and dots (`10.0.0.1`, `0x4000`, `10800s`); IPv6 addresses with `::` or
 * several colons are one token; double quotes make a string with no escapes (nft has none);
 * `#` starts a comment. Newlines are tokens: they end commands like `;`.
 *
 * The `Lexer` hands out one token at a time (the parser never holds more than a command's
 * worth), over one text or over a list of lines (a transaction as its writer keeps it:
 * each line ends with a newline that is not in the string).
 */
import { NFT_ERROR, nftError } from "./errors.js";

export type TokenKind = "word" | "string" | "punct" | "newline" | "eof";

export interface Token {
  kind: TokenKind;
  text: string;
  line: number;
  column: number;
}

// Character classes (ASCII): bit 1 a name character after the first (letters, digits, / - _ .),
// bit 2 a value character after the first (letters, digits, .), bit 4 a hex digit, bit 8 a
// one-character punctuation mark, bit 16 a letter or `_` (a name's first character).
/** Character classes of ASCII (CLASS[code] is a set of these bits); fast-line.ts reads names and values with them too. */
export const NAME = 1;
export const VALUE = 2;
const HEX = 4;
const PUNCT = 8;
export const FIRST = 16;
export const CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  const letter = (ch >= "a" && ch <= "z") || (ch >= "A" && ch <= "Z");
  const digit = ch >= "0" && ch <= "9";
  let k = 0;
  if (letter || digit || "/-_.".includes(ch)) k |= NAME;
  if (letter || digit || ch === ".") k |= VALUE;
  if (digit || (ch >= "a" && ch <= "f") || (ch >= "A" && ch <= "F")) k |= HEX;
  if ("{}();,:@!=<>|&^/-.*$+".includes(ch)) k |= PUNCT;
  if (letter || ch === "_") k |= FIRST;
  CLASS[c] = k;
}
const COLON = 58;
/** How far the IPv6 scan looks (as the scanner's pattern, which sees 48 characters). */
const V6_WINDOW = 48;

export class Lexer {
  private ci = 0;
  private s: string;
  private i = 0;
  private n: number;
  private line = 1;
  private lineStart = 0;
  /** A newline the current chunk ends with but does not contain (line input). */
  private sepPending: boolean;

  /** `input`: a text, or lines each ending with a newline that the strings leave out. */
  constructor(
    private readonly input: string | readonly string[],
    readonly file = "<nft>",
  ) {
    const first = typeof input === "string" ? input : (input[0] ?? "");
    this.s = first;
    this.n = first.length;
    this.sepPending = typeof input !== "string" && input.length > 0;
  }

  private nextChunk(): boolean {
    if (typeof this.input === "string" || this.ci + 1 >= this.input.length) return false;
    this.ci++;
    this.s = this.input[this.ci]!;
    this.i = 0;
    this.n = this.s.length;
    this.lineStart = 0;
    this.sepPending = true;
    return true;
  }

  private fail(detail: string, column: number, hint?: string): never {
    throw nftError(NFT_ERROR.SYNTAX, detail, { file: this.file, line: this.line, column }, hint);
  }

  /** Nothing of the current line has been read (the last token was a newline, or none was read yet). */
  private lineFresh = true;

  next(): Token {
    const t = this.scan();
    this.lineFresh = t.kind === "newline";
    return t;
  }

  /**
   * The line ahead when nothing of it has been read: its text is `s` from `start` to `end`
   * (without its newline), `line` its number and `lineStart` where it starts in `s`. Null
   * mid-line. A reader that takes the line whole then calls `skipLine`.
   */
  lineAhead(): { s: string; start: number; end: number; line: number; lineStart: number } | null {
    if (!this.lineFresh) return null;
    const s = this.s;
    const nl = s.indexOf("\n", this.i);
    return { s, start: this.i, end: nl < 0 ? this.n : nl, line: this.line, lineStart: this.lineStart };
  }

  /** Moves past the line `lineAhead` returned (ending at `end`) and its newline. */
  skipLine(end: number): void {
    if (end < this.n) {
      this.i = end + 1;
      this.line++;
      this.lineStart = end + 1;
      return;
    }
    this.i = this.n;
    if (this.sepPending) {
      this.sepPending = false;
      this.line++;
      this.lineStart = this.n;
      this.nextChunk();
    }
  }

  private scan(): Token {
    for (;;) {
      const s = this.s;
      const n = this.n;
      let i = this.i;
      if (i >= n) {
        if (this.sepPending) {
          this.sepPending = false;
          const tok: Token = { kind: "newline", text: "\n", line: this.line, column: i - this.lineStart + 1 };
          this.line++;
          this.lineStart = i;
          this.nextChunk();
          return tok;
        }
        if (this.nextChunk()) continue;
        return { kind: "eof", text: "", line: this.line, column: i - this.lineStart + 1 };
      }
      const c = s.charCodeAt(i);
      const column = i - this.lineStart + 1;
      if (c === 10) {
        this.i = i + 1;
        const tok: Token = { kind: "newline", text: "\n", line: this.line, column };
        this.line++;
        this.lineStart = i + 1;
        return tok;
      }
      if (c === 32 || c === 9 || c === 13) {
        this.i = i + 1;
        continue;
      }
      if (c === 92 && (s.charCodeAt(i + 1) === 10 || (i + 1 === n && this.sepPending))) {
        // a continued line
        if (i + 1 === n) {
          this.sepPending = false;
          this.i = n;
          this.line++;
          this.lineStart = n;
          this.nextChunk();
        } else {
          this.i = i + 2;
          this.line++;
          this.lineStart = i + 2;
        }
        continue;
      }
      if (c === 35) {
        const nl = s.indexOf("\n", i);
        this.i = nl < 0 ? n : nl;
        continue;
      }
      if (c === 34) {
        const end = s.indexOf('"', i + 1);
        const nl = s.indexOf("\n", i + 1);
        if (end < 0 || (nl >= 0 && nl < end)) this.fail("unterminated string", column, 'close the string with `"` on the same line');
        this.i = end + 1;
        return { kind: "string", text: s.slice(i + 1, end), line: this.line, column };
      }
      const k = c < 128 ? CLASS[c]! : 0;
      // IPv6: hex digits and colons with `::` or at least two colons in a row of them.
      if (k & HEX || c === COLON) {
        let j = i;
        for (; j < n; j++) {
          const d = s.charCodeAt(j);
          if (d >= 128 || !(CLASS[d]! & HEX)) break;
        }
        if (j < n && s.charCodeAt(j) === COLON) {
          const v6 = this.ipv6At(i);
          if (v6 > i) {
            this.i = v6;
            return { kind: "word", text: s.slice(i, v6), line: this.line, column };
          }
        }
      }
      if (k & FIRST) {
        let j = i + 1;
        for (; j < n; j++) {
          const d = s.charCodeAt(j);
          if (d >= 128 || !(CLASS[d]! & NAME)) break;
        }
        this.i = j;
        return { kind: "word", text: s.slice(i, j), line: this.line, column };
      }
      if (c >= 48 && c <= 57) {
        let j = i + 1;
        for (; j < n; j++) {
          const d = s.charCodeAt(j);
          if (d >= 128 || !(CLASS[d]! & VALUE)) break;
        }
        this.i = j;
        return { kind: "word", text: s.slice(i, j), line: this.line, column };
      }
      const d = s.charCodeAt(i + 1);
      if (d === 61 && (c === 61 || c === 33 || c === 60 || c === 62)) {
        this.i = i + 2;
        return { kind: "punct", text: c === 61 ? "==" : c === 33 ? "!=" : c === 60 ? "<=" : ">=", line: this.line, column };
      }
      if (k & PUNCT) {
        this.i = i + 1;
        return { kind: "punct", text: s[i]!, line: this.line, column };
      }
      this.fail(`unexpected character "${s[i]!}"`, column);
    }
  }

  /** The end of an IPv6 address starting at `i` (the run of hex digits and colons within the window, with two colons or more and no `:::`), or `i`. */
  private ipv6At(i: number): number {
    const s = this.s;
    const end = Math.min(this.n, i + V6_WINDOW);
    let j = i;
    let colons = 0;
    let run = 0;
    let triple = false;
    for (; j < end; j++) {
      const d = s.charCodeAt(j);
      if (d === COLON) {
        colons++;
        if (++run >= 3) triple = true;
      } else if (d < 128 && CLASS[d]! & HEX) run = 0;
      else break;
    }
    return colons >= 2 && !triple ? j : i;
  }
}

export function tokenize(text: string, file = "<nft>"): Token[] {
  const lexer = new Lexer(text, file);
  const out: Token[] = [];
  for (;;) {
    const t = lexer.next();
    out.push(t);
    if (t.kind === "eof") return out;
  }
}
