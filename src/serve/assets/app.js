// podwire serve's dashboard: draws the cluster from /api/cluster, polls /api/counters for
// packet rates, conntrack sizes and kube-proxy's syncs, and runs traces through /api/trace,
// animating each hop over the topology. Every text from the cluster goes in with textContent.

const SVG = "http://www.w3.org/2000/svg";
const POLL_MS = 1000;

const state = {
  cluster: null,
  /** "netns|device" → the SVG element standing for that place. */
  places: new Map(),
  /** "netns|device" → the rate label of a device. */
  rateLabels: new Map(),
  lastSeq: 0,
  animation: null,
};

// ------------------------------------------------------------------ helpers

function el(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** `text` cut to about `px` pixels at `charPx` a character, with an ellipsis; the full text stays in a tooltip. */
function fitted(tag, attrs, text, px, charPx = 6.6) {
  const max = Math.floor(px / charPx);
  const e = el(tag, attrs, text.length > max ? `${text.slice(0, Math.max(1, max - 1))}…` : text);
  if (text.length > max) e.append(el("title", {}, text));
  return e;
}

function html(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

async function getJson(url) {
  const r = await fetch(url, { headers: { Accept: "application/json" } });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error ?? `${r.status} ${r.statusText}`);
  return body;
}

function formatTime(ns) {
  const s = ns / 1e9;
  return s < 60 ? `${s.toFixed(3)} s` : `${Math.floor(s / 60)} min ${(s % 60).toFixed(1)} s`;
}

function rate(n) {
  return n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n >= 10 ? n.toFixed(0) : n.toFixed(1);
}

// ------------------------------------------------------------------ topology

const NODE_TOP = 150;
const NODE_HEIGHT = 330;
const POD_W = 118;
const GAP = 40;

/** Registers an element as the place of (netns, device) for traces and rates. */
function place(element, netns, device) {
  const key = `${netns}|${device}`;
  element.setAttribute("data-place", key);
  element.classList.add("place");
  state.places.set(key, element);
  return element;
}

function deviceBox(g, x, y, w, label, sub, netns, device, cls) {
  const box = place(el("g", { class: `device ${cls}`, transform: `translate(${x},${y})` }), netns, device);
  box.append(el("rect", { width: w, height: 30, rx: 5 }));
  box.append(el("text", { x: w / 2, y: 13, "text-anchor": "middle", class: "dev-name" }, label));
  if (sub) box.append(el("text", { x: w / 2, y: 25, "text-anchor": "middle", class: "dev-sub" }, sub));
  // The rate goes below the device, where no neighbour is.
  const r = el("text", { x: w / 2, y: 41, "text-anchor": "middle", class: "rate" }, "");
  box.append(r);
  state.rateLabels.set(`${netns}|${device}`, r);
  g.append(box);
  return { x: x + w / 2, top: y, bottom: y + 30, left: x, right: x + w };
}

function line(g, x1, y1, x2, y2, cls = "link") {
  g.append(el("line", { x1, y1, x2, y2, class: cls }));
}

function drawTopology(c) {
  const svg = document.getElementById("topology");
  svg.replaceChildren();
  state.places.clear();
  state.rateLabels.clear();
  const nodeWidths = c.nodes.map((n) => Math.max(300, n.pods.filter((p) => !p.hostNetwork).length * (POD_W + 14) + 40));
  const width = Math.max(nodeWidths.reduce((a, b) => a + b + GAP, GAP), c.externalHosts.length * 180 + 260, c.services.length * 210 + GAP);
  const servicesTop = NODE_TOP + NODE_HEIGHT + 80;
  const height = servicesTop + (c.services.length > 0 ? 110 : 0);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  const layers = { links: el("g"), boxes: el("g"), marker: el("g") };
  svg.append(layers.links, layers.boxes, layers.marker);

  // The node network: one switch every eth0 hangs off.
  const netY = 100;
  const net = place(el("g", { class: "network" }), "switch", "nodenet");
  net.append(el("line", { x1: 20, y1: netY, x2: width - 20, y2: netY }));
  net.append(el("text", { x: 24, y: netY - 8, class: "net-label" }, `node network ${c.nodeNetwork}`));
  layers.boxes.append(net);
  state.places.set("switch|", net);

  // Hosts outside the cluster, above the node network.
  c.externalHosts.forEach((e, i) => {
    const x = 260 + i * 180;
    const box = place(el("g", { class: "host pickable", transform: `translate(${x},20)`, "data-pick-from": `ext/${e.name}`, "data-pick-to": `ext/${e.name}` }), e.name, "eth0");
    box.append(el("rect", { width: 150, height: 42, rx: 6 }));
    box.append(el("text", { x: 75, y: 18, "text-anchor": "middle", class: "box-title" }, e.name));
    box.append(el("text", { x: 75, y: 33, "text-anchor": "middle", class: "dev-sub" }, `${e.ip} (outside)`));
    layers.boxes.append(box);
    state.places.set(`${e.name}|`, box);
    line(layers.links, x + 75, 62, x + 75, netY);
  });

  const podCenters = new Map();
  let x = GAP;
  c.nodes.forEach((n, i) => {
    const w = nodeWidths[i];
    const g = el("g", { class: "node-group" });
    const box = place(el("g", { class: "node pickable", "data-node": n.name, "data-pick-from": `node/${n.name}`, "data-pick-to": `node/${n.name}` }), n.name, "");
    box.append(el("rect", { x, y: NODE_TOP, width: w, height: NODE_HEIGHT, rx: 10 }));
    box.append(el("text", { x: x + 12, y: NODE_TOP + 50, class: "box-title" }, `node ${n.name}${n.controlPlane ? " (control plane)" : ""}`));
    box.append(el("text", { x: x + 12, y: NODE_TOP + 65, class: "dev-sub" }, `${n.internalIP} · Pod range ${n.podCIDR}`));
    const ct = el("text", { x: x + 12, y: NODE_TOP + 80, class: "conntrack", "data-conntrack": n.name }, "conntrack –");
    box.append(ct);
    g.append(box);
    const dev = (name) => n.devices.find((d) => d.name === name);
    const eth0 = dev("eth0");
    const e = deviceBox(g, x + 12, NODE_TOP - 15, 130, "eth0", eth0 ? eth0.addresses.join(" ") : "", n.name, "eth0", "nic");
    line(layers.links, e.x, netY, e.x, e.top);
    const flannel = dev("flannel.1");
    if (flannel) {
      // flannel.1 sends through eth0 (VXLAN in UDP 8472): beside it on the node's edge.
      const f = deviceBox(g, x + 170, NODE_TOP - 15, 110, "flannel.1", "VXLAN VNI 1", n.name, "flannel.1", "vxlan");
      line(layers.links, e.right, NODE_TOP, f.left, NODE_TOP, "link overlay");
    }
    const cni0 = dev("cni0");
    const pods = n.pods.filter((p) => !p.hostNetwork);
    if (cni0) {
      const b = deviceBox(g, x + 20, NODE_TOP + 100, w - 40, "cni0", `bridge ${cni0.addresses.join(" ")}`, n.name, "cni0", "bridge");
      pods.forEach((p, j) => {
        const px = x + 20 + j * (POD_W + 14);
        const v = p.veth ? deviceBox(g, px, NODE_TOP + 165, POD_W, p.veth, "veth", n.name, p.veth, "veth") : null;
        if (v) line(layers.links, v.x, b.bottom, v.x, v.top);
        const podBox = place(el("g", { class: "pod pickable", transform: `translate(${px},${NODE_TOP + 235})`, "data-pod": p.key, "data-pick-from": `pod/${p.key}`, "data-pick-to": `pod/${p.key}` }), p.key, "eth0");
        podBox.append(el("rect", { width: POD_W, height: 66, rx: 6 }));
        podBox.append(el("title", {}, `pod/${p.key} ${p.ip}`));
        podBox.append(fitted("text", { x: POD_W / 2, y: 16, "text-anchor": "middle", class: "box-title" }, p.name, POD_W - 8));
        podBox.append(fitted("text", { x: POD_W / 2, y: 30, "text-anchor": "middle", class: "dev-sub" }, p.namespace, POD_W - 8, 5.5));
        podBox.append(el("text", { x: POD_W / 2, y: 44, "text-anchor": "middle", class: "dev-sub" }, `eth0 ${p.ip}`));
        const ports = p.containers.flatMap((ct) => ct.ports.map((q) => `${q.port}/${q.protocol}`)).join(" ");
        podBox.append(fitted("text", { x: POD_W / 2, y: 58, "text-anchor": "middle", class: "dev-sub" }, ports || "no ports", POD_W - 8, 5.5));
        g.append(podBox);
        state.places.set(`${p.key}|`, podBox);
        state.places.set(`${p.key}|lo`, podBox);
        if (v) line(layers.links, v.x, v.bottom, v.x, NODE_TOP + 235);
        podCenters.set(p.ip, { x: px + POD_W / 2, y: NODE_TOP + 235 + 66 });
      });
    }
    // hostNetwork Pods share the node's namespace: listed inside the node box.
    n.pods.filter((p) => p.hostNetwork).forEach((p, j) => {
      g.append(el("text", { x: x + 12, y: NODE_TOP + 310 - j * 13, class: "dev-sub", "data-pod": p.key }, `${p.key} (hostNetwork)`));
    });
    layers.boxes.append(g);
    x += w + GAP;
  });

  // Services: virtual boxes, with a dashed line to each endpoint Pod.
  c.services.forEach((s, i) => {
    const sx = GAP + i * 210;
    const key = `svc/${s.namespace}/${s.name}`;
    const box = el("g", { class: "service pickable", transform: `translate(${sx},${servicesTop})`, "data-service": `${s.namespace}/${s.name}`, "data-pick-to": key });
    box.append(el("rect", { width: 190, height: 74, rx: 8 }));
    box.append(el("title", {}, `svc/${s.namespace}/${s.name}`));
    box.append(fitted("text", { x: 95, y: 16, "text-anchor": "middle", class: "box-title" }, `${s.namespace}/${s.name}`, 180));
    box.append(el("text", { x: 95, y: 31, "text-anchor": "middle", class: "dev-sub" }, `${s.type} ${s.clusterIP ?? "headless"}`));
    const ports = s.ports.map((p) => `${p.port}/${p.protocol}${p.nodePort ? ` np ${p.nodePort}` : ""}`).join(" ");
    box.append(fitted("text", { x: 95, y: 45, "text-anchor": "middle", class: "dev-sub" }, ports, 180, 5.5));
    box.append(el("text", { x: 95, y: 60, "text-anchor": "middle", class: "dev-sub" }, `${s.endpoints.length} endpoint${s.endpoints.length === 1 ? "" : "s"}`));
    layers.boxes.append(box);
    for (const ep of new Set(s.endpoints.map((e) => e.split(":")[0]))) {
      const pc = podCenters.get(ep);
      if (pc) line(layers.links, sx + 95, servicesTop, pc.x, pc.y, "link service-link");
    }
  });
  if (c.services.length > 0) layers.links.append(el("text", { x: GAP, y: servicesTop - 12, class: "net-label" }, `Services (${c.serviceCIDR}): virtual addresses, only in kube-proxy's rules`));

  const marker = el("circle", { id: "marker", r: 9, cx: -50, cy: -50, class: "marker" });
  layers.marker.append(marker);
}

// ------------------------------------------------------------------ the trace form

function fillSelects(c) {
  const from = document.getElementById("from");
  const to = document.getElementById("to");
  const keepFrom = from.value;
  const keepTo = to.value;
  from.replaceChildren();
  to.replaceChildren();
  const group = (select, label, options) => {
    if (options.length === 0) return;
    const g = html("optgroup", { label });
    for (const [value, text] of options) g.append(html("option", { value }, text));
    select.append(g);
  };
  const pods = c.nodes.flatMap((n) => n.pods);
  group(from, "Pods", pods.map((p) => [`pod/${p.key}`, `pod/${p.key} (${p.ip})`]));
  group(from, "Nodes", c.nodes.map((n) => [`node/${n.name}`, `node/${n.name} (${n.internalIP})`]));
  group(from, "Outside", c.externalHosts.map((e) => [`ext/${e.name}`, `ext/${e.name} (${e.ip})`]));
  group(to, "Services", c.services.filter((s) => s.clusterIP !== null).map((s) => [`svc/${s.namespace}/${s.name}`, `svc/${s.namespace}/${s.name} (${s.clusterIP})`]));
  group(to, "Pods", pods.map((p) => [`pod/${p.key}`, `pod/${p.key} (${p.ip})`]));
  const nodePorts = [];
  for (const s of c.services) for (const p of s.ports) if (p.nodePort) for (const n of c.nodes) nodePorts.push([`node/${n.name}:${p.nodePort}`, `node/${n.name}:${p.nodePort} (${s.namespace}/${s.name} ${p.port}/${p.protocol})`]);
  group(to, "NodePorts", nodePorts);
  group(to, "Nodes", c.nodes.map((n) => [`node/${n.name}`, `node/${n.name} (${n.internalIP})`]));
  group(to, "Outside", c.externalHosts.map((e) => [`ext/${e.name}`, `ext/${e.name} (${e.ip})`]));
  if ([...from.options].some((o) => o.value === keepFrom)) from.value = keepFrom;
  if ([...to.options].some((o) => o.value === keepTo)) to.value = keepTo;
}

function onTopologyClick(ev) {
  const target = ev.target.closest(".pickable");
  if (!target) return;
  const pick = document.querySelector('input[name="pick"]:checked').value;
  const value = target.getAttribute(pick === "from" ? "data-pick-from" : "data-pick-to");
  if (!value) return;
  document.getElementById(pick).value = value;
  document.querySelector(`input[name="pick"][value="${pick === "from" ? "to" : "from"}"]`).checked = true;
}

async function sendTrace(ev) {
  ev.preventDefault();
  const params = new URLSearchParams();
  params.set("from", document.getElementById("from").value);
  const port = document.getElementById("port").value.trim();
  const to = document.getElementById("to").value;
  params.set("to", port !== "" && !/:[0-9]+$/.test(to) ? `${to}:${port}` : to);
  params.set("proto", document.getElementById("proto").value);
  const query = document.getElementById("query").value.trim();
  if (query !== "") params.set("query", query);
  const error = document.getElementById("trace-error");
  const button = document.getElementById("send");
  error.hidden = true;
  button.disabled = true;
  document.body.dataset.trace = "running";
  try {
    const trace = await getJson(`/api/trace?${params}`);
    showTrace(trace);
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
    document.body.dataset.trace = "error";
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------------ showing a trace

/** The topology element a hop happened at: its device, else its namespace. */
function placeOf(hop) {
  return state.places.get(`${hop.netns}|${hop.device}`) ?? state.places.get(`${hop.netns}|`) ?? null;
}

function ruleText(r) {
  return r.position === null ? `${r.table} ${r.chain} ${r.rule}` : `${r.table} ${r.chain}#${r.position}: ${r.rule}`;
}

function hopItem(h, i) {
  const li = html("li", {
    class: `hop action-${h.action}`,
    "data-index": i,
    "data-netns": h.netns,
    "data-device": h.device,
    "data-action": h.action,
    "data-time-ns": h.timeNs,
    "data-packet-id": h.packetId ?? "",
    "data-frame": h.frame ?? "",
  });
  const head = html("div", { class: "hop-head" });
  head.append(html("span", { class: "hop-time" }, `${(h.timeNs / 1000).toFixed(3)} µs`));
  head.append(html("span", { class: "hop-where" }, h.device ? `${h.netns} ${h.device}` : h.netns));
  head.append(html("span", { class: "hop-action" }, h.action));
  if (h.frame !== null) head.append(html("span", { class: "hop-frame" }, `frame ${h.frame}`));
  li.append(head);
  if (h.packet) li.append(html("div", { class: "hop-packet" }, h.packet.summary));
  if (h.detail) li.append(html("div", { class: "hop-detail" }, h.detail));
  if (h.rules && h.rules.length > 0) {
    const ul = html("ul", { class: "hop-rules" });
    for (const r of h.rules) ul.append(html("li", { class: "hop-rule", "data-chain": r.chain, "data-position": r.position ?? "" }, ruleText(r)));
    li.append(ul);
    if (h.verdict) li.append(html("div", { class: "hop-verdict" }, `verdict ${h.verdict}`));
  }
  if (h.nat) li.append(html("div", { class: "hop-nat" }, `${h.nat.reply ? "un-" : ""}${h.nat.kind} ${h.nat.from} → ${h.nat.to}`));
  if (h.conntrack) li.append(html("div", { class: "hop-conntrack" }, `conntrack ${h.conntrack.state}${h.conntrack.direction ? ` (${h.conntrack.direction})` : ""} ${h.conntrack.tuple}`));
  if (h.drop) li.append(html("div", { class: "hop-drop" }, `dropped: ${h.drop.reason}`));
  return li;
}

function showTrace(trace) {
  document.getElementById("trace-result").hidden = false;
  const outcome = document.getElementById("trace-outcome");
  outcome.textContent = `${trace.ok ? "ok" : "FAILED"} — ${trace.from} → ${trace.to} (${trace.destination} ${trace.proto}): ${trace.outcome}`;
  outcome.className = trace.ok ? "ok" : "error";
  const svc = document.getElementById("trace-service");
  svc.textContent = trace.node && trace.verdict ? `kube-proxy on ${trace.node}: ${trace.verdict}${trace.endpoint ? `, DNAT to ${trace.endpoint}` : ""}${trace.masquerade ? ", masqueraded" : ""}` : "";
  const link = document.getElementById("pcap-link");
  link.href = trace.capture;
  link.setAttribute("download", trace.capture.split("/").pop());
  const list = document.getElementById("hops");
  list.replaceChildren(...trace.hops.map(hopItem));
  animate(trace.hops);
}

function animate(hops) {
  if (state.animation) state.animation.cancel();
  const marker = document.getElementById("marker");
  const items = [...document.querySelectorAll("#hops > li")];
  const pace = Number(document.getElementById("pace").value);
  let cancelled = false;
  state.animation = { cancel: () => (cancelled = true) };
  document.body.dataset.trace = "animating";
  let i = 0;
  let at = null;
  const centre = (element) => {
    const b = element.getBBox();
    const m = element.transform.baseVal.consolidate();
    const dx = m ? m.matrix.e : 0;
    const dy = m ? m.matrix.f : 0;
    return { x: dx + b.x + b.width / 2, y: dy + b.y + b.height / 2 };
  };
  const step = () => {
    if (cancelled) return;
    if (i >= hops.length) {
      document.body.dataset.trace = "done";
      return;
    }
    const hop = hops[i];
    const li = items[i];
    const target = placeOf(hop);
    for (const p of document.querySelectorAll(".place.current")) p.classList.remove("current");
    for (const p of document.querySelectorAll("#hops > li.current")) p.classList.remove("current");
    li.classList.add("current", "visited");
    li.setAttribute("data-visited", "true");
    li.setAttribute("data-target", target ? target.getAttribute("data-place") : "");
    if (target) {
      target.classList.add("current", "hit");
      const to = centre(target);
      moveMarker(marker, at ?? to, to, pace, hop);
      at = to;
    }
    if (pace > 0) scrollWithin(document.getElementById("hops"), li);
    i++;
    if (pace > 0) setTimeout(step, pace);
    else step();
  };
  for (const p of document.querySelectorAll(".place.hit")) p.classList.remove("hit");
  step();
}

/** Scrolls `list` (not the page) so that `item` is in view. */
function scrollWithin(list, item) {
  const top = item.offsetTop - list.offsetTop;
  if (top < list.scrollTop) list.scrollTop = top;
  else if (top + item.offsetHeight > list.scrollTop + list.clientHeight) list.scrollTop = top + item.offsetHeight - list.clientHeight;
}

function moveMarker(marker, from, to, ms, hop) {
  marker.setAttribute("class", `marker ${hop.drop ? "dropped" : hop.nat ? "nat" : hop.rules ? "rules" : ""}`);
  if (ms <= 0) {
    marker.setAttribute("cx", to.x);
    marker.setAttribute("cy", to.y);
    return;
  }
  const start = performance.now();
  const frame = (now) => {
    const t = Math.min(1, (now - start) / ms);
    marker.setAttribute("cx", from.x + (to.x - from.x) * t);
    marker.setAttribute("cy", from.y + (to.y - from.y) * t);
    if (t < 1) requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}

// ------------------------------------------------------------------ live counters

function updateCounters(c) {
  document.getElementById("vtime").textContent = formatTime(c.virtualTimeNs);
  document.getElementById("traffic").textContent = `${c.traffic.profile} (${c.traffic.started} flows)`;
  document.getElementById("speed").textContent = `${c.speed}×`;
  const lag = document.getElementById("lag");
  lag.hidden = c.lagNs < 500e6;
  lag.textContent = `behind real time by ${formatTime(c.lagNs)}`;
  const sync = document.getElementById("sync-state");
  const busy = c.syncLoop.busy;
  sync.className = busy ? "busy" : "idle";
  sync.textContent = busy ? `kube-proxy syncing (${c.syncLoop.pendingServices} Service, ${c.syncLoop.pendingEndpointSlices} EndpointSlice changes pending)` : `rules in sync (${c.syncLoop.syncs} sync${c.syncLoop.syncs === 1 ? "" : "s"} since start)`;
  const tbody = document.querySelector("#node-table tbody");
  tbody.replaceChildren();
  for (const n of c.nodes) {
    const drops = Object.values(n.drops).reduce((a, b) => a + b, 0);
    const tr = html("tr", { "data-node": n.name });
    for (const v of [n.name, `${n.conntrack.entries} / ${n.conntrack.max}`, n.conntrack.found, n.conntrack.invalid, n.conntrack.drop, drops]) tr.append(html("td", {}, String(v)));
    tbody.append(tr);
    const label = document.querySelector(`[data-conntrack="${CSS.escape(n.name)}"]`);
    if (label) label.textContent = `conntrack ${n.conntrack.entries} entries (max ${n.conntrack.max})`;
    for (const d of n.devices) {
      const r = state.rateLabels.get(`${n.name}|${d.name}`);
      if (r) r.textContent = d.rxPps + d.txPps > 0 ? `↓${rate(d.rxPps)} ↑${rate(d.txPps)}` : "";
    }
  }
  const events = document.getElementById("events");
  let refresh = false;
  for (const e of c.events) {
    events.prepend(html("li", { class: `event ${e.kind}`, "data-kind": e.kind }, `${formatTime(e.atNs)} ${e.text}`));
    state.lastSeq = Math.max(state.lastSeq, e.seq);
    if (e.kind === "sync-landed") refresh = true;
  }
  while (events.children.length > 50) events.lastChild.remove();
  return refresh;
}

async function poll() {
  try {
    const c = await getJson(`/api/counters?since=${state.lastSeq}`);
    const changed = updateCounters(c);
    if (changed) {
      // The sync changed the rules: redraw what the Services look like now, and flash the nodes.
      await loadCluster();
      for (const n of document.querySelectorAll(".node")) n.classList.add("synced");
      setTimeout(() => document.querySelectorAll(".node.synced").forEach((n) => n.classList.remove("synced")), 1500);
    }
  } catch (err) {
    document.getElementById("sync-state").textContent = `cannot reach podwire serve: ${err.message}`;
    document.getElementById("sync-state").className = "busy";
  }
  setTimeout(poll, POLL_MS);
}

async function loadCluster() {
  const c = await getJson("/api/cluster");
  state.cluster = c;
  document.getElementById("cluster-name").textContent = `cluster ${c.name}`;
  document.getElementById("mode").textContent = `${c.proxyMode} mode`;
  drawTopology(c);
  fillSelects(c);
  document.body.dataset.ready = "true";
}

document.getElementById("trace-form").addEventListener("submit", sendTrace);
document.getElementById("topology").addEventListener("click", onTopologyClick);
await loadCluster();
poll();
