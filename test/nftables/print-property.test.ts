/** print ∘ parse ∘ print is print: the printed form is a fixed point of the parser. */
import test from "ava";
import fc from "fast-check";
import { parseNftRuleset, printRuleset } from "../../src/nftables/index.js";
import { ruleArb, scriptOf } from "./fixtures/arbitraries.js";

test("printing a parsed printed ruleset gives the same text", (t) => {
  fc.assert(
    fc.property(fc.array(ruleArb, { minLength: 1, maxLength: 8 }), (rules) => {
      let rs;
      try {
        rs = parseNftRuleset(scriptOf(rules));
      } catch (e) {
        // Rules podwire refuses (e.g. duplicate-free sets that collapse) are not this property's business.
        if ((e as Error).name === "PodwireError") return true;
        throw e;
      }
      const once = printRuleset(rs);
      let again;
      try {
        again = parseNftRuleset(once, "<printed>");
      } catch (e) {
        // nft's own listing of `tcp dport 1 meta l4proto sctp th dport 2` (`tcp dport 1 sctp
        // dport 2`) is one nft refuses to load; podwire prints and refuses alike.
        if (/conflicting protocols/.test((e as Error).message)) return true;
        throw e;
      }
      return printRuleset(again) === once;
    }),
    { numRuns: 300, seed: 42 },
  );
  t.pass();
});
