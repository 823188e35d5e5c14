/**
 * The real kernel, where the machine allows (Linux, root, `ip netns`, python3, and the
 * mode's loader: iptables-restore, or the system's nft): for a mode's ruleset —
 *  - load time of the full text into a fresh namespace: `iptables-restore` of kube-proxy's
 *    restore text (iptables mode), or `nft -f` of its transaction (nftables mode; always
 *    the absolute path of the system's nft, never whatever `nft` is first on PATH —
 *    node_modules/.bin holds an unrelated one);
 *  - first-packet cost: three namespaces, client ─ router ─ sink. The router holds
 *    kube-proxy's jump rules and ruleset; the sink owns the endpoint addresses and echoes
 *    UDP. A Python client sends each of F new flows (one socket per flow) to a ClusterIP,
 *    waits for the echo, then sends a second datagram on the same flow: the first round trip
 *    pays conntrack creation and the nat table walk on the router, the second is an
 *    established packet. kernelFirstPacketUs is the median over flows of (first − second),
 *    in µs; the raw medians are kept beside it.
 * Namespaces are deleted in every case; each step has a timeout.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatIpv4, hostNowMs } from "../base/index.js";
import type { KernelRuleset } from "./modes.js";
import { ENDPOINT_PORT, SERVICE_PORT } from "./workload.js";

export interface KernelFigures {
  restoreMs: number | null;
  firstPacketUs: number | null;
  newFlowUs: number | null;
  establishedFlowUs: number | null;
  flows: number | null;
  note: string | null;
}

/** The system's nft (nftables' CLI), by absolute path; null when there is none. */
export function systemNft(): string | null {
  for (const dir of ["/usr/sbin", "/sbin", "/usr/local/sbin"]) if (existsSync(`${dir}/nft`)) return `${dir}/nft`;
  return null;
}

/** Why the kernel cannot be measured here at all, or null when it can. */
export function kernelUnavailable(): string | null {
  if (process.platform !== "linux") return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return "not root";
  if (spawnSync("ip", ["netns", "list"], { stdio: "ignore" }).status !== 0) return "no ip netns";
  if (spawnSync("python3", ["-c", "import socket"], { stdio: "ignore" }).status !== 0) return "no python3";
  return null;
}

/** Why a mode's loader cannot run here (iptables-restore, or the system's nft), or null. */
export function kernelLoaderUnavailable(loader: KernelRuleset["loader"]): string | null {
  if (loader === "iptables-restore") return spawnSync("iptables-restore", ["--version"], { stdio: "ignore" }).status !== 0 ? "no iptables-restore" : null;
  const nft = systemNft();
  if (nft === null) return "no system nft (/usr/sbin/nft)";
  if (spawnSync(nft, ["--version"], { stdio: "ignore" }).status !== 0) return `${nft} --version failed`;
  return null;
}

const SINK = `
import socket, selectors, sys
ips = sys.argv[1].split(",")
port = int(sys.argv[2])
sel = selectors.DefaultSelector()
for ip in ips:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, port))
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        s = key.fileobj
        try:
            while True:
                data, addr = s.recvfrom(2048)
                s.sendto(data, addr)
        except BlockingIOError:
            pass
`;

const CLIENT = `
import socket, sys, time, json, statistics
targets = [line.split() for line in open(sys.argv[1]).read().split("\\n") if line]
deadline = time.monotonic() + float(sys.argv[2])
new, est = [], []
lost = 0
payload = b"podwire-bench"
for ip, port in targets:
    if time.monotonic() > deadline:
        break
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    s.bind(("0.0.0.0", 0))
    dst = (ip, int(port))
    try:
        t0 = time.perf_counter_ns()
        s.sendto(payload, dst)
        s.recv(64)
        t1 = time.perf_counter_ns()
        s.sendto(payload, dst)
        s.recv(64)
        t2 = time.perf_counter_ns()
        new.append((t1 - t0) / 1000)
        est.append((t2 - t1) / 1000)
    except socket.timeout:
        lost += 1
    finally:
        s.close()
diff = [a - b for a, b in zip(new, est)]
print(json.dumps({"flows": len(new), "lost": lost,
  "newUs": statistics.median(new) if new else None,
  "estUs": statistics.median(est) if est else None,
  "diffUs": statistics.median(diff) if diff else None}))
`;

const DRIVER = `
import subprocess, sys
sink_ns, client_ns, sink, ips, port, client, targets, budget = sys.argv[1:9]
p = subprocess.Popen(["ip", "netns", "exec", sink_ns, "python3", sink, ips, port], stdout=subprocess.PIPE)
try:
    if p.stdout.readline().strip() != b"ready":
        sys.exit("sink did not start")
    r = subprocess.run(["ip", "netns", "exec", client_ns, "python3", client, targets, budget], capture_output=True, text=True)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    sys.exit(r.returncode)
finally:
    p.kill()
    p.wait()
`;

function sh(args: string[], timeoutMs = 60_000): void {
  execFileSync(args[0]!, args.slice(1), { stdio: ["ignore", "ignore", "pipe"], timeout: timeoutMs });
}

/**
 * Loads `rules` into a router namespace (timed) and measures first packets through it.
 * `targets` are (ClusterIP) Service addresses to send new flows to; `endpoints` the
 * addresses the ruleset DNATs to.
 */
