/**
 * Error codes of the restore parser, the printer and `applyRestore`, and a helper that
 * builds a `PodwireError` pointing at one word of one line.
 */
import { PodwireError, type InputLocation } from "../../base/errors.js";

export const RULES_ERROR = {
  /** Malformed line or command: bad quoting, missing argument, stray word, misplaced `!`. */
  SYNTAX: "E_RULES_SYNTAX",
  /** `-m NAME` for a match podwire does not implement. */
  UNKNOWN_MATCH: "E_RULES_UNKNOWN_MATCH",
  /** `-j NAME` for an iptables target extension podwire does not implement. */
  UNKNOWN_TARGET: "E_RULES_UNKNOWN_TARGET",
  /** An option no loaded extension knows. */
  UNKNOWN_OPTION: "E_RULES_UNKNOWN_OPTION",
  /** An option value that does not parse or is out of range; also a missing required option. */
  BAD_VALUE: "E_RULES_BAD_VALUE",
  /** `*table` for a table podwire does not model (only raw, mangle, nat, filter). */
  UNKNOWN_TABLE: "E_RULES_UNKNOWN_TABLE",
  /** A table section that never reaches `COMMIT`. */
  MISSING_COMMIT: "E_RULES_MISSING_COMMIT",
  /** A rule or command names a chain that does not exist at that point. */
  UNKNOWN_CHAIN: "E_RULES_UNKNOWN_CHAIN",
  /** `-N` of a chain that exists, or a chain name that is not allowed. */
  CHAIN_EXISTS: "E_RULES_CHAIN_EXISTS",
  /** `-X` of a chain that is still referenced or not empty, or of a built-in chain. */
  CHAIN_IN_USE: "E_RULES_CHAIN_IN_USE",
  /** `-D` of a rule that does not exist, or a rule number out of range (-I/-R/-D). */
  NO_SUCH_RULE: "E_RULES_NO_SUCH_RULE",
  /** A policy on a user chain, or a policy other than ACCEPT/DROP. */
  BAD_POLICY: "E_RULES_BAD_POLICY",
  /** Jumps nested deeper than the kernel's jump stack, or a loop a built-in chain reaches ("Too many links"). */
  LOOP: "E_RULES_LOOP",
  /** A target in a table or hook it does not support ("Invalid argument"). */
  BAD_HOOK: "E_RULES_BAD_HOOK",
} as const;

export type RulesErrorCode = (typeof RULES_ERROR)[keyof typeof RULES_ERROR];

/** Where a word came from; `line`/`column` are 1-based and may be unknown. */
export interface WordLocation {
  file: string;
  line?: number;
  column?: number;
}

export function rulesError(code: RulesErrorCode, detail: string, where: WordLocation, hint?: string): PodwireError {
  const loc: InputLocation = { file: where.file };
  if (where.line !== undefined) loc.line = where.line;
  if (where.column !== undefined) loc.column = where.column;
  return new PodwireError(code, detail, loc, hint);
}
