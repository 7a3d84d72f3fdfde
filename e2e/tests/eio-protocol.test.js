// Engine.IO / Socket.IO over HTTP long-polling from the outside, with plain
// fetch (and the `ws` package for the upgrade), after the checks of the
// official engine.io-protocol and socket.io-protocol test suites: the
// handshake, POST then GET, heartbeats over polling and the close after a
// missed pong, bad sid / transport / method / payload, a second concurrent GET,
// and the upgrade by WebSocket probe. server/tests/polling.rs checks these at
// length inside; here each is checked once against the real binary.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { startServer, sleep } = require('./server');

const RS = '\x1e'; // the v4 payload separator
const SESSION_UNKNOWN = { status: 400, type: 'application/json', body: '{"code":1,"message":"Session ID unknown"}' };
const TRANSPORT_UNKNOWN = { status: 400, type: 'application/json', body: '{"code":0,"message":"Transport unknown"}' };
const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;

let server; // default settings
let fast; // small ping interval and timeout, for the heartbeat tests

before(async () => {
  [server, fast] = await Promise.all([
    startServer(),
    startServer(['--ping-interval-ms', String(PING_INTERVAL), '--ping-timeout-ms', String(PING_TIMEOUT)]),
  ]);
});
after(async () => {
  for (const s of [server, fast]) {
    const code = await s.stop();
    assert.equal(code, 0, `server exit code; log:\n${s.log()}`);
  }
});

/** One HTTP request; resolves to { status, type (media type), body (text) }. */
async function http(url, init = {}) {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10000) });
  const type = (res.headers.get('content-type') || '').split(';')[0];
  return { status: res.status, type, body: await res.text(), contentType: res.headers.get('content-type') };
}
const pollUrl = (s, sid, eio = 4) => `${s.url}/socket.io/?EIO=${eio}&transport=polling${sid ? `&sid=${sid}` : ''}`;
const get = (s, sid) => http(pollUrl(s, sid));
const post = (s, sid, body) => http(pollUrl(s, sid), { method: 'POST', body, headers: { 'content-type': 'text/plain;charset=UTF-8' } });
/** The status, media type and body of an answer (what the assertions compare). */
const errorOf = (a) => ({ status: a.status, type: a.type, body: a.body });
const TEXT_OK = (body) => ({ status: 200, type: 'text/plain', body });

/** Opens a v4 polling session; resolves to { sid, open } (the parsed open packet). */
async function handshake(s) {
  const a = await get(s);
  assert.equal(a.status, 200, a.body);
  assert.equal(a.contentType, 'text/plain; charset=UTF-8');
  assert.equal(a.body[0], '0', a.body);
  const open = JSON.parse(a.body.slice(1));
  return { sid: open.sid, open };
}

/** A session with the Socket.IO CONNECT to / done; resolves to { sid, socketId }. */
async function connected(s) {
  const { sid } = await handshake(s);
  assert.deepEqual(errorOf(await post(s, sid, '40')), { status: 200, type: 'text/html', body: 'ok' });
  const a = await get(s, sid);
  assert.equal(a.status, 200);
  const m = /^40(\{.*\})$/.exec(a.body);
  assert.ok(m, `CONNECT answer: ${a.body}`);
  return { sid, socketId: JSON.parse(m[1]).sid };
}

/** A sails.io.js style virtual request as a Socket.IO EVENT with ack id `ack`. */
const virtualRequest = (ack, method, url, data = null) =>
  `42${ack}${JSON.stringify([method, { method, url, data, headers: {} }])}`;

/** GETs until `want` packets came (at most 10 polls); resolves to the packets. */
async function pollPackets(s, sid, want) {
  const got = [];
  for (let i = 0; i < 10 && got.length < want; i++) {
    const a = await get(s, sid);
    assert.equal(a.status, 200, a.body);
    got.push(...a.body.split(RS));
  }
  assert.equal(got.length, want, `packets: ${JSON.stringify(got)}`);
  return got;
}

test('handshake over polling: the open packet (v4), and v3 framing with the implicit CONNECT', async () => {
  const { open } = await handshake(server);
  assert.deepEqual(Object.keys(open), ['sid', 'upgrades', 'pingInterval', 'pingTimeout', 'maxPayload']);
  assert.match(open.sid, /^[A-Za-z0-9_-]{24}$/);
  assert.deepEqual(open.upgrades, ['websocket']);
  assert.deepEqual([open.pingInterval, open.pingTimeout, open.maxPayload], [25000, 20000, 1000000]);
  const other = await handshake(server);
  assert.notEqual(other.sid, open.sid);
  assert.deepEqual((await handshake(fast)).open.pingInterval, PING_INTERVAL);

  // EIO=3: <length>:<packet> framing, then 40 for /.
  const v3 = await http(pollUrl(server, null, 3));
  assert.equal(v3.status, 200);
  const m = /^(\d+):(0\{.*\})2:40$/.exec(v3.body);
  assert.ok(m, v3.body);
  assert.equal(Number(m[1]), m[2].length);
  assert.deepEqual(JSON.parse(m[2].slice(1)).upgrades, ['websocket']);
});

