// A minimal uWebSockets.js pub/sub server for `wavecast bench` (see
// ../README.md): its native topics, nothing else.
//
//   WS   /sub/:channel  subscribes the connection to topic `channel`
//   POST /pub/:channel  publishes the body verbatim (a text frame) to every
//                       subscriber; answers {"delivered":N}, N the topic's
//                       subscribers at that moment
//
// PORT (default 9001) and MAX_BACKPRESSURE (bytes queued per socket before
// uWS skips it, default 1 MiB) come from the environment.
"use strict";

const uWS = require("@trufflesuite/uws-js-unofficial");

const port = Number(process.env.PORT || 9001);
const maxBackpressure = Number(process.env.MAX_BACKPRESSURE || 1024 * 1024);
const app = uWS.App();

app.ws("/sub/:channel", {
  maxBackpressure,
  // uWS sends Pings itself and closes a connection silent for this long.
  idleTimeout: 120,
  upgrade: (res, req, context) => {
    res.upgrade(
      { channel: req.getParameter(0) },
      req.getHeader("sec-websocket-key"),
      req.getHeader("sec-websocket-protocol"),
      req.getHeader("sec-websocket-extensions"),
      context
    );
  },
  open: (ws) => {
    ws.subscribe(ws.getUserData().channel);
  },
  message: () => {},
});

app.post("/pub/:channel", (res, req) => {
  const channel = req.getParameter(0);
  const chunks = [];
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  res.onData((chunk, isLast) => {
    // uWS reuses the chunk's memory after this call: copy it.
    chunks.push(Buffer.from(chunk.slice(0)));
    if (!isLast) return;
    const body = Buffer.concat(chunks);
    const delivered = app.numSubscribers(channel);
    app.publish(channel, body, false);
    if (aborted) return;
    res.cork(() => {
      res
        .writeHeader("content-type", "application/json")
        .end(`{"delivered":${delivered}}`);
    });
  });
});

app.listen("127.0.0.1", port, (token) => {
  if (!token) {
    console.error(`uws peer: cannot listen on 127.0.0.1:${port}`);
    process.exit(1);
  }
  console.log(`uws peer: listening on 127.0.0.1:${port} (pid ${process.pid})`);
});
