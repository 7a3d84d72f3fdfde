// Debian's nginx in front of three roomcast nodes over one redis-server, configured
// with the nginx example of docs/DEPLOY.md: the test extracts that block and only
// substitutes the listen port and the three upstream addresses, so the documented
// config is the one under test. Real npm clients go through nginx:
// socket.io-client 4.8 with its defaults (polling, then the WebSocket upgrade),
// socket.io-client 4.8 polling only (many requests, which the sticky `ip_hash`
// must keep on one node), and sails.io.js 1.2.1 (its clients.js default,
// WebSocket). The example is sticky by client address, so each client connects
// from its own 127.0.X.1 source address, chosen so that every node gets clients.
// nginx's access log (a format the wrapper adds around the example) records the
// upstream of every request, so stickiness is checked per session id.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const { execFileSync } = require('node:child_process');
const { spawnTracked, freePort, canConnect, collect, sleep, shout } = require('./server');
const { startCluster, redisMissing, api } = require('./cluster');
const { openV4, clientOf, connectSails } = require('./clients');

const NGINX = process.env.NGINX_BIN || '/usr/sbin/nginx';
const DEPLOY = path.resolve(__dirname, '..', '..', 'docs', 'DEPLOY.md');

const missing = fs.existsSync(NGINX) ? redisMissing() : `${NGINX} not installed (apt-get install -y nginx)`;
if (missing) {
  if (process.env.CI) throw new Error(`nginx e2e tests cannot run: ${missing} (.ci/run installs it)`);
  shout(`SKIPPING every nginx e2e test: ${missing}`);
}
const opts = { skip: missing || false, timeout: 60000 };

/** The one ```nginx block of docs/DEPLOY.md. */
function documentedConfig() {
  const blocks = [...fs.readFileSync(DEPLOY, 'utf8').matchAll(/^```nginx\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
  assert.equal(blocks.length, 1, 'docs/DEPLOY.md has exactly one ```nginx block');
  return blocks[0];
}

/** `text` with `from` (which must occur exactly `count` times) replaced by successive `to(i)`. */
function substitute(text, from, count, to) {
  const found = text.match(from) || [];
  assert.equal(found.length, count, `docs/DEPLOY.md's nginx example: expected ${count} match(es) of ${from}, found ${found.length}`);
  let i = 0;
  return text.replace(from, () => to(i++));
}

/**
 * The example, with only its listen port and upstream servers replaced, inside
 * the main/events/http contexts a whole nginx.conf needs (pid, logs and temp
 * files in `dir`; an access log naming each request's upstream).
 */
function nginxConf(dir, port, upstreams, { sticky = true } = {}) {
  let block = documentedConfig();
  block = substitute(block, /^(\s*)listen\s+80;$/gm, 1, () => `    listen 127.0.0.1:${port};`);
  block = substitute(block, /^(\s*)server\s+\d+\.\d+\.\d+\.\d+:\d+;$/gm, upstreams.length, (i) => `    server ${upstreams[i]};`);
  // The control run only: the same config without its stickiness.
  if (!sticky) block = substitute(block, /^\s*ip_hash;$/gm, 1, () => '    # ip_hash removed (control run)');
  const user = process.getuid && process.getuid() === 0 ? 'user root root;\n' : '';
  return `${user}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 512; }
http {
    log_format upstreams '$remote_addr $upstream_addr $status "$arg_sid" "$arg_transport" $request_method';
    access_log ${dir}/access.log upstreams;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;

# ---- docs/DEPLOY.md's nginx example (listen port and upstream servers substituted)
${block}# ---- end of the example
}
`;
}

/** Starts nginx in the foreground with its own prefix in a temp dir; resolves to { port, url, dir, access(), log(), stop() }. */
async function startNginx(upstreams, options) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-nginx-'));
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(conf, nginxConf(dir, port, upstreams, options));
  const args = ['-p', `${dir}/`, '-c', conf, '-e', `${dir}/error.log`];
  try {
    execFileSync(NGINX, [...args, '-t', '-q'], { stdio: 'pipe', timeout: 10000 });
  } catch (e) {
    throw new Error(`nginx -t rejects the config:\n${e.stderr}\n${fs.readFileSync(conf, 'utf8')}`);
  }
  const child = spawnTracked(NGINX, [...args, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const log = () => {
    let errors = '';
    try { errors = fs.readFileSync(path.join(dir, 'error.log'), 'utf8'); } catch (_) { /* not yet */ }
    return `${output}${errors}`;
  };
  const deadline = Date.now() + 10000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}):\n${log()}`);
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`nginx did not listen on ${port}:\n${log()}`); }
    await sleep(25);
  }
  /** The access log, one { addr, upstream, status, sid, transport, method } per request. */
  const access = () => fs.readFileSync(path.join(dir, 'access.log'), 'utf8').split('\n').filter(Boolean).map((line) => {
    const m = line.match(/^(\S+) (\S+) (\d+) "([^"]*)" "([^"]*)" (\S+)$/);
    assert.ok(m, `access log line: ${line}`);
    // nginx logs an empty variable as "-".
    return { addr: m[1], upstream: m[2], status: Number(m[3]), sid: m[4] === '-' ? '' : m[4], transport: m[5], method: m[6] };
  });
  return {
    port,
    dir,
    url: `http://127.0.0.1:${port}`,
    access,
    log,
    // SIGTERM: nginx's fast shutdown (its worker too); SIGKILL after 5 s.
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.on('exit', (code) => {
        clearTimeout(t);
        fs.rmSync(dir, { recursive: true, force: true });
        resolve(code);
      });
      child.kill('SIGTERM');
    }),
  };
}

