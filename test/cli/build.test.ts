// The compiled build (issue 12 §5): bin/podwire.js runs dist/ when it is current and the
// TypeScript through tsx otherwise, with the same output; and `podwire --help` loads none of
// the emulator. Cheap: no test compiles anything (`npm ci` built dist/ through `prepare`).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import test from "ava";
import ts from "typescript";
import { DEFAULT_DNS_QUERY } from "../../src/cluster/exchange.js";
import { buildProgram } from "../../src/cli/main.js";
import { distState } from "../../scripts/dist-state.mjs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "bin/podwire.js");
const fresh = (): boolean => distState(["src"]).fresh;

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, args, { encoding: "utf8", env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("the bin prints the same --help and --version whether it runs dist/ or the sources", (t) => {
  for (const args of [["--help"], ["--version"]]) {
    const bin = run([BIN, ...args]);
    const sources = run([BIN, ...args], { PODWIRE_TSX: "1" });
    t.is(bin.code, 0, bin.stderr);
    t.is(sources.code, 0, sources.stderr);
    t.is(bin.stdout, sources.stdout, args.join(" "));
    t.is(bin.stderr, "", "no note on stderr when it is not a terminal");
  }
  t.regex(run([BIN, "--version"]).stdout, new RegExp(`^${JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version.replaceAll(".", "\\.")}\\n$`));
});

test("the bin runs dist/ when the build is current, the sources otherwise", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "podwire-build-"));
  try {
    // A resolve hook records every module the bin loads.
    const log = join(dir, "resolved.txt");
    writeFileSync(join(dir, "hook.mjs"), `import { appendFileSync } from "node:fs";\nexport async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(${JSON.stringify(log)}, r.url + "\\n"); return r; }\n`);
    writeFileSync(join(dir, "register.mjs"), `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(join(dir, "hook.mjs")).href)});\n`);
    const before = fresh();
    const r = run(["--import", pathToFileURL(join(dir, "register.mjs")).href, BIN, "--version"]);
    const after = fresh();
    t.is(r.code, 0, r.stderr);
    const loaded = readFileSync(log, "utf8").split("\n").filter((u) => u.startsWith("file:")).map((u) => relative(ROOT, fileURLToPath(u)));
    if (before !== after) {
      t.log("src/ or dist/ changed while the bin ran: nothing to conclude");
      t.pass();
    } else if (before) {
      // The bundle scripts/build.mjs makes when esbuild is there, else tsc's output.
      const entry = existsSync(join(ROOT, "dist", "src", "cli-bundle", "main.js")) ? join("dist", "src", "cli-bundle", "main.js") : join("dist", "src", "cli", "main.js");
      t.true(loaded.includes(entry), loaded.join(", "));
      t.false(loaded.some((p) => p.endsWith(".ts")), "no TypeScript loaded");
    } else {
      t.log("dist/ is missing or older than src/ (`npm run build` compiles it): the bin runs the sources");
      t.true(loaded.includes(join("src", "cli", "main.ts")), loaded.join(", "));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the build is current only while no source file or tsconfig is newer than its stamp", (t) => {
  const root = mkdtempSync(join(tmpdir(), "podwire-build-"));
  try {
    const at = (path: string, seconds: number) => utimesSync(join(root, path), seconds, seconds);
    const write = (path: string, seconds: number) => {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), "");
      at(path, seconds);
    };
    const state = (dirs = ["src"]) => distState(dirs, root);
    write("src/cli/main.ts", 1000);
    write("tsconfig.json", 1000);
    t.deepEqual(state(), { fresh: false, reason: "dist/ is not built" });
    write("dist/build-stamp.json", 2000);
    t.deepEqual(state(), { fresh: true, reason: null });
    t.deepEqual(state(["src", "bench"]), { fresh: true, reason: null }, "a missing directory is not newer");
    at("src/cli/main.ts", 3000);
    t.deepEqual(state(), { fresh: false, reason: `${join("src", "cli", "main.ts")} changed after the last build` });
    at("src/cli/main.ts", 1000);
    write("src/netns/new.ts", 3000);
    t.deepEqual(state(), { fresh: false, reason: `${join("src", "netns", "new.ts")} changed after the last build` });
    at("src/netns/new.ts", 1000);
    at("src/cli", 3000);
    t.true(state().fresh, "a directory's mtime does not count (unpacking a package sets it)");
    at("tsconfig.json", 3000);
    t.deepEqual(state(), { fresh: false, reason: "tsconfig.json changed after the last build" });
    at("tsconfig.json", 2000);
    t.true(state().fresh, "as old as the stamp is not newer (npm pack gives every file one mtime)");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

/**
 * The static imports (`import type` left out, as the build drops it) between modules under
 * src/, from `file` and from every module reached through modules that `follow` accepts.
 */
function staticImports(file: string, follow: (file: string) => boolean, edges: Array<[string, string]> = [], seen = new Set<string>()): Array<[string, string]> {
  seen.add(file);
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.ES2022);
  for (const s of source.statements) {
    let spec: ts.Expression | undefined;
    if (ts.isImportDeclaration(s) && !s.importClause?.isTypeOnly) spec = s.moduleSpecifier;
    else if (ts.isExportDeclaration(s) && !s.isTypeOnly) spec = s.moduleSpecifier;
    if (spec && ts.isStringLiteral(spec) && spec.text.startsWith(".")) {
      const target = join(dirname(file), spec.text.replace(/\.js$/, ".ts"));
      if (!existsSync(target)) continue;
      edges.push([file, target]);
      if (!seen.has(target) && follow(target)) staticImports(target, follow, edges, seen);
    }
  }
  return edges;
}

test("podwire --help loads none of the emulator: main.ts imports it in each command's action", (t) => {
  const src = join(ROOT, "src");
  const name = (f: string) => relative(src, f).split("\\").join("/");
  // Commander, base/ and the command definitions; load-spec.ts and trace-rules.ts load the emulator.
  const light = (f: string) => f.startsWith("base/") || (f.startsWith("cli/") && f !== "cli/load-spec.ts" && f !== "cli/trace-rules.ts" && f !== "cli/emulator.ts") || f === "bench/modes.ts";
  const eager = staticImports(join(src, "cli", "main.ts"), (f) => light(name(f)));
  const heavy = eager.map(([from, to]) => [name(from), name(to)]).filter(([, to]) => !light(to!)).map(([from, to]) => `${from} imports ${to}`);
  t.deepEqual(heavy, [], "import these in the action that uses them instead: `const { x } = await import(\"…\")` (as src/cli/main.ts does with ./emulator.js)");
});

test("trace's help names the DNS query a trace asks by default", (t) => {
  const trace = buildProgram().commands.find((c) => c.name() === "trace");
  t.truthy(trace);
  t.true(trace!.helpInformation().replace(/\s+/g, " ").includes(`(default: ${DEFAULT_DNS_QUERY})`));
});
