/**
 * The endpoint-set adapters of compare-modes, by kube-proxy mode: the one place a mode is
 * named here. A runnable mode without an adapter is still compared on its verdicts and
 * sources; its endpoint sets show as unknown.
 */
import type { ProxyMode } from "../../cluster/spec.js";
import type { ModeAdapter } from "./adapter.js";
import { iptablesAdapter } from "./iptables.js";
import { ipvsAdapter } from "./ipvs.js";
import { nftablesAdapter } from "./nftables.js";

const ADAPTERS: Partial<Record<ProxyMode, ModeAdapter>> = {
  iptables: iptablesAdapter,
  ipvs: ipvsAdapter,
  nftables: nftablesAdapter,
};

export function adapterFor(mode: ProxyMode): ModeAdapter | null {
  return ADAPTERS[mode] ?? null;
}
