/**
 * The core figures `npm run bench` adds to `podwire bench`'s rows, each beside the JS limit
 * (src/bench/limit.ts) in the same rounds: the conntrack fast path (bench/conntrack.ts) and
 * end-to-end cross-node UDP with and without netfilter (bench/e2e-udp.ts). Every round runs
 * each figure once — its own setup and warm-up untimed, one timed run — interleaved with
 * the conntrack-style limit, so a figure and its ratio come from the same moments.
 */
import { ConntrackLimit } from "../src/bench/limit.js";
import { type Sample, interleave, nsPer, pairedRatio, summarize } from "../src/bench/stats.js";
import { runConntrackBench } from "./conntrack.js";
import { runE2eUdpBench } from "./e2e-udp.js";

export interface CoreFigures {
  repeats: number;
  /** ns per packet: inspect + DNAT of an established flow (10,000 flows, a table of 100,000). */
  conntrackNs: Sample;
  /** ns per one-way packet end to end, cross-node UDP echo, with the nodes' netfilter and without. */
  e2eNetfilterNs: Sample;
  e2eBareNs: Sample;
  /** The conntrack-style limit, ns per packet. */
  limitConntrackNs: Sample;
  conntrackRatio: Sample;
  e2eNetfilterRatio: Sample;
  /** What netfilter costs end to end: ns with ÷ ns without, per round. */
  netfilterCost: Sample;
}

export function measureCoreFigures(opts: { repeats: number; quick: boolean; onStep?: (label: string) => void }): CoreFigures {
  const limit = new ConntrackLimit();
  const packets = opts.quick ? 400_000 : 1_000_000;
  limit.run(packets); // warm-up
  let round = 0;
  const rounds = interleave(opts.repeats, {
    limit: () => limit.run(packets),
    conntrack: () => {
      opts.onStep?.(`conntrack fast path, run ${++round}`);
      return runConntrackBench({ repeats: 1, rounds: opts.quick ? 40 : 100 }).nsPerPacket;
    },
    e2e: () => nsPer(runE2eUdpBench({ repeats: 1, roundTrips: opts.quick ? 20_000 : 100_000 }).packetsPerSec),
    e2eBare: () => nsPer(runE2eUdpBench({ repeats: 1, roundTrips: opts.quick ? 20_000 : 100_000, netfilter: false }).packetsPerSec),
  });
  return {
    repeats: opts.repeats,
    conntrackNs: summarize(rounds.conntrack)!,
    e2eNetfilterNs: summarize(rounds.e2e)!,
    e2eBareNs: summarize(rounds.e2eBare)!,
    limitConntrackNs: summarize(rounds.limit)!,
    conntrackRatio: pairedRatio(rounds.conntrack, rounds.limit)!,
    e2eNetfilterRatio: pairedRatio(rounds.e2e, rounds.limit)!,
    netfilterCost: pairedRatio(rounds.e2e, rounds.e2eBare)!,
  };
}
