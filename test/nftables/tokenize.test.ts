import test from "ava";
import { tokenize } from "../../src/nftables/index.js";

const words = (s: string): string[] => tokenize(s).filter((t) => t.kind !== "eof").map((t) => (t.kind === "newline" ? "\\n" : `${t.kind[0]}:${t.text}`));

test("chain names with / - _ . are one word", (t) => {
  t.deepEqual(words("jump endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"), ["w:jump", "w:endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"]);
});

test("addresses, prefixes, ranges and ports split as nft's scanner splits them", (t) => {
  t.deepEqual(words("10.0.0.0/8 1.2.3.4:80 1000-2000 0x4000 10800s"), ["w:10.0.0.0", "p:/", "w:8", "w:1.2.3.4", "p::", "w:80", "w:1000", "p:-", "w:2000", "w:0x4000", "w:10800s"]);
});

test("IPv6 addresses are one word; map colons with blanks are punctuation", (t) => {
  t.deepEqual(words("fe80::1 ::1 0 : goto a"), ["w:fe80::1", "w:::1", "w:0", "p::", "w:goto", "w:a"]);
});

test("strings, comments, operators and newlines", (t) => {
  t.deepEqual(words('comment "a b" # note\n!= == ;'), ["w:comment", "s:a b", "\\n", "p:!=", "p:==", "p:;"]);
});

test("line and column of each token", (t) => {
  const toks = tokenize("add table ip t\n  add chain ip t c");
  const c = toks.find((x) => x.text === "chain")!;
  t.deepEqual([c.line, c.column], [2, 7]);
});

test("an unterminated string is an error at its quote", (t) => {
  const err = t.throws(() => tokenize('log prefix "abc\n', "f.nft"))!;
  t.regex(err.message, /^f\.nft:1:12: unterminated string/);
});
