/**
 * iptables-legacy and iptables-nft in one namespace, real kernel against podwire: a router
 * R whose nft-backend FORWARD accepts the client's subnet while the legacy backend's
 * FORWARD policy is DROP. The kernel runs both; the datagram is dropped. The legacy table
 * was created first, yet the nft chain (created later, same priority 0) runs first:
 * nf_hook_entries_grow inserts a new hook before the existing ones of equal priority. With
 * the legacy policy set to ACCEPT the datagram passes.
 *
 *   A (10.0.1.2) ── R (10.0.1.1 | 10.0.2.1, forwarding) ── B (10.0.2.2, UDP echo on 8080)
 *
 * Needs root, ip, iptables-legacy, iptables-nft and python3 (otherwise skipped).
 */
import test from "ava";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { ipv4, NS_PER_SEC } from "../../src/base/index.js";
import { applyRestore } from "../../src/netfilter/apply-restore.js";
import { newRuleset } from "../../src/netfilter/model.js";
import { parseRestore } from "../../src/netfilter/restore-parse.js";
import { NamespaceNetfilter } from "../../src/netns/netfilter-glue.js";
import { routedPair } from "../netns/helpers.js";
import { kernelUnavailable } from "./kernel-lab.js";

const NFT_RULES = "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -s 10.0.1.0/24 -j ACCEPT\nCOMMIT\n";
const legacyRules = (policy: string) => `*filter\n:FORWARD ${policy} [0:0]\nCOMMIT\n`;

interface Result {
  answered: boolean;
  legacyPolicyPackets: number;
  nftRulePackets: number;
}

const PREFIX = `pw-k-${process.pid}-ipt`;
let n = 0;

function sh(args: string[], input?: string): string {
  return execFileSync(args[0]!, args.slice(1), { input, encoding: "utf8", timeout: 30_000, stdio: ["pipe", "pipe", "pipe"] });
}

const ECHO_PY = String.raw`
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 8080))
print("ready", flush=True)
while True:
    d, p = s.recvfrom(2048)
    s.sendto(d, p)
`;
const CLIENT_PY = String.raw`
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
s.connect(("10.0.2.2", 8080))
s.send(b"x")
try:
    s.recv(100)
    print("answered")
except Exception:
    print("timeout")
`;

/** `iptables -L FORWARD -v -x -n` of one backend: the policy's packets and the first rule's. */
function counters(ns: string, bin: string): { policy: number; rule: number } {
  const out = sh(["ip", "netns", "exec", ns, bin, "-L", "FORWARD", "-v", "-x", "-n"]);
  const policy = /policy \w+ (\d+) packets/.exec(out);
  const rule = out.split("\n").find((l) => /^\s*\d+\s+\d+\s+ACCEPT/.test(l));
  return { policy: policy ? Number(policy[1]) : -1, rule: rule ? Number(rule.trim().split(/\s+/)[0]) : 0 };
}

