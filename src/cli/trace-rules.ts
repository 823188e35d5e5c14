/**
 * `podwire trace-rules`: follow one packet through a node's rules, offline: an iptables-save
 * dump, nft text (`nft list ruleset` output or an `nft -f` transaction such as knftables
 * writes), or one of each (`--rules` twice: a node's iptables-save and its nft list ruleset).
 */
import { readFileSync } from "node:fs";
import { PodwireError, parseIpv4 } from "../base/index.js";
import { applyRestore } from "../netfilter/apply-restore.js";
import { IpsetRegistry, applyIpsetRestore, parseIpsetRestore } from "../netfilter/ipset/index.js";
import { type Ruleset, newRuleset } from "../netfilter/model.js";
import { type OfflineTraceOptions, type OfflineTraceResult, parsePacketSpec, traceRules } from "../netfilter/offline-trace.js";
import { type RestoreDocument, type RestoreTable, parseRestore } from "../netfilter/restore-parse.js";
import { printRule } from "../netfilter/save-print.js";
import type { NftLocation } from "../nftables/errors.js";
import { type Expr, type NftRule, type NftRuleset, type Stmt, applyNftScript, newRuleset as newNftRuleset } from "../nftables/index.js";
import { traceHooks } from "../nftables/offline-trace.js";

export type RulesFormat = "iptables" | "nft";

export interface TraceRulesArgs {
  /** One file, or several (e.g. a node's iptables-save and its nft list ruleset). */
  rules: string | string[];
  /** Forces the format of every --rules file; default: detected from each file's content. */
  format?: RulesFormat;
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

/** One rule the packet met: where it is and how it reads. */
export interface TraceRulesHit {
  table: string;
  chain: string;
  position: number;
  rule: string;
  line: number | null;
  /** The file of the rule, when more than one --rules file was given. */
  file?: string | null;
}

export interface TraceRulesSource {
  file: string;
  format: RulesFormat;
  /** False when --format said so. */
  detected: boolean;
}

export interface TraceRulesResult extends Omit<OfflineTraceResult, "rules"> {
  rules: TraceRulesHit[];
  /** `iptables`, `nft`, or `iptables+nft` (both kinds of file). */
  format: "iptables" | "nft" | "iptables+nft";
  sources: TraceRulesSource[];
}

const IPTABLES_LINE = /^(\*[A-Za-z]|:[^\s]+\s|-[AINPRDFXZ]\s|COMMIT\b)/;
const NFT_LINE = /^(table|add|create|insert|replace|flush|delete|destroy|define|include)\b/;

/**
 * Which kind of rules text this is, from its first line that is neither blank nor a
 * comment: iptables-save (`*nat`, `:CHAIN …`, `-A …`, `COMMIT`) or nft (`table ip t {`,
 * `add table …`, `flush ruleset`, …). Empty text counts as iptables (an empty ruleset);
 * null when the first line is neither.
 */
export function detectRulesFormat(text: string): RulesFormat | null {
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (IPTABLES_LINE.test(line)) return "iptables";
    if (NFT_LINE.test(line)) return "nft";
    return null;
  }
  return "iptables";
}

