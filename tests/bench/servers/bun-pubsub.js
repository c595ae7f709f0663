// Peer server for the ibws benchmark: Bun's built-in WebSocket pub/sub (uWebSockets).
// Subscribers connect to /sub and are subscribed to one topic; the publisher connects
// to /pub and every text frame it sends is published to the topic. With a certificate
// and its key it serves wss:// (Bun's `tls` option). Usage:
//   bun bun-pubsub.js PORT [CERT.pem KEY.pem]
const [port, cert, key] = [Number(process.argv[2]), process.argv[3], process.argv[4]];
const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  ...(cert ? { tls: { cert: Bun.file(cert), key: Bun.file(key) } } : {}),
  fetch(req, srv) {
    const path = new URL(req.url).pathname;
    if (srv.upgrade(req, { data: { pub: path === "/pub" } })) return undefined;
    return new Response("websocket only", { status: 400 });
  },
  websocket: {
    perMessageDeflate: false,
    // deliver everything: never drop a slow subscriber (what ibws promises too)
    backpressureLimit: 1024 * 1024 * 1024,
    closeOnBackpressureLimit: false,
    idleTimeout: 0,
    open(ws) {
      if (!ws.data.pub) ws.subscribe("events");
    },
    message(ws, msg) {
      if (ws.data.pub) server.publish("events", msg);
    },
  },
});
console.log("ready");
