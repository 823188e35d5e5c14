/**
 * Splits one restore line into words the way iptables-restore does (xtables'
 * `add_param_to_argv`): blanks separate words; a double quote opens a quoted stretch whose
 * text joins the current word; inside quotes a backslash makes the next character literal;
 * the closing quote ends the word. Outside quotes a backslash is an ordinary character.
 * iptables silently accepts an unterminated quote; podwire reports it.
 *
 * Words are cut from the line with `slice` (no character-by-character building): a large
 * restore has millions of them. V8 lets a slice of 13 or more characters share its parent's
 * memory, so whatever keeps a word's text beyond the parse takes an `ownText` copy.
 */
import { RULES_ERROR, rulesError } from "./extensions/errors.js";

export interface Word {
  text: string;
  /** 1-based column of the word's first character (its opening quote, if quoted). */
  column: number;
  /** True when any part of the word was inside quotes (so `"!"` is not a negation). */
  quoted: boolean;
}

const SPACE = 32;
const TAB = 9;
const LF = 10;
const CR = 13;
const QUOTE = 34;
const BACKSLASH = 92;

function isBlank(c: number): boolean {
  return c === SPACE || c === TAB || c === LF || c === CR;
}

const scratch = new Uint8Array(256);
const ascii = new TextDecoder("latin1");

/**
 * A copy of `s` that keeps no reference to a larger string it was sliced from: one flat
 * string (decoded from bytes), not a slice of a copy. ("latin1" decodes as windows-1252, so
 * only ASCII takes that way.)
 */
export function ownText(s: string): string {
  const n = s.length;
  if (n < 13) return s; // V8 copies short slices
  if (n <= scratch.length) {
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 127) break;
      scratch[i] = c;
    }
    if (i === n) return ascii.decode(scratch.subarray(0, n));
  }
  return JSON.parse(JSON.stringify(s)) as string;
}

export function tokenizeLine(text: string, line?: number, file = "<rules>"): Word[] {
  const words: Word[] = [];
  words.length = tokenizeInto(text, words, line, file);
  return words;
}

/**
 * Tokenizes `text` into `words[0…n)`, reusing the Word objects already there (the restore
 * parser keeps one array for every line), and returns n.
 */
export function tokenizeInto(text: string, words: Word[], line?: number, file = "<rules>"): number {
  let n = 0;
  const put = (s: string, start: number, quoted: boolean): void => {
    const w = words[n];
    if (w === undefined) words.push({ text: s, column: start + 1, quoted });
    else {
      w.text = s;
      w.column = start + 1;
      w.quoted = quoted;
    }
    n++;
  };
  const len = text.length;
  let i = 0;
  while (i < len) {
    let c = text.charCodeAt(i);
    if (isBlank(c)) {
      i++;
      continue;
    }
    const start = i;
    while (i < len && !isBlank((c = text.charCodeAt(i))) && c !== QUOTE) i++;
    if (i >= len || c !== QUOTE) {
      put(text.slice(start, i), start, false);
      continue;
    }
    // A quoted stretch: the word so far, then everything up to the closing quote.
    const prefix = i > start ? text.slice(start, i) : "";
    const quoteColumn = i + 1;
    const qs = ++i;
    while (i < len && (c = text.charCodeAt(i)) !== QUOTE && c !== BACKSLASH) i++;
    if (i < len && c === QUOTE) {
      put(prefix + text.slice(qs, i), start, true);
      i++;
      continue;
    }
    // Escapes: build the rest of the quoted text a character at a time.
    let buf = prefix + text.slice(qs, i);
    let closed = false;
    while (i < len) {
      c = text.charCodeAt(i);
      if (c === BACKSLASH && i + 1 < len) {
        buf += text[i + 1];
        i += 2;
      } else if (c === QUOTE) {
        closed = true;
        i++;
        break;
      } else {
        buf += text[i];
        i++;
      }
    }
    if (!closed) throw rulesError(RULES_ERROR.SYNTAX, "unterminated quote", { file, line, column: quoteColumn }, 'close the quoted text with a matching `"`');
    put(buf, start, true);
  }
  return n;
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
