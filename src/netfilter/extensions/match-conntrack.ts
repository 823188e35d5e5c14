/** The `conntrack` and `state` matches (parse and save). */
import {
  CT_STATE_DNAT, CT_STATE_ESTABLISHED, CT_STATE_INVALID, CT_STATE_NEW, CT_STATE_RELATED, CT_STATE_SNAT, CT_STATE_UNTRACKED,
  CT_STATUS_ASSURED, CT_STATUS_CONFIRMED, CT_STATUS_EXPECTED, CT_STATUS_SEEN_REPLY,
  type ConntrackMatch, type StateMatch,
} from "../model.js";
import type { Word } from "../restore-tokenize.js";
import { RULES_ERROR } from "./errors.js";
import type { ExtEnv, Extension } from "./ext.js";
import { splitList } from "./values.js";

/** State names in the order libxt_conntrack prints them. */
const STATE_NAMES: readonly [string, number][] = [
  ["INVALID", CT_STATE_INVALID], ["NEW", CT_STATE_NEW], ["RELATED", CT_STATE_RELATED],
  ["ESTABLISHED", CT_STATE_ESTABLISHED], ["UNTRACKED", CT_STATE_UNTRACKED], ["SNAT", CT_STATE_SNAT], ["DNAT", CT_STATE_DNAT],
];
/** The old state match knows no SNAT/DNAT. */
const OLD_STATE_NAMES = STATE_NAMES.slice(0, 5);

const STATUS_NAMES: readonly [string, number][] = [
  ["EXPECTED", CT_STATUS_EXPECTED], ["SEEN_REPLY", CT_STATUS_SEEN_REPLY], ["ASSURED", CT_STATUS_ASSURED], ["CONFIRMED", CT_STATUS_CONFIRMED],
];

/** Parses a comma list of names into bits; `none` names the value 0 when allowed. */
export function parseNameBits(word: Word, names: readonly [string, number][], env: ExtEnv, what: string, noneAllowed = false): number {
  const items = splitList(word.text);
  const known = names.map(([n]) => n).join(", ") + (noneAllowed ? ", NONE" : "");
  if (!items) throw env.error(RULES_ERROR.BAD_VALUE, `invalid ${what} list "${word.text}"`, word, `use a comma list of: ${known}`);
  let bits = 0;
  for (const item of items) {
    const up = item.toUpperCase();
    if (noneAllowed && up === "NONE") continue;
    const hit = names.find(([n]) => n === up);
    if (!hit) throw env.error(RULES_ERROR.BAD_VALUE, `unknown ${what} "${item}"`, word, `use a comma list of: ${known}`);
    bits |= hit[1];
  }
  return bits;
}

export function formatNameBits(bits: number, names: readonly [string, number][], empty = "NONE"): string {
  const out = names.filter(([, b]) => (bits & b) !== 0).map(([n]) => n);
  return out.length ? out.join(",") : empty;
}

export const conntrackMatch: Extension<ConntrackMatch, ConntrackMatch> = {
  name: "conntrack",
  options: [
    { name: "ctstate", args: 1, invertible: true },
    { name: "ctstatus", args: 1, invertible: true },
  ],
  init: () => ({ module: "conntrack" }),
  apply(d, opt, args, invert, optWord, env) {
    if (opt === "ctstate") {
      if (d.ctstate) throw env.error(RULES_ERROR.SYNTAX, "multiple --ctstate options in one conntrack match", optWord);
      d.ctstate = { states: parseNameBits(args[0]!, STATE_NAMES, env, "conntrack state"), invert };
    } else {
      if (d.ctstatus) throw env.error(RULES_ERROR.SYNTAX, "multiple --ctstatus options in one conntrack match", optWord);
      d.ctstatus = { bits: parseNameBits(args[0]!, STATUS_NAMES, env, "conntrack status", true), invert };
    }
  },
  finish(d, env, head) {
    if (!d.ctstate && !d.ctstatus) throw env.error(RULES_ERROR.BAD_VALUE, "the conntrack match needs --ctstate or --ctstatus", head);
    return d;
  },
};

export function saveConntrack(m: ConntrackMatch): string {
  let s = "";
  if (m.ctstate) s += `${m.ctstate.invert ? " !" : ""} --ctstate ${formatNameBits(m.ctstate.states, STATE_NAMES)}`;
  if (m.ctstatus) s += `${m.ctstatus.invert ? " !" : ""} --ctstatus ${formatNameBits(m.ctstatus.bits, STATUS_NAMES)}`;
  return s;
}

interface StateDraft {
  spec?: StateMatch;
}

export const stateMatch: Extension<StateDraft, StateMatch> = {
  name: "state",
  options: [{ name: "state", args: 1, invertible: true }],
  init: () => ({}),
  apply(d, _opt, args, invert, optWord, env) {
    if (d.spec) throw env.error(RULES_ERROR.SYNTAX, "multiple --state options in one state match", optWord);
    d.spec = { module: "state", states: parseNameBits(args[0]!, OLD_STATE_NAMES, env, "state"), invert };
  },
  finish(d, env, head) {
    if (!d.spec) throw env.error(RULES_ERROR.BAD_VALUE, "the state match needs --state", head);
    return d.spec;
  },
};

export function saveState(m: StateMatch): string {
  return `${m.invert ? " !" : ""} --state ${formatNameBits(m.states, OLD_STATE_NAMES)}`;
}
