// A client as the seed system's users wrote them, on Node's built-in WebSocket: subscribe
// to the order events on the local endpoint and log each message, parsed.
const socket = new WebSocket("ws://localhost:8000/websocket/ws");

socket.addEventListener("open", () => {
  console.log("connected");
  socket.send(JSON.stringify({ type: "subscribe", message_types: ["order_update", "order_notification", "mcp_order"] }));
});
socket.addEventListener("message", (event) => console.log("received:", JSON.parse(event.data)));
socket.addEventListener("close", () => console.log("closed"));
socket.addEventListener("error", (error) => console.error("websocket error:", error.message ?? error));
