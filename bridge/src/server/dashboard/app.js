// The ibws dashboard: a view over the ibws wasm client. It holds no protocol code of
// its own; connection, auth, reconnect, heartbeat and resume are the client's.
// Plain ES module, embedded in the binary: no front-end build step.
import init, { IbwsClient } from "/ibws_web.js";

const $ = (id) => document.getElementById(id);
const orders = new Map(); // perm_id (or order_id) -> order
const accounts = new Map();
const ALL = ["order_update", "order_notification", "mcp_order", "account_update", "market_data", "error"];

// Bounds: the page stays light however long it stays open.
const TIMELINE_MAX = 100; // entries per order
const SERIES_MAX = 600; // price points per symbol
const SERIES_WINDOW_MS = 5 * 60 * 1000; // what a sparkline shows
const FILLS_MAX = 200; // fill marks per symbol
const SEEN_EXEC_MAX = 5000;
const ORDERS_MAX = 20000; // orders kept (finished ones changed longest ago go first)
const ROWS_MAX = 500; // rows the table draws: the newest that pass the filters

const timelines = new Map(); // order key -> [{ t, kind, text }]
const series = new Map(); // symbol -> [{ t, p }]
const fills = new Map(); // symbol -> [{ t, p, side, text }]
const seenExec = new Set();
const filter = { account: "", agentOnly: false };
let openKey = null;
let lastEventAt = 0;

// Where to connect: the URL fragment (#url=...&token=...) never reaches server logs;
// the query string is never used for tokens.
function target() {
  const f = new URLSearchParams(location.hash.slice(1));
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return { url: f.get("url") || `${proto}//${location.host}/websocket/ws`, token: f.get("token") || undefined };
}

const fmt = (v) => (v === undefined || v === null ? "–" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : String(v));
const key = (o) => String(o.perm_id ?? `id${o.client_id ?? 0}:${o.order_id}`);
const clock = (t) => new Date(t).toLocaleTimeString();

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

// ---- order timelines -------------------------------------------------------------

function mark(k, kind, text) {
  let tl = timelines.get(k);
  if (!tl) timelines.set(k, (tl = []));
  tl.push({ t: Date.now(), kind, text });
  if (tl.length > TIMELINE_MAX) tl.splice(0, tl.length - TIMELINE_MAX);
}

const describe = (o) => `${o.action} ${fmt(o.quantity)} ${o.symbol} ${o.order_type}${o.price != null ? " @ " + fmt(o.price) : ""}`;

// A fill, once per exec id, on the order's timeline and on its symbol's sparkline.
function fill(o) {
  const x = o.execution;
  if (!x || seenExec.has(x.exec_id)) return;
  seenExec.add(x.exec_id);
  if (seenExec.size > SEEN_EXEC_MAX) seenExec.delete(seenExec.values().next().value);
  const done = o.remaining === 0 || o.status === "Filled";
  mark(key(o), done ? "filled" : "fill", `${done ? "filled" : "partial fill"}: ${fmt(x.shares)} @ ${fmt(x.price)}` +
    ` (${fmt(o.filled)} of ${fmt(o.quantity)})${x.reconciled ? ", while away" : ""}`);
  let f = fills.get(o.symbol);
  if (!f) fills.set(o.symbol, (f = []));
  f.push({ t: Date.now(), p: x.price, side: o.action, text: `${o.action} ${fmt(x.shares)} @ ${fmt(x.price)}` });
  if (f.length > FILLS_MAX) f.shift();
  spark(o.symbol);
}

// A status the timeline has not shown yet (e.g. Submitted, Cancelled without a notice).
function status(o, old) {
  if (!old || old.status === o.status) return;
  const kind = o.status === "Filled" ? "filled" : /Cancelled|Inactive/.test(o.status) ? "cancelled" : "status";
  const tl = timelines.get(key(o)) || [];
  if (kind === "filled" && tl.some((e) => e.kind === "filled")) return;
  mark(key(o), kind, `${old.status} → ${o.status}`);
}

// An order's row, as the server sent it (an order_update, or a snapshot's table): the
// row replaces what the page had; nothing is merged or derived here (whether an agent
// placed it is the row's `agent` flag). A first sight gets a "seen" entry unless a
// notification already put one on the timeline.
function upsert(data) {
  const k = key(data);
  const old = orders.get(k);
  const row = { ...data, agent: data.agent === true };
  // the map's order is the order of last change: the oldest change comes first
  orders.delete(k);
  orders.set(k, row);
  if (orders.size > ORDERS_MAX) forgetOne(k);
  if (!old && !timelines.has(k)) mark(k, "seen", `${describe(row)}: ${row.status}`);
  fill(row);
  status(row, old);
  render();
  return row;
}

