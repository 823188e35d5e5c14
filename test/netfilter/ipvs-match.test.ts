/**
 * The `ipvs` match (xt_ipvs): parsing, the canonical iptables-save form (libxt_ipvs
 * ipvs_mt_dump), round trips, errors, the kernel's matching semantics on PacketContext's IPVS
 * fields, and loading into the real kernel when it has xt_ipvs.
 */
import { fc, testProp } from "@fast-check/ava";
import test from "ava";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Rng, VirtualClock, formatIpv4 } from "../../src/base/index.js";
import { createEnv } from "../../src/netfilter/env.js";
import { ruleMatches } from "../../src/netfilter/match.js";
import type { IpvsMatch } from "../../src/netfilter/model.js";
import { PacketContext } from "../../src/netfilter/packet-context.js";
import { parseRule } from "../../src/netfilter/restore-parse.js";
import { printRuleSpec } from "../../src/netfilter/save-print.js";

const canon = (spec: string): string => printRuleSpec(parseRule(spec, { table: "filter" })).trim();

test("canonical save form: --vproto as a number, /32 dropped, kernel bit order, --ipvs implied", (t) => {
  t.is(canon("-s 5.6.7.8 -m ipvs --vaddr 5.6.7.8 --vproto tcp --vport 80 -j DROP"), "-s 5.6.7.8/32 -m ipvs --vproto 6 --vaddr 5.6.7.8 --vport 80 -j DROP");
  t.is(canon("-m ipvs --ipvs -j ACCEPT"), "-m ipvs --ipvs -j ACCEPT");
  t.is(canon("-m ipvs ! --ipvs -j ACCEPT"), "-m ipvs ! --ipvs -j ACCEPT");
  t.is(canon("-m ipvs --ipvs --vport 80 -j ACCEPT"), "-m ipvs --vport 80 -j ACCEPT");
  t.is(
    canon("-m ipvs --vportctl 21 --vmethod masq --vdir reply ! --vport 80 ! --vaddr 10.96.0.0/12 --vproto UDP -j RETURN"),
    "-m ipvs --vproto 17 ! --vaddr 10.96.0.0/12 ! --vport 80 --vdir REPLY --vmethod MASQ --vportctl 21 -j RETURN",
  );
  t.is(canon("-m ipvs ! --vproto 132 ! --vmethod GATE ! --vportctl 0 --vdir ORIGINAL -j ACCEPT"), "-m ipvs ! --vproto 132 --vdir ORIGINAL ! --vmethod GATE ! --vportctl 0 -j ACCEPT");
  // The address is kept as written; the mask applies on compare.
  t.is(canon("-m ipvs --vaddr 10.96.7.1/12 -j ACCEPT"), "-m ipvs --vaddr 10.96.7.1/12 -j ACCEPT");
});

test("parse errors: no option, ! --ipvs with others, bad values, repeated options", (t) => {
  const bad = (spec: string, re: RegExp) => {
    const e = t.throws(() => parseRule(spec));
    t.regex(e!.message, re, spec);
  };
  bad("-m ipvs -j ACCEPT", /needs at least one option/);
  bad("-m ipvs ! --ipvs --vport 80 -j ACCEPT", /cannot be combined/);
  bad("-m ipvs --vdir SIDEWAYS -j ACCEPT", /--vdir/);
  bad("-m ipvs --vmethod NAT -j ACCEPT", /--vmethod/);
  bad("-m ipvs --vaddr 10.0.0.1/33 -j ACCEPT", /--vaddr/);
  bad("-m ipvs --vport 70000 -j ACCEPT", /--vport/);
  bad("-m ipvs --vproto nosuch -j ACCEPT", /protocol/);
  bad("-m ipvs --vport 1 --vport 2 -j ACCEPT", /once/);
  bad("-m ipvs ! --vdir REPLY -j ACCEPT", /!/);
});

type ArbMatch = Partial<Omit<IpvsMatch, "module" | "ipvsInvert" | "vaddr">> & { vaddr?: { addr: number; prefixLen: number; invert: boolean } };

