/**
 * Whether a rule matches a packet, evaluated in the kernel's order: the IP header part
 * first (ip_packet_match: -s -d -i -o -p -f), then each match extension in the order the
 * rule lists them, stopping at the first that fails. The order matters because some
 * matches have side effects (statistic draws, recent lists, nfacct counters) that must
 * happen exactly when the kernel's would.
 */
import { IPPROTO_SCTP, ipv4 } from "../wire/ipv4.js";
import type { NetfilterEnv } from "./env.js";
import type { IfaceMatch, MatchSpec, Rule } from "./model.js";
import type { PacketContext } from "./packet-context.js";

/** xt_statistic stores the probability as a 31-bit threshold: lround(0x80000000 * p). */
export function statisticThreshold(p: number): number {
  return Math.round(0x80000000 * p);
}

export function ifaceMatches(m: IfaceMatch, name: string): boolean {
  const hit = m.wildcard ? name.startsWith(m.prefix) : name === m.name;
  return hit !== m.invert;
}

/** The IP header part of a rule (ip_packet_match). */
export function ipPartMatches(rule: Rule, ctx: PacketContext): boolean {
  const s = rule.src;
  if (s !== undefined && (((ctx.src & s.mask) >>> 0) === s.net) === s.invert) return false;
  const d = rule.dst;
  if (d !== undefined && (((ctx.dst & d.mask) >>> 0) === d.net) === d.invert) return false;
  if (rule.inIface !== undefined && !ifaceMatches(rule.inIface, ctx.inIface)) return false;
  if (rule.outIface !== undefined && !ifaceMatches(rule.outIface, ctx.outIface)) return false;
  const p = rule.proto;
  if (p !== undefined && p.proto !== 0 && (ctx.proto === p.proto) === p.invert) return false;
  if (rule.fragment !== undefined && ctx.fragment === rule.fragment.invert) return false;
  return true;
}

/** Evaluates one match extension; may update state in `env` (statistic, recent, nfacct). */
export function matchExtension(m: MatchSpec, ctx: PacketContext, env: NetfilterEnv): boolean {
  switch (m.module) {
    case "tcp":
    case "udp": {
      // tcp_mt/udp_mt: no match on non-first fragments or on another protocol's header.
      if (ctx.fragment || !ctx.hasPorts || ctx.proto !== (m.module === "tcp" ? 6 : 17)) return false;
      if (m.sport && (ctx.sport >= m.sport.min && ctx.sport <= m.sport.max) === m.sport.invert) return false;
      if (m.dport && (ctx.dport >= m.dport.min && ctx.dport <= m.dport.max) === m.dport.invert) return false;
      if (m.tcpFlags && ((ctx.tcpFlags & m.tcpFlags.mask) === m.tcpFlags.comp) === m.tcpFlags.invert) return false;
      return true;
    }
    case "sctp": {
      // sctp_mt: no match on non-first fragments; the header is read at the port offsets.
      if (ctx.fragment || !ctx.hasPorts || ctx.proto !== IPPROTO_SCTP) return false;
      if (m.sport && (ctx.sport >= m.sport.min && ctx.sport <= m.sport.max) === m.sport.invert) return false;
      if (m.dport && (ctx.dport >= m.dport.min && ctx.dport <= m.dport.max) === m.dport.invert) return false;
      return true;
    }
    case "multiport": {
      if (ctx.fragment || !ctx.hasPorts) return false;
      let hit = false;
      for (const r of m.ports) {
        const s = ctx.sport >= r.min && ctx.sport <= r.max;
        const d = ctx.dport >= r.min && ctx.dport <= r.max;
        if ((m.kind === "sports" && s) || (m.kind === "dports" && d) || (m.kind === "ports" && (s || d))) {
          hit = true;
          break;
        }
      }
      return hit !== m.invert;
    }
    case "comment":
      return true;
    case "statistic": {
      let hit: boolean;
      if (m.mode === "random") {
        hit = env.chooser !== null ? env.chooser(m.probability) : env.rng.nextU31() < statisticThreshold(m.probability);
      } else {
        // iptables starts the counter at (every - 1) - packet, so `--packet P` matches the
        // (P+1)-th packet; the kernel wraps it after `every` packets (libxt_statistic, xt_statistic).
        const old = env.nthCounters.get(m) ?? m.every - 1 - m.packet;
        const next = old >= m.every - 1 ? 0 : old + 1;
        env.nthCounters.set(m, next);
        hit = next === 0;
      }
      return hit !== m.invert;
    }
    case "mark":
      return (((ctx.mark & m.mask) >>> 0) === m.value >>> 0) !== m.invert;
    case "conntrack": {
      if (m.ctstate && ((ctx.ctState & m.ctstate.states) !== 0) === m.ctstate.invert) return false;
      if (m.ctstatus && ((ctx.ctStatus & m.ctstatus.bits) !== 0) === m.ctstatus.invert) return false;
      return true;
    }
    case "state":
      return ((ctx.ctState & m.states) !== 0) !== m.invert;
    case "addrtype": {
      if (m.srcType && ((env.addrType(ctx.src) & m.srcType.types) !== 0) === m.srcType.invert) return false;
      if (m.dstType && ((env.addrType(ctx.dst) & m.dstType.types) !== 0) === m.dstType.invert) return false;
      return true;
    }
    case "recent":
      return recentMatch(m, ctx, env);
    case "set": {
      const set = env.ipsets?.get(m.setName);
      if (set === undefined) return m.invert;
      const a = setDimensionValue(set.dims, m.flags, 0, ctx);
      const b = setDimensionValue(set.dims, m.flags, 1, ctx);
      const c = setDimensionValue(set.dims, m.flags, 2, ctx);
      return set.test(a, b, c, ctx.proto) !== m.invert;
    }
    case "physdev": {
      if (m.isIn && (ctx.physIn !== "") === m.isIn.invert) return false;
      if (m.isOut && (ctx.physOut !== "") === m.isOut.invert) return false;
      if (m.isBridged && ctx.bridged === m.isBridged.invert) return false;
      if (m.physdevIn && !(ctx.physIn !== "" && ifaceMatches(m.physdevIn, ctx.physIn))) return false;
      if (m.physdevOut && !(ctx.physOut !== "" && ifaceMatches(m.physdevOut, ctx.physOut))) return false;
      return true;
    }
    case "nfacct": {
      let c = env.nfacct.get(m.name);
      if (c === undefined) {
        c = { packets: 0, bytes: 0 };
        env.nfacct.set(m.name, c);
      }
      c.packets++;
      c.bytes += ctx.len;
      return true;
    }
    case "icmp": {
      if (ctx.fragment || ctx.icmpType < 0) return false;
      const hit = m.type === 0xff || (ctx.icmpType === m.type && ctx.icmpCode >= m.codeMin && ctx.icmpCode <= m.codeMax);
      return hit !== m.invert;
    }
    case "ipvs":
      return ipvsMatches(m, ctx);
  }
}

