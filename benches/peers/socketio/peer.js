// socket.io 4.8 peer: the sails.io.js virtual-request convention on plain socket.io.
// A client emits "post" with {method, url, data, headers} and an ack; we answer
// {body, headers, statusCode}. Usage: node peer.js [port]
"use strict";
const { Server } = require("socket.io");

const port = Number(process.argv[2] || 1339);
const io = new Server(port, {
  transports: ["websocket"],
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
console.log(`socket.io ${require("socket.io/package.json").version} peer on 127.0.0.1:${port}`);
