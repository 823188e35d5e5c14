/**
 * br_netfilter's DNAT handling, real kernel against podwire: a node namespace H with a
 * bridge br0 (10.244.1.1/24, bridge-nf-call-iptables on) and two "Pods" A (10.244.1.2) and
 * B (10.244.1.3) on its ports, plus a routed neighbour C (10.0.2.10) behind another veth.
 * H's nat table DNATs three virtual addresses: to B (same bridge, another port), to A
 * itself (the hairpin case, optionally masqueraded as kube-proxy's SEP chains do) and to C
 * (routed). A sends one UDP datagram to each and every server answers with the TTL and the
 * peer address it saw (IP_RECVTTL), so the test sees whether the frame was bridged (TTL 64,
 * br_nf_pre_routing_finish_bridge) or routed (TTL 63), and whether the hairpin returned.
 *
 *   A (10.244.1.2) ─ vA ┐
 *                       br0 10.244.1.1/24  [H, forwarding]  h1 10.0.2.1/24 ── C (10.0.2.10)
 *   B (10.244.1.3) ─ vB ┘
 *
 * Needs root, ip, bridge, iptables-restore and python3 (otherwise skipped, reason printed).
 */
import test from "ava";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { ipv4, NS_PER_MS, NS_PER_SEC, parseCidr } from "../../src/base/index.js";
import { Bridge, Simulator, createVethPair } from "../../src/netdev/index.js";
import { applyRestore } from "../../src/netfilter/apply-restore.js";
import { newRuleset } from "../../src/netfilter/model.js";
import { parseRestore } from "../../src/netfilter/restore-parse.js";
import { NamespaceNetfilter } from "../../src/netns/netfilter-glue.js";
import { NetworkNamespace } from "../../src/netns/index.js";
import { kernelUnavailable } from "./kernel-lab.js";

const VIP_B = "10.96.0.10";
const VIP_SELF = "10.96.0.11";
const VIP_C = "10.96.0.12";

function rules(masqueradeHairpin: boolean): string {
  return `*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:SEP-SELF - [0:0]
-A PREROUTING -d ${VIP_B}/32 -p udp -m udp --dport 80 -j DNAT --to-destination 10.244.1.3:8080
-A PREROUTING -d ${VIP_SELF}/32 -p udp -m udp --dport 80 -j SEP-SELF
-A PREROUTING -d ${VIP_C}/32 -p udp -m udp --dport 80 -j DNAT --to-destination 10.0.2.10:8080
${masqueradeHairpin ? "-A SEP-SELF -s 10.244.1.2/32 -j MARK --set-xmark 0x4000/0x4000\n" : ""}-A SEP-SELF -p udp -m udp -j DNAT --to-destination 10.244.1.2:8080
-A POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE
COMMIT
`;
}

interface Case {
  name: string;
  hairpin: boolean;
  masquerade: boolean;
}

const CASES: Case[] = [
  { name: "hairpin off, hairpin traffic masqueraded", hairpin: false, masquerade: true },
  { name: "hairpin on, hairpin traffic masqueraded", hairpin: true, masquerade: true },
  { name: "hairpin on, no masquerade (kube-proxy before the SEP -s <ep> rule)", hairpin: true, masquerade: false },
];

/** What A's client saw for each VIP: `ttl=N peer=ADDR from=VIP` or `timeout`. */
type Outcome = Record<string, string>;

// ---------------------------------------------------------------- the real kernel

const SERVER_PY = String.raw`
import socket, sys
IP_RECVTTL = 12
IP_TTL = 2
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
s.bind(("0.0.0.0", 8080))
print("ready", flush=True)
while True:
    data, anc, _, peer = s.recvmsg(2048, 256)
    ttl = -1
    for lvl, typ, d in anc:
        if lvl == socket.IPPROTO_IP and typ == IP_TTL:
            ttl = int.from_bytes(d[:4], sys.byteorder)
    s.sendto(("ttl=%d peer=%s" % (ttl, peer[0])).encode(), peer)
`;

const CLIENT_PY = String.raw`
import json, socket, sys
out = {}
for vip in sys.argv[1:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    s.connect((vip, 80))
    s.send(b"probe")
    try:
        data, frm = s.recvfrom(2048)
        out[vip] = "%s from=%s" % (data.decode(), frm[0])
    except socket.timeout:
        out[vip] = "timeout"
    except OSError as e:
        out[vip] = "error %d" % e.errno
    s.close()
print(json.dumps(out))
`;

const PREFIX = `pw-k-${process.pid}-br`;
let counter = 0;

