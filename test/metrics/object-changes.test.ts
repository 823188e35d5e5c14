import test from "ava";
import { defaultCluster } from "../../src/cluster/load.js";
import { bootCluster } from "../../src/cluster/boot.js";
import { objectChanges } from "../../src/metrics/index.js";

test("object changes are the Services and EndpointSlices added, changed or removed, not where they sit in the file", (t) => {
  const { services } = bootCluster(defaultCluster());
  const model = services.model;
  const all = objectChanges(null, model);
  t.deepEqual([...all.services].sort(), model.services.map((s) => `${s.namespace}/${s.name}`).sort(), "at first, every Service is a change");
  t.true(all.services.includes("default/web") && all.services.includes("default/kubernetes"));
  t.is(all.endpointSlices.length, model.endpointSlices.length);
  t.deepEqual(objectChanges(model, model), { services: [], endpointSlices: [] });
  const moved = { ...model, services: model.services.map((s) => ({ ...s, location: { file: "x", line: 999 } })) };
  t.deepEqual(objectChanges(model, moved), { services: [], endpointSlices: [] }, "a Service moved in the file is the same Service");
  const web = model.services.find((s) => s.name === "web")!;
  const changed = { ...model, services: model.services.map((s) => (s === web ? { ...s, sessionAffinity: "ClientIP" as const } : s)) };
  t.deepEqual(objectChanges(model, changed).services, ["default/web"]);
  const removed = { ...model, endpointSlices: model.endpointSlices.slice(1) };
  const first = model.endpointSlices[0]!;
  t.deepEqual(objectChanges(model, removed).endpointSlices, [`${first.namespace}/${first.name}`]);
});
