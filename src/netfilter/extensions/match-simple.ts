/** The small matches: `comment`, `statistic`, `mark`, `nfacct` and `addrtype` (parse and save). */
import {
  ADDRTYPE_ANYCAST, ADDRTYPE_BLACKHOLE, ADDRTYPE_BROADCAST, ADDRTYPE_LOCAL, ADDRTYPE_MULTICAST, ADDRTYPE_PROHIBIT,
  ADDRTYPE_UNICAST, ADDRTYPE_UNREACHABLE, ADDRTYPE_UNSPEC,
  type AddrtypeMatch, type CommentMatch, type MarkMatch, type NfacctMatch, type StatisticMatch,
} from "../model.js";
import { ownText, type Word } from "../restore-tokenize.js";
import { RULES_ERROR } from "./errors.js";
import type { ExtEnv, Extension } from "./ext.js";
import { formatNameBits, parseNameBits } from "./match-conntrack.js";
import { formatProbability, hex, parseUint, parseValueMask, quantizeProbability, saveString } from "./values.js";

function single<T>(current: T | undefined, optWord: Word, env: ExtEnv, what: string): void {
  if (current !== undefined) throw env.error(RULES_ERROR.SYNTAX, `multiple ${optWord.text} options in one ${what} match`, optWord);
}

// ---------------------------------------------------------------- comment

/** XT_MAX_COMMENT_LEN is 256 bytes including the terminating NUL. */
const COMMENT_MAX = 255;

export const commentMatch: Extension<{ comment?: string }, CommentMatch> = {
  name: "comment",
  options: [{ name: "comment", args: 1, invertible: false }],
  init: () => ({}),
  apply(d, _opt, args, _invert, optWord, env) {
    single(d.comment, optWord, env, "comment");
    const text = args[0]!.text;
    if (Buffer.byteLength(text) > COMMENT_MAX) throw env.error(RULES_ERROR.BAD_VALUE, `comment is longer than ${COMMENT_MAX} bytes`, args[0]);
    d.comment = ownText(text);
  },
  finish(d, env, head) {
    if (d.comment === undefined) throw env.error(RULES_ERROR.BAD_VALUE, "the comment match needs --comment", head);
    return { module: "comment", comment: d.comment };
  },
};

export function saveComment(m: CommentMatch): string {
  return ` --comment ${saveString(m.comment)}`;
}

// ---------------------------------------------------------------- statistic

interface StatisticDraft {
  mode?: "random" | "nth";
  probability?: number;
  every?: number;
  packet?: number;
  invert: boolean;
}

