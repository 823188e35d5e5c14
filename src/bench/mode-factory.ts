/** The benchmark's adapter for each kube-proxy mode. */
import { IptablesModeBench } from "./iptables-mode.js";
import { IpvsModeBench } from "./ipvs-mode.js";
import type { ProxyModeBench, ProxyModeName } from "./modes.js";
import { NftablesModeBench } from "./nftables-mode.js";

export function defaultMode(mode: ProxyModeName): ProxyModeBench {
  switch (mode) {
    case "iptables":
      return new IptablesModeBench();
    case "ipvs":
      return new IpvsModeBench();
    case "nftables":
      return new NftablesModeBench();
  }
}
