/** hash:net — networks of any prefix length 1..32, matched longest prefix first. */
import { parseNets } from "../addr-parse.js";
import { HashStore, type HashKeys } from "../hash-store.js";
import { element, type IpsetElement, type IpsetMember } from "../model.js";
import { checkCount, splitEntry } from "./expand.js";
import { formatNet } from "./net-format.js";
import type { IpsetTypeSpec } from "./spec.js";

class HashNetStore extends HashStore {
  protected keys(e: IpsetElement): HashKeys {
    return [0, 0, e.ip];
  }
  find(a: number, _b: number, _c: number, _proto: number, now: number): IpsetMember | undefined {
    return this.lookup(0, 0, a, now);
  }
  /** A host (no or /32 prefix) is looked up by longest prefix; a network exactly. */
  override findElement(e: IpsetElement, now: number): IpsetMember | undefined {
    return e.cidr === 32 ? this.lookup(0, 0, e.ip, now) : super.findElement(e, now);
  }
}

export const HASH_NET: IpsetTypeSpec = {
  name: "hash:net",
  kind: "hash",
  dims: ["net"],
  hasNet: true,
  newStore: () => new HashNetStore(),
  parse(text, _header, single) {
    const [netText] = splitEntry(text, "hash:net", 1);
    const nets = parseNets(netText!);
    checkCount(nets.length, text, single);
    return nets.map((n) => element({ ip: n.net, cidr: n.cidr }));
  },
  format: (e) => formatNet(e.ip, e.cidr),
};
