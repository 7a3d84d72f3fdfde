// Mixed Sails clusters (--cluster-compat sails): a Sails 1.5.9 app on
// @sailshq/socket.io-redis 6.1.2 + the Sails admin bus (e2e/peers/sails-cluster,
// pinned by its own lockfile) next to a roomcast node, on one real redis-server
// started here. Clients of both speak sails.io.js virtual requests over
// socket.io-client 4 (the Sails app's own routes, roomcast's built-in ones).
// sails.sockets.broadcast / blast reach roomcast's clients and roomcast's
// broadcasts reach Sails' clients; sails.sockets.join(<roomcast socket id>),
// addRoomMembersToRooms, removeRoomMembersFromRooms and leaveAll act across
// the two, from either side; Sails' room queries (allSockets) get roomcast's
// answer in time. Everything is stopped by its own pid.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { startServer, spawnTracked, freePort, collect, until, sleep, shout } = require('./server');
const { startRedis, redisMissing, api, TOKEN } = require('./cluster');
const { connectV4 } = require('./clients');

const PEER = path.join(__dirname, '..', 'peers', 'sails-cluster');
const peerMissing = fs.existsSync(path.join(PEER, 'node_modules'))
  ? null : `${PEER}/node_modules missing (cd e2e/peers/sails-cluster && npm ci)`;
const why = redisMissing() || peerMissing;
if (why && process.env.CI) throw new Error(why);
if (why) shout(`Sails compat tests SKIPPED: ${why}`);

// What sails.io.js sends when it connects (the Sails app checks nothing else).
const SAILS_CLIENT = {
  transports: ['websocket'],
  query: { __sails_io_sdk_version: '1.2.1', __sails_io_sdk_platform: 'node', __sails_io_sdk_language: 'javascript' },
};

/** Starts the Sails app; resolves to { port, url, stop() }. */
async function startSails(redisUrl) {
  const port = await freePort();
  const child = spawnTracked(process.execPath, [path.join(PEER, 'app.js'), '--port', String(port),
    '--redis', redisUrl, '--name', 'sails-a'], { cwd: PEER, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  await until(() => /READY /.test(output) || child.exitCode !== null, 30000, `Sails app ready\n${output}`);
  if (child.exitCode !== null) throw new Error(`Sails app exited (${child.exitCode}):\n${output}`);
  return {
    port, url: `http://127.0.0.1:${port}`, log: () => output,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve(child.exitCode);
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.on('exit', (code) => { clearTimeout(t); resolve(code); });
      child.kill('SIGTERM');
    }),
  };
}

