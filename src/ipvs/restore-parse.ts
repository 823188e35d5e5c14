/**
 * A parser for `ipvsadm-restore` input (ipvsadm -R): one ipvsadm command per line, short
 * or long options (`--opt value` or `--opt=value`), numeric addresses only. An SCTP
 * virtual service is `--sctp-service addr:port` (ipvsadm.c has no short form for it).
 * Defaults are ipvsadm's: scheduler wlc, forwarding -g (route), weight 1, `-p` alone =
 * 300 s, a real server without a port takes the service's port. Blank lines and `#`
 * comments are skipped. Errors are PodwireErrors with the line and 1-based column of the
 * offending token.
 */
import { PodwireError } from "../base/errors.js";
import { parseIpv4 } from "../base/ipv4-int.js";
import type { ForwardMethod } from "./constants.js";
import { SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3 } from "./constants.js";
import type { DestOptions, ServiceKey, ServiceOptions } from "./table.js";

export type IpvsCommand =
  | { op: "add-service" | "edit-service"; key: ServiceKey; options: Required<ServiceOptions>; line: number }
  | { op: "delete-service"; key: ServiceKey; line: number }
  | { op: "clear"; line: number }
  | { op: "add-dest" | "edit-dest"; key: ServiceKey; dest: Required<DestOptions>; line: number }
  | { op: "delete-dest"; key: ServiceKey; addr: number; port: number; line: number };

interface Token {
  text: string;
  column: number;
}

const COMMANDS: Record<string, IpvsCommand["op"]> = {
  "-A": "add-service",
  "--add-service": "add-service",
  "-E": "edit-service",
  "--edit-service": "edit-service",
  "-D": "delete-service",
  "--delete-service": "delete-service",
  "-C": "clear",
  "--clear": "clear",
  "-a": "add-dest",
  "--add-server": "add-dest",
  "-e": "edit-dest",
  "--edit-server": "edit-dest",
  "-d": "delete-dest",
  "--delete-server": "delete-dest",
};

/** Option spellings to a canonical name and whether it takes a value ("optional" for -p). */
const OPTIONS: Record<string, [string, "value" | "none" | "optional"]> = {
  "-t": ["tcp", "value"],
  "--tcp-service": ["tcp", "value"],
  "-u": ["udp", "value"],
  "--udp-service": ["udp", "value"],
  "--sctp-service": ["sctp", "value"],
  "-f": ["fwmark", "value"],
  "--fwmark-service": ["fwmark", "value"],
  "-s": ["scheduler", "value"],
  "--scheduler": ["scheduler", "value"],
  "-p": ["persistent", "optional"],
  "--persistent": ["persistent", "optional"],
  "-M": ["netmask", "value"],
  "--netmask": ["netmask", "value"],
  "-b": ["sched-flags", "value"],
  "--sched-flags": ["sched-flags", "value"],
  "-r": ["real-server", "value"],
  "--real-server": ["real-server", "value"],
  "-g": ["gatewaying", "none"],
  "--gatewaying": ["gatewaying", "none"],
  "-i": ["ipip", "none"],
  "--ipip": ["ipip", "none"],
  "-m": ["masquerading", "none"],
  "--masquerading": ["masquerading", "none"],
  "-w": ["weight", "value"],
  "--weight": ["weight", "value"],
  "-x": ["u-threshold", "value"],
  "--u-threshold": ["u-threshold", "value"],
  "-y": ["l-threshold", "value"],
  "--l-threshold": ["l-threshold", "value"],
};

/** The options naming a virtual service; a line takes one of them. */
const SERVICE_KINDS = ["tcp", "udp", "sctp", "fwmark"];

function tokenize(line: string): Token[] {
  const out: Token[] = [];
  const re = /\S+/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line)) !== null) out.push({ text: m[0], column: m.index + 1 });
  return out;
}

class LineParser {
  constructor(
    private readonly lineNo: number,
    private readonly file: string | undefined,
  ) {}

  fail(tok: Token | undefined, column: number, detail: string, hint?: string): never {
    throw new PodwireError("E_IPVS_PARSE", detail, { ...(this.file !== undefined ? { file: this.file } : {}), line: this.lineNo, column: tok?.column ?? column }, hint);
  }