/** xt_ipvs ipvs_mt, in the kernel's order: property, proto, then the connection's fields. */
function ipvsMatches(m: Extract<MatchSpec, { module: "ipvs" }>, ctx: PacketContext): boolean {
  if (!m.vproto && !m.vaddr && !m.vport && !m.vdir && !m.vmethod && !m.vportctl) return ctx.ipvsProperty !== m.ipvsInvert;
  if (!ctx.ipvsProperty) return false;
  if (m.vproto && (ctx.proto === m.vproto.proto) === m.vproto.invert) return false;
  if (ctx.ipvsMethod === "none") return false; // no IPVS connection for this packet
  if (m.vport && (ctx.ipvsVport === m.vport.port) === m.vport.invert) return false;
  if (m.vportctl && (ctx.ipvsVportctl === m.vportctl.port) === m.vportctl.invert) return false;
  if (m.vdir && (ctx.ipvsDir === "none" || (ctx.ipvsDir === "REPLY") !== (m.vdir === "REPLY"))) return false;
  if (m.vmethod && (ctx.ipvsMethod === m.vmethod.method) === m.vmethod.invert) return false;
  if (m.vaddr && ((((ctx.ipvsVaddr ^ m.vaddr.addr) & m.vaddr.mask) >>> 0) === 0) === m.vaddr.invert) return false;
  return true;
}

/** The packet value for dimension `i` of a set: src/dst address or port, per the match's flags. */
function setDimensionValue(dims: readonly ("ip" | "port" | "net")[], flags: readonly ("src" | "dst")[], i: number, ctx: PacketContext): number {
  if (i >= dims.length) return 0;
  const fromSrc = (flags[i] ?? flags[flags.length - 1]) === "src";
  if (dims[i] === "port") return fromSrc ? ctx.sport : ctx.dport;
  return fromSrc ? ctx.src : ctx.dst;
}

function recentMatch(m: Extract<MatchSpec, { module: "recent" }>, ctx: PacketContext, env: NetfilterEnv): boolean {
  const addr = ((m.side === "source" ? ctx.src : ctx.dst) & m.mask) >>> 0;
  const now = env.clock.now();
  const ttl = m.rttl ? ipv4.ttl(ctx.buf, ctx.ipOff) : null;
  let hit: boolean;
  switch (m.mode) {
    case "set":
      env.recent.set(m.name, addr, now, ipv4.ttl(ctx.buf, ctx.ipOff));
      hit = true;
      break;
    case "rcheck":
      hit = env.recent.check(m.name, addr, now, m.seconds, m.hitcount, ttl, m.reap);
      break;
    case "update":
      hit = env.recent.check(m.name, addr, now, m.seconds, m.hitcount, ttl, m.reap);
      if (hit) env.recent.touch(m.name, addr, now);
      break;
    case "remove":
      hit = env.recent.remove(m.name, addr);
      break;
  }
  return hit !== m.invert;
}

/** Does the whole rule match (IP part, then every extension in order)? */
export function ruleMatches(rule: Rule, ctx: PacketContext, env: NetfilterEnv): boolean {
  if (!ipPartMatches(rule, ctx)) return false;
  const ms = rule.matches;
  for (let i = 0; i < ms.length; i++) if (!matchExtension(ms[i]!, ctx, env)) return false;
  return true;
}
