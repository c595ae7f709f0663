// The edge relay's host: a Worker that routes each connection to its tenant's
// Durable Object, and the Durable Object that runs the wasm relay. This file only
// moves bytes and state; every protocol decision (auth, scopes, limits, replay, close
// codes) is made by the Rust relay in ../src (compiled to pkg/ by tests/run).
import { WasmRelay, initSync } from "./pkg/ibws_relay_wasm.js";
import wasmModule from "./pkg/ibws_relay_wasm_bg.wasm";

initSync({ module: wasmModule });

const TOKEN_PARAMS = ["token", "access_token", "jwt", "auth", "authorization", "bearer"];

function relayConfig(env, tenant) {
  return JSON.stringify({
    tenant,
    jwt_secret: env.JWT_SECRET || undefined,
    jwt_public_key: env.JWT_PUBLIC_KEY || undefined,
    issuer: env.JWT_ISSUER || "ibws",
    audience: env.JWT_AUDIENCE || "ibws",
  });
}

function offered(req) {
  return (req.headers.get("Sec-WebSocket-Protocol") || "").split(",").map((s) => s.trim()).filter(Boolean);
}

/** Accepts the upgrade only to say why it is refused (browsers see only close codes). */
function refuse(code, reason) {
  const [client, server] = Object.values(new WebSocketPair());
  server.accept();
  server.send(JSON.stringify({ type: "error", message: reason, error_code: reason.toUpperCase().replace(/ /g, "_"), timestamp: new Date().toISOString() }));
  server.close(code, reason);
  return new Response(null, { status: 101, webSocket: client });
}

export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    if (url.pathname === "/healthz") return new Response(JSON.stringify({ status: "ok" }), { headers: { "content-type": "application/json" } });
    if (url.pathname !== "/websocket/ws" && url.pathname !== "/bridge/ws") return new Response("not found\n", { status: 404 });
    if (req.headers.get("Upgrade") !== "websocket") return new Response("WebSocket upgrade required\n", { status: 426 });
    if (TOKEN_PARAMS.some((k) => url.searchParams.has(k))) return refuse(4500, "invalid token");
    const origin = req.headers.get("Origin");
    const allowed = (env.ALLOWED_ORIGINS || "").split(",").map((s) => s.trim()).filter(Boolean);
    // A foreign page is refused before the upgrade, so it never sees its socket open.
    if (origin && !allowed.includes(origin) && !allowed.includes("*")) return new Response("origin not allowed\n", { status: 403 });
    // Route by tenant: from a verified bearer subprotocol, else the `tenant` parameter
    // (not secret; the Durable Object checks the token's tenant against it).
    let tenant = url.searchParams.get("tenant");
    const bearer = offered(req).find((p) => p.startsWith("bearer."));
    if (bearer) {
      const probe = new WasmRelay(relayConfig(env, "-"));
      const t = probe.tokenTenant(bearer.slice(7), Date.now());
      probe.free();
      if (!t) return refuse(4500, "invalid token");
      tenant = t;
    }
    if (!tenant || tenant.length > 128) return refuse(4505, "auth required");
    const headers = new Headers(req.headers);
    headers.set("x-ibws-tenant", tenant);
    const stub = env.TENANT.get(env.TENANT.idFromName(tenant));
    return stub.fetch(new Request(req, { headers }));
  },
};

export class Tenant {
  constructor(state, env) {
    this.state = state;
    this.env = env;
    this.relay = null;
    this.sockets = new Map();
    this.nextId = 1;
    state.blockConcurrencyWhile(() => this.wake());
  }

  // After eviction: rebuild the relay from storage and the sockets' attachments.
  async wake() {
    const tenant = await this.state.storage.get("tenant");
    if (!tenant) return;
    this.relay = new WasmRelay(relayConfig(this.env, tenant));
    const stream = await this.state.storage.get("stream");
    if (stream) this.relay.restoreStream(stream);
    this.nextId = (await this.state.storage.get("nextId")) || 1;
    for (const ws of this.state.getWebSockets()) {
      const a = ws.deserializeAttachment();
      if (!a) continue;
      this.sockets.set(a.id, ws);
      if (a.role === "bridge") this.relay.setBridgeAuthed(!!a.authed);
      else if (a.session) this.relay.restoreSession(a.id, a.session, Date.now());
    }
  }

