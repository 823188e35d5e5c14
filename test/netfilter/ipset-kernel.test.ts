/**
 * Compares podwire's ipset with the real one: the kube-proxy-shaped fixture is restored
 * into a fresh network namespace (ipsets are per namespace), and `ipset save` / `ipset test`
 * there must agree with `saveIpsets` / `IpsetRegistry.test` here.
 *
 * Normalisation, and why:
 * - Members are compared as a sorted list per set: the kernel lists a hash set bucket by
 *   bucket, an order fixed by jhash over its random initval; podwire keeps insertion order.
 * - Where the fixture gives no initval, ` initval 0x…` is dropped from the kernel's create
 *   line: the kernel draws one at random and podwire prints none. Where the fixture gives
 *   one, the create lines must match byte for byte.
 */
import test from "ava";
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseIpv4 } from "../../src/base/ipv4-int.js";
import { applyIpsetRestore, type Ipset, IpsetRegistry, parseIpsetRestore, saveIpsets } from "../../src/netfilter/ipset/index.js";

const FIXTURE = new URL("./ipset-fixtures/kube-proxy-ipvs.restore", import.meta.url);

function run(args: string[], input?: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(args[0]!, args.slice(1), { input, encoding: "utf8" });
  return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? String(r.error ?? "") };
}

/** Why the kernel comparison cannot run here, or undefined when it can. */
function unavailable(): string | undefined {
  try {
    execFileSync("ipset", ["version"], { stdio: "ignore" });
  } catch {
    return "ipset is not on the PATH";
  }
  const ns = `pw-ipset-probe-${randomBytes(4).toString("hex")}`;
  const add = run(["ip", "netns", "add", ns]);
  if (add.status !== 0) return `cannot create a network namespace: ${add.stderr.trim()}`;
  try {
    const probe = run(["ip", "netns", "exec", ns, "ipset", "create", "probe", "bitmap:port", "range", "0-1"]);
    if (probe.status !== 0) return `the kernel refuses ipset: ${probe.stderr.trim()}`;
    return undefined;
  } finally {
    run(["ip", "netns", "del", ns]);
  }
}

const PROTO: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };

/** The packet-path answer for a host-form entry (what the iptables set match would see). */
function packetTest(set: Ipset, entry: string): boolean {
  const args = [0, 0, 0];
  let proto = 6;
  entry.split(",").forEach((part, i) => {
    if (set.dims[i] === "port") {
      const [p, n] = part.includes(":") ? part.split(":") : ["tcp", part];
      proto = PROTO[p!]!;
      args[i] = Number(n);
    } else args[i] = parseIpv4(part);
  });
  return set.test(args[0]!, args[1]!, args[2]!, proto);
}

/** Save output as set blocks: the create line, then sorted member lines. */
function blocks(save: string, stripInitval: ReadonlySet<string>): string[][] {
  const out: string[][] = [];
  for (const line of save.split("\n").filter((l) => l !== "")) {
    if (line.startsWith("create ")) {
      const name = line.split(" ")[1]!;
      out.push([stripInitval.has(name) ? line.replace(/ initval 0x[0-9a-f]{8}$/, "") : line]);
    } else out.at(-1)!.push(line);
  }
  return out.map(([head, ...members]) => [head!, ...members.sort()]);
}

const reason = unavailable();
const register = reason === undefined ? test : test.skip;
if (reason !== undefined) console.log(`ipset kernel comparison skipped: ${reason}`);

