/**
 * The `serve` command: bad flags are one-line errors (exit 2) naming the flag; a non-loopback
 * address needs --allow-remote; the real command serves until SIGTERM and then exits 0,
 * leaving nothing running.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import test from "ava";
import { podwire } from "../helpers/run-cli.js";

const BIN = new URL("../../bin/podwire.js", import.meta.url).pathname;

test.serial("bad flags: one line naming the flag, exit 2", async (t) => {
  const cases: [string[], RegExp][] = [
    [["--listen", "0.0.0.0:8080"], /--listen 0\.0\.0\.0:8080: 0\.0\.0\.0 is not a loopback address.*hint: listen on 127\.0\.0\.1, or add --allow-remote/],
    [["--listen", "192.168.1.5:80"], /is not a loopback address/],
    [["--listen", "[::]:80"], /:: is not a loopback address/],
    [["--listen", "localhost"], /--listen "localhost": is not HOST:PORT/],
    [["--listen", "127.0.0.1:70000"], /port 70000 is not from 0 to 65535/],
    [["--listen", "example.com:80"], /example\.com is neither an IPv4 address nor localhost/],
    [["--speed", "0"], /--speed "0" is not a number from 0\.001 to 1000/],
    [["--speed", "fast"], /--speed "fast"/],
    [["--watch"], /--watch needs a cluster file to watch/],
    [["-f", "/nonexistent/cluster.yaml"], /nonexistent\/cluster\.yaml/],
  ];
  for (const [args, message] of cases) {
    const r = await podwire("serve", ...args);
    t.is(r.code, 2, args.join(" "));
    // Node's own warnings about this test process (many main() runs in one process) are not podwire's output.
    const lines = r.stderr.split("\n").filter((l) => l !== "" && !l.startsWith("(node:") && !l.startsWith("(Use `node"));
    t.is(lines.length, 1, `one line, no stack: ${r.stderr}`);
    t.regex(lines[0]!, /^podwire: error: /, args.join(" "));
    t.regex(lines[0]!, message, args.join(" "));
  }
  const bogus = await podwire("serve", "--traffic", "loud");
  t.is(bogus.code, 2);
  t.regex(bogus.stderr, /argument 'loud' is invalid\. Allowed choices are idle, mix, burst/);
});

test.serial("a port in use is an error naming --listen", async (t) => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()));
  try {
    const port = (blocker.address() as { port: number }).port;
    const r = await podwire("serve", "--listen", `127.0.0.1:${port}`, "--traffic", "idle");
    t.is(r.code, 2);
    t.regex(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
  } finally {
    blocker.close();
  }
});

/** Starts `podwire serve ARGS`, resolves with its URL once it prints it. */
function startChild(args: string[]): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, [BIN, "serve", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL after 60 s: ${out} ${err}`)), 60_000);
    child.stdout!.on("data", (d) => {
      out += d;
      const m = /at (http:\/\/\S+\/)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, stderr: () => err });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited ${code}: ${out} ${err}`));
    });
  });
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once("exit", (code) => resolve(code));
  });
}

test.serial("the command serves until SIGTERM, then exits 0", async (t) => {
  const { child, url } = await startChild(["--listen", "127.0.0.1:0", "--traffic", "idle"]);
  try {
    t.regex(url, /^http:\/\/127\.0\.0\.1:[0-9]+\/$/);
    const cluster = (await (await fetch(new URL("/api/cluster", url))).json()) as { name: string };
    t.is(cluster.name, "podwire-demo");
    const exited = exitOf(child);
    child.kill("SIGTERM");
    t.is(await exited, 0);
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
});

test.serial("--allow-remote: a wildcard address serves, with a warning", async (t) => {
  const { child, url, stderr } = await startChild(["--listen", "0.0.0.0:0", "--allow-remote", "--traffic", "idle"]);
  try {
    t.regex(url, /^http:\/\/0\.0\.0\.0:[0-9]+\/$/);
    const port = new URL(url).port;
    const r = await fetch(`http://127.0.0.1:${port}/api`, { headers: { Host: `somehost.example:${port}` } });
    t.is(r.status, 200, "any Host is answered once remote access is allowed");
    t.regex(stderr(), /warning: listening on 0\.0\.0\.0: anyone who can reach it can see and drive this cluster/);
    const exited = exitOf(child);
    child.kill("SIGINT");
    t.is(await exited, 0);
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
});
