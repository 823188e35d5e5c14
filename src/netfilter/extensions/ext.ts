/**
 * The shape every match and target extension implements for the parser: the options it
 * owns (with arity and whether `!` may precede them), a mutable draft filled option by
 * option, and a final check that turns the draft into a model value once the whole rule
 * (in particular its `-p`) is known.
 */
import type { ProtoMatch, TableName } from "../model.js";
import type { Word } from "../restore-tokenize.js";
import type { PodwireError } from "../../base/errors.js";
import type { RulesErrorCode } from "./errors.js";

export interface OptionDef {
  /** Canonical long name without the leading `--`. */
  name: string;
  aliases?: readonly string[];
  /** Number of argument words that follow the option. */
  args: 0 | 1 | 2;
  /** Whether `! --name` is allowed. */
  invertible: boolean;
}

/** What an extension may ask about the rule and how it reports problems. */
export interface ExtEnv {
  readonly table: TableName | undefined;
  /** The rule's `-p`; only meaningful in `finish`, since `-p` may come after the extension. */
  readonly proto: ProtoMatch | undefined;
  /** Builds (does not throw) an error located at `word`. */
  error(code: RulesErrorCode, detail: string, word: Word | undefined, hint?: string): PodwireError;
}

export interface Extension<D, S> {
  name: string;
  options: readonly OptionDef[];
  init(): D;
  /** Applies one option. `opt` is the canonical name; `args` has exactly `args` words. */
  apply(draft: D, opt: string, args: readonly Word[], invert: boolean, optWord: Word, env: ExtEnv): void;
  /** Checks required options and cross-option rules; `head` is the `-m NAME`/`-j NAME` word. */
  finish(draft: D, env: ExtEnv, head: Word): S;
}

/** Finds an option by any of its spellings. */
export function findOption(options: readonly OptionDef[], name: string): OptionDef | undefined {
  for (let k = 0; k < options.length; k++) {
    const o = options[k]!;
    if (o.name === name || (o.aliases !== undefined && o.aliases.includes(name))) return o;
  }
  return undefined;
}

/** Names an extension's options for hints: `--dport, --sport, …`. */
export function optionList(options: readonly OptionDef[]): string {
  return options.map((o) => `--${o.name}`).join(", ");
}

/** Whether the rule's protocol is exactly `proto` (given and not negated). */
export function protoIs(env: ExtEnv, proto: number): boolean {
  return env.proto !== undefined && !env.proto.invert && env.proto.proto === proto;
}