test('POST then GET: CONNECT, several packets in one payload, acks; an unknown namespace is refused', async () => {
  const { sid, socketId } = await connected(server);
  assert.match(socketId, /^[A-Za-z0-9_-]{24}$/);
  const room = `proto-${process.pid}`;
  const body = [virtualRequest(1, 'get', '/sockets/id'), virtualRequest(2, 'post', '/sockets/join', { room }),
    virtualRequest(3, 'post', '/sockets/broadcast', { rooms: room, event: 'hi', data: { n: 1 } })].join(RS);
  assert.equal((await post(server, sid, body)).body, 'ok');
  const packets = await pollPackets(server, sid, 4);
  const acks = Object.fromEntries(packets.filter((p) => p.startsWith('43')).map((p) => {
    const [, id, args] = /^43(\d+)(\[.*\])$/.exec(p);
    return [id, JSON.parse(args)[0]];
  }));
  assert.deepEqual(acks['1'].statusCode, 200);
  assert.equal(acks['1'].body.id, socketId);
  assert.deepEqual([acks['2'].statusCode, acks['2'].body], [200, { ok: true }]);
  assert.deepEqual([acks['3'].statusCode, acks['3'].body], [200, { ok: true }]);
  // The broadcast came to the sender too (it is in the room), before the ack.
  assert.ok(packets.indexOf('42["hi",{"n":1}]') >= 0, JSON.stringify(packets));
  assert.ok(packets.indexOf('42["hi",{"n":1}]') < packets.findIndex((p) => p.startsWith('433')), JSON.stringify(packets));

  // socket.io-protocol: CONNECT to a namespace nobody registered.
  assert.equal((await post(server, sid, '40/nope,')).body, 'ok');
  assert.deepEqual(await pollPackets(server, sid, 1), ['44/nope,{"message":"Invalid namespace"}']);
});

test('heartbeat over polling: ping in a GET, pong by POST; a missed pong ends the session', async () => {
  const { sid } = await connected(fast);
  const started = Date.now();
  // Three rounds: each parked GET is answered with a ping, the pong goes by POST.
  for (let round = 0; round < 3; round++) {
    const t0 = Date.now();
    const a = await get(fast, sid);
    assert.equal(a.body, '2', `round ${round}`);
    assert.ok(Date.now() - t0 < PING_INTERVAL + 1000, `ping within the interval (round ${round})`);
    assert.equal((await post(fast, sid, '3')).body, 'ok');
  }
  assert.ok(Date.now() - started > PING_INTERVAL + PING_TIMEOUT, 'the session outlived one interval + timeout');
  // No pong: a GET parked then gets the ping, the next one the close packet...
  assert.equal((await get(fast, sid)).body, '2');
  const t0 = Date.now();
  assert.equal((await get(fast, sid)).body, '1');
  assert.ok(Date.now() - t0 < PING_TIMEOUT + 1000, 'closed at the ping timeout');
  // ...and the session is gone.
  assert.deepEqual(errorOf(await get(fast, sid)), SESSION_UNKNOWN);

  // No pong and no GET parked: gone once interval + timeout passed.
  const other = await connected(fast);
  await sleep(PING_INTERVAL + PING_TIMEOUT + 300);
  assert.deepEqual(errorOf(await get(fast, other.sid)), SESSION_UNKNOWN);
});

