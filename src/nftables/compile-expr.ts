/**
 * nft expressions compiled to loads: three int32 words [kind, a, b] in a rule's code that
 * the evaluator reads a value with (see `load` in eval.ts). A load gives an int32 word
 * (numbers as their int32 bits, strings as interned ids: see sets-runtime.ts) or UNDEF where
 * the kernel's expression would end the rule (NFT_BREAK: a header the packet does not
 * have, a ct key without a connection). Expressions without a load kind of their own (a
 * binop over a binop, say) become a closure over the packet being evaluated (`RT.p`),
 * called through LOAD_FN.
 */
import { ETHERTYPE_IPV4 } from "../wire/ethernet.js";
import type { Expr } from "./model.js";
import { NftPacket, type NftEnv } from "./packet.js";
import { UNDEF, wordOf } from "./sets-runtime.js";

/** The packet and environment being evaluated (set by the evaluator; evaluation never nests). */
export const RT: { p: NftPacket; env: NftEnv | null } = { p: new NftPacket(), env: null };

/** A fallback load: the expression's int32 word, or UNDEF. */
export type LoadFn = () => number;

// Load kinds. Keep them dense from 0: the evaluator switches on them.
export const LOAD_UNDEF = 0;
export const LOAD_SADDR = 1;
export const LOAD_DADDR = 2;
/** `ip protocol`, `meta l4proto`. */
export const LOAD_PROTO = 3;
/** A transport port: a = byte offset in the header (0 sport, 2 dport), b = the protocol it needs (0: any). */
export const LOAD_TH = 4;
export const LOAD_MARK = 5;
export const LOAD_IIFNAME = 6;
export const LOAD_OIFNAME = 7;
/** a = the value. */
export const LOAD_CONST = 8;
export const LOAD_PKTTYPE = 9;
export const LOAD_CTSTATE = 10;
export const LOAD_CTSTATUS = 11;
export const LOAD_CTMARK = 12;
export const LOAD_CT_ORIG_SRC = 13;
export const LOAD_CT_ORIG_DST = 14;
export const LOAD_CT_REPLY_SRC = 15;
export const LOAD_CT_REPLY_DST = 16;
export const LOAD_FIB_SADDR = 17;
export const LOAD_FIB_DADDR = 18;
/** `numgen random mod a offset b`. */
export const LOAD_NUMGEN_RANDOM = 19;
/** `numgen inc`: a = index of its state ({ n, mod, offset }) in the chain's constants. */
export const LOAD_NUMGEN_INC = 20;
/** `X & b`, `X | b`, `X ^ b` of a load X without operands (a = its kind). */
export const LOAD_AND = 21;
export const LOAD_OR = 22;
export const LOAD_XOR = 23;
/** a = index of a LoadFn in the chain's constants. */
export const LOAD_FN = 24;

/** The running state of one `numgen inc` expression (kept per model expression across reloads). */
export interface NumgenInc {
  n: number;
  mod: number;
  offset: number;
}

/** What encoding an expression needs from the chain compiler: a constant slot, and the numgen state of an expression. */
export interface LoadSink {
  /** Appends a load's three words. */
  load(kind: number, a: number, b: number): void;
  /** Stores a constant for the chain's code; returns its index. */
  constant(v: unknown): number;
  /** The state of a `numgen inc` expression. */
  numgenInc(e: Expr & { kind: "numgen" }): NumgenInc;
}

/** Protocol numbers a `tcp`/`udp`/`sctp` payload expression implies (nft adds the dependency `meta l4proto`). */
const L4: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };

