/** The load-time link checks are iterative: a 20,000-deep chain is refused with its line, never a stack overflow. */
import test from "ava";
import { PodwireError } from "../../src/base/index.js";
import { applyRestore } from "../../src/netfilter/apply-restore.js";
import { RULES_ERROR } from "../../src/netfilter/extensions/errors.js";
import { newRuleset } from "../../src/netfilter/model.js";
import { parseRestore } from "../../src/netfilter/restore-parse.js";

test("a 20,000-deep chain is refused at the jump that reaches it, without recursion", (t) => {
  const n = 20_000;
  const lines = ["*filter", ":INPUT ACCEPT [0:0]"];
  for (let i = 0; i < n; i++) lines.push(`:D${i} - [0:0]`);
  for (let i = 0; i < n - 1; i++) lines.push(`-A D${i} -j D${i + 1}`);
  lines.push("-A INPUT -j D0", "COMMIT");
  const err = t.throws(() => applyRestore(newRuleset(), parseRestore(lines.join("\n") + "\n", "deep.rules"), { file: "deep.rules" }), { instanceOf: PodwireError });
  t.is(err!.code, RULES_ERROR.LOOP);
  t.is(err!.location?.line, 2 + n + n - 1 + 1);
  t.regex(err!.message, /Too many links/);
  // Unreached, the same chain is accepted, as the kernel accepts it.
  lines.splice(lines.indexOf("-A INPUT -j D0"), 1);
  t.notThrows(() => applyRestore(newRuleset(), parseRestore(lines.join("\n") + "\n", "deep.rules"), { file: "deep.rules" }));
});
