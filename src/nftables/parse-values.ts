/**
 * Values in nft text, read by their data type: single values, `a-b` ranges, `addr/len`
 * prefixes, `a . b` concatenations, verdicts, and `{ … }` element lists (which may span
 * lines, as `nft list` prints them).
 */
import { type DataTypeName, dataType, parseAtom } from "./datatypes.js";
import { NFT_ERROR } from "./errors.js";
import { prefixMask } from "./ipv4.js";
import type { Atom, ElementData, KeyPart, SetElement, Verdict } from "./model.js";
import type { Cursor } from "./cursor.js";
import type { Token } from "./tokenize.js";
import { parseTime } from "./time.js";

/** A name used before it is checked to exist: a chain (jump/goto) or a set (`@name`); `tok` is where an error points. */
export interface Ref {
  kind: "chain" | "set";
  name: string;
  tok: Token;
  /** The verdict naming the chain: checking the reference gives it the chain's own name string (one string per name, so later lookups hash it once). */
  verdict?: { chain: string };
}

/** A dotted quad as `ipv4ToInt` reads it (four 1-3 digit octets up to 255), or -1. */
function dottedQuad(text: string): number {
  let n = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (++digits > 3) return -1;
      octet = octet * 10 + (c - 48);
    } else if (c === 46 && digits > 0 && dots < 3) {
      if (octet > 255) return -1;
      n = n * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else return -1;
  }
  if (dots !== 3 || digits === 0 || octet > 255) return -1;
  return n * 256 + octet;
}

/** A decimal number of at most 10 digits, or -1. */
function decimal(text: string): number {
  if (text.length === 0 || text.length > 10) return -1;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
  }
  return n;
}

/** The common values read without the general reader: addresses, port and integer numbers, protocol names. */
function quickAtom(type: DataTypeName, text: string): Atom | undefined {
  switch (type) {
    case "ipv4_addr": {
      const n = dottedQuad(text);
      return n < 0 ? undefined : n;
    }
    case "inet_service": {
      const n = decimal(text);
      return n < 0 || n > 65535 ? undefined : n;
    }
    case "integer":
    case "mark": {
      const n = decimal(text);
      return n < 0 || n > 0xffffffff ? undefined : n;
    }
    case "inet_proto":
      return dataType(type).symbols!.get(text);
    default:
      return undefined;
  }
}

export function parseAtomAt(cur: Cursor, type: DataTypeName): Atom {
  const t = cur.peek();
  if (t.kind === "word") {
    const quick = quickAtom(type, t.text);
    if (quick !== undefined) {
      cur.next();
      return quick;
    }
  }
  if (t.kind !== "word" && t.kind !== "string") cur.unexpected(`a ${type} value`);
  const v = parseAtom(type, t.text, t.kind === "string");
  if (typeof v === "object") cur.fail(NFT_ERROR.BAD_VALUE, v.error, t);
  cur.next();
  return v;
}

/** One value of a key: `v`, `lo-hi`, or (IPv4) `addr/len`; a bitmask type reads `a,b,c` as one value. */
export function parseKeyPart(cur: Cursor, type: DataTypeName, allowList = true): KeyPart {
  let v = parseAtomAt(cur, type);
  if (dataType(type).bitmask && allowList) {
    while (cur.isPunct(",") && (cur.peek(1).kind === "word")) {
      const save = cur.pos;
      cur.next();
      const t = cur.peek();
      const w = parseAtom(type, t.text, false);
      if (typeof w === "object") {
        cur.pos = save; // a `,` between set elements, not inside a value
        break;
      }
      cur.next();
      v = (v as number) | (w as number);
    }
  }
  if (cur.isPunct("/") && type === "ipv4_addr") {
    cur.next();
    const t = cur.expectWord(undefined, "a prefix length");
    const len = /^[0-9]+$/.test(t.text) ? Number(t.text) : NaN;
    if (!(len >= 0 && len <= 32)) cur.fail(NFT_ERROR.BAD_VALUE, `invalid prefix length "${t.text}"`, t);
    // nft masks the address (10.0.0.1/8 → 10.0.0.0/8); a /32 is the address itself.
    const masked = ((v as number) & prefixMask(len)) >>> 0;
    return len === 32 ? { kind: "value", v: masked } : { kind: "prefix", v: masked, len };
  }
  if (cur.isPunct("-")) {
    const dash = cur.next();
    const hi = parseAtomAt(cur, type);
    if (typeof v === "number" && typeof hi === "number" && hi < v) cur.fail(NFT_ERROR.BAD_VALUE, "range has a low end above its high end", dash);
    return { kind: "range", lo: v, hi };
  }
  return { kind: "value", v };
}