const finished = (o) => /^(Filled|Cancelled|ApiCancelled|Inactive)$/.test(o.status);

// Past ORDERS_MAX: the finished order changed longest ago (among the oldest
// thousand), else the order changed longest ago, and its timeline.
function forgetOne(keep) {
  let victim = null;
  let looked = 0;
  for (const [k, o] of orders) {
    if (k === keep) continue;
    if (victim === null) victim = k;
    if (finished(o)) { victim = k; break; }
    if (++looked >= 1000) break;
  }
  if (victim !== null) { orders.delete(victim); timelines.delete(victim); }
}

// ---- orders table with filters --------------------------------------------------

function visible(o) {
  if (filter.account && o.account !== filter.account) return false;
  if (filter.agentOnly && !o.agent) return false;
  return true;
}

function renderOrders() {
  const t0 = performance.now();
  const body = $("orders").tBodies[0];
  const all = [...orders.values()];
  const rows = all.filter(visible).sort((a, b) => (b.perm_id ?? b.order_id) - (a.perm_id ?? a.order_id));
  // a busy account has thousands of orders: drawing them all on every frame would
  // freeze the page, so the table holds the newest ROWS_MAX
  const shown = rows.length > ROWS_MAX ? rows.slice(0, ROWS_MAX) : rows;
  body.replaceChildren();
  for (const o of shown) {
    const tr = body.insertRow();
    const k = key(o);
    tr.dataset.perm = k;
    tr.className = `order${o.agent ? " agent" : ""}${k === openKey ? " open" : ""}`;
    // where the order came from: TWS's window, a program (its API client id), an agent
    if (o.source) tr.title = o.source === "API" ? `API client ${o.client_id}` : o.source;
    cell(tr, fmt(o.order_id)); cell(tr, o.symbol); cell(tr, o.action); cell(tr, fmt(o.quantity), "num");
    cell(tr, o.order_type); cell(tr, fmt(o.price), "num"); cell(tr, o.status, `status ${o.status}`);
    cell(tr, fmt(o.filled), "num"); cell(tr, fmt(o.remaining), "num"); cell(tr, fmt(o.avg_fill_price), "num");
    cell(tr, o.account ?? "");
    if (k === openKey) {
      const detail = body.insertRow();
      detail.className = "timeline";
      detail.dataset.perm = k;
      const td = cell(detail, "");
      td.colSpan = 11;
      const ol = document.createElement("ol");
      for (const e of timelines.get(k) || []) {
        const li = document.createElement("li");
        li.className = e.kind;
        const kind = document.createElement("span");
        kind.className = "kind";
        kind.textContent = e.kind;
        li.append(kind, `${clock(e.t)}  ${e.text}`);
        ol.append(li);
      }
      td.append(ol);
    }
  }
  const count = $("count");
  count.dataset.total = all.length;
  count.dataset.matching = rows.length;
  count.dataset.shown = shown.length;
  count.textContent = shown.length < rows.length
    ? `(newest ${shown.length} of ${rows.length}${rows.length === all.length ? "" : `, ${all.length} in all`})`
    : rows.length === all.length ? `(${all.length})` : `(${rows.length} of ${all.length})`;
  renderAccountFilter();
  count.dataset.renderMs = (performance.now() - t0).toFixed(1);
}

function renderAccountFilter() {
  const sel = $("f-account");
  const names = new Set([...accounts.keys()]);
  for (const o of orders.values()) if (o.account) names.add(o.account);
  const have = new Set([...sel.options].map((o) => o.value));
  for (const n of [...names].sort()) {
    if (have.has(n)) continue;
    const opt = document.createElement("option");
    opt.value = n; opt.textContent = n;
    sel.append(opt);
  }
}

$("orders").tBodies[0].addEventListener("click", (ev) => {
  const tr = ev.target.closest("tr.order");
  if (!tr) return;
  openKey = openKey === tr.dataset.perm ? null : tr.dataset.perm;
  render();
});
$("f-account").addEventListener("change", (ev) => { filter.account = ev.target.value; render(); });
$("f-agent").addEventListener("change", (ev) => { filter.agentOnly = ev.target.checked; render(); });

let pending = false;
function render() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; renderOrders(); renderAccounts(); });
}

