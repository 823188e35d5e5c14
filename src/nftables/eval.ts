/**
 * nft_do_chain for one base chain: rules in order, a rule's statements in order; a
 * statement that does not match ends the rule (NFT_BREAK), a verdict ends it with that
 * verdict: accept and drop end the traversal, jump pushes the return point, goto does not,
 * return (or the end of a non-base chain) pops, and the end of the base chain applies its
 * policy. The kernel's jump stack holds NFT_JUMP_STACK_SIZE (16) entries; the loader
 * refuses deeper nesting, so the fixed stack here never overflows on a loaded ruleset.
 */
import { RT } from "./compile-expr.js";
import {
  type CompiledChain,
  NFT_ACCEPT,
  NFT_BREAK,
  NFT_CONTINUE,
  NFT_DROP,
  NFT_GOTO,
  NFT_JUMP,
  NFT_RETURN,
  type NftResult,
} from "./compile.js";
import type { NftEnv, NftPacket } from "./packet.js";

const STACK = 32;

export class NftEvaluator {
  private readonly stackChain: (CompiledChain | null)[] = new Array<CompiledChain | null>(STACK).fill(null);
  private readonly stackIdx = new Int32Array(STACK);

  constructor(readonly env: NftEnv) {}

  /** Runs `p` through base chain `base`; the outcome is left in `r` (reset first). */
  run(base: CompiledChain, p: NftPacket, r: NftResult): NftResult {
    RT.p = p;
    RT.env = this.env;
    let chain = base;
    let i = 0;
    let sp = 0;
    for (;;) {
      if (i >= chain.rules.length) {
        if (sp === 0) {
          // The base chain's policy.
          r.verdict = base.policy === NFT_DROP ? "drop" : "accept";
          if (r.hits !== null) r.hits.push({ chain: base, ruleIndex: -1 });
          return r;
        }
        sp--;
        chain = this.stackChain[sp]!;
        i = this.stackIdx[sp]!;
        continue;
      }
      const ruleIndex = i++;
      const rule = chain.rules[ruleIndex]!;
      r.rules++;
      let code = NFT_CONTINUE;
      const stmts = rule.stmts;
      for (let s = 0; s < stmts.length; s++) {
        r.exprs += rule.costs[s]!;
        code = stmts[s]!(r);
        if (code !== NFT_CONTINUE) break;
      }
      if (code === NFT_BREAK) continue;
      if (r.hits !== null) r.hits.push({ chain, ruleIndex });
      switch (code) {
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
          this.stackChain[sp] = chain;
          this.stackIdx[sp] = i;
          sp++;
          chain = r.target!;
          i = 0;
          continue;
        case NFT_GOTO:
          chain = r.target!;
          i = 0;
          continue;
        case NFT_RETURN:
          if (sp === 0) {
            r.verdict = base.policy === NFT_DROP ? "drop" : "accept";
            return r;
          }
          sp--;
          chain = this.stackChain[sp]!;
          i = this.stackIdx[sp]!;
          continue;
      }
    }
  }
}
