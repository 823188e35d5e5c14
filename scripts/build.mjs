#!/usr/bin/env node
// `npm run build`, and the `prepare` script that `npm ci` / `npm install` run: compiles src/
// and bench/ into dist/ (tsconfig.build.json), bundles the command line for the bin (below),
// then writes dist/build-stamp.json, which bin/podwire.js and `--if-stale` read
// (scripts/dist-state.mjs).
//   --if-stale   do nothing when dist/ is newer than every file of src/ and bench/ (npm run bench)
// Type errors are `npm test`'s and `npm run typecheck`'s to report (tsconfig.build.json has
// noCheck): the build emits what tsx would run, and fails only on what tsc cannot compile.
//
// The bundle: src/cli/main.ts with everything it loads, and the bench's row process
// (src/bench/row-worker.ts), in dist/src/cli-bundle/ as a few files split at the lazy
// imports. Node 20's ESM loader costs about a millisecond per module here, and `podwire
// trace` loaded ~250 of them (plus yaml's ~60 CommonJS files): half of its start-up CPU.
// The bundle is built with esbuild, which tsx (a dependency) brings; without it the bin
// runs dist/src/cli/main.js, as before. The directory sits two levels under dist/ like
// dist/src/*/, so paths a module finds from import.meta.url stay the same.
import { existsSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT, STAMP, distState, listSources } from "./dist-state.mjs";

const SOURCE_DIRS = ["src", "bench"];
const BUNDLE_DIR = "dist/src/cli-bundle";

if (process.argv.includes("--if-stale")) {
  const state = distState(SOURCE_DIRS);
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
// The sources as the build sees them at its start (the stamp lists them for the cheap check).
const sources = Object.fromEntries(SOURCE_DIRS.map((d) => [d, listSources(ROOT, d)]));
const r = spawnSync(process.execPath, [tsc, "-p", join(ROOT, "tsconfig.build.json")], { cwd: ROOT, stdio: "inherit" });
if (r.status !== 0) {
  console.error(`podwire: the build failed (tsc exit ${r.status ?? r.signal}); bin/podwire.js runs the TypeScript through tsx until it succeeds`);
  // Under `npm ci` the build is a speed-up, not a check: the install goes on and `npm test` reports the error.
  process.exit(process.env.npm_lifecycle_event === "prepare" ? 0 : 1);
}
const bundled = await bundle();
mkdirSync(join(ROOT, "dist"), { recursive: true });
writeFileSync(stamp, JSON.stringify({ builtAt: new Date(started).toISOString(), bundle: bundled ? `${BUNDLE_DIR}/main.js` : null, sources }) + "\n");
// The stamp's mtime is the build's start: a source saved while tsc ran is newer, so stale.
utimesSync(stamp, started / 1000, started / 1000);

/** esbuild, from this package's node_modules or tsx's; null when neither has it. */
async function loadEsbuild() {
  const from = [join(ROOT, "package.json")];
  try {
    from.push(createRequire(join(ROOT, "package.json")).resolve("tsx/package.json"));
  } catch {
    // no tsx: only our own node_modules
  }
  for (const base of from) {
    try {
      return await import(pathToFileURL(createRequire(base).resolve("esbuild")).href);
    } catch {
      // next
    }
  }
  return null;
}

/**
 * commander requires node:child_process at load, for executable subcommands podwire does not
 * have; loading it costs ~12 ms of every start. In the bundle commander gets it on first use.
 */
function lazyChildProcessForCommander() {
  return {
    name: "lazy-child-process-for-commander",
    setup(build) {
      build.onResolve({ filter: /^(node:)?child_process$/ }, (args) => (/[/\\]commander[/\\]/.test(args.importer) ? { path: "child_process", namespace: "lazy-builtin" } : undefined));
      build.onLoad({ filter: /.*/, namespace: "lazy-builtin" }, () => ({
        contents: "let m; const get = () => (m ??= require('node:child_process')); module.exports = new Proxy({}, { get: (_, k) => get()[k] });",
        loader: "js",
      }));
    },
  };
}

/** Builds the bin's bundle; false (and the bin runs dist/src/cli/main.js) when esbuild is missing or fails. */
async function bundle() {
  const out = join(ROOT, BUNDLE_DIR);
  rmSync(out, { recursive: true, force: true });
  const esbuild = await loadEsbuild();
  if (esbuild === null) {
    console.error("podwire: esbuild is not installed, so the bin runs dist/src/cli/main.js (unbundled; a slower start)");
    return false;
  }
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  // Bundle the runtime dependencies; leave out tsx and every development package.
  const external = ["tsx", "esbuild", ...Object.keys(pkg.devDependencies ?? {})];
  try {
    await esbuild.build({
      absWorkingDir: ROOT,
      entryPoints: { main: "src/cli/main.ts", "row-worker": "src/bench/row-worker.ts" },
      outdir: out,
      bundle: true,
      splitting: true,
      format: "esm",
      platform: "node",
      target: "node20",
      external,
      sourcemap: "linked",
      chunkNames: "chunk-[hash]",
      logLevel: "warning",
      plugins: [lazyChildProcessForCommander()],
      // The bundled CommonJS packages (commander, yaml) require Node's builtins.
      banner: { js: "import { createRequire as __podwireCreateRequire } from 'node:module'; const require = __podwireCreateRequire(import.meta.url);" },
    });
    return true;
  } catch (err) {
    rmSync(out, { recursive: true, force: true });
    console.error(`podwire: bundling the command line failed, so the bin runs dist/src/cli/main.js: ${err instanceof Error ? err.message : String(err)}`);
    return false;
  }
}