/** A concatenation `a . b . c`, one part per type. */
export function parseKey(cur: Cursor, types: readonly DataTypeName[], allowList = true): KeyPart[] {
  const parts: KeyPart[] = [];
  types.forEach((type, i) => {
    if (i > 0) {
      if (!cur.isPunct(".")) cur.unexpected(`"." and a ${type} value (the key is ${types.join(" . ")})`);
      cur.next();
    }
    parts.push(parseKeyPart(cur, type, allowList));
  });
  if (cur.isPunct(".")) cur.fail(NFT_ERROR.BAD_VALUE, `too many values in a concatenation of ${types.join(" . ")}`);
  return parts;
}

export function parseVerdict(cur: Cursor, refs: Ref[]): Verdict {
  const t = cur.peek();
  if (cur.isWord("accept") || cur.isWord("drop") || cur.isWord("return") || cur.isWord("continue")) {
    cur.next();
    return { kind: t.text as "accept" };
  }
  if (cur.isWord("jump") || cur.isWord("goto")) {
    cur.next();
    const name = cur.expectName("chain");
    const verdict = { kind: t.text as "jump", chain: name.text };
    refs.push({ kind: "chain", name: name.text, tok: name, verdict });
    return verdict;
  }
  return cur.unexpected("a verdict (accept, drop, return, continue, jump CHAIN, goto CHAIN)");
}

export function parseTimeAt(cur: Cursor): number {
  const t = cur.expectWord(undefined, "a time such as 10800s or 3h");
  const ms = parseTime(t.text);
  if (ms === null) cur.fail(NFT_ERROR.BAD_VALUE, `invalid time "${t.text}"`, t, "write a time such as 30s, 3h or 1h30m");
  return ms;
}

export type DataSpec = readonly DataTypeName[] | undefined;

/**
 * `{ e1, e2, … }` with keys of `keyTypes`, and `: data` when `data` is given
 * (`["verdict"]` for verdict maps). Newlines inside the braces are blanks.
 */
export function parseElementList(cur: Cursor, keyTypes: readonly DataTypeName[], data: DataSpec, refs: Ref[]): SetElement[] {
  cur.expectPunct("{");
  const out: SetElement[] = [];
  cur.skipNewlines();
  while (!cur.isPunct("}")) {
    const el: SetElement = { key: parseKey(cur, keyTypes, false) };
    for (;;) {
      if (cur.acceptWord("timeout")) el.timeout = parseTimeAt(cur);
      else if (cur.acceptWord("expires")) el.expires = parseTimeAt(cur);
      else if (cur.acceptWord("comment")) el.comment = cur.expectString("comment").text;
      else break;
    }
    if (data) {
      if (!cur.isPunct(":")) cur.unexpected(`":" and the element's ${data.join(" . ")}`);
      cur.next();
      el.data = parseData(cur, data, refs);
    } else if (cur.isPunct(":")) {
      cur.fail(NFT_ERROR.SYNTAX, "a set element has no data (this is a set, not a map)");
    }
    out.push(el);
    cur.skipNewlines();
    if (cur.acceptPunct(",")) {
      cur.skipNewlines();
      continue;
    }
    if (!cur.isPunct("}")) cur.unexpected('"," or "}"');
  }
  cur.next();
  return out;
}

export function parseData(cur: Cursor, data: readonly DataTypeName[], refs: Ref[]): ElementData {
  if (data.length === 1 && data[0] === "verdict") return { kind: "verdict", verdict: parseVerdict(cur, refs) };
  return { kind: "values", parts: parseKey(cur, data) };
}
