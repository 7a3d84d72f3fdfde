// Two roomcast nodes over one redis-server, with real npm clients spread over
// both: socket.io-client 4.8, socket.io-client 2.0.3 and sails.io.js 1.2.1.
// Every room, id and query operation is checked across nodes: each message
// arrives exactly once and in the order its sender issued it.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { collect, sleep, shout } = require('./server');
const { startCluster, redisMissing, api, metric } = require('./cluster');
const { connectV4, connectV2, connectSails } = require('./clients');

const missing = redisMissing();
if (missing) {
  if (process.env.CI) throw new Error(`cluster e2e tests cannot run: ${missing}`);
  shout(`SKIPPING every cluster e2e test: ${missing}`);
}
const opts = { skip: missing || false, timeout: 30000 };

let seq = 0;
const unique = (name) => `${name}-${process.pid}-${++seq}`;

let cluster;
let A;
let B;
const clients = [];
const open = async (connect, node) => { const c = await connect(node.url); clients.push(c); return c; };
const idOf = async (c) => {
  const res = await c.request('get', '/sockets/id');
  assert.equal(res.statusCode, 200);
  return res.body.id;
};
const ok = async (c, url, data) => {
  const res = await c.request('post', url, data);
  assert.deepEqual(res, { statusCode: 200, body: { ok: true } }, `${url} ${JSON.stringify(data)}`);
};
const adminOk = async (node, path, body) => {
  const res = await api(node, 'POST', path, body);
  assert.deepEqual(res, { status: 200, body: { ok: true } }, `${node.name}: POST ${path} ${JSON.stringify(body)}`);
};
/** Polls `cond` every 20 ms until true; fails with `what()` after `ms`. */
const waitFor = async (cond, what, ms = 5000) => {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    if (await cond()) return;
    await sleep(20);
  }
  assert.fail(`timed out after ${ms} ms waiting for ${what()}`);
};

before(async () => {
  if (missing) return;
  cluster = await startCluster({ names: ['a', 'b'] });
  [A, B] = cluster.nodes;
});

after(async () => {
  for (const c of clients) c.close();
  if (!cluster) return;
  const codes = await cluster.stop();
  assert.deepEqual(codes.nodes, { a: 0, b: 0 }, `node exit codes; logs:\n${cluster.logs()}`);
});

test('cluster: both nodes list each other with Redis up', opts, async () => {
  for (const node of [A, B]) {
    const res = await api(node, 'GET', '/api/cluster');
    assert.equal(res.status, 200);
    assert.equal(res.body.self, node.name);
    assert.equal(res.body.redis, 'up');
    assert.deepEqual(res.body.nodes.map((n) => n.id).sort(), ['a', 'b']);
    assert.equal(res.body.nodes.find((n) => n.id === node.name).lastSeenMs, 0);
  }
});

test('cluster: 4 x 200 sequenced broadcasts from both nodes (socket route and admin API) reach every client once, in order',
  opts, async (t) => {
    const N = 200;
    const room = unique('seq');
    // Two clients on each node, three client libraries.
    const a1 = await open(connectV4, A);
    const a2 = await open(connectSails, A);
    const b1 = await open(connectV4, B);
    const b2 = await open(connectV2, B);
    const receivers = { 'v4@a': a1, 'sails@a': a2, 'v4@b': b1, 'v2@b': b2 };
    for (const c of Object.values(receivers)) await ok(c, '/sockets/join', { room });
    const got = Object.fromEntries(Object.entries(receivers).map(([k, c]) => [k, collect(c, 'seq')]));

    // Pipelined from one socket: requests of one socket are applied in order.
    const fromSocket = (c, src) => Promise.all(Array.from({ length: N }, (_, n) => c.request('post', '/sockets/broadcast',
      { rooms: room, event: 'seq', data: { src, n } })))
      .then((acks) => assert.ok(acks.every((r) => r.statusCode === 200), JSON.stringify(acks.find((r) => r.statusCode !== 200))));
    // One admin request at a time: each answer means applied and queued in order.
    const fromApi = async (node, src) => {
      for (let n = 0; n < N; n++) await adminOk(node, '/api/sockets/broadcast', { rooms: [room], event: 'seq', data: { src, n } });
    };
    const started = Date.now();
    await Promise.all([fromSocket(a1, 'socket@a'), fromSocket(b1, 'socket@b'), fromApi(A, 'api@a'), fromApi(B, 'api@b')]);
    await waitFor(() => Object.values(got).every((g) => g.length >= 4 * N),
      () => `${4 * N} messages each; got ${JSON.stringify(Object.fromEntries(Object.entries(got).map(([k, g]) => [k, g.length])))}`, 15000);
    await sleep(200); // anything extra would show up now
    const expected = Array.from({ length: N }, (_, n) => n);
    for (const [who, g] of Object.entries(got)) {
      assert.equal(g.length, 4 * N, `${who}: message count`);
      for (const src of ['socket@a', 'socket@b', 'api@a', 'api@b']) {
        assert.deepEqual(g.filter((m) => m.src === src).map((m) => m.n), expected, `${who}: messages from ${src}`);
      }
    }
    t.diagnostic(`${4 * N} broadcasts to 4 clients on 2 nodes in ${Date.now() - started} ms`);
  });

