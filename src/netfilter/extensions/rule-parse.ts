/**
 * Parses the words of one rule (what follows `-A CHAIN`) into a model `Rule`, the way
 * iptables' option loop does: generic options (`-s -d -i -o -p -f -m -j -g -c`), each
 * optionally preceded by `!`; every other `--option` goes to the most recently loaded
 * extension that knows it; `-p tcp|udp|icmp` followed by an option no loaded extension
 * knows loads that protocol's match implicitly, once. Nothing unknown is ever skipped.
 */
import { parseIpv4, prefixMask } from "../../base/ipv4-int.js";
import { internRule } from "../intern.js";
import type { AddrMatch, Counters, MatchSpec, ProtoMatch, Rule, TableName, TargetSpec } from "../model.js";
import type { Word } from "../restore-tokenize.js";
import { RULES_ERROR, rulesError, type RulesErrorCode } from "./errors.js";
import { findOption, optionList, type ExtEnv, type OptionDef } from "./ext.js";
import { parseIface } from "./match-misc.js";
import { IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, parseProtocol } from "./protocols.js";
import {
  MATCH_EXTENSIONS, TARGET_EXTENSIONS, UNSUPPORTED_TARGETS, VERDICTS, supportedMatchNames, supportedTargetNames,
  type AnyMatchExtension, type AnyTargetExtension,
} from "./registry.js";

export interface RuleParseOptions {
  file?: string;
  line?: number;
  /** The table the rule goes to, for target/table checks (DNAT only in nat, …). */
  table?: TableName;
}

/** A parsed rule and the word of its jump/goto target, so later errors can point at it. */
export interface ParsedRule {
  rule: Rule;
  targetWord: Word | undefined;
}

type Generic = "s" | "d" | "i" | "o" | "p" | "f" | "m" | "j" | "g" | "c";

/** The generic option a word names, if any (a switch: words are checked by the million). */
function genericOf(text: string): Generic | undefined {
  if (text.charCodeAt(0) !== 45 /* - */) return undefined;
  switch (text) {
    case "-s": case "--source": case "--src": return "s";
    case "-d": case "--destination": case "--dst": return "d";
    case "-i": case "--in-interface": return "i";
    case "-o": case "--out-interface": return "o";
    case "-p": case "--protocol": return "p";
    case "-f": case "--fragment": return "f";
    case "-m": case "--match": return "m";
    case "-j": case "--jump": return "j";
    case "-g": case "--goto": return "g";
    case "-c": case "--set-counters": return "c";
    default: return undefined;
  }
}

/** One bit per generic option, for "given twice" checks. */
const GENERIC_BIT: Readonly<Record<Generic, number>> = { s: 1, d: 2, i: 4, o: 8, p: 16, f: 32, m: 64, j: 128, g: 128, c: 256 };

const GENERIC_INVERTIBLE = new Set<Generic>(["s", "d", "i", "o", "p", "f"]);

interface Loaded {
  kind: "match" | "target";
  ext: AnyMatchExtension | AnyTargetExtension;
  draft: unknown;
  head: Word;
}