register("the kernel's ipset save and test agree with podwire on kube-proxy's IPVS sets", (t) => {
  const text = readFileSync(FIXTURE, "utf8");
  const reg = new IpsetRegistry();
  applyIpsetRestore(reg, parseIpsetRestore(text, "kube-proxy-ipvs.restore"));
  const ours = saveIpsets(reg);
  const withoutInitval = new Set(reg.list().filter((s) => s.header.initval === undefined).map((s) => s.name));

  const ns = `pw-ipset-${randomBytes(6).toString("hex")}`;
  const created = run(["ip", "netns", "add", ns]);
  t.is(created.status, 0, created.stderr);
  try {
    const restored = run(["ip", "netns", "exec", ns, "ipset", "restore"], text);
    t.is(restored.status, 0, restored.stderr);
    const saved = run(["ip", "netns", "exec", ns, "ipset", "save"]);
    t.is(saved.status, 0, saved.stderr);
    t.true(saved.stdout.endsWith("\n") && ours.endsWith("\n"));
    t.deepEqual(blocks(ours, withoutInitval), blocks(saved.stdout, withoutInitval));

    const probes: [string, string][] = [
      ["KUBE-CLUSTER-IP", "10.96.0.1,tcp:443"],
      ["KUBE-CLUSTER-IP", "10.96.0.1,udp:443"],
      ["KUBE-CLUSTER-IP", "10.96.0.10,53"],
      ["KUBE-CLUSTER-IP", "10.96.0.10,udp:9153"],
      ["KUBE-CLUSTER-IP", "10.96.120.7,sctp:3868"],
      ["KUBE-LOOP-BACK", "10.244.1.5,tcp:8080,10.244.1.5"],
      ["KUBE-LOOP-BACK", "10.244.1.5,tcp:8080,10.244.1.6"],
      ["KUBE-LOAD-BALANCER-SOURCE-CIDR", "203.0.113.7,tcp:80,198.51.100.77"],
      ["KUBE-LOAD-BALANCER-SOURCE-CIDR", "203.0.113.7,tcp:80,10.9.9.9"],
      ["KUBE-LOAD-BALANCER-SOURCE-CIDR", "203.0.113.7,tcp:80,10.1.9.9"],
      ["KUBE-LOAD-BALANCER-SOURCE-CIDR", "203.0.113.7,tcp:80,10.1.2.3"],
      ["KUBE-LOAD-BALANCER-SOURCE-CIDR", "203.0.113.7,udp:80,10.9.9.9"],
      ["KUBE-LOAD-BALANCER-SOURCE-CIDR", "203.0.113.7,tcp:80,10.0.0.0/8"],
      ["KUBE-LOAD-BALANCER-SOURCE-CIDR", "203.0.113.7,tcp:80,10.1.0.0/16"],
      ["KUBE-LOAD-BALANCER-SOURCE-CIDR", "203.0.113.7,tcp:80,8.8.8.8"],
      ["KUBE-NODE-PORT-TCP", "30001"],
      ["KUBE-NODE-PORT-TCP", "30002"],
      ["KUBE-IPVS-IPS", "203.0.113.7"],
      ["KUBE-IPVS-IPS", "203.0.113.9"],
      ["PW-NETS", "10.200.0.1"],
      ["PW-NETS", "10.1.200.1"],
      ["PW-NETS", "10.1.2.200"],
      ["PW-NETS", "10.1.0.0/16"],
      ["PW-NETS", "10.0.0.0/8"],
      ["PW-NETS", "10.0.0.0/9"],
      ["PW-NETS", "172.16.5.9"],
      ["PW-NETS", "192.168.0.5"],
      ["PW-NETS", "192.168.0.6"],
      ["PW-TIMED", "198.18.0.2"],
    ];
    for (const [set, entry] of probes) {
      const kernel = run(["ip", "netns", "exec", ns, "ipset", "test", set, entry]);
      t.true(kernel.status === 0 || kernel.status === 1, `${set} ${entry}: ${kernel.stderr}`);
      t.is(reg.test(set, entry), kernel.status === 0, `ipset test ${set} ${entry}: kernel says ${kernel.stderr.trim()}`);
      if (!entry.includes("/")) t.is(packetTest(reg.get(set)!, entry), kernel.status === 0, `packet path ${set} ${entry}`);
    }
  } finally {
    run(["ip", "netns", "del", ns]);
  }
});