test('cluster: a socket in several rooms named by one broadcast gets one copy, whichever node sends it', opts, async () => {
  const [r1, r2] = [unique('r1'), unique('r2')];
  const a1 = await open(connectV4, A);
  const a2 = await open(connectSails, A);
  const b1 = await open(connectV4, B);
  const b2 = await open(connectV2, B);
  for (const c of [a1, b1]) { await ok(c, '/sockets/join', { room: r1 }); await ok(c, '/sockets/join', { room: r2 }); }
  await ok(b2, '/sockets/join', { room: r2 });
  const got = { a1: collect(a1, 'dup'), a2: collect(a2, 'dup'), b1: collect(b1, 'dup'), b2: collect(b2, 'dup') };
  const sends = [
    [1, () => ok(a2, '/sockets/broadcast', { rooms: [r1, r2], event: 'dup', data: 1 })],
    [2, () => adminOk(B, '/api/sockets/broadcast', { rooms: [r2, r1], event: 'dup', data: 2 })],
    [3, () => ok(b2, '/sockets/broadcast', { rooms: [r1, r2, r1], event: 'dup', data: 3, omitSender: true })],
    [4, () => adminOk(A, '/api/sockets/broadcast', { rooms: [r1, r2], event: 'dup', data: 4 })],
  ];
  for (const [n, send] of sends) {
    await send();
    // Wait for this one everywhere before the next: messages from different nodes
    // are not ordered with each other.
    await waitFor(() => got.a1.includes(n) && got.b1.includes(n) && (n === 3 || got.b2.includes(n)),
      () => `broadcast ${n}: ${JSON.stringify(got)}`);
  }
  await sleep(150);
  assert.deepEqual(got, { a1: [1, 2, 3, 4], a2: [], b1: [1, 2, 3, 4], b2: [1, 2, 4] });
});

test('cluster: join and leave by id of a socket on the other node answer 200 once applied; a broadcast right after sees it',
  opts, async () => {
    const a1 = await open(connectV4, A);
    const targets = { 'sails@b': await open(connectSails, B), 'v2@b': await open(connectV2, B), 'v4@b': await open(connectV4, B) };
    const b4 = await open(connectV4, B);
    // Whoever broadcasts right after the join's answer: A's socket, A's admin API, a socket on B, B's admin API.
    const broadcasters = [
      ['socket@a', (room, data) => ok(a1, '/sockets/broadcast', { rooms: room, event: 'j', data })],
      ['api@a', (room, data) => adminOk(A, '/api/sockets/broadcast', { rooms: room, event: 'j', data })],
      ['socket@b', (room, data) => ok(b4, '/sockets/broadcast', { rooms: room, event: 'j', data })],
      ['api@b', (room, data) => adminOk(B, '/api/sockets/broadcast', { rooms: room, event: 'j', data })],
    ];
    for (const [who, c] of Object.entries(targets)) {
      const id = await idOf(c);
      const got = collect(c, 'j');
      const expected = [];
      for (const [src, send] of broadcasters) {
        const room = unique('byid');
        await ok(a1, '/sockets/join', { room, socketId: id });
        const data = `${who} ${src}`;
        await send(room, data); // no waiting in between
        expected.push(data);
      }
      // A join by id through the admin API on A, then a broadcast from B.
      const room = unique('byid-admin');
      await adminOk(A, '/api/sockets/join', { socketIds: [id], room });
      await adminOk(B, '/api/sockets/broadcast', { rooms: room, event: 'j', data: `${who} admin join` });
      expected.push(`${who} admin join`);
      // The other node reports its rooms.
      const info = await api(A, 'GET', `/api/sockets/${id}`);
      assert.equal(info.status, 200, JSON.stringify(info));
      assert.equal(info.body.rooms[0], id);
      assert.ok(info.body.rooms.includes(room), JSON.stringify(info.body));
      // Leave by id from A; a broadcast from A then reaches no more (the marker,
      // to its id room, travels the same stream after it).
      const leaveRes = await a1.request('post', '/sockets/leave', { room, socketId: id });
      assert.deepEqual(leaveRes, { statusCode: 200, body: { ok: true } });
      await ok(a1, '/sockets/broadcast', { rooms: room, event: 'j', data: `${who} after leave` });
      await ok(a1, '/sockets/broadcast', { rooms: id, event: 'j', data: `${who} marker` });
      expected.push(`${who} marker`);
      await waitFor(() => got.length >= expected.length, () => `${who}: ${JSON.stringify(got)}`);
      await sleep(100);
      // Broadcasts from different nodes may interleave; each arrives once.
      assert.deepEqual([...got].sort(), [...expected].sort(), who);
      assert.equal(got[got.length - 1], `${who} marker`, `${who}: nothing after the marker`);
    }
  });