  async fetch(req) {
    const url = new URL(req.url);
    if (!this.relay) {
      const tenant = req.headers.get("x-ibws-tenant");
      this.relay = new WasmRelay(relayConfig(this.env, tenant));
      await this.state.storage.put("tenant", tenant);
    }
    const [client, server] = Object.values(new WebSocketPair());
    const id = this.nextId++;
    await this.state.storage.put("nextId", this.nextId);
    const role = url.pathname === "/bridge/ws" ? "bridge" : "client";
    this.state.acceptWebSocket(server, [role]);
    const a = { id, role };
    server.serializeAttachment(a);
    this.sockets.set(id, server);
    const headers = new Headers();
    const protos = offered(req);
    if (protos.includes("ibws")) headers.set("Sec-WebSocket-Protocol", "ibws");
    if (role === "client") {
      const bearer = protos.find((p) => p.startsWith("bearer."));
      this.relay.clientOpen(id, url.searchParams.get("client_id") || undefined, bearer ? bearer.slice(7) : undefined, Date.now());
      this.saveSession(server, a);
      this.flush();
    }
    await this.ensureAlarm();
    return new Response(null, { status: 101, webSocket: client, headers });
  }

  async webSocketMessage(ws, msg) {
    const a = ws.deserializeAttachment();
    const now = Date.now();
    if (a.role === "bridge") {
      if (typeof msg !== "string") {
        ws.close(4506, "unsupported data");
        return;
      }
      const r = JSON.parse(this.relay.bridgeText(msg, now));
      if (r.close) {
        if (r.reply) ws.send(r.reply);
        ws.close(r.close, "refused");
        this.relay.bridgeClosed();
        this.flush();
        return;
      }
      if (!a.authed) {
        a.authed = true;
        ws.serializeAttachment(a);
      }
      // An ack promises the event is stored: write first, acknowledge after. A failed
      // write acknowledges nothing and drops the bridge, which reconnects and resends.
      try {
        await this.state.storage.put("stream", this.relay.streamState());
      } catch (e) {
        console.error(`tenant stream not stored: ${e && e.name}`);
        ws.close(4000, "storage write failed");
        this.relay.bridgeClosed();
        this.flush();
        return;
      }
      if (r.reply) ws.send(r.reply);
    } else if (typeof msg === "string") {
      this.relay.clientText(a.id, msg, now);
      this.saveSession(ws, a);
    } else {
      this.relay.clientBinary(a.id, msg.byteLength, now);
    }
    this.flush();
  }

  async webSocketClose(ws) {
    this.closed(ws);
  }

  async webSocketError(ws) {
    this.closed(ws);
  }

  closed(ws) {
    const a = ws.deserializeAttachment();
    if (!a || !this.relay) return;
    this.sockets.delete(a.id);
    if (a.role === "bridge") this.relay.bridgeClosed();
    else this.relay.clientClosed(a.id);
    this.flush();
  }

  async alarm() {
    if (this.relay) {
      this.relay.tick(Date.now());
      this.flush();
    }
    await this.ensureAlarm();
  }

  async ensureAlarm() {
    if (this.sockets.size > 0 && (await this.state.storage.getAlarm()) === null) {
      await this.state.storage.setAlarm(Date.now() + 1000);
    }
  }

  saveSession(ws, a) {
    const s = this.relay.sessionState(a.id);
    if (s && s !== a.session) {
      a.session = s;
      ws.serializeAttachment(a);
    }
  }

  flush() {
    for (const o of JSON.parse(this.relay.drain())) {
      const ws = this.sockets.get(o.id);
      if (!ws) continue;
      for (const f of o.frames) {
        try { ws.send(f); } catch { /* closing */ }
      }
      if (o.kind === "close") {
        try { ws.close(o.code, o.reason); } catch { /* already closed */ }
        this.sockets.delete(o.id);
      }
    }
  }
}
