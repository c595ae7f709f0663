// A React app as Vite's React template makes one (StrictMode on), using the ibws-web
// package with the hook README shows. StrictMode mounts, unmounts and mounts every
// effect once more in development: the hook must still end up with one connection
// and every update handled once.
import { StrictMode, useEffect, useRef, useState } from "react";
import { createRoot } from "react-dom/client";
import init, { IbwsClient, type ConnectionState, type MessageType, type ServerEvent } from "ibws-web";

// The hook from README: the client, its handlers and its close live in one effect.
function useIbws(url: string, types: MessageType[], onEvent: (e: ServerEvent) => void): ConnectionState {
  const [state, setState] = useState<ConnectionState>("connecting");
  const handler = useRef(onEvent);
  handler.current = onEvent;
  useEffect(() => {
    const client = IbwsClient.connect(url, { subscribe: types });
    client.onState((s: ConnectionState) => setState(s));
    client.on("*", (e: ServerEvent) => handler.current(e));
    return () => client.close();
  }, [url]);
  return state;
}

const result = { state: "connecting" as ConnectionState, handled: 0, duplicates: 0 };
(window as any).ibwsResult = result;
const seen = new Set<number>();

function Orders({ url }: { url: string }) {
  const [last, setLast] = useState<string>("");
  const state = useIbws(url, ["order_update"], (e) => {
    const seq = (e as { seq?: number }).seq;
    if (seq !== undefined) {
      if (seen.has(seq)) result.duplicates += 1;
      seen.add(seq);
    }
    result.handled += 1;
    if (e.type === "order_update") setLast(`${e.data.order_id} ${e.data.symbol} ${e.data.status}`);
  });
  result.state = state;
  return (
    <div>
      <p id="state">{state}</p>
      <p id="last">{last}</p>
    </div>
  );
}

await init();
const url = new URLSearchParams(location.search).get("ws") ?? "ws://127.0.0.1:8000/websocket/ws";
createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <Orders url={url} />
  </StrictMode>,
);
