/**
 * Checks the kernel makes when a transaction commits (nf_tables_api.c `nft_table_validate`):
 * walking from every base chain through jumps, gotos and verdict maps, each statement must
 * be allowed at that base chain's type and hook (nat statements only in nat chains:
 * dnat at prerouting/output, snat at postrouting/input, masquerade at postrouting) and no
 * chain may be reached again on its own path (ELOOP, "Too many links"). Chains no base chain
 * reaches are not checked, as in the kernel (found with kernel 6.18: a q → r → q loop loads).
 *
 * Contexts are kept per chain by the chain's handle (a table never hands a handle out twice,
 * so a chain deleted and added again starts with none), in a byte array as long as the
 * table's handles: no map of chain names, whose lookups cost cache misses per chain.
 *
 * Three ways to check one table, all giving the errors of the reference walk:
 * - `referenceWalk`: the kernel's walk, base chain by base chain; it throws the first error
 *   in that order. It runs only when one of the others suspects an error.
 * - `validateFull`: one depth-first search from the base chains (a loop, or the order to
 *   push contexts down in), then each chain's contexts (the type/hook kinds of the base
 *   chains reaching it, a bitmask) found once and its statements checked against them; the
 *   contexts are kept with the table (`ValidationCache`).
 * - `validateIncremental`: after a small transaction, only what it changed: the statements
 *   of rules it added (against their chain's kept contexts), the chains its new jumps, gotos
 *   and map elements newly reach (contexts pushed down them), and a loop search from the
 *   targets of the new edges. Kept contexts only ever grow between full checks (a removed
 *   jump leaves them larger than exact), so a statement they refuse sends the table to the
 *   exact checks; nothing they allow can be refused by them.
 */
import { NFT_ERROR, nftError, type NftLocation } from "./errors.js";
import { HOOKS, type BaseChainSpec, type NftChain, type NftRule, type NftRuleset, type NftTable, type SetElement, type Stmt } from "./model.js";

type RuleLocs = ReadonlyMap<NftRule, { loc: NftLocation; stmtLocs: NftLocation[] }>;

/** One table as a transaction sees it (its chains and set elements before or after the transaction's changes). */
export interface TableView {
  chain(name: string): NftChain | undefined;
  /** Every chain, in the table's order. */
  chains(): Iterable<NftChain>;
  /** The chains a verdict map's elements jump or go to, in any order. */
  mapTargets(name: string): Iterable<string>;
  /** A set's elements in `nft list` order. */
  sortedElements(name: string): readonly SetElement[];
  /** Above every handle of the table's chains (the table's next handle). */
  handleLimit(): number;
}

/** What a full check found, kept for the next incremental one: contexts per chain (by handle) and per verdict map (the union over the chains using it). */
export interface ValidationCache {
  reach: Uint8Array;
  mapMask: Map<string, number>;
}

/** What an incremental check found: the contexts that grew, per chain handle and per map. */
export interface ValidationDelta {
  reach: Map<number, number>;
  mapMask: Map<string, number>;
}

// ---------------------------------------------------------------- contexts

/** A nat base chain at hook i is bit i; every other base chain (filter, route) is one bit. */
const NON_NAT = 1 << HOOKS.length;
const natBit = (hook: string): number => 1 << HOOKS.indexOf(hook as (typeof HOOKS)[number]);
const DNAT_OK = natBit("prerouting") | natBit("output");
const SNAT_OK = natBit("postrouting") | natBit("input");
const MASQ_OK = natBit("postrouting");

function contextBit(base: BaseChainSpec): number {
  return base.type === "nat" ? natBit(base.hook) : NON_NAT;
}

/** Is `s` refused in any of the contexts in `bits`? */
function refused(s: Stmt, bits: number): boolean {
  if (s.kind === "nat") return (bits & ~(s.type === "dnat" ? DNAT_OK : SNAT_OK)) !== 0;
  if (s.kind === "masquerade") return (bits & ~MASQ_OK) !== 0;
  return false;
}

