/** `podwire scenario` from the command line: list, show, run (text and JSON), bad names. */
import test from "ava";
import { podwire } from "../helpers/run-cli.js";

test.serial("scenario list names every scenario with its issues; --json gives [{name, symptom, issues}]", async (t) => {
  const text = await podwire("scenario", "list");
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, /lost-client-ip/);
  t.true(text.stdout.split("\n").every((l) => l.length <= 120), "fits 120 columns");
  const json = JSON.parse((await podwire("scenario", "list", "--json")).stdout) as { name: string; symptom: string; issues: string[] }[];
  t.true(json.length >= 1);
  for (const s of json) {
    t.regex(s.name, /^[a-z0-9-]+$/);
    t.true(s.symptom.length > 0);
    t.true(s.issues.length > 0);
  }
});

test.serial("scenario show prints a cluster file podwire loads", async (t) => {
  const r = await podwire("scenario", "show", "lost-client-ip");
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^# podwire scenario 10: lost-client-ip/);
  t.regex(r.stdout, /kind: Cluster/);
});

test.serial("scenario run --json: the symptom, then its absence with --fixed", async (t) => {
  const broken = JSON.parse((await podwire("scenario", "run", "lost-client-ip", "--json")).stdout) as { symptom: boolean; evidence: { frame: number | null }[]; issues: string[] };
  t.true(broken.symptom);
  t.true(broken.evidence.some((e) => e.frame !== null));
  t.deepEqual(broken.issues.slice(0, 1), ["kubernetes/kubernetes#68474"]);
  const fixed = JSON.parse((await podwire("scenario", "run", "10", "--fixed", "--json")).stdout) as { symptom: boolean };
  t.false(fixed.symptom);
});

test.serial("an unknown scenario or mode is a one-line error, exit 2", async (t) => {
  const r = await podwire("scenario", "run", "nope");
  t.is(r.code, 2);
  t.regex(r.stderr, /no scenario named "nope"/);
  t.notRegex(r.stderr, /\n\s+at /, "no stack trace");
});
