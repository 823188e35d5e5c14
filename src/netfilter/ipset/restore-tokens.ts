/**
 * Splits one line of `ipset restore` input into words with their 1-based columns. Words
 * are separated by blanks; a word that starts with `"` runs to the next `"` (the quotes are
 * not part of it), which is how comments with spaces are written. ipset itself has no
 * escapes inside quotes, so neither does this.
 */
import { PodwireError } from "../../base/errors.js";

export interface Token {
  text: string;
  column: number;
  /** Written in quotes (so never a flag such as `-exist`). */
  quoted: boolean;
}

export function tokenize(line: string, file: string, lineNo: number): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < line.length) {
    const ch = line[i]!;
    if (ch === " " || ch === "\t" || ch === "\r") {
      i++;
      continue;
    }
    const column = i + 1;
    if (ch === '"') {
      const end = line.indexOf('"', i + 1);
      if (end < 0) {
        throw new PodwireError("E_IPSET_SYNTAX", "unterminated quoted string", { file, line: lineNo, column }, 'close the string with "');
      }
      tokens.push({ text: line.slice(i + 1, end), column, quoted: true });
      i = end + 1;
      continue;
    }
    let end = i;
    while (end < line.length && !" \t\r".includes(line[end]!)) {
      if (line[end] === '"') {
        throw new PodwireError("E_IPSET_SYNTAX", "a quote inside a word", { file, line: lineNo, column: end + 1 }, "quote whole words only, e.g. comment \"two words\"");
      }
      end++;
    }
    tokens.push({ text: line.slice(i, end), column, quoted: false });
    i = end;
  }
  return tokens;
}
