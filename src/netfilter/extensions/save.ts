/** The iptables-save text of one match or target extension's options (each part starts with a space). */
import type { MatchSpec, TargetSpec } from "../model.js";
import { saveConntrack, saveState } from "./match-conntrack.js";
import { saveIpvs } from "./match-ipvs.js";
import { saveIcmp, saveMultiport, saveSctp, saveTcpUdp } from "./match-l4.js";
import { savePhysdev, saveRecent, saveSet } from "./match-misc.js";
import { saveAddrtype, saveComment, saveMark, saveNfacct, saveStatistic } from "./match-simple.js";
import { saveDnat, saveMasquerade, saveSnat } from "./target-nat.js";
import { saveCt, saveLog, saveMarkTarget, saveReject } from "./targets.js";

export function saveMatch(m: MatchSpec): string {
  switch (m.module) {
    case "tcp":
    case "udp":
      return saveTcpUdp(m);
    case "sctp":
      return saveSctp(m);
    case "multiport":
      return saveMultiport(m);
    case "comment":
      return saveComment(m);
    case "statistic":
      return saveStatistic(m);
    case "mark":
      return saveMark(m);
    case "conntrack":
      return saveConntrack(m);
    case "state":
      return saveState(m);
    case "addrtype":
      return saveAddrtype(m);
    case "recent":
      return saveRecent(m);
    case "set":
      return saveSet(m);
    case "physdev":
      return savePhysdev(m);
    case "nfacct":
      return saveNfacct(m);
    case "icmp":
      return saveIcmp(m);
    case "ipvs":
      return saveIpvs(m);
  }
}

/** ` -j NAME options`, ` -g CHAIN`, or "" for a rule without a target. */
export function saveTarget(t: TargetSpec): string {
  switch (t.kind) {
    case "NONE":
      return "";
    case "ACCEPT":
    case "DROP":
    case "RETURN":
    case "TRACE":
    case "NOTRACK":
      return ` -j ${t.kind}`;
    case "jump":
      return ` -j ${t.chain}`;
    case "goto":
      return ` -g ${t.chain}`;
    case "REJECT":
      return ` -j REJECT${saveReject(t)}`;
    case "DNAT":
      return ` -j DNAT${saveDnat(t)}`;
    case "SNAT":
      return ` -j SNAT${saveSnat(t)}`;
    case "MASQUERADE":
      return ` -j MASQUERADE${saveMasquerade(t)}`;
    case "MARK":
      return ` -j MARK${saveMarkTarget(t)}`;
    case "LOG":
      return ` -j LOG${saveLog(t)}`;
    case "CT":
      return ` -j CT${saveCt(t)}`;
  }
}
