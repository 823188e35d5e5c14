/**
 * Splits one restore line into words the way iptables-restore does (xtables'
 * `add_param_to_argv`): blanks separate words; a double quote opens a quoted stretch whose
 * text joins the current word; inside quotes a backslash makes the next character literal;
 * the closing quote ends the word. Outside quotes a backslash is an ordinary character.
 * iptables silently accepts an unterminated quote; podwire reports it.
 */
import { RULES_ERROR, rulesError } from "./extensions/errors.js";

export interface Word {
  text: string;
  /** 1-based column of the word's first character (its opening quote, if quoted). */
  column: number;
  /** True when any part of the word was inside quotes (so `"!"` is not a negation). */
  quoted: boolean;
}

function isBlank(ch: string): boolean {
  return ch === " " || ch === "\t" || ch === "\n" || ch === "\r";
}

export function tokenizeLine(text: string, line?: number, file = "<rules>"): Word[] {
  const words: Word[] = [];
  let buf = "";
  let start = -1;
  let quoted = false;
  let inQuote = false;
  let quoteColumn = 0;
  const finish = (): void => {
    words.push({ text: buf, column: start + 1, quoted });
    buf = "";
    start = -1;
    quoted = false;
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (inQuote) {
      if (ch === "\\" && i + 1 < text.length) {
        buf += text[++i];
      } else if (ch === '"') {
        inQuote = false;
        finish();
      } else {
        buf += ch;
      }
      continue;
    }
    if (ch === '"') {
      if (start < 0) start = i;
      inQuote = true;
      quoted = true;
      quoteColumn = i + 1;
    } else if (isBlank(ch)) {
      if (start >= 0) finish();
    } else {
      if (start < 0) start = i;
      buf += ch;
    }
  }
  if (inQuote) {
    throw rulesError(RULES_ERROR.SYNTAX, "unterminated quote", { file, line, column: quoteColumn }, 'close the quoted text with a matching `"`');
  }
  if (start >= 0) finish();
  return words;
}

/** Words from plain strings (no quoting), numbered by position for error columns. */
export function wordsOf(texts: readonly string[]): Word[] {
  let column = 1;
  return texts.map((text) => {
    const w = { text, column, quoted: false };
    column += text.length + 1;
    return w;
  });
}
