// A roomcast cluster for a test file: redis-server on a free 127.0.0.1 port and N
// roomcast nodes joined to it (`--redis`, distinct `--node-id`, admin token set),
// ready once every node's GET /api/cluster lists all N nodes with Redis up.
// Everything is stopped by its own pid.
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const { startServer, spawnTracked, freePort, canConnect, sleep } = require('./server');

const REDIS = process.env.REDIS_SERVER || '/usr/bin/redis-server';
const TOKEN = 'e2e-cluster-token';

/** Why the cluster tests cannot run here, or null. */
function redisMissing() {
  return fs.existsSync(REDIS) ? null : `${REDIS} not installed (apt-get install -y redis-server)`;
}

/** Starts redis-server; resolves to { url, port, pid, stop(), log() }. */
async function startRedis() {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--protected-mode', 'yes', '--loglevel', 'warning'];
  const child = spawnTracked(REDIS, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const deadline = Date.now() + 5000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`redis-server did not listen on ${port}:\n${output}`); }
    await sleep(25);
  }
  return {
    port,
    pid: child.pid,
    url: `redis://127.0.0.1:${port}`,
    log: () => output,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      child.on('exit', (code) => { clearTimeout(t); resolve(code); });
      child.kill('SIGTERM');
    }),
  };
}

/**
 * One HTTP request to a node's admin API on its own connection (no keep-alive, so
 * a node's graceful shutdown never waits for an idle client). Resolves to
 * { status, body } (body parsed when it is JSON).
 */
function api(node, method, path, body, token = TOKEN) {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    const req = http.request({
      host: '127.0.0.1', port: node.port, method, path, agent: false,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) },
      timeout: 5000,
    }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { data += d; });
      res.on('end', () => {
        let parsed = data;
        try { parsed = JSON.parse(data); } catch (_) { /* not JSON */ }
        resolve({ status: res.statusCode, body: parsed });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 5 s`)));
    req.on('error', reject);
    req.end(text);
  });
}

/** Resolves once `node`'s GET /api/cluster shows Redis up and every name in `names`. */
async function waitForMembers(node, names, ms = 10000) {
  const deadline = Date.now() + ms;
  let last;
  for (let i = 0; i < 400 && Date.now() < deadline; i++) {
    last = await api(node, 'GET', '/api/cluster');
    const ids = last.status === 200 && Array.isArray(last.body.nodes) ? last.body.nodes.map((n) => n.id) : [];
    if (last.body.redis === 'up' && names.every((n) => ids.includes(n))) return last.body;
    await sleep(50);
  }
  throw new Error(`node ${node.name}: cluster not formed within ${ms} ms; last GET /api/cluster: ${JSON.stringify(last)}`);
}

/**
 * Starts redis-server and one roomcast node per name in `names` (default a, b).
 * `args` are extra flags for every node (`--policy open` unless they name one).
 * Resolves to { redis, nodes: [{ name, url, port, pid, log(), stop() }], byName,
 * api(node, method, path, body), stop() -> { redis, nodes: {name: exit code} } }.
 */
async function startCluster({ names = ['a', 'b'], args = [] } = {}) {
  const redis = await startRedis();
  const nodes = [];
  const stop = async () => {
    const codes = {};
    // Nodes first (they say goodbye over Redis), concurrently; then Redis.
    await Promise.all(nodes.map(async (n) => { codes[n.name] = await n.stop(); }));
    return { nodes: codes, redis: await redis.stop() };
  };
  try {
    for (const name of names) {
      const server = await startServer(['--redis', redis.url, '--node-id', name, '--admin-token', TOKEN, ...args]);
      nodes.push(Object.assign(server, { name }));
    }
    await Promise.all(nodes.map((n) => waitForMembers(n, names)));
  } catch (e) {
    await stop();
    throw e;
  }
  const byName = Object.fromEntries(nodes.map((n) => [n.name, n]));
  return { redis, nodes, byName, api, stop, logs: () => nodes.map((n) => `--- ${n.name}\n${n.log()}`).join('\n') };
}

/** The sum of one metric (all label sets) in a node's GET /metrics. */
async function metric(node, name) {
  const res = await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: node.port, path: '/metrics', agent: false, timeout: 5000 }, (r) => {
      let d = '';
      r.setEncoding('utf8');
      r.on('data', (c) => { d += c; });
      r.on('end', () => resolve(d));
    }).on('error', reject);
  });
  let sum = 0;
  for (const line of res.split('\n')) {
    if (line === name || line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.split(' ').pop());
  }
  return sum;
}

module.exports = { startCluster, startRedis, redisMissing, api, metric, TOKEN };
