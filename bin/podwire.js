#!/usr/bin/env node
// Entry point for `npx podwire`. Runs the compiled CLI, which `npm ci` / `npm install` build
// (the `prepare` script, scripts/build.mjs; or `npm run build`), when that build is newer
// than every file under src/: the bundle in dist/src/cli-bundle/ (a few files instead of
// ~250 modules), or dist/src/cli/main.js where no bundle was built. Otherwise it runs the
// TypeScript sources through tsx.
//
// Why check, and why fall back rather than rebuild: a developer who edits src/ and runs
// `npx podwire` must get the code they see, never an old build. The check
// (scripts/dist-state.mjs) stats the source files the build listed in its stamp and reads
// their directories for new names: a few ms, against the second or more that tsx adds.
// Rebuilding here would take 10 s or more, and the tests start this bin many times at
// once, which would race on dist/; tsx runs the sources as they are, at once, as before.
// The fallback is told in one line on stderr when stderr is a terminal; scripts and tests
// read stderr, so they are not given an extra line. PODWIRE_TSX=1 forces the sources.
import { existsSync } from "node:fs";
import { distState } from "../scripts/dist-state.mjs";

const state = process.env.PODWIRE_TSX === "1" ? { fresh: false, reason: null } : distState(["src"]);
let main;
if (state.fresh) {
  const bundle = new URL("../dist/src/cli-bundle/main.js", import.meta.url);
  ({ main } = await import(existsSync(bundle) ? bundle.href : "../dist/src/cli/main.js"));
} else {
  if (state.reason !== null && process.stderr.isTTY) {
    process.stderr.write(`podwire: note: ${state.reason}, so running the TypeScript through tsx (slower start; \`npm run build\` compiles it)\n`);
  }
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("../src/cli/main.ts"));
}
process.exitCode = await main(process.argv);
