/** The kube-proxy modes podwire runs, by name: the one place a new mode is registered. */
import { PodwireError } from "../../base/index.js";
import type { ProxyMode } from "../spec.js";
import { IptablesMode } from "./iptables.js";
import { IpvsMode } from "./ipvs.js";
import { NftablesMode } from "./nftables.js";
import type { KubeProxyMode, ModeContext } from "./mode.js";

const MODES: Partial<Record<ProxyMode, (ctx: ModeContext) => KubeProxyMode>> = {
  iptables: (ctx) => new IptablesMode(ctx),
  ipvs: (ctx) => new IpvsMode(ctx),
  nftables: (ctx) => new NftablesMode(ctx),
};

/** The modes that run in the cluster today. */
export const RUNNABLE_MODES = Object.keys(MODES) as ProxyMode[];

export function createProxyMode(name: ProxyMode, ctx: ModeContext, source: string): KubeProxyMode {
  const make = MODES[name];
  if (!make) {
    throw new PodwireError(
      "E_PROXY_MODE",
      `proxyMode ${name} is not emulated yet`,
      { file: source, field: "spec.proxyMode" },
      `use proxyMode: ${RUNNABLE_MODES.join(" or ")}`,
    );
  }
  return make(ctx);
}
