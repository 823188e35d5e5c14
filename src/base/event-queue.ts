/**
 * A deterministic priority queue of timed events: earliest time first, ties in insertion
 * order. Times and sequence numbers live in typed arrays so scheduling does not allocate
 * once the queue has grown to its working size.
 */
export class EventQueue<T> {
  private times = new Float64Array(64);
  private seqs = new Float64Array(64);
  private items: (T | undefined)[] = new Array(64);
  private n = 0;
  private seq = 0;

  get size(): number {
    return this.n;
  }

  push(time: number, item: T): void {
    if (this.n === this.times.length) this.grow();
    let i = this.n++;
    const seq = this.seq++;
    // Sift up.
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.times[p]! < time || (this.times[p] === time && this.seqs[p]! < seq)) break;
      this.times[i] = this.times[p]!;
      this.seqs[i] = this.seqs[p]!;
      this.items[i] = this.items[p];
      i = p;
    }
    this.times[i] = time;
    this.seqs[i] = seq;
    this.items[i] = item;
  }

  /** Time of the earliest event; Infinity when empty. */
  peekTime(): number {
    return this.n === 0 ? Infinity : this.times[0]!;
  }

  /** Removes and returns the earliest event (call peekTime first for its time). */
  pop(): T | undefined {
    if (this.n === 0) return undefined;
    const top = this.items[0];
    const last = --this.n;
    const t = this.times[last]!;
    const s = this.seqs[last]!;
    const it = this.items[last];
    this.items[last] = undefined;
    if (last > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= last) break;
        const r = l + 1;
        let c = l;
        if (r < last && (this.times[r]! < this.times[l]! || (this.times[r] === this.times[l] && this.seqs[r]! < this.seqs[l]!))) c = r;
        if (t < this.times[c]! || (t === this.times[c] && s < this.seqs[c]!)) break;
        this.times[i] = this.times[c]!;
        this.seqs[i] = this.seqs[c]!;
        this.items[i] = this.items[c];
        i = c;
      }
      this.times[i] = t;
      this.seqs[i] = s;
      this.items[i] = it;
    }
    return top;
  }

  clear(): void {
    this.items.fill(undefined, 0, this.n);
    this.n = 0;
  }

  private grow(): void {
    const cap = this.times.length * 2;
    const times = new Float64Array(cap);
    times.set(this.times);
    const seqs = new Float64Array(cap);
    seqs.set(this.seqs);
    this.times = times;
    this.seqs = seqs;
    this.items.length = cap;
  }
}
