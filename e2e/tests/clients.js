// The client flavours the e2e tests drive, each behind one small interface:
// connect(url, options?) resolves to { raw, request(method, path, data) ->
// {statusCode, body}, on(event, fn), once(event, fn), close(), engine() }, where
// engine() is the client's Engine.IO socket (engine().transport.name is the
// transport in use). Without options a client connects over WebSocket only;
// `options` replaces that (e.g. {} for the client's defaults: polling, then the
// upgrade).
'use strict';
const { io: ioV4 } = require('socket.io-client');
const ioV2 = require('socket.io-client-v2');
const sailsIO = require('sails.io.js');
const { once } = require('./server');

// sails.io.js keeps its settings on the io function it is given (`io.sails`).
const sails = sailsIO(ioV2);
sails.sails.autoConnect = false;
sails.sails.environment = 'production';
sails.sails.useCORSRouteToGetCookie = false;
sails.sails.reconnection = false;

const WEBSOCKET_ONLY = { transports: ['websocket'] };

/** A socket.io-client socket (v2 or v4) speaking sails.io.js virtual requests. */
function wrapSocketIO(socket) {
  return {
    raw: socket,
    engine: () => socket.io.engine,
    request: (method, path, data) => new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ack for ${method} ${path}`)), 5000);
      socket.emit(method, { method, url: path, data, headers: {} }, (res) => {
        clearTimeout(t);
        resolve({ statusCode: res.statusCode, body: res.body });
      });
    }),
    on: (ev, fn) => socket.on(ev, fn),
    once: (ev, fn) => socket.once(ev, fn),
    close: () => socket.close(),
  };
}

/**
 * A socket.io-client 4.8 socket, connecting: `options` as for connectV4, but
 * they may turn reconnection on.
 */
function openV4(url, options = WEBSOCKET_ONLY) {
  return ioV4(url, { reconnection: false, ...options, forceNew: true });
}

/** socket.io-client 4.8 (Engine.IO v4, Socket.IO v5). */
async function connectV4(url, options = WEBSOCKET_ONLY) {
  const socket = openV4(url, { ...options, reconnection: false });
  await once(socket, 'connect', 5000);
  return wrapSocketIO(socket);
}

/** A connected socket.io-client socket (v2 or v4, opened elsewhere) behind the client interface. */
async function clientOf(socket) {
  if (!socket.connected) await once(socket, 'connect', 5000);
  return wrapSocketIO(socket);
}

/** socket.io-client 2.0.3 on its own (Engine.IO v3, Socket.IO v4). */
async function connectV2(url, options = WEBSOCKET_ONLY) {
  const socket = ioV2(url, { ...options, reconnection: false, forceNew: true });
  await once(socket, 'connect', 5000);
  return wrapSocketIO(socket);
}

/**
 * sails.io.js 1.2.1 over socket.io-client 2.0.3. Options left out come from
 * `io.sails` (exported as `sailsIO`), as in an app: e.g. `io.sails.transports`.
 */
async function connectSails(url, options = WEBSOCKET_ONLY) {
  return sailsClientOf(openSails(url, options));
}

/** A sails.io.js socket, connecting (options as for connectSails). */
function openSails(url, options = WEBSOCKET_ONLY) {
  return sails.sails.connect(url, { ...options, reconnection: false, multiplex: false });
}

/** A sails.io.js socket (opened elsewhere), once connected, behind the client interface. */
async function sailsClientOf(socket) {
  await new Promise((resolve, reject) => {
    if (socket.isConnected()) return resolve();
    const t = setTimeout(() => reject(new Error('sails.io.js did not connect within 5 s')), 5000);
    socket.on('connect', () => { clearTimeout(t); resolve(); });
  });
  return {
    raw: socket,
    engine: () => socket._raw.io.engine,
    request: (method, path, data) => new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no response for ${method} ${path}`)), 5000);
      socket.request({ method, url: path, data, headers: {} }, (body, jwr) => {
        clearTimeout(t);
        resolve({ statusCode: jwr.statusCode, body });
      });
    }),
    on: (ev, fn) => socket.on(ev, fn),
    once: (ev, fn) => {
      const h = (d) => { socket.off(ev, h); fn(d); };
      socket.on(ev, h);
    },
    close: () => socket.disconnect(),
  };
}

/**
 * For a client that must be turned away (a socket.io-client socket of either
 * version, or a sails.io.js socket): resolves to the error of its first
 * `connect_error`; rejects if it connects instead or hears nothing within
 * `ms`. The socket is closed either way.
 */
function refusal(socket, ms = 5000) {
  // A sails.io.js socket's own disconnect() throws unless connected: close its raw socket.
  const close = () => (socket._raw || socket).close();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { close(); reject(new Error(`neither connect nor connect_error within ${ms} ms`)); }, ms);
    socket.on('connect', () => { clearTimeout(t); close(); reject(new Error('connected, but should have been refused')); });
    socket.on('connect_error', (err) => { clearTimeout(t); close(); resolve(err); });
  });
}

module.exports = {
  connectV4, connectV2, connectSails, openV4, openSails, clientOf, sailsClientOf, refusal, sailsIO: sails,
};
