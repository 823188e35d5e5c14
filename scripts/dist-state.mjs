// Is the compiled build in dist/ current? Shared by bin/podwire.js (dist or tsx?) and
// scripts/build.mjs (`--if-stale`). Plain JavaScript with builtins only: the bin imports it
// on every start, before anything is compiled.
//
// scripts/build.mjs deletes dist/build-stamp.json before compiling and writes it afterwards
// with the build's *start* time as its mtime. The build is current when the stamp exists and
// no .ts file under the given source directories (nor a tsconfig) has a later mtime: an edit
// made during the build counts, and so does a new file. Directories' mtimes do not: unpacking
// a package (npm pack gives every file one old mtime) creates them anew; a deleted or renamed
// file leaves dist/ a stale .js that nothing imports unless an importer changed, which counts.
//
// The cheap way, on every start: the stamp lists the source files and directories the build
// saw (`sources`), so the check is one stat per listed file and directory; a directory
// changed since the build is read for names the build did not see (a new .ts file counts when
// it is newer than the stamp; a new directory is walked). In an unpacked package every
// directory is newer than the stamp, so each is read: still no stat of every entry. The
// full walk it replaces cost 20–30 ms of CPU at each start on a loaded machine. A stamp
// without the list (an older build) gets the walk.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The package root (the directory holding package.json, src/ and dist/). */
export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const STAMP = "dist/build-stamp.json";

/**
 * { fresh: true } or { fresh: false, reason }, for the sources under `dirs` (relative to
 * `root`). A source directory that does not exist (a package shipped without src/) is no
 * newer than the build.
 */
export function distState(dirs = ["src"], root = ROOT) {
  let built;
  try {
    built = statSync(join(root, STAMP)).mtimeMs;
  } catch {
    return { fresh: false, reason: "dist/ is not built" };
  }
  for (const file of ["tsconfig.json", "tsconfig.build.json"]) {
    if (mtime(join(root, file)) > built) return { fresh: false, reason: `${file} changed after the last build` };
  }
  const listed = stampSources(root);
  for (const dir of dirs) {
    const newer = listed?.[dir] ? newerThanListed(root, dir, listed[dir], built) : newerThan(join(root, dir), built);
    if (newer !== null) return { fresh: false, reason: `${newer.slice(root.length).replace(/^[/\\]/, "")} changed after the last build` };
  }
  return { fresh: true, reason: null };
}

/**
 * What scripts/build.mjs writes into the stamp for each source directory: its .ts files and
 * its directories (the directory itself as ""), relative to it, with "/" between names.
 */
export function listSources(root, dir) {
  const files = [];
  const dirs = [];
  const walk = (rel) => {
    dirs.push(rel);
    let entries;
    try {
      entries = readdirSync(join(root, dir, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const path = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) walk(path);
      else if (e.name.endsWith(".ts")) files.push(path);
    }
  };
  walk("");
  return { files, dirs };
}

function stampSources(root) {
  try {
    const stamp = JSON.parse(readFileSync(join(root, STAMP), "utf8"));
    return stamp && typeof stamp.sources === "object" ? stamp.sources : null;
  } catch {
    return null;
  }
}

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -Infinity;
  }
}

/** The first .ts file under `root/dir` modified after `time`, checking the stamp's list and looking for names it lacks; or null. */
function newerThanListed(root, dir, listed, time) {
  const base = join(root, dir);
  for (const f of listed.files) {
    const path = `${base}/${f}`;
    if (mtime(path) > time) return path;
  }
  const known = new Set(listed.files);
  for (const d of listed.dirs) known.add(d);
  for (const d of listed.dirs) {
    // A name added to a directory (or removed) changes the directory's mtime: only then is it read.
    if (mtime(d === "" ? base : `${base}/${d}`) <= time) continue;
    let names;
    try {
      names = readdirSync(d === "" ? base : `${base}/${d}`);
    } catch {
      continue;
    }
    for (const name of names) {
      const rel = d === "" ? name : `${d}/${name}`;
      if (known.has(rel)) continue;
      const path = `${base}/${rel}`;
      if (name.endsWith(".ts")) {
        if (mtime(path) > time) return path;
      } else {
        const newer = newerThan(path, time); // a new directory (or another file: nothing to find)
        if (newer !== null) return newer;
      }
    }
  }
  return null;
}

/** The first .ts file under `dir` modified after `time`, or null. */
function newerThan(dir, time) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return null;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      const newer = newerThan(path, time);
      if (newer !== null) return newer;
    } else if (e.name.endsWith(".ts") && mtime(path) > time) {
      return path;
    }
  }
  return null;
}
