/**
 * The real proof of canonical form: load what podwire prints with the real `nft -f` in a
 * scratch network namespace, list it back with `nft list ruleset`, and require the two texts
 * to be equal byte for byte; and require podwire to refuse exactly the scripts nft refuses.
 * Skipped, with the reason printed, when not root, without `nft`, or when the kernel refuses
 * nftables.
 */
import test, { type ExecutionContext } from "ava";
import fc from "fast-check";
import { applyNftScript, parseNftRuleset, printRuleset } from "../../src/nftables/index.js";
import { ruleArb, scriptOf } from "./fixtures/arbitraries.js";
import { BAD_SCRIPTS, ODD_BUT_GOOD, goodFixtures } from "./fixtures/corpus.js";
import { kernelLoad, nftUnavailable } from "./nft-lab.js";

function kernelTest(title: string, fn: (t: ExecutionContext) => void): void {
  if (nftUnavailable) {
    console.log(`skipping "${title}": ${nftUnavailable}`);
    test.skip(title, () => {});
    return;
  }
  test.serial(title, fn);
}

for (const [name, text] of goodFixtures()) {
  kernelTest(`nft lists podwire's printed ruleset exactly as podwire prints it: ${name}`, (t) => {
    const printed = printRuleset(parseNftRuleset(text, name));
    const kernel = kernelLoad(printed);
    if (!kernel.ok) return t.fail(`nft refused podwire's printed text: ${kernel.error}\n${printed}`);
    t.is(printed, kernel.listing);
    // And the fixture itself, as written, loads to the same listing.
    const direct = kernelLoad(text);
    t.true(direct.ok && direct.listing === printed, direct.ok ? "fixture loads differently" : direct.error);
  });
}

for (const bad of BAD_SCRIPTS) {
  kernelTest(`nft refuses what podwire refuses: ${bad.name}`, (t) => {
    const kernel = kernelLoad(bad.text);
    t.false(kernel.ok, "nft accepted it");
    t.throws(() => parseNftRuleset(bad.text));
  });
}

for (const good of ODD_BUT_GOOD) {
  kernelTest(`nft and podwire both accept: ${good.name}`, (t) => {
    const kernel = kernelLoad(good.text);
    t.true(kernel.ok, kernel.ok ? "" : kernel.error);
    const rs = parseNftRuleset(good.text);
    if (kernel.ok) t.is(printRuleset(rs), kernel.listing);
  });
}

kernelTest("a partial sync applied on top of a full one lists as nft lists it", (t) => {
  const full = goodFixtures().find(([n]) => n === "kube-proxy.nft")![1];
  const partial = `add chain ip kube-proxy service-42NFTM6N-ns2/svc2/tcp/
flush chain ip kube-proxy service-42NFTM6N-ns2/svc2/tcp/
add rule ip kube-proxy service-42NFTM6N-ns2/svc2/tcp/ numgen random mod 1 vmap { 0 : goto endpoint-VJ5J6GHD-ns2/svc2/tcp/__10.180.1.2/80 }
flush chain ip kube-proxy endpoint-SGOXE6O3-ns2/svc2/tcp/__10.180.0.2/80
delete chain ip kube-proxy endpoint-SGOXE6O3-ns2/svc2/tcp/__10.180.0.2/80
delete set ip kube-proxy affinity-SGOXE6O3-ns2/svc2/tcp/__10.180.0.2/80
delete element ip kube-proxy cluster-ips { 172.30.0.43 }
delete element ip kube-proxy no-endpoint-services { 172.30.0.43 . tcp . 80 }
insert rule ip kube-proxy services ip daddr 10.96.0.1 counter
`;
  const kernel = kernelLoad(full, partial);
  if (!kernel.ok) return t.fail(kernel.error);
  t.is(printRuleset(applyNftScript(parseNftRuleset(full), partial)), kernel.listing);
});

kernelTest("flush table empties chains and keeps set elements, as nft does", (t) => {
  const full = goodFixtures().find(([n]) => n === "kube-proxy.nft")![1];
  const kernel = kernelLoad(full, "flush table ip kube-proxy\n");
  if (!kernel.ok) return t.fail(kernel.error);
  t.is(printRuleset(applyNftScript(parseNftRuleset(full), "flush table ip kube-proxy\n")), kernel.listing);
});

for (const seed of (process.env.PW_NFT_SEEDS ?? "1,2,3").split(",").map(Number)) {
  kernelTest(`random rules: nft and podwire agree on accepting and on the listing (seed ${seed})`, (t) => {
    for (const rules of fc.sample(fc.array(ruleArb, { minLength: 1, maxLength: 6 }), { numRuns: 25, seed })) {
      const script = scriptOf(rules);
      const kernel = kernelLoad(script);
      let mine: string | Error;
      try {
        mine = printRuleset(parseNftRuleset(script));
      } catch (e) {
        mine = e as Error;
      }
      if (!kernel.ok) {
        t.true(mine instanceof Error, `nft refused (${kernel.error}) but podwire accepted:\n${script}`);
        continue;
      }
      if (mine instanceof Error) return t.fail(`podwire refused what nft accepts: ${mine.message}\n${script}`);
      t.is(mine, kernel.listing, script);
    }
  });
}
