// Mixed clusters (--cluster-compat socketio): a socket.io 4.8.1 node with
// @socket.io/redis-adapter 8.3.0 (e2e/peers/socketio-cluster, pinned by its own
// lockfile) next to a roomcast node, both on one real redis-server started here.
// Clients of each node join rooms; broadcasts from either side reach the
// other's clients once, `except` holds across, @socket.io/redis-emitter reaches
// roomcast's clients, and a roomcast blast reaches socket.io's clients. The
// socket.io node's requests (fetchSockets, socketsJoin/Leave, disconnectSockets,
// allRooms, broadcasts with acks) reach roomcast's sockets, and roomcast
// answers in time.
// Everything is stopped by its own pid.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { startServer, spawnTracked, freePort, canConnect, collect, until, sleep, shout } = require('./server');
const { startRedis, redisMissing, api, TOKEN } = require('./cluster');
const { connectV4 } = require('./clients');

const PEER = path.join(__dirname, '..', 'peers', 'socketio-cluster');
const peerMissing = fs.existsSync(path.join(PEER, 'node_modules'))
  ? null : `${PEER}/node_modules missing (cd e2e/peers/socketio-cluster && npm ci)`;
const why = redisMissing() || peerMissing;
if (why && process.env.CI) throw new Error(why);
if (why) shout(`compat tests SKIPPED: ${why}`);

/** Starts the socket.io node; resolves to { port, uid, url, stop() }. */
async function startPeer(redisUrl) {
  const port = await freePort();
  const child = spawnTracked(process.execPath, [path.join(PEER, 'server.js'), '--port', String(port),
    '--redis', redisUrl, '--name', 'node-js'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  await until(() => /READY /.test(output) || child.exitCode !== null, 15000, `socket.io peer ready\n${output}`);
  if (child.exitCode !== null) throw new Error(`socket.io peer exited (${child.exitCode}):\n${output}`);
  const ready = JSON.parse(output.split('READY ')[1].split('\n')[0]);
  return {
    port, uid: ready.uid, url: `http://127.0.0.1:${port}`, log: () => output,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve(child.exitCode);
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      child.on('exit', (code) => { clearTimeout(t); resolve(code); });
      child.kill('SIGTERM');
    }),
  };
}

