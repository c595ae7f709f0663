// Peer server for the ibws benchmark: Node with `ws` 8.23. Subscribers connect to
// /sub; every text frame the publisher sends on /pub is sent to every subscriber.
// Usage: node node-ws.mjs PORT   (ws comes from tests/bench/node_modules)
import { createRequire } from "node:module";
const require = createRequire(new URL("../package.json", import.meta.url));
const { WebSocketServer } = require("ws");
const port = Number(process.argv[2]);
const wss = new WebSocketServer({ host: "127.0.0.1", port, perMessageDeflate: false, clientTracking: false });
const subs = new Set();
wss.on("connection", (ws, req) => {
  if (req.url === "/pub") {
    ws.on("message", (data) => {
      for (const s of subs) s.send(data, { binary: false });
    });
  } else {
    subs.add(ws);
    ws.on("close", () => subs.delete(ws));
  }
});
wss.on("listening", () => console.log("ready"));
