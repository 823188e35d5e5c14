/** The NAT targets `DNAT`, `SNAT` and `MASQUERADE` (parse and save). */
import { formatIpv4, parseIpv4 } from "../../base/ipv4-int.js";
import type { NatRange, PortRange, TargetSpec } from "../model.js";
import type { Word } from "../restore-tokenize.js";
import { RULES_ERROR } from "./errors.js";
import type { ExtEnv, Extension } from "./ext.js";
import { hasPorts } from "./protocols.js";
import { parsePort } from "./values.js";

type Dnat = Extract<TargetSpec, { kind: "DNAT" }>;
type Snat = Extract<TargetSpec, { kind: "SNAT" }>;
type Masquerade = Extract<TargetSpec, { kind: "MASQUERADE" }>;

/** `a[-b]` ports for NAT (a dash, unlike the matches' colon). */
function parseNatPorts(text: string): PortRange | null {
  const dash = text.indexOf("-");
  const lo = parsePort(dash < 0 ? text : text.slice(0, dash));
  const hi = dash < 0 ? lo : parsePort(text.slice(dash + 1));
  if (lo === null || hi === null || lo > hi) return null;
  return { min: lo, max: hi };
}

/** `ip[-ip][:port[-port]]`; either half may be missing but not both. */
function parseNatRange(word: Word, env: ExtEnv): NatRange {
  const bad = (why: string): Error =>
    env.error(RULES_ERROR.BAD_VALUE, `invalid NAT range "${word.text}": ${why}`, word, "use IP[-IP][:PORT[-PORT]], e.g. 10.180.0.1:80");
  const colon = word.text.indexOf(":");
  const ipText = colon < 0 ? word.text : word.text.slice(0, colon);
  const range: NatRange = { minIp: 0, maxIp: 0, minPort: 0, maxPort: 0 };
  if (ipText !== "") {
    const dash = ipText.indexOf("-");
    const lo = parseIpv4(dash < 0 ? ipText : ipText.slice(0, dash));
    const hi = dash < 0 ? lo : parseIpv4(ipText.slice(dash + 1));
    if (lo < 0 || hi < 0) throw bad("not an IPv4 address (host names are not resolved)");
    if (hi < lo) throw bad("the range ends below its start");
    range.minIp = lo;
    range.maxIp = hi;
  }
  if (colon >= 0) {
    const ports = parseNatPorts(word.text.slice(colon + 1));
    if (!ports) throw bad("bad port or port range");
    range.minPort = ports.min;
    range.maxPort = ports.max;
  } else if (ipText === "") {
    throw bad("empty");
  }
  return range;
}

function checkPortsNeedProto(env: ExtEnv, head: Word, hasPortSpec: boolean): void {
  if (hasPortSpec && (!env.proto || env.proto.invert || !hasPorts(env.proto.proto))) {
    throw env.error(RULES_ERROR.BAD_VALUE, `${head.text} with a port needs -p tcp, udp, sctp, dccp or udplite`, head);
  }
}

function checkNatTable(env: ExtEnv, head: Word): void {
  if (env.table !== undefined && env.table !== "nat") {
    throw env.error(RULES_ERROR.BAD_VALUE, `the ${head.text} target is only valid in the nat table`, head);
  }
}

function once(present: boolean, optWord: Word, env: ExtEnv): void {
  if (present) throw env.error(RULES_ERROR.SYNTAX, `multiple ${optWord.text} options`, optWord);
}

interface NatDraft {
  range?: NatRange;
  random: boolean;
  randomFully: boolean;
  persistent: boolean;
}

function natDraft(): NatDraft {
  return { random: false, randomFully: false, persistent: false };
}

function applyNatFlag(d: NatDraft, opt: string): void {
  if (opt === "random") d.random = true;
  else if (opt === "random-fully") d.randomFully = true;
  else d.persistent = true;
}

