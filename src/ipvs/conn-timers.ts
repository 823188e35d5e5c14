/**
 * The connection timers of an IPVS table, in the order one priority queue would give
 * (earliest first, ties in arming order) at O(1) for the common case. Most timers are
 * armed at `now + timeout` with a non-decreasing virtual `now` and one timeout per state,
 * so they arrive in time order: those go to a FIFO ring over typed arrays; a timer earlier
 * than the ring's latest goes to a heap (EventQueue). The ring's threshold never goes
 * down, so a ring entry is always armed before a heap entry with the same time: taking the
 * ring first on ties keeps arming order.
 */
import { EventQueue } from "../base/event-queue.js";

export class ConnTimers<T> {
  private times = new Float64Array(1024);
  private items: (T | undefined)[] = new Array<T | undefined>(1024);
  private head = 0;
  private count = 0;
  /** The latest time the ring took; never lowered (see above). */
  private threshold = -Infinity;
  private readonly late = new EventQueue<T>();

  get size(): number {
    return this.count + this.late.size;
  }

  push(time: number, item: T): void {
    if (time < this.threshold) {
      this.late.push(time, item);
      return;
    }
    if (this.count === this.times.length) this.grow();
    const i = (this.head + this.count) & (this.times.length - 1);
    this.times[i] = time;
    this.items[i] = item;
    this.count++;
    this.threshold = time;
  }

  /** Time of the earliest timer; Infinity when none. */
  peekTime(): number {
    const ring = this.count > 0 ? this.times[this.head]! : Infinity;
    const late = this.late.peekTime();
    return ring <= late ? ring : late;
  }

  /** Removes and returns the earliest timer's item. */
  pop(): T | undefined {
    if (this.count > 0 && this.times[this.head]! <= this.late.peekTime()) {
      const item = this.items[this.head];
      this.items[this.head] = undefined;
      this.head = (this.head + 1) & (this.times.length - 1);
      this.count--;
      return item;
    }
    return this.late.pop();
  }

  clear(): void {
    this.items.fill(undefined);
    this.head = 0;
    this.count = 0;
    this.late.clear();
  }

  private grow(): void {
    const cap = this.times.length;
    const times = new Float64Array(cap * 2);
    const items = new Array<T | undefined>(cap * 2);
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) & (cap - 1);
      times[k] = this.times[i]!;
      items[k] = this.items[i];
    }
    this.times = times;
    this.items = items;
    this.head = 0;
  }
}
