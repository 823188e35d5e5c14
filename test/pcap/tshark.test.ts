import test from "ava";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EPB_FLAGS_INBOUND, EPB_FLAGS_OUTBOUND, FileSink, PcapngWriter } from "../../src/pcap/index.js";

function hasTshark(): boolean {
  try {
    execFileSync("tshark", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

// An Ethernet frame carrying an IPv4/UDP packet; tshark only needs it to be a frame.
const FRAME = Uint8Array.from([
  0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00,
  0x45, 0, 0, 29, 0, 1, 0, 0, 64, 17, 0x66, 0xcb, 10, 244, 1, 2, 10, 244, 2, 3,
  0x30, 0x39, 0x00, 0x35, 0, 9, 0, 0, 0x41,
]);

const register = hasTshark() ? test : test.skip;
if (register === test.skip) console.log("tshark test skipped: tshark is not on the PATH");

register("tshark reads interface names and packet comments back", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-tshark-"));
  try {
    const path = join(dir, "two.pcapng");
    const w = new PcapngWriter(new FileSink(path));
    const eth0 = w.addInterface({ name: "eth0", description: "node-1 uplink" });
    w.writePacket(eth0, 1_000, FRAME, { comment: "first → über" });
    const cni0 = w.addInterface({ name: "cni0" });
    w.writePacket(cni0, 2_000, FRAME);
    w.writePacket(eth0, 3_000, FRAME, { comment: "third" });
    w.close();
    // Wireshark 4.x names these frame.interface_name and frame.comment (pkt_comment before 3.6).
    const out = execFileSync(
      "tshark",
      ["-r", path, "-T", "fields", "-E", "separator=|", "-e", "frame.interface_name", "-e", "frame.comment", "-e", "frame.time_epoch"],
      { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
    );
    t.deepEqual(out.trimEnd().split("\n"), [
      "eth0|first → über|1704067200.000001000",
      "cni0||1704067200.000002000",
      "eth0|third|1704067200.000003000",
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

register("tshark reads epb_flags directions; capinfos reads one statistics block per interface", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-tshark-"));
  try {
    const path = join(dir, "flags.pcapng");
    const w = new PcapngWriter(new FileSink(path));
    const a = w.addInterface({ name: "a/eth0" });
    const b = w.addInterface({ name: "b/eth0" });
    w.writePacket(a, 1_000, FRAME, { flags: EPB_FLAGS_OUTBOUND });
    w.writePacket(b, 2_000, FRAME, { flags: EPB_FLAGS_INBOUND, comment: "in" });
    w.writeInterfaceStatistics(a, 3_000, { comment: "Counters provided by podwire", startNs: 0, endNs: 3_000, ifRecv: 1, ifDrop: 0, usrDeliv: 1 });
    w.writeInterfaceStatistics(b, 3_000, { startNs: 0, endNs: 3_000, ifRecv: 1, ifDrop: 4, usrDeliv: 1 });
    w.close();
    const out = execFileSync(
      "tshark",
      ["-r", path, "-T", "fields", "-E", "separator=|", "-e", "frame.interface_name", "-e", "frame.packet_flags_direction", "-e", "frame.comment"],
      { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
    );
    t.deepEqual(out.trimEnd().split("\n"), ["a/eth0|0x00000002|", "b/eth0|0x00000001|in"]);
    const info = execFileSync("capinfos", [path], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    t.is([...info.matchAll(/Number of stat entries = 1/g)].length, 2, info);
    t.regex(info, /Number of interfaces in file: 2/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