function contextError(s: Stmt, base: BaseChainSpec): string | null {
  const nat = base.type === "nat";
  if (s.kind === "nat" && s.type === "dnat" && !(nat && (base.hook === "prerouting" || base.hook === "output"))) return "dnat is only valid in nat chains at prerouting or output";
  if (s.kind === "nat" && s.type === "snat" && !(nat && (base.hook === "postrouting" || base.hook === "input"))) return "snat is only valid in nat chains at postrouting or input";
  if (s.kind === "masquerade" && !(nat && base.hook === "postrouting")) return "masquerade is only valid in nat chains at postrouting";
  return null;
}

function elementTarget(e: SetElement): string | undefined {
  return e.data?.kind === "verdict" && "chain" in e.data.verdict ? e.data.verdict.chain : undefined;
}

/** Chains a statement jumps or goes to directly (verdicts, anonymous verdict maps). */
function directTargets(s: Stmt, out: string[]): void {
  if (s.kind === "verdict") {
    if ("chain" in s.verdict) out.push(s.verdict.chain);
  } else if (s.kind === "vmap" && s.map.kind === "anon") {
    for (const e of s.map.elements) {
      const t = elementTarget(e);
      if (t !== undefined) out.push(t);
    }
  }
}

/** Contexts per chain and per map, over kept ones (read-only) with the changes staged here. */
class Contexts {
  readonly reach = new Map<number, number>();
  readonly mapMask = new Map<string, number>();
  visits = 0;
  private readonly scratch: string[] = [];

  constructor(
    private readonly view: TableView,
    private readonly keptReach: Uint8Array,
    private readonly keptMaps: ReadonlyMap<string, number> | null,
  ) {}

  /** The contexts of chain `name` (0 for a chain that does not exist). */
  of(name: string): number {
    const c = this.view.chain(name);
    return c === undefined ? 0 : this.ofHandle(c.handle);
  }

  private ofHandle(h: number): number {
    return this.reach.get(h) ?? (h < this.keptReach.length ? this.keptReach[h]! : 0);
  }

  ofMap(map: string): number {
    return this.mapMask.get(map) ?? this.keptMaps?.get(map) ?? 0;
  }

  /** Map `map` is used by a chain in contexts `bits`: its targets get the bits it lacked. Returns false when a statement is refused. */
  useMap(map: string, bits: number): boolean {
    const had = this.ofMap(map);
    const nb = bits & ~had;
    if (nb === 0) return true;
    this.mapMask.set(map, had | nb);
    let ok = true;
    for (const t of this.view.mapTargets(map)) if (!this.add(t, nb)) ok = false;
    return ok;
  }

  /** Adds contexts `bits` to chain `name` and to everything it reaches. Returns false when a statement is refused in a context it gained. */
  add(name: string, bits: number): boolean {
    const names = [name];
    const masks = [bits];
    let ok = true;
    while (names.length > 0) {
      const x = names.pop()!;
      const b = masks.pop()!;
      const c = this.view.chain(x);
      if (c === undefined) continue;
      const had = this.ofHandle(c.handle);
      const nb = b & ~had;
      if (nb === 0) continue;
      this.reach.set(c.handle, had | nb);
      this.visits++;
      for (const r of c.rules) {
        for (const s of r.stmts) {
          if (refused(s, nb)) ok = false;
          if (s.kind === "vmap" && s.map.kind === "named") {
            const m = s.map.name;
            const had = this.ofMap(m);
            const mb = nb & ~had;
            if (mb !== 0) {
              this.mapMask.set(m, had | mb);
              for (const t of this.view.mapTargets(m)) {
                names.push(t);
                masks.push(mb);
              }
            }
            continue;
          }
          const out = this.scratch;
          out.length = 0;
          directTargets(s, out);
          for (const t of out) {
            names.push(t);
            masks.push(nb);
          }
        }
      }
    }
    return ok;
  }
}

/**
 * Depth-first search from `sources` over jumps, gotos and verdict maps: "cycle" when a chain
 * is reached again on its own path, "budget" when more than `budget` chains were visited.
 */
