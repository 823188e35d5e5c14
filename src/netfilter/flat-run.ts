/**
 * The compiled engine's walk over a FlatTable: the same walk as the reference engine
 * (engine.ts) — rules in order, jumps pushing a return point, the policy at the end — read
 * from the table's records. Flat records are decided by their words, keyed runs by a hash
 * lookup; only other rules look at their model objects. The rules the kernel would have
 * evaluated are counted as it would have (a keyed run counts every rule it skips).
 */
import { ruleMatches } from "./match.js";
import type { NetfilterEnv } from "./env.js";
import {
  F_ALL, F_DPORT, F_DPORT_INV, F_DST, F_DST_INV, F_L4, F_MARK, F_MARK_INV, F_PROTO, F_PROTO_INV, F_SPORT, F_SPORT_INV, F_SRC, F_SRC_INV, F_STAT, F_STAT_INV,
  K_ACCEPT, K_DROP, K_FALLOFF, K_FORWARD, K_GOTO, K_JUMP, K_LOG, K_MARK, K_NAT, K_NOTRACK, K_REJECT, K_RETURN, K_TRACE,
  KEYED_WORDS, T_FLAT, T_KEYED, T_TAIL, statisticProbability,
} from "./flat-encode.js";
import { findByAddr, findByPort, type KeyedRun } from "./flat-keyed.js";
import type { FlatTable } from "./flat-table.js";
import { logLine } from "./log-line.js";
import type { Rule, TargetSpec } from "./model.js";
import type { PacketContext } from "./packet-context.js";
import type { Traversal } from "./engine.js";

/** Depth limit of jumps, as the kernel's xt_table jumpstack is bounded. */
export const MAX_JUMP_DEPTH = 64;

/** Return points: chain id, slot and word offset per level. */
export function newJumpStack(): Int32Array {
  return new Int32Array(3 * MAX_JUMP_DEPTH);
}

/** Whether the flat record at `o` matches (its draw, if any, made as xt_statistic would). */
function flatMatches(rec: Int32Array, o: number, op: number, ctx: PacketContext, env: NetfilterEnv, rules: readonly (Rule | null)[], j: number): boolean {
  const f = (op >>> 8) & F_ALL;
  if (f === 0) return true;
  let p = o + (op >>> 29);
  if (f & F_SRC) {
    if ((((ctx.src & rec[p + 1]!) | 0) === rec[p]) === ((f & F_SRC_INV) !== 0)) return false;
    p += 2;
  }
  if (f & F_DST) {
    if ((((ctx.dst & rec[p + 1]!) | 0) === rec[p]) === ((f & F_DST_INV) !== 0)) return false;
    p += 2;
  }
  if (f & (F_PROTO | F_L4)) {
    const w = rec[p++]!;
    if (f & F_PROTO && (ctx.proto === (w & 255)) === ((f & F_PROTO_INV) !== 0)) return false;
    if (f & F_L4 && (ctx.fragment || !ctx.hasPorts || ctx.proto !== w >>> 8)) return false;
  }
  if (f & F_SPORT) {
    const r = rec[p++]!;
    if ((ctx.sport >= r >>> 16 && ctx.sport <= (r & 0xffff)) === ((f & F_SPORT_INV) !== 0)) return false;
  }
  if (f & F_DPORT) {
    const r = rec[p++]!;
    if ((ctx.dport >= r >>> 16 && ctx.dport <= (r & 0xffff)) === ((f & F_DPORT_INV) !== 0)) return false;
  }
  if (f & F_MARK) {
    if ((((ctx.mark & rec[p + 1]!) | 0) === rec[p]) === ((f & F_MARK_INV) !== 0)) return false;
    p += 2;
  }
  if (f & F_STAT) {
    const hit = env.chooser !== null ? env.chooser(statisticProbability(rules[j]!)) : env.rng.nextU31() < rec[p]! >>> 0;
    if (hit === ((f & F_STAT_INV) !== 0)) return false;
  }
  return true;
}

/** Word offset of the rule `keyedFirst` last returned. */
let hitOff = 0;

/** The first rule at or after slot `from` in the keyed run that matches, or −1. */
function keyedFirst(ft: FlatTable, run: KeyedRun, from: number, ctx: PacketContext, env: NetfilterEnv): number {
  const p = ctx.proto;
  if (!ctx.hasPorts || ctx.fragment || (p !== 6 && p !== 17 && p !== 132)) return -1;
  const pk = p * 65536 + ctx.dport;
  const rec = ft.rec;
  const ba = findByAddr(run, ctx.dst, pk);
  let aSlot = run.byAddr[ba + 2]! - 1;
  let aOff = run.byAddr[ba + 3]!;
  const bp = findByPort(run, pk);
  let bSlot = bp < 0 ? -1 : run.byPort[bp + 2]! - 1;
  let bOff = bp < 0 ? 0 : run.byPort[bp + 3]!;
  while (aSlot >= 0 || bSlot >= 0) {
    let slot: number;
    let o: number;
    if (bSlot < 0 || (aSlot >= 0 && aSlot < bSlot)) {
      slot = aSlot;
      o = aOff;
      aSlot = rec[o + 1]!;
      aOff = rec[o + 2]!;
    } else {
      slot = bSlot;
      o = bOff;
      bSlot = rec[o + 1]!;
      bOff = rec[o + 2]!;
    }
    if (slot < from) continue;
    const op = rec[o]!;
    if (((op >>> 2) & 3) === T_FLAT ? flatMatches(rec, o, op, ctx, env, ft.rules, slot) : ruleMatches(ft.rules[slot]!, ctx, env)) {
      hitOff = o;
      return slot;
    }
  }
  return -1;
}