  /** addr:port with a numeric port (port optional when `portOptional`). */
  addrPort(tok: Token, portOptional: boolean): [number, number | null] {
    const colon = tok.text.lastIndexOf(":");
    const host = colon < 0 ? tok.text : tok.text.slice(0, colon);
    const addr = parseIpv4(host);
    if (addr < 0) this.fail(tok, 0, `not an IPv4 address: ${JSON.stringify(host)}`, "ipvsadm-save -n output uses numeric addresses");
    if (colon < 0) {
      if (!portOptional) this.fail(tok, 0, `missing port in ${JSON.stringify(tok.text)}`, "write address:port");
      return [addr, null];
    }
    const port = this.int(tok, tok.text.slice(colon + 1), 0, 65535, "port");
    return [addr, port];
  }

  int(tok: Token, text: string, min: number, max: number, what: string): number {
    if (!/^[0-9]+$/.test(text)) this.fail(tok, 0, `illegal ${what} specified: ${JSON.stringify(text)}`);
    const v = Number(text);
    if (v < min || v > max) this.fail(tok, 0, `illegal ${what} specified: ${text} (allowed ${min}..${max})`);
    return v;
  }
}

function schedFlagBits(p: LineParser, tok: Token, text: string): number {
  let bits = 0;
  for (const name of text.split(",")) {
    if (name === "flag-1" || name === "sh-fallback" || name === "mh-fallback") bits |= SVC_F_SCHED1;
    else if (name === "flag-2" || name === "sh-port" || name === "mh-port") bits |= SVC_F_SCHED2;
    else if (name === "flag-3") bits |= SVC_F_SCHED3;
    else p.fail(tok, 0, `invalid scheduler flag ${JSON.stringify(name)}`, "use sh-fallback, sh-port, mh-fallback, mh-port or flag-1..3");
  }
  return bits;
}

/** Parses restore text into commands; throws a PodwireError at the first bad token. */
export function parseIpvsadmRestore(text: string, file?: string): IpvsCommand[] {
  const cmds: IpvsCommand[] = [];
  const lines = text.split("\n");
  for (let n = 0; n < lines.length; n++) {
    const raw = lines[n]!.replace(/\r$/, "");
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const cmd = parseLine(raw, n + 1, file);
    if (cmd !== null) cmds.push(cmd);
  }
  return cmds;
}