async function kernelRun(policy: string): Promise<Result> {
  const id = n++;
  const [a, r, b] = ["a", "r", "b"].map((x) => `${PREFIX}${id}${x}`) as [string, string, string];
  let server: ChildProcess | null = null;
  try {
    for (const ns of [a, r, b]) sh(["ip", "netns", "add", ns]);
    sh(["ip", "-n", a, "link", "add", "eth0", "type", "veth", "peer", "name", "r0", "netns", r]);
    sh(["ip", "-n", r, "link", "add", "r1", "type", "veth", "peer", "name", "eth0", "netns", b]);
    for (const [ns, dev, addr] of [[a, "eth0", "10.0.1.2/24"], [r, "r0", "10.0.1.1/24"], [r, "r1", "10.0.2.1/24"], [b, "eth0", "10.0.2.2/24"]] as const) {
      sh(["ip", "-n", ns, "addr", "add", addr, "dev", dev]);
      sh(["ip", "-n", ns, "link", "set", dev, "up"]);
    }
    for (const ns of [a, r, b]) sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
    sh(["ip", "-n", a, "route", "add", "default", "via", "10.0.1.1"]);
    sh(["ip", "-n", b, "route", "add", "default", "via", "10.0.2.1"]);
    sh(["ip", "netns", "exec", r, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
    // The host firewall first (legacy), then kube-proxy's backend (nft).
    sh(["ip", "netns", "exec", r, "iptables-legacy-restore"], legacyRules(policy));
    sh(["ip", "netns", "exec", r, "iptables-nft-restore"], NFT_RULES);
    const p = spawn("ip", ["netns", "exec", b, "python3", "-u", "-c", ECHO_PY], { stdio: ["ignore", "pipe", "pipe"] });
    server = p;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("echo server did not start")), 10_000);
      p.stdout!.once("data", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    const answered = sh(["ip", "netns", "exec", a, "python3", "-c", CLIENT_PY]).trim() === "answered";
    const legacy = counters(r, "iptables-legacy");
    const nft = counters(r, "iptables-nft");
    return { answered, legacyPolicyPackets: legacy.policy, nftRulePackets: nft.rule };
  } finally {
    server?.kill("SIGKILL");
    for (const ns of [a, r, b]) {
      try {
        sh(["ip", "netns", "delete", ns]);
      } catch {
        // not created
      }
    }
  }
}

function podwireRun(policy: string): Result {
  const p = routedPair();
  const main = newRuleset();
  applyRestore(main, parseRestore(NFT_RULES, "iptables-nft"));
  const legacy = newRuleset();
  applyRestore(legacy, parseRestore(legacyRules(policy), "iptables-legacy"));
  const nf = new NamespaceNetfilter(p.r, main);
  p.r.nf = nf;
  nf.setOtherBackend(legacy, "iptables-legacy", true);
  p.b.bindUdp(8080, { onDatagram: (ns, pkt) => (ns.sim.pool.release(pkt), ns.sendUdp(8080, ipv4("10.0.1.2"), 40000, new Uint8Array(1))) });
  let answered = false;
  p.a.connectUdp(40000, ipv4("10.0.2.2"), 8080, { onDatagram: (ns, pkt) => ((answered = true), ns.sim.pool.release(pkt)) });
  p.a.sendUdp(40000, ipv4("10.0.2.2"), 8080, new Uint8Array(1));
  p.sim.run(NS_PER_SEC);
  const fwd = legacy.tables.get("filter")!.chains.get("FORWARD")!;
  return {
    answered,
    // iptables -L shows a DROP policy's count; an ACCEPT policy here never sees a packet the ACCEPT rule took first.
    legacyPolicyPackets: fwd.counters.packets,
    nftRulePackets: main.tables.get("filter")!.chains.get("FORWARD")!.rules[0]!.counters.packets,
  };
}

const EXPECTED: Record<string, Result> = {
  // The nft chain (registered later, so first) accepted it; the legacy policy dropped it all the same.
  DROP: { answered: false, legacyPolicyPackets: 1, nftRulePackets: 1 },
  // Both accept: the datagram and its echo pass both backends' FORWARD.
  ACCEPT: { answered: true, legacyPolicyPackets: 2, nftRulePackets: 1 },
};

for (const policy of ["DROP", "ACCEPT"]) {
  test(`podwire: legacy FORWARD policy ${policy} beside an accepting nft backend`, (t) => {
    t.deepEqual(podwireRun(policy), EXPECTED[policy]);
  });
}

const haveBinaries = existsSync("/usr/sbin/iptables-legacy-restore") && existsSync("/usr/sbin/iptables-nft-restore");
if (kernelUnavailable !== null || !haveBinaries) {
  console.log(`test/kernel/iptables-backends.test.ts: skipping the real-kernel half: ${kernelUnavailable ?? "no iptables-legacy/iptables-nft binaries"}`);
  for (const policy of ["DROP", "ACCEPT"]) test.skip(`kernel: legacy FORWARD policy ${policy} beside an accepting nft backend`, () => {});
} else {
  for (const policy of ["DROP", "ACCEPT"]) {
    test.serial(`kernel: legacy FORWARD policy ${policy} beside an accepting nft backend`, async (t) => {
      t.deepEqual(await kernelRun(policy), EXPECTED[policy]);
    });
  }
}
