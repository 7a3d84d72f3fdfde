// socket.io-client 4.8 (Engine.IO v4, Socket.IO v5) against roomcast.
'use strict';
const { io } = require('socket.io-client');
const { defineScenarios } = require('./scenarios');
const { once } = require('./server');

async function connect(url) {
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
  await once(socket, 'connect', 5000);
  return {
    raw: socket,
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

defineScenarios('socket.io-client 4.8 (EIO4)', connect);
