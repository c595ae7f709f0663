// The edge relay's host: a Worker that routes each request to its tenant's Durable
// Object, and the Durable Object that runs the wasm relay.
//
// This file only moves bytes and rows. Every decision (admission, tokens, the bridge
// session, scopes, limits, replay, close codes) is the Rust relay core's, the same
// code the native `ibws relay` runs (../src, compiled to pkg/ by build.sh). What the
// host does:
// - the Worker asks `route` and forwards, answers, or refuses as told;
// - the Durable Object accepts sockets with the hibernation API, keeps each socket's
//   session in its attachment, writes the rows the relay hands it (one per event,
//   order and account) to its SQLite storage in one transaction, acknowledges to the
//   bridge only once they are durable, sends each distinct frame text it is given to
//   the sockets listed for it, and sets one alarm for the relay's next deadline (none
//   when nothing is due, so an idle tenant sleeps).
import { WasmRelay, route, initSync, storeBatchMs, storageFailedClose } from "./pkg/ibws_relay_wasm.js";
import wasmModule from "./pkg/ibws_relay_wasm_bg.wasm";

initSync({ module: wasmModule });

function relayConfig(env, tenant) {
  return JSON.stringify({
    tenant,
    jwt_secret: env.JWT_SECRET || undefined,
    jwt_public_key: env.JWT_PUBLIC_KEY || undefined,
    issuer: env.JWT_ISSUER || "ibws",
    audience: env.JWT_AUDIENCE || "ibws",
    allowed_origins: (env.ALLOWED_ORIGINS || "").split(",").map((s) => s.trim()).filter(Boolean),
  });
}

/** Upgrades only to say why the connection is refused (browsers see only close codes). */
function refuse(code, reason, frame) {
  const [client, server] = Object.values(new WebSocketPair());
  server.accept();
  server.send(frame);
  server.close(code, reason);
  return new Response(null, { status: 101, webSocket: client });
}

export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    const facts = {
      path: url.pathname,
      query: url.search.slice(1),
      upgrade: (req.headers.get("Upgrade") || "").toLowerCase() === "websocket",
      origin: req.headers.get("Origin"),
      protocols: req.headers.get("Sec-WebSocket-Protocol"),
    };
    const r = JSON.parse(route(relayConfig(env, "-"), JSON.stringify(facts), Date.now()));
    switch (r.kind) {
      case "health":
        return new Response('{"status":"ok"}', { headers: { "content-type": "application/json" } });
      case "http":
        return new Response(r.body, { status: r.status, headers: { "content-type": "text/plain" } });
      case "refuse":
        return refuse(r.code, r.reason, r.frame);
    }
    const headers = new Headers(req.headers);
    headers.set("x-ibws-tenant", r.tenant);
    headers.set("x-ibws-role", r.bridge ? "bridge" : "client");
    headers.set("x-ibws-echo", r.echo_ibws ? "1" : "0");
    // always set, so a header of that name from outside never reaches the object
    headers.set("x-ibws-grant", r.grant);
    const stub = env.TENANT.get(env.TENANT.idFromName(r.tenant));
    return stub.fetch(new Request(req, { headers }));
  },
};

const SCHEMA = [
  "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)",
  "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, json TEXT NOT NULL)",
  "CREATE TABLE IF NOT EXISTS orders (key INTEGER PRIMARY KEY, json TEXT NOT NULL)",
  "CREATE TABLE IF NOT EXISTS accounts (account TEXT PRIMARY KEY, json TEXT NOT NULL)",
];

// How long publishes gather before their rows are written together, and how every
// socket is closed when storage fails: the relay core's values.
const STORE_BATCH_MS = storeBatchMs();
const [STORAGE_FAILED_CODE, STORAGE_FAILED_REASON] = JSON.parse(storageFailedClose());

