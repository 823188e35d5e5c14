/**
 * Path MTU discovery, real kernel against podwire: S sends 200 kB to C over a router R whose
 * link towards C has MTU 1400 while C's own interface says 1500 (so C announces MSS 1460, as a
 * Pod with a wrong MTU does). R answers the 1500-byte DF segments with ICMP "fragmentation
 * needed"; with it S lowers its MSS and the transfer completes, and with R's outgoing ICMP
 * dropped nothing but the handshake gets through (the black hole).
 *
 *   S (10.0.1.2, 1500) ── R (10.0.1.1 | 10.0.2.1, r1 mtu 1400) ── C (10.0.2.2, 1500)
 *
 * Needs root, ip, iptables-restore and python3 (otherwise skipped).
 */
import test from "ava";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { ipv4 } from "../../src/base/index.js";
import { applyRestore } from "../../src/netfilter/apply-restore.js";
import { newRuleset } from "../../src/netfilter/model.js";
import { parseRestore } from "../../src/netfilter/restore-parse.js";
import { NamespaceNetfilter } from "../../src/netns/netfilter-glue.js";
import { routedPair } from "../netns/helpers.js";
import { kernelUnavailable } from "./kernel-lab.js";

const SIZE = 200_000;
const BLOCK = "*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -p icmp -m icmp --icmp-type 3/4 -j DROP\nCOMMIT\n";

interface Result {
  /** Bytes C received within 3 s. */
  received: number;
}

const PREFIX = `pw-k-${process.pid}-pmtu`;
let n = 0;

function sh(args: string[], input?: string): string {
  return execFileSync(args[0]!, args.slice(1), { input, encoding: "utf8", timeout: 30_000, stdio: ["pipe", "pipe", "pipe"] });
}

const SERVER_PY = String.raw`
import socket, sys
size = int(sys.argv[1])
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("0.0.0.0", 8080))
l.listen(1)
print("ready", flush=True)
c, _ = l.accept()
c.recv(100)
try:
    c.sendall(bytes(size))
    c.close()
except OSError:
    pass
`;
const CLIENT_PY = String.raw`
import socket, time
s = socket.create_connection(("10.0.1.2", 8080), timeout=3)
s.send(b"GET")
got = 0
end = time.time() + 3
s.settimeout(0.2)
while time.time() < end:
    try:
        d = s.recv(65536)
    except socket.timeout:
        continue
    if not d:
        break
    got += len(d)
print(got)
`;

async function kernelRun(block: boolean): Promise<Result> {
  const id = n++;
  const [s, r, c] = ["s", "r", "c"].map((x) => `${PREFIX}${id}${x}`) as [string, string, string];
  let server: ChildProcess | null = null;
  try {
    for (const ns of [s, r, c]) sh(["ip", "netns", "add", ns]);
    sh(["ip", "-n", s, "link", "add", "eth0", "type", "veth", "peer", "name", "r0", "netns", r]);
    sh(["ip", "-n", r, "link", "add", "r1", "type", "veth", "peer", "name", "eth0", "netns", c]);
    for (const [ns, dev, addr] of [[s, "eth0", "10.0.1.2/24"], [r, "r0", "10.0.1.1/24"], [r, "r1", "10.0.2.1/24"], [c, "eth0", "10.0.2.2/24"]] as const) {
      sh(["ip", "-n", ns, "addr", "add", addr, "dev", dev]);
      sh(["ip", "-n", ns, "link", "set", dev, "up"]);
    }
    // Only R's side of the link to C is narrow (C's side keeps 1500, so C announces MSS 1460).
    sh(["ip", "-n", r, "link", "set", "r1", "mtu", "1400"]);
    for (const ns of [s, r, c]) sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
    sh(["ip", "-n", s, "route", "add", "default", "via", "10.0.1.1"]);
    sh(["ip", "-n", c, "route", "add", "default", "via", "10.0.2.1"]);
    sh(["ip", "netns", "exec", r, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
    // Offloads off, so segments are what TCP built (no TSO/GSO superpackets on the veths).
    for (const [ns, dev] of [[s, "eth0"], [r, "r0"], [r, "r1"], [c, "eth0"]] as const) {
      try {
        sh(["ip", "netns", "exec", ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off"]);
      } catch {
        // no ethtool: GSO segments are cut to the MTU on the way out all the same
      }
    }
    if (block) sh(["ip", "netns", "exec", r, "iptables-restore"], BLOCK);
    const p = spawn("ip", ["netns", "exec", s, "python3", "-u", "-c", SERVER_PY, String(SIZE)], { stdio: ["ignore", "pipe", "pipe"] });
    server = p;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("server did not start")), 10_000);
      p.stdout!.once("data", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return { received: Number(sh(["ip", "netns", "exec", c, "python3", "-c", CLIENT_PY]).trim()) };
  } finally {
    server?.kill("SIGKILL");
    for (const ns of [s, r, c]) {
      try {
        sh(["ip", "netns", "delete", ns]);
      } catch {
        // not created
      }
    }
  }
}

function podwireRun(block: boolean): Result {
  // routedPair: a = S (10.0.1.2), b = C (10.0.2.2); r's eth2 (towards b) narrowed to 1400.
  const p = routedPair();
  p.rEth2.mtu = 1400;
  if (block) {
    const rs = newRuleset();
    applyRestore(rs, parseRestore(BLOCK, "block"));
    p.r.nf = new NamespaceNetfilter(p.r, rs);
  }
  p.a.tcp.listen(8080, () => ({
    onData: (conn) => {
      conn.send(new Uint8Array(SIZE));
      conn.close();
    },
    onPeerClosed: (conn) => conn.close(),
  }));
  let received = 0;
  p.b.tcp.connect(ipv4("10.0.1.2"), 8080, {
    onConnected: (conn) => conn.send(new TextEncoder().encode("GET")),
    onData: (_c, d) => (received += d.length),
    onPeerClosed: (conn) => conn.close(),
  });
  p.sim.run(3_000_000_000);
  return { received };
}

const EXPECTED: Record<string, Result> = {
  "ICMP delivered": { received: SIZE },
  "ICMP dropped": { received: 0 },
};

for (const [name, block] of [["ICMP delivered", false], ["ICMP dropped", true]] as const) {
  test(`podwire: PMTU discovery, ${name}`, (t) => {
    t.deepEqual(podwireRun(block), EXPECTED[name]);
  });
}

if (kernelUnavailable !== null) {
  console.log(`test/kernel/pmtu.test.ts: skipping the real-kernel half: ${kernelUnavailable}`);
  for (const name of Object.keys(EXPECTED)) test.skip(`kernel: PMTU discovery, ${name}`, () => {});
} else {
  for (const [name, block] of [["ICMP delivered", false], ["ICMP dropped", true]] as const) {
    test.serial(`kernel: PMTU discovery, ${name}`, async (t) => {
      t.deepEqual(await kernelRun(block), EXPECTED[name]);
    });
  }
}
