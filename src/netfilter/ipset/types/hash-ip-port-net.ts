/**
 * hash:ip,port,net — address, protocol:port and a network (kube-proxy's
 * LOAD-BALANCER-SOURCE-CIDR); the network part is matched longest prefix first.
 */
import { formatIpv4 } from "../../../base/ipv4-int.js";
import { parseAddrSpan, parseNets } from "../addr-parse.js";
import { HashStore, type HashKeys } from "../hash-store.js";
import { element, type IpsetElement, type IpsetMember } from "../model.js";
import { parseProtoPort } from "../port-parse.js";
import { protoName } from "../protocols.js";
import { checkCount, splitEntry } from "./expand.js";
import { formatNet } from "./net-format.js";
import type { IpsetTypeSpec } from "./spec.js";

class HashIpPortNetStore extends HashStore {
  protected keys(e: IpsetElement): HashKeys {
    return [e.proto * 65536 + e.port, e.ip, e.ip2];
  }
  find(a: number, b: number, c: number, proto: number, now: number): IpsetMember | undefined {
    return this.lookup(proto * 65536 + b, a >>> 0, c, now);
  }
  override findElement(e: IpsetElement, now: number): IpsetMember | undefined {
    return e.cidr === 32 ? this.lookup(e.proto * 65536 + e.port, e.ip, e.ip2, now) : super.findElement(e, now);
  }
}

export const HASH_IP_PORT_NET: IpsetTypeSpec = {
  name: "hash:ip,port,net",
  kind: "hash",
  dims: ["ip", "port", "net"],
  hasNet: true,
  newStore: () => new HashIpPortNetStore(),
  parse(text, _header, single) {
    const [ipText, portText, netText] = splitEntry(text, "hash:ip,port,net", 3);
    const ips = parseAddrSpan(ipText!);
    const ports = parseProtoPort(portText!);
    const nets = parseNets(netText!);
    checkCount((ips.last - ips.first + 1) * (ports.last - ports.first + 1) * nets.length, text, single);
    const out: IpsetElement[] = [];
    for (let ip = ips.first; ip <= ips.last; ip++) {
      for (let port = ports.first; port <= ports.last; port++) {
        for (const n of nets) out.push(element({ ip, proto: ports.proto, port, ip2: n.net, cidr: n.cidr }));
      }
    }
    return out;
  },
  format: (e) => `${formatIpv4(e.ip)},${protoName(e.proto)}:${e.port},${formatNet(e.ip2, e.cidr)}`,
};
