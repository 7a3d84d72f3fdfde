// The demo page on two cluster nodes in headless Chromium (Debian's `chromium`,
// driven by playwright-core): alice on node a and bob on node b chat in one room
// across nodes, each line shown once on both pages; carol, on b in another
// room, hears nothing. A screenshot goes to e2e/artifacts/cluster-demo.png.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { shout, sleep } = require('./server');
const { startCluster, redisMissing } = require('./cluster');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(__dirname, '..', 'artifacts');

/** Log lines of a page equal to `text` (a chat line reads "name: text"). */
const linesEqual = (page, text) => page.evaluate(
  (t) => [...document.querySelectorAll('#log div')].filter((d) => d.textContent === t).length, text);

test('demo page on two cluster nodes: chat across nodes, not into another room', { timeout: 60000 }, async (t) => {
  const missing = [
    fs.existsSync(CHROMIUM) ? null : `${CHROMIUM} not installed (apt-get install -y chromium)`,
    redisMissing(),
  ].filter(Boolean).join('; ');
  if (missing) {
    if (process.env.CI) assert.fail(`${missing} (.ci/run installs them)`);
    shout(`SKIPPING the cluster demo page browser test: ${missing}`);
    t.skip(missing);
    return;
  }
  const { chromium } = require('playwright-core');
  // Both start at once (the cluster forms within a heartbeat, ~1 s). The page only
  // uses routes the default policy allows.
  const [started, launched] = await Promise.allSettled([
    startCluster({ names: ['a', 'b'], args: ['--policy', 'default'] }),
    chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--no-first-run',
        // Three tabs, one in front: keep the others' timers at full speed.
        '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
        '--disable-backgrounding-occluded-windows'],
    }),
  ]);
  if (started.status === 'rejected' || launched.status === 'rejected') {
    if (launched.status === 'fulfilled') await launched.value.close();
    if (started.status === 'fulfilled') await started.value.stop();
    throw started.reason || launched.reason;
  }
  const cluster = started.value;
  const browser = launched.value;
  const [A, B] = cluster.nodes;
  const errors = [];
  try {
    const context = await browser.newContext({ viewport: { width: 980, height: 640 } });
    const open = async (node, name, room) => {
      const page = await context.newPage();
      page.on('pageerror', (e) => errors.push(`${name}: ${e}`));
      await page.goto(node.url + '/');
      await page.waitForSelector('#status.on', { timeout: 10000 });
      await page.fill('#name', name);
      await page.fill('#room', room);
      await page.click('#joinBtn');
      await page.waitForFunction(() => !document.getElementById('text').disabled);
      return page;
    };
    const say = async (page, text) => {
      await page.bringToFront(); // the typing tab is the visible one, as for a person
      await page.fill('#text', text);
      await page.click('#sendBtn');
    };
    // Poll on a timer: animation frames of a tab that is not in front are paused.
    const until = (page, fn, arg) => page.waitForFunction(fn, arg, { timeout: 5000, polling: 50 });
    const waitLog = (page, text) => until(page, (s) => document.getElementById('log').textContent.includes(s), text);

    const alice = await open(A, 'alice', 'lobby');
    const bob = await open(B, 'bob', 'lobby');
    const carol = await open(B, 'carol', 'elsewhere');
    // Presence crosses nodes both ways: bob's "joined" reaches a, alice's "here" reaches b.
    await waitLog(alice, 'bob joined');
    await until(bob, () => document.getElementById('people').textContent.includes('alice'));
    await until(alice, () => document.getElementById('people').textContent.includes('bob'));

    await say(alice, 'hello from node a');
    await waitLog(bob, 'hello from node a');
    await say(bob, 'hello from node b');
    await waitLog(alice, 'hello from node b');
    await say(alice, 'and back to b');
    await waitLog(bob, 'and back to b');
    await waitLog(alice, 'and back to b');
    await sleep(300); // a duplicate or a stray copy would show up now
    for (const [page, who] of [[alice, 'alice'], [bob, 'bob']]) {
      for (const line of ['alice: hello from node a', 'bob: hello from node b', 'alice: and back to b']) {
        assert.equal(await linesEqual(page, line), 1, `${who}'s page shows "${line}" once`);
      }
      const log = await page.textContent('#log');
      assert.ok(log.indexOf('hello from node a') < log.indexOf('hello from node b'), `${who}: order`);
      assert.ok(log.indexOf('hello from node b') < log.indexOf('and back to b'), `${who}: order`);
    }
    const carolLog = await carol.textContent('#log');
    for (const s of ['hello from node', 'and back', 'alice', 'bob']) assert.ok(!carolLog.includes(s), carolLog);

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await bob.screenshot({ path: path.join(ARTIFACTS, 'cluster-demo.png') });

    // Alice (node a) closes her tab: bob, on node b, sees her leave.
    await alice.close({ runBeforeUnload: true });
    await waitLog(bob, 'alice left');
    await until(bob, () => !document.getElementById('people').textContent.includes('alice'));
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    const codes = await cluster.stop();
    assert.deepEqual(codes.nodes, { a: 0, b: 0 }, `node exit codes; logs:\n${cluster.logs()}`);
  }
});
