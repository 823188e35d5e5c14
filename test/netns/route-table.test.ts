import test from "ava";
import { fc, testProp } from "@fast-check/ava";
import { ipv4, parseCidr, prefixMask } from "../../src/base/index.js";
import { Loopback, Simulator } from "../../src/netdev/index.js";
import { type Route, RouteTable, formatRoute } from "../../src/netns/index.js";

const sim = new Simulator(1);
const devs = [0, 1, 2, 3].map((i) => {
  const d = new Loopback(sim);
  d.name = `dev${i}`;
  return d;
});

function route(cidr: string, dev = 0, metric = 0, gateway = 0): Route {
  return { dst: parseCidr(cidr)!, gateway, dev: devs[dev]!, prefSrc: 0, onlink: false, metric, proto: "static" };
}

test("longest prefix wins, then the lowest metric", (t) => {
  const rt = new RouteTable();
  rt.add(route("0.0.0.0/0", 0));
  rt.add(route("10.244.0.0/16", 1));
  rt.add(route("10.244.2.0/24", 2, 10));
  rt.add(route("10.244.2.0/24", 3, 5));
  t.is(rt.lookup(ipv4("10.244.2.7"))!.dev.name, "dev3");
  t.is(rt.lookup(ipv4("10.244.9.7"))!.dev.name, "dev1");
  t.is(rt.lookup(ipv4("8.8.8.8"))!.dev.name, "dev0");
  rt.remove((r) => r.dst.prefixLen === 0);
  t.is(rt.lookup(ipv4("8.8.8.8")), null);
});

test("ip route style formatting", (t) => {
  t.is(formatRoute({ ...route("10.244.2.0/24", 1, 0, ipv4("10.244.2.0")), onlink: true, proto: "flannel" }), "10.244.2.0/24 via 10.244.2.0 dev dev1 proto flannel onlink");
  t.is(formatRoute({ ...route("0.0.0.0/0", 0, 0, ipv4("10.244.1.1")) }), "default via 10.244.1.1 dev dev0");
});

const arbRoute = fc.record({ ip: fc.integer({ min: 0, max: 0xffffffff }), len: fc.integer({ min: 0, max: 32 }), dev: fc.integer({ min: 0, max: 3 }), metric: fc.integer({ min: 0, max: 3 }) });

testProp("lookup agrees with a brute-force longest-prefix scan", [fc.array(arbRoute, { maxLength: 40 }), fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 50 })], (t, specs, probes) => {
  const rt = new RouteTable();
  const all: Route[] = [];
  for (const s of specs) {
    const mask = prefixMask(s.len);
    const r: Route = { dst: { net: (s.ip & mask) >>> 0, prefixLen: s.len, mask }, gateway: 0, dev: devs[s.dev]!, prefSrc: 0, onlink: false, metric: s.metric, proto: "static" };
    try {
      rt.add(r);
      all.push(r);
    } catch {
      // a duplicate (same prefix, device and metric) is refused, as `ip route add` refuses it
    }
  }
  for (const ip of probes) {
    let best: Route | null = null;
    for (const r of all) {
      if (((ip & r.dst.mask) >>> 0) !== r.dst.net) continue;
      if (best === null || r.dst.prefixLen > best.dst.prefixLen || (r.dst.prefixLen === best.dst.prefixLen && r.metric < best.metric)) best = r;
    }
    const got = rt.lookup(ip);
    t.is(got?.dst.prefixLen, best?.dst.prefixLen);
    t.is(got?.metric, best?.metric);
    if (got && best) t.is(got.dst.net, best.dst.net);
  }
});
