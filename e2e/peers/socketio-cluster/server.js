// A socket.io 4.8 node on @socket.io/redis-adapter 8 ("classic" pub/sub, not
// sharded), with a control HTTP API under /control/ on the same port, for
// roomcast's --cluster-compat socketio tests and wire captures.
//
// Usage: node server.js [--port 0] [--redis redis://127.0.0.1:6379] [--key socket.io]
//                       [--name node-a] [--requests-timeout 5000]
// Env fallbacks: PORT, REDIS_URL, KEY, NODE_NAME, REQUESTS_TIMEOUT.
// Prints one line `READY {"port":..,"uid":"..",...}` on stdout when listening.
"use strict";
const http = require("http");
const { Server } = require("socket.io");
const { createClient } = require("redis");
const { createAdapter } = require("@socket.io/redis-adapter");

function arg(name, env, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  if (i !== -1 && i + 1 < process.argv.length) return process.argv[i + 1];
  if (env && process.env[env] !== undefined) return process.env[env];
  return dflt;
}
const PORT = Number(arg("port", "PORT", 0));
const REDIS_URL = arg("redis", "REDIS_URL", "redis://127.0.0.1:6379");
const KEY = arg("key", "KEY", "socket.io");
const NAME = arg("name", "NODE_NAME", `node-${process.pid}`);
const REQUESTS_TIMEOUT = Number(arg("requests-timeout", "REQUESTS_TIMEOUT", 5000));

// Values in JSON bodies may carry binary as {"$hex": "0102"} or {"$base64": ".."},
// a Date as {"$date": "2024-01-01T00:00:00Z"}, undefined as {"$undefined": true}
// (turned into a Buffer before emitting); Buffers in results come back as {"$hex": ".."}.
function reviveBinary(v) {
  if (Array.isArray(v)) return v.map(reviveBinary);
  if (v && typeof v === "object") {
    if (typeof v.$hex === "string" && Object.keys(v).length === 1) return Buffer.from(v.$hex, "hex");
    if (typeof v.$base64 === "string" && Object.keys(v).length === 1) return Buffer.from(v.$base64, "base64");
    if (typeof v.$date === "string" && Object.keys(v).length === 1) return new Date(v.$date);
    if (v.$undefined === true && Object.keys(v).length === 1) return undefined;
    const o = {};
    for (const k of Object.keys(v)) o[k] = reviveBinary(v[k]);
    return o;
  }
  return v;
}
function showBinary(v) {
  if (Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return { $hex: Buffer.from(v.buffer ? v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength) : v).toString("hex") };
  if (Array.isArray(v)) return v.map(showBinary);
  if (v && typeof v === "object") {
    const o = {};
    for (const k of Object.keys(v)) o[k] = showBinary(v[k]);
    return o;
  }
  return v;
}
const asList = (v) => (v === undefined || v === null || v === "" ? [] : Array.isArray(v) ? v : [v]);

// A broadcast operator from {rooms, except, flags:{volatile, compress, local}}.
function target(body) {
  let op = io.of(body.nsp || "/");
  let b = null;
  const rooms = asList(body.rooms !== undefined ? body.rooms : body.room);
  if (rooms.length) b = (b || op).to(rooms);
  const except = asList(body.except);
  if (except.length) b = (b || op).except(except);
  const flags = body.flags || {};
  if (flags.volatile) b = (b || op).volatile;
  if (flags.compress === false) b = (b || op).compress(false);
  if (flags.local) b = (b || op).local;
  return b || op;
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const c of req) {
    size += c.length;
    if (size > 1 << 20) throw new Error("body too large");
    chunks.push(c);
  }
  const s = Buffer.concat(chunks).toString();
  return s ? JSON.parse(s) : {};
}

const serverSideEvents = []; // what this node received through serverSideEmit
const routes = {
  "GET /control/info": async () => ({
    name: NAME,
    uid: io.of("/").adapter.uid,
    key: KEY,
    port: httpServer.address().port,
    localSockets: [...io.of("/").sockets.values()].map((s) => ({ id: s.id, rooms: [...s.rooms] })),
    localRooms: [...io.of("/").adapter.rooms.keys()],
    serverCount: await io.of("/").adapter.serverCount(),
  }),
  // io.to(rooms).except(except).emit(event, ...args)
  "POST /control/broadcast": async (b) => {
    const args = b.args !== undefined ? reviveBinary(b.args) : [reviveBinary(b.data)];
    target(b).emit(b.event || "message", ...args);
    return { ok: true };
  },
  // io.timeout(ms).to(rooms).emit(event, ...args, (err, responses) => ..)
  "POST /control/broadcast-with-ack": async (b) => {
    const args = b.args !== undefined ? reviveBinary(b.args) : [reviveBinary(b.data)];
    const started = Date.now();
    return new Promise((resolve) => {
      target(b)
        .timeout(Number(b.timeout || 2000))
        .emit(b.event || "message", ...args, (err, responses) =>
          resolve({ err: err ? String(err.message || err) : null, responses: showBinary(responses), ms: Date.now() - started }),
        );
    });
  },
  // io.in(room).except(except).fetchSockets()
  "GET /control/fetch-sockets": async (b) => {
    const started = Date.now();
    const sockets = await target(b).fetchSockets();
    return {
      ms: Date.now() - started,
      sockets: sockets.map((s) => ({ id: s.id, rooms: [...s.rooms], data: s.data, remote: !io.of("/").sockets.has(s.id) })),
    };
  },
  // io.in(room).allSockets(): adapter 8 does NOT override sockets(): local only.
  "GET /control/all-sockets": async (b) => ({ sockets: [...(await target(b).allSockets())] }),
  // io.in(from).except(except).socketsJoin(rooms)
  "POST /control/sockets-join": async (b) => {
    target(b).socketsJoin(asList(b.join));
    return { ok: true };
  },
  "POST /control/sockets-leave": async (b) => {
    target(b).socketsLeave(asList(b.leave));
    return { ok: true };
  },
  "POST /control/disconnect-sockets": async (b) => {
    target(b).disconnectSockets(!!b.close);
    return { ok: true };
  },
  // io.serverSideEmit(event, ...args[, ack]): with {ack:true} waits for the others' answers.
  "POST /control/server-side-emit": async (b) => {
    const args = b.args !== undefined ? b.args : b.data !== undefined ? [b.data] : [];
    if (!b.ack) {
      io.serverSideEmit(b.event || "ping", ...args);
      return { ok: true };
    }
    const started = Date.now();
    try {
      // the adapter's requestsTimeout applies (--requests-timeout)
      const responses = await io.serverSideEmitWithAck(b.event || "ping", ...args);
      return { err: null, responses, ms: Date.now() - started };
    } catch (err) {
      return { err: String(err.message || err), ms: Date.now() - started };
    }
  },
  "GET /control/server-side-events": async () => ({ events: serverSideEvents }),
  // io.of('/').adapter.allRooms()
  "GET /control/all-rooms": async () => {
    const started = Date.now();
    const rooms = await io.of("/").adapter.allRooms();
    return { rooms: [...rooms], ms: Date.now() - started };
  },
};

