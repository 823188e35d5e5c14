/**
 * One named set. The packet path is `test(a, b, c, proto)`: for each dimension in `dims`
 * order the caller passes the packet's address (ip/net) or port chosen by the match's
 * src/dst flags, then the IP protocol number; unused trailing arguments are ignored. It
 * allocates nothing. The contents live in a body object so that `swap` can exchange
 * contents while every holder of an `Ipset` keeps following its name, as iptables rules do.
 */
import type { Clock } from "../../base/clock.js";
import { checkEntryOptions, setExtensions } from "./entry-ext.js";
import { ipsetError } from "./errors.js";
import type { MemberStore } from "./member-store.js";
import type { DimKind, IpsetEntryOptions, IpsetHeader, IpsetMember, IpsetTypeName } from "./model.js";
import type { IpsetTypeSpec } from "./types/index.js";

interface Body {
  spec: IpsetTypeSpec;
  header: IpsetHeader;
  store: MemberStore;
  /** Members in insertion order, keyed by their printed element. */
  members: Map<string, IpsetMember>;
}

function newBody(spec: IpsetTypeSpec, header: IpsetHeader): Body {
  return { spec, header, store: spec.newStore(header), members: new Map() };
}

export class Ipset {
  private body: Body;
  /** The registry's set this one was copied from, while a restore works on a copy. */
  origin: Ipset | undefined;

  constructor(
    public name: string,
    spec: IpsetTypeSpec,
    header: IpsetHeader,
    private readonly clock: Clock,
  ) {
    this.body = newBody(spec, header);
  }

  get type(): IpsetTypeName {
    return this.body.spec.name;
  }
  get spec(): IpsetTypeSpec {
    return this.body.spec;
  }
  get dims(): readonly DimKind[] {
    return this.body.spec.dims;
  }
  get header(): Readonly<IpsetHeader> {
    return this.body.header;
  }

  /** The iptables `set` match: true when the deciding member exists and is not nomatch. */
  test(a: number, b = 0, c = 0, proto = 0): boolean {
    const m = this.body.store.find(a, b, c, proto, this.clock.now());
    return m !== undefined && !m.nomatch;
  }

  /** Like `test`, and on a match bumps the member's counters (sets with `counters`). */
  testAndCount(a: number, b: number, c: number, proto: number, bytes: number): boolean {
    const m = this.body.store.find(a, b, c, proto, this.clock.now());
    if (m === undefined || m.nomatch) return false;
    if (this.body.header.counters) {
      m.packets++;
      m.bytes += bytes;
    }
    return true;
  }

  /** `ipset test` of one element given as text. */
  testEntry(entry: string): boolean {
    const [e] = this.body.spec.parse(entry, this.body.header, true);
    const m = this.body.store.findElement(e!, this.clock.now());
    return m !== undefined && !m.nomatch;
  }

  /** Live members in insertion order (expired ones are dropped first). */
  members(): IpsetMember[] {
    this.purge();
    return [...this.body.members.values()];
  }

  get size(): number {
    this.purge();
    return this.body.members.size;
  }

  /** Adds every element of an entry, or none: duplicates and a full set are checked first. */
  add(entry: string, options: IpsetEntryOptions, exist: boolean): void {
    const { spec, header, store, members } = this.body;
    checkEntryOptions(spec, header, options);
    const elements = spec.parse(entry, header, false);
    const now = this.clock.now();
    let fresh = 0;
    for (const e of elements) {
      if (this.live(spec.format(e), now) !== undefined) {
        if (!exist) throw ipsetError("E_IPSET_DUPLICATE", `${spec.format(e)} is already in set ${this.name}`, "use -exist to re-add (it refreshes timeout and comment)", "entry");
      } else fresh++;
    }
    // Like the kernel, sweep out expired members only when the set looks full.
    if (members.size + fresh > header.maxelem) this.purge();
    if (members.size + fresh > header.maxelem) {
      throw ipsetError("E_IPSET_FULL", `set ${this.name} is full (maxelem ${header.maxelem})`, "create the set with a larger maxelem", "entry");
    }
    for (const e of elements) {
      const key = spec.format(e);
      let m = members.get(key);
      if (m === undefined) {
        m = { ...e, key, expiresAt: Infinity, nomatch: false, packets: 0, bytes: 0, comment: undefined };
        members.set(key, m);
        store.put(m);
      }
      setExtensions(m, header, options, now);
    }
  }

  /** Deletes every element of an entry, or none when one is missing (unless `exist`). */
  del(entry: string, exist: boolean): void {
    const { spec, header, store, members } = this.body;
    const elements = spec.parse(entry, header, false);
    const now = this.clock.now();
    if (!exist) {
      for (const e of elements) {
        if (this.live(spec.format(e), now) === undefined) {
          throw ipsetError("E_IPSET_NOT_MEMBER", `${spec.format(e)} is not in set ${this.name}`, "use -exist to ignore elements that are not there", "entry");
        }
      }
    }
    for (const e of elements) {
      members.delete(spec.format(e));
      store.remove(e);
    }
  }

  flush(): void {
    this.body.members.clear();
    this.body.store.clear();
  }

  /** Exchanges contents (type, header, members) with another set; names stay. */
  swapWith(other: Ipset): void {
    const b = this.body;
    this.body = other.body;
    other.body = b;
  }

  /** Takes another set's name and contents (used to commit a restore). */
  adopt(from: Ipset): this {
    this.name = from.name;
    this.body = from.body;
    return this;
  }

  /** A deep copy that remembers this set as its origin. */
  copy(): Ipset {
    const c = new Ipset(this.name, this.body.spec, this.body.header, this.clock);
    for (const m of this.body.members.values()) {
      const mc = { ...m };
      c.body.members.set(mc.key, mc);
      c.body.store.put(mc);
    }
    c.origin = this;
    return c;
  }

  /** The member with this key unless it has expired (an expired one is dropped). */
  private live(key: string, now: number): IpsetMember | undefined {
    const m = this.body.members.get(key);
    if (m === undefined || now <= m.expiresAt) return m;
    this.body.members.delete(key);
    this.body.store.remove(m);
    return undefined;
  }

  private purge(): void {
    if (this.body.header.timeout === undefined) return;
    const now = this.clock.now();
    const { members, store } = this.body;
    for (const [key, m] of members) {
      if (now > m.expiresAt) {
        members.delete(key);
        store.remove(m);
      }
    }
  }
}
