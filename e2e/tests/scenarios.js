// The scenarios every client flavour must pass against a running roomcast server.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer, once, collect, sleep } = require('./server');

let seq = 0;
const unique = (name) => `${name}-${process.pid}-${++seq}`;

/**
 * Defines the suite for one client flavour. `connect(url)` resolves to
 * { request(method, url, data) -> Promise<{statusCode, body}>, on(event, fn), close() }.
 */
function defineScenarios(flavour, connect) {
  let server;
  const clients = [];
  const open = async () => { const c = await connect(server.url); clients.push(c); return c; };
  const idOf = async (c) => {
    const res = await c.request('get', '/sockets/id');
    assert.equal(res.statusCode, 200);
    assert.equal(typeof res.body.id, 'string');
    return res.body.id;
  };
  const ok = async (c, url, data) => {
    const res = await c.request('post', url, data);
    assert.deepEqual(res, { statusCode: 200, body: { ok: true } }, `${url} ${JSON.stringify(data)}`);
  };

  before(async () => { server = await startServer(); });
  after(async () => {
    for (const c of clients) c.close();
    const code = await server.stop();
    assert.equal(code, 0, `server exit code; log:\n${server.log()}`);
  });

  test(`${flavour}: gets its own id, distinct per client`, async () => {
    const a = await open();
    const b = await open();
    const [ia, ib] = [await idOf(a), await idOf(b)];
    assert.notEqual(ia, ib);
    assert.match(ia, /^[A-Za-z0-9_-]{24}$/);
  });

  test(`${flavour}: join, broadcast once per socket across rooms, omitSender`, async () => {
    const [a, b, c] = [await open(), await open(), await open()];
    const r1 = unique('r1');
    const r2 = unique('r2');
    await ok(a, '/sockets/join', { room: r1 });
    await ok(a, '/sockets/join', { room: r2 });
    await ok(b, '/sockets/join', { room: r2 });
    const gotA = collect(a, 'news');
    const gotB = collect(b, 'news');
    const gotC = collect(c, 'news');
    // a is in both rooms and gets one copy; c is in neither.
    await ok(c, '/sockets/broadcast', { rooms: [r1, r2], event: 'news', data: { n: 1 } });
    // omitSender: b broadcasts to r2 and does not hear itself.
    await ok(b, '/sockets/broadcast', { rooms: r2, event: 'news', data: { n: 2 }, omitSender: true });
    // Default event name is "message".
    const msg = once(a, 'message');
    await ok(c, '/sockets/broadcast', { rooms: r1, data: 'plain' });
    assert.equal(await msg, 'plain');
    await sleep(100);
    assert.deepEqual(gotA, [{ n: 1 }, { n: 2 }]);
    assert.deepEqual(gotB, [{ n: 1 }]);
    assert.deepEqual(gotC, []);
  });

  test(`${flavour}: events broadcast by a request arrive before its ack`, async () => {
    const a = await open();
    const room = unique('order');
    await ok(a, '/sockets/join', { room });
    const order = [];
    a.on('ordered', () => order.push('event'));
    const res = await a.request('post', '/sockets/broadcast', { rooms: room, event: 'ordered', data: 1 });
    order.push('ack');
    assert.equal(res.statusCode, 200);
    assert.deepEqual(order, ['event', 'ack']);
  });

  test(`${flavour}: emit to ids, unknown id gives 404 and delivers nothing`, async () => {
    const [a, b] = [await open(), await open()];
    const ib = await idOf(b);
    const got = collect(b, 'direct');
    const gone = (await idOf(a)).split('').reverse().join('');
    const res = await a.request('post', '/sockets/emit', { socketIds: [ib, gone], event: 'direct', data: 'x' });
    assert.equal(res.statusCode, 404);
    assert.equal(res.body.error, 'E_UNKNOWN_SOCKET');
    assert.deepEqual(res.body.unknown, [gone]);
    await ok(a, '/sockets/emit', { socketIds: ib, event: 'direct', data: 'marker' });
    await sleep(100);
    assert.deepEqual(got, ['marker'], 'the refused emit delivered nothing');
  });

  test(`${flavour}: leave, leave-all, add/remove room members`, async () => {
    const [a, b] = [await open(), await open()];
    const [src, dst, other] = [unique('src'), unique('dst'), unique('other')];
    await ok(a, '/sockets/join', { room: src });
    await ok(b, '/sockets/join', { room: src });
    await ok(a, '/sockets/add-room-members-to-rooms', { sourceRoom: src, destRooms: [dst, other] });
    const gotA = collect(a, 'ev');
    const gotB = collect(b, 'ev');
    await ok(a, '/sockets/broadcast', { rooms: dst, event: 'ev', data: 'dst-1' });
    await ok(a, '/sockets/remove-room-members-from-rooms', { sourceRoom: src, destRooms: dst });
    await ok(a, '/sockets/broadcast', { rooms: dst, event: 'ev', data: 'dst-2' });
    await ok(b, '/sockets/leave', { room: other });
    await ok(a, '/sockets/broadcast', { rooms: other, event: 'ev', data: 'other-1' });
    await ok(a, '/sockets/leave-all', { room: src });
    await ok(a, '/sockets/broadcast', { rooms: [src, other], event: 'ev', data: 'after-leave-all' });
    // The own-id room survives leave-all.
    await ok(a, '/sockets/broadcast', { rooms: await idOf(b), event: 'ev', data: 'to-b' });
    await sleep(100);
    assert.deepEqual(gotA, ['dst-1', 'other-1']);
    assert.deepEqual(gotB, ['dst-1', 'to-b']);
  });

  test(`${flavour}: resourceful pub/sub message and publish`, async () => {
    const [a, b] = [await open(), await open()];
    const model = unique('pet').replace(/-/g, '');
    await ok(a, `/pubsub/${model}/subscribe`, { ids: [7, 'x'] });
    await ok(b, `/pubsub/${model}/subscribe`, { ids: [7] });
    const gotA = collect(a, model);
    const gotB = collect(b, model);
    await ok(b, `/pubsub/${model}/message`, { id: 7, data: { hi: 1 }, omitSender: true });
    await ok(b, `/pubsub/${model}/publish`, { ids: [7, 'x'], data: { both: true } });
    await sleep(100);
    assert.deepEqual(gotA, [{ verb: 'messaged', id: 7, data: { hi: 1 } }, { both: true }]);
    assert.deepEqual(gotB, [{ both: true }]);
  });

  test(`${flavour}: malformed and unknown requests get error acks`, async () => {
    const a = await open();
    const res = await a.request('post', '/sockets/join', { room: 42 });
    assert.equal(res.statusCode, 400);
    assert.equal(res.body.error, 'E_BAD_REQUEST');
    const nf = await a.request('get', '/no/such/route');
    assert.equal(nf.statusCode, 404);
    assert.equal(nf.body.error, 'E_NOT_FOUND');
    // The connection still works afterwards.
    assert.equal(typeof (await idOf(a)), 'string');
  });
}

module.exports = { defineScenarios };