const httpServer = http.createServer(async (req, res) => {
  const u = new URL(req.url, "http://x");
  const handler = routes[`${req.method} ${u.pathname}`];
  if (!handler) return; // socket.io's own listener answers /socket.io/; others are left to time out
  let status = 200;
  let out;
  try {
    const body = req.method === "GET" ? Object.fromEntries(u.searchParams) : await readBody(req);
    if (req.method === "GET" && body.rooms && body.rooms.includes(",")) body.rooms = body.rooms.split(",");
    if (req.method === "GET" && body.except && body.except.includes(",")) body.except = body.except.split(",");
    out = await handler(body);
  } catch (err) {
    status = 500;
    out = { error: String((err && err.message) || err) };
  }
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(out));
});
// Any path other than /socket.io/ and /control/* gets a 404.
httpServer.prependListener("request", (req, res) => {
  if (!req.url.startsWith("/socket.io/") && !req.url.startsWith("/control/")) {
    res.writeHead(404).end();
  } else if (req.url.startsWith("/control/") && !routes[`${req.method} ${new URL(req.url, "http://x").pathname}`]) {
    res.writeHead(404, { "content-type": "application/json" }).end('{"error":"no such control route"}');
  }
});

const io = new Server(httpServer, { cors: { origin: "*" } });
// A second namespace, so that its adapter (and channels) exist from the start.
for (const nsp of ["/", "/admin"]) {
  io.of(nsp).on("connection", (socket) => {
    socket.data = { node: NAME, auth: socket.handshake.auth };
    // Clients join / leave rooms themselves: socket.emit('join', room | [rooms], ack)
    socket.on("join", (rooms, ack) => {
      socket.join(rooms);
      if (typeof ack === "function") ack({ id: socket.id, rooms: [...socket.rooms] });
    });
    socket.on("leave", (room, ack) => {
      socket.leave(room);
      if (typeof ack === "function") ack({ id: socket.id, rooms: [...socket.rooms] });
    });
    socket.on("whoami", (...a) => {
      const ack = a[a.length - 1];
      if (typeof ack === "function") ack({ id: socket.id, node: NAME, rooms: [...socket.rooms] });
    });
  });
}

// serverSideEmit receivers: every event is logged; an ack (if asked for) answers {node, event, args}.
const origOnServerSideEmit = io.of("/")._onServerSideEmit.bind(io.of("/"));
io.of("/")._onServerSideEmit = (args) => {
  const last = args[args.length - 1];
  const withAck = typeof last === "function";
  const plain = withAck ? args.slice(0, -1) : args;
  serverSideEvents.push({ event: plain[0], args: plain.slice(1), withAck, at: Date.now() });
  if (serverSideEvents.length > 1000) serverSideEvents.shift();
  if (withAck && !io.of("/").listeners(plain[0]).length) last({ node: NAME, event: plain[0], args: plain.slice(1) });
  return origOnServerSideEmit(args);
};

async function main() {
  // Named connections (CLIENT SETNAME on connect) make MONITOR / CLIENT LIST readable.
  const pubClient = createClient({ url: REDIS_URL, name: `${NAME}-pub` });
  const subClient = pubClient.duplicate({ name: `${NAME}-sub` });
  pubClient.on("error", (e) => console.error("redis pub error:", e.message));
  subClient.on("error", (e) => console.error("redis sub error:", e.message));
  await Promise.all([pubClient.connect(), subClient.connect()]);
  io.adapter(createAdapter(pubClient, subClient, { key: KEY, requestsTimeout: REQUESTS_TIMEOUT }));
  httpServer.listen(PORT, "127.0.0.1", () => {
    const info = { port: httpServer.address().port, uid: io.of("/").adapter.uid, name: NAME, key: KEY, pid: process.pid };
    console.log(`READY ${JSON.stringify(info)}`);
  });
  const stop = () => {
    io.close();
    Promise.allSettled([pubClient.quit(), subClient.quit()]).finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
