/** `podwire trace-rules`: follow one packet through an iptables-save dump, offline. */
import { readFileSync } from "node:fs";
import { PodwireError, parseIpv4 } from "../base/index.js";
import { applyRestore } from "../netfilter/apply-restore.js";
import { IpsetRegistry, applyIpsetRestore, parseIpsetRestore } from "../netfilter/ipset/index.js";
import { type Ruleset, newRuleset } from "../netfilter/model.js";
import { type OfflineTraceOptions, type OfflineTraceResult, parsePacketSpec, traceRules } from "../netfilter/offline-trace.js";
import { type RestoreDocument, type RestoreTable, parseRestore } from "../netfilter/restore-parse.js";
import { printRule } from "../netfilter/save-print.js";

export interface TraceRulesArgs {
  rules: string;
  packet: string;
  hook: "prerouting" | "output";
  in?: string;
  out?: string;
  local?: string;
  mark?: string;
  ctstate: string;
  seed?: string;
  ipsets?: string;
  /** iptables-restore --noflush: a later `*table` section adds to the table instead of replacing it. */
  noflush?: boolean;
}

const CT_STATES = ["NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED"] as const;

function readText(path: string, option: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message;
    throw new PodwireError("E_FILE", `cannot read ${path}: ${why}`, { file: path, field: option }, "pass the path of a file saved with iptables-save (or ipset save)");
  }
}

function parseNumber(text: string, option: string): number {
  const v = /^0x[0-9a-f]+$/i.test(text) ? parseInt(text, 16) : /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(v) || v > 0xffffffff) throw new PodwireError("E_ARG", `${option} ${JSON.stringify(text)} is not a 32-bit number`, { field: option }, "write it as decimal or 0x hex, e.g. 0x4000");
  return v >>> 0;
}

/**
 * What could make a trace silently wrong: a later `*table` section that flushes an earlier
 * one's rules (iptables-restore does that without --noflush; `podwire rules` output is meant
 * for --noflush), and interface matches when --in/--out were not given.
 */
export function traceRulesWarnings(args: TraceRulesArgs, doc: RestoreDocument, ruleset: Ruleset): string[] {
  const warnings: string[] = [];
  if (!args.noflush) {
    const seen = new Map<string, RestoreTable>();
    for (const t of doc.tables) {
      const earlier = seen.get(t.name);
      const added = earlier ? earlier.commands.length : 0;
      if (earlier && added > 0) {
        warnings.push(`${args.rules}:${t.line}: *${t.name} starts the table again, dropping the ${added} rule${added === 1 ? "" : "s"} the *${t.name} at line ${earlier.line} added (iptables-restore does the same); pass --noflush to load it as iptables-restore --noflush does (as kube-proxy loads podwire rules output)`);
      }
      seen.set(t.name, t);
    }
  }
  const ifaceLines = (want: "in" | "out"): number[] => {
    const lines: number[] = [];
    for (const table of ruleset.tables.values()) {
      for (const chain of table.chains.values()) {
        for (const r of chain.rules) {
          const m = want === "in" ? r.inIface : r.outIface;
          if (m !== undefined && r.source) lines.push(r.source.line);
        }
      }
    }
    return lines;
  };
  for (const [want, option] of [["in", "--in"], ["out", "--out"]] as const) {
    if ((want === "in" ? args.in : args.out) !== undefined) continue;
    const lines = ifaceLines(want);
    if (lines.length > 0) {
      warnings.push(`${args.rules}: ${lines.length} rule${lines.length === 1 ? "" : "s"} match${lines.length === 1 ? "es" : ""} the ${want === "in" ? "input (-i)" : "output (-o)"} interface (line${lines.length === 1 ? "" : "s"} ${lines.slice(0, 5).join(", ")}${lines.length > 5 ? ", …" : ""}) and ${option} was not given: the trace takes no interface`);
    }
  }
  return warnings;
}

