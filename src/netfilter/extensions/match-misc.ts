/** The `recent`, `set` and `physdev` matches (parse and save). */
import { formatIpv4, parseIpv4 } from "../../base/ipv4-int.js";
import type { IfaceMatch, PhysdevMatch, RecentMatch, SetMatch } from "../model.js";
import { ownText, type Word } from "../restore-tokenize.js";
import { RULES_ERROR } from "./errors.js";
import type { ExtEnv, Extension } from "./ext.js";
import { parseUint, splitList } from "./values.js";

// ---------------------------------------------------------------- recent

/** XT_RECENT_NAME_LEN is 200 bytes including the NUL. */
const RECENT_NAME_MAX = 199;

interface RecentDraft {
  mode?: RecentMatch["mode"];
  invert: boolean;
  name?: string;
  seconds?: number;
  hitcount?: number;
  reap: boolean;
  rttl: boolean;
  side?: RecentMatch["side"];
  mask?: number;
}

export const recentMatch: Extension<RecentDraft, RecentMatch> = {
  name: "recent",
  options: [
    { name: "set", args: 0, invertible: true },
    { name: "rcheck", args: 0, invertible: true },
    { name: "update", args: 0, invertible: true },
    { name: "remove", args: 0, invertible: true },
    { name: "seconds", args: 1, invertible: false },
    { name: "reap", args: 0, invertible: false },
    { name: "hitcount", args: 1, invertible: false },
    { name: "rttl", args: 0, invertible: false },
    { name: "name", args: 1, invertible: false },
    { name: "mask", args: 1, invertible: false },
    { name: "rsource", args: 0, invertible: false },
    { name: "rdest", args: 0, invertible: false },
  ],
  init: () => ({ invert: false, reap: false, rttl: false }),
  apply(d, opt, args, invert, optWord, env) {
    const arg = args[0];
    switch (opt) {
      case "set":
      case "rcheck":
      case "update":
      case "remove":
        if (d.mode) throw env.error(RULES_ERROR.SYNTAX, "a recent match takes only one of --set, --rcheck, --update, --remove", optWord);
        d.mode = opt;
        d.invert = invert;
        return;
      case "seconds":
      case "hitcount": {
        const n = parseUint(arg!.text);
        if (n === null || n === 0) throw env.error(RULES_ERROR.BAD_VALUE, `invalid --${opt} value "${arg!.text}"`, arg, "use a whole number of at least 1");
        d[opt] = n;
        return;
      }
      case "reap":
      case "rttl":
        d[opt] = true;
        return;
      case "name":
        if (arg!.text === "" || arg!.text.length > RECENT_NAME_MAX) throw env.error(RULES_ERROR.BAD_VALUE, `invalid recent list name "${arg!.text}"`, arg);
        d.name = ownText(arg!.text);
        return;
      case "mask": {
        const m = parseIpv4(arg!.text);
        if (m < 0) throw env.error(RULES_ERROR.BAD_VALUE, `invalid --mask "${arg!.text}"`, arg, "use a dotted IPv4 netmask such as 255.255.255.0");
        d.mask = m;
        return;
      }
      default:
        d.side = opt === "rsource" ? "source" : "dest";
    }
  },
  finish(d, env, head) {
    if (!d.mode) throw env.error(RULES_ERROR.BAD_VALUE, "the recent match needs one of --set, --rcheck, --update, --remove", head);
    if (d.reap && d.seconds === undefined) throw env.error(RULES_ERROR.BAD_VALUE, "recent --reap needs --seconds", head);
    if ((d.mode === "set" || d.mode === "remove") && (d.seconds !== undefined || d.hitcount !== undefined || d.reap || d.rttl)) {
      throw env.error(RULES_ERROR.BAD_VALUE, "--seconds, --hitcount, --reap and --rttl only go with --rcheck or --update", head);
    }
    return {
      module: "recent", mode: d.mode, name: d.name ?? "DEFAULT", seconds: d.seconds ?? 0, hitcount: d.hitcount ?? 0,
      reap: d.reap, rttl: d.rttl, side: d.side ?? "source", mask: d.mask ?? 0xffffffff, invert: d.invert,
    };
  },
};

export function saveRecent(m: RecentMatch): string {
  let s = `${m.invert ? " !" : ""} --${m.mode}`;
  if (m.seconds) s += ` --seconds ${m.seconds}`;
  if (m.reap) s += " --reap";
  if (m.hitcount) s += ` --hitcount ${m.hitcount}`;
  if (m.rttl) s += " --rttl";
  s += ` --name ${m.name} --mask ${formatIpv4(m.mask >>> 0)}`;
  s += m.side === "source" ? " --rsource" : " --rdest";
  return s;
}

// ---------------------------------------------------------------- set

/** IPSET_MAXNAMELEN is 32 bytes including the NUL; a set has at most 6 dimensions. */
const SET_NAME_MAX = 31;
const SET_DIM_MAX = 6;

interface SetDraft {
  setName?: string;
  flags: ("src" | "dst")[];
  invert: boolean;
  returnNomatch: boolean;
  skipCounters: boolean;
  skipSubcounters: boolean;
}

