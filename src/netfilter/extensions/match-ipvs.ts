/**
 * The `ipvs` match (xt_ipvs, libxt_ipvs): parse and save. kube-proxy's IPVS mode uses it in
 * KUBE-IPVS-OUT-FILTER (`-s LB -m ipvs --vaddr LB --vproto tcp --vport 80 -j DROP`).
 *
 * What the save form looks like (libxt_ipvs ipvs_mt_dump with the `--` prefix):
 * - a lone `[!] --ipvs` prints as given; with any other option `--ipvs` is implied and not
 *   printed;
 * - the others print in the kernel's bit order: vproto (as a number), vaddr (dotted quad,
 *   `/N` unless /32), vport, vdir (ORIGINAL or REPLY), vmethod, vportctl, each preceded by
 *   ` !` when negated.
 */
import { formatIpv4, parseIpv4, prefixMask } from "../../base/ipv4-int.js";
import type { IpvsMatch, IpvsMethod } from "../model.js";
import type { Word } from "../restore-tokenize.js";
import { RULES_ERROR } from "./errors.js";
import type { ExtEnv, Extension } from "./ext.js";
import { parseProtocol } from "./protocols.js";
import { parsePort } from "./values.js";

interface IpvsDraft {
  ipvs?: { invert: boolean };
  vproto?: IpvsMatch["vproto"];
  vaddr?: IpvsMatch["vaddr"];
  vport?: IpvsMatch["vport"];
  vdir?: IpvsMatch["vdir"];
  vmethod?: IpvsMatch["vmethod"];
  vportctl?: IpvsMatch["vportctl"];
}

const METHODS: readonly IpvsMethod[] = ["GATE", "IPIP", "MASQ"];

function once(present: unknown, optWord: Word, env: ExtEnv): void {
  if (present !== undefined) throw env.error(RULES_ERROR.SYNTAX, `${optWord.text} may only be given once in an ipvs match`, optWord);
}

function port(arg: Word, opt: string, env: ExtEnv): number {
  const p = parsePort(arg.text);
  if (p === null) throw env.error(RULES_ERROR.BAD_VALUE, `invalid --${opt} "${arg.text}"`, arg, "use a port number from 0 to 65535");
  return p;
}

/** `ADDR[/LEN]`: a numeric IPv4 address and an optional prefix length. */
function hostMask(arg: Word, env: ExtEnv): { addr: number; mask: number; prefixLen: number } {
  const slash = arg.text.indexOf("/");
  const addr = parseIpv4(slash < 0 ? arg.text : arg.text.slice(0, slash));
  let prefixLen = 32;
  if (slash >= 0) {
    const t = arg.text.slice(slash + 1);
    prefixLen = /^[0-9]{1,2}$/.test(t) ? Number(t) : -1;
  }
  if (addr < 0 || prefixLen < 0 || prefixLen > 32) {
    throw env.error(RULES_ERROR.BAD_VALUE, `invalid --vaddr "${arg.text}"`, arg, "use an IPv4 address with an optional /prefix, e.g. 10.96.0.0/12");
  }
  return { addr: addr >>> 0, mask: prefixMask(prefixLen) >>> 0, prefixLen };
}