export function runTraceRules(args: TraceRulesArgs, warn: (message: string) => void = () => {}): OfflineTraceResult {
  const text = readText(args.rules, "--rules");
  const doc = parseRestore(text, args.rules);
  const ruleset = applyRestore(newRuleset(), doc, { file: args.rules, noflush: args.noflush ?? false });
  for (const w of traceRulesWarnings(args, doc, ruleset)) warn(w);
  let ipsets: IpsetRegistry | null = null;
  if (args.ipsets) {
    ipsets = new IpsetRegistry();
    applyIpsetRestore(ipsets, parseIpsetRestore(readText(args.ipsets, "--ipsets"), args.ipsets));
  }
  const local: number[] = [];
  for (const part of (args.local ?? "").split(",").filter((x) => x.trim() !== "")) {
    const ip = parseIpv4(part.trim());
    if (ip < 0) throw new PodwireError("E_ARG", `--local ${JSON.stringify(part)} is not an IPv4 address`, { field: "--local" }, "list the node's addresses, e.g. --local 192.168.56.11,10.244.1.1");
    local.push(ip);
  }
  const ctstate = args.ctstate.toUpperCase();
  if (!(CT_STATES as readonly string[]).includes(ctstate)) {
    throw new PodwireError("E_ARG", `--ctstate ${JSON.stringify(args.ctstate)} is not a conntrack state`, { field: "--ctstate" }, `use one of ${CT_STATES.join(", ")}`);
  }
  const opts: OfflineTraceOptions = {
    packet: parsePacketSpec(args.packet),
    hook: args.hook,
    inIface: args.in ?? "",
    outIface: args.out ?? "",
    local,
    mark: args.mark !== undefined ? parseNumber(args.mark, "--mark") : 0,
    ctstate: ctstate as OfflineTraceOptions["ctstate"],
    seed: args.seed !== undefined ? parseNumber(args.seed, "--seed") : 1,
    ipsets,
  };
  return traceRules(ruleset, opts, (chain, rule) => printRule(chain, rule));
}

export function formatTraceRules(args: TraceRulesArgs, r: OfflineTraceResult): string[] {
  const lines: string[] = [];
  const where = args.hook === "output" ? `OUTPUT${args.out ? ` (out ${args.out})` : ""}` : `PREROUTING${args.in ? ` (in ${args.in})` : ""}`;
  lines.push(`packet ${args.packet.trim()} from ${where}, conntrack state ${args.ctstate.toUpperCase()}`);
  lines.push("");
  let last = "";
  for (const h of r.rules) {
    const head = `${h.table}/${h.chain}`;
    if (head !== last) lines.push(`  ${h.table} ${h.chain}`);
    last = head;
    lines.push(`    ${h.position === 0 ? "  " : String(h.position).padStart(2)}  ${h.rule}${h.line !== null ? `   (line ${h.line})` : ""}`);
  }
  lines.push("");
  const route = r.path === "local" ? "delivered locally (INPUT)" : r.path === "forward" ? "forwarded (FORWARD, POSTROUTING)" : "sent (OUTPUT, POSTROUTING)";
  lines.push(`verdict: ${r.verdict.toUpperCase()}${r.rejectWith ? ` (${r.rejectWith})` : ""}${r.verdict === "accept" ? `, ${route}` : ""}`);
  if (r.dnat) lines.push(`DNAT: destination becomes ${r.dnat}`);
  if (r.snat) lines.push(`SNAT: ${r.snat === "masquerade" ? "masqueraded to the outgoing interface's address" : `source becomes ${r.snat}`}`);
  lines.push(`mark: 0x${r.mark.toString(16)}${(r.mark & 0x4000) !== 0 ? " (kube-proxy's masquerade bit 0x4000 is set)" : ""}`);
  lines.push(`masquerade: ${r.masquerade ? "yes" : "no"}`);
  lines.push(`rules evaluated (as the kernel would): ${r.rulesEvaluated}`);
  if (r.candidates.length > 1 || (r.candidates.length === 1 && r.candidates[0]!.destination !== r.dnat)) {
    lines.push("where this packet could go (statistic splits):");
    for (const c of r.candidates) lines.push(`  ${c.destination.padEnd(22)} ${(c.probability * 100).toFixed(2).padStart(6)} %`);
  }
  if (!r.candidatesComplete) {
    lines.push(`  (partial: the statistic rules split into more paths than are walked; the ones walked cover ${(r.candidatesCovered * 100).toFixed(4)} % of the probability)`);
  }
  return lines;
}

export function traceRulesJson(r: OfflineTraceResult): unknown {
  return {
    verdict: r.verdict,
    rejectWith: r.rejectWith,
    dnat: r.dnat,
    snat: r.snat,
    masquerade: r.masquerade,
    mark: r.mark,
    path: r.path,
    rulesEvaluated: r.rulesEvaluated,
    candidates: r.candidates,
    candidatesComplete: r.candidatesComplete,
    candidatesCovered: r.candidatesCovered,
    rules: r.rules.map((h) => ({ table: h.table, chain: h.chain, position: h.position, rule: h.rule, line: h.line })),
  };
}