/** The Sails app's control routes (sails.sockets.* on that node). */
async function control(sails, method, route, body) {
  const res = await fetch(`${sails.url}/control/${route}`, {
    method, headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.equal(res.status, 200, `${route}: ${text}`);
  return JSON.parse(text);
}

/** A client (of either node) joined to `rooms` with the POST /sockets/join route both have. */
async function client(url, rooms) {
  const c = await connectV4(url, SAILS_CLIENT);
  for (const room of rooms) {
    const r = await c.request('post', '/sockets/join', { room });
    assert.equal(r.statusCode, 200, JSON.stringify(r));
  }
  return c;
}

/** A Sails client's rooms (its own id room left out), from the app's whoami route. */
async function sailsRooms(c) {
  const r = await c.request('get', '/sockets/whoami');
  return r.body.rooms.filter((room) => room !== r.body.id).sort();
}

/** A roomcast room's members, from its admin API. */
async function members(node, room) {
  const r = await api(node, 'GET', `/api/rooms/${room}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.members.sort();
}

/** Polls `read` until it deep-equals `want` (5 s). */
async function eventually(read, want, what) {
  let last;
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    last = await read();
    if (JSON.stringify(last) === JSON.stringify(want)) return;
    await sleep(25);
  }
  assert.deepEqual(last, want, what);
}

test('a roomcast node in a Sails cluster: broadcasts both ways, join by id, room-to-room moves and leaveAll across',
  { skip: why || false, timeout: 90000 }, async () => {
    const redis = await startRedis();
    const sails = await startSails(redis.url);
    const node = await startServer(['--redis', redis.url, '--node-id', 'rc-1', '--admin-token', TOKEN,
      '--cluster-compat', 'sails']);
    const clients = [];
    try {
      const sa1 = await client(sails.url, ['room1']);
      const sa2 = await client(sails.url, ['room2']);
      const rc1 = await client(node.url, ['room1']);
      const rc2 = await client(node.url, ['room1', 'room2']);
      clients.push(sa1, sa2, rc1, rc2);
      const [rc1Id, rc2Id] = [rc1, rc2].map((c) => c.raw.id);
      // In a mixed cluster roomcast's ids have Sails' (socket.io's) length.
      assert.deepEqual([rc1Id.length, rc2Id.length], [20, 20], `${rc1Id} ${rc2Id}`);
      const got = new Map(clients.map((c) => [c, collect(c.raw, 'news')]));
      const settle = (want, what) => until(() => [...want.entries()].every(([c, n]) => got.get(c).length >= n), 5000, what);

      // sails.sockets.broadcast('room1') reaches roomcast's members of room1.
      await control(sails, 'POST', 'broadcast', { rooms: 'room1', event: 'news', data: { from: 'sails', n: 1 } });
      await settle(new Map([[sa1, 1], [rc1, 1], [rc2, 1]]), 'Sails broadcast to room1');
      // A roomcast broadcast to room2 reaches Sails' member of room2.
      const b = await api(node, 'POST', '/api/sockets/broadcast', { rooms: ['room2'], event: 'news', data: { from: 'rc', n: 2 } });
      assert.equal(b.status, 200, JSON.stringify(b.body));
      await settle(new Map([[sa2, 1], [rc2, 2]]), 'roomcast broadcast to room2');
      // sails.sockets.blast reaches every socket of both.
      await control(sails, 'POST', 'blast', { event: 'news', data: { from: 'sails-blast', n: 3 } });
      await settle(new Map([[sa1, 2], [sa2, 2], [rc1, 2], [rc2, 3]]), 'Sails blast');
      await sleep(300); // a duplicate would show by now
      const seen = (c) => got.get(c).map((m) => `${m.from}:${m.n}`);
      assert.deepEqual(seen(sa1), ['sails:1', 'sails-blast:3']);
      assert.deepEqual(seen(sa2), ['rc:2', 'sails-blast:3']);
      assert.deepEqual(seen(rc1), ['sails:1', 'sails-blast:3']);
      assert.deepEqual(seen(rc2), ['sails:1', 'rc:2', 'sails-blast:3']);

      // sails.sockets.join(<a roomcast socket's id>, room): the admin bus; Sails
      // then asks every node for that id's sockets (a SOCKETS request), which
      // roomcast answers: the call completes well within the 5 s timeout.
      const t0 = Date.now();
      await control(sails, 'POST', 'join', { socketId: rc1Id, room: 'solo' });
      assert.ok(Date.now() - t0 < 2500, `sails.sockets.join took ${Date.now() - t0} ms`);
      await eventually(() => members(node, 'solo'), [rc1Id], 'roomcast socket joined by id from Sails');
      await control(sails, 'POST', 'leave', { socketId: rc1Id, room: 'solo' });
      await eventually(() => members(node, 'solo'), [], 'roomcast socket left by id from Sails');

      // Sails' addRoomMembersToRooms moves room1's members on both nodes.
      await control(sails, 'POST', 'add-room-members-to-rooms', { sourceRoom: 'room1', destRooms: ['moved', 'moved2'] });
      const sa1Id = (await sa1.request('get', '/sockets/whoami')).body.id;
      const sa2Id = (await sa2.request('get', '/sockets/whoami')).body.id;
      // (roomcast's admin API lists the Sails node's members too.)
      await eventually(() => members(node, 'moved'), [rc1Id, rc2Id, sa1Id].sort(), 'members of room1 joined moved');
      await eventually(() => sailsRooms(sa1), ['moved', 'moved2', 'room1'], 'Sails member of room1 joined moved');
      // ... and removeRoomMembersFromRooms takes them out of one.
      await control(sails, 'POST', 'remove-room-members-from-rooms', { sourceRoom: 'room1', destRooms: ['moved2'] });
      await eventually(() => members(node, 'moved2'), [], 'roomcast members left moved2');
      await eventually(() => sailsRooms(sa1), ['moved', 'room1'], 'Sails member left moved2');

      // roomcast's addRoomMembersToRooms moves Sails' members of room2 too.
      const add = await api(node, 'POST', '/api/sockets/add-room-members-to-rooms', { sourceRoom: 'room2', destRooms: ['fromrc'] });
      assert.equal(add.status, 200, JSON.stringify(add.body));
      await eventually(() => sailsRooms(sa2), ['fromrc', 'room2'], 'Sails member of room2 joined fromrc (roomcast asked)');
      await eventually(() => members(node, 'fromrc'), [rc2Id, sa2Id].sort(), 'members of room2 joined fromrc');
      // A Sails broadcast to the moved room reaches both sides.
      await control(sails, 'POST', 'broadcast', { rooms: 'fromrc', event: 'news', data: { from: 'sails', n: 4 } });
      await settle(new Map([[sa2, 3], [rc2, 4]]), 'Sails broadcast to fromrc');

      // roomcast's room query counts Sails' members too (a SOCKETS request).
      const room2 = await api(node, 'GET', '/api/rooms/room2');
      assert.equal(room2.status, 200, JSON.stringify(room2.body));
      assert.deepEqual({ count: room2.body.count, partial: room2.body.partial }, { count: 2, partial: false }, JSON.stringify(room2.body));
      const moved = await api(node, 'GET', '/api/rooms/moved');
      assert.deepEqual([...moved.body.members].sort(), [rc1Id, rc2Id, sa1Id].sort(), JSON.stringify(moved.body));

      // Sails' room queries count roomcast's sockets: io.in('room1').allSockets().
      const all = await control(sails, 'GET', 'all-sockets?room=room1');
      assert.ok(all.ms < 2500, `allSockets took ${all.ms} ms`);
      for (const id of [rc1Id, rc2Id]) assert.ok(all.sockets.includes(id), `${id} in ${JSON.stringify(all)}`);

      // Sails' leaveAll('moved'): its members leave every room but their own.
      await control(sails, 'POST', 'leave-all', { sourceRoom: 'moved' });
      await eventually(() => members(node, 'room1'), [], 'members of moved left room1');
      await eventually(() => sailsRooms(sa1), [], 'Sails member of moved left everything');
      // roomcast's leaveAll of room2: Sails' member leaves everything too.
      const la = await api(node, 'POST', '/api/sockets/leave-all', { room: 'room2' });
      assert.equal(la.status, 200, JSON.stringify(la.body));
      await eventually(() => sailsRooms(sa2), [], 'Sails member of room2 left everything (roomcast asked)');
    } finally {
      for (const c of clients) c.close();
      assert.equal(await node.stop(), 0, node.log());
      await sails.stop();
      await redis.stop();
    }
  });
