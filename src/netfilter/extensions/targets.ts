/** The non-NAT targets: `REJECT`, `MARK`, `LOG`, `TRACE`, `NOTRACK`, `CT` (parse and save). */
import type { RejectWith, TargetSpec } from "../model.js";
import { ownText, type Word } from "../restore-tokenize.js";
import { RULES_ERROR } from "./errors.js";
import { protoIs, type ExtEnv, type Extension, type OptionDef } from "./ext.js";
import { IPPROTO_TCP } from "./protocols.js";
import { hex, parseUint, parseValueMask, saveString } from "./values.js";

type Reject = Extract<TargetSpec, { kind: "REJECT" }>;
type Mark = Extract<TargetSpec, { kind: "MARK" }>;
type Log = Extract<TargetSpec, { kind: "LOG" }>;
type Ct = Extract<TargetSpec, { kind: "CT" }>;

function checkRawTable(env: ExtEnv, head: Word): void {
  if (env.table !== undefined && env.table !== "raw") throw env.error(RULES_ERROR.BAD_VALUE, `the ${head.text} target is only valid in the raw table`, head);
}

// ---------------------------------------------------------------- REJECT

/** Each reply type with the short alias libxt_REJECT also accepts. */
const REJECT_TYPES: readonly [RejectWith, string][] = [
  ["icmp-net-unreachable", "net-unreach"],
  ["icmp-host-unreachable", "host-unreach"],
  ["icmp-port-unreachable", "port-unreach"],
  ["icmp-proto-unreachable", "proto-unreach"],
  ["icmp-net-prohibited", "net-prohib"],
  ["icmp-host-prohibited", "host-prohib"],
  ["tcp-reset", "tcp-rst"],
  ["icmp-admin-prohibited", "admin-prohib"],
];

export const rejectTarget: Extension<{ with?: RejectWith }, Reject> = {
  name: "REJECT",
  options: [{ name: "reject-with", args: 1, invertible: false }],
  init: () => ({}),
  apply(d, _opt, args, _invert, optWord, env) {
    if (d.with) throw env.error(RULES_ERROR.SYNTAX, "multiple --reject-with options", optWord);
    const text = args[0]!.text.toLowerCase();
    const hit = REJECT_TYPES.find(([name, alias]) => name === text || alias === text);
    if (!hit) throw env.error(RULES_ERROR.BAD_VALUE, `unknown reject type "${args[0]!.text}"`, args[0], `use one of: ${REJECT_TYPES.map(([n]) => n).join(", ")}`);
    d.with = hit[0];
  },
  finish(d, env, head) {
    const w = d.with ?? "icmp-port-unreachable";
    if (w === "tcp-reset" && !protoIs(env, IPPROTO_TCP)) throw env.error(RULES_ERROR.BAD_VALUE, "REJECT --reject-with tcp-reset needs -p tcp", head);
    return { kind: "REJECT", with: w };
  },
};

export function saveReject(t: Reject): string {
  return ` --reject-with ${t.with}`;
}

// ---------------------------------------------------------------- MARK

type MarkForm = Mark["written"];

export const markTarget: Extension<{ spec?: Mark }, Mark> = {
  name: "MARK",
  options: [
    { name: "set-xmark", args: 1, invertible: false },
    { name: "set-mark", args: 1, invertible: false },
    { name: "and-mark", args: 1, invertible: false },
    { name: "or-mark", args: 1, invertible: false },
    { name: "xor-mark", args: 1, invertible: false },
  ],
  init: () => ({}),
  apply(d, opt, args, _invert, optWord, env) {
    if (d.spec) throw env.error(RULES_ERROR.SYNTAX, "MARK takes only one of --set-xmark, --set-mark, --and-mark, --or-mark, --xor-mark", optWord);
    const arg = args[0]!;
    const form = opt as MarkForm;
    const masked = form === "set-xmark" || form === "set-mark";
    const vm = masked ? parseValueMask(arg.text) : (() => {
      const v = parseUint(arg.text);
      return v === null ? null : { value: v, mask: 0xffffffff };
    })();
    if (!vm) throw env.error(RULES_ERROR.BAD_VALUE, `invalid mark "${arg.text}"`, arg, masked ? "use VALUE or VALUE/MASK" : "use a number (decimal or 0x hex)");
    // The kernel applies mark = (mark & ~mask) ^ value; every form is stored that way (xt_MARK).
    let value = vm.value;
    let mask = vm.mask;
    if (form === "set-mark") mask = vm.value | vm.mask; // clear MASK, then OR VALUE in
    else if (form === "and-mark") [value, mask] = [0, ~vm.value >>> 0];
    else if (form === "or-mark") [value, mask] = [vm.value, vm.value];
    else if (form === "xor-mark") [value, mask] = [vm.value, 0];
    d.spec = { kind: "MARK", value: value >>> 0, mask: mask >>> 0, written: form };
  },
  finish(d, env, head) {
    if (!d.spec) throw env.error(RULES_ERROR.BAD_VALUE, "MARK needs one of --set-xmark, --set-mark, --and-mark, --or-mark, --xor-mark", head);
    return d.spec;
  },
};