function searchLoops(view: TableView, sources: Iterable<string>, budget: number): "ok" | "cycle" | "budget" {
  const color = new Map<string, 1 | 2>();
  const edgesOf = (c: NftChain): string[] => {
    const out: string[] = [];
    for (const r of c.rules) {
      for (const s of r.stmts) {
        if (s.kind === "vmap" && s.map.kind === "named") for (const t of view.mapTargets(s.map.name)) out.push(t);
        else directTargets(s, out);
      }
    }
    return out;
  };
  let visits = 0;
  for (const s of sources) {
    if (color.has(s)) continue;
    const first = view.chain(s);
    if (first === undefined) continue;
    const names = [s];
    const edges = [edgesOf(first)];
    const at = [0];
    color.set(s, 1);
    while (names.length > 0) {
      const top = names.length - 1;
      const list = edges[top]!;
      if (at[top]! >= list.length) {
        color.set(names[top]!, 2);
        names.pop();
        edges.pop();
        at.pop();
        continue;
      }
      const t = list[at[top]!++]!;
      const col = color.get(t);
      if (col === 1) return "cycle";
      if (col === 2) continue;
      const c = view.chain(t);
      if (c === undefined) continue;
      if (++visits > budget) return "budget";
      color.set(t, 1);
      names.push(t);
      edges.push(edgesOf(c));
      at.push(0);
    }
  }
  return "ok";
}

// ---------------------------------------------------------------- the three checks

/**
 * The whole table: one depth-first search from the base chains finds a loop or, without
 * one, the order to push contexts down in (reverse post-order, parents before children);
 * then each chain's statements are checked against its contexts. The reference walk runs
 * when either finds something (to throw its error).
 */
export function validateFull(view: TableView, locs: RuleLocs, file: string): ValidationCache {
  const limit = view.handleLimit();
  const reach = new Uint8Array(limit);
  const mapMask = new Map<string, number>();
  const bases: NftChain[] = [];
  for (const c of view.chains()) if (c.base) bases.push(c);
  const order = postOrder(view, bases, limit);
  let suspect = order === null;
  if (order !== null) {
    for (const b of bases) reach[b.handle] = reach[b.handle]! | contextBit(b.base!);
    const out: string[] = [];
    for (let i = order.length - 1; i >= 0; i--) {
      const c = order[i]!;
      const bits = reach[c.handle]!;
      const rules = c.rules;
      for (let ri = 0; ri < rules.length; ri++) {
        const stmts = rules[ri]!.stmts;
        for (let si = 0; si < stmts.length; si++) {
          const st = stmts[si]!;
          if (refused(st, bits)) suspect = true;
          out.length = 0;
          if (st.kind === "vmap" && st.map.kind === "named") {
            const m = st.map.name;
            mapMask.set(m, (mapMask.get(m) ?? 0) | bits);
            for (const t of view.mapTargets(m)) out.push(t);
          } else directTargets(st, out);
          for (let k = 0; k < out.length; k++) {
            const t = view.chain(out[k]!);
            if (t !== undefined) reach[t.handle] = reach[t.handle]! | bits;
          }
        }
      }
    }
  }
  if (suspect) referenceWalk(view, locs, file);
  return { reach, mapMask };
}

/**
 * Depth-first search from the base chains over jumps, gotos and verdict maps (an explicit
 * stack, so deep chains of jumps do not overflow): the chains reached, in post-order; null
 * when a chain is reached again on its own path (a loop).
 */
function postOrder(view: TableView, bases: readonly NftChain[], limit: number): NftChain[] | null {
  // 0 unseen, 1 on the current path, 2 done; by handle.
  const color = new Uint8Array(limit);
  const order: NftChain[] = [];
  // The chains on the path, and where each one's targets start on the shared stack of targets.
  const path: NftChain[] = [];
  const from: number[] = [];
  const targets: string[] = [];
  const enter = (c: NftChain): void => {
    color[c.handle] = 1;
    path.push(c);
    from.push(targets.length);
    const rules = c.rules;
    for (let ri = 0; ri < rules.length; ri++) {
      const stmts = rules[ri]!.stmts;
      for (let si = 0; si < stmts.length; si++) {
        const st = stmts[si]!;
        if (st.kind === "vmap" && st.map.kind === "named") for (const t of view.mapTargets(st.map.name)) targets.push(t);
        else directTargets(st, targets);
      }
    }
  };
  for (const b of bases) {
    if (color[b.handle] !== 0) continue;
    enter(b);
    while (path.length > 0) {
      const top = path.length - 1;
      if (targets.length > from[top]!) {
        const next = view.chain(targets.pop()!);
        if (next === undefined) continue;
        const col = color[next.handle];
        if (col === 1) return null;
        if (col === 0) enter(next);
        continue;
      }
      const c = path.pop()!;
      from.pop();
      color[c.handle] = 2;
      order.push(c);
    }
  }
  return order;
}