export const ipvsMatch: Extension<IpvsDraft, IpvsMatch> = {
  name: "ipvs",
  options: [
    { name: "ipvs", args: 0, invertible: true },
    { name: "vproto", args: 1, invertible: true },
    { name: "vaddr", args: 1, invertible: true },
    { name: "vport", args: 1, invertible: true },
    { name: "vdir", args: 1, invertible: false },
    { name: "vmethod", args: 1, invertible: true },
    { name: "vportctl", args: 1, invertible: true },
  ],
  init: () => ({}),
  apply(d, opt, args, invert, optWord, env) {
    const arg = args[0]!;
    switch (opt) {
      case "ipvs":
        once(d.ipvs, optWord, env);
        d.ipvs = { invert };
        return;
      case "vproto": {
        once(d.vproto, optWord, env);
        const proto = parseProtocol(arg.text);
        if (proto === null) throw env.error(RULES_ERROR.BAD_VALUE, `unknown protocol "${arg.text}"`, arg, "use a protocol name such as tcp or a number");
        d.vproto = { proto, invert };
        return;
      }
      case "vaddr":
        once(d.vaddr, optWord, env);
        d.vaddr = { ...hostMask(arg, env), invert };
        return;
      case "vport":
        once(d.vport, optWord, env);
        d.vport = { port: port(arg, opt, env), invert };
        return;
      case "vportctl":
        once(d.vportctl, optWord, env);
        d.vportctl = { port: port(arg, opt, env), invert };
        return;
      case "vdir": {
        once(d.vdir, optWord, env);
        const dir = arg.text.toUpperCase();
        if (dir !== "ORIGINAL" && dir !== "REPLY") throw env.error(RULES_ERROR.BAD_VALUE, `invalid --vdir "${arg.text}"`, arg, "use ORIGINAL or REPLY");
        d.vdir = dir;
        return;
      }
      default: {
        once(d.vmethod, optWord, env);
        const method = METHODS.find((m) => m === arg.text.toUpperCase());
        if (method === undefined) throw env.error(RULES_ERROR.BAD_VALUE, `invalid --vmethod "${arg.text}"`, arg, "use GATE, IPIP or MASQ");
        d.vmethod = { method, invert };
      }
    }
  },
  finish(d, env, head) {
    const others = d.vproto ?? d.vaddr ?? d.vport ?? d.vdir ?? d.vmethod ?? d.vportctl;
    if (d.ipvs === undefined && others === undefined) throw env.error(RULES_ERROR.BAD_VALUE, "the ipvs match needs at least one option", head, "e.g. --ipvs or --vaddr ADDR");
    if (others !== undefined && d.ipvs?.invert) throw env.error(RULES_ERROR.BAD_VALUE, "! --ipvs cannot be combined with other ipvs options", head);
    const m: IpvsMatch = { module: "ipvs", ipvsInvert: others === undefined && (d.ipvs?.invert ?? false) };
    if (d.vproto) m.vproto = d.vproto;
    if (d.vaddr) m.vaddr = d.vaddr;
    if (d.vport) m.vport = d.vport;
    if (d.vdir) m.vdir = d.vdir;
    if (d.vmethod) m.vmethod = d.vmethod;
    if (d.vportctl) m.vportctl = d.vportctl;
    return m;
  },
};

/** Whether the match only asks "is this an IPVS packet" (a lone `[!] --ipvs`). */
export function ipvsPropertyOnly(m: IpvsMatch): boolean {
  return !m.vproto && !m.vaddr && !m.vport && !m.vdir && !m.vmethod && !m.vportctl;
}

export function saveIpvs(m: IpvsMatch): string {
  const neg = (f: { invert: boolean }): string => (f.invert ? " !" : "");
  if (ipvsPropertyOnly(m)) return `${m.ipvsInvert ? " !" : ""} --ipvs`;
  let s = "";
  if (m.vproto) s += `${neg(m.vproto)} --vproto ${m.vproto.proto}`;
  if (m.vaddr) s += `${neg(m.vaddr)} --vaddr ${formatIpv4(m.vaddr.addr)}${m.vaddr.prefixLen === 32 ? "" : `/${m.vaddr.prefixLen}`}`;
  if (m.vport) s += `${neg(m.vport)} --vport ${m.vport.port}`;
  if (m.vdir) s += ` --vdir ${m.vdir}`;
  if (m.vmethod) s += `${neg(m.vmethod)} --vmethod ${m.vmethod.method}`;
  if (m.vportctl) s += `${neg(m.vportctl)} --vportctl ${m.vportctl.port}`;
  return s;
}
