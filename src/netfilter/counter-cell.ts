/**
 * Rule and policy counters that live in a compiled table's typed arrays (packets and bytes
 * as two Float64 values inside the rule's record, flat-encode.ts), so the packet path adds
 * to two numbers next to the words it has just read instead of touching a counters object
 * per rule. The model keeps a `CounterCell` in `rule.counters` (and in a built-in chain's
 * `counters`): reading or writing it goes to the same numbers, so `iptables-save -c`,
 * traces and scenarios see the live values.
 *
 * A cell belongs to one store. When the table is laid out again the cell moves with its rule
 * (its slot changes); when its rule leaves the table the cell is detached into a store of its
 * own, keeping its last values.
 */
import type { Counters } from "./model.js";

/** Where a table's counters live; the arrays are replaced when the table grows. */
export interface CounterStore {
  /** Packets at `at[slot]`, bytes at `at[slot] + 1`. */
  counters: Float64Array;
  at: Int32Array;
  /** Set when another table took over some of this store's cells (see FlatTable.bindRule). */
  stolen: boolean;
}

/** A store of its own for one cell. */
function ownStore(packets: number, bytes: number): CounterStore {
  return { counters: Float64Array.of(packets, bytes), at: Int32Array.of(0), stolen: false };
}

export class CounterCell implements Counters {
  constructor(
    public store: CounterStore,
    public slot: number,
  ) {}

  get packets(): number {
    const s = this.store;
    return s.counters[s.at[this.slot]!]!;
  }

  set packets(v: number) {
    const s = this.store;
    s.counters[s.at[this.slot]!] = v;
  }

  get bytes(): number {
    const s = this.store;
    return s.counters[s.at[this.slot]! + 1]!;
  }

  set bytes(v: number) {
    const s = this.store;
    s.counters[s.at[this.slot]! + 1] = v;
  }

  /** Keeps the current values in a store of the cell's own (its rule left the table). */
  detach(): void {
    this.store = ownStore(this.packets, this.bytes);
    this.slot = 0;
  }

  /** Plain values, so spreading, cloning and JSON give `{packets, bytes}`. */
  toJSON(): Counters {
    return { packets: this.packets, bytes: this.bytes };
  }
}

/** A copy of counters as a plain object (a cell's getters are not own properties, so `{...c}` would lose them). */
export function copyCounters(c: Counters): Counters {
  return { packets: c.packets, bytes: c.bytes };
}