function parseLine(raw: string, lineNo: number, file: string | undefined): IpvsCommand | null {
  const p: LineParser = new LineParser(lineNo, file);
  const toks = tokenize(raw);
  let op: IpvsCommand["op"] | null = null;
  let opTok: Token | undefined;
  const seen = new Map<string, Token>();
  const values = new Map<string, { tok: Token; text: string }>();
  for (let i = 0; i < toks.length; i++) {
    const tok = toks[i]!;
    let name = tok.text;
    let inline: string | null = null;
    const eq = name.startsWith("--") ? name.indexOf("=") : -1;
    if (eq > 0) {
      inline = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const command = COMMANDS[name];
    if (command !== undefined) {
      if (op !== null) p.fail(tok, 0, `more than one command on a line (${opTok!.text} and ${name})`);
      op = command;
      opTok = tok;
      continue;
    }
    const spec = OPTIONS[name];
    if (spec === undefined) p.fail(tok, 0, `unknown option ${JSON.stringify(tok.text)}`);
    const [canon, arity] = spec;
    if (seen.has(canon) || (SERVICE_KINDS.includes(canon) && SERVICE_KINDS.some((k) => seen.has(k)))) {
      p.fail(tok, 0, `option ${name} conflicts with an earlier one`);
    }
    if (["gatewaying", "ipip", "masquerading"].includes(canon) && ["gatewaying", "ipip", "masquerading"].some((k) => seen.has(k))) {
      p.fail(tok, 0, "more than one forwarding method");
    }
    seen.set(canon, tok);
    if (arity === "none") {
      if (inline !== null) p.fail(tok, 0, `option ${name} takes no value`);
      continue;
    }
    if (inline !== null) {
      values.set(canon, { tok, text: inline });
      continue;
    }
    const next = toks[i + 1];
    if (arity === "optional") {
      if (next !== undefined && /^[0-9]+$/.test(next.text)) {
        values.set(canon, { tok: next, text: next.text });
        i++;
      }
      continue;
    }
    if (next === undefined) p.fail(undefined, raw.length + 1, `option ${name} needs a value`);
    values.set(canon, { tok: next, text: next.text });
    i++;
  }
  if (op === null) p.fail(toks[0], 1, "no command (-A, -E, -D, -C, -a, -e or -d) on this line");
  if (op === "clear") return { op: "clear", line: lineNo };

  // The virtual service.
  let key: ServiceKey | null = null;
  let svcPort = 0;
  for (const proto of ["tcp", "udp", "sctp"] as const) {
    const v = values.get(proto);
    if (v === undefined) continue;
    const [addr, port] = p.addrPort({ text: v.text, column: v.tok.column }, false);
    key = { protocol: proto, addr, port: port! };
    svcPort = port!;
  }
  const fw = values.get("fwmark");
  if (fw !== undefined) key = { fwmark: p.int(fw.tok, fw.text, 1, 0xffffffff, "fwmark") };
  if (key === null) p.fail(opTok, 1, "no virtual service given", "add -t addr:port, -u addr:port, --sctp-service addr:port or -f mark");

  const forbid = (names: string[]): void => {
    for (const n of names) {
      const t = seen.get(n);
      if (t !== undefined) p.fail(t, 0, `option ${t.text.split("=")[0]} is not allowed with ${opTok!.text}`);
    }
  };
  const destOpts = ["real-server", "gatewaying", "ipip", "masquerading", "weight", "u-threshold", "l-threshold"];
  const svcOpts = ["scheduler", "persistent", "netmask", "sched-flags"];

  if (op === "add-service" || op === "edit-service" || op === "delete-service") {
    forbid(destOpts);
    if (op === "delete-service") {
      forbid(svcOpts);
      return { op, key, line: lineNo };
    }
    const sched = values.get("scheduler")?.text ?? "wlc";
    let persistent: number | false = false;
    if (seen.has("persistent")) {
      const v = values.get("persistent");
      persistent = v === undefined ? 300 : p.int(v.tok, v.text, 1, 86400 * 31, "timeout");
    }
    let netmask = 0xffffffff;
    const nm = values.get("netmask");
    if (nm !== undefined) {
      netmask = parseIpv4(nm.text);
      if (netmask < 0) p.fail(nm.tok, 0, `illegal virtual server netmask ${JSON.stringify(nm.text)}`);
    }
    const sf = values.get("sched-flags");
    const schedFlags = sf === undefined ? 0 : schedFlagBits(p, sf.tok, sf.text);
    if (!("fwmark" in key) && svcPort === 0 && persistent === false) {
      p.fail(opTok, 1, "Zero port specified for non-persistent service", "add -p or give a port");
    }
    return { op, key, options: { scheduler: sched, persistent, netmask, schedFlags }, line: lineNo };
  }

  // Real-server commands.
  forbid(svcOpts);
  const rs = values.get("real-server");
  if (rs === undefined) p.fail(opTok, 1, `${opTok!.text} needs a real server (-r addr[:port])`);
  const [addr, rport] = p.addrPort(rs.tok, true);
  const port = rport ?? svcPort;
  if (op === "delete-dest") {
    forbid(["gatewaying", "ipip", "masquerading", "weight", "u-threshold", "l-threshold"]);
    return { op, key, addr, port, line: lineNo };
  }
  const fwd: ForwardMethod = seen.has("masquerading") ? "masq" : seen.has("ipip") ? "tunnel" : "route";
  const w = values.get("weight");
  const weight = w === undefined ? 1 : p.int(w.tok, w.text, 0, 65535, "weight");
  const x = values.get("u-threshold");
  const uThreshold = x === undefined ? 0 : p.int(x.tok, x.text, 0, 2147483647, "upper threshold");
  const y = values.get("l-threshold");
  const lThreshold = y === undefined ? 0 : p.int(y.tok, y.text, 0, 2147483647, "lower threshold");
  if (lThreshold > uThreshold) p.fail(y!.tok, 0, `lower threshold ${lThreshold} is higher than upper threshold ${uThreshold}`);
  return { op, key, dest: { addr, port, weight, fwd, uThreshold, lThreshold }, line: lineNo };
}