/** Runs `ctx` through `ft`'s built-in chain at hook `hook` (hookIndex). */
export function runFlat(ft: FlatTable, hook: number, ctx: PacketContext, out: Traversal, env: NetfilterEnv, stack: Int32Array): Traversal {
  if (ft.store.stolen) ft.build(ft.table); // another engine took over these rules' counters
  const entry = ft.entries[hook]!;
  if (entry < 0) return out;
  const rec = ft.rec;
  const ctr = ft.store.counters;
  const rules = ft.rules;
  let cid = entry;
  let j = ft.chainSlot[cid]!;
  let o = ft.chainOff[cid]!;
  let depth = 0;
  let evaluated = 0;
  for (;;) {
    let op = rec[o]!;
    const test = op & 3;
    // Where the walk goes on after rule j: the next record, or back to a keyed run's stub.
    let nextO: number;
    if (test === T_FLAT) {
      evaluated++;
      nextO = o + ((op >>> 24) & 31);
      if (!flatMatches(rec, o, op, ctx, env, rules, j)) {
        j++;
        o = nextO;
        continue;
      }
    } else if (test === T_KEYED) {
      const run = ft.segs[rec[o + 1]!]!;
      const hit = keyedFirst(ft, run, j, ctx, env);
      if (hit < 0) {
        evaluated += run.end - j;
        j = run.end;
        o = run.endOff;
        continue;
      }
      evaluated += hit - j + 1;
      nextO = hit + 1 < run.end ? o : run.endOff;
      j = hit;
      o = hitOff;
      op = rec[o]!;
    } else if (test === T_TAIL) {
      const kind = (op >>> 4) & 15;
      if (kind === K_FORWARD) {
        cid = op >>> 8;
        j = ft.chainSlot[cid]!;
        o = ft.chainOff[cid]!;
        continue;
      }
      if (kind === K_FALLOFF && depth > 0) {
        depth--;
        cid = stack[3 * depth]!;
        j = stack[3 * depth + 1]!;
        o = stack[3 * depth + 2]!;
        continue;
      }
      applyPolicy(ft, entry, ctx, out);
      out.rulesEvaluated += evaluated;
      return out;
    } else {
      evaluated++;
      nextO = o + ((op >>> 24) & 31);
      if (!ruleMatches(rules[j]!, ctx, env)) {
        j++;
        o = nextO;
        continue;
      }
    }
    // Rule j (record at o) matched.
    const ci = ((o + ((op >>> 24) & 31)) >>> 1) - 2;
    ctr[ci]!++;
    ctr[ci + 1]! += ctx.len;
    if (out.hits !== null) out.hits.push({ table: ft.name, chain: ft.chainName[cid]!, ruleIndex: j - ft.chainSlot[cid]!, rule: rules[j]! });
    const args = o + ((op & 3) === T_KEYED ? 1 + KEYED_WORDS : 1);
    switch ((op >>> 4) & 15) {
      case K_ACCEPT:
        out.verdict = "ACCEPT";
        out.rulesEvaluated += evaluated;
        return out;
      case K_DROP:
        out.verdict = "DROP";
        out.rulesEvaluated += evaluated;
        return out;
      case K_REJECT:
        out.verdict = "REJECT";
        out.rejectWith = (ft.targets[rec[args]!] as Extract<TargetSpec, { kind: "REJECT" }>).with;
        out.rulesEvaluated += evaluated;
        return out;
      case K_NAT:
        out.verdict = "ACCEPT";
        out.nat = ft.targets[rec[args]!] as Traversal["nat"];
        out.rulesEvaluated += evaluated;
        return out;
      case K_RETURN:
        if (depth === 0) {
          applyPolicy(ft, entry, ctx, out);
          out.rulesEvaluated += evaluated;
          return out;
        }
        depth--;
        cid = stack[3 * depth]!;
        j = stack[3 * depth + 1]!;
        o = stack[3 * depth + 2]!;
        continue;
      case K_JUMP:
        if (depth === MAX_JUMP_DEPTH) {
          out.verdict = "DROP"; // the kernel refuses such loops at load time; never reached with valid input
          out.rulesEvaluated += evaluated;
          return out;
        }
        stack[3 * depth] = cid;
        stack[3 * depth + 1] = j + 1;
        stack[3 * depth + 2] = nextO;
        depth++;
        cid = rec[args]!;
        j = rec[args + 1]!;
        o = rec[args + 2]!;
        continue;
      case K_GOTO:
        cid = rec[args]!;
        j = rec[args + 1]!;
        o = rec[args + 2]!;
        continue;
      case K_MARK:
        ctx.mark = ((ctx.mark & ~rec[args + 1]!) ^ rec[args]!) >>> 0;
        break;
      case K_LOG:
        env.log?.(logLine((ft.targets[rec[args]!] as Extract<TargetSpec, { kind: "LOG" }>).prefix, ctx));
        break;
      case K_TRACE:
        out.traced = true;
        break;
      case K_NOTRACK:
        out.untrack = true;
        break;
      default:
        break;
    }
    j++;
    o = nextO;
  }
}

function applyPolicy(ft: FlatTable, entry: number, ctx: PacketContext, out: Traversal): void {
  const at = ft.store.at[ft.chainTail[entry]!]!;
  const ctr = ft.store.counters;
  ctr[at]!++;
  ctr[at + 1]! += ctx.len;
  out.verdict = ft.chainModel[entry]!.policy === "DROP" ? "DROP" : "ACCEPT";
  if (out.hits !== null) out.hits.push({ table: ft.name, chain: ft.chainName[entry]!, ruleIndex: -1, rule: null });
}
