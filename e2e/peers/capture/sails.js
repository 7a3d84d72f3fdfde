// Wire capture of @sailshq/socket.io-redis 6.1 + the Sails admin bus: two Sails
// 1.5 nodes (SA, SB) on one redis-server, four sails.io.js clients, every
// sails.sockets cluster operation in turn; writes captures/sails-6.1.md + fixtures.
// Usage: node capture/sails.js REDIS_PORT   (capture.sh starts redis-server)
"use strict";
const path = require("path");
const fs = require("fs");
const { createRequire } = require("module");
const L = require("./lib");

const PEER = path.join(__dirname, "..", "sails-cluster");
const req = createRequire(path.join(PEER, "package.json"));
const { io: ioc } = req("socket.io-client");
const notepack = req("notepack.io"); // 2.2.0: the adapter's own
const redis = createRequire(path.join(__dirname, "..", "socketio-cluster", "package.json"))("redis"); // node-redis 4 for the recorder
const OUT = path.join(__dirname, "..", "captures");
const REDIS_PORT = Number(process.argv[2]);
const REDIS_URL = `redis://127.0.0.1:${REDIS_PORT}`;
const ver = (m) => JSON.parse(fs.readFileSync(path.join(PEER, "node_modules", m, "package.json"))).version;

// Clients speak sails.io.js's protocol by hand over socket.io-client 4.8.1: the SDK query
// parameters on connect, and virtual requests as emit(method, {method, url, data, headers}, cb)
// answered with {body, headers, statusCode}. (sails.io.js 1.2.1 itself over socket.io-client 4
// did not connect from Node here: websocket "socket hang up".)
const SDK_QUERY = { __sails_io_sdk_version: "1.2.1", __sails_io_sdk_platform: "node", __sails_io_sdk_language: "javascript" };

