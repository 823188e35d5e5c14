/**
 * nft expressions compiled to closures over the packet being evaluated (`RT.p`): payload
 * loads, meta, ct, fib, numgen and masks. A closure returns the value, or undefined where
 * the kernel's expression would end the rule (NFT_BREAK: a header the packet does not
 * have, a ct key without a connection).
 */
import type { Atom, Expr } from "./model.js";
import { NftPacket, type NftEnv } from "./packet.js";

export type ExprFn = () => Atom | undefined;

/** The packet and environment being evaluated (set by the evaluator; evaluation never nests). */
export const RT: { p: NftPacket; env: NftEnv | null } = { p: new NftPacket(), env: null };

const u16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;

/** Protocol numbers a `tcp`/`udp`/`sctp` payload expression implies (nft adds the dependency `meta l4proto`). */
const L4: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };

/** PACKET_* from the destination's route type (br/ip input sets pkt_type from the MAC; this is what it amounts to for IPv4). */
function pkttype(rtn: number): number {
  return rtn === 3 ? 1 : rtn === 5 ? 2 : 0;
}

export function compileExpr(e: Expr): ExprFn {
  switch (e.kind) {
    case "payload": {
      if (e.proto === "ip") {
        if (e.field === "saddr") return () => RT.p.src;
        if (e.field === "daddr") return () => RT.p.dst;
        if (e.field === "protocol") return () => RT.p.proto;
        return () => undefined;
      }
      if (e.proto === "ip6") return () => undefined; // IPv4 packets only
      const off = e.field === "sport" ? 0 : 2;
      const need = L4[e.proto];
      // nft_payload_eval reads the transport header's bytes; a fragment has none (NFT_BREAK).
      if (need === undefined) return () => (RT.p.thOff < 0 || RT.p.thOff + off + 2 > RT.p.ipOff + RT.p.len ? undefined : u16(RT.p.buf, RT.p.thOff + off));
      return () => (RT.p.proto !== need || RT.p.thOff < 0 || RT.p.thOff + off + 2 > RT.p.ipOff + RT.p.len ? undefined : u16(RT.p.buf, RT.p.thOff + off));
    }
    case "meta":
      switch (e.key) {
        case "l4proto":
          return () => RT.p.proto;
        case "mark":
          return () => RT.p.mark;
        case "iifname":
          return () => RT.p.iifname;
        case "oifname":
          return () => RT.p.oifname;
        case "nfproto":
          return () => 2; // NFPROTO_IPV4
        case "protocol":
          return () => 0x0800; // ETH_P_IP
        case "pkttype":
          return () => pkttype(RT.env!.rtnType(RT.p.dst));
        default:
          return () => 0; // iif/oif indexes: podwire keeps none
      }
    case "ct":
      if (e.key === "state") return () => RT.p.ctState;
      if (e.key === "status") return () => (RT.p.hasCt ? RT.p.ctStatus : undefined);
      return () => (RT.p.hasCt ? RT.p.ctMark : undefined);
    case "ctTuple": {
      const orig = e.dir === "original";
      if (e.field === "saddr") return () => (RT.p.hasCt ? (orig ? RT.p.ctOrigSrc : RT.p.ctReplySrc) : undefined);
      return () => (RT.p.hasCt ? (orig ? RT.p.ctOrigDst : RT.p.ctReplyDst) : undefined);
    }
    case "fib": {
      if (e.result !== "type") return () => undefined; // fib … oif: not modelled
      const src = e.flags.includes("saddr");
      return () => RT.env!.rtnType(src ? RT.p.src : RT.p.dst);
    }
    case "numgen": {
      const { mod, offset } = e;
      if (e.mode === "random") {
        // nft_ng_random_eval: reciprocal_scale(get_random_u32(), modulus) + offset.
        return () => {
          const env = RT.env!;
          return (env.numgen === undefined ? Math.floor((env.rng.nextU32() * mod) / 4294967296) : env.numgen(mod)) + offset;
        };
      }
      let counter = 0;
      return () => {
        const v = (counter % mod) + offset;
        counter = (counter + 1) % mod;
        return v;
      };
    }
    case "binop": {
      const left = compileExpr(e.left);
      const r = e.right;
      if (e.op === "&") return () => {
        const v = left();
        return v === undefined ? undefined : ((v as number) & r) >>> 0;
      };
      if (e.op === "|") return () => {
        const v = left();
        return v === undefined ? undefined : ((v as number) | r) >>> 0;
      };
      return () => {
        const v = left();
        return v === undefined ? undefined : ((v as number) ^ r) >>> 0;
      };
    }
    case "concat":
      throw new Error("a concatenation is compiled as its parts");
  }
}

/** The parts of a (possibly concatenated) key expression. */
export function compileKey(e: Expr): ExprFn[] {
  return e.kind === "concat" ? e.parts.map(compileExpr) : [compileExpr(e)];
}

/** How many kernel expressions loading `e` takes (payload/meta/ct loads, bitwise ops). */
export function exprCost(e: Expr): number {
  if (e.kind === "concat") return e.parts.reduce((n, p) => n + exprCost(p), 0);
  if (e.kind === "binop") return exprCost(e.left) + 1;
  return 1;
}
