/**
 * Follows one packet through an nft ruleset (`nft list ruleset` output or a knftables
 * `nft -f` transaction), optionally together with an iptables-save ruleset, the way the
 * kernel would and without a kernel: every IPv4 hook's entries in priority order (the
 * iptables tables at their classic priorities, the NAT core, and the nft filter base chains
 * of every ip/inet table at their own priorities — the order src/netns/hook-stages.ts
 * gives the emulated nodes), `type nat` chains only for a new connection and only until one
 * binds (iptables' nat table first at equal priority), the routing decision between
 * prerouting and input/forward from the node's local addresses.
 *
 * Like the iptables walk (src/netfilter/offline-trace.ts) it reports every rule whose
 * statements all ran, the verdict, DNAT/SNAT, the mark, masquerade, and — where
 * `numgen random mod N` (or `numgen inc`, or an iptables `statistic` rule) splits traffic —
 * every destination the packet could reach, with its probability: each value of a numgen
 * draw is 1/N, enumerated depth first with the same cap on the number of paths. Dynamic
 * sets (kube-proxy's `affinity-…` sets) start empty on every explored path.
 */
import { Rng, VirtualClock, formatIpv4 } from "../base/index.js";
import { IPS_DST_NAT, IPS_SRC_NAT } from "../conntrack/index.js";
import { RuleEngine, Traversal } from "../netfilter/engine.js";
import { createEnv } from "../netfilter/env.js";
import { CT_STATE_BY_NAME, CT_STATE_DNAT, CT_STATE_SNAT, addressType, type BuiltinChain, type Rule, type Ruleset, type TableName } from "../netfilter/model.js";
import { type OfflineTraceOptions, type OfflineTraceResult, packetBytes, setPacketDst } from "../netfilter/offline-trace.js";
import { ipv4 } from "../wire/ipv4.js";
import { PacketContext } from "../netfilter/packet-context.js";
import { NFT_HOOK, STAGE_IPT, STAGE_NAT, STAGE_NFT, type Stage, buildStages } from "./hook-stages.js";
import { type CompiledChain, type CompiledNft, NftResult, compileRuleset } from "./compile.js";
import type { NftLocation } from "./errors.js";
import { NftEvaluator } from "./eval.js";
import { type Expr, type NftRule, type NftRuleset, type Stmt, cloneRuleset } from "./model.js";
import { NFT_CT_ESTABLISHED, NFT_CT_INVALID, NFT_CT_NEW, NFT_CT_RELATED, NFT_CT_UNTRACKED, NftPacket } from "./packet.js";
import { printRule as printNftRule } from "./print.js";

export interface HookTracedRule {
  /** iptables: `nat`, `filter`, …; nft: family and name, e.g. `ip kube-proxy`. */
  table: string;
  chain: string;
  /** 1-based position in the chain; 0 for a base chain's policy. */
  position: number;
  /** As iptables-save or `nft list ruleset` prints it, or `policy ACCEPT` / `policy accept`. */
  rule: string;
  line: number | null;
  /** The rules file the rule came from, when known. */
  file: string | null;
  engine: "iptables" | "nft";
}

/** The iptables walk's result, with rules from either engine. */
export type HookTraceResult = Omit<OfflineTraceResult, "rules"> & { rules: HookTracedRule[] };

export interface HookTraceInput {
  /** The nft ruleset; ip6 and dormant tables take no part. */
  nft: NftRuleset | null;
  /** Where each rule of `nft` was written (see applyNftScript's `ruleLocs`). */
  nftRuleLocs?: ReadonlyMap<NftRule, NftLocation>;
  iptables: Ruleset | null;
  /** The file the iptables rules came from (rules know their line). */
  iptablesFile?: string | null;
  /** Prints an iptables rule (the iptables-save form). */
  printIptablesRule?: (chain: string, rule: Rule) => string;
}

