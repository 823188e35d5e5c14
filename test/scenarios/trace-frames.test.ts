/**
 * A hop's `frame` is the 1-based number of its packet's frame on its device in the capture
 * (Wireshark's frame.number): every frame a trace names is on the hop's device and carries
 * the hop's addresses. Checked on the demo's capture in every proxy mode (read in-process)
 * and on `trace --json --pcap` with tshark.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { runDemo } from "../../src/cluster/demo.js";
import { defaultCluster } from "../../src/cluster/load.js";
import type { ProxyMode } from "../../src/cluster/spec.js";
import { type TraceEvent, captureName, describePacket } from "../../src/netdev/index.js";
import { readCaptureFile } from "../../src/pcap/index.js";

const MODES: ProxyMode[] = ["iptables", "ipvs", "nftables"];

for (const mode of MODES) {
  test.serial(`demo (${mode}): every frame a hop names is its packet on its device`, (t) => {
    const dir = mkdtempSync(join(tmpdir(), "podwire-frames-"));
    try {
      const spec = defaultCluster();
      spec.proxyMode = mode;
      const run = runDemo(spec, { capturePath: join(dir, "demo.pcapng") });
      const cap = readCaptureFile(join(dir, "demo.pcapng"));
      const events: TraceEvent[] = run.results.flatMap((r) => r.events);
      const framed = events.filter((e) => e.frame !== null);
      t.true(framed.length > 300, `${framed.length} hops with a frame`);
      const wrong: string[] = [];
      for (const e of framed) {
        const p = cap.packets[e.frame! - 1];
        if (p === undefined) {
          wrong.push(`${e.action} ${e.netns} ${e.device}: frame ${e.frame} is not in the file`);
          continue;
        }
        const iface = cap.interfaces[p.interfaceId]!.name;
        const seen = describePacket(p.data, 0, p.data.length, false);
        if (iface !== captureName(e.netns, e.device)) wrong.push(`${e.action} ${e.netns} ${e.device}: frame ${e.frame} is on ${iface}`);
        else if (seen?.src !== e.packet?.src || seen?.dst !== e.packet?.dst || seen?.proto !== e.packet?.proto) {
          wrong.push(`${e.action} ${e.netns} ${e.device}: frame ${e.frame} is ${JSON.stringify(seen)}, the hop ${JSON.stringify(e.packet)}`);
        }
      }
      t.deepEqual(wrong, []);
      // Hops whose packet is on the wire as the hop shows it all have their frame: every packet
      // a Pod sends, every ARP message, a NodePort's DNAT as the packet came in on eth0, and a
      // masquerade as the packet leaves. (A bridge is captured after br_netfilter's PREROUTING,
      // so a DNAT there shows a packet no frame on the bridge has: its frame is null.)
      const mustHaveFrame = (e: TraceEvent) =>
        e.action === "arp-request" ||
        e.action === "arp-reply" ||
        (e.action === "send" && e.netns.includes("/")) ||
        (e.nat !== null && e.rules !== null && e.stage !== "ipvs" && (e.nat.kind !== "DNAT" || e.device === "eth0"));
      const missing = events.filter((e) => e.frame === null && mustHaveFrame(e));
      t.deepEqual(missing.map((e) => `${e.action} ${e.netns} ${e.device} ${e.detail}`), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

const haveTshark = spawnSync("tshark", ["--version"], { stdio: "ignore" }).status === 0;
if (!haveTshark) console.log("skipped: tshark is not installed (apt-get install -y tshark)");

(haveTshark ? test.serial : test.skip)("trace --json --pcap: tshark finds each hop's frame on the hop's device with the hop's addresses", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-frames-cli-"));
  try {
    const file = join(dir, "t.pcapng");
    const bin = new URL("../../bin/podwire.js", import.meta.url).pathname;
    const r = spawnSync(process.execPath, [bin, "trace", "--from", "ext/outside", "--to", "node/worker-2:30080", "--json", "--pcap", file], { encoding: "utf8" });
    t.is(r.status, 0, r.stderr);
    const hops = (JSON.parse(r.stdout) as { hops: { netns: string; device: string; action: string; frame: number | null; packet: { proto: string; src: string; dst: string } | null }[] }).hops;
    const fields = ["frame.number", "frame.interface_name", "ip.src", "ip.dst", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "arp.src.proto_ipv4", "arp.dst.proto_ipv4"];
    const out = execFileSync("tshark", ["-r", file, "-d", "udp.port==8472,vxlan", "-T", "fields", ...fields.flatMap((f) => ["-e", f])], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    const frames = new Map<number, string[]>();
    for (const line of out.split("\n")) {
      if (line === "") continue;
      const cols = line.split("\t");
      frames.set(Number(cols[0]), cols);
    }
    const first = (s: string | undefined) => (s ?? "").split(",")[0]!;
    let checked = 0;
    for (const h of hops) {
      if (h.frame === null) continue;
      const f = frames.get(h.frame);
      t.truthy(f, `frame ${h.frame}`);
      const [, iface, ipSrc, ipDst, tcpS, tcpD, udpS, udpD, arpS, arpD] = f!;
      t.is(iface, `${h.netns}/${h.device}`, `${h.action} frame ${h.frame}`);
      const p = h.packet!;
      const at = (ip: string, port: string) => (port ? `${first(ip)}:${first(port)}` : first(ip));
      if (p.proto === "arp") t.deepEqual([arpS, arpD], [p.src, p.dst]);
      else if (p.proto === "tcp") t.deepEqual([at(ipSrc!, tcpS!), at(ipDst!, tcpD!)], [p.src, p.dst], `${h.action} frame ${h.frame}`);
      else if (p.proto === "udp") t.deepEqual([at(ipSrc!, udpS!), at(ipDst!, udpD!)], [p.src, p.dst]);
      else t.deepEqual([first(ipSrc), first(ipDst)], [p.src, p.dst]);
      checked++;
    }
    t.true(checked > 30, `${checked} hops checked`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
