/**
 * Checks the kernel makes when a transaction commits (nf_tables_api.c `nft_table_validate`):
 * walking from every base chain through jumps, gotos and verdict maps, each statement must
 * be allowed at that base chain's type and hook (nat statements only in nat chains:
 * dnat at prerouting/output, snat at postrouting/input, masquerade at postrouting) and no
 * chain may be reached again on its own path (ELOOP, "Too many links"). Chains no base chain
 * reaches are not checked, as in the kernel (found with kernel 6.18: a q → r → q loop loads).
 */
import { NFT_ERROR, nftError, type NftLocation } from "./errors.js";
import type { BaseChainSpec, NftChain, NftRule, NftRuleset, NftTable, SetElement, Stmt } from "./model.js";

type RuleLocs = ReadonlyMap<NftRule, { loc: NftLocation; stmtLocs: NftLocation[] }>;

export function validateRuleset(rs: NftRuleset, locs: RuleLocs, file: string): void {
  for (const table of rs.tables) {
    for (const chain of table.chains.values()) {
      if (chain.base) walk(table, chain, chain.base, [], new Set(), locs, file);
    }
  }
}

function targets(table: NftTable, s: Stmt): string[] {
  const fromEls = (els: SetElement[]): string[] => els.flatMap((e) => (e.data?.kind === "verdict" && "chain" in e.data.verdict ? [e.data.verdict.chain] : []));
  if (s.kind === "verdict" && "chain" in s.verdict) return [s.verdict.chain];
  if (s.kind === "vmap") return s.map.kind === "anon" ? fromEls(s.map.elements) : fromEls(table.sets.get(s.map.name)?.elements ?? []);
  return [];
}

function contextError(s: Stmt, base: BaseChainSpec): string | null {
  const nat = base.type === "nat";
  if (s.kind === "nat" && s.type === "dnat" && !(nat && (base.hook === "prerouting" || base.hook === "output"))) return "dnat is only valid in nat chains at prerouting or output";
  if (s.kind === "nat" && s.type === "snat" && !(nat && (base.hook === "postrouting" || base.hook === "input"))) return "snat is only valid in nat chains at postrouting or input";
  if (s.kind === "masquerade" && !(nat && base.hook === "postrouting")) return "masquerade is only valid in nat chains at postrouting";
  return null;
}

/** `done` holds chains fully explored from this base chain: nothing below them can loop or fail again. */
function walk(table: NftTable, chain: NftChain, base: BaseChainSpec, path: string[], done: Set<string>, locs: RuleLocs, file: string): void {
  if (done.has(chain.name)) return;
  if (path.includes(chain.name)) {
    throw nftError(NFT_ERROR.SEMANTIC, `jumps loop back to chain ${chain.name} (${[...path, chain.name].join(" → ")}): Too many links`, undefined, "remove the jump that closes the loop");
  }
  path.push(chain.name);
  for (const rule of chain.rules) {
    rule.stmts.forEach((s, i) => {
      const why = contextError(s, base);
      if (why) {
        const where = locs.get(rule)?.stmtLocs[i];
        throw nftError(NFT_ERROR.SEMANTIC, `${why} (Operation not supported)`, where ?? { file, line: 0, column: 0 }, `chain ${chain.name} is reached from a ${base.type} chain at ${base.hook}`);
      }
      for (const t of targets(table, s)) {
        const next = table.chains.get(t);
        if (next) walk(table, next, base, path, done, locs, file);
      }
    });
  }
  path.pop();
  done.add(chain.name);
}