/** Enumeration stops after this many distinct random paths (as the iptables walk). */
const MAX_PATHS = 4096;
const NFT_CT_BY_NAME = { NEW: NFT_CT_NEW, ESTABLISHED: NFT_CT_ESTABLISHED, RELATED: NFT_CT_RELATED, INVALID: NFT_CT_INVALID, UNTRACKED: NFT_CT_UNTRACKED } as const;
/** ICMP destination-unreachable codes of nft's reject, named as iptables' --reject-with names them. */
const REJECT_NAMES: Record<number, string> = {
  0: "icmp-net-unreachable",
  1: "icmp-host-unreachable",
  2: "icmp-proto-unreachable",
  3: "icmp-port-unreachable",
  9: "icmp-net-prohibited",
  10: "icmp-host-prohibited",
  13: "icmp-admin-prohibited",
};

interface Hit {
  engine: "iptables" | "nft";
  table: string;
  chain: string;
  index: number;
  iptRule?: Rule | null;
  iptTable?: TableName;
  nftChain?: CompiledChain;
}

interface Walk {
  verdict: "accept" | "drop" | "reject";
  rejectWith: string | null;
  dst: number;
  dport: number;
  dnat: boolean;
  snat: string | null;
  masquerade: boolean;
  mark: number;
  path: "local" | "forward" | "output";
  hits: Hit[];
  rulesEvaluated: number;
}

/** The engines one walk runs on: fresh compiled state for the trace, one shared set for the explored paths. */
interface Engines {
  ipt: RuleEngine | null;
  nft: CompiledNft | null;
  nftEval: NftEvaluator | null;
  stages: Record<BuiltinChain, Stage[]>;
}

