// The ibws dashboard: a view over the ibws wasm client. It holds no protocol code of
// its own; connection, auth, reconnect, heartbeat and resume are the client's.
import init, { IbwsClient } from "/ibws_web.js";

const $ = (id) => document.getElementById(id);
const orders = new Map(); // perm_id (or order_id) -> order
const accounts = new Map();
const ALL = ["order_update", "order_notification", "mcp_order", "account_update", "market_data", "error"];

// Where to connect: the URL fragment (#url=...&token=...) never reaches server logs;
// the query string is never used for tokens.
function target() {
  const f = new URLSearchParams(location.hash.slice(1));
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return { url: f.get("url") || `${proto}//${location.host}/websocket/ws`, token: f.get("token") || undefined };
}

const fmt = (v) => (v === undefined || v === null ? "–" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : String(v));
const key = (o) => String(o.perm_id ?? `id${o.client_id ?? 0}:${o.order_id}`);

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
}

function renderOrders() {
  const body = $("orders").tBodies[0];
  const rows = [...orders.values()].sort((a, b) => (b.perm_id ?? b.order_id) - (a.perm_id ?? a.order_id));
  body.replaceChildren();
  for (const o of rows) {
    const tr = body.insertRow();
    tr.dataset.perm = key(o);
    if (o.agent) tr.className = "agent";
    cell(tr, fmt(o.order_id)); cell(tr, o.symbol); cell(tr, o.action); cell(tr, fmt(o.quantity), "num");
    cell(tr, o.order_type); cell(tr, fmt(o.price), "num"); cell(tr, o.status, `status ${o.status}`);
    cell(tr, fmt(o.filled), "num"); cell(tr, fmt(o.remaining), "num"); cell(tr, fmt(o.avg_fill_price), "num");
    cell(tr, o.account ?? "");
  }
  $("count").textContent = `(${rows.length})`;
}

let pending = false;
function render() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; renderOrders(); renderAccounts(); });
}

function upsert(data, extra = {}) {
  const k = key(data);
  const old = orders.get(k) || {};
  const merged = { ...old, ...Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined)), ...extra };
  merged.agent = old.agent || extra.agent || (data.order_ref || "").toLowerCase().startsWith("mcp");
  orders.set(k, merged);
  render();
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

function ticker(m) {
  let el = document.querySelector(`.ticker[data-symbol="${CSS.escape(m.symbol)}"]`);
  if (!el) {
    el = document.createElement("div"); el.className = "ticker"; el.dataset.symbol = m.symbol;
    $("tickers").append(el);
  }
  const q = m.data;
  el.replaceChildren();
  const b = document.createElement("b"); b.textContent = m.symbol; el.append(b);
  el.append(`${fmt(q.bid_size)} × ${fmt(q.bid)} / ${fmt(q.ask)} × ${fmt(q.ask_size)}  last ${fmt(q.last)} (${fmt(q.last_size)})  vol ${fmt(q.volume)}`);
}

async function main() {
  await init({ module_or_path: "/ibws_web_bg.wasm" });
  const { url, token } = target();
  $("target").textContent = url;
  $("url").value = url;
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
    render();
  });
  client.onResnapshot(() => feed("missed events could not be replayed: reloading the order table"));
  client.on("order_update", (e) => upsert(e.data));
  client.on("order_notification", (e) => { upsert(e.data); feed(`${e.action} ${e.data.action} ${fmt(e.data.quantity)} ${e.data.symbol} ${e.data.order_type} #${e.data.order_id} (${e.event})`); });
  client.on("mcp_order", (e) => { upsert(e.data, { agent: true }); feed(`${e.action}: ${e.data.action} ${fmt(e.data.quantity)} ${e.data.symbol}`, "mcp"); });
  client.on("error", (e) => feed(`${e.error_code ?? "ERROR"}: ${e.message}`, "error"));
  client.on("account_update", (e) => {
    const a = accounts.get(e.data.account) || { account: e.data.account, values: {}, positions: [] };
    Object.assign(a.values, e.data.values);
    if (e.data.base_currency) a.base_currency = e.data.base_currency;
    for (const p of e.data.positions) {
      a.positions = a.positions.filter((q) => q.con_id !== p.con_id);
      if (p.position !== 0) a.positions.push(p);
    }
    accounts.set(a.account, a);
    render();
  });
  client.on("market_data", ticker);
}

$("connect").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const p = new URLSearchParams({ url: $("url").value });
  if ($("token").value) p.set("token", $("token").value);
  location.hash = p.toString();
  location.reload();
});

main().catch((e) => { $("state").textContent = "failed"; $("state").className = "closed"; feed(String(e), "error"); });