/** One request through nginx from source address `from`; resolves to { status, body }. */
function send(method, url, from, body = '') {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method, localAddress: from, agent: false, timeout: 5000,
      headers: { 'Content-Type': 'text/plain;charset=UTF-8', 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} from ${from}: no answer within 5 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Client options sending every request (polls, posts, the WebSocket) from source address `from`. */
const from = (addr, extra = {}) => ({ ...extra, agent: new http.Agent({ localAddress: addr }), localAddress: addr });

let cluster;
let A;
let B;
let C;
let proxy;
const clients = [];
/** Upstream port -> the first probed source address the documented ip_hash sends there. */
const sourceFor = {};
/** Source address -> the upstream ("127.0.0.1:port") the documented ip_hash sends it to. */
const upstreamOf = {};

before(async () => {
  if (missing) return;
  // nginx is on 127.0.0.1: trusted, so X-Forwarded-For names the client.
  cluster = await startCluster({ names: ['a', 'b', 'c'], args: ['--trusted-proxies', '127.0.0.1'] });
  [A, B, C] = cluster.nodes;
  proxy = await startNginx(cluster.nodes.map((n) => `127.0.0.1:${n.port}`));
  // Probe source addresses 127.0.0.1 (sails.io.js's, which passes no
  // localAddress on) and 127.0.X.1 (ip_hash hashes the first three octets) with
  // an Engine.IO handshake each until every node has one.
  const covered = () => cluster.nodes.every((n) => sourceFor[n.port]);
  for (let x = 0; x <= 128 && !covered(); x++) {
    const addr = `127.0.${x}.1`;
    const res = await send('GET', `${proxy.url}/socket.io/?EIO=4&transport=polling`, addr);
    assert.equal(res.status, 200, `probe handshake from ${addr}: ${JSON.stringify(res)}`);
    // nginx logs a request once it is done, which may be just after its answer.
    let line;
    for (let i = 0; i < 100 && !line; i++) {
      line = proxy.access().filter((l) => l.addr === addr).pop();
      if (!line) await sleep(20);
    }
    assert.ok(line, `access log has the probe from ${addr} within 2 s`);
    upstreamOf[addr] = line.upstream;
    const port = Number(line.upstream.split(':').pop());
    sourceFor[port] = sourceFor[port] || addr;
  }
  assert.ok(covered(), `ip_hash sent 128 source subnets to fewer than three nodes: ${JSON.stringify(sourceFor)}`);
});

after(async () => {
  for (const c of clients) c.close();
  const nginxLog = proxy ? proxy.log() : '';
  const nginxCode = proxy ? await proxy.stop() : 0;
  const codes = cluster ? await cluster.stop() : { nodes: { a: 0, b: 0, c: 0 } };
  assert.equal(nginxCode, 0, `nginx exit code; log:\n${nginxLog}`);
  assert.deepEqual(codes.nodes, { a: 0, b: 0, c: 0 }, `node exit codes; logs:\n${cluster && cluster.logs()}`);
});

const ok = async (c, url, data) => {
  const res = await c.request('post', url, data);
  assert.deepEqual(res, { statusCode: 200, body: { ok: true } }, `${url} ${JSON.stringify(data)}`);
};
const adminOk = async (node, p, body) => {
  const res = await api(node, 'POST', p, body);
  assert.deepEqual(res, { status: 200, body: { ok: true } }, `${node.name}: POST ${p} ${JSON.stringify(body)}`);
};
const waitFor = async (cond, what, ms = 10000) => {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what()}`);
    await sleep(20);
  }
};
/** Every error a socket.io-client 4 socket or its Engine.IO socket reports. */
const errorsOf = (socket) => {
  const errors = [];
  socket.on('connect_error', (e) => errors.push(`connect_error: ${e.message}`));
  socket.on('disconnect', (why) => errors.push(`disconnect: ${why}`));
  socket.io.engine.on('error', (e) => errors.push(`engine error: ${e.message || e}`));
  return errors;
};

test('nginx: the documented config passes nginx -t and proxies the Engine.IO handshake to all three nodes by client address', opts, () => {
  // before() did it; this names the facts.
  assert.equal(new Set([sourceFor[A.port], sourceFor[B.port], sourceFor[C.port]]).size, 3);
  const probes = proxy.access();
  assert.ok(probes.every((l) => l.status === 200 && l.transport === 'polling'), JSON.stringify(probes));
});

test('nginx: socket.io-client 4 (polling, then upgrade), polling only, and sails.io.js through nginx on three nodes; '
  + 'broadcasts from clients and from the admin API of every node reach every client once, in order', opts, async (t) => {
  const N = 60;
  const room = `nginx-${process.pid}`;
  const [onA, onB, onC] = [sourceFor[A.port], sourceFor[B.port], sourceFor[C.port]];

  // socket.io-client 4 with its default transports, on node a.
  const upSocket = openV4(proxy.url, from(onA));
  const upgraded = [];
  upSocket.io.engine.on('upgrade', (transport) => upgraded.push(transport.name));
  const firstTransport = upSocket.io.engine.transport.name;
  const upErrors = errorsOf(upSocket);
  const up = await clientOf(upSocket);
  clients.push(up);
  assert.equal(firstTransport, 'polling', 'socket.io-client 4 starts on polling');
  const upSid = up.engine().id;

  // socket.io-client 4 polling only, on node b.
  const pollSocket = openV4(proxy.url, from(onB, { transports: ['polling'] }));
  const pollErrors = errorsOf(pollSocket);
  const poll = await clientOf(pollSocket);
  clients.push(poll);
  const pollSid = poll.engine().id;

  // socket.io-client 4 with its defaults again, on node c.
  const thirdSocket = openV4(proxy.url, from(onC));
  const thirdErrors = errorsOf(thirdSocket);
  const third = await clientOf(thirdSocket);
  clients.push(third);
  const thirdSid = third.engine().id;

  // sails.io.js 1.2.1 (socket.io-client 2, Engine.IO 3), its clients.js default
  // transports (WebSocket), from 127.0.0.1: sails.io.js passes only its own
  // options on, not a local address.
  const sails = await connectSails(proxy.url);
  clients.push(sails);

  // Each node shows its client's own address, from nginx's X-Forwarded-For.
  for (const [node, c, addr] of [[A, up, onA], [B, poll, onB], [C, third, onC]]) {
    const info = await api(node, 'GET', `/api/sockets/${c.raw.id}`);
    assert.equal(info.status, 200, JSON.stringify(info.body));
    assert.equal(info.body.address, addr, `the client address behind nginx: ${JSON.stringify(info.body)}`);
  }

  const receivers = { 'v4 upgraded': up, 'v4 polling': poll, 'v4 on c': third, 'sails.io.js': sails };
  for (const c of Object.values(receivers)) await ok(c, '/sockets/join', { room });
  const got = Object.fromEntries(Object.entries(receivers).map(([k, c]) => [k, collect(c, 'seq')]));

  // The upgrade went through nginx's Upgrade/Connection headers.
  await waitFor(() => upgraded.length > 0, () => 'the WebSocket upgrade of the default socket.io-client 4');
  assert.deepEqual(upgraded, ['websocket']);
  assert.equal(up.engine().transport.name, 'websocket');
  assert.equal(poll.engine().transport.name, 'polling');

  // Pipelined virtual requests from two clients (many posts for the polling one),
  // one admin request at a time on each node.
  const fromSocket = (c, src) => Promise.all(Array.from({ length: N }, (_, n) => c.request('post', '/sockets/broadcast',
    { rooms: room, event: 'seq', data: { src, n } })))
    .then((acks) => assert.ok(acks.every((r) => r.statusCode === 200), JSON.stringify(acks.find((r) => r.statusCode !== 200))));
  const fromApi = async (node, src) => {
    for (let n = 0; n < N; n++) await adminOk(node, '/api/sockets/broadcast', { rooms: [room], event: 'seq', data: { src, n } });
  };
  const sources = ['v4 upgraded', 'v4 polling', 'v4 on c', 'sails.io.js', 'api@a', 'api@b', 'api@c'];
  await Promise.all([fromSocket(up, sources[0]), fromSocket(poll, sources[1]), fromSocket(third, sources[2]),
    fromSocket(sails, sources[3]), fromApi(A, sources[4]), fromApi(B, sources[5]), fromApi(C, sources[6])]);
  const total = sources.length * N;
  await waitFor(() => Object.values(got).every((g) => g.length >= total),
    () => `${total} messages each; got ${JSON.stringify(Object.fromEntries(Object.entries(got).map(([k, g]) => [k, g.length])))}`, 20000);
  await sleep(300); // anything extra would show up now
  const expected = Array.from({ length: N }, (_, n) => n);
  for (const [who, g] of Object.entries(got)) {
    assert.equal(g.length, total, `${who}: message count`);
    for (const src of sources) assert.deepEqual(g.filter((m) => m.src === src).map((m) => m.n), expected, `${who}: messages from ${src}`);
  }

  // No session was lost on the way, and nothing changed transport or session.
  assert.deepEqual(upErrors, []);
  assert.deepEqual(pollErrors, []);
  assert.deepEqual(thirdErrors, []);
  assert.equal(up.engine().id, upSid);
  assert.equal(third.engine().id, thirdSid);
  assert.equal(poll.engine().id, pollSid);
  assert.equal(poll.engine().transport.name, 'polling');

  // nginx logs a WebSocket when it closes: close the clients, then read the log.
  for (const c of clients.splice(0)) c.close();
  let lines = [];
  const wsLogged = () => lines.filter((l) => l.transport === 'websocket' && l.status === 101).length >= 3;
  for (let i = 0; i < 150 && !wsLogged(); i++) {
    lines = proxy.access();
    if (!wsLogged()) await sleep(20);
  }
  // nginx's log: every request of a session reached one node, the node its source
  // address hashes to; none was refused (a "Session ID unknown" would be a 400).
  const ofSid = (sid) => lines.filter((l) => l.sid === sid);
  const pollLines = ofSid(pollSid);
  assert.ok(pollLines.length >= 20, `the polling-only client made many requests through nginx (${pollLines.length})`);
  assert.ok(pollLines.some((l) => l.method === 'POST') && pollLines.some((l) => l.method === 'GET'), 'polls and posts');
  assert.deepEqual([...new Set(pollLines.map((l) => l.upstream))], [`127.0.0.1:${B.port}`], 'polling-only client: one node');
  assert.deepEqual(pollLines.filter((l) => l.status !== 200), [], 'polling-only client: every request answered 200');
  const upLines = ofSid(upSid);
  assert.deepEqual([...new Set(upLines.map((l) => l.upstream))], [`127.0.0.1:${A.port}`], 'upgraded client: one node');
  assert.ok(upLines.some((l) => l.transport === 'polling' && l.status === 200), 'upgraded client polled first');
  assert.ok(upLines.some((l) => l.transport === 'websocket' && l.status === 101), `upgraded client: a 101 WebSocket through nginx; ${JSON.stringify(upLines)}`);
  const thirdLines = ofSid(thirdSid);
  assert.deepEqual([...new Set(thirdLines.map((l) => l.upstream))], [`127.0.0.1:${C.port}`], 'client on c: one node');
  const sailsLines = lines.filter((l) => l.addr === '127.0.0.1' && l.transport === 'websocket' && l.sid === '');
  assert.deepEqual(sailsLines.map((l) => [l.status, l.upstream]), [[101, upstreamOf['127.0.0.1']]],
    `sails.io.js: one WebSocket through nginx, to the node of 127.0.0.1; ${JSON.stringify(lines.filter((l) => l.transport === 'websocket'))}`);
  assert.deepEqual(lines.filter((l) => l.status >= 400), [], 'no request through nginx failed');
  t.diagnostic(`${total} broadcasts to 4 clients on 3 nodes through nginx; the polling-only client made ${pollLines.length} requests, all to node b`);
});

test('nginx: control — the same config without ip_hash loses polling sessions ("Session ID unknown"), so the sticky check above has teeth',
  opts, async () => {
    const bare = await startNginx(cluster.nodes.map((n) => `127.0.0.1:${n.port}`), { sticky: false });
    try {
      // Round robin: requests alternate between the nodes, so a session's next
      // request (a post of its Socket.IO CONNECT) reaches the other node.
      const hs = await send('GET', `${bare.url}/socket.io/?EIO=4&transport=polling`, '127.0.0.1');
      assert.equal(hs.status, 200, JSON.stringify(hs));
      const { sid } = JSON.parse(hs.body.slice(1));
      const res = await send('POST', `${bare.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, '127.0.0.1', '40');
      assert.deepEqual({ status: res.status, body: JSON.parse(res.body) }, { status: 400, body: { code: 1, message: 'Session ID unknown' } });
      let upstreams = [];
      for (let i = 0; i < 100 && upstreams.length < 2; i++) {
        upstreams = bare.access().map((l) => l.upstream);
        if (upstreams.length < 2) await sleep(20);
      }
      assert.equal(upstreams.length, 2);
      assert.notEqual(upstreams[0], upstreams[1], 'the two requests reached different nodes');
    } finally {
      assert.equal(await bare.stop(), 0, `control nginx exit code; log:\n${bare.log()}`);
    }
  });
