// The demo page at / in headless Chromium (Debian's `chromium`, driven by
// playwright-core): the page loads the socket.io client roomcast serves and
// connects with its default options, so each tab opens on HTTP long-polling and
// upgrades to WebSocket; two pages in one room chat, a third in another room
// hears nothing; a screenshot goes to e2e/artifacts/demo.png.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { startServer, shout } = require('./server');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(__dirname, '..', 'artifacts');

test('demo page: chat between two tabs of one room, not a third room', { timeout: 60000 }, async (t) => {
  if (!fs.existsSync(CHROMIUM)) {
    if (process.env.CI) assert.fail(`${CHROMIUM} missing (.ci/run installs it)`);
    shout(`SKIPPING the demo page browser test: ${CHROMIUM} not installed (apt-get install -y chromium)`);
    t.skip(`${CHROMIUM} not installed (apt-get install -y chromium)`);
    return;
  }
  const { chromium } = require('playwright-core');
  const server = await startServer(['--policy', 'default']);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run'],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 980, height: 640 } });
    const requests = new Map(); // page name -> socket.io URLs it requested
    const open = async (name, room) => {
      const page = await context.newPage();
      page.on('pageerror', (e) => { throw e; });
      const urls = [];
      requests.set(name, urls);
      page.on('request', (r) => { if (r.url().includes('/socket.io/')) urls.push(r.url()); });
      page.on('websocket', (ws) => urls.push(ws.url()));
      await page.goto(server.url + '/');
      await page.waitForSelector('#status.on', { timeout: 10000 });
      // Default options: the client opened on polling and upgrades to websocket.
      await page.waitForFunction(() => window.demoTransport.upgradedTo === 'websocket', null, { timeout: 10000 });
      const transport = await page.evaluate(() => ({
        ...window.demoTransport, now: window.demoSocket.io.engine.transport.name,
      }));
      assert.deepEqual(transport, { first: 'polling', upgradedTo: 'websocket', now: 'websocket' }, name);
      await page.waitForSelector('#status.on:has-text("(websocket)")', { timeout: 5000 });
      // The tab says which node and worker it landed on (GET /sockets/id).
      await page.waitForSelector('#status.on:has-text("worker")', { timeout: 5000 });
      assert.ok(urls.some((u) => u.endsWith('/socket.io/socket.io.js')), `${name} loaded the client: ${urls}`);
      assert.ok(urls.some((u) => /[?&]EIO=4&transport=polling/.test(u)), `${name} polled: ${urls}`);
      assert.ok(urls.some((u) => /^ws:.*[?&]EIO=4&transport=websocket&sid=/.test(u)), `${name} upgraded: ${urls}`);
      await page.fill('#name', name);
      await page.fill('#room', room);
      await page.click('#joinBtn');
      await page.waitForFunction(() => !document.getElementById('text').disabled);
      return page;
    };
    const alice = await open('alice', 'lobby');
    const bob = await open('bob', 'lobby');
    const carol = await open('carol', 'elsewhere');
    // Alice sees Bob join (presence) and both list each other.
    await alice.waitForFunction(() => document.getElementById('log').textContent.includes('bob joined'));
    await bob.waitForFunction(() => document.getElementById('people').textContent.includes('alice'));

    await bob.fill('#text', 'hello from bob');
    await bob.click('#sendBtn');
    await alice.waitForFunction(() => document.getElementById('log').textContent.includes('hello from bob'));
    // Carol's room never hears it (give it time to arrive if it were sent).
    await bob.waitForFunction(() => document.getElementById('log').textContent.includes('hello from bob'));
    await new Promise((r) => setTimeout(r, 500));
    const carolLog = await carol.textContent('#log');
    assert.ok(!carolLog.includes('hello from bob'), carolLog);
    assert.ok(!carolLog.includes('bob joined'), carolLog);

    // Live stats: connections polled from /metrics.
    await alice.waitForFunction(() => Number(document.getElementById('conns').textContent) >= 3, null, { timeout: 5000 });

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await alice.screenshot({ path: path.join(ARTIFACTS, 'demo.png') });

    // Bob closes his tab: Alice sees him leave.
    await bob.close({ runBeforeUnload: true });
    await alice.waitForFunction(() => document.getElementById('log').textContent.includes('bob left'));
    await alice.waitForFunction(() => !document.getElementById('people').textContent.includes('bob'));
  } finally {
    await browser.close();
    await server.stop();
  }
});
