/**
 * A packet tracer for kube-proxy-style flow tests (proxier_test.go tracePacket), but one
 * that runs the real hook path through podwire's netfilter engine instead of re-matching
 * rules: the node's ruleset is jumpRulesText() + the sync text loaded with applyRestore;
 * a packet from a local address starts at OUTPUT, any other at PREROUTING; nat first (DNAT
 * to an endpoint), then the filter chain of its path (INPUT, FORWARD or OUTPUT), then nat
 * POSTROUTING (MASQUERADE when marked). Every `statistic` branch is explored, each walk with a
 * fresh engine (so `recent --rcheck` never matches, as in kube-proxy's tracer), and the
 * result is what kube-proxy's tracer prints: the endpoints reached joined by ", ", or
 * DROP / REJECT / ACCEPT (a health-check ACCEPT in KUBE-NODEPORTS), or "" when no rule
 * took the packet; plus whether any path was masqueraded.
 */
import { Rng, VirtualClock, formatIpv4, parseIpv4 } from "../../src/base/index.js";
import { applyRestore } from "../../src/netfilter/apply-restore.js";
import { RuleEngine, Traversal } from "../../src/netfilter/engine.js";
import { createEnv } from "../../src/netfilter/env.js";
import { ADDRTYPE_LOCAL, ADDRTYPE_UNICAST, CT_STATE_DNAT, CT_STATE_NEW, newRuleset, type BuiltinChain, type Ruleset, type TableName } from "../../src/netfilter/model.js";
import { PacketContext } from "../../src/netfilter/packet-context.js";
import { parseRestore } from "../../src/netfilter/restore-parse.js";
import { jumpRulesText } from "../../src/kube/index.js";

export interface FlowResult {
  output: string;
  masq: boolean;
}

const PROTO = { tcp: 6, udp: 17, sctp: 132 } as const;

export function loadNodeRuleset(syncText: string): Ruleset {
  const rs = newRuleset();
  applyRestore(rs, parseRestore(jumpRulesText(), "jump rules"), { noflush: true });
  applyRestore(rs, parseRestore(syncText, "sync"), { noflush: true });
  return rs;
}

function packet(proto: keyof typeof PROTO, src: number, dst: number, dport: number): Uint8Array {
  const b = new Uint8Array(40);
  b[0] = 0x45;
  b[3] = 40;
  b[8] = 64;
  b[9] = PROTO[proto];
  const put = (off: number, v: number): void => {
    b[off] = v >>> 24;
    b[off + 1] = (v >>> 16) & 255;
    b[off + 2] = (v >>> 8) & 255;
    b[off + 3] = v & 255;
  };
  put(12, src);
  put(16, dst);
  b[20] = 0xc3; // source port 50000
  b[21] = 0x50;
  b[22] = dport >>> 8;
  b[23] = dport & 255;
  if (proto === "tcp") {
    b[32] = 0x50;
    b[33] = 0x02;
  }
  return b;
}

export class FlowTracer {
  private readonly local: Set<number>;

  constructor(
    private readonly ruleset: Ruleset,
    localAddresses: readonly string[],
  ) {
    this.local = new Set(localAddresses.map(parseIpv4));
  }

  private isLocal(ip: number): boolean {
    return this.local.has(ip) || ip >>> 24 === 127;
  }

  trace(proto: keyof typeof PROTO, src: string, dst: string, dport: number): FlowResult {
    const outputs: string[] = [];
    let masq = false;
    const pending: boolean[][] = [[]];
    let walks = 0;
    while (pending.length > 0 && walks < 256) {
      const prefix = pending.pop()!;
      const choices: boolean[] = [];
      const r = this.walk(proto, parseIpv4(src), parseIpv4(dst), dport, (_p) => {
        const pick = choices.length < prefix.length ? prefix[choices.length]! : true;
        choices.push(pick);
        return pick;
      });
      walks++;
      // Depth first with "take this branch" first, so outputs come out in rule order.
      for (let k = choices.length - 1; k >= prefix.length; k--) pending.push([...choices.slice(0, k), false]);
      if (!outputs.includes(r.output)) outputs.push(r.output);
      masq ||= r.masq;
    }
    return { output: outputs.filter((o) => o !== "").join(", "), masq };
  }

  private walk(proto: keyof typeof PROTO, src: number, dst: number, dport: number, chooser: (p: number) => boolean): FlowResult {
    const addrType = (ip: number): number => (this.isLocal(ip) ? ADDRTYPE_LOCAL : ADDRTYPE_UNICAST);
    const env = createEnv({ addrType, rng: new Rng(1), clock: new VirtualClock() });
    env.chooser = chooser;
    const engine = new RuleEngine("reference", this.ruleset, env);
    const bytes = packet(proto, src, dst, dport);
    const ctx = new PacketContext().load(bytes, 0, bytes.length);
    const out = new Traversal();
    let ct = CT_STATE_NEW;
    let mark = 0;
    const fromHost = this.isLocal(src);
    const run = (table: TableName, hook: BuiltinChain): Traversal => {
      ctx.at(hook, fromHost ? "" : "eth0", "", mark, ct, 0);
      engine.run(table, hook, ctx, out.reset(true));
      mark = ctx.mark;
      return out;
    };
    let output = "";
    const nat = run("nat", fromHost ? "OUTPUT" : "PREROUTING");
    if (nat.nat?.kind === "DNAT" && nat.nat.range) {
      const ip = nat.nat.range.minIp;
      const port = nat.nat.range.minPort;
      bytes[16] = ip >>> 24;
      bytes[17] = (ip >>> 16) & 255;
      bytes[18] = (ip >>> 8) & 255;
      bytes[19] = ip & 255;
      bytes[22] = port >>> 8;
      bytes[23] = port & 255;
      ctx.load(bytes, 0, bytes.length);
      ct |= CT_STATE_DNAT;
      output = `${formatIpv4(ip)}:${port}`;
    }
    const filterHook: BuiltinChain = fromHost ? "OUTPUT" : this.isLocal(ctx.dst) ? "INPUT" : "FORWARD";
    const filter = run("filter", filterHook);
    if (filter.verdict !== "ACCEPT") return { output: filter.verdict, masq: false };
    const last = filter.hits?.at(-1);
    if (output === "" && last?.rule?.target.kind === "ACCEPT" && last.chain === "KUBE-NODEPORTS") output = "ACCEPT";
    const post = run("nat", "POSTROUTING");
    return { output, masq: post.nat?.kind === "MASQUERADE" };
  }
}

export function tracerFor(syncText: string, localAddresses: readonly string[] = ["192.168.0.2", "192.168.1.2"]): FlowTracer {
  return new FlowTracer(loadNodeRuleset(syncText), localAddresses);
}
