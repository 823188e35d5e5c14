/** A map keyed by three numbers, as nested `Map`s so lookups allocate nothing. */
export class Map3<V> {
  private readonly root = new Map<number, Map<number, Map<number, V>>>();

  get(a: number, b: number, c: number): V | undefined {
    const m1 = this.root.get(a);
    if (m1 === undefined) return undefined;
    const m2 = m1.get(b);
    return m2 === undefined ? undefined : m2.get(c);
  }

  set(a: number, b: number, c: number, value: V): void {
    let m1 = this.root.get(a);
    if (m1 === undefined) this.root.set(a, (m1 = new Map()));
    let m2 = m1.get(b);
    if (m2 === undefined) m1.set(b, (m2 = new Map()));
    m2.set(c, value);
  }

  delete(a: number, b: number, c: number): boolean {
    const m1 = this.root.get(a);
    const m2 = m1?.get(b);
    if (m1 === undefined || m2 === undefined || !m2.delete(c)) return false;
    if (m2.size === 0) m1.delete(b);
    if (m1.size === 0) this.root.delete(a);
    return true;
  }

  clear(): void {
    this.root.clear();
  }
}
