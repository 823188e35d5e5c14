// scripts/dist-state.mjs's cheap check (the source list in the build stamp) gives the same
// answer as the full directory walk it replaces, case by case: nothing changed, a listed file
// edited, a new file newer or older than the build, a new directory, a deleted file, and
// directories newer than the stamp with nothing new in them (an unpacked package).
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import test from "ava";
import { distState, listSources } from "../../scripts/dist-state.mjs";

function tree() {
  const root = mkdtempSync(join(tmpdir(), "podwire-dist-state-"));
  const at = (path: string, seconds: number) => utimesSync(join(root, path), seconds, seconds);
  const write = (path: string, seconds: number) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), "");
    at(path, seconds);
  };
  for (const f of ["src/cli/main.ts", "src/cli/bench-command.ts", "src/base/errors.ts", "src/top.ts", "bench/run.ts", "tsconfig.json"]) write(f, 1000);
  for (const d of ["src/cli", "src/base", "src", "bench"]) at(d, 1000);
  /** Writes the stamp at time 2000, with the source list (as scripts/build.mjs does) or without. */
  const stamp = (listed: boolean) => {
    const sources = listed ? { src: listSources(root, "src"), bench: listSources(root, "bench") } : undefined;
    write("dist/build-stamp.json", 2000);
    writeFileSync(join(root, "dist/build-stamp.json"), JSON.stringify({ builtAt: "x", sources }));
    at("dist/build-stamp.json", 2000);
  };
  /** The answer with the list and with the walk, for `dirs`. */
  const both = (dirs = ["src", "bench"]) => {
    stamp(true);
    const fast = distState(dirs, root);
    stamp(false);
    const walk = distState(dirs, root);
    return { fast, walk };
  };
  return { root, at, write, both, done: () => rmSync(root, { recursive: true, force: true }) };
}

test("the stamp lists the .ts files and directories of each source directory", (t) => {
  const { root, done } = tree();
  try {
    const s = listSources(root, "src");
    t.deepEqual([...s.files].sort(), ["base/errors.ts", "cli/bench-command.ts", "cli/main.ts", "top.ts"]);
    t.deepEqual([...s.dirs].sort(), ["", "base", "cli"]);
    t.deepEqual(listSources(root, "missing"), { files: [], dirs: [""] });
  } finally {
    done();
  }
});

test("the cheap check answers as the full walk does", (t) => {
  const cases: [string, (x: ReturnType<typeof tree>) => void, boolean][] = [
    ["nothing changed", () => {}, true],
    ["a listed file edited after the build", (x) => x.at("src/cli/main.ts", 3000), false],
    ["a listed file in bench/ edited", (x) => x.at("bench/run.ts", 3000), false],
    ["a new file, newer than the build", (x) => (x.write("src/cli/new.ts", 3000), x.at("src/cli", 3000)), false],
    ["a new file, older than the build (its directory newer)", (x) => (x.write("src/cli/old.ts", 1500), x.at("src/cli", 3000)), true],
    ["a new directory with a newer file", (x) => (x.write("src/l7/proxy.ts", 3000), x.at("src", 3000)), false],
    ["a new top-level file", (x) => (x.write("src/new-top.ts", 3000), x.at("src", 3000)), false],
    ["a deleted file", (x) => (rmSync(join(x.root, "src/base/errors.ts")), x.at("src/base", 3000)), true],
    ["every directory newer, nothing new (an unpacked package)", (x) => ["src", "src/cli", "src/base", "bench"].forEach((d) => x.at(d, 3000)), true],
    ["a non-.ts file added", (x) => (x.write("src/cli/notes.md", 3000), x.at("src/cli", 3000)), true],
    ["tsconfig.json edited", (x) => x.at("tsconfig.json", 3000), false],
  ];
  for (const [name, change, fresh] of cases) {
    const x = tree();
    try {
      change(x);
      const { fast, walk } = x.both();
      t.is(fast.fresh, fresh, `${name}: ${JSON.stringify(fast)}`);
      t.deepEqual(fast, walk, `${name}: the cheap check and the walk agree`);
    } finally {
      x.done();
    }
  }
});

test("the check names the changed file", (t) => {
  const x = tree();
  try {
    x.at("src/cli/bench-command.ts", 3000);
    t.deepEqual(x.both(["src"]).fast, { fresh: false, reason: `${join("src", "cli", "bench-command.ts")} changed after the last build` });
  } finally {
    x.done();
  }
});
