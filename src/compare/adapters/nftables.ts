/**
 * nftables mode: the endpoints the node's own nft state can send the flow to. The flow's
 * first packet (NEW, from the client's address to the Service address and port) is
 * evaluated offline through the node's ruleset as the kernel would at the hook where the
 * node first sees it (OUTPUT for the node's own connections, else PREROUTING): the filter
 * chains before DNAT (firewall-check), then the nat chains. `numgen random mod N` is driven
 * through every outcome (256 evenly spaced draws cover every bucket for N ≤ 256), and the
 * `dnat to` targets reached are the set. The ruleset is compiled apart from the node's
 * live one, and its affinity sets are emptied before every draw (as the iptables adapter
 * starts without `recent` entries). A flow dropped or
 * rejected before DNAT, or never DNATed, has none.
 */
import type { Rng } from "../../base/index.js";
import { formatIpv4 } from "../../base/index.js";
import type { NodeRuntime } from "../../cluster/build.js";
import { type CompiledNft, NFT_CT_NEW, NftEvaluator, NftPacket, NftResult, type NftRuleset, compileRuleset } from "../../nftables/index.js";
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, IPV4_MIN_HEADER_LEN, Ipv4Packet, PORTS_LEN, ports } from "../../wire/index.js";
import type { FlowRun, ModeAdapter } from "./adapter.js";

const DRAWS = 256;
const compiled = new WeakMap<NftRuleset, CompiledNft>();

export const nftablesAdapter: ModeAdapter = {
  mode: "nftables",
  endpointSetOf(node: NodeRuntime, run: FlowRun): string[] {
    const rs = node.netfilter.nftables;
    if (rs === null) return [];
    let nft = compiled.get(rs);
    if (!nft) {
      nft = compileRuleset(rs);
      compiled.set(rs, nft);
    }
    const local = node.ns.isLocalAddress(run.srcIp);
    const hook = local ? "output" : "prerouting";
    let draw = 0;
    const rng = { nextU32: () => Math.floor(((draw + 0.5) / DRAWS) * 4294967296) } as unknown as Rng;
    const evaluator = new NftEvaluator({ rtnType: (ip) => 31 - Math.clz32(node.netfilter.addrType(ip)), rng, clock: node.ns.sim.clock });
    const p = packet(run);
    const r = new NftResult();
    const out = new Set<string>();
    for (draw = 0; draw < DRAWS; draw++) {
      // Each draw from a fresh state: an affinity set filled by one draw would pin the next.
      for (const sets of nft.sets.values()) for (const s of sets.values()) s.clearDynamic();
      p.mark = 0;
      let dropped = false;
      for (const chain of nft.filter[hook]) {
        if (chain.priority >= -100) break; // only the chains before DNAT
        if (evaluator.run(chain, p, r.reset(false)).verdict === "drop") dropped = true;
        if (dropped) break;
      }
      if (dropped) return [];
      for (const chain of nft.nat[hook]) {
        evaluator.run(chain, p, r.reset(false));
        if (r.verdict === "drop") break;
        const n = r.nat;
        if (n !== null && n.kind === "DNAT" && n.range !== null) {
          out.add(`${formatIpv4(n.range.minIp)}:${n.range.minPort || run.port}`);
          break;
        }
      }
    }
    return [...out].sort();
  },
};

/** The flow's first packet: a bare IPv4 header and the transport ports. */
function packet(run: FlowRun): NftPacket {
  const p = new NftPacket();
  const buf = new Uint8Array(IPV4_MIN_HEADER_LEN + PORTS_LEN);
  const ip = new Ipv4Packet(buf);
  ip.setVersion(4);
  ip.setHeaderLen(IPV4_MIN_HEADER_LEN);
  ip.setProtocol(run.proto === "tcp" ? IPPROTO_TCP : run.proto === "sctp" ? IPPROTO_SCTP : IPPROTO_UDP);
  ip.setSrcAddr(run.srcIp);
  ip.setDstAddr(run.dst);
  const l4 = ip.payloadOffset();
  ports.setSrc(buf, l4, 40000);
  ports.setDst(buf, l4, run.port);
  Object.assign(p, { buf, ipOff: 0, thOff: l4, len: buf.length, src: run.srcIp, dst: run.dst, proto: ip.protocol(), ctState: NFT_CT_NEW, hasCt: true, ctOrigSrc: run.srcIp, ctOrigDst: run.dst, ctReplySrc: run.dst, ctReplyDst: run.srcIp });
  return p;
}