const arbMatch: fc.Arbitrary<ArbMatch> = fc.record(
  {
    vproto: fc.record({ proto: fc.constantFrom(6, 17, 132, 1), invert: fc.boolean() }),
    vaddr: fc.record({ addr: fc.nat(0xffffffff), prefixLen: fc.integer({ min: 0, max: 32 }), invert: fc.boolean() }),
    vport: fc.record({ port: fc.nat(65535), invert: fc.boolean() }),
    vdir: fc.constantFrom("ORIGINAL" as const, "REPLY" as const),
    vmethod: fc.record({ method: fc.constantFrom("GATE" as const, "IPIP" as const, "MASQ" as const), invert: fc.boolean() }),
    vportctl: fc.record({ port: fc.nat(65535), invert: fc.boolean() }),
  },
  { requiredKeys: [] },
);

/** The options in a random order, the way a user might write them. */
function writeOptions(m: ArbMatch, order: number[]): string {
  const parts: string[] = [];
  const neg = (f: { invert: boolean }) => (f.invert ? "! " : "");
  if (m.vproto) parts.push(`${neg(m.vproto)}--vproto ${m.vproto.proto}`);
  if (m.vaddr) parts.push(`${neg(m.vaddr)}--vaddr ${formatIpv4(m.vaddr.addr)}/${m.vaddr.prefixLen}`);
  if (m.vport) parts.push(`${neg(m.vport)}--vport ${m.vport.port}`);
  if (m.vdir) parts.push(`--vdir ${m.vdir.toLowerCase()}`);
  if (m.vmethod) parts.push(`${neg(m.vmethod)}--vmethod ${m.vmethod.method}`);
  if (m.vportctl) parts.push(`${neg(m.vportctl)}--vportctl ${m.vportctl.port}`);
  const shuffled = parts.map((p, i) => ({ p, k: order[i % order.length]! + i / 100 })).sort((a, b) => a.k - b.k).map((x) => x.p);
  return shuffled.length === 0 ? "--ipvs" : shuffled.join(" ");
}

testProp("print(parse(x)) is a fixed point and keeps every option", [arbMatch, fc.array(fc.nat(20), { minLength: 1, maxLength: 6 })], (t, m, order) => {
  const once = canon(`-m ipvs ${writeOptions(m, order)} -j ACCEPT`);
  t.is(canon(once), once);
  const parsed = parseRule(once).matches[0] as IpvsMatch;
  t.is(parsed.vport?.port, m.vport?.port);
  t.is(parsed.vaddr?.prefixLen, m.vaddr?.prefixLen);
  t.is(parsed.vdir, m.vdir);
  t.is(parsed.vmethod?.method, m.vmethod?.method);
});

// ---------------------------------------------------------------- semantics

function packet(proto: number, src: string, dst: string, sport: number, dport: number): Uint8Array {
  const b = new Uint8Array(28);
  b[0] = 0x45;
  b[3] = 28;
  b[8] = 64;
  b[9] = proto;
  src.split(".").forEach((o, i) => (b[12 + i] = Number(o)));
  dst.split(".").forEach((o, i) => (b[16 + i] = Number(o)));
  b[20] = sport >> 8;
  b[21] = sport & 255;
  b[22] = dport >> 8;
  b[23] = dport & 255;
  return b;
}

const env = createEnv({ addrType: () => 2, rng: new Rng(1), clock: new VirtualClock() });
const VIP = 0x05060708;

function ctxFor(): PacketContext {
  const bytes = packet(6, "5.6.7.8", "10.180.0.1", 40000, 80);
  return new PacketContext().load(bytes, 0, bytes.length).at("OUTPUT", "", "eth0", 0, 8, 0);
}

test("semantics: a packet not handled by IPVS matches only ! --ipvs", (t) => {
  const ctx = ctxFor();
  t.false(ctx.ipvsProperty);
  t.false(ruleMatches(parseRule("-m ipvs --ipvs -j DROP"), ctx, env));
  t.true(ruleMatches(parseRule("-m ipvs ! --ipvs -j DROP"), ctx, env));
  t.false(ruleMatches(parseRule("-m ipvs ! --vport 80 -j DROP"), ctx, env));
});