/** Kinds that take no operands (may be the left side of LOAD_AND/OR/XOR). */
function plainKind(e: Expr): number {
  switch (e.kind) {
    case "payload":
      if (e.proto === "ip") return e.field === "saddr" ? LOAD_SADDR : e.field === "daddr" ? LOAD_DADDR : e.field === "protocol" ? LOAD_PROTO : LOAD_UNDEF;
      return e.proto === "ip6" ? LOAD_UNDEF : -1;
    case "meta":
      switch (e.key) {
        case "l4proto":
          return LOAD_PROTO;
        case "mark":
          return LOAD_MARK;
        case "iifname":
          return LOAD_IIFNAME;
        case "oifname":
          return LOAD_OIFNAME;
        case "pkttype":
          return LOAD_PKTTYPE;
        default:
          return -1; // constants
      }
    case "ct":
      return e.key === "state" ? LOAD_CTSTATE : e.key === "status" ? LOAD_CTSTATUS : LOAD_CTMARK;
    case "ctTuple":
      if (e.dir === "original") return e.field === "saddr" ? LOAD_CT_ORIG_SRC : LOAD_CT_ORIG_DST;
      return e.field === "saddr" ? LOAD_CT_REPLY_SRC : LOAD_CT_REPLY_DST;
    case "fib":
      if (e.result !== "type") return LOAD_UNDEF; // fib … oif: not modelled
      return e.flags.includes("saddr") ? LOAD_FIB_SADDR : LOAD_FIB_DADDR;
    default:
      return -1;
  }
}

/** Appends the load of `e` (not a concatenation). */
export function encodeLoad(e: Expr, out: LoadSink): void {
  const k = plainKind(e);
  if (k >= 0) return out.load(k, 0, 0);
  switch (e.kind) {
    case "payload": {
      // nft_payload_eval reads the transport header's bytes; a fragment has none (NFT_BREAK).
      return out.load(LOAD_TH, e.field === "sport" ? 0 : 2, L4[e.proto] ?? 0);
    }
    case "meta":
      // NFPROTO_IPV4, ETH_P_IP; iif/oif indexes: podwire keeps none.
      return out.load(LOAD_CONST, e.key === "nfproto" ? 2 : e.key === "protocol" ? ETHERTYPE_IPV4 : 0, 0);
    case "numgen":
      if (e.mode === "random") return out.load(LOAD_NUMGEN_RANDOM, e.mod | 0, e.offset | 0);
      return out.load(LOAD_NUMGEN_INC, out.constant(out.numgenInc(e)), 0);
    case "binop": {
      const left = plainKind(e.left);
      if (left >= 0) return out.load(e.op === "&" ? LOAD_AND : e.op === "|" ? LOAD_OR : LOAD_XOR, left, e.right | 0);
      return out.load(LOAD_FN, out.constant(loadFn(e, out)), 0);
    }
    case "concat":
      throw new Error("a concatenation is loaded as its parts");
    default:
      throw new Error(`no load for ${e.kind}`);
  }
}

/** The parts of a (possibly concatenated) key expression. */
export function keyParts(e: Expr): Expr[] {
  return e.kind === "concat" ? e.parts : [e];
}

/** A closure loading `e` (the general form, for shapes without a load kind). */
function loadFn(e: Expr, out: LoadSink): LoadFn {
  switch (e.kind) {
    case "binop": {
      const left = loadFn(e.left, out);
      const r = e.right | 0;
      if (e.op === "&") return () => {
        const v = left();
        return v === UNDEF ? UNDEF : v & r;
      };
      if (e.op === "|") return () => {
        const v = left();
        return v === UNDEF ? UNDEF : v | r;
      };
      return () => {
        const v = left();
        return v === UNDEF ? UNDEF : v ^ r;
      };
    }
    case "numgen": {
      if (e.mode === "random") {
        const { mod, offset } = e;
        return () => {
          const env = RT.env!;
          return ((env.numgen === undefined ? Math.floor((env.rng.nextU32() * mod) / 4294967296) : env.numgen(mod)) + offset) | 0;
        };
      }
      const st = out.numgenInc(e);
      return () => numgenNext(st);
    }
    default: {
      const words: number[] = [];
      encodeLoad(e, {
        load: (k, a, b) => void words.push(k, a, b),
        constant: (v) => out.constant(v),
        numgenInc: (x) => out.numgenInc(x),
      });
      const [k, a, b] = words as [number, number, number];
      return () => loadPlain(RT.p, RT.env!, k, a, b);
    }
  }
}

