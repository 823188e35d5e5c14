/**
 * What matches and targets need from outside the ruleset: the namespace's address types,
 * ipsets, `recent` lists, nfacct counters, a seeded RNG for `statistic`, the clock, and
 * where LOG/TRACE lines go. Each engine instance gets its own state so that two engines
 * given equal environments (same seed) make the same random draws.
 */
import type { Clock, Rng } from "../base/index.js";
import type { Counters, MatchSpec } from "./model.js";
import { RecentTables } from "./recent.js";

/** One ipset as the `set` match sees it. */
export interface IpsetView {
  /** The set's dimensions in order, e.g. ["ip", "port"] for hash:ip,port. */
  readonly dims: readonly ("ip" | "port" | "net")[];
  test(a: number, b: number, c: number, proto: number): boolean;
}

export interface IpsetLookup {
  get(name: string): IpsetView | undefined;
}

export interface NetfilterEnv {
  /** XT_ADDRTYPE bits of an address in this namespace (LOCAL, BROADCAST, …). */
  addrType(ip: number): number;
  readonly rng: Rng;
  readonly clock: Clock;
  /** The namespace's ipsets (kube-proxy's IPVS mode fills them); null when it has none. */
  ipsets: IpsetLookup | null;
  readonly recent: RecentTables;
  /** nfacct objects by name (created on first use, as `nfacct add` would have). */
  readonly nfacct: Map<string, Counters>;
  /** Per-rule counters of `statistic --mode nth` (xt_statistic's master->count). */
  readonly nthCounters: Map<MatchSpec, number>;
  /** LOG and TRACE output; null to discard. */
  log: ((line: string) => void) | null;
  /**
   * When set, `statistic --mode random` asks this instead of drawing from the RNG: used to
   * enumerate every branch a packet could take (trace-rules' candidates).
   */
  chooser: ((probability: number) => boolean) | null;
}

export function createEnv(opts: { addrType: (ip: number) => number; rng: Rng; clock: Clock; ipsets?: IpsetLookup | null; log?: ((line: string) => void) | null }): NetfilterEnv {
  return {
    addrType: opts.addrType,
    rng: opts.rng,
    clock: opts.clock,
    ipsets: opts.ipsets ?? null,
    recent: new RecentTables(),
    nfacct: new Map(),
    nthCounters: new Map(),
    log: opts.log ?? null,
    chooser: null,
  };
}
