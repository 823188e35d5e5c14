/**
 * Splits nft input into tokens, in the spirit of nftables' flex scanner (src/scanner.l):
 * names start with a letter or `_` and go on with letters, digits and `/ - _ .` (so
 * `service-ULMVA6XW-ns1/svc1/tcp/p80` is one word); values starting with a digit run over
 * digits, letters and dots (`10.0.0.1`, `0x4000`, `10800s`); IPv6 addresses with `::` or
 * several colons are one token; double quotes make a string with no escapes (nft has none);
 * `#` starts a comment. Newlines are tokens: they end commands like `;`.
 */
import { NFT_ERROR, nftError } from "./errors.js";

export type TokenKind = "word" | "string" | "punct" | "newline" | "eof";

export interface Token {
  kind: TokenKind;
  text: string;
  line: number;
  column: number;
}

const PUNCT2 = ["==", "!=", "<=", ">="];
const PUNCT1 = "{}();,:@!=<>|&^/-.*$+";

const isLetter = (c: string): boolean => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z");
const isDigit = (c: string): boolean => c >= "0" && c <= "9";

export function tokenize(text: string, file = "<nft>"): Token[] {
  const out: Token[] = [];
  let line = 1;
  let lineStart = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    const column = i - lineStart + 1;
    if (c === "\n") {
      out.push({ kind: "newline", text: "\n", line, column });
      i++;
      line++;
      lineStart = i;
      continue;
    }
    if (c === " " || c === "\t" || c === "\r") {
      i++;
      continue;
    }
    if (c === "\\" && text[i + 1] === "\n") {
      // a continued line
      i += 2;
      line++;
      lineStart = i;
      continue;
    }
    if (c === "#") {
      while (i < n && text[i] !== "\n") i++;
      continue;
    }
    if (c === '"') {
      const end = text.indexOf('"', i + 1);
      const nl = text.indexOf("\n", i + 1);
      if (end < 0 || (nl >= 0 && nl < end)) {
        throw nftError(NFT_ERROR.SYNTAX, "unterminated string", { file, line, column }, 'close the string with `"` on the same line');
      }
      out.push({ kind: "string", text: text.slice(i + 1, end), line, column });
      i = end + 1;
      continue;
    }
    // IPv6: hex digits and colons with `::` or at least two colons in a row of them.
    const v6 = /^[0-9a-fA-F:]*:[0-9a-fA-F:]*:[0-9a-fA-F:]*/.exec(text.slice(i, i + 48));
    if (v6 && (isDigit(c) || c === ":" || /[a-fA-F]/.test(c)) && /::|:.*:/.test(v6[0]) && !/:::/.test(v6[0])) {
      out.push({ kind: "word", text: v6[0], line, column });
      i += v6[0].length;
      continue;
    }
    if (isLetter(c) || c === "_") {
      let j = i + 1;
      while (j < n && (isLetter(text[j]!) || isDigit(text[j]!) || "/-_.".includes(text[j]!))) j++;
      out.push({ kind: "word", text: text.slice(i, j), line, column });
      i = j;
      continue;
    }
    if (isDigit(c)) {
      let j = i + 1;
      while (j < n && (isLetter(text[j]!) || isDigit(text[j]!) || text[j] === ".")) j++;
      out.push({ kind: "word", text: text.slice(i, j), line, column });
      i = j;
      continue;
    }
    const two = text.slice(i, i + 2);
    if (PUNCT2.includes(two)) {
      out.push({ kind: "punct", text: two, line, column });
      i += 2;
      continue;
    }
    if (PUNCT1.includes(c)) {
      out.push({ kind: "punct", text: c, line, column });
      i++;
      continue;
    }
    throw nftError(NFT_ERROR.SYNTAX, `unexpected character "${c}"`, { file, line, column });
  }
  out.push({ kind: "eof", text: "", line, column: i - lineStart + 1 });
  return out;
}
