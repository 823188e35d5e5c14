/** Every bad script is refused with a located PodwireError (file, line, column, code). */
import test from "ava";
import { PodwireError } from "../../src/base/errors.js";
import { parseNftRuleset } from "../../src/nftables/index.js";
import { BAD_SCRIPTS, ODD_BUT_GOOD } from "./fixtures/corpus.js";

for (const bad of BAD_SCRIPTS) {
  test(`refused with its location: ${bad.name}`, (t) => {
    const err = t.throws(() => parseNftRuleset(bad.text, "bad.nft"), { instanceOf: PodwireError })!;
    t.is((err as PodwireError).code, bad.code, err.message);
    if (bad.line > 0) {
      t.is((err as PodwireError).location?.file, "bad.nft");
      t.deepEqual([(err as PodwireError).location?.line, (err as PodwireError).location?.column], [bad.line, bad.column], err.message);
    }
    t.false(err.message.includes("\n"), "one line");
  });
}

for (const good of ODD_BUT_GOOD) {
  test(`accepted: ${good.name}`, (t) => {
    t.notThrows(() => parseNftRuleset(good.text));
  });
}

test("the error names nft's message for a port mapping without a transport match", (t) => {
  const err = t.throws(() => parseNftRuleset(BAD_SCRIPTS.find((b) => b.name.startsWith("dnat port"))!.text, "x.nft"))!;
  t.regex(err.message, /^x\.nft:3:34: transport protocol mapping is only valid after transport protocol match/);
});
