/**
 * kube-proxy's INVALID drop (kubernetes/kubernetes#74840, v1.15): `-A KUBE-FORWARD -m
 * conntrack --ctstate INVALID -j DROP`, left out by the kube-proxy of before (podwire's
 * `dropInvalid: false`) and when conntrack.tcpBeLiberal is set.
 */
import test from "ava";
import { buildKubeModel, syncIptablesRules } from "../../src/kube/index.js";
import { FAKE_MODEL, FAKE_PROXIER, loadDocs } from "./helpers.js";

const RULE = "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n";

test("the INVALID drop is written by default, not by a pre-v1.15 kube-proxy, not with tcpBeLiberal", (t) => {
  const model = buildKubeModel(loadDocs("overall-services.yaml"), [], FAKE_MODEL);
  t.true(syncIptablesRules(model, { ...FAKE_PROXIER, nfacct: false }).text.includes(RULE));
  const old = syncIptablesRules(model, { ...FAKE_PROXIER, nfacct: false, dropInvalid: false }).text;
  t.false(old.includes("INVALID"));
  t.true(old.includes("-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\""), "the rest of KUBE-FORWARD stays");
  t.false(syncIptablesRules(model, { ...FAKE_PROXIER, nfacct: false, conntrackTCPLiberal: true }).text.includes("INVALID"));
});