function sh(args: string[], input?: string): string {
  return execFileSync(args[0]!, args.slice(1), { input, encoding: "utf8", timeout: 30_000, stdio: ["pipe", "pipe", "pipe"] });
}

async function kernelRun(c: Case): Promise<Outcome> {
  const n = counter++;
  const [h, a, b, cc] = ["h", "a", "b", "c"].map((x) => `${PREFIX}${n}${x}`) as [string, string, string, string];
  const servers: ChildProcess[] = [];
  try {
    for (const ns of [h, a, b, cc]) sh(["ip", "netns", "add", ns]);
    const inNs = (ns: string, ...cmd: string[]) => sh(["ip", "netns", "exec", ns, ...cmd]);
    inNs(h, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
    sh(["ip", "-n", h, "link", "add", "br0", "type", "bridge"]);
    sh(["ip", "-n", h, "addr", "add", "10.244.1.1/24", "dev", "br0"]);
    for (const [pod, port, addr] of [[a, "vA", "10.244.1.2"], [b, "vB", "10.244.1.3"]] as const) {
      sh(["ip", "-n", h, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", pod]);
      sh(["ip", "-n", h, "link", "set", port, "master", "br0", "up"]);
      sh(["ip", "-n", pod, "addr", "add", `${addr}/24`, "dev", "eth0"]);
      sh(["ip", "-n", pod, "link", "set", "eth0", "up"]);
      sh(["ip", "-n", pod, "link", "set", "lo", "up"]);
      sh(["ip", "-n", pod, "route", "add", "default", "via", "10.244.1.1"]);
    }
    sh(["ip", "-n", h, "link", "set", "br0", "up"]);
    sh(["ip", "-n", h, "link", "add", "h1", "type", "veth", "peer", "name", "eth0", "netns", cc]);
    sh(["ip", "-n", h, "addr", "add", "10.0.2.1/24", "dev", "h1"]);
    sh(["ip", "-n", h, "link", "set", "h1", "up"]);
    sh(["ip", "-n", cc, "addr", "add", "10.0.2.10/24", "dev", "eth0"]);
    sh(["ip", "-n", cc, "link", "set", "eth0", "up"]);
    sh(["ip", "-n", cc, "link", "set", "lo", "up"]);
    sh(["ip", "-n", cc, "route", "add", "default", "via", "10.0.2.1"]);
    sh(["ip", "-n", h, "link", "set", "vA", "type", "bridge_slave", "hairpin", c.hairpin ? "on" : "off"]);
    inNs(h, "sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=1");
    inNs(h, "iptables-restore"); // an empty restore: makes sure the legacy/nft tables exist
    sh(["ip", "netns", "exec", h, "iptables-restore"], rules(c.masquerade));
    for (const ns of [a, b, cc]) {
      const p = spawn("ip", ["netns", "exec", ns, "python3", "-u", "-c", SERVER_PY], { stdio: ["ignore", "pipe", "pipe"] });
      servers.push(p);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`server in ${ns} did not start`)), 10_000);
        p.stdout!.once("data", () => {
          clearTimeout(timer);
          resolve();
        });
        p.once("exit", (code) => reject(new Error(`server in ${ns} exited ${code}`)));
      });
    }
    return JSON.parse(inNs(a, "python3", "-c", CLIENT_PY, VIP_B, VIP_SELF, VIP_C)) as Outcome;
  } finally {
    for (const p of servers) p.kill("SIGKILL");
    for (const ns of [h, a, b, cc]) {
      try {
        sh(["ip", "netns", "delete", ns]);
      } catch {
        // not created
      }
    }
  }
}

// ---------------------------------------------------------------- podwire

