/**
 * The ipsets of one network namespace, by name. Sets sit in numbered slots like the
 * kernel's set list: a new set takes the first free slot, and `ipset save` lists slots in
 * order. `exist` is ipset's `-exist` flag: re-adding refreshes an element, deleting a
 * missing one is ignored, creating an identical set is a no-op, destroying a missing one is
 * fine.
 */
import type { Clock } from "../../base/clock.js";
import { ipsetError } from "./errors.js";
import { makeHeader, sameHeader } from "./header.js";
import { Ipset } from "./ipset.js";
import type { IpsetCreateOptions, IpsetEntryOptions } from "./model.js";
import { typeSpec } from "./types/index.js";

/** Longest set name: IPSET_MAXNAMELEN (32) less the terminating NUL. */
export const MAX_SET_NAME = 31;

const STILL: Clock = { now: () => 0 };

function checkName(name: string, field: string): void {
  if (name.length === 0 || name.length > MAX_SET_NAME) {
    throw ipsetError("E_IPSET_NAME", `set name ${JSON.stringify(name)} must be 1 to ${MAX_SET_NAME} characters`, "shorten the name (kube-proxy's names all fit)", field);
  }
}

export class IpsetRegistry {
  private slots: (Ipset | undefined)[] = [];

  constructor(readonly clock: Clock = STILL) {}

  get(name: string): Ipset | undefined {
    return this.slots.find((s) => s !== undefined && s.name === name);
  }

  /** The named set, or E_IPSET_UNKNOWN_SET. */
  require(name: string, field = "name"): Ipset {
    const set = this.get(name);
    if (set === undefined) {
      const known = this.list().map((s) => s.name);
      throw ipsetError(
        "E_IPSET_UNKNOWN_SET",
        `the set ${JSON.stringify(name)} does not exist`,
        known.length === 0 ? "create it first" : `create it first; known sets: ${known.slice(0, 8).join(", ")}${known.length > 8 ? ", …" : ""}`,
        field,
      );
    }
    return set;
  }

  /** Sets in slot order, as `ipset save` lists them. */
  list(): Ipset[] {
    return this.slots.filter((s): s is Ipset => s !== undefined);
  }

  create(name: string, type: string, options: IpsetCreateOptions = {}, exist = false): Ipset {
    checkName(name, "name");
    const spec = typeSpec(type);
    if (spec === undefined) {
      throw ipsetError("E_IPSET_TYPE", `set type ${JSON.stringify(type)} is not known`, "podwire emulates hash:ip, hash:ip,port, hash:ip,port,ip, hash:ip,port,net, hash:net and bitmap:port", "type");
    }
    const header = makeHeader(spec, options);
    const existing = this.get(name);
    if (existing !== undefined) {
      if (exist && existing.type === spec.name && sameHeader(existing.header, header)) return existing;
      throw ipsetError("E_IPSET_SET_EXISTS", `a set named ${JSON.stringify(name)} already exists`, exist ? "with -exist the type and options must be the same" : "destroy it first, or use -exist to keep an identical set", "name");
    }
    const set = new Ipset(name, spec, header, this.clock);
    const free = this.slots.indexOf(undefined);
    if (free >= 0) this.slots[free] = set;
    else this.slots.push(set);
    return set;
  }

  add(name: string, entry: string, options: IpsetEntryOptions = {}, exist = false): void {
    this.require(name).add(entry, options, exist);
  }

  del(name: string, entry: string, exist = false): void {
    this.require(name).del(entry, exist);
  }

  /** `ipset test NAME ENTRY`: one element; a host address in a net type uses longest prefix. */
  test(name: string, entry: string): boolean {
    return this.require(name).testEntry(entry);
  }

  /** Empties one set, or all when no name is given. */
  flush(name?: string): void {
    if (name === undefined) for (const s of this.list()) s.flush();
    else this.require(name).flush();
  }

  /** Removes one set, or all when no name is given. */
  destroy(name?: string, exist = false): void {
    if (name === undefined) {
      this.slots = [];
      return;
    }
    const set = exist ? this.get(name) : this.require(name);
    if (set !== undefined) this.slots[this.slots.indexOf(set)] = undefined;
  }

  rename(from: string, to: string): void {
    const set = this.require(from);
    checkName(to, "to");
    if (this.get(to) !== undefined) {
      throw ipsetError("E_IPSET_SET_EXISTS", `a set named ${JSON.stringify(to)} already exists`, "pick a new name, or swap the two sets", "to");
    }
    set.name = to;
  }

  /** Exchanges the contents of two sets of the same type; each name keeps its slot. */
  swap(a: string, b: string): void {
    const first = this.require(a);
    const second = this.require(b, "to");
    if (first.type !== second.type) {
      throw ipsetError("E_IPSET_TYPE_MISMATCH", `cannot swap ${a} (${first.type}) with ${b} (${second.type})`, "only sets of the same type can be swapped", "to");
    }
    first.swapWith(second);
  }

  /** A deep copy for a restore to work on; `commit` makes it the registry's state. */
  fork(): IpsetRegistry {
    const f = new IpsetRegistry(this.clock);
    f.slots = this.slots.map((s) => s?.copy());
    return f;
  }

  /** Takes a fork's state, keeping the identity of sets that already existed. */
  commit(fork: IpsetRegistry): void {
    this.slots = fork.slots.map((s) => {
      if (s === undefined) return undefined;
      const origin = s.origin;
      s.origin = undefined;
      return origin === undefined ? s : origin.adopt(s);
    });
    fork.slots = [];
  }
}