/** One walk of the packet through the hooks. */
function walk(e: Engines, opts: OfflineTraceOptions, isLocal: (ip: number) => boolean): Walk {
  const bytes = packetBytes(opts.packet);
  const ctx = new PacketContext().load(bytes, 0, bytes.length);
  const out = new Traversal();
  const p = new NftPacket();
  const res = new NftResult();
  const w: Walk = { verdict: "accept", rejectWith: null, dst: opts.packet.dst, dport: opts.packet.dport, dnat: false, snat: null, masquerade: false, mark: opts.mark, path: "forward", hits: [], rulesEvaluated: 0 };
  const isNew = opts.ctstate === "NEW";
  let iptCtState: number = CT_STATE_BY_NAME[opts.ctstate];
  const hasCt = opts.ctstate !== "INVALID" && opts.ctstate !== "UNTRACKED";
  let ctStatus = 0;
  let ctMark = 0;
  let ctReplySrc = opts.packet.dst;
  let ctReplyDst = opts.packet.src;

  const rewriteDst = (ip: number, port: number): void => {
    if (ip !== 0) w.dst = ip;
    if (port !== 0 && opts.packet.proto !== "icmp") w.dport = port;
    setPacketDst(bytes, opts.packet.proto, w.dst, w.dport);
    ctx.load(bytes, 0, bytes.length);
    w.dnat = true;
    iptCtState |= CT_STATE_DNAT;
    ctStatus |= IPS_DST_NAT;
    ctReplySrc = w.dst;
  };

  // An iptables table at `hook`; returns the traversal, or null when the table has no such chain.
  const ipt = (table: TableName, hook: BuiltinChain, inName: string, outName: string): Traversal | null => {
    if (e.ipt === null || !e.ipt.hasChain(table, hook)) return null;
    ctx.at(hook, inName, outName, w.mark, iptCtState, ctStatus);
    e.ipt.run(table, hook, ctx, out.reset(true));
    w.mark = ctx.mark;
    w.rulesEvaluated += out.rulesEvaluated;
    for (const h of out.hits!) w.hits.push({ engine: "iptables", table: h.table, chain: h.chain, index: h.ruleIndex, iptRule: h.rule, iptTable: h.table });
    return out;
  };

  // One nft base chain.
  const nft = (chain: CompiledChain, inName: string, outName: string): NftResult => {
    p.buf = bytes;
    p.ipOff = 0;
    p.len = bytes.length;
    p.src = opts.packet.src;
    p.dst = w.dst;
    p.proto = ipv4.protocol(bytes, 0);
    p.thOff = ipv4.payloadOffset(bytes, 0);
    p.iifname = inName;
    p.oifname = outName;
    p.mark = w.mark;
    p.ctState = NFT_CT_BY_NAME[opts.ctstate];
    p.hasCt = hasCt;
    p.ctStatus = hasCt ? ctStatus : 0;
    p.ctMark = ctMark;
    p.ctOrigSrc = opts.packet.src;
    p.ctOrigDst = opts.packet.dst;
    p.ctReplySrc = ctReplySrc;
    p.ctReplyDst = ctReplyDst;
    const r = e.nftEval!.run(chain, p, res.reset(true));
    w.mark = p.mark;
    if (r.ctMarkSet) ctMark = p.ctMark;
    w.rulesEvaluated += r.rules;
    const t = chain.table;
    for (const h of r.hits!) w.hits.push({ engine: "nft", table: `${t.family} ${t.name}`, chain: h.chain.name, index: h.ruleIndex, nftChain: h.chain });
    return r;
  };

  const refuse = (r: NftResult): boolean => {
    if (r.verdict === "accept") return false;
    if (r.reject !== null) {
      w.verdict = "reject";
      w.rejectWith = r.reject.tcpReset ? "tcp-reset" : (REJECT_NAMES[r.reject.code] ?? `icmp code ${r.reject.code}`);
    } else w.verdict = "drop";
    return true;
  };

  // The NAT core of a hook: iptables' nat table and the nft nat chains in priority order until one binds.
  const natCore = (hook: BuiltinChain, manip: "src" | "dst", inName: string, outName: string): boolean => {
    if (!isNew) return true;
    const chains = e.nft === null ? [] : e.nft.nat[NFT_HOOK[hook]];
    const iptPriority = manip === "dst" ? -100 : 100;
    let bound = false;
    let iptDone = false;
    for (let i = 0; i <= chains.length && !bound; i++) {
      const chain = i < chains.length ? chains[i]! : null;
      if (!iptDone && (chain === null || chain.priority > iptPriority)) {
        iptDone = true;
        const o = ipt("nat", hook, inName, outName);
        if (o !== null) {
          if (o.verdict === "DROP" || o.verdict === "REJECT") {
            w.verdict = o.verdict === "DROP" ? "drop" : "reject";
            if (o.verdict === "REJECT") w.rejectWith = o.rejectWith;
            return false;
          }
          const n = o.nat;
          if (n?.kind === "DNAT" && manip === "dst") {
            rewriteDst(n.range?.minIp ?? 0, n.range?.minPort ?? 0);
            bound = true;
          } else if (n?.kind === "MASQUERADE" && manip === "src") {
            w.masquerade = true;
            w.snat = "masquerade";
            bound = true;
          } else if (n?.kind === "SNAT" && manip === "src") {
            w.snat = `${formatIpv4(n.range.minIp)}${n.range.minPort ? `:${n.range.minPort}` : ""}`;
            bound = true;
          }
          if (bound) break;
        }
      }
      if (chain === null) break;
      const r = nft(chain, inName, outName);
      if (refuse(r)) return false;
      const n = r.nat;
      if (n === null) continue;
      if (n.kind === "DNAT" && manip === "dst") {
        rewriteDst(n.range?.minIp ?? 0, n.range?.minPort ?? 0);
        bound = true;
      } else if (n.kind === "MASQUERADE" && manip === "src") {
        w.masquerade = true;
        w.snat = "masquerade";
        bound = true;
      } else if (n.kind === "SNAT" && manip === "src" && n.range) {
        w.snat = `${formatIpv4(n.range.minIp)}${n.range.minPort ? `:${n.range.minPort}` : ""}`;
        bound = true;
      }
    }
    if (bound && manip === "src") {
      iptCtState |= CT_STATE_SNAT;
      ctStatus |= IPS_SRC_NAT;
    }
    return true;
  };

  // One hook's stages; false when the packet's fate is decided.
  const hook = (name: BuiltinChain, inName: string, outName: string): boolean => {
    for (const s of e.stages[name]) {
      if (s.kind === STAGE_IPT) {
        if (s.table === "nat") continue; // the nat table runs inside the NAT core
        const o = ipt(s.table!, name, inName, outName);
        if (o === null) continue;
        if (o.verdict === "DROP") {
          w.verdict = "drop";
          return false;
        }
        if (o.verdict === "REJECT") {
          w.verdict = "reject";
          w.rejectWith = o.rejectWith;
          return false;
        }
      } else if (s.kind === STAGE_NAT) {
        if (!natCore(name, s.manip!, inName, outName)) return false;
      } else if (s.kind === STAGE_NFT) {
        if (refuse(nft(s.chain!, inName, outName))) return false;
      }
      // conntrack, confirm and IPVS stages: nothing to do offline.
    }
    return true;
  };

  if (opts.hook === "output") {
    w.path = "output";
    if (!hook("OUTPUT", "", opts.outIface)) return w;
    hook("POSTROUTING", "", opts.outIface);
    return w;
  }
  if (!hook("PREROUTING", opts.inIface, "")) return w;
  if (isLocal(w.dst)) {
    w.path = "local";
    hook("INPUT", opts.inIface, "");
    return w;
  }
  w.path = "forward";
  if (!hook("FORWARD", opts.inIface, opts.outIface)) return w;
  hook("POSTROUTING", "", opts.outIface);
  return w;
}

