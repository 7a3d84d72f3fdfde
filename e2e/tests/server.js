// Starts the roomcast binary on a free 127.0.0.1 port for a test file, and stops it.
'use strict';
const { spawn } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');
const fs = require('node:fs');

const ROOT = path.resolve(__dirname, '..', '..');

function binary() {
  if (process.env.ROOMCAST_BIN) return process.env.ROOMCAST_BIN;
  const targetDir = process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target');
  for (const profile of ['release', 'debug']) {
    const p = path.join(targetDir, profile, 'roomcast');
    if (fs.existsSync(p)) return p;
  }
  throw new Error('roomcast binary not found: build it (cargo build -p roomcast-server) or set ROOMCAST_BIN');
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

/** Starts a server; resolves to { url, port, stop(), log() }. */
async function startServer(extraArgs = []) {
  const port = await freePort();
  // `--policy open` unless the caller names a policy (the demo test runs the default).
  const policy = extraArgs.includes('--policy') ? [] : ['--policy', 'open'];
  const args = ['--port', String(port), ...policy, '--workers', '2', ...extraArgs];
  const child = spawn(binary(), args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' } });
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

module.exports = { startServer, once, collect, sleep };
