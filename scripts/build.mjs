#!/usr/bin/env node
// `npm run build`, and the `prepare` script that `npm ci` / `npm install` run: compiles src/
// and bench/ into dist/ (tsconfig.build.json), then writes dist/build-stamp.json, which
// bin/podwire.js and `--if-stale` read (scripts/dist-state.mjs).
//   --if-stale   do nothing when dist/ is newer than every file of src/ and bench/ (npm run bench)
// Type errors are `npm test`'s and `npm run typecheck`'s to report (tsconfig.build.json has
// noCheck): the build emits what tsx would run, and fails only on what tsc cannot compile.
import { existsSync, mkdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ROOT, STAMP, distState } from "./dist-state.mjs";

if (process.argv.includes("--if-stale")) {
  const state = distState(["src", "bench"]);
  if (state.fresh) process.exit(0);
  console.error(`podwire: building dist/ (${state.reason})`);
}

const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
if (!existsSync(tsc)) {
  // `npm install --omit=dev` has no TypeScript: the bin then runs the sources through tsx.
  console.error("podwire: typescript is not installed, so dist/ is not built; bin/podwire.js runs the TypeScript through tsx");
  process.exit(process.env.npm_lifecycle_event === "prepare" ? 0 : 1);
}

// No stamp while tsc rewrites dist/: a podwire started meanwhile runs the sources, not half a build.
const stamp = join(ROOT, STAMP);
rmSync(stamp, { force: true });
const started = Date.now();
const r = spawnSync(process.execPath, [tsc, "-p", join(ROOT, "tsconfig.build.json")], { cwd: ROOT, stdio: "inherit" });
if (r.status !== 0) {
  console.error(`podwire: the build failed (tsc exit ${r.status ?? r.signal}); bin/podwire.js runs the TypeScript through tsx until it succeeds`);
  // Under `npm ci` the build is a speed-up, not a check: the install goes on and `npm test` reports the error.
  process.exit(process.env.npm_lifecycle_event === "prepare" ? 0 : 1);
}
mkdirSync(join(ROOT, "dist"), { recursive: true });
writeFileSync(stamp, JSON.stringify({ builtAt: new Date(started).toISOString() }) + "\n");
// The stamp's mtime is the build's start: a source saved while tsc ran is newer, so stale.
utimesSync(stamp, started / 1000, started / 1000);
