/**
 * nft_do_chain for one base chain over the compiled code (compile.ts): rules in order, a
 * rule's statements in order; a statement that does not match ends the rule (NFT_BREAK), a
 * verdict ends it with that verdict: accept and drop end the traversal, jump pushes the
 * return point, goto does not, return (or the end of a non-base chain) pops, and the end of
 * the base chain applies its policy. The kernel's jump stack holds NFT_JUMP_STACK_SIZE (16)
 * entries; the loader refuses deeper nesting, so the fixed stack here never overflows on a
 * loaded ruleset.
 *
 * A statement's loads are read into registers first, as the kernel's expressions fill its
 * registers before a lookup or a comparison; the first load that fails ends the rule, except
 * that a set lookup with a key that cannot be read finds nothing (so `!= @set` goes on), as
 * podwire's engine always answered.
 */
import {
  LOAD_AND,
  LOAD_CONST,
  LOAD_CTMARK,
  LOAD_CTSTATE,
  LOAD_DADDR,
  LOAD_FN,
  LOAD_IIFNAME,
  LOAD_MARK,
  LOAD_NUMGEN_INC,
  LOAD_OIFNAME,
  LOAD_OR,
  LOAD_PROTO,
  LOAD_SADDR,
  LOAD_TH,
  LOAD_XOR,
  type LoadFn,
  type NumgenInc,
  RT,
  loadPlain,
  numgenNext,
} from "./compile-expr.js";
import {
  type CompiledChain,
  NFT_ACCEPT,
  NFT_BREAK,
  NFT_CONTINUE,
  NFT_DROP,
  NFT_GOTO,
  NFT_JUMP,
  NFT_RETURN,
  type NftReject,
  type NftResult,
  OP_ANON_LOOKUP,
  OP_ANON_VMAP,
  OP_BITS,
  OP_CONCAT,
  OP_COUNTER,
  OP_DENSE_VMAP,
  OP_DYNSET,
  OP_EQ,
  OP_GE,
  OP_GT,
  OP_LE,
  OP_LOG,
  OP_LOOKUP,
  OP_LT,
  OP_NAT,
  OP_NE,
  OP_NOTRACK,
  OP_RANGE,
  OP_REJECT,
  OP_SET_CTMARK,
  OP_SET_MARK,
  OP_VERDICT,
  OP_VMAP,
} from "./compile.js";
import { NFT_CT_UNTRACKED, type NftEnv, type NftPacket } from "./packet.js";
import { NO_DATA, type RuntimeSet, UNDEF, UNNAMED, wordOf } from "./sets-runtime.js";

const STACK = 32;
/** Registers for a statement's loads (a concatenation has at most 16 parts in the kernel). */
const REGS = 32;

export class NftEvaluator {
  private readonly stackChain = new Int32Array(STACK);
  private readonly stackPc = new Int32Array(STACK);
  private readonly stackRule = new Int32Array(STACK);
  private readonly stackRules = new Int32Array(STACK);
  private readonly stackBase = new Int32Array(STACK);
  private readonly regs = new Int32Array(REGS);
  // The last interface names interned (a packet's names repeat from hook to hook).
  private iifName = "";
  private iifId = wordOf("");
  private oifName = "";
  private oifId = wordOf("");
  /** The traversal's packet and the chain's constants (for `load`). */
  private p: NftPacket = RT.p;
  private consts: unknown[] = [];
  private cbase = 0;

  constructor(readonly env: NftEnv) {}

