/**
 * KUBE-POSTROUTING's `-j MARK --xor-mark` before MASQUERADE (kubernetes/kubernetes#92035):
 * on by default; kube-proxy before it (unmarkBeforeMasquerade: false) left the mark on.
 */
import test from "ava";
import { buildKubeModel, syncIptablesRules } from "../../src/kube/index.js";
import { FAKE_MODEL, FAKE_PROXIER, loadDocs } from "./helpers.js";

const model = () => buildKubeModel(loadDocs("overall-services.yaml"), [], FAKE_MODEL);
const postrouting = (text: string) => text.split("\n").filter((l) => l.startsWith("-A KUBE-POSTROUTING"));

test("today's kube-proxy clears the mark before MASQUERADE", (t) => {
  const lines = postrouting(syncIptablesRules(model(), FAKE_PROXIER).text);
  t.true(lines.some((l) => l.includes("--xor-mark")));
});

test("kube-proxy before #92035: the mark stays on, MASQUERADE right after the RETURN", (t) => {
  const lines = postrouting(syncIptablesRules(model(), { ...FAKE_PROXIER, unmarkBeforeMasquerade: false }).text);
  t.false(lines.some((l) => l.includes("--xor-mark")));
  t.regex(lines[1]!, /-j MASQUERADE( --random-fully)?$/);
});