function ruleFiles(args: TraceRulesArgs): string[] {
  const files = Array.isArray(args.rules) ? args.rules : [args.rules];
  if (files.length === 0) throw new PodwireError("E_ARG", "no --rules file", { field: "--rules" }, "pass e.g. --rules rules.txt");
  return files;
}

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
export function traceRulesWarnings(args: TraceRulesArgs, doc: RestoreDocument, ruleset: Ruleset, file: string = ruleFiles(args)[0]!): string[] {
  const warnings: string[] = [];
  if (!args.noflush) {
    const seen = new Map<string, RestoreTable>();
    for (const t of doc.tables) {
      const earlier = seen.get(t.name);
      const added = earlier ? earlier.commands.length : 0;
      if (earlier && added > 0) {
        warnings.push(`${file}:${t.line}: *${t.name} starts the table again, dropping the ${added} rule${added === 1 ? "" : "s"} the *${t.name} at line ${earlier.line} added (iptables-restore does the same); pass --noflush to load it as iptables-restore --noflush does (as kube-proxy loads podwire rules output)`);
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
      warnings.push(`${file}: ${lines.length} rule${lines.length === 1 ? "" : "s"} match${lines.length === 1 ? "es" : ""} the ${want === "in" ? "input (-i)" : "output (-o)"} interface (line${lines.length === 1 ? "" : "s"} ${lines.slice(0, 5).join(", ")}${lines.length > 5 ? ", …" : ""}) and ${option} was not given: the trace takes no interface`);
    }
  }
  return warnings;
}

/**
 * What could make an nft trace silently wrong: interface matches without --in/--out,
 * `fib daddr type` matches without --local, and elements of dynamic sets (kube-proxy's
 * affinity sets in a live `nft list ruleset`), which the trace leaves out.
 */
export function traceRulesNftWarnings(args: TraceRulesArgs, ruleset: NftRuleset, locs: ReadonlyMap<NftRule, NftLocation>): string[] {
  const warnings: string[] = [];
  const uses = (pred: (e: Expr) => boolean): NftLocation[] => {
    const found: NftLocation[] = [];
    const has = (e: Expr | { kind: "const"; v: number }): boolean => e.kind !== "const" && (pred(e) || (e.kind === "concat" && e.parts.some(has)) || (e.kind === "binop" && has(e.left)));
    const stmtHas = (s: Stmt): boolean => ((s.kind === "match" || s.kind === "lookup" || s.kind === "vmap") && has(s.left)) || (s.kind === "dynset" && has(s.key));
    for (const t of ruleset.tables) {
      if (t.family === "ip6") continue;
      for (const c of t.chains.values()) {
        for (const r of c.rules) {
          const l = r.stmts.some(stmtHas) ? locs.get(r) : undefined;
          if (l) found.push(l);
        }
      }
    }
    return found;
  };
  const describe = (where: NftLocation[]): string => {
    const byFile = new Map<string, number[]>();
    for (const l of where) byFile.set(l.file, [...(byFile.get(l.file) ?? []), l.line]);
    return [...byFile].map(([f, lines]) => `${f}: line${lines.length === 1 ? "" : "s"} ${lines.slice(0, 5).join(", ")}${lines.length > 5 ? ", …" : ""}`).join("; ");
  };
  for (const [key, option, given] of [["iifname", "--in", args.in], ["oifname", "--out", args.out]] as const) {
    if (given !== undefined) continue;
    const where = uses((e) => e.kind === "meta" && e.key === key);
    if (where.length > 0) warnings.push(`${where.length} nft rule${where.length === 1 ? "" : "s"} match${where.length === 1 ? "es" : ""} meta ${key} (${describe(where)}) and ${option} was not given: the trace takes no interface`);
  }
  if (args.local === undefined) {
    const where = uses((e) => e.kind === "fib" && e.result === "type");
    if (where.length > 0) warnings.push(`${where.length} nft rule${where.length === 1 ? "" : "s"} match${where.length === 1 ? "es" : ""} a fib address type (${describe(where)}) and --local was not given: only loopback addresses are local`);
  }
  for (const t of ruleset.tables) {
    for (const set of t.sets.values()) {
      if (set.flags.includes("dynamic") && set.elements.length > 0) {
        warnings.push(`set ${set.name} of table ${t.family} ${t.name} has ${set.elements.length} element${set.elements.length === 1 ? "" : "s"} the packet path added (e.g. session affinity); the trace starts from an empty set`);
      }
    }
  }
  return warnings;
}

export function runTraceRules(args: TraceRulesArgs, warn: (message: string) => void = () => {}): TraceRulesResult {
  const files = ruleFiles(args);
  const sources: TraceRulesSource[] = [];
  const texts: string[] = [];
  for (const file of files) {
    const text = readText(file, "--rules");
    let format: RulesFormat | null = args.format ?? detectRulesFormat(text);
    if (format === null) {
      throw new PodwireError("E_ARG", `cannot tell whether ${file} is iptables-save or nft text (its first line is neither)`, { file, field: "--rules" }, "pass --format iptables or --format nft");
    }
    sources.push({ file, format, detected: args.format === undefined });
    texts.push(text);
  }
  let iptables: Ruleset | null = null;
  let iptablesFile: string | null = null;
  let nft: NftRuleset | null = null;
  const nftLocs = new Map<NftRule, NftLocation>();
  for (const [i, src] of sources.entries()) {
    if (src.format === "iptables") {
      const doc = parseRestore(texts[i]!, src.file);
      iptables = applyRestore(iptables ?? newRuleset(), doc, { file: src.file, noflush: args.noflush ?? false });
      for (const w of traceRulesWarnings(args, doc, iptables, src.file)) warn(w);
      iptablesFile = iptablesFile === null ? src.file : iptablesFile;
    } else {
      // Applying a file copies the ruleset: carry the places of earlier files' rules over by handle.
      const added = new Map<NftRule, NftLocation>();
      const before = new Map<string, NftLocation>();
      for (const t of nft?.tables ?? []) {
        for (const c of t.chains.values()) {
          for (const r of c.rules) {
            const l = nftLocs.get(r);
            if (l) before.set(`${t.family} ${t.name} ${r.handle}`, l);
          }
        }
      }
      nft = applyNftScript(nft ?? newNftRuleset(), texts[i]!, src.file, added);
      nftLocs.clear();
      for (const t of nft.tables) {
        for (const c of t.chains.values()) {
          for (const r of c.rules) {
            const l = added.get(r) ?? before.get(`${t.family} ${t.name} ${r.handle}`);
            if (l) nftLocs.set(r, l);
          }
        }
      }
    }
  }
  if (nft !== null) for (const w of traceRulesNftWarnings(args, nft, nftLocs)) warn(w);
  let ipsets: IpsetRegistry | null = null;
  if (args.ipsets) {
    if (iptables === null) warn("--ipsets: ipsets are for iptables' -m set rules and no iptables rules were given; ignored");
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
  const kinds = new Set(sources.map((s) => s.format));
  const format = kinds.size === 2 ? "iptables+nft" : kinds.has("nft") ? "nft" : "iptables";
  const several = files.length > 1;
  if (nft === null) {
    // iptables alone: the iptables walk.
    const r = traceRules(iptables ?? newRuleset(), opts, (chain, rule) => printRule(chain, rule));
    return { ...r, rules: r.rules.map((h) => ({ ...h, ...(several ? { file: iptablesFile } : {}) })), format, sources };
  }
  const r = traceHooks({ nft, nftRuleLocs: nftLocs, iptables, iptablesFile, printIptablesRule: (chain, rule) => printRule(chain, rule) }, opts);
  return {
    ...r,
    rules: r.rules.map((h) => ({ table: h.table, chain: h.chain, position: h.position, rule: h.rule, line: h.line, ...(several ? { file: h.file } : {}) })),
    format,
    sources,
  };
}

const FORMAT_NAMES: Record<RulesFormat, string> = { iptables: "iptables-save text", nft: "nft text" };

export function formatTraceRules(args: TraceRulesArgs, r: TraceRulesResult): string[] {
  const lines: string[] = [];
  const where = args.hook === "output" ? `OUTPUT${args.out ? ` (out ${args.out})` : ""}` : `PREROUTING${args.in ? ` (in ${args.in})` : ""}`;
  lines.push(`packet ${args.packet.trim()} from ${where}, conntrack state ${args.ctstate.toUpperCase()}`);
  for (const s of r.sources) lines.push(`rules: ${s.file} (${FORMAT_NAMES[s.format]}, ${s.detected ? "detected" : "--format"})`);
  if (r.format === "iptables+nft") lines.push("the packet runs through both, each hook's tables and base chains in priority order");
  lines.push("");
  let last = "";
  for (const h of r.rules) {
    const head = `${h.table}/${h.chain}`;
    if (head !== last) lines.push(`  ${h.table} ${h.chain}`);
    last = head;
    const at = h.line === null ? "" : h.file ? `   (${h.file}:${h.line})` : `   (line ${h.line})`;
    lines.push(`    ${h.position === 0 ? "  " : String(h.position).padStart(2)}  ${h.rule}${at}`);
  }
  lines.push("");
  const route =
    r.format === "iptables"
      ? r.path === "local" ? "delivered locally (INPUT)" : r.path === "forward" ? "forwarded (FORWARD, POSTROUTING)" : "sent (OUTPUT, POSTROUTING)"
      : r.path === "local" ? "delivered locally (input)" : r.path === "forward" ? "forwarded (forward, postrouting)" : "sent (output, postrouting)";
  lines.push(`verdict: ${r.verdict.toUpperCase()}${r.rejectWith ? ` (${r.rejectWith})` : ""}${r.verdict === "accept" ? `, ${route}` : ""}`);
  if (r.dnat) lines.push(`DNAT: destination becomes ${r.dnat}`);
  if (r.snat) lines.push(`SNAT: ${r.snat === "masquerade" ? "masqueraded to the outgoing interface's address" : `source becomes ${r.snat}`}`);
  lines.push(`mark: 0x${r.mark.toString(16)}${(r.mark & 0x4000) !== 0 ? " (kube-proxy's masquerade bit 0x4000 is set)" : ""}`);
  lines.push(`masquerade: ${r.masquerade ? "yes" : "no"}`);
  lines.push(`rules evaluated (as the kernel would): ${r.rulesEvaluated}`);
  if (r.candidates.length > 1 || (r.candidates.length === 1 && r.candidates[0]!.destination !== r.dnat)) {
    lines.push(`where this packet could go (${r.format === "iptables" ? "statistic" : r.format === "nft" ? "numgen" : "statistic and numgen"} splits):`);
    for (const c of r.candidates) lines.push(`  ${c.destination.padEnd(22)} ${(c.probability * 100).toFixed(2).padStart(6)} %`);
  }
  if (!r.candidatesComplete) {
    lines.push(`  (partial: the ${r.format === "iptables" ? "statistic rules split" : "random splits branch"} into more paths than are walked; the ones walked cover ${(r.candidatesCovered * 100).toFixed(4)} % of the probability)`);
  }
  return lines;
}

export function traceRulesJson(r: TraceRulesResult): unknown {
  return {
    format: r.format,
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
    rules: r.rules.map((h) => ({ table: h.table, chain: h.chain, position: h.position, rule: h.rule, line: h.line, ...(h.file !== undefined ? { file: h.file } : {}) })),
  };
}
