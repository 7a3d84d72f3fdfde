// Starts the roomcast binary on a free 127.0.0.1 port for a test file, and stops it.
'use strict';
const { spawn } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');
const fs = require('node:fs');

const ROOT = path.resolve(__dirname, '..', '..');

// ROOMCAST_BIN (scripts/test.sh sets it to the binary it just built), else the
// most recently built of target/{release,debug}/roomcast: an older build left
// behind must never be what gets tested.
function binary() {
  if (process.env.ROOMCAST_BIN) return process.env.ROOMCAST_BIN;
  const targetDir = process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target');
  const built = ['release', 'debug']
    .map((profile) => path.join(targetDir, profile, 'roomcast'))
    .filter((p) => fs.existsSync(p))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  if (built.length === 0) {
    throw new Error('roomcast binary not found: build it (cargo build -p roomcast-server) or set ROOMCAST_BIN');
  }
  return built[0];
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

// Children still running when this test process exits (a failed before hook, an
// uncaught error) are SIGKILLed by their own pid, so no test leaves a process behind.
const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try { process.kill(child.pid, 'SIGKILL'); } catch (_) { /* already gone */ }
  }
});

/** Spawns `cmd`, tracked until it exits (see `live`). */
function spawnTracked(cmd, args, options) {
  const child = spawn(cmd, args, options);
  live.add(child);
  child.on('exit', () => live.delete(child));
  return child;
}

/** Starts a server; resolves to { url, port, pid, stop(), log() }. */
async function startServer(extraArgs = []) {
  const port = await freePort();
  // `--policy open` unless the caller names a policy (the demo test runs the default).
  const policy = extraArgs.includes('--policy') ? [] : ['--policy', 'open'];
  // Two workers unless the caller names a number.
  const workers = extraArgs.includes('--workers') ? [] : ['--workers', '2'];
  const args = ['--port', String(port), ...policy, ...workers, ...extraArgs];
  const child = spawnTracked(binary(), args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' } });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const deadline = Date.now() + 15000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null) throw new Error(`roomcast exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`roomcast did not listen on ${port}:\n${output}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    pid: child.pid,
    url: `http://127.0.0.1:${port}`,
    log: () => output,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve(child.exitCode);
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.on('exit', (code) => { clearTimeout(t); resolve(code); });
      child.kill('SIGTERM');
    }),
  };
}

/** Resolves with the first `event` on `emitter`, or rejects after `ms`. */
function once(emitter, event, ms = 3000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no '${event}' within ${ms} ms`)), ms);
    emitter.once(event, (...args) => { clearTimeout(t); resolve(args.length > 1 ? args : args[0]); });
  });
}

/** Collects every `event` on `emitter` into an array. */
function collect(emitter, event) {
  const got = [];
  emitter.on(event, (data) => got.push(data));
  return got;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves once `cond()` is true (checked every 5 ms); rejects after `ms` naming `what`. */
async function until(cond, ms, what) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(5);
  }
}

/** A banner on stderr that a skipped test cannot hide in a passing summary. */
function shout(message) {
  const bar = '!'.repeat(78);
  process.stderr.write(`\n${bar}\n!! ${message}\n${bar}\n\n`);
}

module.exports = { startServer, spawnTracked, freePort, canConnect, once, collect, sleep, until, shout };