export const setMatch: Extension<SetDraft, SetMatch> = {
  name: "set",
  options: [
    { name: "match-set", aliases: ["set"], args: 2, invertible: true },
    { name: "return-nomatch", args: 0, invertible: false },
    { name: "update-counters", args: 0, invertible: true },
    { name: "update-subcounters", args: 0, invertible: true },
  ],
  init: () => ({ flags: [], invert: false, returnNomatch: false, skipCounters: false, skipSubcounters: false }),
  apply(d, opt, args, invert, optWord, env) {
    if (opt === "match-set") {
      if (d.setName !== undefined) throw env.error(RULES_ERROR.SYNTAX, "multiple --match-set options in one set match", optWord);
      const [name, dirs] = [args[0]!, args[1]!];
      if (name.text === "" || name.text.length > SET_NAME_MAX) throw env.error(RULES_ERROR.BAD_VALUE, `invalid set name "${name.text}"`, name, `use 1 to ${SET_NAME_MAX} characters`);
      const items = splitList(dirs.text);
      if (!items || items.length > SET_DIM_MAX || items.some((f) => f !== "src" && f !== "dst")) {
        throw env.error(RULES_ERROR.BAD_VALUE, `invalid set flags "${dirs.text}"`, dirs, `use 1 to ${SET_DIM_MAX} of src/dst separated by commas, e.g. dst,dst`);
      }
      d.setName = ownText(name.text);
      d.flags = items as ("src" | "dst")[];
      d.invert = invert;
    } else if (opt === "return-nomatch") {
      d.returnNomatch = true;
    } else if (opt === "update-counters") {
      d.skipCounters = invert;
    } else {
      d.skipSubcounters = invert;
    }
  },
  finish(d, env, head) {
    if (d.setName === undefined) throw env.error(RULES_ERROR.BAD_VALUE, "the set match needs --match-set NAME FLAGS", head);
    const extra: string[] = [];
    if (d.returnNomatch) extra.push("--return-nomatch");
    if (d.skipCounters) extra.push("! --update-counters");
    if (d.skipSubcounters) extra.push("! --update-subcounters");
    return { module: "set", setName: d.setName, flags: d.flags, invert: d.invert, extra };
  },
};

export function saveSet(m: SetMatch): string {
  const extra = m.extra.map((e) => ` ${e}`).join("");
  return `${m.invert ? " !" : ""} --match-set ${m.setName} ${m.flags.join(",")}${extra}`;
}

// ---------------------------------------------------------------- physdev

/** IFNAMSIZ is 16 bytes including the NUL. */
export const IFACE_NAME_MAX = 15;

/** Parses an interface name with an optional trailing `+` wildcard. */
export function parseIface(word: Word, invert: boolean, env: ExtEnv): IfaceMatch {
  const name = ownText(word.text);
  if (name === "") throw env.error(RULES_ERROR.BAD_VALUE, "empty interface name", word);
  if (name.length > IFACE_NAME_MAX) throw env.error(RULES_ERROR.BAD_VALUE, `interface name "${name}" is longer than ${IFACE_NAME_MAX} characters`, word);
  const wildcard = name.endsWith("+");
  return { name, prefix: wildcard ? name.slice(0, -1) : name, wildcard, invert };
}

export const physdevMatch: Extension<PhysdevMatch, PhysdevMatch> = {
  name: "physdev",
  options: [
    { name: "physdev-in", args: 1, invertible: true },
    { name: "physdev-out", args: 1, invertible: true },
    { name: "physdev-is-in", args: 0, invertible: true },
    { name: "physdev-is-out", args: 0, invertible: true },
    { name: "physdev-is-bridged", args: 0, invertible: true },
  ],
  init: () => ({ module: "physdev" }),
  apply(d, opt, args, invert, optWord, env) {
    const keys: Record<string, "physdevIn" | "physdevOut" | "isIn" | "isOut" | "isBridged"> = {
      "physdev-in": "physdevIn", "physdev-out": "physdevOut", "physdev-is-in": "isIn", "physdev-is-out": "isOut", "physdev-is-bridged": "isBridged",
    };
    const key = keys[opt]!;
    if (d[key] !== undefined) throw env.error(RULES_ERROR.SYNTAX, `multiple --${opt} options in one physdev match`, optWord);
    if (key === "physdevIn" || key === "physdevOut") d[key] = parseIface(args[0]!, invert, env);
    else d[key] = { invert };
  },
  finish(d, env, head) {
    if (!d.isIn && !d.isOut && !d.isBridged && !d.physdevIn && !d.physdevOut) {
      throw env.error(RULES_ERROR.BAD_VALUE, "the physdev match needs at least one --physdev-* option", head);
    }
    return d;
  },
};

/** libxt_physdev's order: is-in, in, is-out, out, is-bridged. */
export function savePhysdev(m: PhysdevMatch): string {
  const flag = (f: { invert: boolean } | undefined, name: string): string => (f ? `${f.invert ? " !" : ""} --${name}` : "");
  const dev = (f: IfaceMatch | undefined, name: string): string => (f ? `${f.invert ? " !" : ""} --${name} ${f.name}` : "");
  return flag(m.isIn, "physdev-is-in") + dev(m.physdevIn, "physdev-in") + flag(m.isOut, "physdev-is-out") + dev(m.physdevOut, "physdev-out") + flag(m.isBridged, "physdev-is-bridged");
}
