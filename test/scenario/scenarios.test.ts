/**
 * Every scenario, in each mode it runs in: the symptom shows without the fix and is gone
 * with it (judged by the scenario from packets and counters), and every evidence frame
 * number names a frame of the capture on the device the evidence names.
 */
import test from "ava";
import { SCENARIOS, runScenario } from "../../src/scenario/index.js";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import { readCapture } from "../../src/pcap/index.js";

const TSHARK_PREFS = ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-d", "udp.port==8472,vxlan"];
const haveTshark = spawnSync("tshark", ["--version"], { stdio: "ignore" }).status === 0;
if (!haveTshark) console.log("scenario captures not dissected: tshark is not installed (.ci/run installs it)");

/** Frames tshark finds malformed, erroneous or with a bad checksum (empty when tshark is missing). */
function badFrames(file: string): string[] {
  if (!haveTshark) return [];
  const filter = "_ws.malformed || _ws.expert.severity == error || ip.checksum.status == 0 || udp.checksum.status == 0 || tcp.checksum.status == 0 || icmp.checksum.status == 0";
  const out = execFileSync("tshark", ["-r", file, ...TSHARK_PREFS, "-Y", filter, "-T", "fields", "-e", "frame.number", "-e", "_ws.expert.message"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return out.split("\n").filter((l) => l.length > 0);
}

for (const s of SCENARIOS) {
  for (const mode of s.modes) {
    // Serial and yielding first: each test is long and synchronous, and a worker that never
    // yields reports nothing until all are done, which ava's inactivity timeout takes for a hang.
    test.serial(`scenario ${s.number} ${s.name} (${mode}): the symptom without the fix, none with it`, async (t) => {
      await new Promise<void>((resolve) => setImmediate(resolve));
      const dir = mkdtempSync(join(tmpdir(), "pw-scenario-"));
      try {
        for (const fixed of [false, true]) {
          const pcap = join(dir, `${fixed ? "fixed" : "broken"}.pcapng`);
          const run = runScenario(s, { fixed, mode, pcapPath: pcap });
          t.is(run.findings.symptom, !fixed, `${fixed ? "with" : "without"} the fix: ${run.findings.summary}`);
          t.true(run.findings.mechanism.length > 0, "the mechanism is explained");
          const capture = readCapture(readFileSync(pcap));
          const frames = capture.packets.map((p) => ({ interfaceName: capture.interfaces[p.interfaceId]!.name }));
          t.is(frames.length, run.capture!.frames);
          // Frames whose bad checksum is the symptom itself are listed by the scenario.
          const expected = new Set(run.findings.expectedBadChecksums ?? []);
          const bad = badFrames(pcap);
          t.deepEqual(bad.filter((l) => !expected.has(Number(l.split("\t")[0]))), [], "the capture dissects cleanly with checksum validation on");
          if (haveTshark) t.deepEqual(bad.map((l) => Number(l.split("\t")[0])), [...expected].sort((a, b) => a - b), "tshark flags exactly the frames the scenario expects");
          for (const e of run.findings.evidence) {
            if (e.frame === null) continue;
            const f = frames[e.frame - 1];
            t.truthy(f, `evidence frame ${e.frame} exists`);
            t.is(f!.interfaceName, `${e.netns}/${e.device}`, `evidence frame ${e.frame} is on ${e.netns}/${e.device}`);
          }
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
}

test("the same seed gives the same capture, byte for byte", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "pw-scenario-"));
  try {
    const s = SCENARIOS[0]!;
    runScenario(s, { pcapPath: join(dir, "a.pcapng"), seed: 7 });
    runScenario(s, { pcapPath: join(dir, "b.pcapng"), seed: 7 });
    t.deepEqual(readFileSync(join(dir, "a.pcapng")), readFileSync(join(dir, "b.pcapng")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
