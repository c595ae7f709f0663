// The Node `ws` peer for tests/benches/broadcast.rs: a plain broadcast server. Any
// client that sends {"go": N, "payload": "..."} makes it send the payload N times to
// every connected client. Prints "ready <port>" when listening.
import { WebSocketServer } from "ws";

const wss = new WebSocketServer({ host: "127.0.0.1", port: Number(process.argv[2] || 0), perMessageDeflate: false });
wss.on("listening", () => console.log(`ready ${wss.address().port}`));
wss.on("connection", (ws) => {
  ws.on("message", (data) => {
    const cmd = JSON.parse(data.toString());
    if (!cmd.go) return;
    for (let i = 0; i < cmd.go; i++) {
      const msg = cmd.payload.replace("SEQ", String(i + 1));
      for (const c of wss.clients) c.send(msg);
    }
  });
});