/**
 * What a small transaction changed, checked against the kept contexts: `newRules` are the
 * rules it added per chain, `newMapTargets` the chains its new verdict-map elements point
 * to, per map. Returns the contexts to keep (changes only), or null when the table needs
 * `validateFull` (something looks refused, a loop may have formed, or the work grew past `budget`).
 */
export function validateIncremental(
  view: TableView,
  kept: ValidationCache,
  newRules: ReadonlyMap<string, readonly NftRule[]>,
  newMapTargets: ReadonlyMap<string, readonly string[]>,
  budget: number,
): ValidationDelta | null {
  const ctx = new Contexts(view, kept.reach, kept.mapMask);
  const sources: string[] = [];
  const out: string[] = [];
  for (const [name, rules] of newRules) {
    const bits = ctx.of(name);
    if (bits === 0) continue;
    for (const r of rules) {
      for (const s of r.stmts) {
        if (refused(s, bits)) return null;
        if (s.kind === "vmap" && s.map.kind === "named") {
          if (!ctx.useMap(s.map.name, bits)) return null;
          for (const t of view.mapTargets(s.map.name)) sources.push(t);
          continue;
        }
        out.length = 0;
        directTargets(s, out);
        for (const t of out) {
          if (!ctx.add(t, bits)) return null;
          sources.push(t);
        }
      }
      if (ctx.visits + sources.length > budget) return null;
    }
  }
  for (const [map, targets] of newMapTargets) {
    const bits = ctx.ofMap(map);
    if (bits === 0) continue;
    for (const t of targets) {
      if (!ctx.add(t, bits)) return null;
      sources.push(t);
    }
    if (ctx.visits + sources.length > budget) return null;
  }
  if (searchLoops(view, sources, budget) !== "ok") return null;
  return { reach: ctx.reach, mapMask: ctx.mapMask };
}

/** The kernel's walk: throws the first error met from the base chains in order. */
export function referenceWalk(view: TableView, locs: RuleLocs, file: string): void {
  for (const chain of view.chains()) {
    if (chain.base) walk(view, chain, chain.base, [], new Set(), locs, file);
  }
}

/** The reference walk over every table of a ruleset. */
export function validateRuleset(rs: NftRuleset, locs: RuleLocs, file: string): void {
  for (const table of rs.tables) referenceWalk(plainView(table), locs, file);
}

/** A committed table as a view. */
export function plainView(table: NftTable): TableView {
  return {
    chain: (name) => table.chains.get(name),
    chains: () => table.chains.values(),
    mapTargets: function* (name) {
      for (const e of table.sets.get(name)?.elements ?? []) {
        const t = elementTarget(e);
        if (t !== undefined) yield t;
      }
    },
    sortedElements: (name) => table.sets.get(name)?.elements ?? [],
    handleLimit: () => table.nextHandle,
  };
}

function targets(view: TableView, s: Stmt): string[] {
  const fromEls = (els: readonly SetElement[]): string[] => els.flatMap((e) => (e.data?.kind === "verdict" && "chain" in e.data.verdict ? [e.data.verdict.chain] : []));
  if (s.kind === "verdict" && "chain" in s.verdict) return [s.verdict.chain];
  if (s.kind === "vmap") return s.map.kind === "anon" ? fromEls(s.map.elements) : fromEls(view.sortedElements(s.map.name));
  return [];
}

/** `done` holds chains fully explored from this base chain: nothing below them can loop or fail again. */
function walk(view: TableView, chain: NftChain, base: BaseChainSpec, path: string[], done: Set<string>, locs: RuleLocs, file: string): void {
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
      for (const t of targets(view, s)) {
        const next = view.chain(t);
        if (next) walk(view, next, base, path, done, locs, file);
      }
    });
  }
  path.pop();
  done.add(chain.name);
}