/** Parses `words[from…to)` (all of them by default). */
export function parseRuleWords(words: readonly Word[], opts: RuleParseOptions = {}, from = 0, to = words.length): ParsedRule {
  const file = opts.file ?? "<rules>";
  const error = (code: RulesErrorCode, detail: string, word: Word | undefined, hint?: string): ReturnType<typeof rulesError> =>
    rulesError(code, detail, { file, line: opts.line, column: word?.column }, hint);

  const rule: Rule = { matches: [], target: { kind: "NONE" }, counters: { packets: 0, bytes: 0 } };
  if (opts.line !== undefined) rule.source = { line: opts.line };
  const loaded: Loaded[] = [];
  const matchOrder: Loaded[] = [];
  let target: Loaded | undefined;
  let targetWord: Word | undefined;
  let protoUsed = false;
  let pendingBang: Word | undefined;
  let seenGeneric = 0;

  const env: { table: TableName | undefined; proto: ProtoMatch | undefined; error: ExtEnv["error"] } = {
    table: opts.table,
    proto: undefined,
    error,
  };

  let i = from;
  /** Takes the next `n` words as arguments of `optWord`, refusing a stray `!`. */
  const takeArgs = (optWord: Word, n: number, inline: Word | undefined): Word[] => {
    const args: Word[] = [];
    if (inline) args.push(inline);
    while (args.length < n) {
      const w = i < to ? words[i] : undefined;
      if (w === undefined) throw error(RULES_ERROR.SYNTAX, `option ${optWord.text} needs ${n === 1 ? "an argument" : `${n} arguments`}`, optWord);
      if (w.text === "!" && !w.quoted) {
        throw error(RULES_ERROR.SYNTAX, `"!" after ${optWord.text} is not supported`, w, `put "!" before the option: ! ${optWord.text} …`);
      }
      args.push(w);
      i++;
    }
    return args;
  };

  const loadMatch = (ext: AnyMatchExtension, head: Word): Loaded => {
    const entry: Loaded = { kind: "match", ext, draft: ext.init(), head };
    loaded.push(entry);
    matchOrder.push(entry);
    return entry;
  };

  const applyExtOption = (entry: Loaded, def: OptionDef, optWord: Word, inline: Word | undefined): void => {
    const invert = pendingBang !== undefined;
    if (invert && !def.invertible) {
      throw error(RULES_ERROR.SYNTAX, `"!" cannot be used before --${def.name}`, pendingBang, `--${def.name} of ${entry.ext.name} cannot be negated`);
    }
    if (inline && def.args !== 1) throw error(RULES_ERROR.SYNTAX, `option --${def.name} takes ${def.args} arguments, not "=value"`, optWord);
    pendingBang = undefined;
    const args = takeArgs(optWord, def.args, inline);
    entry.ext.apply(entry.draft, def.name, args, invert, optWord, env);
  };

  while (i < to) {
    const w = words[i++]!;
    if (w.text === "!" && !w.quoted) {
      if (pendingBang) throw error(RULES_ERROR.SYNTAX, 'multiple "!" in a row', w);
      pendingBang = w;
      continue;
    }
    const generic = w.quoted ? undefined : genericOf(w.text);
    if (generic) {
      const invert = pendingBang !== undefined;
      if (invert && !GENERIC_INVERTIBLE.has(generic)) {
        throw error(RULES_ERROR.SYNTAX, `"!" cannot be used before ${w.text}`, pendingBang, "negate an option of the extension instead, e.g. -m conntrack ! --ctstate NEW");
      }
      pendingBang = undefined;
      const bit = GENERIC_BIT[generic];
      if (generic !== "m" && (seenGeneric & bit) !== 0) {
        throw error(RULES_ERROR.SYNTAX, `multiple ${generic === "j" || generic === "g" ? "-j/-g" : w.text} options in one rule`, w);
      }
      seenGeneric |= bit;
      switch (generic) {
        case "s":
        case "d": {
          const a = parseAddress(takeArgs(w, 1, undefined)[0]!, invert, error);
          if (generic === "s") rule.src = a;
          else rule.dst = a;
          break;
        }
        case "i":
        case "o": {
          const f = parseIface(takeArgs(w, 1, undefined)[0]!, invert, env);
          if (generic === "i") rule.inIface = f;
          else rule.outIface = f;
          break;
        }
        case "p": {
          const arg = takeArgs(w, 1, undefined)[0]!;
          const proto = parseProtocol(arg.text);
          if (proto === null) throw error(RULES_ERROR.BAD_VALUE, `unknown protocol "${arg.text}"`, arg, "use a name such as tcp, udp, icmp, sctp, all, or a number 0-255");
          if (proto === 0 && invert) throw error(RULES_ERROR.BAD_VALUE, '"! -p all" matches nothing', arg);
          if (proto !== 0) rule.proto = { proto, name: arg.text.toLowerCase(), invert };
          env.proto = rule.proto;
          break;
        }
        case "f":
          rule.fragment = { invert };
          break;
        case "m": {
          const arg = takeArgs(w, 1, undefined)[0]!;
          const ext = MATCH_EXTENSIONS.get(arg.text);
          if (!ext) throw error(RULES_ERROR.UNKNOWN_MATCH, `unknown match "${arg.text}"`, arg, `podwire supports: ${supportedMatchNames()}`);
          loadMatch(ext, arg);
          break;
        }
        case "j":
        case "g": {
          const arg = takeArgs(w, 1, undefined)[0]!;
          targetWord = arg;
          target = undefined;
          rule.target = parseTargetName(arg, generic === "g", error);
          const ext = generic === "j" ? TARGET_EXTENSIONS.get(arg.text) : undefined;
          if (ext) {
            target = { kind: "target", ext, draft: ext.init(), head: arg };
            loaded.push(target);
          }
          break;
        }
        case "c": {
          const [p, b] = takeArgs(w, 2, undefined);
          rule.counters = parseCounterPair(p!, b!, error);
          break;
        }
      }
      continue;
    }
    if (!w.quoted && w.text.startsWith("-") && w.text.length > 1) {
      let name = w.text.startsWith("--") ? w.text.slice(2) : w.text.slice(1);
      let inline: Word | undefined;
      const eq = name.indexOf("=");
      if (w.text.startsWith("--") && eq > 0) {
        inline = { text: name.slice(eq + 1), column: w.column + 3 + eq, quoted: false };
        name = name.slice(0, eq);
      }
      let hit = w.text.startsWith("--") ? findInLoaded(loaded, name) : undefined;
      if (!hit && w.text.startsWith("--") && rule.proto && !protoUsed) {
        // iptables loads the protocol's match the first time one of its options appears.
        const implicit = MATCH_EXTENSIONS.get(protoImplicitName(rule.proto.proto));
        if (implicit && !matchOrder.some((m) => m.ext === implicit)) {
          protoUsed = true;
          const entry = loadMatch(implicit, w);
          const def = findOption(implicit.options, name);
          if (def) hit = { entry, def };
        }
      }
      if (!hit) throw unknownOption(w, loaded, rule.proto, error);
      applyExtOption(hit.entry, hit.def, w, inline);
      continue;
    }
    throw error(RULES_ERROR.SYNTAX, `unexpected argument "${w.text}"`, w, "every value must follow an option; quote text that contains spaces");
  }
  if (pendingBang) throw error(RULES_ERROR.SYNTAX, '"!" is not followed by an option', pendingBang);

  env.proto = rule.proto;
  rule.matches = matchOrder.map((m): MatchSpec => (m.ext as AnyMatchExtension).finish(m.draft, env, m.head));
  if (target) rule.target = (target.ext as AnyTargetExtension).finish(target.draft, env, target.head);
  return { rule: internRule(rule), targetWord: rule.target.kind === "jump" || rule.target.kind === "goto" ? targetWord : undefined };
}

