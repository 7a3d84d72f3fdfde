// Wire capture of @socket.io/redis-adapter 8.3 (classic) + @socket.io/redis-emitter 5:
// two socket.io 4.8 nodes (A, B) on one redis-server, four clients, every
// cluster operation in turn; writes captures/socketio-adapter-8.md and fixtures.
// Usage: node capture/socketio.js REDIS_PORT   (capture.sh starts redis-server)
"use strict";
const path = require("path");
const { createRequire } = require("module");
const L = require("./lib");

const PEER = path.join(__dirname, "..", "socketio-cluster");
const req = createRequire(path.join(PEER, "package.json"));
const { io: ioc } = req("socket.io-client");
const notepack = req("notepack.io");
const redis = req("redis");
const OUT = path.join(__dirname, "..", "captures");
const REDIS_PORT = Number(process.argv[2]);
const REDIS_URL = `redis://127.0.0.1:${REDIS_PORT}`;
const ver = (m) => JSON.parse(require("fs").readFileSync(path.join(PEER, "node_modules", m, "package.json"))).version;

async function main() {
  const rec = new L.Recorder({ redisPort: REDIS_PORT, redisModule: redis, decodeMsgpack: notepack.decode, prefix: "socketio" });
  await rec.start();
  const node = (name, port) => L.start(process.execPath, [path.join(PEER, "server.js"), "--port", String(port), "--redis", REDIS_URL, "--name", name]);
  const A = node("A", 0);
  const rA = JSON.parse((await L.waitLine(A, /^READY /)).slice(6));
  const B = node("B", 0);
  const rB = JSON.parse((await L.waitLine(B, /^READY /)).slice(6));
  await L.sleep(300);
  await rec.nameClients();
  rec.pre.notes.push(`node A: uid \`${rA.uid}\`, node B: uid \`${rB.uid}\` (uid2(6): 6 chars of [A-Za-z0-9])`);
  const clientList = await rec.ctl.sendCommand(["CLIENT", "LIST"]);
  rec.pre.notes.push("CLIENT LIST after both nodes started (sub= channels, psub= patterns):\n\n```\n" + String(clientList).trim().split("\n").map((l) => l.replace(/ (fd|age|idle|qbuf|qbuf-free|argv-mem|multi-mem|obl|oll|omem|tot-mem|events|user|redir|resp|rbs|rbp|ssub|watch|lib-name|lib-ver|laddr|id|flags|db|cmd|multi|name)=\S*/g, (x, k) => (k === "name" || k === "cmd" ? x : ""))).join("\n") + "\n```");
  const numsub = await rec.ctl.sendCommand(["PUBSUB", "NUMSUB", "socket.io-request#/#", "socket.io-response#/#", `socket.io-response#/#${rA.uid}#`, "socket.io#/#"]);
  rec.pre.notes.push(`PUBSUB NUMSUB socket.io-request#/# socket.io-response#/# socket.io-response#/#<uidA># socket.io#/# → \`${JSON.stringify(numsub)}\` (the broadcast channel has no channel subscribers: nodes PSUBSCRIBE)`);
  const numpat = await rec.ctl.sendCommand(["PUBSUB", "NUMPAT"]);
  rec.pre.notes.push(`PUBSUB NUMPAT → ${numpat} (two nodes × two namespaces "/" and "/admin", plus this capture's own \`*\`)`);

  // clients: c1,c2 on A; c3,c4 on B
  const got = {};
  const connect = (name, port, nsp = "/") =>
    new Promise((resolve, reject) => {
      const s = ioc(`http://127.0.0.1:${port}${nsp}`, { transports: ["websocket"], reconnection: false, auth: { client: name } });
      got[name] = [];
      s.onAny((ev, ...args) => got[name].push([ev, ...args]));
      s.on("ask", (x, ack) => {
        if (name !== "c4") ack({ from: name, x });
      }); // c4 never answers "ask"
      s.on("ask-all", (x, ack) => ack({ from: name, x }));
      s.on("disconnect", (r) => got[name].push(["<disconnect>", r]));
      const t = setTimeout(() => reject(new Error(`${name} did not connect`)), 5000);
      s.on("connect", () => {
        clearTimeout(t);
        resolve(s);
      });
    });
  const C = {};
  C.c1 = await connect("c1", rA.port);
  C.c2 = await connect("c2", rA.port);
  C.c3 = await connect("c3", rB.port);
  C.c4 = await connect("c4", rB.port);
  const emitAck = (s, ev, arg) => new Promise((r) => s.timeout(3000).emit(ev, arg, (e, v) => r(e ? { error: String(e) } : v)));
  const received = (s) => {
    const out = {};
    for (const k of Object.keys(got)) {
      out[k] = got[k].map((x) => JSON.parse(L.show(x)));
      got[k] = [];
    }
    s.notes.push("received by clients: `" + JSON.stringify(out) + "`");
  };
  const ids = {};
  for (const k of Object.keys(C)) ids[k] = C[k].id;
  const a = (m, p, b) => L.httpJson(m, rA.port, p, b);
  const bnode = (m, p, b) => L.httpJson(m, rB.port, p, b);

  await rec.step("join", "Clients connect and join rooms (c1,c3 → room1; c2,c4 → room2; c4 → room3)", `// c1,c2 on node A; c3,c4 on node B; in each server: socket.on('join', (rooms, ack) => { socket.join(rooms); ack(...) })`, async (s) => {
    s.notes.push(`client socket ids: ${Object.entries(ids).map(([k, v]) => `${k}=\`${v}\` (${v.length} chars)`).join(", ")}`);
    return {
      c1: await emitAck(C.c1, "join", "room1"),
      c3: await emitAck(C.c3, "join", "room1"),
      c2: await emitAck(C.c2, "join", "room2"),
      c4: await emitAck(C.c4, "join", ["room2", "room3"]),
    };
  });
  rec.steps[rec.steps.length - 1].notes.push("joining a room publishes nothing with the classic adapter (rooms are node-local state; only the sharded adapter subscribes per room)");

  const bc = async (slug, title, body, code, via = a) =>
    rec.step(slug, title, code, async (s) => {
      const r = await via("POST", "/control/broadcast", body);
      await L.sleep(250);
      received(s);
      return r.body;
    });
  await bc("broadcast-all", "Broadcast to all (node A)", { event: "news", data: { hello: "world", n: 1 } }, `io.emit("news", { hello: "world", n: 1 })`);
  await bc("broadcast-room", "Broadcast to one room", { rooms: "room1", event: "news", data: "to room1" }, `io.to("room1").emit("news", "to room1")`);
  await bc("broadcast-rooms", "Broadcast to several rooms", { rooms: ["room1", "room2"], event: "news", data: "to room1+room2" }, `io.to(["room1", "room2"]).emit("news", "to room1+room2")`);
  await bc("broadcast-except", "Broadcast with except", { rooms: ["room2"], except: ["room3"], event: "news", data: "room2 except room3" }, `io.to("room2").except("room3").emit("news", "room2 except room3")`);
  await bc("broadcast-all-except-socket", "Broadcast to all except one socket id", { except: [ids.c1], event: "news", data: "all but c1" }, `io.except(c1.id).emit("news", "all but c1")`);
  await bc("broadcast-socket-id", "Emit to one socket id living on the other node (its private room)", { rooms: [ids.c3], event: "direct", data: "to c3 only" }, `io.to(c3.id).emit("direct", "to c3 only")   // from node A; c3 is on node B`);
  await bc("broadcast-flags", "Broadcast with flags: volatile + compress(false)", { rooms: "room1", event: "news", data: 1, flags: { volatile: true, compress: false } }, `io.to("room1").volatile.compress(false).emit("news", 1)`);
  await bc("broadcast-local", "Broadcast with the local flag (nothing published)", { event: "news", data: "local only", flags: { local: true } }, `io.local.emit("news", "local only")`);
  await bc("broadcast-multi-args", "Several arguments and value types", { event: "types", args: ["str", 42, -7, 3.5, 4294967296, true, false, null, { $undefined: true }, [1, [2]], { nested: { k: "v" } }, { $date: "2024-01-02T03:04:05.678Z" }, "é€😀"] }, `io.emit("types", "str", 42, -7, 3.5, 4294967296, true, false, null, undefined, [1,[2]], {nested:{k:"v"}}, new Date("2024-01-02T03:04:05.678Z"), "é€😀")`);
  await bc("broadcast-binary", "Broadcast with binary attachments", { rooms: "room1", event: "bin", args: [{ $hex: "00ff10" }, { file: { $hex: "deadbeef" }, name: "x" }] }, `io.to("room1").emit("bin", Buffer.from([0x00,0xff,0x10]), { file: Buffer.from("deadbeef","hex"), name: "x" })`);
  await bc("broadcast-from-b", "Broadcast to a room from node B", { rooms: "room1", event: "news", data: "from B" }, `io.to("room1").emit("news", "from B")   // on node B`, bnode);
  await bc("broadcast-nsp-admin", "Broadcast in namespace /admin", { nsp: "/admin", event: "adm", data: 1 }, `io.of("/admin").emit("adm", 1)`);
  await bc("broadcast-numeric-room", "Broadcast to a numeric-looking room name", { rooms: "42", event: "news", data: "num" }, `io.to("42").emit("news", "num")`);

  await rec.step("server-side-emit", "serverSideEmit without ack", `io.serverSideEmit("hello", { from: "A" }, 2)`, async () => {
    const r = await a("POST", "/control/server-side-emit", { event: "hello", args: [{ from: "A" }, 2] });
    await L.sleep(200);
    return { sent: r.body, receivedByB: (await bnode("GET", "/control/server-side-events")).body, receivedByA: (await a("GET", "/control/server-side-events")).body };
  });
  await rec.step("server-side-emit-ack", "serverSideEmit with ack (PUBSUB NUMSUB first, then request, then one response per other node)", `await io.serverSideEmitWithAck("ping-node", 7)   // B answers cb({ node, event, args })`, async () => (await a("POST", "/control/server-side-emit", { event: "ping-node", args: [7], ack: true })).body);

  await rec.step("fetch-sockets-all", "fetchSockets() across the cluster", `await io.fetchSockets()`, async () => (await a("GET", "/control/fetch-sockets")).body);
  await rec.step("fetch-sockets-room", "fetchSockets() of a room with except", `await io.in("room2").except("room3").fetchSockets()`, async () => (await a("GET", "/control/fetch-sockets?rooms=room2&except=room3")).body);
  await rec.step("all-sockets", "allSockets() (adapter.sockets): NOT overridden by adapter 8 → local only, nothing on Redis", `await io.in("room1").allSockets()`, async () => (await a("GET", "/control/all-sockets?rooms=room1")).body);
  await rec.step("all-rooms", "adapter.allRooms()", `await io.of("/").adapter.allRooms()`, async () => (await a("GET", "/control/all-rooms")).body);

  await rec.step("sockets-join", "socketsJoin from a room (fire and forget: no requestId, no response, no NUMSUB)", `io.in("room1").socketsJoin(["room4", "room5"])`, async () => {
    const r = (await a("POST", "/control/sockets-join", { rooms: "room1", join: ["room4", "room5"] })).body;
    await L.sleep(200);
    return { r, fetchRoom4: (await a("GET", "/control/fetch-sockets?rooms=room4")).body.sockets.map((x) => x.id) };
  });
  await rec.step("sockets-join-by-id", "socketsJoin of one remote socket id", `io.in(c4.id).socketsJoin("room6")   // from node A; c4 is on node B`, async () => {
    const r = (await a("POST", "/control/sockets-join", { rooms: ids.c4, join: "room6" })).body;
    await L.sleep(200);
    return { r, c4: await emitAck(C.c4, "whoami") };
  });
  await rec.step("sockets-leave", "socketsLeave", `io.in("room1").socketsLeave("room5")`, async () => {
    const r = (await a("POST", "/control/sockets-leave", { rooms: "room1", leave: "room5" })).body;
    await L.sleep(200);
    return { r, c3: await emitAck(C.c3, "whoami") };
  });

  await rec.step("broadcast-with-ack", "Broadcast with acks (io.timeout(1500).to('room1').emit(..., cb)): msgpack request, JSON client count, msgpack acks", `io.timeout(1500).to("room1").emit("ask-all", { q: 1 }, (err, responses) => ...)`, async (s) => {
    const r = (await a("POST", "/control/broadcast-with-ack", { rooms: "room1", event: "ask-all", data: { q: 1 }, timeout: 1500 })).body;
    received(s);
    return r;
  });
  await rec.step("broadcast-with-ack-timeout", "Broadcast with acks where one remote client (c4) never answers: timeout", `io.timeout(1000).to("room2").emit("ask", { q: 2 }, (err, responses) => ...)`, async (s) => {
    const r = (await a("POST", "/control/broadcast-with-ack", { rooms: "room2", event: "ask", data: { q: 2 }, timeout: 1000 })).body;
    received(s);
    return r;
  });

  // emitter
  const emitter = (...args) =>
    new Promise((resolve, reject) => {
      const p = L.start(process.execPath, [path.join(PEER, "emitter.js"), "--redis", REDIS_URL, ...args]);
      const t = setTimeout(() => { try { process.kill(p.pid, "SIGKILL"); } catch {} reject(new Error("emitter timeout")); }, 10000);
      p.on("exit", (code) => { clearTimeout(t); resolve({ code }); });
    });
  const em = async (slug, title, args, code) =>
    rec.step(slug, title, code, async (s) => {
      const r = await emitter(...args);
      await L.sleep(250);
      received(s);
      return r;
    });
  await em("emitter-all", "@socket.io/redis-emitter: emit to all", ["emit", "from-emitter", '{"e":1}'], `new Emitter(redis).emit("from-emitter", { e: 1 })`);
  await em("emitter-room", "@socket.io/redis-emitter: emit to one room", ["emit", "from-emitter", '"room1 only"', "--to", "room1"], `emitter.to("room1").emit("from-emitter", "room1 only")`);
  await em("emitter-rooms-except", "@socket.io/redis-emitter: rooms + except + volatile", ["emit", "from-emitter", "2", "--to", "room1", "--to", "room2", "--except", "room3", "--volatile"], `emitter.to(["room1","room2"]).except("room3").volatile.emit("from-emitter", 2)`);
  await em("emitter-binary", "@socket.io/redis-emitter: binary argument", ["emit", "from-emitter", '"bin"', "--hex", "cafe", "--to", "room1"], `emitter.to("room1").emit("from-emitter", "bin", Buffer.from("cafe","hex"))`);
  await em("emitter-sockets-join", "@socket.io/redis-emitter: socketsJoin (no uid field at all)", ["join", "room7", "--to", "room2"], `emitter.in("room2").socketsJoin("room7")`);
  await em("emitter-sockets-leave", "@socket.io/redis-emitter: socketsLeave", ["leave", "room7", "--to", "room2"], `emitter.in("room2").socketsLeave("room7")`);
  await em("emitter-server-side-emit", "@socket.io/redis-emitter: serverSideEmit (uid \"emitter\")", ["server-side-emit", "from-backend", '{"b":1}'], `emitter.serverSideEmit("from-backend", { b: 1 })`);

  await rec.step("disconnect-sockets", "disconnectSockets of a room (close=false) and of a socket id (close=true)", `io.in("room3").disconnectSockets();  io.in(c2.id).disconnectSockets(true)`, async (s) => {
    await a("POST", "/control/disconnect-sockets", { rooms: "room3" });
    await L.sleep(150);
    await bnode("POST", "/control/disconnect-sockets", { rooms: ids.c2, close: true });
    await L.sleep(250);
    received(s);
    return (await a("GET", "/control/fetch-sockets")).body.sockets.map((x) => x.id);
  });
  await em("emitter-disconnect", "@socket.io/redis-emitter: disconnectSockets", ["disconnect", "--to", "room1", "--close"], `emitter.in("room1").disconnectSockets(true)`);

  // A third subscriber that never answers: NUMSUB counts it → requests wait for the timeout (5000 ms).
  const ghost = redis.createClient({ url: REDIS_URL, name: "ghost-node" });
  await ghost.connect();
  await ghost.subscribe("socket.io-request#/#", () => {});
  await rec.step("timeout-all-rooms", "A node that never answers (a subscriber on the request channel): allRooms() waits requestsTimeout (5000 ms) then REJECTS (partial answers are dropped)", `// redis-cli SUBSCRIBE socket.io-request#/#  (counts in NUMSUB, never answers)\nawait io.of("/").adapter.allRooms()`, async () => (await a("GET", "/control/all-rooms")).body, 300);
  await rec.step("timeout-server-side-emit", "serverSideEmitWithAck with a silent node: after 5000 ms the ack gets an error AND the partial responses", `await io.serverSideEmitWithAck("ping-node", 8)`, async () => (await a("POST", "/control/server-side-emit", { event: "ping-node", args: [8], ack: true })).body, 300);
  await ghost.quit();

  for (const s of Object.values(C)) s.disconnect();
  await rec.stop();
  await L.stopAll();

  const fixtureIndex = [];
  const header = `# @socket.io/redis-adapter 8.3 (classic pub/sub) — wire capture

Generated by \`e2e/peers/capture.sh\` (\`capture/socketio.js\`) on ${new Date().toISOString().slice(0, 10)}:
redis-server ${String(await redisVersion()).trim()}, two socket.io ${ver("socket.io")} nodes (A, B) with @socket.io/redis-adapter ${ver("@socket.io/redis-adapter")}
(notepack.io ${ver("notepack.io")}, socket.io-adapter ${ver("socket.io-adapter")}, redis ${ver("redis")}), @socket.io/redis-emitter ${ver("@socket.io/redis-emitter")};
four socket.io-client ${ver("socket.io-client")} clients: c1, c2 on A; c3, c4 on B. Key prefix \`socket.io\`.

Every message published on Redis was caught by a \`PSUBSCRIBE *\` client; every command by \`redis-cli MONITOR\`
(lines: \`unix-time [connection] "CMD" "args"\`, binary shown escaped by redis-cli). Raw bytes of each message are
in \`fixtures/\` (see fixtures/README.md). Facts read off this capture are summed up in \`e2e/peers/README.md\`.
`;
  rec.write(path.join(OUT, "socketio-adapter-8.md"), path.join(OUT, "fixtures"), header, fixtureIndex);
  require("fs").writeFileSync(path.join(OUT, "raw", "socketio-monitor.txt"), rec.monitorAll.join("\n") + "\n");
  require("fs").writeFileSync(path.join(OUT, "fixtures", "socketio-index.json"), JSON.stringify(fixtureIndex, null, 1));
  console.log(`socketio capture: ${rec.steps.length} steps, ${fixtureIndex.length} messages`);
}
async function redisVersion() {
  const c = redis.createClient({ url: REDIS_URL });
  await c.connect();
  const info = await c.info("server");
  await c.quit();
  return (info.match(/redis_version:(\S+)/) || [])[1];
}

const deadline = setTimeout(() => {
  console.error("socketio capture: overall deadline (120 s) reached");
  L.stopAll().finally(() => process.exit(3));
}, 120000);
main()
  .then(() => clearTimeout(deadline))
  .catch(async (e) => {
    console.error(e);
    await L.stopAll();
    process.exit(1);
  });
