// socket.io 4.8 peer: the sails.io.js virtual-request convention on plain socket.io.
// A client emits "post" with {method, url, data, headers} and an ack; we answer
// {body, headers, statusCode}. Usage: node peer.js [port]
//
// Cluster mode: with REDIS_URL set (e.g. REDIS_URL=redis://127.0.0.1:6379) the
// server uses @socket.io/redis-adapter 8 (the classic pub/sub adapter) over the
// `redis` v4 client, so /sockets/broadcast also reaches the clients of every
// other peer process on that Redis. The broadcast is acked once it is handed
// to the adapter (published), not once the other processes delivered it.
//
// Transports: WebSocket only, unless TRANSPORTS names others (compare.sh's
// long-polling scenarios set TRANSPORTS=polling,websocket, socket.io's default).
"use strict";
const { Server } = require("socket.io");

const port = Number(process.argv[2] || 1339);
const redisUrl = process.env.REDIS_URL || "";
const transports = (process.env.TRANSPORTS || "websocket").split(",");
const io = new Server({
  transports,
  allowEIO3: true,
  serveClient: false,
  perMessageDeflate: false,
});

function handle(socket, req, ack) {
  const reply = (statusCode, body) => {
    if (typeof ack === "function") ack({ body, headers: {}, statusCode });
  };
  const data = (req && req.data) || {};
  const url = req && req.url;
  if (url === "/sockets/join" && typeof data.room === "string") {
    socket.join(data.room);
    return reply(200, { ok: true });
  }
  if (url === "/sockets/broadcast") {
    const rooms = Array.isArray(data.rooms) ? data.rooms : [data.rooms];
    io.to(rooms).emit(data.event || "message", data.data);
    return reply(200, { ok: true });
  }
  return reply(404, { error: "E_NOT_FOUND" });
}

io.on("connection", (socket) => {
  for (const method of ["get", "post", "put", "patch", "delete"]) {
    socket.on(method, (req, ack) => handle(socket, req, ack));
  }
});

async function main() {
  let mode = "single node";
  if (redisUrl) {
    const { createClient } = require("redis");
    const { createAdapter } = require("@socket.io/redis-adapter");
    const pubClient = createClient({ url: redisUrl });
    const subClient = pubClient.duplicate();
    for (const c of [pubClient, subClient]) {
      c.on("error", (e) => console.error(`redis: ${e.message}`));
    }
    await Promise.all([pubClient.connect(), subClient.connect()]);
    io.adapter(createAdapter(pubClient, subClient));
    mode = `@socket.io/redis-adapter ${require("@socket.io/redis-adapter/package.json").version} over ${redisUrl}`;
  }
  // Listen only once the adapter is in place: no client joins the in-memory one.
  io.listen(port);
  console.log(
    `socket.io ${require("socket.io/package.json").version} peer on 127.0.0.1:${port} (${mode}; transports ${transports.join(",")})`
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
