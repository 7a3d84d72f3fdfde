// sails.io.js 1.2.1 with socket.io-client 2.0.3 (Engine.IO v3, Socket.IO v4) against roomcast.
'use strict';
const sailsIO = require('sails.io.js');
const ioV2 = require('socket.io-client-v2');
const { defineScenarios } = require('./scenarios');

const io = sailsIO(ioV2);
io.sails.autoConnect = false;
io.sails.environment = 'production';
io.sails.useCORSRouteToGetCookie = false;
io.sails.reconnection = false;

async function connect(url) {
  const socket = io.sails.connect(url, { transports: ['websocket'], reconnection: false, multiplex: false });
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('sails.io.js did not connect within 5 s')), 5000);
    socket.on('connect', () => { clearTimeout(t); resolve(); });
  });
  return {
    raw: socket,
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

defineScenarios('sails.io.js 1.2.1 + socket.io-client 2.0.3 (EIO3)', connect);