function renderAccounts() {
  const box = $("accounts");
  if (!accounts.size) return;
  box.replaceChildren();
  for (const a of accounts.values()) {
    const t = document.createElement("table");
    const cap = t.createCaption(); cap.textContent = a.account;
    // values are keyed Key:CUR; totals come under BASE or under the base currency
    const base = a.base_currency || "BASE";
    const inBase = (k) => a.values[`${k}:BASE`] ?? a.values[`${k}:${base}`] ?? a.values[k];
    for (const k of ["NetLiquidation", "TotalCashValue", "BuyingPower", "UnrealizedPnL", "RealizedPnL"]) {
      const v = inBase(k);
      if (v === undefined) continue;
      const tr = t.insertRow(); cell(tr, `${k} (${base})`); cell(tr, v, "num");
    }
    for (const p of a.positions || []) {
      const tr = t.insertRow(); cell(tr, `${p.symbol} position`); cell(tr, `${fmt(p.position)} @ ${fmt(p.average_cost)}`, "num");
    }
    box.append(t);
  }
}

function feed(text, cls) {
  const li = document.createElement("li");
  li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  if (cls) li.className = cls;
  const ul = $("feed");
  ul.prepend(li);
  while (ul.children.length > 200) ul.lastChild.remove();
}

// ---- tickers with sparklines ----------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";

function tickerEl(symbol) {
  let el = document.querySelector(`.ticker[data-symbol="${CSS.escape(symbol)}"]`);
  if (!el) {
    el = document.createElement("div"); el.className = "ticker"; el.dataset.symbol = symbol;
    const b = document.createElement("b"); b.textContent = symbol;
    const q = document.createElement("div"); q.className = "quote";
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "spark"); svg.setAttribute("viewBox", "0 0 160 44"); svg.setAttribute("preserveAspectRatio", "none");
    el.append(b, q, svg);
    $("tickers").append(el);
  }
  return el;
}

function ticker(m) {
  const q = m.data;
  const el = tickerEl(m.symbol);
  el.querySelector(".quote").textContent =
    `${fmt(q.bid_size)} × ${fmt(q.bid)} / ${fmt(q.ask)} × ${fmt(q.ask_size)}  last ${fmt(q.last)} (${fmt(q.last_size)})  vol ${fmt(q.volume)}`;
  const p = q.last ?? (q.bid != null && q.ask != null ? (q.bid + q.ask) / 2 : null);
  if (p == null) return;
  let s = series.get(m.symbol);
  if (!s) series.set(m.symbol, (s = []));
  s.push({ t: Date.now(), p });
  if (s.length > SERIES_MAX) s.shift();
  spark(m.symbol);
}

// The symbol's price over the last minutes, its fills marked (BUY green, SELL red).
function spark(symbol) {
  const s = series.get(symbol);
  if (!s || !s.length) return;
  const svg = tickerEl(symbol).querySelector("svg");
  const now = Date.now();
  const from = now - SERIES_WINDOW_MS;
  const pts = s.filter((x) => x.t >= from);
  const marks = (fills.get(symbol) || []).filter((x) => x.t >= from);
  const prices = pts.map((x) => x.p).concat(marks.map((x) => x.p));
  const lo = Math.min(...prices), hi = Math.max(...prices);
  const t0 = Math.min(pts[0] ? pts[0].t : now, ...marks.map((x) => x.t));
  const X = (t) => (now === t0 ? 160 : ((t - t0) / (now - t0)) * 156 + 2);
  const Y = (p) => (hi === lo ? 22 : 40 - ((p - lo) / (hi - lo)) * 36);
  svg.replaceChildren();
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", pts.map((x) => `${X(x.t).toFixed(1)},${Y(x.p).toFixed(1)}`).join(" "));
  svg.append(line);
  for (const f of marks) {
    const c = document.createElementNS(SVG, "circle");
    c.setAttribute("class", `fill ${f.side}`);
    c.setAttribute("cx", X(f.t).toFixed(1)); c.setAttribute("cy", Y(f.p).toFixed(1)); c.setAttribute("r", "3");
    const title = document.createElementNS(SVG, "title"); title.textContent = `${clock(f.t)} ${f.text}`;
    c.append(title);
    svg.append(c);
  }
}

// ---- link state and event age ---------------------------------------------------

function link(id, label, state) {
  const el = $(id);
  el.className = `link ${state === true ? "up" : state === false ? "down" : "none"}`;
  el.textContent = `${label} ${state === true ? "connected" : state === false ? "down" : "–"}`;
  el.dataset.state = state === true ? "up" : state === false ? "down" : "none";
}