test('cluster: join by id of a socket that left the other node is 404 E_UNKNOWN_SOCKET', opts, async () => {
  const a1 = await open(connectV4, A);
  const gone = await connectV4(B.url);
  const stale = await idOf(gone);
  gone.close();
  await waitFor(async () => (await api(B, 'GET', `/api/sockets/${stale}`)).status === 404, () => `${stale} to be gone on b`);
  const res = await a1.request('post', '/sockets/join', { room: unique('stale'), socketId: stale });
  assert.equal(res.statusCode, 404, JSON.stringify(res));
  assert.equal(res.body.error, 'E_UNKNOWN_SOCKET');
  assert.deepEqual(res.body.unknown, [stale]);
  const fromApi = await api(A, 'GET', `/api/sockets/${stale}`);
  assert.equal(fromApi.status, 404, JSON.stringify(fromApi));
});

test('cluster: emit to ids on both nodes, from a socket and from the admin API', opts, async () => {
  const a1 = await open(connectV4, A);
  const a2 = await open(connectSails, A);
  const b1 = await open(connectV4, B);
  const b2 = await open(connectV2, B);
  const [ia1, ia2, ib1, ib2] = [await idOf(a1), await idOf(a2), await idOf(b1), await idOf(b2)];
  const got = { a1: collect(a1, 'dm'), a2: collect(a2, 'dm'), b1: collect(b1, 'dm'), b2: collect(b2, 'dm') };
  const all = () => JSON.stringify(got);
  await ok(a1, '/sockets/emit', { socketIds: [ia2, ib1, ib2], event: 'dm', data: 'x1' });
  await adminOk(B, '/api/sockets/emit', { socketIds: [ia1, ia2, ib1], event: 'dm', data: 'x2' });
  await ok(b2, '/sockets/emit', { socketIds: [ia1, ib1], event: 'dm', data: 'x3' });
  await adminOk(A, '/api/sockets/emit', { socketIds: ib2, event: 'dm', data: 'x4' });
  await waitFor(() => got.a1.length === 2 && got.a2.length === 2 && got.b1.length === 3 && got.b2.length === 2, all);

  // An unknown id of the sending node: 404 before anything is sent anywhere.
  const staleA = await (async () => { const g = await connectV4(A.url); const id = await idOf(g); g.close(); return id; })();
  await waitFor(async () => (await api(A, 'GET', `/api/sockets/${staleA}`)).status === 404, () => `${staleA} gone on a`);
  const res = await a1.request('post', '/sockets/emit', { socketIds: [ib1, staleA], event: 'dm', data: 'refused' });
  assert.equal(res.statusCode, 404, JSON.stringify(res));
  assert.deepEqual(res.body.unknown, [staleA]);
  // Markers on the same direct streams show the refused emit sent nothing.
  await ok(a1, '/sockets/emit', { socketIds: [ia2, ib1, ib2], event: 'dm', data: 'end' });
  await adminOk(A, '/api/sockets/emit', { socketIds: [ia1], event: 'dm', data: 'end' });
  await waitFor(() => Object.values(got).every((g) => g.includes('end')), all);
  await sleep(100);
  // Between nodes only each sender's own order holds: compare as sets where two senders mix.
  assert.deepEqual(got.a1.slice(0, 2).sort(), ['x2', 'x3']);
  assert.deepEqual(got.a1.slice(2), ['end']);
  assert.deepEqual(got.a2, ['x1', 'x2', 'end']);
  assert.deepEqual(got.b1.slice(0, 3).sort(), ['x1', 'x2', 'x3']);
  assert.deepEqual(got.b1.slice(3), ['end']);
  assert.deepEqual(got.b2, ['x1', 'x4', 'end']);
});

