/**
 * One shared object for equal parts of rules. A 50,000-Service kube-proxy ruleset is 1.6
 * million rules on every node, and most of their parts repeat: the same `-p tcp`, the same
 * `-m udp`, the same `statistic --probability 0.1000000000`, the same `-s` of an endpoint
 * in its KUBE-SEP chain on every node, the same source line on every node. Rule parts are
 * never changed once parsed (engines, printers and traces only read them), so equal parts
 * can be one object. Not shared: anything with state tied to the object (`statistic --mode
 * nth`, whose count the environment keeps per match object), comments and other free text.
 *
 * Each table is bounded: when one is full it starts over, so a ruleset of unique parts costs
 * a bounded amount of memory and only loses the sharing.
 */
import type { AddrMatch, MatchSpec, ProtoMatch, Rule, SourceRef, TargetSpec } from "./model.js";

const LIMIT = 1 << 17;

class Table<K, V> {
  private map = new Map<K, V>();

  get(key: K, value: V): V {
    const known = this.map.get(key);
    if (known !== undefined) return known;
    if (this.map.size >= LIMIT) this.map = new Map();
    this.map.set(key, value);
    return value;
  }
}

const protos = new Table<string, ProtoMatch>();
const addrs = new Table<number, AddrMatch>();
const matches = new Table<string, MatchSpec>();
const matchLists = new Table<string, MatchSpec[]>();
const targets = new Table<string, TargetSpec>();
const NO_MATCHES: MatchSpec[] = Object.freeze([]) as unknown as MatchSpec[];

/** Source lines by number (a line number is the same object in every ruleset). */
const lines: SourceRef[] = [];
const LINES_LIMIT = 1 << 22;

export function internLine(line: number): SourceRef {
  if (line >= LINES_LIMIT || line < 0) return { line };
  return (lines[line] ??= { line });
}

export function internProto(p: ProtoMatch): ProtoMatch {
  return protos.get(`${p.proto}/${p.name}/${p.invert}`, p);
}

export function internAddr(a: AddrMatch): AddrMatch {
  // net (32 bits), prefix length (6 bits), invert (1 bit): exact in a double.
  return addrs.get(a.net * 128 + a.prefixLen * 2 + (a.invert ? 1 : 0), a);
}

const range = (r: { min: number; max: number; invert: boolean } | undefined): string => (r === undefined ? "" : `${r.min}-${r.max}${r.invert ? "!" : ""}`);

/** A key for match values that carry no per-object state and no free text, else null. */
function matchKey(m: MatchSpec): string | null {
  switch (m.module) {
    case "tcp":
    case "udp":
      return `${m.module} ${range(m.sport)} ${range(m.dport)} ${m.tcpFlags === undefined ? "" : `${m.tcpFlags.mask}/${m.tcpFlags.comp}${m.tcpFlags.invert ? "!" : ""}`}`;
    case "sctp":
      return `sctp ${range(m.sport)} ${range(m.dport)}`;
    case "statistic":
      return m.mode === "random" ? `statistic ${m.probability}${m.invert ? "!" : ""}` : null;
    case "mark":
      return `mark ${m.value}/${m.mask}${m.invert ? "!" : ""}`;
    case "conntrack":
      return `conntrack ${m.ctstate === undefined ? "" : `${m.ctstate.states}${m.ctstate.invert ? "!" : ""}`} ${m.ctstatus === undefined ? "" : `${m.ctstatus.bits}${m.ctstatus.invert ? "!" : ""}`}`;
    case "state":
      return `state ${m.states}${m.invert ? "!" : ""}`;
    default:
      return null;
  }
}

/** The rule's matches as a shared list when every one of them can be shared, else with each shareable one shared. */
export function internMatches(ms: MatchSpec[]): MatchSpec[] {
  if (ms.length === 0) return NO_MATCHES;
  let all = "";
  let shareable = true;
  for (let k = 0; k < ms.length; k++) {
    const key = matchKey(ms[k]!);
    if (key === null) {
      shareable = false;
      continue;
    }
    ms[k] = matches.get(key, ms[k]!);
    all += all === "" ? key : `\n${key}`;
  }
  return shareable ? matchLists.get(all, ms) : ms;
}

/** A key for targets without free text, else null. */
function targetKey(t: TargetSpec): string | null {
  switch (t.kind) {
    case "ACCEPT":
    case "DROP":
    case "RETURN":
    case "NONE":
    case "TRACE":
    case "NOTRACK":
      return t.kind;
    case "REJECT":
      return `REJECT ${t.with}`;
    case "DNAT":
      return `DNAT ${t.range === null ? "" : `${t.range.minIp}-${t.range.maxIp}:${t.range.minPort}-${t.range.maxPort}`} ${t.random} ${t.persistent}`;
    case "SNAT":
      return `SNAT ${t.range.minIp}-${t.range.maxIp}:${t.range.minPort}-${t.range.maxPort} ${t.random} ${t.randomFully} ${t.persistent}`;
    case "MASQUERADE":
      return `MASQUERADE ${t.toPorts === null ? "" : `${t.toPorts.min}-${t.toPorts.max}`} ${t.random} ${t.randomFully}`;
    case "MARK":
      return `MARK ${t.value}/${t.mask} ${t.written}`;
    default:
      return null; // jumps are shared per document (restore-parse.ts), LOG and CT carry text
  }
}

export function internTarget(t: TargetSpec): TargetSpec {
  const key = targetKey(t);
  return key === null ? t : targets.get(key, t);
}

/** Shares what can be shared of a freshly parsed rule (in place), and lays it out as one object. */
export function internRule(r: Rule): Rule {
  const src = r.src === undefined ? undefined : internAddr(r.src);
  const dst = r.dst === undefined ? undefined : internAddr(r.dst);
  const proto = r.proto === undefined ? undefined : internProto(r.proto);
  const ms = internMatches(r.matches);
  const target = internTarget(r.target);
  const source = r.source === undefined ? undefined : internLine(r.source.line);
  if (r.inIface !== undefined || r.outIface !== undefined || r.fragment !== undefined || source === undefined) {
    // Rare shapes: keep the object, share its parts.
    if (src !== undefined) r.src = src;
    if (dst !== undefined) r.dst = dst;
    if (proto !== undefined) r.proto = proto;
    r.matches = ms;
    r.target = target;
    if (source !== undefined) r.source = source;
    return r;
  }
  // One object literal per shape: properties in the object itself, not in a separate array.
  const c = r.counters;
  if (src !== undefined) {
    if (dst !== undefined) return proto !== undefined ? { src, dst, proto, matches: ms, target, counters: c, source } : { src, dst, matches: ms, target, counters: c, source };
    return proto !== undefined ? { src, proto, matches: ms, target, counters: c, source } : { src, matches: ms, target, counters: c, source };
  }
  if (dst !== undefined) return proto !== undefined ? { dst, proto, matches: ms, target, counters: c, source } : { dst, matches: ms, target, counters: c, source };
  return proto !== undefined ? { proto, matches: ms, target, counters: c, source } : { matches: ms, target, counters: c, source };
}