let twsUp = null;
function setTws(up) { twsUp = up; link("tws-link", "TWS", up); }

// The bridge that serves this page reports its TWS link and its uplink in /healthz;
// a dashboard watching another server learns TWS's state from the stream instead.
async function pollHealth(sameServer) {
  if (!sameServer) { link("relay-link", "relay", null); return; }
  try {
    const h = await (await fetch("/healthz", { cache: "no-store" })).json();
    setTws(h.tws_connected);
    link("relay-link", "relay", h.relay ? h.relay.connected : null);
    if (!h.relay) $("relay-link").textContent = "relay: none";
  } catch {
    link("tws-link", "TWS", null);
  }
}

function age() {
  const el = $("age");
  if (!lastEventAt) return;
  const s = (Date.now() - lastEventAt) / 1000;
  el.textContent = `newest event ${s < 10 ? s.toFixed(1) : Math.round(s)} s ago`;
  el.dataset.ageMs = String(Date.now() - lastEventAt);
  el.className = s > 30 ? "stale" : "";
}

const seen = (fn) => (e) => { lastEventAt = Date.now(); fn(e); };

async function main() {
  // the bridge serves the wasm beside /ibws_web.js, where init() looks for it
  await init();
  const { url, token } = target();
  $("target").textContent = url;
  $("url").value = url;
  const sameServer = new URL(url).host === location.host;
  const client = IbwsClient.connect(url, { token, subscribe: ALL, clientId: "dashboard" });
  window.ibws = client; // for the console, and for tests
  client.onState((state, code, reason) => {
    $("state").textContent = state; $("state").className = state;
    if (code && state !== "open") feed(`connection ${state} (${code}${reason ? ": " + reason : ""})`, state === "closed" ? "error" : "");
  });
  client.onSnapshot((snap) => {
    orders.clear();
    for (const o of snap.data) upsert(o);
    for (const a of snap.accounts || []) accounts.set(a.account, a);
    if (snap.source_connected != null && !sameServer) setTws(snap.source_connected);
    render();
  });
  client.onResnapshot(() => feed("missed events could not be replayed: reloading the order table"));
  client.on("order_update", seen((e) => upsert(e.data)));
  // notifications tell what happened; the row itself comes in the order_update beside
  client.on("order_notification", seen((e) => {
    if (e.event === "created" || e.event === "modified" || e.event === "cancelled") mark(key(e.data), e.event, describe(e.data));
    feed(`${e.action} ${e.data.action} ${fmt(e.data.quantity)} ${e.data.symbol} ${e.data.order_type} #${e.data.order_id} (${e.event})`);
  }));
  client.on("mcp_order", seen((e) => {
    const who = e.agent ? `agent ${e.agent}` : "agent";
    mark(key(e.data), e.event || "agent", `${who}: ${describe(e.data)}`);
    feed(`${who} ${e.event ?? ""}: ${e.data.action} ${fmt(e.data.quantity)} ${e.data.symbol} #${e.data.order_id}`, "mcp");
  }));
  client.on("error", seen((e) => {
    if (e.error_code === "TWS_DISCONNECTED") setTws(false);
    if (e.error_code === "TWS_RECONNECTED") setTws(true);
    const about = [e.account, e.agent && `agent ${e.agent}`].filter(Boolean).join(", ");
    feed(`${e.error_code ?? "ERROR"}: ${e.message}${about ? ` (${about})` : ""}`, "error");
  }));
  client.on("account_update", seen((e) => {
    const a = accounts.get(e.data.account) || { account: e.data.account, values: {}, positions: [] };
    Object.assign(a.values, e.data.values);
    if (e.data.base_currency) a.base_currency = e.data.base_currency;
    for (const p of e.data.positions) {
      a.positions = a.positions.filter((q) => q.con_id !== p.con_id);
      if (p.position !== 0) a.positions.push(p);
    }
    accounts.set(a.account, a);
    render();
  }));
  client.on("market_data", seen(ticker));
  pollHealth(sameServer);
  setInterval(() => pollHealth(sameServer), 2000);
  setInterval(age, 250);
}

$("connect").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const p = new URLSearchParams({ url: $("url").value });
  if ($("token").value) p.set("token", $("token").value);
  location.hash = p.toString();
  location.reload();
});

main().catch((e) => { $("state").textContent = "failed"; $("state").className = "closed"; feed(String(e), "error"); });
