/**
 * What one applied `nft -f` transaction changed, so the compiled form can be updated in
 * place (recompile the touched chains, patch the touched sets) instead of rebuilt. The
 * loader (`applyNftScript`) fills it; the compiler (`compileRuleset`) reads it. Keys are a
 * table's `family name` and then a chain's or set's name.
 */
import type { SetElement } from "./model.js";

/**
 * The net element change of one set: the compiler applies it as flush (when `flushed`),
 * then `deleted`, then `added`, so an element replaced (same key, other data) is in both.
 */
export interface NftSetDelta {
  /** The set was flushed (every element removed) before `added` were inserted. */
  flushed: boolean;
  added: SetElement[];
  deleted: SetElement[];
}

export interface NftChanges {
  /**
   * Something the incremental path does not follow happened (a table added, deleted or
   * flushed, `flush ruleset`, a set or map declared or deleted, a base chain's hook,
   * priority or policy changed): recompile everything.
   */
  full: boolean;
  /** Chains added, deleted, or whose rules changed (rules added, inserted, replaced, deleted, chain flushed). */
  chains: Map<string, Set<string>>;
  /** Element changes of existing sets and maps. */
  sets: Map<string, Map<string, NftSetDelta>>;
}

export function newNftChanges(): NftChanges {
  return { full: false, chains: new Map(), sets: new Map() };
}

/** `family name`, the key of a table in NftChanges and CompiledNft.sets. */
export function tableKey(family: string, name: string): string {
  return `${family} ${name}`;
}
