import { fc, testProp } from "@fast-check/ava";
import { NS_PER_SEC, VirtualClock } from "../../src/base/clock.js";
import { formatIpv4 } from "../../src/base/ipv4-int.js";
import {
  applyIpsetRestore,
  IpsetRegistry,
  parseIpsetRestore,
  saveIpsets,
  type IpsetCreateOptions,
  type IpsetEntryOptions,
  type IpsetTypeName,
} from "../../src/netfilter/ipset/index.js";

const addr = fc.integer({ min: 1, max: 0xffffffff }).map(formatIpv4);
const port = fc.tuple(fc.constantFrom("", "tcp:", "udp:", "sctp:", "udplite:", "6:"), fc.integer({ min: 0, max: 65535 })).map(([p, n]) => p + n);
const net = fc.tuple(addr, fc.integer({ min: 1, max: 32 }), fc.boolean()).map(([a, n, bare]) => (bare && n === 32 ? a : `${a}/${n}`));

const ENTRY: Record<IpsetTypeName, fc.Arbitrary<string>> = {
  "hash:ip": addr,
  "hash:ip,port": fc.tuple(addr, port).map((p) => p.join(",")),
  "hash:ip,port,ip": fc.tuple(addr, port, addr).map((p) => p.join(",")),
  "hash:ip,port,net": fc.tuple(addr, port, net).map((p) => p.join(",")),
  "hash:net": net,
  "bitmap:port": fc.integer({ min: 0, max: 65535 }).map(String),
};

const TYPES: IpsetTypeName[] = ["hash:ip", "hash:ip,port", "hash:ip,port,ip", "hash:ip,port,net", "hash:net", "bitmap:port"];

const setSpec = fc.constantFrom(...TYPES).chain((type) =>
  fc.record({
    type: fc.constant(type),
    hashsize: fc.option(fc.integer({ min: 0, max: 100000 }), { nil: undefined }),
    bucketsize: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
    initval: fc.option(fc.integer({ min: 0, max: 0xffffffff }), { nil: undefined }),
    timeout: fc.option(fc.integer({ min: 0, max: 600 }), { nil: undefined }),
    counters: fc.boolean(),
    comment: fc.boolean(),
    entries: fc.array(
      fc.record({
        text: ENTRY[type],
        timeout: fc.option(fc.integer({ min: 0, max: 600 }), { nil: undefined }),
        nomatch: fc.boolean(),
        packets: fc.option(fc.nat(), { nil: undefined }),
        bytes: fc.option(fc.nat(), { nil: undefined }),
        comment: fc.option(fc.stringMatching(/^[a-z0-9/:. ,'-]{1,24}$/), { nil: undefined }),
        advanceMs: fc.integer({ min: 0, max: 120_000 }),
      }),
      { maxLength: 12 },
    ),
  }),
);

testProp(
  "save → restore → save gives the same text",
  [fc.array(setSpec, { minLength: 1, maxLength: 6 })],
  (t, specs) => {
    const clock = new VirtualClock();
    const reg = new IpsetRegistry(clock);
    specs.forEach((s, i) => {
      const options: IpsetCreateOptions = { counters: s.counters, comment: s.comment };
      if (s.timeout !== undefined) options.timeout = s.timeout;
      if (s.type === "bitmap:port") options.range = { min: 0, max: 65535 };
      else Object.assign(options, s.hashsize === undefined ? {} : { hashsize: s.hashsize }, s.bucketsize === undefined ? {} : { bucketsize: s.bucketsize }, s.initval === undefined ? {} : { initval: s.initval });
      const set = reg.create(`PW-SET-${i}`, s.type, options);
      for (const e of s.entries) {
        const o: IpsetEntryOptions = {};
        if (s.timeout !== undefined && e.timeout !== undefined) o.timeout = e.timeout;
        if (set.spec.hasNet && e.nomatch) o.nomatch = true;
        if (s.counters && e.packets !== undefined) o.packets = e.packets;
        if (s.counters && e.bytes !== undefined) o.bytes = e.bytes;
        if (s.comment && e.comment !== undefined) o.comment = e.comment;
        set.add(e.text, o, true);
        clock.advanceBy(e.advanceMs * 1_000_000);
      }
    });
    const first = saveIpsets(reg);
    const again = new IpsetRegistry(clock);
    applyIpsetRestore(again, parseIpsetRestore(first));
    t.is(saveIpsets(again), first);
    // Later in time both still agree (the remaining timeouts count down identically).
    clock.advanceBy(37 * NS_PER_SEC);
    t.is(saveIpsets(again), saveIpsets(reg));
  },
  { numRuns: 150 },
);
