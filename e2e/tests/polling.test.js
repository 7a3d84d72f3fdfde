// Real clients over HTTP long-polling, and across the upgrade to WebSocket:
// socket.io-client 4 with its default options (polling, then the upgrade) and
// with transports: ["polling"] only, socket.io-client 2 with its defaults,
// sails.io.js 1.2.1 with transports: ['polling', 'websocket'], and
// python-socketio over polling (e2e/python). Each connects, makes a virtual
// request, joins a room, and gets a numbered stream of broadcasts from another
// client: every number once, in order. For the clients that upgrade, the
// stream starts on polling while their WebSocket probe is held at a gate
// (tests/gate.js), then the gate opens and the upgrade happens while the
// stream flows.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const { startServer, spawnTracked, sleep, until, shout } = require('./server');
const { connectV4, connectV2, connectSails } = require('./clients');
const { startUpgradeGate } = require('./gate');

const COUNT = 1000;
const PYTHON = path.join(__dirname, '..', 'python', '.venv', 'bin', 'python');
const PY_CLIENT = path.join(__dirname, '..', 'python', 'polling_client.py');
const numbers = (n) => Array.from({ length: n }, (_, i) => i + 1);

let server;
let publisher; // a WebSocket client broadcasting the streams
let roomSeq = 0;
const newRoom = () => `seq-${process.pid}-${++roomSeq}`;

before(async () => {
  server = await startServer();
  publisher = await connectV4(server.url);
});
after(async () => {
  if (publisher) publisher.close();
  const code = await server.stop();
  assert.equal(code, 0, `server exit code; log:\n${server.log()}`);
});

/**
 * Broadcasts event 'seq' with data {n} for n = 1..count to `room`, one request
 * at a time, each answered 200. `progress.sent` is the last n acked;
 * `beforeEach(n)` may hold the stream back.
 */
async function broadcastSequence(room, count, progress, beforeEach = async () => {}) {
  for (let n = 1; n <= count; n++) {
    await beforeEach(n);
    const res = await publisher.request('post', '/sockets/broadcast', { rooms: room, event: 'seq', data: { n } });
    assert.deepEqual(res, { statusCode: 200, body: { ok: true } }, `broadcast ${n}`);
    progress.sent = n;
  }
}

const FLAVOURS = [
  {
    name: 'socket.io-client 4.8.1, default options: polling, then the upgrade',
    connect: (url) => connectV4(url, {}),
    upgrades: true,
  },
  {
    name: 'socket.io-client 4.8.1, transports: ["polling"]',
    connect: (url) => connectV4(url, { transports: ['polling'] }),
    upgrades: false,
  },
  {
    name: 'socket.io-client 2.0.3, default options: polling, then the upgrade',
    connect: (url) => connectV2(url, {}),
    upgrades: true,
  },
  {
    name: "sails.io.js 1.2.1, transports: ['polling', 'websocket']",
    connect: (url) => connectSails(url, { transports: ['polling', 'websocket'] }),
    upgrades: true,
  },
];

for (const flavour of FLAVOURS) {
  test(`${flavour.name}: request, join, ${COUNT} broadcasts once and in order`, { timeout: 60000 }, async (t) => {
    const gate = await startUpgradeGate(server.port);
    let client;
    try {
      client = await flavour.connect(gate.url);
      const engine = client.engine();
      assert.equal(engine.transport.name, 'polling', 'the client opened on polling');
      const upgrade = { to: null, received: null, sent: null };
      const progress = { sent: 0 };
      const got = [];
      const via = []; // the transport each broadcast came over
      engine.on('upgrade', (transport) => {
        Object.assign(upgrade, { to: transport.name, received: got.length, sent: progress.sent });
      });
      client.on('seq', (data) => { got.push(data.n); via.push(client.engine().transport.name); });

      // A virtual request, then the join.
      const own = await client.request('get', '/sockets/id');
      assert.equal(own.statusCode, 200);
      assert.match(own.body.id, /^[A-Za-z0-9_-]{24}$/);
      const room = newRoom();
      assert.deepEqual(await client.request('post', '/sockets/join', { room }), { statusCode: 200, body: { ok: true } });
      assert.equal(client.engine().transport.name, 'polling', 'still on polling while the probe is held');

      // The stream. For an upgrading client the second half waits until the
      // upgrade is done, so part of the stream surely comes over WebSocket.
      const holdForUpgrade = async (n) => {
        if (flavour.upgrades && n === COUNT / 2) await until(() => upgrade.to, 10000, 'the upgrade');
      };
      const publishing = broadcastSequence(room, COUNT, progress, holdForUpgrade);
      publishing.catch(() => {}); // awaited below; fails the test there
      let openedAt = null;
      if (flavour.upgrades) {
        await until(() => got.length >= 50, 10000, '50 broadcasts over polling');
        await until(() => gate.waiting() === 1, 5000, 'the WebSocket probe at the gate');
        openedAt = progress.sent;
        gate.open(); // the upgrade now happens while the stream flows
      }
      await publishing;
      await until(() => got.length >= COUNT, 20000, `${COUNT} broadcasts (got ${got.length})`);
      await sleep(300); // a duplicate would have arrived by now
      assert.deepEqual(got, numbers(COUNT), 'every broadcast once, in order');

      const polled = via.filter((v) => v === 'polling').length;
      if (flavour.upgrades) {
        t.diagnostic(`gate opened after ${openedAt} broadcasts; upgraded after ${upgrade.sent} sent, ` +
          `${upgrade.received} received; ${polled} came over polling, ${COUNT - polled} over websocket`);
        assert.equal(upgrade.to, 'websocket');
        assert.equal(client.engine().transport.name, 'websocket');
        assert.equal(gate.upgrades(), 1, 'one WebSocket upgrade request');
        assert.ok(openedAt < COUNT / 2, 'the gate opened mid-stream');
        assert.ok(polled >= 50 && polled < COUNT, `some over polling, the rest over websocket: ${polled}`);
        assert.deepEqual(via, [...Array(polled).fill('polling'), ...Array(COUNT - polled).fill('websocket')],
          'polling first, then websocket, never back');
      } else {
        assert.equal(upgrade.to, null, 'no upgrade');
        assert.equal(client.engine().transport.name, 'polling');
        assert.equal(polled, COUNT, 'all over polling');
        assert.equal(gate.upgrades(), 0, 'no WebSocket upgrade request');
      }
      // Still answering requests after the stream.
      assert.deepEqual(await client.request('get', '/sockets/id'), own);
    } finally {
      if (client) client.close();
      await gate.stop();
    }
  });
}

