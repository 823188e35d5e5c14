/** Which match and target extensions podwire implements, by the name used after `-m`/`-j`. */
import type { MatchSpec, TargetSpec } from "../model.js";
import type { Extension } from "./ext.js";
import { conntrackMatch, stateMatch } from "./match-conntrack.js";
import { ipvsMatch } from "./match-ipvs.js";
import { icmpMatch, multiportMatch, sctpMatch, tcpMatch, udpMatch } from "./match-l4.js";
import { physdevMatch, recentMatch, setMatch } from "./match-misc.js";
import { addrtypeMatch, commentMatch, markMatch, nfacctMatch, statisticMatch } from "./match-simple.js";
import { dnatTarget, masqueradeTarget, snatTarget } from "./target-nat.js";
import { ctTarget, logTarget, markTarget, notrackTarget, rejectTarget, traceTarget } from "./targets.js";

// The drafts differ per extension; the parser only passes them back to the same extension.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyMatchExtension = Extension<any, MatchSpec>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTargetExtension = Extension<any, TargetSpec>;

export const MATCH_EXTENSIONS: ReadonlyMap<string, AnyMatchExtension> = new Map<string, AnyMatchExtension>([
  ["tcp", tcpMatch], ["udp", udpMatch], ["multiport", multiportMatch], ["comment", commentMatch],
  ["statistic", statisticMatch], ["mark", markMatch], ["conntrack", conntrackMatch], ["state", stateMatch],
  ["addrtype", addrtypeMatch], ["recent", recentMatch], ["set", setMatch], ["physdev", physdevMatch],
  ["nfacct", nfacctMatch], ["icmp", icmpMatch], ["ipvs", ipvsMatch], ["sctp", sctpMatch],
]);

/** Target extensions with options; ACCEPT, DROP and RETURN are verdicts handled by the parser. */
export const TARGET_EXTENSIONS: ReadonlyMap<string, AnyTargetExtension> = new Map<string, AnyTargetExtension>([
  ["REJECT", rejectTarget], ["DNAT", dnatTarget], ["SNAT", snatTarget], ["MASQUERADE", masqueradeTarget],
  ["MARK", markTarget], ["LOG", logTarget], ["TRACE", traceTarget], ["NOTRACK", notrackTarget], ["CT", ctTarget],
]);

export const VERDICTS = ["ACCEPT", "DROP", "RETURN"] as const;

/**
 * Target extensions iptables ships that podwire does not implement. `-j NAME` with one of
 * these is reported as an unknown target; any other unknown name is taken as a chain.
 */
export const UNSUPPORTED_TARGETS: ReadonlySet<string> = new Set([
  "AUDIT", "CHECKSUM", "CLASSIFY", "CLUSTERIP", "CONNMARK", "CONNSECMARK", "DSCP", "ECN", "HMARK", "IDLETIMER",
  "LED", "NETMAP", "NFLOG", "NFQUEUE", "QUEUE", "RATEEST", "REDIRECT", "SECMARK", "SYNPROXY", "TCPMSS",
  "TCPOPTSTRIP", "TEE", "TOS", "TPROXY", "TTL", "ULOG",
]);

export function supportedMatchNames(): string {
  return [...MATCH_EXTENSIONS.keys()].join(", ");
}

export function supportedTargetNames(): string {
  return [...VERDICTS, ...TARGET_EXTENSIONS.keys()].join(", ");
}

/** Whether a name is reserved for a target, so it cannot name a chain. */
export function isTargetName(name: string): boolean {
  return (VERDICTS as readonly string[]).includes(name) || TARGET_EXTENSIONS.has(name) || UNSUPPORTED_TARGETS.has(name);
}
