/** hash:ip — single addresses; an entry may be a CIDR or a range, stored address by address. */
import { formatIpv4 } from "../../../base/ipv4-int.js";
import { parseAddrSpan } from "../addr-parse.js";
import { ipsetError } from "../errors.js";
import { HashStore, type HashKeys } from "../hash-store.js";
import { element, type IpsetElement, type IpsetMember } from "../model.js";
import { checkCount, splitEntry } from "./expand.js";
import type { IpsetTypeSpec } from "./spec.js";

class HashIpStore extends HashStore {
  protected keys(e: IpsetElement): HashKeys {
    return [0, 0, e.ip];
  }
  find(a: number, _b: number, _c: number, _proto: number, now: number): IpsetMember | undefined {
    return this.lookup(0, 0, a, now);
  }
}

export const HASH_IP: IpsetTypeSpec = {
  name: "hash:ip",
  kind: "hash",
  dims: ["ip"],
  hasNet: false,
  newStore: () => new HashIpStore(),
  parse(text, _header, single) {
    const [ipText] = splitEntry(text, "hash:ip", 1);
    const span = parseAddrSpan(ipText!);
    checkCount(span.last - span.first + 1, text, single);
    if (span.first === 0) {
      throw ipsetError("E_IPSET_ENTRY", "0.0.0.0 cannot be stored in a hash:ip set", "the kernel refuses null-valued elements in hash types", "entry");
    }
    const out: IpsetElement[] = [];
    for (let ip = span.first; ip <= span.last; ip++) out.push(element({ ip }));
    return out;
  },
  format: (e) => formatIpv4(e.ip),
};
