/** hash:ip,port — address, protocol and port; the protocol is part of the key. */
import { formatIpv4 } from "../../../base/ipv4-int.js";
import { parseAddrSpan } from "../addr-parse.js";
import { HashStore, type HashKeys } from "../hash-store.js";
import { element, type IpsetElement, type IpsetMember } from "../model.js";
import { parseProtoPort } from "../port-parse.js";
import { protoName } from "../protocols.js";
import { checkCount, splitEntry } from "./expand.js";
import type { IpsetTypeSpec } from "./spec.js";

class HashIpPortStore extends HashStore {
  protected keys(e: IpsetElement): HashKeys {
    return [e.proto * 65536 + e.port, 0, e.ip];
  }
  find(a: number, b: number, _c: number, proto: number, now: number): IpsetMember | undefined {
    return this.lookup(proto * 65536 + b, 0, a, now);
  }
}

export const HASH_IP_PORT: IpsetTypeSpec = {
  name: "hash:ip,port",
  kind: "hash",
  dims: ["ip", "port"],
  hasNet: false,
  newStore: () => new HashIpPortStore(),
  parse(text, _header, single) {
    const [ipText, portText] = splitEntry(text, "hash:ip,port", 2);
    const ips = parseAddrSpan(ipText!);
    const ports = parseProtoPort(portText!);
    checkCount((ips.last - ips.first + 1) * (ports.last - ports.first + 1), text, single);
    const out: IpsetElement[] = [];
    for (let ip = ips.first; ip <= ips.last; ip++) {
      for (let port = ports.first; port <= ports.last; port++) out.push(element({ ip, proto: ports.proto, port }));
    }
    return out;
  },
  format: (e) => `${formatIpv4(e.ip)},${protoName(e.proto)}:${e.port}`,
};
