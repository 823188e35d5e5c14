/** Every numeric or list option is validated strictly, with the offending value in the message. */
import test from "ava";
import { PodwireError } from "../../src/base/index.js";
import { type BenchFlags, benchOptions } from "../../src/cli/bench-command.js";
import { runTraceRules } from "../../src/cli/trace-rules.js";
import { parsePacketSpec } from "../../src/netfilter/offline-trace.js";

const flags = (over: Partial<BenchFlags>): BenchFlags => ({ endpoints: "10", modes: "iptables", keepalive: "100", seed: "1", out: "x", kernel: false, kernelMax: "0", ...over });

test("bench: --endpoints 1,0 is not 10, --services 1.5k and empty items are refused", (t) => {
  for (const [over, re] of [
    [{ endpoints: "1,0" }, /--endpoints "1,0" is not a whole number/],
    [{ endpoints: "1_0" }, /--endpoints "1_0"/],
    [{ services: "1.5k" }, /--services: "1\.5k" is not a whole number/],
    [{ services: "100,,1000" }, /--services: "" is not a whole number/],
    [{ services: "" }, /--services is empty/],
    [{ seed: "" }, /--seed "" is not a whole number/],
  ] as [Partial<BenchFlags>, RegExp][]) {
    const err = t.throws(() => benchOptions(flags(over)), { instanceOf: PodwireError }, JSON.stringify(over));
    t.regex(err!.message, re);
  }
  t.deepEqual(benchOptions(flags({ services: "100,10k" })).services, [100, 10_000]);
});

test("trace-rules: a packet with two ports on one side, an empty --mark or --seed are refused", (t) => {
  t.throws(() => parsePacketSpec("tcp 1.2.3.4:1:2 > 10.96.0.1:443"), { instanceOf: PodwireError, message: /source "1\.2\.3\.4:1:2" has more than one ":PORT"/ });
  const base = { rules: "/dev/null", packet: "tcp 10.244.1.5:40000 > 10.96.0.1:443", hook: "prerouting" as const, ctstate: "NEW" };
  t.throws(() => runTraceRules({ ...base, mark: "" }), { instanceOf: PodwireError, message: /--mark "" is not a 32-bit number/ });
  t.throws(() => runTraceRules({ ...base, seed: "" }), { instanceOf: PodwireError, message: /--seed "" is not a 32-bit number/ });
});
