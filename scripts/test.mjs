#!/usr/bin/env node
// `npm test`: type-check, run ava, and close with the line `N passed, N failed, N skipped`
// (ava does not print that line itself). Extra arguments go to ava (e.g. a file glob).
import { spawn, spawnSync } from "node:child_process";

const tsc = new URL("../node_modules/typescript/bin/tsc", import.meta.url).pathname;
const ava = new URL("../node_modules/ava/entrypoints/cli.mjs", import.meta.url).pathname;

const typecheck = spawnSync(process.execPath, [tsc, "--noEmit", "-p", "."], { stdio: "inherit" });
if (typecheck.status !== 0) {
  console.log("type check failed");
  console.log("0 passed, 1 failed");
  process.exit(1);
}

const child = spawn(process.execPath, [ava, "--tap", ...process.argv.slice(2)], {
  stdio: ["ignore", "pipe", "inherit"],
});
let pass = 0;
let fail = 0;
let skip = 0;
let todo = 0;
let pending = "";
child.stdout.setEncoding("utf8");
child.stdout.on("data", (chunk) => {
  process.stdout.write(chunk);
  pending += chunk;
  const lines = pending.split("\n");
  pending = lines.pop() ?? "";
  for (const line of lines) count(line);
});
child.on("close", (code) => {
  if (pending) count(pending);
  // A crash or timeout that TAP did not count as a failed test still fails the run.
  if (code !== 0 && fail === 0) fail = 1;
  const skipped = skip + todo;
  console.log(`${pass} passed, ${fail} failed${skipped ? `, ${skipped} skipped` : ""}`);
  process.exit(fail > 0 ? 1 : 0);
});

function count(line) {
  const m = /^# (pass|fail|skip|todo) (\d+)/.exec(line.trim());
  if (!m) return;
  const n = Number(m[2]);
  if (m[1] === "pass") pass = n;
  else if (m[1] === "fail") fail = n;
  else if (m[1] === "skip") skip = n;
  else todo = n;
}