  /** A load's value: an int32 word, or UNDEF. */
  private load(code: Int32Array, pc: number): number {
    const p = this.p;
    const k = code[pc]!;
    switch (k) {
      case LOAD_SADDR:
        return p.src | 0;
      case LOAD_DADDR:
        return p.dst | 0;
      case LOAD_PROTO:
        return p.proto;
      case LOAD_TH: {
        const o = p.thOff;
        const a = code[pc + 1]!;
        const b = code[pc + 2]!;
        if ((b !== 0 && p.proto !== b) || o < 0 || o + a + 2 > p.ipOff + p.len) return UNDEF;
        const buf = p.buf;
        return (buf[o + a]! << 8) | buf[o + a + 1]!;
      }
      case LOAD_MARK:
        return p.mark | 0;
      case LOAD_CONST:
        return code[pc + 1]!;
      case LOAD_CTSTATE:
        return p.ctState;
      case LOAD_CTMARK:
        return p.hasCt ? p.ctMark | 0 : UNDEF;
      case LOAD_IIFNAME: {
        const n = p.iifname;
        if (n !== this.iifName || this.iifId === UNNAMED) {
          this.iifName = n;
          this.iifId = wordOf(n);
        }
        return this.iifId;
      }
      case LOAD_OIFNAME: {
        const n = p.oifname;
        if (n !== this.oifName || this.oifId === UNNAMED) {
          this.oifName = n;
          this.oifId = wordOf(n);
        }
        return this.oifId;
      }
      case LOAD_AND:
      case LOAD_OR:
      case LOAD_XOR: {
        const v = this.loadInner(code[pc + 1]!);
        if (v === UNDEF) return UNDEF;
        const c = code[pc + 2]!;
        return k === LOAD_AND ? v & c : k === LOAD_OR ? v | c : v ^ c;
      }
      case LOAD_NUMGEN_INC:
        return numgenNext(this.consts[this.cbase + code[pc + 1]!] as NumgenInc);
      case LOAD_FN:
        return (this.consts[this.cbase + code[pc + 1]!] as LoadFn)();
      default:
        return loadPlain(p, this.env, k, code[pc + 1]!, code[pc + 2]!);
    }
  }

  private loadInner(k: number): number {
    const p = this.p;
    if (k === LOAD_MARK) return p.mark | 0;
    if (k === LOAD_CTMARK) return p.hasCt ? p.ctMark | 0 : UNDEF;
    return loadPlain(p, this.env, k, 0, 0);
  }

  /** Loads `n` parts from `pc` into the registers; false when one fails (the rest are not loaded). */
  private loadRegs(code: Int32Array, pc: number, n: number): boolean {
    const regs = this.regs;
    for (let i = 0; i < n; i++) {
      const v = this.load(code, pc + 3 * i);
      if (v === UNDEF) return false;
      regs[i] = v;
    }
    return true;
  }

  /** The live element of `set` for the registers, or -1. */
  private find(set: RuntimeSet): number {
    const el = set.find(this.regs);
    if (el < 0) return -1;
    if (set.mayExpire(el) && !set.liveAt(el, this.env.clock.now())) return -1;
    return el;
  }

