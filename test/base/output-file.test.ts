/**
 * A user's file is never lost: outputs go to a temporary file renamed into place, a failed
 * run leaves the old file, and bad output paths are one-line errors naming the option.
 */
import test from "ava";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, existsSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { PodwireError, PendingFile, checkOutputFile, prepareOutputDir, writeFileAtomic } from "../../src/base/index.js";
import { FileSink } from "../../src/pcap/index.js";

const scratch = () => mkdtempSync(join(tmpdir(), "podwire-out-"));

test("writeFileAtomic replaces a file whole and leaves no temporary file", (t) => {
  const dir = scratch();
  try {
    const path = join(dir, "r.json");
    writeFileSync(path, "old");
    writeFileAtomic(path, "new");
    t.is(readFileSync(path, "utf8"), "new");
    t.deepEqual(readdirSync(dir), ["r.json"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a FileSink that is aborted leaves the existing file as it was; one that closes replaces it", (t) => {
  const dir = scratch();
  try {
    const path = join(dir, "c.pcapng");
    writeFileSync(path, "precious");
    const aborted = new FileSink(path, 16);
    aborted.write(new Uint8Array(100).fill(1));
    t.is(readFileSync(path, "utf8"), "precious", "nothing touches the target while writing");
    aborted.abort();
    t.is(readFileSync(path, "utf8"), "precious");
    t.deepEqual(readdirSync(dir), ["c.pcapng"]);
    const done = new FileSink(path, 16);
    done.write(new Uint8Array([1, 2, 3]));
    done.close();
    t.deepEqual([...readFileSync(path)], [1, 2, 3]);
    t.deepEqual(readdirSync(dir), ["c.pcapng"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a PendingFile is never visible at its path until commit", (t) => {
  const dir = scratch();
  try {
    const f = new PendingFile(join(dir, "x"));
    f.write(new Uint8Array([9]));
    t.false(existsSync(join(dir, "x")));
    f.commit();
    t.true(existsSync(join(dir, "x")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bad output paths are one-line errors naming the option", (t) => {
  const dir = scratch();
  try {
    const file = join(dir, "f");
    writeFileSync(file, "x");
    const cases: [() => void, RegExp][] = [
      [() => checkOutputFile("", "--pcap"), /--pcap is empty/],
      [() => checkOutputFile(dir, "--pcap"), /is a directory/],
      [() => checkOutputFile(join(dir, "missing", "c.pcapng"), "--pcap"), /does not exist/],
      [() => prepareOutputDir(file, "--out"), /exists and is not a directory/],
      [() => prepareOutputDir("", "--out"), /--out is empty/],
      [() => prepareOutputDir(join(dir, "a", "b"), "--out"), /does not exist/],
      [() => prepareOutputDir("/proc/podwire-nope", "--out"), /--out/],
    ];
    for (const [f, re] of cases) {
      const err = t.throws(f, { instanceOf: PodwireError });
      t.regex(err!.message, re);
      t.is(err!.code, "E_OUTPUT");
    }
    prepareOutputDir(join(dir, "new"), "--out");
    t.true(existsSync(join(dir, "new")), "one missing level is created");
    if (process.getuid?.() !== 0) {
      chmodSync(dir, 0o500);
      t.throws(() => checkOutputFile(join(dir, "c"), "--pcap"), { message: /not writable/ });
      chmodSync(dir, 0o700);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the CLI: a failed trace leaves an existing capture intact; bad --pcap and --out are exit 2 without a stack", (t) => {
  const dir = scratch();
  try {
    const pcap = join(dir, "keep.pcapng");
    writeFileSync(pcap, "precious");
    const bin = new URL("../../bin/podwire.js", import.meta.url).pathname;
    // Bad input found after the capture path was checked: the old file must survive.
    const bad = spawnSync(process.execPath, [bin, "trace", "--from", "pod/default/nobody", "--to", "pod/default/web-0", "--pcap", pcap], { encoding: "utf8" });
    t.is(bad.status, 2, bad.stderr);
    t.is(readFileSync(pcap, "utf8"), "precious");
    const ok = spawnSync(process.execPath, [bin, "trace", "--from", "pod/default/client", "--to", "pod/default/web-1:8080", "--pcap", pcap], { encoding: "utf8" });
    t.is(ok.status, 0, ok.stderr);
    t.not(readFileSync(pcap, "utf8"), "precious");
    t.deepEqual(readdirSync(dir), ["keep.pcapng"]);
    for (const args of [["trace", "--from", "pod/default/client", "--to", "pod/default/web-1:8080", "--pcap", dir], ["demo", "--quiet", "--out", pcap], ["demo", "--quiet", "--out", join(dir, "x", "y")]]) {
      const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
      t.is(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
      t.regex(r.stderr, /^podwire: error: .*--(pcap|out)/);
      t.false(r.stderr.includes("    at "), "no stack trace");
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("writing to /dev/null leaves the device a device (special files are written in place, never renamed over)", (t) => {
  const before = statSync("/dev/null");
  t.true(before.isCharacterDevice());
  writeFileAtomic("/dev/null", "discarded\n");
  const after = statSync("/dev/null");
  t.true(after.isCharacterDevice());
  t.is(after.rdev, before.rdev);
});
