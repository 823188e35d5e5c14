/**
 * The demo capture must dissect cleanly in Wireshark's engine with checksum validation on:
 * zero malformed frames, zero bad checksums, and the inner frames of the overlay visible.
 */
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { promisify } from "node:util";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { runDemo } from "../../src/cluster/demo.js";
import { defaultCluster } from "../../src/cluster/load.js";
import { FileSink, PcapngWriter, readCapture } from "../../src/pcap/index.js";

const execFileAsync = promisify(execFile);
/** Virtual time 0 in capture timestamps (DEFAULT_EPOCH_SECONDS). */
const EPOCH_NS = 1_704_067_200_000_000_000n;

const TSHARK_PREFS = ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-d", "udp.port==8472,vxlan"];

const haveTshark = spawnSync("tshark", ["--version"], { stdio: "ignore" }).status === 0;
const maybe = haveTshark ? test : test.skip;
if (!haveTshark) console.log("skipped: tshark is not installed (.ci/run installs it; apt-get install -y tshark)");

function tshark(file: string, filter: string, fields: string[]): string[] {
  const args = ["-r", file, ...TSHARK_PREFS, "-Y", filter, "-T", "fields", ...fields.flatMap((f) => ["-e", f])];
  const out = execFileSync("tshark", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return out.split("\n").filter((l) => l.length > 0);
}

for (const mode of ["iptables", "ipvs"] as const)
maybe(`demo capture (${mode} mode): no malformed frames, no bad checksums, VXLAN inner frames decoded`, (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-tshark-"));
  try {
    const file = join(dir, "demo.pcapng");
    const spec = defaultCluster();
    spec.proxyMode = mode;
    const run = runDemo(spec, { capturePath: file });
    t.true(run.results.every((r) => r.ok), run.results.filter((r) => !r.ok).map((r) => `${r.title}: ${r.outcome}`).join("; "));
    const all = tshark(file, "frame", ["frame.number"]);
    t.is(all.length, run.capture!.frames, "tshark reads every frame");
    t.deepEqual(tshark(file, "_ws.malformed || _ws.expert.severity == error", ["frame.number", "_ws.expert.message"]), [], "malformed or erroneous frames");
    const bad = "ip.checksum.status == 0 || udp.checksum.status == 0 || tcp.checksum.status == 0 || icmp.checksum.status == 0";
    t.deepEqual(tshark(file, bad, ["frame.number", "frame.interface_name"]), [], "bad checksums");
    // Checksums were really checked, not skipped: count verified-good ones.
    t.true(tshark(file, "tcp.checksum.status == 1", ["frame.number"]).length > 20);
    t.true(tshark(file, "ip.checksum.status == 1", ["frame.number"]).length > 50);
    const inner = tshark(file, "vxlan && tcp", ["vxlan.vni", "ip.src", "ip.dst", "tcp.dstport", "tcp.srcport"]);
    t.true(inner.length > 0, "TCP inside VXLAN");
    t.true(inner.every((l) => l.startsWith("1\t")), "VNI 1");
    t.true(inner.some((l) => l.includes("10.244.1.2") && l.includes("10.244.2.2")), "inner Pod addresses visible");
    const dns = tshark(file, "vxlan && dns.flags.response == 1", ["dns.a"]);
    t.true(dns.some((l) => l.includes("10.244.2.2")), "the DNS answer inside VXLAN");
    const names = new Set(tshark(file, "frame", ["frame.interface_name"]));
    t.true(names.has("worker-1/flannel.1") && names.has("switch/nodenet"), "named interfaces");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * A capture shows each packet once per device it crossed, so over the whole file Wireshark's
 * TCP analysis sees every segment several times. Device by device (what the README tells
 * users to do: filter one interface and export it), a clean run must have no TCP expert
 * flags at all: no retransmission, dup ACK, out-of-order, previous segment not captured.
 */
maybe("demo capture: every device's own frames have no tcp.analysis.flags; every frame has a direction", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-tshark-"));
  try {
    const file = join(dir, "demo.pcapng");
    runDemo(defaultCluster(), { capturePath: file });
    const directions = tshark(file, "frame", ["frame.packet_flags_direction"]);
    t.true(directions.every((d) => d === "0x00000001" || d === "0x00000002"), "epb_flags inbound or outbound on every frame");
    const cap = readCapture(readFileSync(file));
    const perDevice = cap.interfaces.map((iface, id) => {
      const packets = cap.packets.filter((p) => p.interfaceId === id);
      const path = join(dir, `if${id}.pcapng`);
      const w = new PcapngWriter(new FileSink(path));
      w.addInterface({ name: iface.name! });
      for (const p of packets) w.writePacket(0, Number(p.tsNs - EPOCH_NS), p.data, { flags: p.flags });
      w.close();
      return { name: iface.name!, path };
    });
    const results = await Promise.all(
      perDevice.map(async (d) => {
        const { stdout } = await execFileAsync("tshark", ["-r", d.path, ...TSHARK_PREFS, "-Y", "tcp.analysis.flags", "-T", "fields", "-e", "frame.number", "-e", "_ws.expert.message"]);
        return stdout.split("\n").filter((l) => l.length > 0).map((l) => `${d.name}: ${l}`);
      }),
    );
    t.deepEqual(results.flat(), [], "TCP expert flags on one device's frames");
    // The analysis really ran: the devices on the demo's TCP paths have TCP segments.
    t.true(tshark(file, "tcp.flags.syn == 1", ["frame.number"]).length > 10);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