test('cluster: emit naming a stale id of the other node is 404 listing it', opts, async () => {
  const a1 = await open(connectV4, A);
  const a2 = await open(connectV4, A);
  const b1 = await open(connectV4, B);
  const [ia2, ib1] = [await idOf(a2), await idOf(b1)];
  const gone = await connectV4(B.url);
  const staleB = await idOf(gone);
  gone.close();
  await waitFor(async () => (await api(B, 'GET', `/api/sockets/${staleB}`)).status === 404, () => `${staleB} gone on b`);
  const gotA2 = collect(a2, 'dm');
  const gotB1 = collect(b1, 'dm');
  // b's part (b1 and the stale id) is all or nothing; a's own part is sent (docs/CLUSTER.md: emit is
  // all or nothing per node).
  const res = await a1.request('post', '/sockets/emit', { socketIds: [ia2, ib1, staleB], event: 'dm', data: 'partly' });
  assert.equal(res.statusCode, 404, JSON.stringify(res));
  assert.equal(res.body.error, 'E_UNKNOWN_SOCKET');
  assert.deepEqual(res.body.unknown, [staleB]);
  await ok(a1, '/sockets/emit', { socketIds: [ia2, ib1], event: 'dm', data: 'end' });
  await waitFor(() => gotA2.includes('end') && gotB1.includes('end'), () => JSON.stringify({ gotA2, gotB1 }));
  await sleep(100);
  assert.deepEqual(gotB1, ['end'], 'nothing of the refused part reached b');
  assert.deepEqual(gotA2, ['partly', 'end'], "a's own part was delivered");
});

// When a list of ids holds a malformed one, the 404 lists the ids known not to be
// live: live sockets of the other node are not among them, asked on either node.
test('cluster: a malformed id in a list is the only one reported unknown (live ids of the other node are not)',
  opts, async () => {
    const a1 = await open(connectV4, A);
    const a2 = await open(connectV4, A);
    const b1 = await open(connectV4, B);
    const [ia2, ib1] = [await idOf(a2), await idOf(b1)];
    const onB = await api(B, 'POST', '/api/sockets/join', { socketIds: [ib1, 'not-an-id'], room: unique('bad') });
    assert.deepEqual([onB.status, onB.body.unknown], [404, ['not-an-id']], 'asked on the owner node');
    const onA = await api(A, 'POST', '/api/sockets/join', { socketIds: [ib1, 'not-an-id'], room: unique('bad') });
    assert.deepEqual([onA.status, onA.body.unknown], [404, ['not-an-id']], `admin join asked on a: ${JSON.stringify(onA.body)}`);
    const emit = await a1.request('post', '/sockets/emit', { socketIds: [ia2, ib1, 'not-an-id'], event: 'dm', data: 1 });
    assert.deepEqual([emit.statusCode, emit.body.unknown], [404, ['not-an-id']], `emit from a: ${JSON.stringify(emit.body)}`);
  });

test('cluster: GET /api/rooms/:room counts and lists members on both nodes, from either node', opts, async () => {
  const room = unique('count');
  const a1 = await open(connectV4, A);
  const a2 = await open(connectSails, A);
  const b1 = await open(connectV4, B);
  const b2 = await open(connectV2, B);
  const ids = [await idOf(a1), await idOf(a2), await idOf(b1), await idOf(b2)];
  await ok(a1, '/sockets/join', { room });
  await ok(a2, '/sockets/join', { room });
  await ok(b1, '/sockets/join', { room });
  await ok(a1, '/sockets/join', { room, socketId: ids[3] }); // b2, joined from a
  const path = `/api/rooms/${encodeURIComponent(room)}`;
  for (const node of [A, B]) {
    const res = await api(node, 'GET', path);
    assert.equal(res.status, 200, JSON.stringify(res));
    assert.equal(res.body.count, 4, `${node.name}: ${JSON.stringify(res.body)}`);
    assert.deepEqual([...res.body.members].sort(), [...ids].sort(), node.name);
    assert.equal(res.body.truncated, false);
    assert.equal(res.body.partial, false);
    assert.deepEqual(res.body.missing, []);
    const one = await api(node, 'GET', `${path}?limit=1`);
    assert.equal(one.body.count, 4, JSON.stringify(one.body));
    assert.equal(one.body.members.length, 1);
    assert.equal(one.body.truncated, true);
  }
  await ok(b1, '/sockets/leave', { room });
  b2.close(); // a disconnect leaves every room
  await waitFor(async () => (await api(A, 'GET', path)).body.count === 2, () => 'count 2 after a leave and a disconnect on b');
  const res = await api(B, 'GET', path);
  assert.deepEqual([...res.body.members].sort(), ids.slice(0, 2).sort());
  const none = await api(B, 'GET', `/api/rooms/${unique('empty')}`);
  assert.equal(none.body.count, 0);
});

test('cluster: no message was lost, dropped, duplicated or refused on either node', opts, async () => {
  for (const node of [A, B]) {
    for (const m of ['lost', 'dropped', 'duplicates', 'decode_errors', 'clashes']) {
      assert.equal(await metric(node, `roomcast_cluster_${m}_total`), 0, `${node.name}: roomcast_cluster_${m}_total`);
    }
    assert.equal(await metric(node, 'roomcast_cluster_nodes'), 2, `${node.name}: roomcast_cluster_nodes`);
    assert.ok(await metric(node, 'roomcast_cluster_receives_total') > 0);
  }
});
