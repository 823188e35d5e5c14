import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { runDemo } from "../../src/cluster/demo.js";
import { defaultCluster } from "../../src/cluster/load.js";
import { readCapture } from "../../src/pcap/index.js";

function demoBytes(seed: number): { bytes: Uint8Array; okCount: number; total: number } {
  const dir = mkdtempSync(join(tmpdir(), "podwire-demo-"));
  try {
    const spec = defaultCluster();
    spec.seed = seed;
    const run = runDemo(spec, { capturePath: join(dir, "demo.pcapng") });
    return { bytes: readFileSync(join(dir, "demo.pcapng")), okCount: run.results.filter((r) => r.ok).length, total: run.results.length };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("every demo step succeeds", (t) => {
  const { okCount, total } = demoBytes(1);
  t.is(total, 9);
  t.is(okCount, total);
});

test("same seed → byte-identical capture; another seed → a different one", (t) => {
  const a = demoBytes(1).bytes;
  const b = demoBytes(1).bytes;
  t.true(Buffer.from(a).equals(Buffer.from(b)));
  const c = demoBytes(2).bytes;
  t.false(Buffer.from(a).equals(Buffer.from(c)));
});

test("the committed captures/demo.pcapng is what `npm run captures` produces", (t) => {
  const committed = readFileSync(new URL("../../captures/demo.pcapng", import.meta.url));
  t.true(Buffer.from(demoBytes(1).bytes).equals(committed), "run `npm run captures` and commit the result");
});

test("the capture names one interface per emulated device, e.g. worker-1/cni0 and worker-1/flannel.1", (t) => {
  const cap = readCapture(demoBytes(1).bytes);
  const names = cap.interfaces.map((i) => i.name);
  for (const n of ["worker-1/cni0", "worker-1/flannel.1", "worker-2/eth0", "default/client/eth0", "default/web-0/lo", "switch/nodenet"]) {
    t.true(names.includes(n), `missing interface ${n}`);
  }
  t.is(new Set(names).size, names.length, "interface names are unique");
  t.true(cap.interfaces.every((i) => i.tsresol === 9), "nanosecond timestamps");
  const ts = cap.packets.map((p) => p.tsNs);
  t.true(ts.every((v, i) => i === 0 || v >= ts[i - 1]!), "timestamps never go back");
});