test('bad sid, bad transport, bad method, bad payloads: engine.io errors', async () => {
  for (const sid of ['nope', 'AAAAAAAAAAAAAAAAAAAAAAAA']) {
    assert.deepEqual(errorOf(await get(server, sid)), SESSION_UNKNOWN, sid);
    assert.deepEqual(errorOf(await post(server, sid, '3')), SESSION_UNKNOWN, sid);
  }
  for (const query of ['EIO=4&transport=carrier-pigeon', 'EIO=4']) {
    assert.deepEqual(errorOf(await http(`${server.url}/socket.io/?${query}`)), TRANSPORT_UNKNOWN, query);
  }
  assert.deepEqual(errorOf(await http(pollUrl(server), { method: 'POST', body: '40' })),
    { status: 400, type: 'application/json', body: '{"code":2,"message":"Bad handshake method"}' });
  const badPut = await http(pollUrl(server, (await handshake(server)).sid), { method: 'PUT', body: '3' });
  assert.equal(badPut.status, 400);
  assert.equal(JSON.parse(badPut.body).code, 3);

  // Malformed payloads (an empty packet, an empty body): 400 (code 3), and the
  // session is over.
  for (const body of [`4x${RS}${RS}`, '']) {
    const { sid } = await connected(server);
    const a = await post(server, sid, body);
    assert.equal(a.status, 400, `${JSON.stringify(body)}: ${a.body}`);
    assert.equal(JSON.parse(a.body).code, 3, a.body);
    assert.deepEqual(errorOf(await get(server, sid)), SESSION_UNKNOWN, JSON.stringify(body));
  }
  // A well-framed packet of no Engine.IO type, or a Socket.IO packet that does
  // not parse: as engine.io, the POST is taken ("ok") and the session closes
  // on the parse error.
  for (const body of ['z', `4z`, `40${RS}9`]) {
    const { sid } = await connected(server);
    assert.deepEqual(errorOf(await post(server, sid, body)), { status: 200, type: 'text/html', body: 'ok' }, body);
    assert.deepEqual(errorOf(await get(server, sid)), SESSION_UNKNOWN, JSON.stringify(body));
  }
  // Over maxPayload: 413, and the session is over.
  const { sid } = await connected(server);
  assert.equal((await post(server, sid, '4'.repeat(1000001))).status, 413);
  assert.deepEqual(errorOf(await get(server, sid)), SESSION_UNKNOWN);
});

test('a second concurrent GET is refused and closes the session; the first gets the close packet', async () => {
  const { sid } = await connected(server);
  const first = get(server, sid);
  await sleep(200); // parked
  const second = await get(server, sid);
  assert.equal(second.status, 400);
  assert.equal(JSON.parse(second.body).code, 3, second.body);
  assert.deepEqual(errorOf(await first), TEXT_OK('1'));
  assert.deepEqual(errorOf(await get(server, sid)), SESSION_UNKNOWN);
});

test('the client closes by POSTing 1: a parked GET gets a noop, then the session is gone', async () => {
  const { sid } = await connected(server);
  const parked = get(server, sid);
  await sleep(200);
  assert.equal((await post(server, sid, '1')).body, 'ok');
  assert.equal((await parked).body, '6');
  assert.deepEqual(errorOf(await get(server, sid)), SESSION_UNKNOWN);
});

/** A `ws` WebSocket with a queue of its text messages: next(ms). */
function openWs(url) {
  const ws = new WebSocket(url);
  const queue = [];
  const waiters = [];
  ws.on('message', (data) => {
    const text = data.toString();
    const w = waiters.shift();
    if (w) w(text); else queue.push(text);
  });
  const opened = new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  const next = (ms = 5000) => new Promise((resolve, reject) => {
    if (queue.length) return resolve(queue.shift());
    const timer = setTimeout(() => reject(new Error(`no WebSocket message within ${ms} ms`)), ms);
    waiters.push((text) => { clearTimeout(timer); resolve(text); });
  });
  return { ws, opened, next };
}

test('upgrade: 2probe/3probe over WebSocket, the parked GET gets a noop, 5 moves the session', async () => {
  const { sid, socketId } = await connected(server);
  const wsUrl = `ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket&sid=${sid}`;
  const parked = get(server, sid);
  await sleep(200);
  const probe = openWs(wsUrl);
  try {
    await probe.opened;
    probe.ws.send('2probe');
    assert.equal(await probe.next(), '3probe');
    assert.deepEqual(errorOf(await parked), TEXT_OK('6'));
    probe.ws.send('5');
    // The session is the WebSocket's now: a virtual request is answered there.
    probe.ws.send(virtualRequest(7, 'get', '/sockets/id'));
    const ack = /^437\[(.*)\]$/.exec(await probe.next());
    assert.ok(ack, 'ack 7');
    assert.equal(JSON.parse(ack[1]).body.id, socketId);
    // Polling and a second upgrade with the same sid are refused.
    assert.equal((await get(server, sid)).status, 400);
    const again = openWs(wsUrl);
    await assert.rejects(again.opened, /HTTP 400/);
    // Still working after both refusals.
    probe.ws.send(virtualRequest(8, 'get', '/sockets/id'));
    assert.match(await probe.next(), /^438\[/);
  } finally {
    probe.ws.terminate();
  }
});