/** POST/GET on the socket.io node's control API. */
async function control(peer, method, route, body) {
  const res = await fetch(`${peer.url}/control/${route}`, {
    method, headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.equal(res.status, 200, `${route}: ${await res.clone().text()}`);
  return res.json();
}

/** A client of the socket.io node, joined to `rooms` with its own `join` event. */
async function peerClient(peer, rooms) {
  const c = await connectV4(peer.url);
  const joined = await c.raw.timeout(3000).emitWithAck('join', rooms);
  assert.deepEqual(joined.rooms.slice(1).sort(), [...rooms].sort());
  return c;
}

/** A client of the roomcast node, joined to `rooms` with virtual requests. */
async function roomcastClient(node, rooms) {
  const c = await connectV4(node.url);
  for (const room of rooms) {
    const r = await c.request('post', '/sockets/join', { room });
    assert.equal(r.statusCode, 200);
  }
  return c;
}

/**
 * Runs `body({ redis, peer, node, clients })` on a redis-server, a socket.io
 * node and a roomcast node in compat mode; closes `clients` and stops all three.
 */
async function mixedCluster(body) {
  const redis = await startRedis();
  const peer = await startPeer(redis.url);
  const node = await startServer(['--redis', redis.url, '--node-id', 'rc-1', '--admin-token', TOKEN,
    '--cluster-compat', 'socketio']);
  const clients = [];
  try {
    await body({ redis, peer, node, clients });
  } finally {
    for (const c of clients) c.close();
    assert.equal(await node.stop(), 0, node.log());
    await peer.stop();
    await redis.stop();
  }
}

test('a roomcast node in a socket.io cluster: broadcasts both ways, except, the emitter', { skip: why || false, timeout: 60000 }, () => mixedCluster(async ({ redis, peer, node, clients }) => {
    // Both subscribed: the socket.io node PSUBSCRIBEs its pattern, roomcast too.
    const js1 = await peerClient(peer, ['room1']);
    const js2 = await peerClient(peer, ['room2']);
    const rc1 = await roomcastClient(node, ['room1']);
    const rc2 = await roomcastClient(node, ['room1', 'room2']);
    clients.push(js1, js2, rc1, rc2);
    const got = new Map(clients.map((c) => [c, collect(c.raw, 'news')]));
    const settle = async (want, what) => until(() => [...got.entries()].every(([c, g]) => g.length >= (want.get(c) || 0)), 5000, what);

    // socket.io → everyone in room1 (both nodes), once each.
    await control(peer, 'POST', 'broadcast', { rooms: 'room1', event: 'news', data: { from: 'js', n: 1 } });
    await settle(new Map([[js1, 1], [rc1, 1], [rc2, 1]]), 'socket.io broadcast to room1');
    // roomcast → rooms room1 and room2 (rc2 is in both: one copy), from a socket route.
    const r = await rc1.request('post', '/sockets/broadcast', { rooms: ['room1', 'room2'], event: 'news', data: { from: 'rc', n: 2 } });
    assert.equal(r.statusCode, 200);
    await settle(new Map([[js1, 2], [js2, 1], [rc1, 2], [rc2, 2]]), 'roomcast broadcast to room1 and room2');
    // roomcast admin blast: every socket of both nodes.
    const blast = await api(node, 'POST', '/api/sockets/blast', { event: 'news', data: { from: 'rc-blast', n: 3 } });
    assert.equal(blast.status, 200, JSON.stringify(blast.body));
    await settle(new Map([[js1, 3], [js2, 2], [rc1, 3], [rc2, 3]]), 'roomcast blast');
    // socket.io with except: room1 but not those in room2 (rc2 is in both).
    await control(peer, 'POST', 'broadcast', { rooms: 'room1', except: ['room2'], event: 'news', data: { from: 'js', n: 4 } });
    await settle(new Map([[js1, 4], [rc1, 4]]), 'socket.io broadcast with except');
    // The emitter (a backend with no server) to room2.
    await new Promise((resolve, reject) => execFile(process.execPath,
      [path.join(PEER, 'emitter.js'), '--redis', redis.url, 'emit', 'news', '{"from":"emitter","n":5}', '--to', 'room2'],
      { timeout: 10000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err}\n${stderr}`)) : resolve(stdout))));
    await settle(new Map([[js2, 3], [rc2, 4]]), 'emitter to room2');
    await sleep(300); // any duplicate would have come by now

    const seen = (c) => got.get(c).map((m) => `${m.from}:${m.n}`);
    assert.deepEqual(seen(js1), ['js:1', 'rc:2', 'rc-blast:3', 'js:4']);
    assert.deepEqual(seen(js2), ['rc:2', 'rc-blast:3', 'emitter:5']);
    assert.deepEqual(seen(rc1), ['js:1', 'rc:2', 'rc-blast:3', 'js:4']);
    assert.deepEqual(seen(rc2), ['js:1', 'rc:2', 'rc-blast:3', 'emitter:5']);
}));

test('socket.io\'s requests reach a roomcast node: fetchSockets, socketsJoin/Leave, allRooms, acks, disconnectSockets',
  { skip: why || false, timeout: 60000 }, () => mixedCluster(async ({ redis, peer, node, clients }) => {
    const js1 = await peerClient(peer, ['room1']);
    const rc1 = await roomcastClient(node, ['room1']);
    const rc2 = await roomcastClient(node, ['room1', 'room2']);
    clients.push(js1, rc1, rc2);
    // roomcast subscribes to the request channel: socket.io counts two servers
    // and waits for roomcast's answers.
    const info = await control(peer, 'GET', 'info');
    assert.equal(info.serverCount, 2, JSON.stringify(info));

    // fetchSockets() from Node lists roomcast's sockets (answered in time: the
    // adapter's requestsTimeout is 5 s).
    const fetched = await control(peer, 'GET', 'fetch-sockets?rooms=room1');
    assert.ok(fetched.ms < 2000, `fetchSockets took ${fetched.ms} ms`);
    const remote = fetched.sockets.filter((s) => s.remote);
    assert.equal(remote.length, 2, JSON.stringify(fetched));
    const byRooms = Object.fromEntries(remote.map((s) => [s.rooms.filter((r) => r !== s.id).sort().join(','), s.id]));
    assert.deepEqual(Object.keys(byRooms).sort(), ['room1', 'room1,room2'], JSON.stringify(remote));
    const [id1, id2] = [byRooms.room1, byRooms['room1,room2']];
    // In a mixed cluster roomcast's ids have socket.io's length.
    assert.deepEqual([id1.length, id2.length], [20, 20], `${id1} ${id2}`);
    // Each id is the roomcast socket's own (its admin API knows it).
    for (const id of [id1, id2]) assert.equal((await api(node, 'GET', `/api/sockets/${id}`)).status, 200);
    const except = await control(peer, 'GET', 'fetch-sockets?rooms=room1&except=room2');
    assert.deepEqual(except.sockets.filter((s) => s.remote).map((s) => s.id), [id1]);

    // socketsJoin: room1's sockets, on both nodes, join "joined"; one roomcast
    // socket by its id joins "solo". roomcast's admin API lists the members
    // of both nodes (it asks the socket.io node too).
    const jsId = (await js1.raw.timeout(3000).emitWithAck('whoami')).id;
    await control(peer, 'POST', 'sockets-join', { rooms: 'room1', join: 'joined' });
    await control(peer, 'POST', 'sockets-join', { rooms: id2, join: ['solo'] });
    const members = async (room) => (await api(node, 'GET', `/api/rooms/${room}`)).body.members.sort();
    let joined = [];
    for (let i = 0; i < 100 && joined.length < 3; i++) { joined = await members('joined'); if (joined.length < 3) await sleep(20); }
    assert.deepEqual(joined, [id1, id2, jsId].sort());
    assert.deepEqual(await members('solo'), [id2]);
    const got = new Map(clients.map((c) => [c, collect(c.raw, 'news')]));
    await control(peer, 'POST', 'broadcast', { rooms: 'joined', event: 'news', data: 'to joined' });
    await until(() => [...got.values()].every((g) => g.length === 1), 5000, 'broadcast to the joined room');
    // socketsLeave with except: room1 but not room2's members leave "joined".
    await control(peer, 'POST', 'sockets-leave', { rooms: 'room1', except: 'room2', leave: 'joined' });
    let left = [];
    for (let i = 0; i < 100 && left.length !== 1; i++) { left = await members('joined'); if (left.length !== 1) await sleep(20); }
    assert.deepEqual(left, [id2]);

    // roomcast's own room query counts the socket.io node's members too
    // (asked with REMOTE_FETCH, answers counted with PUBSUB NUMSUB).
    const t0 = Date.now();
    const room1 = await api(node, 'GET', '/api/rooms/room1');
    assert.ok(Date.now() - t0 < 1500, `GET /api/rooms/room1 took ${Date.now() - t0} ms`);
    assert.equal(room1.status, 200, JSON.stringify(room1.body));
    assert.deepEqual({ count: room1.body.count, partial: room1.body.partial, missing: room1.body.missing },
      { count: 3, partial: false, missing: [] }, JSON.stringify(room1.body));
    assert.deepEqual([...room1.body.members].sort(), [id1, id2, jsId].sort());
    // A subscriber of the request channel that never answers (as a hung Node
    // peer): the query waits --cluster-timeout-ms (2 s), then says who is missing.
    const silent = spawnTracked('redis-cli', ['-p', String(redis.port), 'SUBSCRIBE', 'socket.io-request#/#'], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100 && (await control(peer, 'GET', 'info')).serverCount < 3; i++) await sleep(20);
      const t1 = Date.now();
      const partial = await api(node, 'GET', '/api/rooms/room1');
      const took = Date.now() - t1;
      assert.deepEqual({ count: partial.body.count, partial: partial.body.partial, missing: partial.body.missing },
        { count: 3, partial: true, missing: ['1 of 2 Node peers (socket.io/Sails)'] }, JSON.stringify(partial.body));
      assert.ok(took >= 1800 && took < 4000, `answered after ${took} ms`);
    } finally {
      silent.kill('SIGKILL');
    }
    for (let i = 0; i < 100 && (await control(peer, 'GET', 'info')).serverCount > 2; i++) await sleep(20);

    // allRooms() includes roomcast's rooms.
    const rooms = await control(peer, 'GET', 'all-rooms');
    assert.ok(rooms.ms < 2000, `allRooms took ${rooms.ms} ms`);
    for (const r of ['room1', 'room2', 'joined', 'solo']) assert.ok(rooms.rooms.includes(r), `${r} in ${JSON.stringify(rooms)}`);

    // A broadcast with acks: every client of both nodes acks, and the
    // callback gets all three acks without waiting for its timeout (roomcast
    // reported its client count and forwarded its clients' acks).
    for (const [c, name] of [[js1, 'js1'], [rc1, 'rc1'], [rc2, 'rc2']]) c.raw.on('ask', (q, cb) => cb({ from: name, q }));
    const acked = await control(peer, 'POST', 'broadcast-with-ack', { rooms: 'room1', event: 'ask', data: 'q', timeout: 3000 });
    assert.equal(acked.err, null, JSON.stringify(acked));
    assert.deepEqual(acked.responses.map((r) => r.from).sort(), ['js1', 'rc1', 'rc2'], JSON.stringify(acked));
    assert.ok(acked.responses.every((r) => r.q === 'q'));
    assert.ok(acked.ms < 2500, `broadcast with acks took ${acked.ms} ms`);
    // With except: room1 but room2's members (rc2): two acks.
    const fewer = await control(peer, 'POST', 'broadcast-with-ack', { rooms: 'room1', except: 'room2', event: 'ask', data: 'q2', timeout: 3000 });
    assert.deepEqual({ err: fewer.err, from: fewer.responses.map((r) => r.from).sort() }, { err: null, from: ['js1', 'rc1'] });
    // A roomcast client that does not ack: the callback times out with the acks that came.
    rc2.raw.removeAllListeners('ask');
    rc2.raw.on('ask', () => {});
    const partial = await control(peer, 'POST', 'broadcast-with-ack', { rooms: 'room1', event: 'ask', data: 'q3', timeout: 1000 });
    assert.match(String(partial.err), /timed out/);
    assert.deepEqual(partial.responses.map((r) => r.from).sort(), ['js1', 'rc1']);

    // disconnectSockets: room2's sockets (rc2) are disconnected by the server.
    const reason = new Promise((resolve) => rc2.raw.on('disconnect', resolve));
    await control(peer, 'POST', 'disconnect-sockets', { rooms: 'room2' });
    assert.equal(await Promise.race([reason, sleep(5000).then(() => 'no disconnect in 5 s')]), 'io server disconnect');
    assert.ok(rc1.raw.connected && js1.raw.connected, 'the others stay');
  }));