/** iptables-save prints every MARK form as the kernel holds it: `--set-xmark VALUE/MASK`. */
export function saveMarkTarget(t: Mark): string {
  return ` --set-xmark ${hex(t.value)}/${hex(t.mask)}`;
}

// ---------------------------------------------------------------- LOG

const LOG_LEVELS: readonly [string, number][] = [
  ["emerg", 0], ["panic", 0], ["alert", 1], ["crit", 2], ["error", 3], ["err", 3],
  ["warning", 4], ["warn", 4], ["notice", 5], ["info", 6], ["debug", 7],
];
/** LOG's flags in the order libxt_LOG prints them. */
const LOG_FLAGS = ["log-tcp-sequence", "log-tcp-options", "log-ip-options", "log-uid", "log-macdecode"] as const;
const LOG_DEFAULT_LEVEL = 4;
const LOG_PREFIX_MAX = 29;

interface LogDraft {
  prefix?: string;
  level?: number;
  flags: Set<string>;
}

export const logTarget: Extension<LogDraft, Log> = {
  name: "LOG",
  options: [
    { name: "log-level", args: 1, invertible: false },
    { name: "log-prefix", args: 1, invertible: false },
    ...LOG_FLAGS.map((name): OptionDef => ({ name, args: 0, invertible: false })),
  ],
  init: () => ({ flags: new Set() }),
  apply(d, opt, args, _invert, optWord, env) {
    const arg = args[0];
    if (opt === "log-level") {
      if (d.level !== undefined) throw env.error(RULES_ERROR.SYNTAX, "multiple --log-level options", optWord);
      const named = LOG_LEVELS.find(([n]) => n === arg!.text.toLowerCase());
      const level = named ? named[1] : parseUint(arg!.text, 7);
      if (level === null) throw env.error(RULES_ERROR.BAD_VALUE, `invalid log level "${arg!.text}"`, arg, "use 0-7 or a syslog level name such as warning");
      d.level = level;
    } else if (opt === "log-prefix") {
      if (d.prefix !== undefined) throw env.error(RULES_ERROR.SYNTAX, "multiple --log-prefix options", optWord);
      if (arg!.text === "" || arg!.text.length > LOG_PREFIX_MAX) throw env.error(RULES_ERROR.BAD_VALUE, `log prefix must be 1 to ${LOG_PREFIX_MAX} characters`, arg);
      d.prefix = ownText(arg!.text);
    } else {
      d.flags.add(opt);
    }
  },
  finish(d) {
    return { kind: "LOG", prefix: d.prefix ?? null, level: d.level ?? null, options: LOG_FLAGS.filter((f) => d.flags.has(f)).map((f) => `--${f}`) };
  },
};

export function saveLog(t: Log): string {
  let s = t.prefix !== null ? ` --log-prefix ${saveString(t.prefix)}` : "";
  if (t.level !== null && t.level !== LOG_DEFAULT_LEVEL) s += ` --log-level ${t.level}`;
  for (const o of t.options) s += ` ${o}`;
  return s;
}

// ---------------------------------------------------------------- TRACE, NOTRACK

export const traceTarget: Extension<object, TargetSpec> = {
  name: "TRACE",
  options: [],
  init: () => ({}),
  apply() {},
  finish(_d, env, head) {
    checkRawTable(env, head);
    return { kind: "TRACE" };
  },
};

export const notrackTarget: Extension<object, TargetSpec> = {
  name: "NOTRACK",
  options: [],
  init: () => ({}),
  apply() {},
  finish(_d, env, head) {
    checkRawTable(env, head);
    return { kind: "NOTRACK" };
  },
};

// ---------------------------------------------------------------- CT

/** CT's valued options in the order libxt_CT prints them. */
const CT_VALUED = ["helper", "timeout", "ctevents", "expevents", "zone-orig", "zone-reply", "zone"] as const;

interface CtDraft {
  notrack: boolean;
  values: Map<string, string>;
}

export const ctTarget: Extension<CtDraft, Ct> = {
  name: "CT",
  options: [
    { name: "notrack", args: 0, invertible: false },
    ...CT_VALUED.map((name): OptionDef => ({ name, args: 1, invertible: false })),
  ],
  init: () => ({ notrack: false, values: new Map() }),
  apply(d, opt, args, _invert, optWord, env) {
    if (opt === "notrack") {
      d.notrack = true;
      return;
    }
    if (d.values.has(opt)) throw env.error(RULES_ERROR.SYNTAX, `multiple --${opt} options`, optWord);
    const text = args[0]!.text;
    if (opt.startsWith("zone") && parseUint(text, 0xffff) === null) throw env.error(RULES_ERROR.BAD_VALUE, `invalid zone "${text}"`, args[0], "use 0-65535");
    d.values.set(opt, ownText(text));
  },
  finish(d, env, head) {
    checkRawTable(env, head);
    const options: string[] = [];
    for (const name of CT_VALUED) {
      const v = d.values.get(name);
      if (v !== undefined) options.push(`--${name}`, v);
    }
    return { kind: "CT", notrack: d.notrack, options };
  },
};

export function saveCt(t: Ct): string {
  return (t.notrack ? " --notrack" : "") + t.options.map((o) => ` ${o}`).join("");
}