export class Tenant {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.env = env;
    this.sql = ctx.storage.sql;
    this.relay = null;
    this.sockets = new Map();
    this.nextId = 1;
    this.alarmAt = null;
    // the newest stored position, and whether a durability wait is running
    this.stored = null;
    this.syncing = false;
    this.syncAgain = false;
    this.storeTimer = null;
    ctx.blockConcurrencyWhile(() => this.wake());
  }

  putMeta(k, v) {
    this.sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", k, String(v));
  }

  // At start and after eviction: the relay is rebuilt from the stored rows and the
  // sockets' attachments.
  async wake() {
    for (const s of SCHEMA) this.sql.exec(s);
    const meta = {};
    for (const r of this.sql.exec("SELECT k, v FROM meta")) meta[r.k] = r.v;
    this.alarmAt = await this.ctx.storage.getAlarm();
    if (!meta.tenant) return;
    const now = Date.now();
    this.relay = new WasmRelay(relayConfig(this.env, meta.tenant));
    this.nextId = Number(meta.next_id || 1);
    if (meta.epoch !== undefined) {
      this.relay.restoreBegin(meta.epoch, Number(meta.seq), meta.source_connected === "1");
      for (const r of this.sql.exec("SELECT json FROM events ORDER BY seq")) this.relay.restoreEvent(r.json);
      for (const r of this.sql.exec("SELECT json FROM orders")) this.relay.restoreOrder(r.json);
      for (const r of this.sql.exec("SELECT json FROM accounts")) this.relay.restoreAccount(r.json);
      this.relay.restoreEnd();
    }
    for (const ws of this.ctx.getWebSockets()) {
      const a = ws.deserializeAttachment();
      if (!a) continue;
      this.sockets.set(a.id, ws);
      if (a.role === "bridge") this.relay.restoreBridge(a.id, a.bridge, now);
      else if (a.session) this.relay.restoreSession(a.id, a.session, now);
    }
    this.flush();
    this.schedule(now);
  }

  async fetch(req) {
    if (!this.relay) {
      const tenant = req.headers.get("x-ibws-tenant");
      this.relay = new WasmRelay(relayConfig(this.env, tenant));
      this.putMeta("tenant", tenant);
    }
    const now = Date.now();
    const [client, server] = Object.values(new WebSocketPair());
    const id = this.nextId++;
    this.putMeta("next_id", this.nextId);
    const role = req.headers.get("x-ibws-role") === "bridge" ? "bridge" : "client";
    this.ctx.acceptWebSocket(server, [role]);
    const a = { id, role };
    server.serializeAttachment(a);
    this.sockets.set(id, server);
    if (role === "bridge") {
      this.relay.bridgeOpen(id, now);
    } else {
      this.relay.clientOpen(id, req.headers.get("x-ibws-grant") || "", now);
      this.saveSession(server, a);
    }
    this.flush();
    this.schedule(now);
    const headers = new Headers();
    if (req.headers.get("x-ibws-echo") === "1") headers.set("Sec-WebSocket-Protocol", "ibws");
    return new Response(null, { status: 101, webSocket: client, headers });
  }

  async webSocketMessage(ws, msg) {
    const a = ws.deserializeAttachment();
    if (!a || !this.relay) return;
    const now = Date.now();
    if (a.role === "bridge") {
      const hello = !a.bridge;
      const r = JSON.parse(typeof msg === "string" ? this.relay.bridgeText(a.id, msg, now) : this.relay.bridgeBinary(a.id));
      for (const f of r.send) ws.send(f);
      if (r.close) {
        this.closeSocket(a.id, r.close[0], r.close[1]);
      } else if (hello) {
        const b = this.relay.bridgeState(a.id);
        if (b) {
          a.bridge = b;
          ws.serializeAttachment(a);
        }
      }
      this.flush();
      this.storeSoon();
      if (hello || r.close) this.schedule(now);
      return;
    }
    if (typeof msg === "string") {
      this.relay.clientText(a.id, msg, now);
      this.saveSession(ws, a);
    } else {
      this.relay.clientBinary(a.id, msg.byteLength, now);
    }
    this.flush();
    // the next deadline (a scan of every client) is asked for only when the relay says
    // an input moved one earlier; an early alarm reschedules itself
    if (this.relay.deadlineMoved()) this.schedule(now);
  }

  async webSocketClose(ws) {
    this.closed(ws);
  }

  async webSocketError(ws) {
    this.closed(ws);
  }

  closed(ws) {
    const a = ws.deserializeAttachment();
    if (!a || !this.relay || !this.sockets.has(a.id)) return;
    this.sockets.delete(a.id);
    if (a.role === "bridge") this.relay.bridgeClosed(a.id);
    else this.relay.clientClosed(a.id);
    this.store();
    this.flush();
    this.schedule(Date.now());
  }

  async alarm() {
    this.alarmAt = null;
    if (!this.relay) return;
    const now = Date.now();
    this.relay.sweep(now);
    this.store();
    this.flush();
    this.schedule(now);
  }

  // One alarm at the relay's next deadline, or none.
  schedule(now) {
    const d = this.relay ? this.relay.deadline(now) : undefined;
    const want = d === undefined ? null : d;
    if (want === this.alarmAt) return;
    this.alarmAt = want;
    if (want === null) this.ctx.storage.deleteAlarm();
    else this.ctx.storage.setAlarm(want);
  }

  // Publishes arrive in bursts: their rows go to storage together a moment later, in
  // one transaction (fewer commits; the ack waits for them either way).
  storeSoon() {
    if (this.storeTimer) return;
    this.storeTimer = setTimeout(() => {
      this.storeTimer = null;
      if (this.relay) this.store();
    }, STORE_BATCH_MS);
  }

  // Writes what changed as rows, in one transaction; acknowledges once durable.
  store() {
    const text = this.relay.takeChanges();
    if (text === undefined) return;
    const c = JSON.parse(text);
    try {
      this.ctx.storage.transactionSync(() => {
        if (c.clear_events) this.sql.exec("DELETE FROM events");
        if (c.clear_tables) {
          this.sql.exec("DELETE FROM orders");
          this.sql.exec("DELETE FROM accounts");
        }
        this.sql.exec("DELETE FROM events WHERE seq < ?", c.keep_from);
        for (const [seq, json] of c.events) this.sql.exec("INSERT OR REPLACE INTO events (seq, json) VALUES (?, ?)", seq, json);
        for (const [key, row] of c.orders) {
          if (row === null) this.sql.exec("DELETE FROM orders WHERE key = ?", key);
          else this.sql.exec("INSERT OR REPLACE INTO orders (key, json) VALUES (?, ?)", key, row);
        }
        for (const [account, row] of c.accounts) this.sql.exec("INSERT OR REPLACE INTO accounts (account, json) VALUES (?, ?)", account, row);
        this.putMeta("epoch", c.epoch);
        this.putMeta("seq", c.seq);
        this.putMeta("source_connected", c.source_connected ? "1" : "0");
      });
    } catch (e) {
      this.storageFailed(e);
      return;
    }
    this.stored = [c.epoch, c.seq];
    this.ackWhenDurable();
  }

  // An ack promises the events are on disk: wait for the writes so far to be
  // durable, then acknowledge the position they reached (batched while waiting).
  ackWhenDurable() {
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = true;
    const [epoch, seq] = this.stored;
    this.ctx.storage.sync().then(
      () => {
        this.syncing = false;
        if (!this.relay) return;
        for (const [id, frame] of JSON.parse(this.relay.stored(epoch, seq))) {
          try {
            this.sockets.get(id)?.send(frame);
          } catch {
            /* closing */
          }
        }
        if (this.syncAgain) {
          this.syncAgain = false;
          this.ackWhenDurable();
        }
      },
      (e) => {
        this.syncing = false;
        this.storageFailed(e);
      },
    );
  }

  // Memory and disk disagree: close every socket (clients resume, the bridge resends
  // what was never acknowledged) and start again from what is stored.
  storageFailed(e) {
    console.error(`tenant stream not stored: ${e && e.name}`);
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.serializeAttachment(null);
        ws.close(STORAGE_FAILED_CODE, STORAGE_FAILED_REASON);
      } catch {
        /* already closed */
      }
    }
    this.sockets.clear();
    this.relay?.free();
    this.relay = null;
    this.ctx.blockConcurrencyWhile(() => this.wake());
  }

  // Keeps the client's session with its socket; true when it changed.
  saveSession(ws, a) {
    const s = this.relay.sessionState(a.id);
    if (!s || s === a.session) return false;
    a.session = s;
    ws.serializeAttachment(a);
    return true;
  }

  closeSocket(id, code, reason) {
    const ws = this.sockets.get(id);
    if (!ws) return;
    try {
      ws.close(code, reason);
    } catch {
      /* already closed */
    }
    this.sockets.delete(id);
  }

  // Sends each socket its frames (each distinct text was serialised once), then the
  // closes.
  flush() {
    const text = this.relay.drain();
    if (text === undefined) return;
    const b = JSON.parse(text);
    for (const row of b.sends) {
      const ws = this.sockets.get(row[0]);
      if (!ws) continue;
      try {
        for (let i = 1; i < row.length; i++) ws.send(b.frames[row[i]]);
      } catch {
        /* closing */
      }
    }
    for (const [id, code, reason] of b.closes) this.closeSocket(id, code, reason);
  }
}
