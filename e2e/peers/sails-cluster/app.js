// A minimal Sails 1.5 app (sails-hook-sockets 3 = socket.io 4.8.1) clustered
// over Redis with @sailshq/socket.io-redis 6.1 (+ the Sails admin bus), with
// control routes for roomcast's --cluster-compat sails tests and wire captures.
// No ORM, blueprints, views, grunt, sessions, i18n, policies...
//
// Usage: node app.js [--port 1337] [--redis redis://127.0.0.1:6379] [--name sails-a]
// Env fallbacks: PORT, REDIS_URL, NODE_NAME. Prints `READY {"port":..}` when lifted.
"use strict";
const sails = require("sails");

function arg(name, env, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  if (i !== -1 && i + 1 < process.argv.length) return process.argv[i + 1];
  if (env && process.env[env] !== undefined) return process.env[env];
  return dflt;
}
const PORT = Number(arg("port", "PORT", 1337));
const REDIS_URL = arg("redis", "REDIS_URL", "redis://127.0.0.1:6379");
const NAME = arg("name", "NODE_NAME", `sails-${process.pid}`);

const asList = (v) => (v === undefined || v === null || v === "" ? [] : Array.isArray(v) ? v : [v]);
const ok = (res, extra) => res.json(Object.assign({ ok: true, node: NAME }, extra || {}));
const localSockets = () =>
  [...sails.io.of("/").sockets.values()].map((s) => ({ id: s.id, rooms: [...s.rooms] }));

const routes = {
  // ---- HTTP control routes (JSON bodies) ----
  "GET /control/info": (req, res) =>
    res.json({ node: NAME, port: PORT, uid: sails.io.of("/").adapter.uid, localSockets: localSockets(), localRooms: [...sails.io.of("/").adapter.rooms.keys()] }),
  // sails.sockets.broadcast(rooms, event, data[, socketToOmit])
  "POST /control/broadcast": (req, res) => {
    sails.sockets.broadcast(req.body.rooms, req.body.event || "message", req.body.data, req.body.omit || undefined);
    ok(res);
  },
  // sails.sockets.blast(event, data)
  "POST /control/blast": (req, res) => {
    sails.sockets.blast(req.body.event || "message", req.body.data);
    ok(res);
  },
  // sails.sockets.join(socketId, room): a socket of another node → admin bus 'join'
  "POST /control/join": (req, res) => {
    sails.sockets.join(req.body.socketId, req.body.room, (err) => (err ? res.serverError(err) : ok(res)));
  },
  "POST /control/leave": (req, res) => {
    sails.sockets.leave(req.body.socketId, req.body.room, (err) => (err ? res.serverError(err) : ok(res)));
  },
  // sails.sockets.addRoomMembersToRooms(sourceRoom, destRooms)
  "POST /control/add-room-members-to-rooms": (req, res) => {
    sails.sockets.addRoomMembersToRooms(req.body.sourceRoom, asList(req.body.destRooms), (err) => (err ? res.serverError(String(err)) : ok(res)));
  },
  "POST /control/remove-room-members-from-rooms": (req, res) => {
    sails.sockets.removeRoomMembersFromRooms(req.body.sourceRoom, asList(req.body.destRooms), (err) => (err ? res.serverError(String(err)) : ok(res)));
  },
  // sails.sockets.leaveAll(sourceRoom)
  "POST /control/leave-all": (req, res) => {
    sails.sockets.leaveAll(req.body.sourceRoom, (err) => (err ? res.serverError(String(err)) : ok(res)));
  },
  // io.in(room).allSockets(): a SOCKETS (type 0) request with this adapter
  "GET /control/all-sockets": (req, res) => {
    const t0 = Date.now();
    sails.io
      .in(asList(req.query.room))
      .allSockets()
      .then((s) => res.json({ sockets: [...s], ms: Date.now() - t0 }))
      .catch((e) => res.json({ error: String(e.message || e), ms: Date.now() - t0 }));
  },
  "GET /control/all-rooms": (req, res) => {
    const t0 = Date.now();
    sails.io.of("/").adapter.allRooms().then((r) => res.json({ rooms: [...r], ms: Date.now() - t0 }), (e) => res.json({ error: String(e.message || e) }));
  },
  "GET /control/fetch-sockets": (req, res) => {
    const t0 = Date.now();
    let op = sails.io.of("/");
    if (req.query.room) op = op.in(req.query.room);
    op.fetchSockets().then(
      (s) => res.json({ sockets: s.map((x) => ({ id: x.id, rooms: [...x.rooms] })), ms: Date.now() - t0 }),
      (e) => res.json({ error: String(e.message || e) }),
    );
  },
  // ---- socket routes (sails.io.js virtual requests) ----
  "POST /sockets/join": (req, res) => {
    if (!req.isSocket) return res.badRequest({ error: "socket requests only" });
    sails.sockets.join(req, req.param("room"), (err) => (err ? res.serverError(err) : ok(res, { id: sails.sockets.getId(req) })));
  },
  "POST /sockets/leave": (req, res) => {
    if (!req.isSocket) return res.badRequest({ error: "socket requests only" });
    sails.sockets.leave(req, req.param("room"), (err) => (err ? res.serverError(err) : ok(res)));
  },
  "GET /sockets/whoami": (req, res) => {
    if (!req.isSocket) return res.badRequest({ error: "socket requests only" });
    const id = sails.sockets.getId(req);
    const s = sails.io.of("/").sockets.get(id);
    ok(res, { id, rooms: s ? [...s.rooms] : [] });
  },
};

sails.lift(
  {
    appPath: __dirname,
    port: PORT,
    environment: "development",
    log: { level: process.env.SAILS_LOG || "warn" },
    hooks: {
      grunt: false,
      orm: false,
      pubsub: false,
      blueprints: false,
      views: false,
      session: false,
      i18n: false,
      policies: false,
      services: false,
      helpers: false,
      sockets: require("sails-hook-sockets"),
    },
    routes,
    sockets: {
      adapter: "@sailshq/socket.io-redis",
      url: REDIS_URL,
      transports: ["websocket"],
      beforeConnect: false,
      onlyAllowOrigins: undefined,
    },
    security: { csrf: false },
  },
  (err) => {
    if (err) {
      console.error(err);
      process.exit(1);
    }
    console.log(`READY ${JSON.stringify({ port: PORT, name: NAME, uid: sails.io.of("/").adapter.uid, pid: process.pid, sails: require("sails/package.json").version })}`);
  },
);
const stop = () => {
  sails.lower(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