async function main() {
  const rec = new L.Recorder({ redisPort: REDIS_PORT, redisModule: redis, decodeMsgpack: notepack.decode, prefix: "sails" });
  await rec.start();
  const node = async (name) => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const p = L.start(process.execPath, [path.join(PEER, "app.js"), "--port", String(port), "--redis", REDIS_URL, "--name", name], { cwd: PEER });
    return JSON.parse((await L.waitLine(p, /^READY /, 30000)).slice(6));
  };
  const A = await node("SA");
  const B = await node("SB");
  await L.sleep(300);
  await rec.nameClients();
  rec.pre.notes.push(`node SA: adapter uid \`${A.uid}\`, node SB: adapter uid \`${B.uid}\`; the admin bus has its own uid per process (uid2(6), not logged by Sails; it appears in the admin-bus JSON below)`);
  const clientList = await rec.ctl.sendCommand(["CLIENT", "LIST"]);
  rec.pre.notes.push("CLIENT LIST after both nodes lifted (each Sails node: adapter pub + sub, admin-bus pub + sub; node_redis 3 does not name its connections):\n\n```\n" + String(clientList).trim().split("\n").map((l) => l.replace(/ (fd|age|idle|qbuf|qbuf-free|argv-mem|multi-mem|obl|oll|omem|tot-mem|events|user|redir|resp|rbs|rbp|ssub|watch|lib-name|lib-ver|laddr|id|flags|db|multi)=\S*/g, "")).join("\n") + "\n```");
  const numsub = await rec.ctl.sendCommand(["PUBSUB", "NUMSUB", "socket.io-request#/#", "socket.io-response#/#", "socket.io#sails#"]);
  rec.pre.notes.push(`PUBSUB NUMSUB socket.io-request#/# socket.io-response#/# socket.io#sails# → \`${JSON.stringify(numsub)}\``);

  const got = {};
  const connect = (name, port) =>
    new Promise((resolve, reject) => {
      const s = ioc(`http://127.0.0.1:${port}`, { transports: ["websocket"], reconnection: false, forceNew: true, query: SDK_QUERY });
      got[name] = [];
      for (const ev of ["news", "direct", "message"]) s.on(ev, (d) => got[name].push([ev, d]));
      const t = setTimeout(() => reject(new Error(`${name} did not connect`)), 8000);
      s.on("connect", () => {
        clearTimeout(t);
        resolve(s);
      });
    });
  const vreq = (s, method, url, data) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no answer to ${method} ${url}`)), 5000);
      s.emit(method.toLowerCase(), { method: method.toLowerCase(), url, data, headers: {} }, (jwr) => {
        clearTimeout(t);
        resolve(jwr.body);
      });
    });
  const C = {};
  C.s1 = await connect("s1", A.port);
  C.s2 = await connect("s2", A.port);
  C.s3 = await connect("s3", B.port);
  C.s4 = await connect("s4", B.port);
  const ids = {};
  for (const k of Object.keys(C)) ids[k] = (await vreq(C[k], "GET", "/sockets/whoami")).id;
  const a = (m, p, b) => L.httpJson(m, A.port, p, b);
  const rooms = async () => {
    const out = {};
    for (const k of Object.keys(C)) out[k] = (await vreq(C[k], "GET", "/sockets/whoami")).rooms.filter((r) => r !== ids[k]);
    return out;
  };
  const received = (s) => {
    const out = {};
    for (const k of Object.keys(got)) {
      out[k] = got[k];
      got[k] = [];
    }
    s.notes.push("received by clients: `" + JSON.stringify(out) + "`");
  };
  const roomsNote = async (s) => s.notes.push("rooms of each client afterwards (own id room left out): `" + JSON.stringify(await rooms()) + "`");

  await rec.step("join", "Clients join rooms through a socket route (s1,s3 → room1; s2,s4 → room2; s4 → room3)", `// sails.io.js: io.socket.post('/sockets/join', { room }) → sails.sockets.join(req, room)`, async (s) => {
    s.notes.push(`client socket ids: ${Object.entries(ids).map(([k, v]) => `${k}=\`${v}\` (${v.length} chars)`).join(", ")}; s1,s2 on SA; s3,s4 on SB`);
    await vreq(C.s1, "POST", "/sockets/join", { room: "room1" });
    await vreq(C.s3, "POST", "/sockets/join", { room: "room1" });
    await vreq(C.s2, "POST", "/sockets/join", { room: "room2" });
    await vreq(C.s4, "POST", "/sockets/join", { room: "room2" });
    await vreq(C.s4, "POST", "/sockets/join", { room: "room3" });
    return rooms();
  });
  const op = (slug, title, code, p, body, withRooms) =>
    rec.step(slug, title, code, async (s) => {
      const r = await a("POST", p, body);
      await L.sleep(300);
      received(s);
      if (withRooms) await roomsNote(s);
      return r.body;
    });
  await op("broadcast-room", "sails.sockets.broadcast to one room", `sails.sockets.broadcast("room1", "news", { hello: "room1" })`, "/control/broadcast", { rooms: "room1", event: "news", data: { hello: "room1" } });
  await op("broadcast-rooms", "sails.sockets.broadcast to several rooms: one PUBLISH per room (a socket in both rooms gets it twice)", `sails.sockets.broadcast(["room2", "room3"], "news", "r2+r3")`, "/control/broadcast", { rooms: ["room2", "room3"], event: "news", data: "r2+r3" });
  await op("broadcast-omit", "sails.sockets.broadcast with socketToOmit (s1)", `sails.sockets.broadcast("room1", "news", "not s1", s1.id)`, "/control/broadcast", { rooms: "room1", event: "news", data: "not s1", omit: ids.s1 });
  await op("broadcast-default-event", "sails.sockets.broadcast without an event name (default event \"message\")", `sails.sockets.broadcast("room2", { d: 1 })`, "/control/broadcast", { rooms: "room2", event: "message", data: { d: 1 } });
  await op("blast", "sails.sockets.blast", `sails.sockets.blast("news", "to everyone")`, "/control/blast", { event: "news", data: "to everyone" });
  await op("join-by-id", "sails.sockets.join(socketId, room) for a socket of the OTHER node: admin bus 'join' + SOCKETS requests", `sails.sockets.join(s3.id, "room9")   // on SA; s3 is on SB`, "/control/join", { socketId: ids.s3, room: "room9" }, true);
  await op("broadcast-after-join", "broadcast to the room just joined across nodes", `sails.sockets.broadcast("room9", "direct", "to room9")`, "/control/broadcast", { rooms: "room9", event: "direct", data: "to room9" });
  await op("leave-by-id", "sails.sockets.leave(socketId, room) for a socket of the other node: admin bus 'leave'", `sails.sockets.leave(s3.id, "room9")`, "/control/leave", { socketId: ids.s3, room: "room9" }, true);
  await op("add-room-members", "sails.sockets.addRoomMembersToRooms(room1, [room10, room11])", `sails.sockets.addRoomMembersToRooms("room1", ["room10", "room11"])`, "/control/add-room-members-to-rooms", { sourceRoom: "room1", destRooms: ["room10", "room11"] }, true);
  await op("remove-room-members", "sails.sockets.removeRoomMembersFromRooms(room1, room11)", `sails.sockets.removeRoomMembersFromRooms("room1", "room11")`, "/control/remove-room-members-from-rooms", { sourceRoom: "room1", destRooms: "room11" }, true);
  await op("leave-all", "sails.sockets.leaveAll(room10): members of room10 leave every room (but their own id room)", `sails.sockets.leaveAll("room10")`, "/control/leave-all", { sourceRoom: "room10" }, true);
  await rec.step("all-sockets", "io.in(room2).allSockets(): SOCKETS request (type 0, no uid)", `await sails.io.in("room2").allSockets()`, async () => (await a("GET", "/control/all-sockets?room=room2")).body);
  await rec.step("all-rooms", "adapter.allRooms(): type 1, no uid", `await sails.io.of("/").adapter.allRooms()`, async () => (await a("GET", "/control/all-rooms")).body);
  await rec.step("fetch-sockets", "fetchSockets(): type 5, no uid; response carries the full handshake", `await sails.io.in("room2").fetchSockets()`, async () => (await a("GET", "/control/fetch-sockets?room=room2")).body);

  for (const s of Object.values(C)) s.disconnect();
  await rec.stop();
  await L.stopAll();
  const fixtureIndex = [];
  const header = `# @sailshq/socket.io-redis 6.1 + Sails admin bus — wire capture

Generated by \`e2e/peers/capture.sh\` (\`capture/sails.js\`) on ${new Date().toISOString().slice(0, 10)}:
redis-server, two Sails ${ver("sails")} nodes (SA, SB): sails-hook-sockets ${ver("sails-hook-sockets")} (socket.io ${ver("socket.io")}),
@sailshq/socket.io-redis ${ver("@sailshq/socket.io-redis")} (notepack.io ${ver("notepack.io")}, its own socket.io-adapter ${ver("socket.io-adapter")}, node_redis ${ver("redis")});
four socket.io-client ${ver("socket.io-client")} clients speaking the sails.io.js virtual-request protocol: s1, s2 on SA; s3, s4 on SB.
Config: \`sails.config.sockets = { adapter: '@sailshq/socket.io-redis', url: 'redis://127.0.0.1:PORT' }\` (key default \`socket.io\`).

Every message published on Redis was caught by a \`PSUBSCRIBE *\` client; every command by \`redis-cli MONITOR\`.
Raw bytes of each message are in \`fixtures/\` (see fixtures/README.md).
`;
  rec.write(path.join(OUT, "sails-6.1.md"), path.join(OUT, "fixtures"), header, fixtureIndex);
  fs.writeFileSync(path.join(OUT, "raw", "sails-monitor.txt"), rec.monitorAll.join("\n") + "\n");
  fs.writeFileSync(path.join(OUT, "fixtures", "sails-index.json"), JSON.stringify(fixtureIndex, null, 1));
  console.log(`sails capture: ${rec.steps.length} steps, ${fixtureIndex.length} messages`);
}

const deadline = setTimeout(() => {
  console.error("sails capture: overall deadline (120 s) reached");
  L.stopAll().finally(() => process.exit(3));
}, 120000);
main()
  .then(() => clearTimeout(deadline))
  .catch(async (e) => {
    console.error(e);
    await L.stopAll();
    process.exit(1);
  });