function podwireRun(c: Case): Outcome {
  const sim = new Simulator(11);
  const h = new NetworkNamespace(sim, "H");
  h.ipForward = true;
  const br = new Bridge(sim, "br0", 0x02000000b001, 1500);
  h.addDevice(br);
  h.addAddress(br, ipv4("10.244.1.1"), 24);
  br.nfCallIptables = true;
  const pods: NetworkNamespace[] = [];
  for (const [name, addr, mac] of [["A", "10.244.1.2", 0x0a5800000a02], ["B", "10.244.1.3", 0x0a5800000a03]] as const) {
    const ns = new NetworkNamespace(sim, name);
    const [eth0, port] = createVethPair(sim, { name: "eth0", mac }, { name: `v${name}`, mac: mac + 0x100000000 });
    ns.addDevice(eth0);
    ns.addAddress(eth0, ipv4(addr), 24);
    ns.addRoute(parseCidr("0.0.0.0/0")!, eth0, { gateway: ipv4("10.244.1.1") });
    br.addPort(port);
    h.addDevice(port);
    port.hairpin = name === "A" && c.hairpin;
    pods.push(ns);
  }
  const cns = new NetworkNamespace(sim, "C");
  const [h1, ceth] = createVethPair(sim, { name: "h1", mac: 0x02000000c001 }, { name: "eth0", mac: 0x02000000c00a });
  h.addDevice(h1);
  h.addAddress(h1, ipv4("10.0.2.1"), 24);
  cns.addDevice(ceth);
  cns.addAddress(ceth, ipv4("10.0.2.10"), 24);
  cns.addRoute(parseCidr("0.0.0.0/0")!, ceth, { gateway: ipv4("10.0.2.1") });
  pods.push(cns);
  const rs = newRuleset();
  applyRestore(rs, parseRestore(rules(c.masquerade), "bridge-dnat rules"));
  const nf = new NamespaceNetfilter(h, rs);
  h.nf = nf;
  br.nfHooks = nf;
  // The servers: answer with the TTL and the peer address they saw.
  for (const ns of pods) {
    ns.bindUdp(8080, {
      onDatagram(self, pkt) {
        const b = pkt.buf;
        const ip = pkt.head;
        const ttl = b[ip + 8]!;
        const src = rd32(b, ip + 12);
        const l4 = ip + (b[ip]! & 0x0f) * 4;
        const sport = (b[l4]! << 8) | b[l4 + 1]!;
        self.sim.pool.release(pkt);
        self.sendUdp(8080, src, sport, new TextEncoder().encode(`ttl=${ttl} peer=${fmt(src)}`));
      },
    });
  }
  const client = pods[0]!;
  const out: Outcome = {};
  let port = 40000;
  for (const vip of [VIP_B, VIP_SELF, VIP_C]) {
    const sport = port++;
    const want = ipv4(vip);
    out[vip] = "timeout";
    // A connected UDP socket: it takes datagrams from (vip, 80) only.
    client.bindUdp(sport, {
      onDatagram(_self, pkt) {
        const b = pkt.buf;
        const ip = pkt.head;
        const l4 = ip + (b[ip]! & 0x0f) * 4;
        if (rd32(b, ip + 12) === want && ((b[l4]! << 8) | b[l4 + 1]!) === 80) {
          const text = new TextDecoder().decode(b.subarray(l4 + 8, pkt.tail));
          out[vip] = `${text} from=${vip}`;
        }
        sim.pool.release(pkt);
      },
    });
    client.sendUdp(sport, want, 80, new TextEncoder().encode("probe"));
    sim.run(sim.now() + NS_PER_SEC);
    client.unbindUdp(sport);
  }
  sim.run(sim.now() + 10 * NS_PER_MS);
  return out;
}

function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function fmt(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

// What the kernel does (and podwire must): bridged DNAT keeps TTL 64, routing makes it 63;
// the hairpin needs hairpin mode and, for the reply to come back, the masquerade.
const EXPECTED: Record<string, Outcome> = {
  [CASES[0]!.name]: { [VIP_B]: `ttl=64 peer=10.244.1.2 from=${VIP_B}`, [VIP_SELF]: "timeout", [VIP_C]: `ttl=63 peer=10.244.1.2 from=${VIP_C}` },
  [CASES[1]!.name]: { [VIP_B]: `ttl=64 peer=10.244.1.2 from=${VIP_B}`, [VIP_SELF]: `ttl=64 peer=10.244.1.1 from=${VIP_SELF}`, [VIP_C]: `ttl=63 peer=10.244.1.2 from=${VIP_C}` },
  [CASES[2]!.name]: { [VIP_B]: `ttl=64 peer=10.244.1.2 from=${VIP_B}`, [VIP_SELF]: "timeout", [VIP_C]: `ttl=63 peer=10.244.1.2 from=${VIP_C}` },
};

for (const c of CASES) {
  test(`podwire: bridged DNAT, ${c.name}`, (t) => {
    t.deepEqual(podwireRun(c), EXPECTED[c.name]);
  });
}

if (kernelUnavailable !== null) {
  console.log(`test/kernel/bridge-dnat.test.ts: skipping the real-kernel half: ${kernelUnavailable}`);
  for (const c of CASES) test.skip(`kernel: bridged DNAT, ${c.name}`, () => {});
} else {
  for (const c of CASES) {
    test.serial(`kernel: bridged DNAT, ${c.name}`, async (t) => {
      t.deepEqual(await kernelRun(c), EXPECTED[c.name]);
    });
  }
}