/** The next value of a `numgen inc` expression. */
export function numgenNext(st: NumgenInc): number {
  const v = (st.n % st.mod) + st.offset;
  st.n = (st.n + 1) % st.mod;
  return v | 0;
}

/** PACKET_* from the destination's route type (br/ip input sets pkt_type from the MAC; this is what it amounts to for IPv4). */
function pkttype(rtn: number): number {
  return rtn === 3 ? 1 : rtn === 5 ? 2 : 0;
}

/** A load of a kind without constants-table operands (LOAD_NUMGEN_INC and LOAD_FN excluded). */
export function loadPlain(p: NftPacket, env: NftEnv, k: number, a: number, b: number): number {
  switch (k) {
    case LOAD_SADDR:
      return p.src | 0;
    case LOAD_DADDR:
      return p.dst | 0;
    case LOAD_PROTO:
      return p.proto;
    case LOAD_TH: {
      const o = p.thOff;
      if ((b !== 0 && p.proto !== b) || o < 0 || o + a + 2 > p.ipOff + p.len) return UNDEF;
      return (p.buf[o + a]! << 8) | p.buf[o + a + 1]!;
    }
    case LOAD_MARK:
      return p.mark | 0;
    case LOAD_IIFNAME:
      return wordOf(p.iifname);
    case LOAD_OIFNAME:
      return wordOf(p.oifname);
    case LOAD_CONST:
      return a;
    case LOAD_PKTTYPE:
      return pkttype(env.rtnType(p.dst));
    case LOAD_CTSTATE:
      return p.ctState;
    case LOAD_CTSTATUS:
      return p.hasCt ? p.ctStatus | 0 : UNDEF;
    case LOAD_CTMARK:
      return p.hasCt ? p.ctMark | 0 : UNDEF;
    case LOAD_CT_ORIG_SRC:
      return p.hasCt ? p.ctOrigSrc | 0 : UNDEF;
    case LOAD_CT_ORIG_DST:
      return p.hasCt ? p.ctOrigDst | 0 : UNDEF;
    case LOAD_CT_REPLY_SRC:
      return p.hasCt ? p.ctReplySrc | 0 : UNDEF;
    case LOAD_CT_REPLY_DST:
      return p.hasCt ? p.ctReplyDst | 0 : UNDEF;
    case LOAD_FIB_SADDR:
      return env.rtnType(p.src);
    case LOAD_FIB_DADDR:
      return env.rtnType(p.dst);
    case LOAD_NUMGEN_RANDOM: {
      const mod = a >>> 0;
      // nft_ng_random_eval: reciprocal_scale(get_random_u32(), modulus) + offset.
      return ((env.numgen === undefined ? Math.floor((env.rng.nextU32() * mod) / 4294967296) : env.numgen(mod)) + (b >>> 0)) | 0;
    }
    case LOAD_AND: {
      const v = loadPlain(p, env, a, 0, 0);
      return v === UNDEF ? UNDEF : v & b;
    }
    case LOAD_OR: {
      const v = loadPlain(p, env, a, 0, 0);
      return v === UNDEF ? UNDEF : v | b;
    }
    case LOAD_XOR: {
      const v = loadPlain(p, env, a, 0, 0);
      return v === UNDEF ? UNDEF : v ^ b;
    }
    default:
      return UNDEF; // LOAD_UNDEF
  }
}

/** How many kernel expressions loading `e` takes (payload/meta/ct loads, bitwise ops). */
export function exprCost(e: Expr): number {
  if (e.kind === "concat") {
    let n = 0;
    for (let i = 0; i < e.parts.length; i++) n += exprCost(e.parts[i]!);
    return n;
  }
  if (e.kind === "binop") return exprCost(e.left) + 1;
  return 1;
}