function protoImplicitName(proto: number): string {
  return proto === IPPROTO_TCP ? "tcp" : proto === IPPROTO_UDP ? "udp" : proto === IPPROTO_SCTP ? "sctp" : proto === IPPROTO_ICMP ? "icmp" : "";
}

function findInLoaded(loaded: readonly Loaded[], name: string): { entry: Loaded; def: OptionDef } | undefined {
  for (let k = loaded.length - 1; k >= 0; k--) {
    const def = findOption(loaded[k]!.ext.options, name);
    if (def) return { entry: loaded[k]!, def };
  }
  return undefined;
}

type ErrorFn = (code: RulesErrorCode, detail: string, word: Word | undefined, hint?: string) => Error;

function unknownOption(w: Word, loaded: readonly Loaded[], proto: ProtoMatch | undefined, error: ErrorFn): Error {
  const known = loaded.map((l) => `${l.ext.name}: ${optionList(l.ext.options) || "(no options)"}`).join("; ");
  let hint = known ? `options of the loaded extensions are ${known}` : "load the extension that owns it first, e.g. -m tcp --dport 80";
  if (!proto && /^--(dport|sport|syn|tcp-flags|icmp-type)/.test(w.text)) hint = `${w.text} needs -p tcp/udp/icmp (or -m tcp/udp/icmp) before it`;
  return error(RULES_ERROR.UNKNOWN_OPTION, `unknown option "${w.text}"`, w, hint);
}