export const statisticMatch: Extension<StatisticDraft, StatisticMatch> = {
  name: "statistic",
  options: [
    { name: "mode", args: 1, invertible: false },
    { name: "probability", args: 1, invertible: true },
    { name: "every", args: 1, invertible: true },
    { name: "packet", args: 1, invertible: false },
  ],
  init: () => ({ invert: false }),
  apply(d, opt, args, invert, optWord, env) {
    const arg = args[0]!;
    if (opt === "mode") {
      single(d.mode, optWord, env, "statistic");
      if (arg.text !== "random" && arg.text !== "nth") throw env.error(RULES_ERROR.BAD_VALUE, `unknown statistic mode "${arg.text}"`, arg, "use --mode random or --mode nth");
      d.mode = arg.text;
    } else if (opt === "probability") {
      single(d.probability, optWord, env, "statistic");
      const p = /^[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?$|^[0-9]+\.$/.test(arg.text) ? Number(arg.text) : NaN;
      if (!(p >= 0 && p <= 1)) throw env.error(RULES_ERROR.BAD_VALUE, `invalid probability "${arg.text}"`, arg, "use a number from 0 to 1");
      d.probability = quantizeProbability(p);
      d.invert ||= invert;
    } else if (opt === "every") {
      single(d.every, optWord, env, "statistic");
      const n = parseUint(arg.text);
      if (n === null || n < 1) throw env.error(RULES_ERROR.BAD_VALUE, `invalid --every value "${arg.text}"`, arg, "use a whole number of at least 1");
      d.every = n;
      d.invert ||= invert;
    } else {
      single(d.packet, optWord, env, "statistic");
      const n = parseUint(arg.text);
      if (n === null) throw env.error(RULES_ERROR.BAD_VALUE, `invalid --packet value "${arg.text}"`, arg);
      d.packet = n;
    }
  },
  finish(d, env, head) {
    if (d.mode === "random") {
      if (d.probability === undefined) throw env.error(RULES_ERROR.BAD_VALUE, "statistic --mode random needs --probability", head);
      if (d.every !== undefined || d.packet !== undefined) throw env.error(RULES_ERROR.BAD_VALUE, "--every and --packet belong to --mode nth", head);
      return { module: "statistic", mode: "random", probability: d.probability, invert: d.invert };
    }
    if (d.mode === "nth") {
      if (d.every === undefined || d.packet === undefined) throw env.error(RULES_ERROR.BAD_VALUE, "statistic --mode nth needs --every and --packet", head);
      if (d.probability !== undefined) throw env.error(RULES_ERROR.BAD_VALUE, "--probability belongs to --mode random", head);
      if (d.packet >= d.every) throw env.error(RULES_ERROR.BAD_VALUE, "statistic --packet must be smaller than --every", head);
      return { module: "statistic", mode: "nth", every: d.every, packet: d.packet, invert: d.invert };
    }
    throw env.error(RULES_ERROR.BAD_VALUE, "the statistic match needs --mode random or --mode nth", head);
  },
};

export function saveStatistic(m: StatisticMatch): string {
  const inv = m.invert ? " !" : "";
  if (m.mode === "random") return ` --mode random${inv} --probability ${formatProbability(m.probability)}`;
  return ` --mode nth${inv} --every ${m.every} --packet ${m.packet}`;
}

// ---------------------------------------------------------------- mark

export const markMatch: Extension<{ spec?: MarkMatch }, MarkMatch> = {
  name: "mark",
  options: [{ name: "mark", args: 1, invertible: true }],
  init: () => ({}),
  apply(d, _opt, args, invert, optWord, env) {
    single(d.spec, optWord, env, "mark");
    const vm = parseValueMask(args[0]!.text);
    if (!vm) throw env.error(RULES_ERROR.BAD_VALUE, `invalid mark "${args[0]!.text}"`, args[0], "use VALUE or VALUE/MASK (decimal or 0x hex)");
    d.spec = { module: "mark", value: vm.value, mask: vm.mask, invert };
  },
  finish(d, env, head) {
    if (!d.spec) throw env.error(RULES_ERROR.BAD_VALUE, "the mark match needs --mark", head);
    return d.spec;
  },
};

export function saveMark(m: MarkMatch): string {
  const mask = m.mask >>> 0 === 0xffffffff ? "" : `/${hex(m.mask)}`;
  return `${m.invert ? " !" : ""} --mark ${hex(m.value)}${mask}`;
}

// ---------------------------------------------------------------- nfacct

/** NFACCT_NAME_MAX is 32 bytes including the NUL. */
const NFACCT_NAME_MAX = 31;

export const nfacctMatch: Extension<{ name?: string }, NfacctMatch> = {
  name: "nfacct",
  options: [{ name: "nfacct-name", args: 1, invertible: false }],
  init: () => ({}),
  apply(d, _opt, args, _invert, optWord, env) {
    single(d.name, optWord, env, "nfacct");
    const name = args[0]!.text;
    if (name === "" || name.length > NFACCT_NAME_MAX) throw env.error(RULES_ERROR.BAD_VALUE, `invalid nfacct name "${name}"`, args[0], `use 1 to ${NFACCT_NAME_MAX} characters`);
    d.name = ownText(name);
  },
  finish(d, env, head) {
    if (d.name === undefined) throw env.error(RULES_ERROR.BAD_VALUE, "the nfacct match needs --nfacct-name", head);
    return { module: "nfacct", name: d.name };
  },
};

export function saveNfacct(m: NfacctMatch): string {
  return ` --nfacct-name ${m.name}`;
}

// ---------------------------------------------------------------- addrtype

/** The address types past the nine the model names (RTN_THROW, RTN_NAT, RTN_XRESOLVE). */
export const ADDRTYPE_THROW = 1 << 9;
export const ADDRTYPE_NAT = 1 << 10;
export const ADDRTYPE_XRESOLVE = 1 << 11;

const ADDRTYPE_NAMES: readonly [string, number][] = [
  ["UNSPEC", ADDRTYPE_UNSPEC], ["UNICAST", ADDRTYPE_UNICAST], ["LOCAL", ADDRTYPE_LOCAL], ["BROADCAST", ADDRTYPE_BROADCAST],
  ["ANYCAST", ADDRTYPE_ANYCAST], ["MULTICAST", ADDRTYPE_MULTICAST], ["BLACKHOLE", ADDRTYPE_BLACKHOLE],
  ["UNREACHABLE", ADDRTYPE_UNREACHABLE], ["PROHIBIT", ADDRTYPE_PROHIBIT], ["THROW", ADDRTYPE_THROW], ["NAT", ADDRTYPE_NAT],
  ["XRESOLVE", ADDRTYPE_XRESOLVE],
];

export const addrtypeMatch: Extension<AddrtypeMatch, AddrtypeMatch> = {
  name: "addrtype",
  options: [
    { name: "src-type", args: 1, invertible: true },
    { name: "dst-type", args: 1, invertible: true },
    { name: "limit-iface-in", args: 0, invertible: false },
    { name: "limit-iface-out", args: 0, invertible: false },
  ],
  init: () => ({ module: "addrtype", limitIfaceIn: false, limitIfaceOut: false }),
  apply(d, opt, args, invert, optWord, env) {
    if (opt === "src-type" || opt === "dst-type") {
      const key = opt === "src-type" ? "srcType" : "dstType";
      single(d[key], optWord, env, "addrtype");
      d[key] = { types: parseNameBits(args[0]!, ADDRTYPE_NAMES, env, "address type"), invert };
    } else {
      if (d.limitIfaceIn || d.limitIfaceOut) throw env.error(RULES_ERROR.SYNTAX, "--limit-iface-in and --limit-iface-out exclude each other", optWord);
      if (opt === "limit-iface-in") d.limitIfaceIn = true;
      else d.limitIfaceOut = true;
    }
  },
  finish(d, env, head) {
    if (!d.srcType && !d.dstType) throw env.error(RULES_ERROR.BAD_VALUE, "the addrtype match needs --src-type or --dst-type", head);
    return d;
  },
};

export function saveAddrtype(m: AddrtypeMatch): string {
  let s = "";
  if (m.srcType) s += `${m.srcType.invert ? " !" : ""} --src-type ${formatNameBits(m.srcType.types, ADDRTYPE_NAMES)}`;
  if (m.dstType) s += `${m.dstType.invert ? " !" : ""} --dst-type ${formatNameBits(m.dstType.types, ADDRTYPE_NAMES)}`;
  if (m.limitIfaceIn) s += " --limit-iface-in";
  if (m.limitIfaceOut) s += " --limit-iface-out";
  return s;
}
