/**
 * Chain and set declarations, in both spellings: the `{ type … ; policy … ; }` of
 * `add chain`/`add set`, and the nested lines of `nft list ruleset`.
 */
import { isDataTypeName, SET_KEY_TYPES, type DataTypeName } from "./datatypes.js";
import { NFT_ERROR } from "./errors.js";
import { HOOKS, SET_FLAGS, type BaseChainSpec, type ChainType, type Hook, type SetElement, type SetFlag } from "./model.js";
import type { Cursor } from "./cursor.js";
import { priorityNameAllowed, priorityValue } from "./priority.js";
import { parseElementList, parseTimeAt, type Ref } from "./parse-values.js";
import type { Token } from "./tokenize.js";

/** Skips `;` and newlines between items of a `{ … }` body. */
export function skipSeparators(cur: Cursor): void {
  while (cur.peek().kind === "newline" || cur.isPunct(";")) cur.next();
}

/** `type T hook H priority P ;` (the `type` word already seen). */
export function parseBaseSpec(cur: Cursor): BaseChainSpec {
  const type = cur.expectWord(undefined, "filter, nat or route");
  if (!["filter", "nat", "route"].includes(type.text)) cur.fail(NFT_ERROR.SYNTAX, `unknown chain type "${type.text}"`, type, "use filter, nat or route");
  cur.expectWord("hook");
  const hook = cur.expectWord(undefined, "a hook");
  if (!(HOOKS as readonly string[]).includes(hook.text)) cur.fail(NFT_ERROR.SYNTAX, `unknown chain hook "${hook.text}"`, hook, `use one of ${HOOKS.join(", ")}`);
  // What the kernel allows (nft_chain_nat / nft_chain_route_ipv4): nat has no forward hook, route is output only.
  if ((type.text === "nat" && hook.text === "forward") || (type.text === "route" && hook.text !== "output")) {
    cur.fail(NFT_ERROR.SEMANTIC, `a ${type.text} chain cannot use the ${hook.text} hook (Operation not supported)`, hook);
  }
  cur.expectWord("priority");
  const priority = parsePriority(cur, hook.text as Hook);
  return { type: type.text as ChainType, hook: hook.text as Hook, priority, policy: "accept" };
}

function parsePriority(cur: Cursor, hook: Hook): number {
  const start = cur.peek();
  const bad = (): never => cur.fail(NFT_ERROR.BAD_VALUE, "invalid priority expression value in this context", start, "dstnat is valid only at prerouting and srcnat only at postrouting (nft 1.0.6); use a number");
  const num = (t: Token): number => (/^[0-9]+$/.test(t.text) ? Number(t.text) : bad());
  if (cur.acceptPunct("-")) return -num(cur.expectWord(undefined, "a number"));
  const w = cur.expectWord(undefined, "a priority");
  if (/^[0-9]/.test(w.text)) return num(w);
  const base = priorityValue(w.text);
  if (base === undefined || !priorityNameAllowed(w.text, hook)) return bad();
  if (cur.isPunct("+") || cur.isPunct("-")) {
    const sign = cur.next().text === "-" ? -1 : 1;
    const t = cur.peek();
    if (t.kind !== "word" || !/^[0-9]+$/.test(t.text)) cur.unexpected("a number");
    return base + sign * num(cur.next());
  }
  return base;
}

export function parsePolicy(cur: Cursor): "accept" | "drop" {
  const p = cur.expectWord(undefined, "accept or drop");
  if (p.text !== "accept" && p.text !== "drop") cur.fail(NFT_ERROR.SYNTAX, `invalid policy "${p.text}"`, p, "use accept or drop");
  return p.text;
}

export interface SetDecl {
  keyType: DataTypeName[];
  dataType?: DataTypeName[];
  flags: SetFlag[];
  timeout?: number;
  size?: number;
  autoMerge?: boolean;
  comment?: string;
  elements?: SetElement[];
  elementsTok?: Token;
}

function parseTypeList(cur: Cursor, allowVerdict: boolean): DataTypeName[] {
  const out: DataTypeName[] = [];
  do {
    const t = cur.expectWord(undefined, "a data type");
    const ok = isDataTypeName(t.text) && ((SET_KEY_TYPES as readonly string[]).includes(t.text) || (allowVerdict && t.text === "verdict" && out.length === 0));
    if (!ok) cur.fail(NFT_ERROR.UNSUPPORTED, `unknown or unsupported data type "${t.text}"`, t, `use ${SET_KEY_TYPES.join(", ")}${allowVerdict ? " or verdict" : ""}`);
    out.push(t.text as DataTypeName);
  } while (cur.acceptPunct("."));
  if (out.includes("verdict") && out.length > 1) cur.fail(NFT_ERROR.SYNTAX, "verdict cannot be concatenated", cur.peek());
  return out;
}

/** The body of a set or map between `{` and `}` (braces consumed here). */
export function parseSetBody(cur: Cursor, isMap: boolean, refs: Ref[]): SetDecl {
  const open = cur.expectPunct("{");
  const decl: SetDecl = { keyType: [], flags: [] };
  for (;;) {
    skipSeparators(cur);
    if (cur.acceptPunct("}")) break;
    const w = cur.expectWord(undefined, "type, flags, timeout, size, comment or elements");
    switch (w.text) {
      case "type":
        decl.keyType = parseTypeList(cur, false);
        if (isMap) {
          cur.expectPunct(":");
          decl.dataType = parseTypeList(cur, true);
        } else if (cur.isPunct(":")) {
          cur.fail(NFT_ERROR.SYNTAX, "a set has no data type (declare a map for `: …`)");
        }
        break;
      case "flags":
        do {
          const f = cur.expectWord(undefined, "a set flag");
          if (!(SET_FLAGS as readonly string[]).includes(f.text)) cur.fail(NFT_ERROR.SYNTAX, `unknown set flag "${f.text}"`, f, `use ${SET_FLAGS.join(", ")}`);
          if (!decl.flags.includes(f.text as SetFlag)) decl.flags.push(f.text as SetFlag);
        } while (cur.acceptPunct(","));
        break;
      case "timeout":
        decl.timeout = parseTimeAt(cur);
        break;
      case "size": {
        const t = cur.expectWord(undefined, "a number");
        if (!/^[0-9]+$/.test(t.text) || Number(t.text) === 0) cur.fail(NFT_ERROR.BAD_VALUE, `invalid set size "${t.text}"`, t);
        decl.size = Number(t.text);
        break;
      }
      case "comment":
        decl.comment = cur.expectString("comment").text;
        break;
      case "auto-merge":
        decl.autoMerge = true;
        break;
      case "elements":
        if (decl.keyType.length === 0) cur.fail(NFT_ERROR.SYNTAX, "elements before the set's type", w);
        cur.expectPunct("=");
        decl.elementsTok = cur.peek();
        decl.elements = parseElementList(cur, decl.keyType, decl.dataType, refs);
        break;
      default:
        cur.fail(NFT_ERROR.UNSUPPORTED, `unknown set property "${w.text}"`, w, "podwire models type, flags, timeout, size, comment, auto-merge and elements");
    }
    if (!cur.atEnd()) cur.unexpected("end of line or ;");
  }
  if (decl.keyType.length === 0) cur.fail(NFT_ERROR.SEMANTIC, `${isMap ? "map" : "set"} definition does not specify key`, open);
  return decl;
}