function parseTargetName(arg: Word, isGoto: boolean, error: ErrorFn): TargetSpec {
  const name = arg.text;
  if (name === "" || /\s/.test(name)) throw error(RULES_ERROR.BAD_VALUE, `invalid target name "${name}"`, arg);
  if (isGoto) {
    if ((VERDICTS as readonly string[]).includes(name) || TARGET_EXTENSIONS.has(name) || UNSUPPORTED_TARGETS.has(name)) {
      throw error(RULES_ERROR.BAD_VALUE, `-g needs a user-defined chain, not the target ${name}`, arg, `use -j ${name}`);
    }
    return { kind: "goto", chain: name };
  }
  if (name === "ACCEPT" || name === "DROP" || name === "RETURN") return { kind: name };
  if (UNSUPPORTED_TARGETS.has(name)) {
    throw error(RULES_ERROR.UNKNOWN_TARGET, `unknown target "${name}"`, arg, `podwire supports: ${supportedTargetNames()}, and jumps to user-defined chains`);
  }
  // Extension targets get their spec from `finish`; anything else names a chain, checked when applied.
  return TARGET_EXTENSIONS.has(name) ? { kind: "NONE" } : { kind: "jump", chain: name };
}

/** `a.b.c.d`, `a.b.c.d/len` or `a.b.c.d/m.m.m.m` (contiguous masks only); host bits are cleared as iptables does. */
export function parseAddress(arg: Word, invert: boolean, error: ErrorFn): AddrMatch {
  const text = arg.text;
  if (text.includes(",")) throw error(RULES_ERROR.BAD_VALUE, `address lists ("${text}") are not supported`, arg, "write one rule per address");
  const slash = text.indexOf("/");
  const ipText = slash < 0 ? text : text.slice(0, slash);
  const ip = parseIpv4(ipText);
  if (ip < 0) {
    const looksNumeric = /^[0-9.]*$/.test(ipText);
    throw error(RULES_ERROR.BAD_VALUE, looksNumeric ? `invalid IPv4 address "${ipText}"` : `"${ipText}" is not an IPv4 address`, arg,
      looksNumeric ? "use a.b.c.d or a.b.c.d/len" : "podwire does not resolve host names; write the address");
  }
  let prefixLen = 32;
  if (slash >= 0) {
    const maskText = text.slice(slash + 1);
    if (/^[0-9]{1,2}$/.test(maskText) && Number(maskText) <= 32) {
      prefixLen = Number(maskText);
    } else {
      const m = parseIpv4(maskText);
      const len = m < 0 ? -1 : contiguousPrefix(m);
      if (len < 0) throw error(RULES_ERROR.BAD_VALUE, `invalid netmask "${maskText}"`, arg, "use a prefix length 0-32 or a contiguous dotted mask");
      prefixLen = len;
    }
  }
  const mask = prefixMask(prefixLen);
  return { net: (ip & mask) >>> 0, mask, prefixLen, invert };
}

function contiguousPrefix(mask: number): number {
  for (let len = 0; len <= 32; len++) if (prefixMask(len) === mask >>> 0) return len;
  return -1;
}

function parseCounterPair(p: Word, b: Word, error: ErrorFn): Counters {
  const num = (w: Word): number => {
    if (!/^[0-9]+$/.test(w.text) || !Number.isSafeInteger(Number(w.text))) throw error(RULES_ERROR.BAD_VALUE, `invalid counter "${w.text}"`, w, "use a whole number");
    return Number(w.text);
  };
  return { packets: num(p), bytes: num(b) };
}
