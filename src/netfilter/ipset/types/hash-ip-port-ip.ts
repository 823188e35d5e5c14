/** hash:ip,port,ip — address, protocol:port and a second plain address (kube-proxy's LOOP-BACK). */
import { formatIpv4 } from "../../../base/ipv4-int.js";
import { parseAddrSpan, parsePlainAddr } from "../addr-parse.js";
import { HashStore, type HashKeys } from "../hash-store.js";
import { element, type IpsetElement, type IpsetMember } from "../model.js";
import { parseProtoPort } from "../port-parse.js";
import { protoName } from "../protocols.js";
import { checkCount, splitEntry } from "./expand.js";
import type { IpsetTypeSpec } from "./spec.js";

class HashIpPortIpStore extends HashStore {
  protected keys(e: IpsetElement): HashKeys {
    return [e.proto * 65536 + e.port, e.ip2, e.ip];
  }
  find(a: number, b: number, c: number, proto: number, now: number): IpsetMember | undefined {
    return this.lookup(proto * 65536 + b, c >>> 0, a, now);
  }
}

export const HASH_IP_PORT_IP: IpsetTypeSpec = {
  name: "hash:ip,port,ip",
  kind: "hash",
  dims: ["ip", "port", "ip"],
  hasNet: false,
  newStore: () => new HashIpPortIpStore(),
  parse(text, _header, single) {
    const [ipText, portText, ip2Text] = splitEntry(text, "hash:ip,port,ip", 3);
    const ips = parseAddrSpan(ipText!);
    const ports = parseProtoPort(portText!);
    const ip2 = parsePlainAddr(ip2Text!, "the third part");
    checkCount((ips.last - ips.first + 1) * (ports.last - ports.first + 1), text, single);
    const out: IpsetElement[] = [];
    for (let ip = ips.first; ip <= ips.last; ip++) {
      for (let port = ports.first; port <= ports.last; port++) out.push(element({ ip, proto: ports.proto, port, ip2 }));
    }
    return out;
  },
  format: (e) => `${formatIpv4(e.ip)},${protoName(e.proto)}:${e.port},${formatIpv4(e.ip2)}`,
};