/** Reads JSON lines from `stream`; next(ms) resolves to the next one or rejects after `ms`. */
function jsonLines(stream) {
  const lines = [];
  const waiters = [];
  readline.createInterface({ input: stream }).on('line', (line) => {
    const w = waiters.shift();
    if (w) w(line); else lines.push(line);
  });
  return {
    next: (ms) => new Promise((resolve, reject) => {
      const take = (line) => { clearTimeout(timer); try { resolve(JSON.parse(line)); } catch (e) { reject(new Error(`not JSON: ${line}`)); } };
      const timer = setTimeout(() => {
        const i = waiters.indexOf(take);
        if (i >= 0) waiters.splice(i, 1);
        reject(new Error(`no line from the python client within ${ms} ms`));
      }, ms);
      if (lines.length) take(lines.shift()); else waiters.push(take);
    }),
  };
}

test(`python-socketio (e2e/python) over polling: join, request, ${COUNT} broadcasts once and in order`, { timeout: 60000 }, async (t) => {
  if (!fs.existsSync(PYTHON)) {
    const why = `${PYTHON} missing: run e2e/python/setup.sh (needs python3-venv)`;
    if (process.env.CI) assert.fail(`${why}; .ci/run sets it up`);
    shout(`SKIPPING the python-socketio polling test: ${why}`);
    t.skip(why);
    return;
  }
  const gate = await startUpgradeGate(server.port);
  const room = newRoom();
  const child = spawnTracked(PYTHON, [PY_CLIENT, gate.url, room, String(COUNT), '30'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const out = jsonLines(child.stdout);
    const joined = await out.next(15000).catch((e) => { throw new Error(`${e.message}\n${stderr}`); });
    assert.equal(joined.error, undefined, `python client: ${joined.error}\n${stderr}`);
    assert.equal(joined.transport, 'polling');
    assert.equal(joined.joined.statusCode, 200, JSON.stringify(joined));
    assert.deepEqual(joined.joined.body, { ok: true });

    const t0 = Date.now();
    await broadcastSequence(room, COUNT, { sent: 0 });
    t.diagnostic(`${COUNT} broadcasts sent in ${Date.now() - t0} ms`);
    const summary = await out.next(40000).catch((e) => { throw new Error(`${e.message}\n${stderr}`); });
    t.diagnostic(`summary ${Date.now() - t0} ms after the first broadcast`);
    assert.equal(summary.error, undefined, `python client: ${summary.error}\n${stderr}`);
    assert.equal(summary.connected_on, 'polling');
    assert.deepEqual(summary.transports, ['polling']);
    assert.equal(summary.id.statusCode, 200);
    assert.match(summary.id.body.id, /^[A-Za-z0-9_-]{24}$/);
    assert.deepEqual(summary.received, numbers(COUNT), 'every broadcast once, in order');
    assert.equal(gate.upgrades(), 0, 'no WebSocket upgrade request');
    const code = await Promise.race([exited, new Promise((resolve) => {
      setTimeout(() => resolve('still running after 10 s'), 10000).unref();
    })]);
    assert.equal(code, 0, `python client exit: ${stderr}`);
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      try { process.kill(child.pid, 'SIGKILL'); } catch (_) { /* already gone */ }
    }
    await gate.stop();
  }
});