  /** Runs `p` through base chain `base`; the outcome is left in `r` (reset first). */
  run(base: CompiledChain, p: NftPacket, r: NftResult): NftResult {
    RT.p = p;
    RT.env = this.env;
    this.p = p;
    const prog = base.prog;
    const code = prog.code;
    const consts = prog.consts;
    this.consts = consts;
    const stackChain = this.stackChain;
    const stackPc = this.stackPc;
    const stackRule = this.stackRule;
    const stackRules = this.stackRules;
    const stackBase = this.stackBase;
    const regs = this.regs;
    // The chain being run (its entry), where its code is, its rules and constant base.
    let cur = prog.entry[base.id]!;
    let pc = cur;
    if (code[pc]! < 0) pc = code[pc + 1]!;
    let nrules = code[pc]!;
    let cbase = code[pc + 1]!;
    pc += 3;
    this.cbase = cbase;
    let ri = 0;
    let sp = 0;
    for (;;) {
      if (ri >= nrules) {
        if (sp === 0) {
          // The base chain's policy.
          r.verdict = base.policy === NFT_DROP ? "drop" : "accept";
          if (r.hits !== null) r.hits.push({ chain: base, ruleIndex: -1 });
          return r;
        }
        sp--;
        cur = stackChain[sp]!;
        pc = stackPc[sp]!;
        ri = stackRule[sp]!;
        nrules = stackRules[sp]!;
        cbase = stackBase[sp]!;
        this.cbase = cbase;
        continue;
      }
      const ruleIndex = ri++;
      const end = pc + 1 + code[pc]!;
      pc++;
      r.rules++;
      let res = NFT_CONTINUE;
      let target = -1;
      while (pc < end) {
        const op = code[pc]!;
        r.exprs += code[pc + 1]!;
        switch (op) {
          case OP_EQ: {
            const v = this.load(code, pc + 2);
            if (v === UNDEF || v !== code[pc + 5]) res = NFT_BREAK;
            pc += 6;
            break;
          }
          case OP_NE: {
            const v = this.load(code, pc + 2);
            if (v === UNDEF || v === code[pc + 5]) res = NFT_BREAK;
            pc += 6;
            break;
          }
          case OP_LT:
          case OP_GT:
          case OP_LE:
          case OP_GE: {
            const v = this.load(code, pc + 2);
            if (v === UNDEF) res = NFT_BREAK;
            else {
              const a = v >>> 0;
              const c = code[pc + 5]! >>> 0;
              if (!(op === OP_LT ? a < c : op === OP_GT ? a > c : op === OP_LE ? a <= c : a >= c)) res = NFT_BREAK;
            }
            pc += 6;
            break;
          }
          case OP_BITS: {
            const v = this.load(code, pc + 2);
            if (v === UNDEF || (v & code[pc + 5]!) === 0) res = NFT_BREAK;
            pc += 6;
            break;
          }
          case OP_RANGE: {
            const v = this.load(code, pc + 2);
            if (v === UNDEF) res = NFT_BREAK;
            else {
              const a = v >>> 0;
              const inRange = a >= code[pc + 5]! >>> 0 && a <= code[pc + 6]! >>> 0 && code[pc + 5]! >>> 0 <= code[pc + 6]! >>> 0;
              if (inRange === (code[pc + 7] === 1)) res = NFT_BREAK;
            }
            pc += 8;
            break;
          }
          case OP_CONCAT: {
            const neq = code[pc + 2] === 1;
            const n = code[pc + 3]!;
            let q = pc + 4;
            let all = true;
            for (let i = 0; i < n; i++, q += 6) {
              const v = this.load(code, q);
              if (v === UNDEF) {
                res = NFT_BREAK;
                break;
              }
              const kind = code[q + 3]!;
              if (kind === 0) {
                if (v !== code[q + 4]) all = false;
              } else if (kind === 1) {
                const a = v >>> 0;
                if (a < code[q + 4]! >>> 0 || a > code[q + 5]! >>> 0) all = false;
              } else all = false;
            }
            if (res === NFT_CONTINUE && all === neq) res = NFT_BREAK;
            pc += 4 + 6 * n;
            break;
          }
          case OP_LOOKUP: {
            const negate = code[pc + 2] === 1;
            const set = consts[cbase + code[pc + 3]!] as RuntimeSet;
            const n = code[pc + 4]!;
            const found = this.loadRegs(code, pc + 5, n) && this.find(set) >= 0;
            if (found === negate) res = NFT_BREAK;
            pc += 5 + 3 * n;
            break;
          }
          case OP_VMAP: {
            const set = consts[cbase + code[pc + 2]!] as RuntimeSet;
            const n = code[pc + 3]!;
            const el = this.loadRegs(code, pc + 4, n) ? this.find(set) : -1;
            const vc = el < 0 ? NO_DATA : set.code(el);
            if (vc === NO_DATA) res = NFT_BREAK;
            else {
              res = vc;
              target = set.chain(el);
            }
            pc += 4 + 3 * n;
            break;
          }
          case OP_ANON_LOOKUP: {
            const negate = code[pc + 2] === 1;
            const v = this.load(code, pc + 3);
            const n = code[pc + 6]!;
            let found = false;
            if (v !== UNDEF) {
              for (let i = 0; i < n; i++) {
                if (code[pc + 7 + i] === v) {
                  found = true;
                  break;
                }
              }
            }
            if (found === negate) res = NFT_BREAK;
            pc += 7 + n;
            break;
          }
          case OP_ANON_VMAP: {
            const v = this.load(code, pc + 2);
            const n = code[pc + 5]!;
            res = NFT_BREAK;
            if (v !== UNDEF) {
              for (let i = 0, q = pc + 6; i < n; i++, q += 3) {
                if (code[q] === v) {
                  if (code[q + 1] !== NO_DATA) {
                    res = code[q + 1]!;
                    target = code[q + 2]!;
                  }
                  break;
                }
              }
            }
            pc += 6 + 3 * n;
            break;
          }
          case OP_DENSE_VMAP: {
            const v = this.load(code, pc + 2);
            const n = code[pc + 5]!;
            res = NFT_BREAK;
            if (v !== UNDEF && v >= 0 && v < n) {
              const q = pc + 6 + 2 * v;
              if (code[q] !== NO_DATA) {
                res = code[q]!;
                target = code[q + 1]!;
              }
            }
            pc += 6 + 2 * n;
            break;
          }
          case OP_VERDICT:
            res = code[pc + 2]!;
            target = code[pc + 3]!;
            pc += 4;
            break;
          case OP_COUNTER: {
            const c = consts[cbase + code[pc + 2]!] as { packets: number; bytes: number };
            c.packets++;
            c.bytes += p.len;
            pc += 3;
            break;
          }
          case OP_SET_MARK: {
            const v = this.load(code, pc + 2);
            if (v === UNDEF) res = NFT_BREAK;
            else p.mark = v >>> 0;
            pc += 5;
            break;
          }
          case OP_SET_CTMARK: {
            const v = this.load(code, pc + 2);
            if (v === UNDEF || !p.hasCt) res = NFT_BREAK;
            else {
              p.ctMark = v >>> 0;
              r.ctMarkSet = true;
            }
            pc += 5;
            break;
          }
          case OP_NAT:
            // nft_nat_eval binds at once and returns NF_ACCEPT: the rule's verdict ends the chain.
            r.setNat(code, pc + 2);
            res = NFT_ACCEPT;
            pc += 8;
            break;
          case OP_REJECT:
            // nft_reject_ipv4_eval sends the error and sets NF_DROP.
            r.reject = consts[cbase + code[pc + 2]!] as NftReject;
            res = NFT_DROP;
            pc += 3;
            break;
          case OP_LOG:
            pc += 2;
            break;
          case OP_NOTRACK:
            r.notrack = true;
            p.ctState = NFT_CT_UNTRACKED;
            pc += 2;
            break;
          case OP_DYNSET: {
            const set = consts[cbase + code[pc + 2]!] as RuntimeSet;
            const t = code[pc + 4]!;
            const n = code[pc + 5]!;
            if (this.loadRegs(code, pc + 6, n)) set.dynset(code[pc + 3] === 1, regs, this.env.clock.now(), t < 0 ? undefined : (consts[cbase + t] as number));
            pc += 6 + 3 * n;
            break;
          }
          default:
            throw new Error(`nft: bad opcode ${op}`);
        }
        if (res !== NFT_CONTINUE) break;
      }
      if (res === NFT_BREAK) {
        pc = end;
        continue;
      }
      if (r.hits !== null) r.hits.push({ chain: cur === prog.entry[base.id] ? base : prog.chainAt(cur), ruleIndex });
      switch (res) {
        case NFT_CONTINUE:
          continue;
        case NFT_ACCEPT:
          r.verdict = "accept";
          return r;
        case NFT_DROP:
          r.verdict = "drop";
          return r;
        case NFT_JUMP:
          if (sp >= STACK) {
            r.verdict = "drop";
            return r;
          }
          stackChain[sp] = cur;
          stackPc[sp] = end;
          stackRule[sp] = ri;
          stackRules[sp] = nrules;
          stackBase[sp] = cbase;
          sp++;
          cur = target;
          pc = cur;
          if (code[pc]! < 0) pc = code[pc + 1]!;
          nrules = code[pc]!;
          cbase = code[pc + 1]!;
          pc += 3;
          this.cbase = cbase;
          ri = 0;
          continue;
        case NFT_GOTO:
          cur = target;
          pc = cur;
          if (code[pc]! < 0) pc = code[pc + 1]!;
          nrules = code[pc]!;
          cbase = code[pc + 1]!;
          pc += 3;
          this.cbase = cbase;
          ri = 0;
          continue;
        case NFT_RETURN:
          if (sp === 0) {
            r.verdict = base.policy === NFT_DROP ? "drop" : "accept";
            return r;
          }
          sp--;
          cur = stackChain[sp]!;
          pc = stackPc[sp]!;
          ri = stackRule[sp]!;
          nrules = stackRules[sp]!;
          cbase = stackBase[sp]!;
          this.cbase = cbase;
          continue;
      }
    }
  }
}
