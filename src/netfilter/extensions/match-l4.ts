/** The layer-4 matches: `tcp`, `udp`, `sctp`, `multiport` and `icmp` (parse and save). */
import type { IcmpMatch, MultiportMatch, PortRange, SctpMatch, TcpUdpMatch } from "../model.js";
import type { Word } from "../restore-tokenize.js";
import { RULES_ERROR } from "./errors.js";
import { protoIs, type ExtEnv, type Extension, type OptionDef } from "./ext.js";
import { hasPorts, IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from "./protocols.js";
import { parsePort, parsePortRange, splitList } from "./values.js";

// ---------------------------------------------------------------- tcp / udp

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;

/** Flag names in the order libxt_tcp prints them. */
const TCP_FLAG_NAMES: readonly [string, number][] = [
  ["FIN", TCP_FIN], ["SYN", TCP_SYN], ["RST", TCP_RST], ["PSH", TCP_PSH], ["ACK", TCP_ACK], ["URG", TCP_URG],
];
const TCP_ALL = 0x3f;

function parseTcpFlags(text: string): number | null {
  const items = splitList(text);
  if (!items) return null;
  let bits = 0;
  for (const item of items) {
    const up = item.toUpperCase();
    if (up === "ALL") bits |= TCP_ALL;
    else if (up === "NONE") continue;
    else {
      const hit = TCP_FLAG_NAMES.find(([n]) => n === up);
      if (!hit) return null;
      bits |= hit[1];
    }
  }
  return bits;
}

function formatTcpFlags(bits: number): string {
  const names = TCP_FLAG_NAMES.filter(([, b]) => (bits & b) !== 0).map(([n]) => n);
  return names.length ? names.join(",") : "NONE";
}

const PORT_OPTIONS: readonly OptionDef[] = [
  { name: "sport", aliases: ["source-port"], args: 1, invertible: true },
  { name: "dport", aliases: ["destination-port"], args: 1, invertible: true },
];
const TCP_OPTIONS: readonly OptionDef[] = [
  ...PORT_OPTIONS,
  { name: "tcp-flags", args: 2, invertible: true },
  { name: "syn", args: 0, invertible: true },
];

function portRangeArg(word: Word, env: ExtEnv): PortRange {
  const r = parsePortRange(word.text);
  if (!r) throw env.error(RULES_ERROR.BAD_VALUE, `invalid port or port range "${word.text}"`, word, "use a port 0-65535 or a range LOW:HIGH");
  return r;
}

function tcpUdpExtension(module: "tcp" | "udp", proto: number): Extension<TcpUdpMatch, TcpUdpMatch> {
  return {
    name: module,
    options: module === "tcp" ? TCP_OPTIONS : PORT_OPTIONS,
    init: () => ({ module }),
    apply(d, opt, args, invert, optWord, env) {
      const once = (present: unknown): void => {
        if (present !== undefined) throw env.error(RULES_ERROR.SYNTAX, `multiple --${opt === "syn" ? "tcp-flags" : opt} options in one ${module} match`, optWord);
      };
      if (opt === "sport" || opt === "dport") {
        once(d[opt]);
        d[opt] = { ...portRangeArg(args[0]!, env), invert };
      } else {
        once(d.tcpFlags);
        if (opt === "syn") {
          d.tcpFlags = { mask: TCP_SYN | TCP_RST | TCP_ACK | TCP_FIN, comp: TCP_SYN, invert };
        } else {
          const mask = parseTcpFlags(args[0]!.text);
          if (mask === null) throw env.error(RULES_ERROR.BAD_VALUE, `invalid TCP flag list "${args[0]!.text}"`, args[0], "use FIN,SYN,RST,PSH,ACK,URG, ALL or NONE");
          const comp = parseTcpFlags(args[1]!.text);
          if (comp === null) throw env.error(RULES_ERROR.BAD_VALUE, `invalid TCP flag list "${args[1]!.text}"`, args[1], "use FIN,SYN,RST,PSH,ACK,URG, ALL or NONE");
          d.tcpFlags = { mask, comp, invert };
        }
      }
    },
    finish(d, env, head) {
      if (!protoIs(env, proto)) throw env.error(RULES_ERROR.BAD_VALUE, `the ${module} match needs \`-p ${module}\``, head, `add -p ${module} to the rule (the kernel refuses it otherwise)`);
      return d;
    },
  };
}

export const tcpMatch = tcpUdpExtension("tcp", IPPROTO_TCP);
export const udpMatch = tcpUdpExtension("udp", IPPROTO_UDP);

/**
 * iptables-nft stores `! --dport 0:N` as "port > N" and so prints it back as `--dport N+1:65535`
 * (verified with iptables 1.8.9); the same port set, printed the way the kernel tool does.
 */
function savePortOption(name: string, r: (PortRange & { invert: boolean }) | undefined): string {
  if (!r || (r.min === 0 && r.max === 65535)) return "";
  let { min, max, invert } = r;
  if (invert && min === 0 && max > 0) [min, max, invert] = [max + 1, 65535, false];
  return `${invert ? " !" : ""} --${name} ${min === max ? min : `${min}:${max}`}`;
}

export function saveTcpUdp(m: TcpUdpMatch): string {
  let s = savePortOption("sport", m.sport) + savePortOption("dport", m.dport);
  if (m.tcpFlags) s += `${m.tcpFlags.invert ? " !" : ""} --tcp-flags ${formatTcpFlags(m.tcpFlags.mask)} ${formatTcpFlags(m.tcpFlags.comp)}`;
  return s;
}

// ---------------------------------------------------------------- sctp

/**
 * xt_sctp: `--sport`/`--dport` as for tcp and udp. `--chunk-types` (and libxt_sctp's
 * `--chunk-types` spellings) is known but refused: podwire does not model chunk matching,
 * and silently ignoring it would make a rule match more than the kernel's.
 */
export const sctpMatch: Extension<SctpMatch, SctpMatch> = {
  name: "sctp",
  options: [...PORT_OPTIONS, { name: "chunk-types", args: 2, invertible: true }],
  init: () => ({ module: "sctp" }),
  apply(d, opt, args, invert, optWord, env) {
    if (opt === "chunk-types") {
      throw env.error(RULES_ERROR.BAD_VALUE, "podwire does not model `-m sctp --chunk-types`", optWord, "match SCTP by --sport/--dport only (the kernel's chunk-type matching is not emulated)");
    }
    const key = opt as "sport" | "dport";
    if (d[key] !== undefined) throw env.error(RULES_ERROR.SYNTAX, `multiple --${opt} options in one sctp match`, optWord);
    d[key] = { ...portRangeArg(args[0]!, env), invert };
  },
  finish(d, env, head) {
    if (!protoIs(env, IPPROTO_SCTP)) throw env.error(RULES_ERROR.BAD_VALUE, "the sctp match needs `-p sctp`", head, "add -p sctp to the rule (the kernel refuses it otherwise)");
    return d;
  },
};

/**
 * libxt_sctp's save: each given range as written (`N` when LOW = HIGH), source first. Unlike
 * tcp/udp, iptables-nft 1.8.9 keeps `! --dport 0:N` and `--sport 0:65535` as they are
 * (checked against the kernel: `meta l4proto sctp sctp dport != 0-10`).
 */
export function saveSctp(m: SctpMatch): string {
  let s = "";
  for (const [name, r] of [["sport", m.sport], ["dport", m.dport]] as const) {
    if (r) s += `${r.invert ? " !" : ""} --${name} ${r.min === r.max ? r.min : `${r.min}:${r.max}`}`;
  }
  return s;
}

// ---------------------------------------------------------------- multiport

const MULTIPORT_MAX = 15;

interface MultiportDraft {
  kind?: MultiportMatch["kind"];
  ports: PortRange[];
  invert: boolean;
}

export const multiportMatch: Extension<MultiportDraft, MultiportMatch> = {
  name: "multiport",
  options: [
    { name: "sports", aliases: ["source-ports"], args: 1, invertible: true },
    { name: "dports", aliases: ["destination-ports"], args: 1, invertible: true },
    { name: "ports", args: 1, invertible: true },
  ],
  init: () => ({ ports: [], invert: false }),
  apply(d, opt, args, invert, optWord, env) {
    if (d.kind) throw env.error(RULES_ERROR.SYNTAX, "a multiport match takes only one of --sports, --dports, --ports", optWord);
    const items = splitList(args[0]!.text);
    if (!items) throw env.error(RULES_ERROR.BAD_VALUE, `invalid port list "${args[0]!.text}"`, args[0]);
    let slots = 0;
    for (const item of items) {
      const colon = item.indexOf(":");
      const lo = parsePort(colon < 0 ? item : item.slice(0, colon));
      const hi = colon < 0 ? lo : parsePort(item.slice(colon + 1));
      if (lo === null || hi === null || (colon >= 0 && lo >= hi)) {
        throw env.error(RULES_ERROR.BAD_VALUE, `invalid port or range "${item}" in "${args[0]!.text}"`, args[0], "ranges are LOW:HIGH with LOW < HIGH");
      }
      d.ports.push({ min: lo, max: hi });
      slots += colon < 0 ? 1 : 2;
    }
    if (slots > MULTIPORT_MAX) throw env.error(RULES_ERROR.BAD_VALUE, `too many ports in "${args[0]!.text}" (at most ${MULTIPORT_MAX}, a range counts twice)`, args[0]);
    d.kind = opt as MultiportMatch["kind"];
    d.invert = invert;
  },
  finish(d, env, head) {
    if (!d.kind) throw env.error(RULES_ERROR.BAD_VALUE, "the multiport match needs --sports, --dports or --ports", head);
    if (!env.proto || env.proto.invert || !hasPorts(env.proto.proto)) {
      throw env.error(RULES_ERROR.BAD_VALUE, "the multiport match needs `-p tcp`, `-p udp`, `-p udplite`, `-p sctp` or `-p dccp`", head);
    }
    return { module: "multiport", kind: d.kind, ports: d.ports, invert: d.invert };
  },
};

export function saveMultiport(m: MultiportMatch): string {
  const list = m.ports.map((p) => (p.min === p.max ? `${p.min}` : `${p.min}:${p.max}`)).join(",");
  return `${m.invert ? " !" : ""} --${m.kind} ${list}`;
}

// ---------------------------------------------------------------- icmp

/** ICMP type names as libxt_icmp knows them: [name, type, codeMin, codeMax]. */
export const ICMP_TYPE_NAMES: readonly [string, number, number, number][] = [
  ["any", 0xff, 0, 0xff],
  ["echo-reply", 0, 0, 0xff],
  ["destination-unreachable", 3, 0, 0xff],
  ["network-unreachable", 3, 0, 0],
  ["host-unreachable", 3, 1, 1],
  ["protocol-unreachable", 3, 2, 2],
  ["port-unreachable", 3, 3, 3],
  ["fragmentation-needed", 3, 4, 4],
  ["source-route-failed", 3, 5, 5],
  ["network-unknown", 3, 6, 6],
  ["host-unknown", 3, 7, 7],
  ["network-prohibited", 3, 9, 9],
  ["host-prohibited", 3, 10, 10],
  ["tos-network-unreachable", 3, 11, 11],
  ["tos-host-unreachable", 3, 12, 12],
  ["communication-prohibited", 3, 13, 13],
  ["host-precedence-violation", 3, 14, 14],
  ["precedence-cutoff", 3, 15, 15],
  ["source-quench", 4, 0, 0xff],
  ["redirect", 5, 0, 0xff],
  ["network-redirect", 5, 0, 0],
  ["host-redirect", 5, 1, 1],
  ["tos-network-redirect", 5, 2, 2],
  ["tos-host-redirect", 5, 3, 3],
  ["echo-request", 8, 0, 0xff],
  ["router-advertisement", 9, 0, 0xff],
  ["router-solicitation", 10, 0, 0xff],
  ["time-exceeded", 11, 0, 0xff],
  ["ttl-zero-during-transit", 11, 0, 0],
  ["ttl-zero-during-reassembly", 11, 1, 1],
  ["parameter-problem", 12, 0, 0xff],
  ["ip-header-bad", 12, 0, 0],
  ["required-option-missing", 12, 1, 1],
  ["timestamp-request", 13, 0, 0xff],
  ["timestamp-reply", 14, 0, 0xff],
  ["address-mask-request", 17, 0, 0xff],
  ["address-mask-reply", 18, 0, 0xff],
];

function parseIcmpType(text: string): Omit<IcmpMatch, "module" | "invert"> | null {
  const byName = ICMP_TYPE_NAMES.find(([n]) => n === text.toLowerCase());
  if (byName) return { type: byName[1], codeMin: byName[2], codeMax: byName[3], typeName: byName[0] };
  const m = /^([0-9]{1,3})(?:\/([0-9]{1,3}))?$/.exec(text);
  if (!m) return null;
  const type = Number(m[1]);
  const code = m[2] === undefined ? null : Number(m[2]);
  if (type > 255 || (code !== null && code > 255)) return null;
  return code === null ? { type, codeMin: 0, codeMax: 0xff, typeName: null } : { type, codeMin: code, codeMax: code, typeName: null };
}

interface IcmpDraft {
  spec?: IcmpMatch;
}

export const icmpMatch: Extension<IcmpDraft, IcmpMatch> = {
  name: "icmp",
  options: [{ name: "icmp-type", args: 1, invertible: true }],
  init: () => ({}),
  apply(d, _opt, args, invert, optWord, env) {
    if (d.spec) throw env.error(RULES_ERROR.SYNTAX, "multiple --icmp-type options in one icmp match", optWord);
    const t = parseIcmpType(args[0]!.text);
    if (!t) throw env.error(RULES_ERROR.BAD_VALUE, `unknown ICMP type "${args[0]!.text}"`, args[0], "use a name such as echo-request, a number N or N/CODE");
    d.spec = { module: "icmp", ...t, invert };
  },
  finish(d, env, head) {
    if (!d.spec) throw env.error(RULES_ERROR.BAD_VALUE, "the icmp match needs --icmp-type", head);
    if (!protoIs(env, IPPROTO_ICMP)) throw env.error(RULES_ERROR.BAD_VALUE, "the icmp match needs `-p icmp`", head);
    return d.spec;
  },
};

/** iptables-save prints ICMP types as numbers (`8`, `3/4`), except `any`. */
export function saveIcmp(m: IcmpMatch): string {
  const inv = m.invert ? " !" : "";
  if (m.type === 0xff) return `${inv} --icmp-type any`;
  const code = m.codeMin === 0 && m.codeMax === 0xff ? "" : `/${m.codeMin}`;
  return `${inv} --icmp-type ${m.type}${code}`;
}
