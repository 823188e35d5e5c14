/**
 * The hash tables of one keyed run (see flat-encode.ts `ruleKey`): open addressing over one
 * Int32Array per table, four words a bucket — the exact key (destination address, and
 * protocol·65536 + port), then 1 + the slot and the word offset of the first rule of that
 * key (slot word 0: empty). The rules of one key are chained in rule order through their
 * records' NEXT words, so a lookup yields the only rules of the run that can match a
 * packet, in order, without allocating. Built when the table is loaded, never on the
 * packet path.
 *
 * Two tables: rules with an exact destination (by address and port) and rules without one
 * (by port only); a packet's candidates are the two chains merged by position.
 */
import type { RuleKey } from "./flat-encode.js";

export interface KeyedRun {
  /** First slot past the run, and its record's word offset. */
  end: number;
  endOff: number;
  /** Word offset of the run's stub in its chain's body (where a walk re-enters the run). */
  stubOff: number;
  /** By (address, port): buckets of [dst, portKey, 1 + head slot, head offset]; `addrBits` is log2 of the bucket count. */
  byAddr: Int32Array;
  addrBits: number;
  /** By port: buckets of [0, portKey, 1 + head slot, head offset]; no table when `portBits` is 0. */
  byPort: Int32Array;
  portBits: number;
}

const BUCKET = 4;

/** Protocol + port in one number: proto is 6, 17 or 132 here. */
export function portKey(proto: number, port: number): number {
  return proto * 65536 + port;
}

function bucketOf(dst: number, pk: number, bits: number): number {
  return Math.imul(Math.imul(dst, 0x9e3779b1) ^ pk, 0x85ebca6b) >>> (32 - bits);
}

function bitsFor(n: number): number {
  let bits = 1;
  while (1 << bits < 2 * n) bits++;
  return bits;
}

/** Word index of the bucket holding (dst, pk), or of the empty bucket where it would go. */
function probe(table: Int32Array, bits: number, dst: number, pk: number): number {
  const mask = (1 << bits) - 1;
  let b = bucketOf(dst, pk, bits);
  for (;;) {
    const at = BUCKET * b;
    if (table[at + 2] === 0 || (table[at] === dst && table[at + 1] === pk)) return at;
    b = (b + 1) & mask;
  }
}

/**
 * Builds a run over member rules given by slot and record offset, with their keys, in rule
 * order. Writes each member's NEXT words (at offset + 1 and + 2).
 */
export function buildKeyedRun(rec: Int32Array, slots: readonly number[], offs: readonly number[], keys: readonly RuleKey[], stubOff: number, endOff: number): KeyedRun {
  const n = keys.length;
  let withAddr = 0;
  for (const k of keys) if (k.dst >= 0) withAddr++;
  const addrBits = bitsFor(Math.max(1, withAddr));
  const portBits = withAddr === n ? 0 : bitsFor(n - withAddr);
  const run: KeyedRun = {
    end: slots[n - 1]! + 1,
    endOff,
    stubOff,
    byAddr: new Int32Array(BUCKET << addrBits),
    addrBits,
    byPort: new Int32Array(portBits === 0 ? 0 : BUCKET << portBits),
    portBits,
  };
  // Backwards, so each new head links to the rules after it: chains stay in rule order.
  for (let k = n - 1; k >= 0; k--) {
    const key = keys[k]!;
    const pk = portKey(key.proto, key.port);
    const addr = key.dst >= 0;
    const table = addr ? run.byAddr : run.byPort;
    const dst = addr ? key.dst | 0 : 0;
    const at = probe(table, addr ? addrBits : portBits, dst, pk);
    const o = offs[k]!;
    rec[o + 1] = table[at + 2]! - 1;
    rec[o + 2] = table[at + 2] === 0 ? -1 : table[at + 3]!;
    table[at] = dst;
    table[at + 1] = pk;
    table[at + 2] = slots[k]! + 1;
    table[at + 3] = o;
  }
  return run;
}

/** Word index of the bucket for (dst, pk) in the by-address table: its [2] is 1 + head slot (0: none), its [3] the head offset. */
export function findByAddr(run: KeyedRun, dst: number, pk: number): number {
  return probe(run.byAddr, run.addrBits, dst | 0, pk);
}

/** Word index of the bucket for pk in the by-port table, or −1 when the run has no such table. */
export function findByPort(run: KeyedRun, pk: number): number {
  return run.portBits === 0 ? -1 : probe(run.byPort, run.portBits, 0, pk);
}