export function measureKernel(rules: KernelRuleset, targets: number[], endpoints: number[], opts: { flows: number; timeoutMs: number; tag: string }): KernelFigures {
  const dir = mkdtempSync(join(tmpdir(), "podwire-bench-kernel-"));
  const id = `${process.pid}-${opts.tag}`;
  const c = `pwb-c-${id}`;
  const r = `pwb-r-${id}`;
  const s = `pwb-s-${id}`;
  const files = { rules: join(dir, "rules"), jumps: join(dir, "jumps"), sink: join(dir, "sink.py"), client: join(dir, "client.py"), targets: join(dir, "targets"), driver: join(dir, "driver.py") };
  writeFileSync(files.rules, rules.restoreText);
  // The jump rules go in after the full text: drop their chain declarations for chains the
  // full text already made (with --noflush a declaration would flush the chain again).
  writeFileSync(files.jumps, rules.jumpText.split("\n").filter((l) => !(l.startsWith(":") && rules.restoreText.includes(`\n${l.split(" ")[0]} `))).join("\n"));
  writeFileSync(files.sink, SINK);
  writeFileSync(files.client, CLIENT);
  writeFileSync(files.driver, DRIVER);
  const lines: string[] = [];
  for (let i = 0; i < opts.flows; i++) lines.push(`${formatIpv4(targets[i % targets.length]!)} ${SERVICE_PORT}`);
  writeFileSync(files.targets, lines.join("\n") + "\n");
  const out: KernelFigures = { restoreMs: null, firstPacketUs: null, newFlowUs: null, establishedFlowUs: null, flows: null, note: null };
  try {
    for (const ns of [c, r, s]) sh(["ip", "netns", "add", ns]);
    if (rules.loader === "nft") {
      // nft -f of the full transaction into the fresh router namespace (timed); its base
      // chains hook into netfilter directly, no jump rules.
      const nft = systemNft();
      if (nft === null) throw new Error("no system nft");
      const t0 = hostNowMs();
      execFileSync("ip", ["netns", "exec", r, nft, "-f", files.rules], { stdio: ["ignore", "ignore", "pipe"], timeout: opts.timeoutMs, maxBuffer: 64 << 20 });
      out.restoreMs = hostNowMs() - t0;
    } else {
      // iptables-restore of the full text into the fresh router namespace (timed), then the jump rules.
      const t0 = hostNowMs();
      execFileSync("ip", ["netns", "exec", r, "iptables-restore", files.rules], { stdio: ["ignore", "ignore", "pipe"], timeout: opts.timeoutMs });
      out.restoreMs = hostNowMs() - t0;
      sh(["ip", "netns", "exec", r, "iptables-restore", "--noflush", files.jumps], opts.timeoutMs);
    }
    // Links: client 10.250.0.2 ─ 10.250.0.1 router 10.250.1.1 ─ 10.250.1.2 sink (+ endpoint addresses).
    sh(["ip", "link", "add", "pwbc0", "netns", c, "type", "veth", "peer", "name", "pwbr0", "netns", r]);
    sh(["ip", "link", "add", "pwbr1", "netns", r, "type", "veth", "peer", "name", "pwbs0", "netns", s]);
    const inNs = (ns: string, ...a: string[]): void => sh(["ip", "netns", "exec", ns, ...a]);
    inNs(c, "ip", "addr", "add", "10.250.0.2/24", "dev", "pwbc0");
    inNs(r, "ip", "addr", "add", "10.250.0.1/24", "dev", "pwbr0");
    inNs(r, "ip", "addr", "add", "10.250.1.1/24", "dev", "pwbr1");
    inNs(s, "ip", "addr", "add", "10.250.1.2/24", "dev", "pwbs0");
    for (const ep of endpoints) inNs(s, "ip", "addr", "add", `${formatIpv4(ep)}/32`, "dev", "lo");
    for (const [ns, devs] of [[c, ["lo", "pwbc0"]], [r, ["lo", "pwbr0", "pwbr1"]], [s, ["lo", "pwbs0"]]] as const) for (const d of devs) inNs(ns, "ip", "link", "set", d, "up");
    inNs(c, "ip", "route", "add", "default", "via", "10.250.0.1");
    inNs(s, "ip", "route", "add", "default", "via", "10.250.1.1");
    inNs(r, "ip", "route", "add", "10.244.0.0/16", "via", "10.250.1.2");
    inNs(r, "sysctl", "-qw", "net.ipv4.ip_forward=1");
    // The echo sink in the sink namespace and the client in the client namespace, run by a driver.
    const res = spawnSync("python3", [files.driver, s, c, files.sink, endpoints.map(formatIpv4).join(","), String(ENDPOINT_PORT), files.client, files.targets, String(Math.max(5, opts.timeoutMs / 1000 - 5))], { encoding: "utf8", timeout: opts.timeoutMs + 15_000 });
    if (res.status !== 0) {
      out.note = `kernel first-packet client failed: ${(res.stderr || res.error?.message || "").toString().trim().split("\n").pop()}`;
    } else {
      const j = JSON.parse(res.stdout.trim().split("\n").pop()!) as { flows: number; lost: number; newUs: number | null; estUs: number | null; diffUs: number | null };
      out.flows = j.flows;
      out.newFlowUs = j.newUs;
      out.establishedFlowUs = j.estUs;
      out.firstPacketUs = j.diffUs;
      if (j.lost > 0) out.note = `${j.lost} of ${j.flows + j.lost} kernel flows got no echo`;
    }
  } catch (err) {
    out.note = `kernel measurement failed: ${String((err as Error).message).split("\n")[0]}`;
  } finally {
    for (const ns of [c, r, s]) spawnSync("ip", ["netns", "del", ns], { stdio: "ignore" });
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