test("semantics: kube-proxy's KUBE-IPVS-OUT-FILTER rule drops the node's own traffic to a firewalled LB VIP", (t) => {
  const rule = parseRule("-s 5.6.7.8 -m ipvs --vaddr 5.6.7.8 --vproto tcp --vport 80 -j DROP", { table: "filter" });
  const ctx = ctxFor().setIpvs("MASQ", VIP, 80, "ORIGINAL");
  t.true(ruleMatches(rule, ctx, env));
  t.false(ruleMatches(rule, ctxFor().setIpvs("MASQ", VIP, 443, "ORIGINAL"), env));
  t.false(ruleMatches(rule, ctxFor().setIpvs("MASQ", VIP + 1, 80, "ORIGINAL"), env));
  t.false(ruleMatches(parseRule("-m ipvs --vproto udp -j DROP"), ctxFor().setIpvs("MASQ", VIP, 80, "ORIGINAL"), env));
  // IPVS property set but no connection found: every option other than --ipvs fails, negated or not.
  const noConn = ctxFor().setIpvs("none", 0, 0, "none");
  t.true(ruleMatches(parseRule("-m ipvs --ipvs -j DROP"), noConn, env));
  t.false(ruleMatches(parseRule("-m ipvs ! --vport 1 -j DROP"), noConn, env));
  // A fresh load resets the IPVS fields.
  t.false(ctx.load(packet(6, "1.1.1.1", "2.2.2.2", 1, 2), 0, 28).ipvsProperty);
});

test("semantics: vdir, vmethod, vportctl and masked vaddr follow xt_ipvs", (t) => {
  const m = (spec: string, ctx: PacketContext) => ruleMatches(parseRule(`-m ipvs ${spec} -j ACCEPT`), ctx, env);
  const orig = () => ctxFor().setIpvs("MASQ", VIP, 80, "ORIGINAL", 21);
  const reply = () => ctxFor().setIpvs("GATE", VIP, 80, "REPLY");
  t.true(m("--vdir ORIGINAL", orig()));
  t.false(m("--vdir REPLY", orig()));
  t.true(m("--vdir REPLY", reply()));
  t.false(m("--vdir ORIGINAL", ctxFor().setIpvs("MASQ", VIP, 80, "none")));
  t.true(m("--vmethod MASQ", orig()));
  t.true(m("! --vmethod MASQ", reply()));
  t.true(m("--vportctl 21", orig()));
  t.false(m("--vportctl 21", reply()));
  t.true(m("! --vportctl 21", reply()));
  t.true(m("--vaddr 5.6.0.0/16", orig()));
  t.true(m("--vaddr 5.6.255.255/16", orig()));
  t.false(m("--vaddr 5.7.0.0/16", orig()));
  t.true(m("! --vaddr 5.7.0.0/16", orig()));
  t.true(m("--vaddr 0.0.0.0/0", orig()));
});

// ---------------------------------------------------------------- kernel

const root = process.getuid?.() === 0;
const hasRestore = spawnSync("sh", ["-c", "command -v iptables-restore && command -v ip"]).status === 0;

test.serial("kernel: a rule with every ipvs option loads and saves in podwire's canonical form (or the refusal is reported)", (t) => {
  if (!root || !hasRestore) {
    t.log(`skipped: ${!root ? "not root" : "iptables-restore or ip not installed"}`);
    t.pass();
    return;
  }
  const ns = `pw-xtipvs-${randomBytes(4).toString("hex")}`;
  if (spawnSync("ip", ["netns", "add", ns]).status !== 0) {
    t.log("skipped: cannot create a network namespace");
    t.pass();
    return;
  }
  try {
    const specs = [
      "-s 5.6.7.8 -m ipvs --vaddr 5.6.7.8 --vproto tcp --vport 80 -j DROP",
      "-m ipvs ! --ipvs -j ACCEPT",
      "-m ipvs --vproto udp ! --vaddr 10.96.0.0/12 ! --vport 53 --vdir REPLY --vmethod MASQ ! --vportctl 21 -j RETURN",
    ];
    const text = `*filter\n:PW-IPVS - [0:0]\n${specs.map((s) => `-A PW-IPVS ${s}`).join("\n")}\nCOMMIT\n`;
    const r = spawnSync("ip", ["netns", "exec", ns, "iptables-restore", "--noflush"], { input: text, encoding: "utf8" });
    if (r.status !== 0) {
      t.regex(r.stderr, /ipvs|PW-IPVS/i);
      t.log(`skipped: the kernel refuses xt_ipvs: ${r.stderr.trim().replace(/\s+/g, " ")}`);
      return;
    }
    const saved = spawnSync("ip", ["netns", "exec", ns, "iptables-save", "-t", "filter"], { encoding: "utf8" }).stdout;
    const kernel = saved.split("\n").filter((l) => l.startsWith("-A PW-IPVS "));
    t.deepEqual(kernel, specs.map((s) => `-A PW-IPVS ${canon(s)}`));
  } finally {
    spawnSync("ip", ["netns", "del", ns]);
  }
});