/** The numgen expressions of a statement, in the order its closures draw. */
function numgens(s: Stmt): Extract<Expr, { kind: "numgen" }>[] {
  const out: Extract<Expr, { kind: "numgen" }>[] = [];
  const visit = (x: Expr | { kind: "const"; v: number }): void => {
    if (x.kind === "numgen") out.push(x);
    else if (x.kind === "concat") x.parts.forEach(visit);
    else if (x.kind === "binop") visit(x.left);
  };
  if (s.kind === "match" || s.kind === "lookup" || s.kind === "vmap") visit(s.left);
  else if (s.kind === "dynset") visit(s.key);
  else if (s.kind === "set") visit(s.value);
  return out;
}

/** Empties sets filled from the packet path (affinity): every walk starts from a node that has seen no packet. */
function emptyDynamicSets(rs: NftRuleset): void {
  for (const t of rs.tables) for (const s of t.sets.values()) if (s.flags.includes("dynamic")) s.elements = [];
}

export function traceHooks(input: HookTraceInput, opts: OfflineTraceOptions): HookTraceResult {
  const local = new Set(opts.local);
  const isLocal = (ip: number): boolean => local.has(ip) || ip >>> 24 === 127;
  const addrType = (ip: number): number => addressType(ip, isLocal);
  const clock = new VirtualClock();
  const iptEngine = (rs: Ruleset | null): RuleEngine | null =>
    rs === null ? null : new RuleEngine("reference", rs, createEnv({ addrType, rng: new Rng(opts.seed), clock, ipsets: opts.ipsets ?? null }));
  const rtnType = (ip: number): number => 31 - Math.clz32(addrType(ip));

  // The trace proper: fresh copies (counters in the model stay as loaded), the seeded RNG.
  const nftMain = input.nft === null ? null : cloneRuleset(input.nft);
  if (nftMain) emptyDynamicSets(nftMain);
  const mainCompiled = nftMain === null ? null : compileRuleset(nftMain);
  const main = walk(
    {
      ipt: iptEngine(input.iptables === null ? null : structuredClone(input.iptables)),
      nft: mainCompiled,
      nftEval: new NftEvaluator({ rtnType, rng: new Rng(opts.seed), clock }),
      stages: buildStages(mainCompiled),
    },
    opts,
    isLocal,
  );

  // Candidates: every sequence of random outcomes, depth first (first value before the
  // next), each with its probability; the next sequence follows from the last one alone.
  const nftExplore = input.nft === null ? null : cloneRuleset(input.nft);
  if (nftExplore) {
    emptyDynamicSets(nftExplore);
    // `numgen inc` hands successive packets successive values: over packets, a split like random.
    for (const t of nftExplore.tables) for (const c of t.chains.values()) for (const r of c.rules) for (const s of r.stmts) for (const g of numgens(s)) g.mode = "random";
  }
  const exploreCompiled = nftExplore === null ? null : compileRuleset(nftExplore);
  const totals = new Map<string, number>();
  let prefix: number[] | null = [];
  let paths = 0;
  let covered = 0;
  const ipt = iptEngine(input.iptables === null ? null : structuredClone(input.iptables));
  const draws: { pick: number; arity: number }[] = [];
  let prob = 1;
  let forced: number[] = [];
  const draw = (arity: number): number => {
    const k = draws.length;
    const pick = k < forced.length ? forced[k]! : 0;
    draws.push({ pick, arity });
    return pick;
  };
  // numgen: every value of [0, N) in turn, each 1/N.
  const numgen = (mod: number): number => {
    const k = draw(mod);
    prob *= 1 / mod;
    return k;
  };
  if (ipt !== null) {
    ipt.env.chooser = (pr: number): boolean => {
      const pick = draw(2) === 0;
      const pTrue = Math.min(1, Math.max(0, pr));
      prob *= pick ? pTrue : 1 - pTrue;
      return pick;
    };
  }
  const explore: Engines = { ipt, nft: exploreCompiled, nftEval: new NftEvaluator({ rtnType, rng: new Rng(opts.seed), clock, numgen }), stages: buildStages(exploreCompiled) };
  const describe = (w: Walk): string => {
    if (w.verdict !== "accept") return w.verdict;
    if (opts.packet.proto === "icmp") return formatIpv4(w.dst);
    return `${formatIpv4(w.dst)}:${w.dport}`;
  };
  while (prefix !== null && paths < MAX_PATHS) {
    forced = prefix;
    draws.length = 0;
    prob = 1;
    if (ipt !== null) {
      ipt.env.recent.clear();
      ipt.env.nthCounters.clear();
    }
    if (exploreCompiled !== null) for (const sets of exploreCompiled.sets.values()) for (const s of sets.values()) s.clearDynamic();
    const w = walk(explore, opts, isLocal);
    paths++;
    covered += prob;
    if (prob > 0) totals.set(describe(w), (totals.get(describe(w)) ?? 0) + prob);
    let j = draws.length - 1;
    while (j >= 0 && draws[j]!.pick >= draws[j]!.arity - 1) j--;
    prefix = j < 0 ? null : [...draws.slice(0, j).map((d) => d.pick), draws[j]!.pick + 1];
  }
  const complete = prefix === null;
  const candidates = [...totals].map(([destination, probability]) => ({ destination, probability: Number(probability.toFixed(10)) }));
  candidates.sort((a, b) => b.probability - a.probability || (a.destination < b.destination ? -1 : 1));

  // Rules are printed and located from the ruleset as loaded (same tables, chains and order as the compiled copy).
  const nftOriginal = (c: CompiledChain, index: number): NftRule | null => {
    if (input.nft === null || nftMain === null) return null;
    const ti = nftMain.tables.indexOf(c.table);
    return input.nft.tables[ti]?.chains.get(c.name)?.rules[index] ?? null;
  };
  const rules: HookTracedRule[] = main.hits.map((h) => {
    if (h.engine === "iptables") {
      const policy = input.iptables?.tables.get(h.iptTable!)?.chains.get(h.chain)?.policy ?? "ACCEPT";
      return {
        table: h.table,
        chain: h.chain,
        position: h.index + 1,
        rule: h.iptRule ? (input.printIptablesRule ? input.printIptablesRule(h.chain, h.iptRule) : h.chain) : `policy ${policy}`,
        line: h.iptRule?.source?.line ?? null,
        file: input.iptablesFile ?? null,
        engine: "iptables",
      };
    }
    const c = h.nftChain!;
    if (h.index < 0) return { table: h.table, chain: h.chain, position: 0, rule: `policy ${c.src.base?.policy ?? "accept"}`, line: null, file: null, engine: "nft" };
    const rule = nftOriginal(c, h.index);
    const loc = rule ? input.nftRuleLocs?.get(rule) : undefined;
    return {
      table: h.table,
      chain: h.chain,
      position: h.index + 1,
      rule: printNftRule(c.table.family, rule ?? c.rules[h.index]!.src),
      line: loc?.line ?? null,
      file: loc?.file ?? null,
      engine: "nft",
    };
  });

  return {
    verdict: main.verdict,
    rejectWith: main.rejectWith,
    dnat: main.dnat ? describe({ ...main, verdict: "accept" }) : null,
    snat: main.snat,
    masquerade: main.masquerade,
    mark: main.mark,
    path: main.path,
    rules,
    candidates,
    candidatesComplete: complete,
    candidatesCovered: Number(Math.min(1, covered).toFixed(10)),
    rulesEvaluated: main.rulesEvaluated,
  };
}