export const dnatTarget: Extension<NatDraft, Dnat> = {
  name: "DNAT",
  options: [
    { name: "to-destination", args: 1, invertible: false },
    { name: "random", args: 0, invertible: false },
    { name: "persistent", args: 0, invertible: false },
  ],
  init: natDraft,
  apply(d, opt, args, _invert, optWord, env) {
    if (opt === "to-destination") {
      once(d.range !== undefined, optWord, env);
      d.range = parseNatRange(args[0]!, env);
    } else applyNatFlag(d, opt);
  },
  finish(d, env, head) {
    checkNatTable(env, head);
    if (!d.range) throw env.error(RULES_ERROR.BAD_VALUE, "DNAT needs --to-destination", head);
    checkPortsNeedProto(env, head, d.range.minPort !== 0 || d.range.maxPort !== 0);
    return { kind: "DNAT", range: d.range, random: d.random, persistent: d.persistent };
  },
};

export const snatTarget: Extension<NatDraft, Snat> = {
  name: "SNAT",
  options: [
    { name: "to-source", args: 1, invertible: false },
    { name: "random", args: 0, invertible: false },
    { name: "random-fully", args: 0, invertible: false },
    { name: "persistent", args: 0, invertible: false },
  ],
  init: natDraft,
  apply(d, opt, args, _invert, optWord, env) {
    if (opt === "to-source") {
      once(d.range !== undefined, optWord, env);
      d.range = parseNatRange(args[0]!, env);
    } else applyNatFlag(d, opt);
  },
  finish(d, env, head) {
    checkNatTable(env, head);
    if (!d.range) throw env.error(RULES_ERROR.BAD_VALUE, "SNAT needs --to-source", head);
    checkPortsNeedProto(env, head, d.range.minPort !== 0 || d.range.maxPort !== 0);
    return { kind: "SNAT", range: d.range, random: d.random, randomFully: d.randomFully, persistent: d.persistent };
  },
};

interface MasqDraft extends NatDraft {
  toPorts?: PortRange;
}

export const masqueradeTarget: Extension<MasqDraft, Masquerade> = {
  name: "MASQUERADE",
  options: [
    { name: "to-ports", args: 1, invertible: false },
    { name: "random", args: 0, invertible: false },
    { name: "random-fully", args: 0, invertible: false },
  ],
  init: natDraft,
  apply(d, opt, args, _invert, optWord, env) {
    if (opt === "to-ports") {
      once(d.toPorts !== undefined, optWord, env);
      const p = parseNatPorts(args[0]!.text);
      if (!p) throw env.error(RULES_ERROR.BAD_VALUE, `invalid --to-ports "${args[0]!.text}"`, args[0], "use PORT or PORT-PORT");
      d.toPorts = p;
    } else applyNatFlag(d, opt);
  },
  finish(d, env, head) {
    checkNatTable(env, head);
    checkPortsNeedProto(env, head, d.toPorts !== undefined);
    return { kind: "MASQUERADE", toPorts: d.toPorts ?? null, random: d.random, randomFully: d.randomFully };
  },
};

export function formatNatRange(r: NatRange): string {
  let s = "";
  if (r.minIp !== 0 || r.maxIp !== 0) {
    s += formatIpv4(r.minIp);
    if (r.maxIp !== r.minIp) s += `-${formatIpv4(r.maxIp)}`;
  }
  if (r.minPort !== 0 || r.maxPort !== 0) {
    s += `:${r.minPort}`;
    if (r.maxPort !== r.minPort) s += `-${r.maxPort}`;
  }
  return s;
}

export function saveDnat(t: Dnat): string {
  let s = t.range ? ` --to-destination ${formatNatRange(t.range)}` : "";
  if (t.random) s += " --random";
  if (t.persistent) s += " --persistent";
  return s;
}

export function saveSnat(t: Snat): string {
  let s = ` --to-source ${formatNatRange(t.range)}`;
  if (t.random) s += " --random";
  if (t.randomFully) s += " --random-fully";
  if (t.persistent) s += " --persistent";
  return s;
}

export function saveMasquerade(t: Masquerade): string {
  let s = "";
  if (t.toPorts) s += ` --to-ports ${t.toPorts.min}${t.toPorts.max !== t.toPorts.min ? `-${t.toPorts.max}` : ""}`;
  if (t.random) s += " --random";
  if (t.randomFully) s += " --random-fully";
  return s;
}
